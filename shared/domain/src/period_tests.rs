//! Tests of `period`, kept beside it.

use super::*;
use chrono::TimeZone;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("valid date")
}

#[test]
fn monthly_anchor_clamps_to_month_end() {
    assert_eq!(first_period_end(at(2025, 1, 31), Interval::Month), at(2025, 2, 28));
    assert_eq!(first_period_end(at(2024, 1, 31), Interval::Month), at(2024, 2, 29));
    assert_eq!(add_interval_anchored(at(2025, 1, 31), 2, Interval::Month), at(2025, 3, 31));
    assert_eq!(first_period_end(at(2025, 3, 1), Interval::Month), at(2025, 4, 1));
}

#[test]
fn yearly_anchor_handles_leap_day() {
    assert_eq!(first_period_end(at(2024, 2, 29), Interval::Year), at(2025, 2, 28));
    assert_eq!(first_period_end(at(2025, 3, 11), Interval::Year), at(2026, 3, 11));
}

#[test]
fn month_lengths() {
    assert_eq!(days_in_month(at(2025, 2, 10)), 28);
    assert_eq!(days_in_month(at(2024, 2, 10)), 29);
    assert_eq!(days_in_month(at(2025, 4, 10)), 30);
    assert_eq!(days_in_month(at(2025, 3, 10)), 31);
}
