//! What the money tests share: a subscription bought at 2025-03-01 on the in-memory fakes, and
//! Stripe-shaped events.
#![allow(dead_code)] // each test file uses its own part

use chrono::{DateTime, TimeZone, Utc};
use domain::events::{ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::services::Principal;

pub fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("date")
}

pub struct Setup {
    pub f: Fakes,
    pub merchant: Principal,
    pub sub: Subscription,
}

/// A subscription bought at 2025-03-01T00:00Z (period to 2025-04-01), 1000/seat/month and
/// 10000/seat/year, with the clock at 2025-03-11T00:00Z.
pub async fn setup(seats: i64) -> Setup {
    let f = Fakes::at(at(2025, 3, 1));
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan {
        year: Some(10000),
        min_seats: Some(2),
        max_seats: Some(20),
        license_prefix: None,
        ..Default::default()
    };
    let product = fixtures::product(&f.app, &merchant, &plan).await.expect("product");
    fixtures::buy(&f.app, &product, seats, "boss@corp.example", at(2025, 3, 1).timestamp(), "sub_s")
        .await
        .expect("bought");
    // The buyer's sign-in link is mailed: the queue starts empty.
    f.run_jobs().await.expect("jobs");
    f.clock.advance(at(2025, 3, 11) - at(2025, 3, 1));
    let sub = f.store.subscription_by_provider_id("sub_s").await.expect("store").expect("sub");
    assert_eq!((sub.current_period_start, sub.current_period_end), (at(2025, 3, 1), at(2025, 4, 1)));
    Setup { f, merchant, sub }
}

pub fn amounts(v: &domain::views::ChangeView) -> Vec<i64> {
    v.lines.iter().map(|l| l.amount).collect()
}

/// A `customer.subscription.updated` as Stripe sends it: the item's quantity and interval,
/// nothing pending.
pub fn updated(
    id: &str,
    created: i64,
    period: Option<(i64, i64)>,
    quantity: i64,
    interval: &str,
) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created,
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: "sub_s".into(),
            checkout_id: Some("chk_x".into()),
            state: SubscriptionState {
                status: "active".into(),
                period,
                item: Some(ItemState { id: Some("si_s".into()), quantity, interval: Some(interval.into()) }),
                pending_update: false,
                latest_invoice: None,
                cancellation: None,
            },
        },
    }
}

/// The same, naming the subscription's latest invoice (a change's, once paid).
pub fn updated_paid(id: &str, created: i64, quantity: i64, invoice: &str) -> PaymentEvent {
    let mut e = updated(id, created, None, quantity, "month");
    if let PaymentEventKind::SubscriptionUpdated { state, .. } = &mut e.kind {
        state.latest_invoice = Some(invoice.into());
    }
    e
}

pub async fn current(s: &Setup) -> Subscription {
    s.f.store.subscription(&s.sub.id).await.expect("store").expect("sub")
}

/// Applies a seat-count change as the merchant.
pub async fn change_seats(
    s: &Setup,
    seats: i64,
    proration_date: Option<i64>,
) -> Result<domain::views::ChangeView, domain::error::DomainError> {
    let req = domain::services::changes::SeatChangeRequest { seats, proration_date };
    domain::services::changes::apply_seats(&s.f.app, &s.merchant, &s.sub.id, req).await
}

/// Applies an interval change as the merchant.
pub async fn change_interval(
    s: &Setup,
    interval: Interval,
    proration_date: Option<i64>,
) -> Result<domain::views::ChangeView, domain::error::DomainError> {
    let req = domain::services::changes::IntervalChangeRequest { interval, proration_date };
    domain::services::changes::apply_interval(&s.f.app, &s.merchant, &s.sub.id, req).await
}
