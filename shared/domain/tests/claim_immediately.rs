//! Seats claimed at once, with no invitation: the organization's key for its own onboarding
//! (`notify: false, claim: "immediate"`, any email), and a billing manager's own seat ("assign
//! me"). The counter, the one-seat-per-email guard and the grant follow as for a claim; nothing
//! is mailed; the combinations that make no sense are refused and change nothing.

use chrono::{DateTime, TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::services::seats::{self, AssignSeat};
use domain::services::Principal;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).single().expect("date")
}

fn immediately(email: &str) -> AssignSeat {
    AssignSeat {
        email: email.into(),
        notify: Some(false),
        claim: Some("immediate".into()),
        ..Default::default()
    }
}

async fn bought(seats: i64) -> (Fakes, Principal, Subscription) {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, seats, "boss@corp.example", t0().timestamp(), "sub_i")
        .await
        .expect("bought");
    f.run_jobs().await.expect("the buyer's sign-in link");
    (f, merchant, sub)
}

/// The billing manager's session, as the portal's sign-in gives it.
async fn boss(f: &Fakes) -> Principal {
    let cus = f.store.customer_by_email(&fixtures_org(f).await, "boss@corp.example").await.expect("store");
    let cus = cus.expect("the buyer is a customer");
    Principal::Customer { customer_id: cus.id, organization_id: cus.organization_id }
}

async fn fixtures_org(f: &Fakes) -> String {
    f.store.organization_by_slug("acme").await.expect("store").expect("org").id
}

#[tokio::test]
async fn the_organizations_key_gives_a_claimed_seat_and_its_benefits_without_a_mail() {
    let (f, merchant, sub) = bought(2).await;
    let mails = f.mailer.sent().len();
    let seat =
        seats::assign(&f.app, &merchant, &sub.id, immediately("Ann@Corp.example")).await.expect("assigned");
    assert_eq!((seat.status, seat.email.as_str()), (SeatStatus::Claimed, "ann@corp.example"));
    let holder = seat.customer_id.clone().expect("a holder");
    assert_eq!(
        f.store.customer(&holder).await.expect("store").map(|c| c.email),
        Some("ann@corp.example".into())
    );
    let jobs = f.queue.take();
    assert_eq!(jobs.iter().map(|j| j.kind).collect::<Vec<_>>(), vec![JobKind::Grant], "no invitation");
    for j in &jobs {
        domain::services::benefits::process(&f.app, j).await.expect("grant");
    }
    let grants = f.store.grants_of_customer(&holder).await.expect("grants");
    assert!(!grants.is_empty() && grants.iter().all(|g| g.status == GrantStatus::Granted));
    assert_eq!(f.mailer.sent().len(), mails, "nothing mailed");
    let now = f.store.subscription(&sub.id).await.expect("store").expect("sub");
    assert_eq!(now.seats_assigned, 1);
    let trail = f.store.audit_events(&sub.id).await.expect("trail");
    assert!(trail.iter().any(|e| e.kind == "seat.assigned" && e.data["claim"] == "immediate"));

    // The same email again, and past the paid seats: refused as assigning is.
    let again = seats::assign(&f.app, &merchant, &sub.id, immediately("ann@corp.example")).await;
    assert_eq!(again.err(), Some(DomainError::SeatAlreadyAssigned));
    seats::assign(&f.app, &merchant, &sub.id, immediately("bob@corp.example")).await.expect("bob");
    let full = seats::assign(&f.app, &merchant, &sub.id, immediately("cy@corp.example")).await;
    assert_eq!(full.err(), Some(DomainError::NoSeatsAvailable));
    assert!(f
        .store
        .customer_by_email(&now.organization_id, "cy@corp.example")
        .await
        .expect("store")
        .is_none());
}

#[tokio::test]
async fn a_billing_manager_assigns_themselves_and_no_one_else_at_once() {
    let (f, _merchant, sub) = bought(3).await;
    let boss = boss(&f).await;
    let mine = AssignSeat {
        email: "boss@corp.example".into(),
        claim: Some("immediate".into()),
        ..Default::default()
    };
    let seat = seats::assign(&f.app, &boss, &sub.id, mine).await.expect("assign me");
    let Principal::Customer { customer_id, .. } = &boss else { unreachable!() };
    assert_eq!((seat.status, seat.customer_id.as_ref()), (SeatStatus::Claimed, Some(customer_id)));
    // Someone else is invited, never claimed for them by the manager.
    let other = AssignSeat {
        email: "ann@corp.example".into(),
        claim: Some("immediate".into()),
        ..Default::default()
    };
    let refused = seats::assign(&f.app, &boss, &sub.id, other).await;
    assert!(matches!(refused, Err(DomainError::InvalidRequest { .. })), "{refused:?}");
    // A seat holder who manages nothing sees no subscription to assign on.
    f.run_jobs().await.expect("grants");
    let ann = seats::assign(
        &f.app,
        &boss,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), ..Default::default() },
    )
    .await
    .expect("invited");
    let invite = f.queue.take().into_iter().find(|j| j.kind == JobKind::Invite).expect("invitation");
    let claimed = domain::services::claims::claim(
        &f.app,
        domain::services::claims::ClaimRequest { token: invite.claim_token.clone().expect("token") },
    )
    .await
    .expect("ann claims");
    assert_eq!(claimed.seat.id, ann.id);
    let holder = Principal::Customer {
        customer_id: claimed.seat.customer_id.clone().expect("holder"),
        organization_id: sub.organization_id.clone(),
    };
    let theirs = AssignSeat {
        email: "ann@corp.example".into(),
        claim: Some("immediate".into()),
        ..Default::default()
    };
    assert_eq!(
        seats::assign(&f.app, &holder, &sub.id, theirs).await.err(),
        Some(DomainError::NotFound("subscription"))
    );
}

#[tokio::test]
async fn nonsense_combinations_are_refused_and_change_nothing() {
    let (f, merchant, sub) = bought(2).await;
    for (notify, claim, field) in [
        (Some(false), None, "notify"),
        (Some(false), Some("invitation"), "notify"),
        (Some(true), Some("immediate"), "notify"),
        (None, Some("later"), "claim"),
    ] {
        let input = AssignSeat {
            email: "ann@corp.example".into(),
            notify,
            claim: claim.map(str::to_string),
            ..Default::default()
        };
        match seats::assign(&f.app, &merchant, &sub.id, input).await {
            Err(DomainError::InvalidRequest { field: Some(got), .. }) => assert_eq!(got, field),
            other => panic!("{notify:?} {claim:?}: {other:?}"),
        }
    }
    let now = f.store.subscription(&sub.id).await.expect("store").expect("sub");
    assert_eq!(now.seats_assigned, 0);
    assert!(f.queue.take().is_empty());
}
