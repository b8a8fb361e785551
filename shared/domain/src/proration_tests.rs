//! Tests of `proration`, kept beside it.

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
