//! Billing periods, anchored the way Stripe anchors them: the same day of the month one
//! interval later, clamped to the month's last day (Jan 31 → Feb 28/29 → Mar 31).

use crate::model::Interval;
use chrono::{DateTime, Datelike, Months, Utc};

/// The end of a period that starts at `start` and lasts one `interval`, keeping `anchor`'s day.
pub fn add_interval_anchored(anchor: DateTime<Utc>, periods: u32, interval: Interval) -> DateTime<Utc> {
    let months = match interval {
        Interval::Month => periods,
        Interval::Year => periods * 12,
    };
    // checked_add_months clamps the day to the target month's last day, which is exactly
    // Stripe's rule; it only fails beyond year 262143.
    anchor.checked_add_months(Months::new(months)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first period's end for a subscription starting at `start`.
pub fn first_period_end(start: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    add_interval_anchored(start, 1, interval)
}

/// Days in the month of `t`, for tests and docs.
pub fn days_in_month(t: DateTime<Utc>) -> u32 {
    let next = add_interval_anchored(t.with_day(1).unwrap_or(t), 1, Interval::Month);
    (next - t.with_day(1).unwrap_or(t)).num_days() as u32
}

#[cfg(test)]
#[path = "period_tests.rs"]
mod tests;
