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
    /// Tax in `amount_due_now` (the provider's, with automatic tax; 0 in our own arithmetic).
    pub tax: MinorUnits,
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
            tax: 0,
            next_renewal_amount,
        })
    } else if new_seats < state.seats {
        Ok(Quote {
            effective: Effective::PeriodEnd,
            effective_at: state.period_end,
            lines: vec![],
            amount_due_now: 0,
            tax: 0,
            next_renewal_amount,
        })
    } else {
        Ok(Quote {
            effective: Effective::Now,
            effective_at: at,
            lines: vec![],
            amount_due_now: 0,
            tax: 0,
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
                tax: 0,
                next_renewal_amount,
            })
        }
        (Interval::Year, Interval::Month) => Ok(Quote {
            effective: Effective::PeriodEnd,
            effective_at: state.period_end,
            lines: vec![],
            amount_due_now: 0,
            tax: 0,
            next_renewal_amount,
        }),
        _ => Err(DomainError::invalid(
            "interval",
            format!("the subscription is already billed per {}", new_interval.as_str()),
        )),
    }
}

/// What the offline provider invoices for a change: our own arithmetic over the terms the
/// charge names (Stripe computes its own; in Stripe mode this is only a cross-check).
pub fn offline_charge(c: &crate::ports::ChargeRequest) -> Result<Quote, DomainError> {
    let state = BillingState {
        product_name: &c.product_name,
        interval: c.previous_interval,
        unit_amount: c.previous_unit_amount,
        seats: c.previous_quantity,
        period_start: c.period_start,
        period_end: c.period_end,
    };
    let at = DateTime::from_timestamp(c.proration_date, 0)
        .ok_or_else(|| DomainError::invalid("proration_date", "is not a valid Unix time"))?;
    if c.trialing {
        return Ok(trial_quote(c.unit_amount, c.quantity, at));
    }
    if c.interval != c.previous_interval {
        quote_interval_change(&state, c.interval, c.unit_amount, at)
    } else {
        quote_seat_change(&state, c.quantity, at)
    }
}

/// More seats during a free trial: nothing is due now (nothing of the trial is billed); the
/// first invoice, at the trial's end, bills them.
pub fn trial_quote(unit_amount: MinorUnits, seats: i64, at: DateTime<Utc>) -> Quote {
    Quote {
        effective: Effective::Now,
        effective_at: at,
        lines: vec![],
        amount_due_now: 0,
        tax: 0,
        next_renewal_amount: unit_amount * seats,
    }
}

/// How long a provider keeps a change waiting for its payment (Stripe's pending updates: 23 h).
pub const PENDING_UPDATE_S: i64 = 23 * 3600;

/// What a provider without state does with a charge, priced by our arithmetic: paid and applied
/// (a new period for a monthly → annual switch), or declined and waiting for its payment.
pub fn offline_outcome(
    c: &crate::ports::ChargeRequest,
    invoice_id: String,
    hosted_invoice_url: String,
    declined: bool,
) -> Result<crate::ports::ChargeOutcome, DomainError> {
    use crate::ports::{ChargeOutcome, ProviderInvoice};
    let q = offline_charge(c)?;
    let invoice = ProviderInvoice {
        id: invoice_id,
        amount_due: q.amount_due_now,
        // No tax offline: the project's arithmetic has none.
        tax: 0,
        status: if declined { "open" } else { "paid" }.into(),
        hosted_invoice_url: Some(hosted_invoice_url),
        lines: q.lines.clone(),
    };
    if declined {
        return Ok(ChargeOutcome::PaymentRequired {
            invoice,
            expires_at: c.proration_date + PENDING_UPDATE_S,
        });
    }
    let period = match q.lines.last() {
        Some(l) if c.reset_billing_cycle => (c.proration_date, l.period_end.timestamp()),
        _ => (c.period_start.timestamp(), c.period_end.timestamp()),
    };
    Ok(ChargeOutcome::Applied { invoice, period })
}

#[cfg(test)]
#[path = "proration_tests.rs"]
mod tests;
