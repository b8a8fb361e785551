//! Auto-grow: a full subscription of a product that grows when full answers 402 with the price
//! of the seats it lacks; confirmed, that price is charged once, through the paid-first path,
//! and the seats go to this request. A declined payment assigns nothing; a product that blocks
//! still answers 409.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::error::DomainError;
use domain::events::{ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::{Clock, Store, TeamSeatStore};
use domain::services::batch::{self, AssignBatch};
use domain::services::seats::{self, AssignSeat};
use domain::services::{billing_events, Principal};
use serde_json::json;
use std::sync::atomic::Ordering;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).single().expect("date")
}

async fn full(when_full: WhenFull, seats: i64) -> (Fakes, Principal, Subscription) {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { when_full, ..Default::default() };
    let product = fixtures::product(&f.app, &merchant, &plan).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, seats, "boss@corp.example", t0().timestamp(), "sub_grow")
        .await
        .expect("bought");
    f.run_jobs().await.expect("jobs");
    for i in 0..seats {
        seats::assign(&f.app, &merchant, &sub.id, invite(&format!("p{i}@corp.example"))).await.expect("fill");
    }
    f.queue.take();
    // Ten days into the 31-day period (May 4 – June 4).
    f.clock.advance(Duration::days(10));
    (f, merchant, sub)
}

fn invite(email: &str) -> AssignSeat {
    AssignSeat { email: email.into(), ..Default::default() }
}

fn confirmed(email: &str, proration_date: i64) -> AssignSeat {
    AssignSeat {
        email: email.into(),
        confirm_charge: Some(true),
        proration_date: Some(proration_date),
        ..Default::default()
    }
}

async fn now(f: &Fakes, id: &str) -> Subscription {
    f.store.subscription(id).await.expect("store").expect("sub")
}

/// The 402's preview: its proration date and what it says is due now.
fn preview_of(e: DomainError) -> (i64, i64, i64) {
    match e {
        DomainError::SeatIncreaseRequired { seats, preview } => (
            seats,
            preview["proration_date"].as_i64().expect("proration_date"),
            preview["amount_due_now"].as_i64().expect("amount_due_now"),
        ),
        other => panic!("expected seat_increase_required, got {other:?}"),
    }
}

#[tokio::test]
async fn a_full_subscription_offers_the_seat_and_charges_its_preview_once() {
    let (f, merchant, sub) = full(WhenFull::Grow, 2).await;
    let asked = seats::assign(&f.app, &merchant, &sub.id, invite("cy@corp.example")).await.expect_err("402");
    let (needed, at, due) = preview_of(asked);
    // Stripe's two proration lines for the 21 days left of 31, each rounded: remaining time on
    // 3 seats 3000 × 21/31 = 2032.3 → 2032, unused time on 2 seats −2000 × 21/31 = −1354.8 → −1355.
    assert_eq!((needed, due), (1, 2032 - 1355));
    assert!(f.payments.charges.lock().expect("lock").is_empty(), "a preview charges nothing");
    assert_eq!(now(&f, &sub.id).await.seats, 2);

    let seat =
        seats::assign(&f.app, &merchant, &sub.id, confirmed("cy@corp.example", at)).await.expect("bought");
    assert_eq!(seat.status, SeatStatus::Pending);
    let charges = f.payments.charges.lock().expect("lock").clone();
    assert_eq!(charges.len(), 1);
    assert_eq!((charges[0].quantity, charges[0].proration_date), (3, at));
    let after = now(&f, &sub.id).await;
    assert_eq!((after.seats, after.seats_assigned, after.seats_available()), (3, 3, 0));
    let trail = f.store.audit_events(&sub.id).await.expect("audit");
    let grown = trail.iter().find(|e| e.kind == "subscription.seats_increased").expect("audited");
    assert_eq!(grown.data["amount_due_now"], json!(677));
    assert!(f.queue.take().iter().any(|j| j.kind == JobKind::Invite), "cy is invited");

    // The same confirm again (a double click that came late): the email holds a seat now, so
    // it is refused before anything is charged.
    let again = seats::assign(&f.app, &merchant, &sub.id, confirmed("cy@corp.example", at)).await;
    assert_eq!(again.err(), Some(DomainError::SeatAlreadyAssigned));
    assert_eq!(f.payments.charges.lock().expect("lock").len(), 1, "charged once");
}

#[tokio::test]
async fn a_declined_payment_assigns_nothing_and_a_blocking_product_still_refuses() {
    let (f, merchant, sub) = full(WhenFull::Grow, 1).await;
    let (_, at, _) = preview_of(
        seats::assign(&f.app, &merchant, &sub.id, invite("cy@corp.example")).await.expect_err("402"),
    );
    f.payments.decline.store(true, Ordering::SeqCst);
    let declined = seats::assign(&f.app, &merchant, &sub.id, confirmed("cy@corp.example", at)).await;
    assert!(matches!(declined, Err(DomainError::PaymentRequired { .. })), "{declined:?}");
    let after = now(&f, &sub.id).await;
    assert_eq!((after.seats, after.seats_assigned), (1, 1), "nothing before the payment");
    assert!(f.store.seat_emails_taken(&sub.id, &["cy@corp.example".into()]).await.expect("read").is_empty());
    // Paid later (Stripe applies the pending update): the seat is added and free for anyone,
    // not held for a request that is long gone; the next change begins at once.
    let invoice = after.pending_change.as_ref().map(|p| p.invoice_id.clone()).expect("pending");
    let paid = PaymentEvent {
        id: "evt_paid".into(),
        created: f.clock.now().timestamp(),
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: "sub_grow".into(),
            checkout_id: Some("chk_x".into()),
            state: SubscriptionState {
                status: "active".into(),
                period: None,
                item: Some(ItemState {
                    id: Some("si_memory".into()),
                    quantity: 2,
                    interval: Some("month".into()),
                }),
                pending_update: false,
                latest_invoice: Some(invoice),
                cancellation: None,
            },
        },
    };
    billing_events::handle(&f.app, &paid).await.expect("paid");
    let added = now(&f, &sub.id).await;
    assert_eq!((added.seats, added.seats_assigned, added.seats_available()), (2, 1, 1));
    f.payments.decline.store(false, Ordering::SeqCst);
    seats::assign(&f.app, &merchant, &sub.id, invite("cy@corp.example"))
        .await
        .expect("a free seat, no charge");
    assert_eq!(f.payments.charges.lock().expect("lock").len(), 1, "only the declined attempt");

    let (f, merchant, sub) = full(WhenFull::Block, 1).await;
    let refused =
        seats::assign(&f.app, &merchant, &sub.id, confirmed("cy@corp.example", t0().timestamp())).await;
    assert_eq!(refused.err(), Some(DomainError::NoSeatsAvailable));
    assert!(f.payments.charges.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_batch_grows_by_the_rows_that_do_not_fit() {
    let (f, merchant, sub) = full(WhenFull::Grow, 3).await;
    // Free one seat: a batch of 4 needs 3 more.
    let first =
        seats::list(&f.app, &merchant, &sub.id, None, None, None).await.expect("list").seats[0].id.clone();
    seats::revoke(&f.app, &merchant, &sub.id, &first).await.expect("revoked");
    let rows = |confirm: Option<(bool, i64)>| AssignBatch {
        seats: (0..4).map(|i| json!({"email": format!("new{i}@corp.example")})).collect(),
        confirm_charge: confirm.map(|c| c.0),
        proration_date: confirm.map(|c| c.1),
        ..Default::default()
    };
    let (needed, at, due) =
        preview_of(batch::assign(&f.app, &merchant, &sub.id, rows(None)).await.expect_err("402"));
    // Stripe's two lines, each rounded: remaining time on 6 seats 6000 × 21/31 = 4064.5 → 4065,
    // unused time on 3 seats −3000 × 21/31 = −2032.3 → −2032.
    assert_eq!((needed, due), (3, 4065 - 2032));
    let done =
        batch::assign(&f.app, &merchant, &sub.id, rows(Some((true, at)))).await.expect("grown and assigned");
    assert_eq!((done.created, done.refused), (4, 0));
    let after = now(&f, &sub.id).await;
    assert_eq!((after.seats, after.seats_assigned, after.seats_available()), (6, 6, 0));
    assert_eq!(f.payments.charges.lock().expect("lock").len(), 1);
}
