//! Billing managers: the owner and up to five co-managers manage a subscription; a removed one
//! is refused at once; ownership moves only when the person offered it accepts; seat holders
//! who manage nothing see nothing; the audit trail names who acted.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::services::claims::{self, ClaimRequest};
use domain::services::managers::{self, ManagerRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{portal, Principal};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).single().expect("date")
}

async fn bought() -> (Fakes, Principal, Subscription, Principal) {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, 5, "owner@corp.example", t0().timestamp(), "sub_m")
        .await
        .expect("bought");
    f.run_jobs().await.expect("jobs");
    let owner = as_customer(&sub, &sub.customer_id);
    (f, merchant, sub, owner)
}

fn as_customer(sub: &Subscription, customer_id: &str) -> Principal {
    Principal::Customer { customer_id: customer_id.to_string(), organization_id: sub.organization_id.clone() }
}

fn email(e: &str) -> ManagerRequest {
    ManagerRequest { email: e.into() }
}

#[tokio::test]
async fn a_co_manager_manages_until_the_owner_removes_them() {
    let (f, _, sub, owner) = bought().await;
    let added = managers::add(&f.app, &owner, &sub.id, email("Finance@Corp.example")).await.expect("added");
    assert_eq!((added.email.as_str(), added.role), ("finance@corp.example", "manager"));
    // They were mailed a sign-in link (the worker's sign-in job).
    f.run_jobs().await.expect("mail");
    assert!(f.mailer.sent().iter().any(|m| m.to == "finance@corp.example"));
    let finance = as_customer(&sub, &added.customer_id);

    // They see and manage it: the portal lists it, they assign a seat, the trail names them.
    let mine = portal::my_subscriptions(&f.app, &finance).await.expect("list");
    assert_eq!(mine.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [sub.id.as_str()]);
    seats::assign(
        &f.app,
        &finance,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), ..Default::default() },
    )
    .await
    .expect("a co-manager assigns");
    let trail = f.store.audit_events(&sub.id).await.expect("audit");
    let assigned = trail.iter().find(|e| e.kind == "seat.assigned").expect("assigned");
    assert_eq!(assigned.actor, format!("customer:{}", added.customer_id));

    // A co-manager may not remove managers or hand ownership over.
    let other =
        managers::add(&f.app, &finance, &sub.id, email("ops@corp.example")).await.expect("co-managers add");
    let refused = managers::remove(&f.app, &finance, &sub.id, &other.customer_id).await;
    assert!(matches!(refused, Err(DomainError::Forbidden(_))), "{refused:?}");
    let refused = managers::offer(&f.app, &finance, &sub.id, email("finance@corp.example")).await;
    assert!(matches!(refused, Err(DomainError::Forbidden(_))), "{refused:?}");

    // The owner removes them: their very next request is refused, as if it never existed.
    let gone = managers::remove(&f.app, &owner, &sub.id, &added.customer_id).await.expect("removed");
    assert!(gone.deleted);
    let after = seats::list(&f.app, &finance, &sub.id, None, None, None).await;
    assert_eq!(after.err(), Some(DomainError::NotFound("subscription")));
    assert!(portal::my_subscriptions(&f.app, &finance).await.expect("list").is_empty());
    let twice = managers::remove(&f.app, &owner, &sub.id, &added.customer_id).await;
    assert_eq!(twice.err(), Some(DomainError::NotFound("manager")));
}

#[tokio::test]
async fn at_most_five_co_managers_never_the_owner_never_twice() {
    let (f, merchant, sub, owner) = bought().await;
    for i in 0..5 {
        managers::add(&f.app, &owner, &sub.id, email(&format!("m{i}@corp.example"))).await.expect("added");
    }
    let sixth = managers::add(&f.app, &merchant, &sub.id, email("m5@corp.example")).await;
    assert!(matches!(sixth, Err(DomainError::InvalidState(_))), "{sixth:?}");
    let again = managers::add(&f.app, &owner, &sub.id, email("m0@corp.example")).await;
    assert!(matches!(again, Err(DomainError::Conflict(_))), "{again:?}");
    let themselves = managers::add(&f.app, &owner, &sub.id, email("owner@corp.example")).await;
    assert!(matches!(themselves, Err(DomainError::Conflict(_))), "{themselves:?}");
    let list = managers::list(&f.app, &owner, &sub.id).await.expect("list");
    assert_eq!(
        (list.owner.email.as_str(), list.managers.len(), list.max_managers),
        ("owner@corp.example", 5, 5)
    );
    let bad = managers::add(&f.app, &owner, &sub.id, email("nope")).await;
    assert!(matches!(bad, Err(DomainError::InvalidRequest { .. })));
}

#[tokio::test]
async fn ownership_moves_only_when_the_offered_person_accepts() {
    let (f, _, sub, owner) = bought().await;
    // A seat holder who manages nothing sees nothing.
    seats::assign(
        &f.app,
        &owner,
        &sub.id,
        AssignSeat { email: "holder@corp.example".into(), ..Default::default() },
    )
    .await
    .expect("assigned");
    let token = f.queue.take().into_iter().find_map(|j| j.claim_token).expect("link");
    let claimed = claims::claim(&f.app, ClaimRequest { token }).await.expect("claimed");
    let holder = as_customer(&sub, claimed.seat.customer_id.as_deref().expect("holder"));
    assert!(portal::my_subscriptions(&f.app, &holder).await.expect("list").is_empty());
    let peek = managers::list(&f.app, &holder, &sub.id).await;
    assert_eq!(peek.err(), Some(DomainError::NotFound("subscription")));
    let grab = managers::accept(&f.app, &holder, &sub.id).await;
    assert_eq!(grab.err(), Some(DomainError::NotFound("ownership offer")));
    let co = managers::add(&f.app, &owner, &sub.id, email("heir@corp.example")).await.expect("co-manager");
    let heir = as_customer(&sub, &co.customer_id);
    let early = managers::accept(&f.app, &heir, &sub.id).await;
    assert_eq!(early.err(), Some(DomainError::NotFound("ownership offer")));

    let offer = managers::offer(&f.app, &owner, &sub.id, email("heir@corp.example")).await.expect("offered");
    assert_eq!(offer.customer_id, co.customer_id);
    assert_eq!(
        f.store.subscription(&sub.id).await.expect("store").expect("sub").customer_id,
        sub.customer_id,
        "not yet"
    );
    let offers = managers::my_offers(&f.app, &heir).await.expect("offers");
    assert_eq!(offers.len(), 1);
    // Someone else cannot take it.
    let stranger = managers::add(&f.app, &owner, &sub.id, email("other@corp.example")).await.expect("other");
    let stolen = managers::accept(&f.app, &as_customer(&sub, &stranger.customer_id), &sub.id).await;
    assert_eq!(stolen.err(), Some(DomainError::NotFound("ownership offer")));

    let taken = managers::accept(&f.app, &heir, &sub.id).await.expect("accepted");
    assert_eq!(taken.customer_id, co.customer_id);
    let list = managers::list(&f.app, &heir, &sub.id).await.expect("the new owner's list");
    assert_eq!(list.owner.email, "heir@corp.example");
    assert!(list.managers.iter().all(|m| m.customer_id != co.customer_id), "no longer a co-manager too");
    assert!(list.ownership_offer.is_none(), "the offer is used up");
    // The old owner keeps nothing.
    let old = seats::list(&f.app, &owner, &sub.id, None, None, None).await;
    assert_eq!(old.err(), Some(DomainError::NotFound("subscription")));
    let again = managers::accept(&f.app, &heir, &sub.id).await;
    assert_eq!(again.err(), Some(DomainError::NotFound("ownership offer")));
    let kinds: Vec<String> =
        f.store.audit_events(&sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "subscription.owner_changed").count(), 1);
}

#[tokio::test]
async fn an_offer_expires_after_a_week() {
    let (f, _, sub, owner) = bought().await;
    let offer = managers::offer(&f.app, &owner, &sub.id, email("late@corp.example")).await.expect("offered");
    let late = as_customer(&sub, &offer.customer_id);
    f.clock.advance(Duration::days(managers::OFFER_TTL_DAYS) + Duration::seconds(1));
    let refused = managers::accept(&f.app, &late, &sub.id).await;
    assert_eq!(refused.err(), Some(DomainError::NotFound("ownership offer")));
    assert!(managers::my_offers(&f.app, &late).await.expect("offers").is_empty());
}
