//! Handing a seat to someone else: one transaction revokes the old seat and invites the new
//! person, the counter never moves (a full subscription transfers), the old holder's benefits
//! are revoked by the worker, and a refused transfer changes nothing.

use chrono::{DateTime, TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat, TransferSeat};
use domain::services::{benefits, Principal};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).single().expect("date")
}

/// A full 2-seat subscription: ann has claimed hers (benefits granted), bob's is pending.
async fn full() -> (Fakes, Principal, Subscription, Seat, Seat) {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, 2, "boss@corp.example", t0().timestamp(), "sub_t")
        .await
        .expect("bought");
    f.run_jobs().await.expect("jobs");
    let assign = |email: &str| AssignSeat { email: email.into(), metadata: None, ..Default::default() };
    seats::assign(&f.app, &merchant, &sub.id, assign("ann@corp.example")).await.expect("ann");
    let invite = f.queue.take().into_iter().find(|j| j.kind == JobKind::Invite).expect("invite");
    claims::claim(&f.app, ClaimRequest { token: invite.claim_token.clone().expect("token") })
        .await
        .expect("claim");
    seats::assign(&f.app, &merchant, &sub.id, assign("bob@corp.example")).await.expect("bob");
    f.run_jobs().await.expect("grants and mails");
    let page = f.store.seats_page(&sub.id, None, None, 10).await.expect("seats");
    let find = |email: &str| page.seats.iter().find(|s| s.email == email).cloned().expect("seat");
    let (ann, bob) = (find("ann@corp.example"), find("bob@corp.example"));
    (f, merchant, sub, ann, bob)
}

fn to(email: &str) -> TransferSeat {
    TransferSeat { email: email.into(), metadata: None }
}

async fn counter(f: &Fakes, sub: &Subscription) -> i64 {
    f.store.subscription(&sub.id).await.expect("store").expect("sub").seats_assigned
}

#[tokio::test]
async fn a_claimed_seat_moves_to_someone_else_on_a_full_subscription() {
    let (f, merchant, sub, ann, _) = full().await;
    assert_eq!(counter(&f, &sub).await, 2, "full");
    let new =
        seats::transfer(&f.app, &merchant, &sub.id, &ann.id, to("Cy@Corp.example")).await.expect("transfer");
    assert_eq!((new.status, new.email.as_str()), (SeatStatus::Pending, "cy@corp.example"));
    assert_eq!(counter(&f, &sub).await, 2, "the counter never moved");
    let old = f.store.seat(&sub.id, &ann.id).await.expect("store").expect("seat");
    assert_eq!(old.status, SeatStatus::Revoked);

    // The worker revokes ann's benefits and mails cy's invitation; cy claims and is granted.
    let jobs = f.queue.take();
    assert!(jobs.iter().any(|j| j.kind == JobKind::Revoke && j.seat_id == ann.id));
    let invite = jobs.iter().find(|j| j.kind == JobKind::Invite).expect("cy's invitation").clone();
    for j in &jobs {
        benefits::process(&f.app, j).await.expect("job");
    }
    let holder = ann.customer_id.clone().expect("ann holds it");
    let grants = f.store.grants_of_customer(&holder).await.expect("grants");
    assert!(!grants.is_empty() && grants.iter().all(|g| g.status == GrantStatus::Revoked));
    let claimed = claims::claim(&f.app, ClaimRequest { token: invite.claim_token.clone().expect("token") })
        .await
        .expect("cy claims");
    assert_eq!(claimed.seat.email, "cy@corp.example");
    let kinds: Vec<String> =
        f.store.audit_events(&sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "seat.transferred").count(), 1);
    // Ann is free to be given a seat again (her email's guard went with the old seat).
    seats::transfer(&f.app, &merchant, &sub.id, &claimed.seat.id, to("ann@corp.example"))
        .await
        .expect("back to ann");
}

#[tokio::test]
async fn refused_transfers_change_nothing() {
    let (f, merchant, sub, ann, bob) = full().await;
    let before = f.store.seats_page(&sub.id, None, None, 10).await.expect("seats").seats;
    let cases = [
        (ann.id.clone(), to("ann@corp.example")),
        (ann.id.clone(), to("bob@corp.example")),
        (ann.id.clone(), to("not an email")),
        ("seat_00000000000000000000000000000000".to_string(), to("cy@corp.example")),
    ];
    let mut errors = Vec::new();
    for (seat, input) in cases {
        errors.push(seats::transfer(&f.app, &merchant, &sub.id, &seat, input).await.err());
    }
    assert!(matches!(&errors[0], Some(DomainError::InvalidRequest { field: Some(f), .. }) if f == "email"));
    assert_eq!(errors[1], Some(DomainError::SeatAlreadyAssigned));
    assert!(matches!(&errors[2], Some(DomainError::InvalidRequest { .. })));
    assert_eq!(errors[3], Some(DomainError::NotFound("seat")));
    assert_eq!(f.store.seats_page(&sub.id, None, None, 10).await.expect("seats").seats, before);

    seats::revoke(&f.app, &merchant, &sub.id, &bob.id).await.expect("revoke bob");
    assert!(matches!(
        seats::transfer(&f.app, &merchant, &sub.id, &bob.id, to("dan@corp.example")).await,
        Err(DomainError::InvalidState(_))
    ));
    // Another organization's key sees no such subscription.
    let (other, _) = fixtures::merchant(&f.app, "globex").await.expect("other");
    assert_eq!(
        seats::transfer(&f.app, &other, &sub.id, &ann.id, to("eve@corp.example")).await.err(),
        Some(DomainError::NotFound("subscription"))
    );
}
