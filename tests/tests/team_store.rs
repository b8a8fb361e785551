//! Team features in the real table (moto). Billing managers: ten owners' racing adds make
//! exactly five co-managers; a removed one is refused on the next request; ownership moves with
//! its index entry (the new owner's portal lists it, the old one's does not), once. Auto-grow:
//! the write that applies the purchase reserves the new seat, and the counter ends exact.

use chrono::{DateTime, TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{
    fixtures, FixedClock, MemoryFiles, MemoryMailer, MemoryPayments, MemoryQueue, MemoryWebhookQueue,
};
use domain::services::managers::{self, ManagerRequest};
use domain::services::seats::AssignSeat;
use domain::services::{portal, seats, App, Principal, Settings};
use seats_tests::TestTable;
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).single().expect("date")
}

fn app(table: &TestTable) -> App {
    App {
        store: Arc::new(table.store.clone()),
        mailer: Arc::new(MemoryMailer::default()),
        payments: Arc::new(MemoryPayments::default()),
        files: Arc::new(MemoryFiles),
        jobs: Arc::new(MemoryQueue::default()),
        webhooks: Arc::new(MemoryWebhookQueue::default()),
        clock: Arc::new(FixedClock::at(t0())),
        settings: Settings::with_defaults("https://portal.example", &domain::secrets::hash("admin")),
    }
}

fn customer(sub: &domain::model::Subscription, id: &str) -> Principal {
    Principal::Customer { customer_id: id.into(), organization_id: sub.organization_id.clone() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_adds_make_five_managers_and_ownership_moves_once_with_its_index() {
    let table = TestTable::new("managers").await;
    let app = app(&table);
    let (merchant, _) = fixtures::merchant(&app, "acme").await.expect("merchant");
    let product = fixtures::product(&app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let sub = fixtures::buy(&app, &product, 5, "owner@corp.example", t0().timestamp(), "sub_ms")
        .await
        .expect("bought");
    let owner = customer(&sub, &sub.customer_id);

    let mut tasks = Vec::new();
    for i in 0..10 {
        let (app, owner, id) = (app.clone(), owner.clone(), sub.id.clone());
        tasks.push(tokio::spawn(async move {
            managers::add(&app, &owner, &id, ManagerRequest { email: format!("m{i}@corp.example") }).await
        }));
    }
    let (mut added, mut full, mut other) = (Vec::new(), 0, Vec::new());
    for t in tasks {
        match t.await.expect("join") {
            Ok(m) => added.push(m),
            Err(DomainError::InvalidState(_)) => full += 1,
            Err(e) => other.push(e),
        }
    }
    // A transaction conflict on the counter may answer 503; never a sixth manager.
    assert!(other.iter().all(|e| *e == DomainError::Unavailable), "{other:?}");
    assert!(added.len() <= 5 && added.len() + full + other.len() == 10);
    let list = managers::list(&app, &owner, &sub.id).await.expect("list");
    assert_eq!(list.managers.len(), added.len());
    while managers::list(&app, &owner, &sub.id).await.expect("list").managers.len() < 5 {
        let n = managers::list(&app, &owner, &sub.id).await.expect("list").managers.len();
        managers::add(&app, &owner, &sub.id, ManagerRequest { email: format!("late{n}@corp.example") })
            .await
            .expect("fill up");
    }
    let sixth =
        managers::add(&app, &owner, &sub.id, ManagerRequest { email: "six@corp.example".into() }).await;
    assert!(matches!(sixth, Err(DomainError::InvalidState(_))), "{sixth:?}");

    // A co-manager reaches the subscription; removed, they do not, from the next request on.
    let first = customer(&sub, &added[0].customer_id);
    seats::list(&app, &first, &sub.id, None, None, None).await.expect("a co-manager lists seats");
    assert_eq!(portal::my_subscriptions(&app, &first).await.expect("mine").len(), 1);
    managers::remove(&app, &owner, &sub.id, &added[0].customer_id).await.expect("removed");
    let refused = seats::list(&app, &first, &sub.id, None, None, None).await;
    assert_eq!(refused.err(), Some(DomainError::NotFound("subscription")));
    assert!(portal::my_subscriptions(&app, &first).await.expect("mine").is_empty());
    // The freed place is taken again (the counter went down with the removal).
    managers::add(&app, &owner, &sub.id, ManagerRequest { email: "again@corp.example".into() })
        .await
        .expect("room again");

    // Ownership: offered to a co-manager, accepted once; the index entry moves with it.
    let heir = added[1].clone();
    managers::offer(&app, &owner, &sub.id, ManagerRequest { email: heir.email.clone() })
        .await
        .expect("offer");
    let heir_p = customer(&sub, &heir.customer_id);
    let (a1, a2) = (app.clone(), app.clone());
    let (p1, p2, s1, s2) = (heir_p.clone(), heir_p.clone(), sub.id.clone(), sub.id.clone());
    let one = tokio::spawn(async move { managers::accept(&a1, &p1, &s1).await });
    let two = tokio::spawn(async move { managers::accept(&a2, &p2, &s2).await });
    let outcomes = [one.await.expect("task"), two.await.expect("task")];
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    let now = app.store.subscription(&sub.id).await.expect("store").expect("sub");
    assert_eq!(now.customer_id, heir.customer_id);
    assert_eq!(now.version, sub.version + 1);
    let theirs = app.store.subscriptions_of_billing_manager(&heir.customer_id).await.expect("index");
    assert_eq!(theirs.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [sub.id.as_str()]);
    assert!(app.store.subscriptions_of_billing_manager(&sub.customer_id).await.expect("index").is_empty());
    assert!(
        app.store.managed_by(&heir.customer_id).await.expect("index").is_empty(),
        "owner, not co-manager"
    );
    let list = managers::list(&app, &heir_p, &sub.id).await.expect("the new owner's list");
    assert_eq!((list.owner.customer_id.as_str(), list.managers.len()), (heir.customer_id.as_str(), 4));
    table.drop_table().await;
}

#[tokio::test]
async fn a_grown_seat_is_reserved_by_the_settlement_and_assigned_with_the_counter_exact() {
    let table = TestTable::new("grow").await;
    let app = app(&table);
    let (merchant, _) = fixtures::merchant(&app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { when_full: domain::model::WhenFull::Grow, ..Default::default() };
    let product = fixtures::product(&app, &merchant, &plan).await.expect("product");
    let sub = fixtures::buy(&app, &product, 1, "owner@corp.example", t0().timestamp(), "sub_grow")
        .await
        .expect("bought");
    let assign = |email: &str, confirm: Option<i64>| AssignSeat {
        email: email.into(),
        confirm_charge: confirm.map(|_| true),
        proration_date: confirm,
        ..Default::default()
    };
    seats::assign(&app, &merchant, &sub.id, assign("a@corp.example", None)).await.expect("the one seat");
    let asked = seats::assign(&app, &merchant, &sub.id, assign("b@corp.example", None)).await;
    let Err(DomainError::SeatIncreaseRequired { seats: 1, preview }) = asked else { panic!("{asked:?}") };
    let at = preview["proration_date"].as_i64().expect("proration_date");
    let seat =
        seats::assign(&app, &merchant, &sub.id, assign("b@corp.example", Some(at))).await.expect("grown");
    assert_eq!(seat.email, "b@corp.example");
    let now = app.store.subscription(&sub.id).await.expect("store").expect("sub");
    assert_eq!((now.seats, now.seats_assigned, now.change_intent.is_none()), (2, 2, true));
    let items = seats_tests::scan(&table.client, &table.name).await;
    let entity = |e: &str| {
        items
            .iter()
            .filter(|i| i.get("entity").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(e))
            .count()
    };
    assert_eq!(
        (entity("seat"), entity("seat_reservation"), entity("grow_hold")),
        (2, 0, 0),
        "both seats written, the reservation used up, the change lock free"
    );
    table.drop_table().await;
}
