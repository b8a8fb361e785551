//! Proration: what a seat-count or interval change costs, to the cent.
//!
//! Pure functions, shared by preview and apply (and by the offline payment gateway), so a
//! preview can never disagree with the charge. Second-based fractions of the current period,
//! as Stripe computes them; each line is rounded once, half to even, to minor units.

use crate::error::DomainError;
use crate::model::{Interval, MinorUnits};
use crate::period::add_interval_anchored;
use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProrationLine {
    pub description: String,
    pub quantity: i64,
    pub unit_amount: MinorUnits,
    pub amount: MinorUnits,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effective {
    Now,
    PeriodEnd,
}

/// The money of a change: what is due now and what the next renewal bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub effective: Effective,
    pub effective_at: DateTime<Utc>,
    pub lines: Vec<ProrationLine>,
    pub amount_due_now: MinorUnits,
    pub next_renewal_amount: MinorUnits,
}

/// The billing facts a quote needs (a subscription's current state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingState<'a> {
    pub product_name: &'a str,
    pub interval: Interval,
    pub unit_amount: MinorUnits,
    pub seats: i64,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// `round_half_even(unit_amount × quantity × remaining_s / period_s)`, exactly.
pub fn prorate(unit_amount: MinorUnits, quantity: i64, remaining_s: i64, period_s: i64) -> MinorUnits {
    if period_s <= 0 || remaining_s <= 0 || quantity == 0 || unit_amount == 0 {
        return 0;
    }
    // Products stay far inside Decimal's 96-bit mantissa: unit_amount ≤ 10^8, quantity ≤ 10^4,
    // a year ≤ 3.2·10^7 s. The quotient's fraction is a multiple of 1/period_s, so its 28
    // significant digits always decide the half-way case correctly.
    let exact = Decimal::from(unit_amount) * Decimal::from(quantity) * Decimal::from(remaining_s)
        / Decimal::from(period_s);
    let rounded = exact.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    i64::try_from(rounded.mantissa()).unwrap_or(i64::MAX)
}

fn check_proration_date(state: &BillingState, at: DateTime<Utc>) -> Result<(), DomainError> {
    if at < state.period_start || at > state.period_end {
        return Err(DomainError::invalid(
            "proration_date",
            format!(
                "must lie in the current period ({} .. {})",
                state.period_start.timestamp(),
                state.period_end.timestamp()
            ),
        ));
    }
    Ok(())
}

fn date_label(t: DateTime<Utc>) -> String {
    t.format("%-d %b %Y").to_string()
}

/// A seat-count change at `at`. Increases are effective now with a credit and a charge line;
/// decreases take effect at the period's end with nothing due; the same count is a no-op
/// (which, applied, cancels a scheduled change).
pub fn quote_seat_change(
    state: &BillingState,
    new_seats: i64,
    at: DateTime<Utc>,
) -> Result<Quote, DomainError> {
    check_proration_date(state, at)?;
    let period_s = (state.period_end - state.period_start).num_seconds();
    let remaining_s = (state.period_end - at).num_seconds();
    let next_renewal_amount = state.unit_amount * new_seats;
    if new_seats > state.seats {
        let credit = ProrationLine {
            description: format!(
                "Unused time on {} × {} after {}",
                state.seats,
                state.product_name,
                date_label(at)
            ),
            quantity: state.seats,
            unit_amount: state.unit_amount,
            amount: -prorate(state.unit_amount, state.seats, remaining_s, period_s),
            period_start: at,
            period_end: state.period_end,
        };
        let charge = ProrationLine {
            description: format!(
                "Remaining time on {} × {} after {}",
                new_seats,
                state.product_name,
                date_label(at)
            ),
            quantity: new_seats,
            unit_amount: state.unit_amount,
            amount: prorate(state.unit_amount, new_seats, remaining_s, period_s),
            period_start: at,
            period_end: state.period_end,
        };
        let amount_due_now = credit.amount + charge.amount;
        Ok(Quote {
            effective: Effective::Now,
            effective_at: at,
            lines: vec![credit, charge],
            amount_due_now,
            next_renewal_amount,
        })
    } else if new_seats < state.seats {
        Ok(Quote {
            effective: Effective::PeriodEnd,
            effective_at: state.period_end,
            lines: vec![],
            amount_due_now: 0,
            next_renewal_amount,
        })
    } else {
        Ok(Quote {
            effective: Effective::Now,
            effective_at: at,
            lines: vec![],
            amount_due_now: 0,
            next_renewal_amount,
        })
    }
}

/// An interval change at `at` to `new_interval` priced `new_unit_amount` per seat.
/// Monthly → annual is effective now: credit the unused monthly time on all seats and charge
/// a full year from `at`, which starts the new period. Annual → monthly waits for the period end.
pub fn quote_interval_change(
    state: &BillingState,
    new_interval: Interval,
    new_unit_amount: MinorUnits,
    at: DateTime<Utc>,
) -> Result<Quote, DomainError> {
    check_proration_date(state, at)?;
    let next_renewal_amount = new_unit_amount * state.seats;
    match (state.interval, new_interval) {
        (Interval::Month, Interval::Year) => {
            let period_s = (state.period_end - state.period_start).num_seconds();
            let remaining_s = (state.period_end - at).num_seconds();
            let credit = ProrationLine {
                description: format!(
                    "Unused time on {} × {} (monthly) after {}",
                    state.seats,
                    state.product_name,
                    date_label(at)
                ),
                quantity: state.seats,
                unit_amount: state.unit_amount,
                amount: -prorate(state.unit_amount, state.seats, remaining_s, period_s),
                period_start: at,
                period_end: state.period_end,
            };
            let year_end = add_interval_anchored(at, 1, Interval::Year);
            let charge = ProrationLine {
                description: format!("{} × {} (yearly)", state.seats, state.product_name),
                quantity: state.seats,
                unit_amount: new_unit_amount,
                amount: new_unit_amount * state.seats,
                period_start: at,
                period_end: year_end,
            };
            let amount_due_now = credit.amount + charge.amount;
            Ok(Quote {
                effective: Effective::Now,
                effective_at: at,
                lines: vec![credit, charge],
                amount_due_now,
                next_renewal_amount,
            })
        }
        (Interval::Year, Interval::Month) => Ok(Quote {
            effective: Effective::PeriodEnd,
            effective_at: state.period_end,
            lines: vec![],
            amount_due_now: 0,
            next_renewal_amount,
        }),
        _ => Err(DomainError::invalid(
            "interval",
            format!("the subscription is already billed per {}", new_interval.as_str()),
        )),
    }
}

/// What the provider invoices for a change, computed with the same code as our quote (the
/// offline gateway and the fakes stand in for Stripe with it).
pub fn provider_amount_due(c: &crate::ports::ProviderChange) -> MinorUnits {
    let state = BillingState {
        product_name: &c.product_name,
        interval: c.previous_interval,
        unit_amount: c.previous_unit_amount,
        seats: c.previous_quantity,
        period_start: c.period_start,
        period_end: c.period_end,
    };
    let at = DateTime::from_timestamp(c.proration_date, 0).unwrap_or(c.period_start);
    let quote = if c.interval != c.previous_interval {
        quote_interval_change(&state, c.interval, c.unit_amount, at)
    } else {
        quote_seat_change(&state, c.quantity, at)
    };
    quote.map(|q| q.amount_due_now).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("valid date")
    }

    fn march(seats: i64) -> BillingState<'static> {
        BillingState {
            product_name: "Pro",
            interval: Interval::Month,
            unit_amount: 1000,
            seats,
            period_start: at(2025, 3, 1),
            period_end: at(2025, 4, 1),
        }
    }

    #[test]
    fn worked_example_five_to_eight_seats() {
        let q = quote_seat_change(&march(5), 8, at(2025, 3, 11)).expect("quote");
        let amounts: Vec<i64> = q.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![-3387, 5419]);
        assert_eq!(q.amount_due_now, 2032);
        assert_eq!(q.effective, Effective::Now);
        assert_eq!(q.next_renewal_amount, 8000);
    }

    #[test]
    fn worked_example_eight_seats_to_annual() {
        let q = quote_interval_change(&march(8), Interval::Year, 10000, at(2025, 3, 11)).expect("quote");
        let amounts: Vec<i64> = q.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![-5419, 80000]);
        assert_eq!(q.amount_due_now, 74581);
        assert_eq!(q.lines[1].period_end, at(2026, 3, 11));
    }

    #[test]
    fn half_rounds_to_even() {
        // 1 × 1 × 1/2 = 0.5 → 0; 3 × 1/2 = 1.5 → 2; 5/2 = 2.5 → 2.
        assert_eq!(prorate(1, 1, 1, 2), 0);
        assert_eq!(prorate(3, 1, 1, 2), 2);
        assert_eq!(prorate(5, 1, 1, 2), 2);
        assert_eq!(prorate(7, 1, 1, 2), 4);
    }

    #[test]
    fn decrease_waits_for_period_end() {
        let q = quote_seat_change(&march(5), 3, at(2025, 3, 11)).expect("quote");
        assert_eq!(q.effective, Effective::PeriodEnd);
        assert_eq!(q.effective_at, at(2025, 4, 1));
        assert!(q.lines.is_empty());
        assert_eq!(q.amount_due_now, 0);
        assert_eq!(q.next_renewal_amount, 3000);
    }

    #[test]
    fn proration_date_outside_period_is_refused() {
        let e = quote_seat_change(&march(5), 8, at(2025, 4, 2)).expect_err("outside");
        assert!(
            matches!(e, DomainError::InvalidRequest { ref field, .. } if field.as_deref() == Some("proration_date"))
        );
        assert!(quote_seat_change(&march(5), 8, at(2025, 2, 28)).is_err());
    }

    #[test]
    fn edges_of_the_period() {
        let start = quote_seat_change(&march(5), 8, at(2025, 3, 1)).expect("start");
        assert_eq!(start.amount_due_now, 3000);
        let end = quote_seat_change(&march(5), 8, at(2025, 4, 1)).expect("end");
        assert_eq!(end.amount_due_now, 0);
    }

    #[test]
    fn months_of_28_29_30_and_31_days() {
        // Half a month left, whatever its length: 1000 × 2 × ½ = 1000 on the new count.
        for (y, m, days) in [(2025, 2, 28), (2024, 2, 29), (2025, 4, 30), (2025, 3, 31)] {
            let start = at(y, m, 1);
            let end = crate::period::first_period_end(start, Interval::Month);
            assert_eq!((end - start).num_days(), days);
            let state = BillingState { period_start: start, period_end: end, ..march(1) };
            let mid = start + (end - start) / 2;
            let q = quote_seat_change(&state, 3, mid).expect("quote");
            assert_eq!(q.lines[0].amount, -500, "{y}-{m}");
            assert_eq!(q.lines[1].amount, 1500, "{y}-{m}");
        }
    }

    #[test]
    fn first_and_last_second_of_a_period() {
        let s = march(5);
        let first = quote_seat_change(&s, 8, s.period_start + chrono::Duration::seconds(1)).expect("quote");
        // 2678399/2678400 of the month: 4999.998… → 5000 and 7999.997… → 8000.
        assert_eq!(first.lines.iter().map(|l| l.amount).collect::<Vec<_>>(), vec![-5000, 8000]);
        let last = quote_seat_change(&s, 8, s.period_end - chrono::Duration::seconds(1)).expect("quote");
        // One second of a month: 0.0018… and 0.0029… → 0 and 0.
        assert_eq!(last.amount_due_now, 0);
        assert_eq!(last.lines.len(), 2);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn state(start_s: i64, days: i64, seats: i64, unit: i64) -> (DateTime<Utc>, DateTime<Utc>, i64, i64) {
            let start = DateTime::from_timestamp(start_s, 0).expect("time");
            (start, start + chrono::Duration::days(days), seats, unit)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn an_increase_is_bounded_and_signed(
                start_s in 1_600_000_000i64..1_900_000_000,
                days in 1i64..400,
                old in 1i64..10_000,
                extra in 1i64..5_000,
                unit in 0i64..1_000_000,
                frac in 0.0f64..=1.0,
            ) {
                let (start, end, old, unit) = state(start_s, days, old, unit);
                let new = old + extra;
                let at = start + chrono::Duration::seconds(((end - start).num_seconds() as f64 * frac) as i64);
                let s = BillingState { product_name: "P", interval: Interval::Month, unit_amount: unit, seats: old, period_start: start, period_end: end };
                let q = quote_seat_change(&s, new, at).expect("in period");
                prop_assert!(q.lines[0].amount <= 0, "credit is never positive");
                prop_assert!(q.lines[1].amount >= 0, "charge is never negative");
                prop_assert!(q.amount_due_now >= 0);
                prop_assert!(q.amount_due_now <= unit * new, "never more than the new quantity's full period");
                prop_assert_eq!(q.amount_due_now, q.lines[0].amount + q.lines[1].amount);
            }

            #[test]
            fn at_the_start_the_full_difference_at_the_end_nothing(
                start_s in 1_600_000_000i64..1_900_000_000,
                days in 1i64..400,
                old in 1i64..10_000,
                extra in 1i64..5_000,
                unit in 0i64..1_000_000,
            ) {
                let (start, end, old, unit) = state(start_s, days, old, unit);
                let s = BillingState { product_name: "P", interval: Interval::Month, unit_amount: unit, seats: old, period_start: start, period_end: end };
                prop_assert_eq!(quote_seat_change(&s, old + extra, start).expect("start").amount_due_now, unit * extra);
                prop_assert_eq!(quote_seat_change(&s, old + extra, end).expect("end").amount_due_now, 0);
            }

            #[test]
            fn a_decrease_costs_nothing_now(
                start_s in 1_600_000_000i64..1_900_000_000,
                days in 1i64..400,
                old in 2i64..10_000,
                unit in 0i64..1_000_000,
                frac in 0.0f64..=1.0,
            ) {
                let (start, end, old, unit) = state(start_s, days, old, unit);
                let at = start + chrono::Duration::seconds(((end - start).num_seconds() as f64 * frac) as i64);
                let s = BillingState { product_name: "P", interval: Interval::Month, unit_amount: unit, seats: old, period_start: start, period_end: end };
                let q = quote_seat_change(&s, old - 1, at).expect("quote");
                prop_assert_eq!(q.amount_due_now, 0);
                prop_assert_eq!(q.effective, Effective::PeriodEnd);
                prop_assert_eq!(q.next_renewal_amount, unit * (old - 1));
            }

            #[test]
            fn the_annual_switch_credits_at_most_what_was_paid(
                start_s in 1_600_000_000i64..1_900_000_000,
                seats in 1i64..10_000,
                monthly in 0i64..100_000,
                yearly in 0i64..1_000_000,
                frac in 0.0f64..=1.0,
            ) {
                let start = DateTime::from_timestamp(start_s, 0).expect("time");
                let end = crate::period::first_period_end(start, Interval::Month);
                let at = start + chrono::Duration::seconds(((end - start).num_seconds() as f64 * frac) as i64);
                let s = BillingState { product_name: "P", interval: Interval::Month, unit_amount: monthly, seats, period_start: start, period_end: end };
                let q = quote_interval_change(&s, Interval::Year, yearly, at).expect("quote");
                prop_assert!(-q.lines[0].amount <= monthly * seats);
                prop_assert_eq!(q.lines[1].amount, yearly * seats);
                prop_assert_eq!(q.amount_due_now, q.lines[0].amount + q.lines[1].amount);
            }
        }
    }
}
