//! The seat flows with the real DynamoDB store and SQS on moto: no oversell under 200
//! concurrent assigns, a job whose SQS send failed still arrives through the sweeper, the
//! real queue and the worker's batch handler, and a license key's activations never pass
//! their limit under 20 at once.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{fixtures, FixedClock, MemoryFiles, MemoryMailer, MemoryPayments};
use domain::model::*;
use domain::services::batch::{self, AssignBatch};
use domain::services::claims::{self, ClaimRequest};
use domain::services::license_keys::{self, ActivateRequest, DeactivateRequest};
use domain::services::seats::{self, AssignSeat, TransferSeat};
use domain::services::{sweeper, App, Principal, Settings};
use local_stack::resources::{self, Resources};
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).single().expect("date")
}

struct World {
    app: App,
    mailer: Arc<MemoryMailer>,
    clock: Arc<FixedClock>,
    res: Resources,
    sqs: aws_sdk_sqs::Client,
    db: aws_sdk_dynamodb::Client,
}

async fn world(name: &str) -> World {
    let endpoint = local_stack::moto::shared_for_tests().expect("moto");
    let sdk = resources::sdk_config(endpoint).await;
    let res = resources::provision(&sdk, &resources::unique_prefix(name)).await.expect("resources");
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Arc::new(FixedClock::at(t0()));
    let app = App {
        store: Arc::new(adapters::dynamo::DynamoStore::new(db.clone(), &res.table)),
        mailer: mailer.clone(),
        payments: Arc::new(MemoryPayments::default()),
        files: Arc::new(MemoryFiles),
        jobs: Arc::new(adapters::sqs::SqsJobs::new(sqs.clone(), &res.queue_url)),
        webhooks: Arc::new(adapters::sqs::SqsWebhooks::new(sqs.clone(), &res.webhook_queue_url)),
        clock: clock.clone(),
        settings: Settings::with_defaults("https://portal.example", &domain::secrets::hash("admin")),
    };
    World { app, mailer, clock, res, sqs, db }
}

/// An organization with one product (a license key benefit) and an active subscription.
async fn subscription(w: &World, seats: i64) -> (Principal, Subscription) {
    let (merchant, _) = fixtures::merchant(&w.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { activation_limit: Some(5), ..Default::default() };
    let product = fixtures::product(&w.app, &merchant, &plan).await.expect("product");
    let sub = fixtures::buy(&w.app, &product, seats, "boss@corp.example", t0().timestamp(), "sub_s")
        .await
        .expect("bought");
    // The buyer's sign-in link went to the queue: mailed here, so the queue starts empty.
    let sign_in = received(w, 1).await;
    assert_eq!(sign_in.len(), 1, "the buyer's sign-in job");
    work(w, sign_in).await;
    (merchant, sub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_assigns_on_ten_seats_sell_exactly_ten() {
    let w = world("oversell").await;
    let (merchant, sub) = subscription(&w, 10).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let app = w.app.clone();
        let merchant = merchant.clone();
        let sub_id = sub.id.clone();
        tasks.push(tokio::spawn(async move {
            seats::assign(
                &app,
                &merchant,
                &sub_id,
                AssignSeat { email: format!("person{i}@corp.example"), metadata: None, ..Default::default() },
            )
            .await
        }));
    }
    let (mut ok, mut full, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(DomainError::NoSeatsAvailable) => full += 1,
            Err(e) => other.push(e),
        }
    }
    assert_eq!((ok, full), (10, 190), "unexpected errors: {other:?}");
    let sub = w.app.store.subscription(&sub.id).await.expect("get").expect("sub");
    let live = seats::list(&w.app, &merchant, &sub.id, None, None, Some("100")).await.expect("list");
    assert_eq!(sub.seats_assigned, 10);
    // Nothing of the 190 refused transactions was left behind.
    let items = seats_tests::scan(&w.db, &w.res.table).await;
    let count = |entity: &str| {
        items
            .iter()
            .filter(|i| i.get("entity").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(entity))
            .count()
    };
    assert_eq!((count("seat"), count("seat_email"), count("claim_token")), (10, 10, 10));
    assert_eq!(
        live.seats.iter().filter(|s| s.status != SeatStatus::Revoked).count(),
        10,
        "counter = live seats"
    );
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}

/// Seats claimed at once race like assigns: 40 of them (ten by one new person) for five seats
/// sell five, the new person is one customer, and every refused transaction left nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_immediate_claims_on_five_seats_sell_exactly_five_and_one_customer_each() {
    let w = world("claim-now").await;
    let (merchant, sub) = subscription(&w, 5).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (app, merchant, sub_id) = (w.app.clone(), merchant.clone(), sub.id.clone());
        let email = if i < 10 { "same@corp.example".to_string() } else { format!("p{i}@corp.example") };
        tasks.push(tokio::spawn(async move {
            let input = AssignSeat {
                email,
                notify: Some(false),
                claim: Some("immediate".into()),
                ..Default::default()
            };
            seats::assign(&app, &merchant, &sub_id, input).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(seat) => {
                assert_eq!(seat.status, SeatStatus::Claimed);
                ok += 1
            }
            Err(DomainError::NoSeatsAvailable | DomainError::SeatAlreadyAssigned) => {}
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    let now = w.app.store.subscription(&sub.id).await.expect("get").expect("sub");
    assert_eq!((ok, now.seats_assigned), (5, 5));
    let items = seats_tests::scan(&w.db, &w.res.table).await;
    let count = |entity: &str| {
        items
            .iter()
            .filter(|i| i.get("entity").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(entity))
            .count()
    };
    assert_eq!((count("seat"), count("seat_email"), count("claim_token")), (5, 5, 0));
    // The buyer and one customer per claimed seat: no person twice.
    assert_eq!(count("customer"), 1 + 5);
    assert_eq!(count("customer_email"), 1 + 5);
    // A seat claimed at once is revoked like any claimed seat (its holder's benefits with it).
    let live = seats::list(&w.app, &merchant, &sub.id, None, None, Some("100")).await.expect("list");
    let first = live.seats.first().expect("a seat").clone();
    let revoked = seats::revoke(&w.app, &merchant, &sub.id, &first.id).await.expect("revoked");
    assert_eq!(revoked.status, SeatStatus::Revoked);
    let now = w.app.store.subscription(&sub.id).await.expect("get").expect("sub");
    assert_eq!(now.seats_assigned, 4);
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}

/// Up to ten messages of the job queue, waiting up to `wait_s` for the first.
async fn received(w: &World, wait_s: i32) -> Vec<aws_sdk_sqs::types::Message> {
    w.sqs
        .receive_message()
        .queue_url(&w.res.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_s)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}

/// The worker does `messages` (all must succeed), which then leave the queue, as Lambda does.
async fn work(w: &World, messages: Vec<aws_sdk_sqs::types::Message>) {
    let reply = benefit_worker::handler::handle(&w.app, sqs_event(messages.clone())).await.expect("batch");
    assert!(reply.batch_item_failures.is_empty());
    for m in messages {
        let handle = m.receipt_handle.unwrap_or_default();
        w.sqs
            .delete_message()
            .queue_url(&w.res.queue_url)
            .receipt_handle(handle)
            .send()
            .await
            .expect("delete");
    }
}

fn sqs_event(messages: Vec<aws_sdk_sqs::types::Message>) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut r = SqsMessage::default();
        r.message_id = m.message_id;
        r.receipt_handle = m.receipt_handle;
        r.body = m.body;
        event.records.push(r);
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_survives_a_failed_sqs_send_through_outbox_sweeper_and_worker() {
    let w = world("outbox").await;
    let (merchant, sub) = subscription(&w, 2).await;
    seats::assign(
        &w.app,
        &merchant,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await
    .expect("assign");
    // The worker mails the invitation from the queue (as Lambda would, then deletes it).
    let invite = received(&w, 1).await;
    assert_eq!(invite.len(), 1, "the invitation job");
    work(&w, invite).await;
    let mail = w.mailer.sent().into_iter().last().expect("invitation");
    let token = local_stack::moto::link_param(&mail.text, "token").expect("token");

    // The claim runs with a queue that does not exist: the send fails after the commit.
    let mut broken = w.app.clone();
    broken.jobs =
        Arc::new(adapters::sqs::SqsJobs::new(w.sqs.clone(), format!("{}-missing", w.res.queue_url)));
    let claimed = claims::claim(&broken, ClaimRequest { token }).await.expect("the claim commits");
    assert_eq!(claimed.seat.status, SeatStatus::Claimed);
    assert!(received(&w, 0).await.is_empty(), "nothing reached the queue");

    // A minute later the sweeper finds the job in the outbox and sends it.
    w.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(sweeper::sweep(&w.app, 60).await.expect("sweep").resent, 1);
    let received = received(&w, 1).await;
    assert_eq!(received.len(), 1);

    // The worker's batch handler, with a poison message beside the job: only the poison fails.
    let mut poison = aws_sdk_sqs::types::Message::builder().message_id("poison-1").body("{not a job").build();
    poison.receipt_handle = Some("x".into());
    let mut messages = received.clone();
    messages.push(poison);
    let reply = benefit_worker::handler::handle(&w.app, sqs_event(messages)).await.expect("batch");
    let failed: Vec<String> = reply.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec!["poison-1".to_string()]);

    let holder = claimed.seat.customer_id.expect("holder");
    let grants = w.app.store.grants_of_customer(&holder).await.expect("grants");
    assert_eq!(grants.len(), 1);
    assert!(grants[0].license_key.as_deref().is_some_and(|k| k.starts_with("ACME-")));
    // A second delivery of the same job grants nothing new.
    benefit_worker::handler::handle(&w.app, sqs_event(received)).await.expect("again");
    assert_eq!(w.app.store.grants_of_customer(&holder).await.expect("grants").len(), 1);
    assert!(w.app.store.stale_jobs(i64::MAX, 10).await.expect("outbox").is_empty());

    // The key's activations: 20 at once on a limit of 5 → exactly 5, the counter exact.
    let key = grants[0].license_key.clone().expect("key");
    let mut racing = Vec::new();
    for i in 0..20 {
        let (app, org, key) = (w.app.clone(), sub.organization_id.clone(), key.clone());
        racing.push(tokio::spawn(async move {
            let ask = ActivateRequest { organization_id: org, key, label: format!("machine {i}") };
            license_keys::activate(&app, ask).await
        }));
    }
    let mut outcomes = Vec::new();
    for r in racing {
        outcomes.push(r.await.expect("task"));
    }
    let won: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(won.len(), 5);
    assert!(outcomes
        .iter()
        .filter(|o| o.is_err())
        .all(|o| o == &Err(DomainError::ActivationLimitReached { limit: 5 })));
    let hash = domain::secrets::hash(&key);
    let record = w.app.store.license_key(&hash).await.expect("store").expect("record");
    assert_eq!(record.activations, 5);
    assert_eq!(w.app.store.license_activations(&hash).await.expect("store").len(), 5);
    let off = DeactivateRequest {
        organization_id: sub.organization_id.clone(),
        key: key.clone(),
        activation_id: won[0].id.clone(),
    };
    license_keys::deactivate(&w.app, off).await.expect("deactivate");
    let ask =
        ActivateRequest { organization_id: sub.organization_id.clone(), key, label: "new laptop".into() };
    license_keys::activate(&w.app, ask).await.expect("the freed one is taken");
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}

#[tokio::test]
async fn six_hundred_given_up_jobs_leave_the_outbox_and_a_fresh_one_is_sent() {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    let w = world("deadjobs").await;
    let (merchant, sub) = subscription(&w, 5).await;
    // 600 entries already re-sent ten times, as a long outage leaves them (written raw).
    let mut writes = Vec::new();
    for i in 0..600 {
        let job = Job {
            kind: JobKind::Grant,
            seat_id: format!("seat_stuck{i:04}"),
            subscription_id: sub.id.clone(),
            customer_id: "cus_x".into(),
            cursor: None,
            claim_token: None,
            sign_in: None,
        };
        let mut item = adapters::dynamo::row("outbox", &adapters::keys::outbox("grant", &job.seat_id), &job)
            .expect("row");
        item.insert("attempts".into(), AttributeValue::N(sweeper::MAX_ATTEMPTS.to_string()));
        item.insert("enqueued_at".into(), AttributeValue::N("0".into()));
        writes.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().expect("put"))
                .build(),
        );
    }
    for chunk in writes.chunks(25) {
        w.db.batch_write_item().request_items(&w.res.table, chunk.to_vec()).send().await.expect("batch");
    }
    // And one fresh job whose send failed.
    let mut broken = w.app.clone();
    broken.jobs =
        Arc::new(adapters::sqs::SqsJobs::new(w.sqs.clone(), format!("{}-missing", w.res.queue_url)));
    let who = AssignSeat { email: "fresh@corp.example".into(), metadata: None, ..Default::default() };
    let fresh = seats::assign(&broken, &merchant, &sub.id, who).await.expect("assign");

    w.clock.advance(chrono::Duration::seconds(61));
    let swept = sweeper::sweep(&w.app, 60).await.expect("sweep");
    assert_eq!((swept.resent, swept.given_up), (1, 600), "{swept:?}");
    let received = received(&w, 1).await;
    assert!(received.iter().any(|m| m.body.as_deref().unwrap_or_default().contains(&fresh.id)));
    let dead = sweeper::dead_jobs(&w.app, &Principal::Operator, 1000).await.expect("dead");
    assert_eq!(dead.len(), 600);
    let outbox = w.app.store.stale_jobs(i64::MAX, 1000).await.expect("outbox");
    assert_eq!(outbox.len(), 1, "given-up jobs left the index");
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}

#[tokio::test]
async fn a_ten_thousand_event_trail_comes_in_pages_under_the_byte_bound() {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use domain::services::{audit, lists};
    let w = world("trail").await;
    let (merchant, sub) = subscription(&w, 5).await;
    // 10,000 events of about 1.5 KB each (15 MB of trail), written raw.
    let mut writes = Vec::new();
    for i in 0..10_000 {
        let e = AuditEvent {
            id: domain::ids::new_id(domain::ids::EVENT),
            subscription_id: sub.id.clone(),
            kind: "seat.assigned".into(),
            actor: "organization:bench".into(),
            data: serde_json::json!({"n": i, "note": "x".repeat(1400)}),
            created_at: t0(),
            outgoing: Vec::new(),
        };
        let item = adapters::dynamo::row("audit_event", &adapters::keys::audit_event(&sub.id, &e.id), &e)
            .expect("row");
        writes.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().expect("put"))
                .build(),
        );
    }
    for chunk in writes.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out =
                w.db.batch_write_item()
                    .request_items(&w.res.table, pending.clone())
                    .send()
                    .await
                    .expect("batch");
            pending = out.unprocessed_items.and_then(|mut u| u.remove(&w.res.table)).unwrap_or_default();
        }
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = audit::trail_page(&w.app, &merchant, &sub.id, cursor.as_deref(), Some("1000"))
            .await
            .expect("page");
        let bytes = serde_json::to_vec(&page).expect("json").len();
        assert!(bytes <= lists::MAX_PAGE_BYTES + 1024, "page {pages} is {bytes} bytes");
        assert!(!page.data.is_empty());
        seen.extend(page.data.iter().map(|e| e.id.clone()));
        pages += 1;
        match page.next_cursor {
            Some(c) => {
                assert!(page.has_more);
                cursor = Some(c);
            }
            None => break,
        }
    }
    // The purchase's own event, then the 10,000, each once and in order.
    assert_eq!(seen.len(), 10_001);
    assert!(seen.windows(2).all(|p| p[0] < p[1]), "oldest first, no repeats");
    assert!(pages >= 15, "cut by bytes, not only by the limit ({pages} pages)");
    assert!(audit::trail_page(&w.app, &merchant, &sub.id, Some("nope"), None).await.is_err());
    assert!(audit::trail_page(&w.app, &merchant, &sub.id, None, Some("1001")).await.is_err());
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_racing_a_revoke_of_the_same_seat_one_wins_and_the_counter_stays_exact() {
    let w = world("transfer").await;
    let (merchant, sub) = subscription(&w, 2).await;
    let mut transfers_won = 0;
    for round in 0..10 {
        let seat = seats::assign(
            &w.app,
            &merchant,
            &sub.id,
            AssignSeat { email: format!("p{round}@corp.example"), metadata: None, ..Default::default() },
        )
        .await
        .expect("assign");
        let (a, b) = (w.app.clone(), w.app.clone());
        let (m1, m2) = (merchant.clone(), merchant.clone());
        let (s1, s2, id1, id2) = (sub.id.clone(), sub.id.clone(), seat.id.clone(), seat.id.clone());
        let to = TransferSeat { email: format!("q{round}@corp.example"), metadata: None };
        let transfer = tokio::spawn(async move { seats::transfer(&a, &m1, &s1, &id1, to).await });
        let revoke = tokio::spawn(async move { seats::revoke(&b, &m2, &s2, &id2).await });
        let (transferred, revoked) = (transfer.await.expect("task"), revoke.await.expect("task"));
        assert_eq!(revoked.expect("a revoke of a revoked seat answers it").status, SeatStatus::Revoked);
        match transferred {
            Ok(new) => {
                transfers_won += 1;
                // Clean up: the new seat goes too, so the next round has room.
                seats::revoke(&w.app, &merchant, &sub.id, &new.id).await.expect("revoke the new seat");
            }
            Err(DomainError::InvalidState(_)) => {}
            Err(e) => panic!("round {round}: {e:?}"),
        }
        let now = w.app.store.subscription(&sub.id).await.expect("store").expect("sub");
        let page = w.app.store.seats_page(&sub.id, None, None, 100).await.expect("seats");
        let live = page.seats.iter().filter(|s| s.status != SeatStatus::Revoked).count() as i64;
        assert_eq!((now.seats_assigned, live), (0, 0), "round {round}: the counter equals the live seats");
    }
    println!("transfer won {transfers_won} of 10 races against a revoke");
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}

fn batch_of(prefix: &str, n: usize) -> AssignBatch {
    AssignBatch {
        seats: (0..n).map(|i| serde_json::json!({"email": format!("{prefix}{i}@corp.example")})).collect(),
        notify: None,
        ..Default::default()
    }
}

/// The counter against the seats the table holds, and no reservation left open.
async fn counter_is_exact(w: &World, sub_id: &str) -> i64 {
    let now = w.app.store.subscription(sub_id).await.expect("store").expect("sub");
    let items = seats_tests::scan(&w.db, &w.res.table).await;
    let entity = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, e: &str| {
        i.get("entity").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(e)
    };
    let holding = items
        .iter()
        .filter(|i| entity(i, "seat"))
        .filter(|i| {
            matches!(
                i.get("status").and_then(|v| v.as_s().ok()).map(String::as_str),
                Some("pending" | "claimed")
            )
        })
        .count() as i64;
    assert_eq!(items.iter().filter(|i| entity(i, "seat_reservation")).count(), 0, "no reservation left open");
    assert_eq!(now.seats_assigned, holding, "the counter equals the seats holding one");
    holding
}

/// Batches race for the last 50 seats of 100: each is reserved whole or refused whole, so at
/// most 50 are written in all, and the counter ends equal to the seats in the table. Then 500
/// rows against the 100 free of a 400-seat subscription are refused with nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_batches_racing_for_the_last_fifty_seats_write_at_most_fifty() {
    let w = world("batch").await;
    let (merchant, sub) = subscription(&w, 100).await;
    let first = batch::assign(&w.app, &merchant, &sub.id, batch_of("early", 50)).await.expect("first 50");
    assert_eq!((first.created, first.seats_available), (50, 50));

    // Two batches of 40 for the last 50: one wins whole, the other is refused whole.
    let (a, b) = (w.app.clone(), w.app.clone());
    let (m1, m2, s1, s2) = (merchant.clone(), merchant.clone(), sub.id.clone(), sub.id.clone());
    let one = tokio::spawn(async move { batch::assign(&a, &m1, &s1, batch_of("a", 40)).await });
    let two = tokio::spawn(async move { batch::assign(&b, &m2, &s2, batch_of("b", 40)).await });
    let outcomes = [one.await.expect("task"), two.await.expect("task")];
    let won: Vec<usize> = outcomes.iter().filter_map(|o| o.as_ref().ok().map(|r| r.created)).collect();
    assert_eq!(won, [40], "{outcomes:?}");
    assert!(outcomes.iter().any(|o| matches!(o, Err(DomainError::NotEnoughSeats { needed: 40, .. }))));
    assert_eq!(counter_is_exact(&w, &sub.id).await, 90);
    // Give the 40 back: the last 50 are free again for the 200-way race.
    let page = w.app.store.seats_page(&sub.id, None, None, 100).await.expect("seats");
    for s in page.seats.iter().filter(|s| !s.email.starts_with("early")) {
        seats::revoke(&w.app, &merchant, &sub.id, &s.id).await.expect("revoke");
    }

    let mut tasks = Vec::new();
    for i in 0..200 {
        let (app, m, s) = (w.app.clone(), merchant.clone(), sub.id.clone());
        tasks.push(tokio::spawn(
            async move { batch::assign(&app, &m, &s, batch_of(&format!("r{i}-"), 3)).await },
        ));
    }
    let (mut written, mut refused, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.expect("join") {
            Ok(r) => written += r.created,
            Err(DomainError::NotEnoughSeats { .. }) => refused += 1,
            Err(e) => other.push(e),
        }
    }
    assert!(other.iter().all(|e| *e == DomainError::Unavailable), "unexpected errors: {other:?}");
    assert!(written <= 50, "{written} written for 50 free seats");
    assert_eq!(written, 48, "sixteen batches of three fit; the last two seats fit no batch");
    println!("200 batches of 3 for 50 seats: {written} seats written, {refused} batches refused whole");
    assert_eq!(counter_is_exact(&w, &sub.id).await, 98);
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}

#[tokio::test]
async fn five_hundred_rows_for_a_hundred_free_seats_are_refused_with_nothing_written() {
    let w = world("batchbig").await;
    let (merchant, sub) = subscription(&w, 400).await;
    let first = batch::assign(&w.app, &merchant, &sub.id, batch_of("early", 300)).await.expect("300");
    assert_eq!((first.created, first.seats_available), (300, 100));
    let before = seats_tests::scan(&w.db, &w.res.table).await.len();
    let big = batch::assign(&w.app, &merchant, &sub.id, batch_of("late", 500)).await;
    assert_eq!(big.err(), Some(DomainError::NotEnoughSeats { needed: 500, free: 100 }));
    assert_eq!(seats_tests::scan(&w.db, &w.res.table).await.len(), before, "not one item written");
    assert_eq!(counter_is_exact(&w, &sub.id).await, 300);
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}

/// Expiry in the table: the sweeper reads the links' expiry list, frees the seats of the ones
/// past it (once), a resend takes a free seat again with a link that claims, and an expired
/// seat revoked leaves the counter alone.
#[tokio::test]
async fn expired_invitations_free_their_seats_and_a_resend_restores_one() {
    let w = world("expiry").await;
    let (merchant, sub) = subscription(&w, 3).await;
    let assign = |email: &str| AssignSeat { email: email.into(), ..Default::default() };
    let ann = seats::assign(&w.app, &merchant, &sub.id, assign("ann@corp.example")).await.expect("ann");
    let bob = seats::assign(&w.app, &merchant, &sub.id, assign("bob@corp.example")).await.expect("bob");
    w.clock.advance(chrono::Duration::hours(1));
    seats::assign(&w.app, &merchant, &sub.id, assign("cy@corp.example")).await.expect("cy");
    // Ann's and bob's links run out; cy's (an hour younger) does not yet.
    w.clock.advance(chrono::Duration::seconds(w.app.settings.claim_ttl_s - 1800));
    let swept = sweeper::sweep(&w.app, 60).await.expect("sweep");
    assert_eq!(swept.invitations_expired, 2);
    assert_eq!(sweeper::sweep(&w.app, 60).await.expect("again").invitations_expired, 0, "once");
    assert_eq!(counter_is_exact(&w, &sub.id).await, 1);
    let expired = w.app.store.seat(&sub.id, &ann.id).await.expect("store").expect("seat");
    assert_eq!(expired.status, SeatStatus::Expired);

    // Ann's seat comes back with a new link (the old invitation's token is dead); bob's goes.
    let back = seats::resend(&w.app, &merchant, &sub.id, &ann.id).await.expect("resend");
    assert_eq!(back.status, SeatStatus::Pending);
    seats::revoke(&w.app, &merchant, &sub.id, &bob.id).await.expect("bob revoked");
    assert_eq!(counter_is_exact(&w, &sub.id).await, 2);
    // A second resend of a pending seat is an ordinary resend; assigning ann again is refused.
    let again = seats::assign(&w.app, &merchant, &sub.id, assign("ann@corp.example")).await;
    assert_eq!(again.err(), Some(DomainError::SeatAlreadyAssigned));
    let _ = w.db.delete_table().table_name(&w.res.table).send().await;
}
