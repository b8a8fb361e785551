//! The soak under faults: 32 concurrent callers make at least 2,000 mixed operations (assign,
//! claim, resend, revoke, resize up, scheduled decrease, and the lapse of one subscription)
//! across 20 subscriptions, through the functions' handlers and the real adapters on moto,
//! while the adapters' fault settings fail 5 % of SQS sends, 5 % of SES sends and 2 % of
//! DynamoDB writes (half losing the request, half losing the answer after it took effect). The
//! worker drains the queue as Lambda's event-source mapping does (partial batch failures,
//! redrive to the dead-letter queue after 3 receives), under the same faults.
//!
//! At the end, once the sweeper has re-sent what the queue lost: every subscription's counter
//! equals the seats holding it, every claimed seat has its grants, no revoked seat (nor any
//! seat of the lapsed subscription) holds one, no job is lost (the outbox is empty, or a job
//! is in the dead-letter records with its reason), and no caller saw a 5xx but 503 with
//! `Retry-After`. The numbers are printed as a table.

use adapters::faults::{FaultInjector, FaultKind, FaultSettings};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use domain::error::PortError;
use domain::events::{PaymentEvent, PaymentEventKind};
use domain::memory::{fixtures, FixedClock, MemoryFiles, MemoryPayments};
use domain::model::*;
use domain::ports::{Mailer, OutgoingEmail, SystemClock};
use domain::services::{billing_events, sweeper, App, Settings};
use lambda_http::{Body, Request};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKERS: usize = 32;
const OPERATIONS: usize = 2_000;
const SUBSCRIPTIONS: usize = 20;
const SEATS: i64 = 6;

/// The mail service as the people see it: every invitation that reached SES, so callers can
/// claim the links people received (and only those).
struct Inbox {
    ses: adapters::ses::SesMailer,
    mails: Mutex<Vec<OutgoingEmail>>,
}

#[async_trait]
impl Mailer for Inbox {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), PortError> {
        self.ses.send(email).await?;
        if let Ok(mut m) = self.mails.lock() {
            m.push(email.clone());
        }
        Ok(())
    }
}

impl Inbox {
    /// A link someone received and has not opened yet (each is opened once).
    fn unopened_link(&self) -> Option<String> {
        let mut m = self.mails.lock().ok()?;
        if m.is_empty() {
            return None;
        }
        let pick = rand::thread_rng().gen_range(0..m.len());
        let mail = m.swap_remove(pick);
        mail.text.split("token=").nth(1)?.split_whitespace().next().map(str::to_string)
    }
}

struct Soak {
    app: App,
    inbox: Arc<Inbox>,
    sqs: aws_sdk_sqs::Client,
    res: local_stack::resources::Resources,
    key: String,
    subs: Vec<Subscription>,
    /// Seat ids seen per subscription (from assigns' answers).
    seats: Vec<Mutex<Vec<String>>>,
    /// status → count, by operation.
    outcomes: Mutex<BTreeMap<(String, u16), usize>>,
    /// Server errors a caller saw that were not 503 with `Retry-After`.
    bad_5xx: Mutex<Vec<String>>,
}

fn request(method: &str, path: &str, key: &str, body: Option<Value>) -> Request {
    let b = lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"));
    b.body(match body {
        Some(v) => Body::Text(v.to_string()),
        None => Body::Empty,
    })
    .expect("request")
}

impl Soak {
    async fn call(&self, op: &str, function: &str, req: Request) -> (u16, Value) {
        let resp = match function {
            "assign" => assign::handler::handle(&self.app, req).await,
            "claim" => claim::handler::handle(&self.app, req).await,
            "revoke" => revoke::handler::handle(&self.app, req).await,
            _ => resize::handler::handle(&self.app, req).await,
        }
        .expect("a response, never an error");
        let status = resp.status().as_u16();
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
        if status >= 500 && !(status == 503 && resp.headers().contains_key("retry-after")) {
            if let Ok(mut bad) = self.bad_5xx.lock() {
                bad.push(format!("{op}: {status} {body}"));
            }
        }
        if let Ok(mut o) = self.outcomes.lock() {
            *o.entry((op.to_string(), status)).or_default() += 1;
        }
        (status, body)
    }

    fn random_seat(&self, i: usize) -> Option<String> {
        self.seats[i].lock().ok()?.choose(&mut rand::thread_rng()).cloned()
    }

    async fn seats_now(&self, i: usize) -> i64 {
        let sub = self.app.store.subscription(&self.subs[i].id).await;
        sub.ok().flatten().map(|s| s.seats).unwrap_or(SEATS)
    }

    /// One random operation on a random subscription; `false` if there was nothing to do it
    /// on (no link mailed yet, no seat seen yet on that subscription).
    async fn operate(&self, n: usize) -> bool {
        let i = rand::thread_rng().gen_range(0..SUBSCRIPTIONS);
        let sub = &self.subs[i].id;
        let roll = rand::thread_rng().gen_range(0..100);
        match roll {
            0..=34 => {
                let email = format!("p{n}-{}@corp.example", rand::thread_rng().gen_range(0..1_000_000));
                let (status, body) = self
                    .call(
                        "assign",
                        "assign",
                        request(
                            "POST",
                            &format!("/v1/subscriptions/{sub}/seats"),
                            &self.key,
                            Some(json!({"email": email})),
                        ),
                    )
                    .await;
                if status == 201 {
                    if let (Some(id), Ok(mut seats)) = (body["id"].as_str(), self.seats[i].lock()) {
                        seats.push(id.to_string());
                    }
                }
            }
            35..=59 => {
                // People open their mail a little after it was sent.
                let mut link = self.inbox.unopened_link();
                for _ in 0..10 {
                    if link.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    link = self.inbox.unopened_link();
                }
                let Some(token) = link else { return false };
                let req = lambda_http::http::Request::builder()
                    .method("POST")
                    .uri("/v1/claims")
                    .header("content-type", "application/json")
                    .body(Body::Text(json!({"token": token}).to_string()))
                    .expect("request");
                self.call("claim", "claim", req).await;
            }
            60..=69 => {
                let Some(seat) = self.random_seat(i) else { return false };
                let path = format!("/v1/subscriptions/{sub}/seats/{seat}/resend");
                self.call("resend", "assign", request("POST", &path, &self.key, None)).await;
            }
            70..=84 => {
                let Some(seat) = self.random_seat(i) else { return false };
                let path = format!("/v1/subscriptions/{sub}/seats/{seat}");
                self.call("revoke", "revoke", request("DELETE", &path, &self.key, None)).await;
            }
            85..=92 => {
                let seats = self.seats_now(i).await + 1;
                let path = format!("/v1/subscriptions/{sub}/seat-changes");
                self.call(
                    "resize up",
                    "resize",
                    request("POST", &path, &self.key, Some(json!({"seats": seats}))),
                )
                .await;
            }
            _ => {
                let seats = (self.seats_now(i).await - 1).max(1);
                let path = format!("/v1/subscriptions/{sub}/seat-changes");
                self.call(
                    "scheduled decrease",
                    "resize",
                    request("POST", &path, &self.key, Some(json!({"seats": seats}))),
                )
                .await;
            }
        }
        true
    }

    /// Stripe's `customer.subscription.deleted` for subscription 0, delivered until it is
    /// answered 2xx (as Stripe retries).
    async fn lapse(&self) {
        let event = PaymentEvent {
            id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
            created: chrono::Utc::now().timestamp(),
            kind: PaymentEventKind::SubscriptionDeleted {
                provider_subscription_id: self.subs[0].provider_subscription_id.clone(),
                checkout_id: None,
            },
        };
        for _ in 0..50 {
            match billing_events::handle(&self.app, &event).await {
                Ok(_) => {
                    self.outcomes.lock().map(|mut o| *o.entry(("lapse".into(), 200)).or_default() += 1).ok();
                    return;
                }
                Err(_) => {
                    self.outcomes.lock().map(|mut o| *o.entry(("lapse".into(), 503)).or_default() += 1).ok();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        panic!("the lapse never applied");
    }

    /// One receive → worker → delete round, as the event-source mapping does it. Returns the
    /// messages received.
    async fn work_once(&self) -> usize {
        let Ok(received) = self
            .sqs
            .receive_message()
            .queue_url(&self.res.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        else {
            return 0;
        };
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return 0;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"})
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({"Records": records})).expect("event");
        let answer = benefit_worker::handler::handle(&self.app, event).await.expect("a batch answer");
        let failed: HashSet<String> =
            answer.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        for m in &messages {
            if m.message_id.as_ref().is_some_and(|id| failed.contains(id)) {
                continue;
            }
            let _ = self
                .sqs
                .delete_message()
                .queue_url(&self.res.queue_url)
                .set_receipt_handle(m.receipt_handle.clone())
                .send()
                .await;
        }
        messages.len()
    }

    async fn queue_is_empty(&self) -> bool {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.res.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .ok()
            .and_then(|a| a.attributes)
            .unwrap_or_default();
        attrs.values().all(|v| v == "0")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_operations_under_faults_keep_every_invariant() {
    let started = Instant::now();
    let moto = local_stack::moto::Moto::start().await.expect("moto");
    let sdk = local_stack::resources::sdk_config(&moto.endpoint).await;
    let res = local_stack::resources::provision(&sdk, &local_stack::resources::unique_prefix("soak"))
        .await
        .expect("resources");
    let faults =
        FaultInjector::new(FaultSettings { dynamodb_writes: 0.02, sqs_sends: 0.05, ses_sends: 0.05 });
    let client = |on: bool| {
        let db = aws_sdk_dynamodb::config::Builder::from(&sdk);
        let sqs = aws_sdk_sqs::config::Builder::from(&sdk);
        let ses = aws_sdk_sesv2::config::Builder::from(&sdk);
        if on {
            (
                db.interceptor(faults.clone()).build(),
                sqs.interceptor(faults.clone()).build(),
                ses.interceptor(faults.clone()).build(),
            )
        } else {
            (db.build(), sqs.build(), ses.build())
        }
    };
    let app_of = |on: bool, inbox: Arc<Inbox>| {
        let (db, sqs, _) = client(on);
        let mut settings = Settings::with_defaults("https://portal.example", &domain::secrets::hash("admin"));
        // One address makes every call here: its anonymous limit is not what this measures.
        settings.anonymous_requests_per_minute = 1_000_000;
        App {
            store: Arc::new(adapters::dynamo::DynamoStore::new(
                aws_sdk_dynamodb::Client::from_conf(db),
                &res.table,
            )),
            mailer: inbox,
            payments: Arc::new(MemoryPayments::default()),
            files: Arc::new(MemoryFiles),
            jobs: Arc::new(adapters::sqs::SqsJobs::new(
                aws_sdk_sqs::Client::from_conf(sqs.clone()),
                &res.queue_url,
            )),
            webhooks: Arc::new(adapters::sqs::SqsWebhooks::new(
                aws_sdk_sqs::Client::from_conf(sqs),
                &res.webhook_queue_url,
            )),
            clock: Arc::new(SystemClock),
            settings,
        }
    };
    let (_, _, ses) = client(true);
    let inbox = Arc::new(Inbox {
        ses: adapters::ses::SesMailer::new(aws_sdk_sesv2::Client::from_conf(ses), &res.mail_from),
        mails: Mutex::new(Vec::new()),
    });
    // Set-up without faults: a merchant, a product, 20 subscriptions.
    let clean = app_of(false, inbox.clone());
    let (_merchant, key) = fixtures::merchant(&clean, "acme").await.expect("merchant");
    let merchant = domain::services::auth::authenticate(&clean, Some(&key)).await.expect("key");
    let plan = fixtures::Plan { with_file: true, year: Some(10_000), ..Default::default() };
    let product = fixtures::product(&clean, &merchant, &plan).await.expect("product");
    let mut subs = Vec::new();
    for i in 0..SUBSCRIPTIONS {
        let at = chrono::Utc::now().timestamp();
        let sub = fixtures::buy(
            &clean,
            &product,
            SEATS,
            &format!("boss{i}@corp.example"),
            at,
            &format!("sub_soak_{i}"),
        )
        .await
        .expect("bought");
        subs.push(sub);
    }
    let soak = Arc::new(Soak {
        app: app_of(true, inbox.clone()),
        inbox,
        sqs: aws_sdk_sqs::Client::from_conf(client(false).1),
        res: res.clone(),
        key,
        subs,
        seats: (0..SUBSCRIPTIONS).map(|_| Mutex::new(Vec::new())).collect(),
        outcomes: Mutex::new(BTreeMap::new()),
        bad_5xx: Mutex::new(Vec::new()),
    });

    // The worker runs beside the callers, a few at once, as Lambda would.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (soak, stop) = (soak.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    soak.work_once().await;
                }
            })
        })
        .collect();
    let done = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (soak, done) = (soak.clone(), done.clone());
            tokio::spawn(async move {
                loop {
                    let n = done.fetch_add(1, Ordering::SeqCst);
                    if n >= OPERATIONS {
                        return;
                    }
                    if n == OPERATIONS / 2 {
                        soak.lapse().await;
                    }
                    while !soak.operate(n).await {}
                }
            })
        })
        .collect();
    for c in callers {
        c.await.expect("caller");
    }
    let operated = started.elapsed();

    // Drain, then sweep what the queue lost (an hour on, so every outbox entry is stale and
    // every change left in flight is settled), until nothing is left; faults still on.
    let sweeper_app = App {
        clock: Arc::new(FixedClock::at(chrono::Utc::now() + chrono::Duration::hours(1))),
        ..soak.app.clone()
    };
    let mut sweeps = 0;
    let mut resent = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    for _ in 0..40 {
        let mut idle = 0;
        while idle < 2 {
            assert!(Instant::now() < deadline, "the queue did not drain in 5 minutes");
            if soak.work_once().await == 0 && soak.queue_is_empty().await {
                idle += 1;
            }
        }
        let Ok(sweep) = sweeper::sweep(&sweeper_app, 0).await else { continue };
        sweeps += 1;
        resent += sweep.resent;
        if sweep.resent == 0 && sweep.changes_settled == 0 && soak.queue_is_empty().await {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.expect("worker");
    }

    // The invariants, read without faults.
    let store = &clean.store;
    let mut checks = 0usize;
    let mut violations: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        checks += 1;
        if !ok {
            violations.push(what);
        }
    };
    let benefits = product.benefit_ids.len();
    let mut seats_seen = 0;
    for (i, sub) in soak.subs.iter().enumerate() {
        let now = store.subscription(&sub.id).await.expect("store").expect("sub");
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.seats_page(&sub.id, None, cursor.as_deref(), 500).await.expect("seats");
            all.extend(page.seats);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        seats_seen += all.len();
        let holding = all.iter().filter(|s| s.status.holds_a_seat()).count() as i64;
        let lapsed = i == 0;
        if lapsed {
            // Suspended, not revoked: every seat kept (and counted), none live.
            check(
                now.status == SubscriptionStatus::Canceled,
                format!("{}: not canceled after the lapse", sub.id),
            );
            let live =
                all.iter().filter(|s| matches!(s.status, SeatStatus::Pending | SeatStatus::Claimed)).count();
            check(live == 0, format!("{}: {live} seats live after the lapse", sub.id));
            check(
                now.seats_assigned == holding,
                format!("{}: counter {} but {holding} seats suspended", sub.id, now.seats_assigned),
            );
        } else {
            check(
                now.seats_assigned == holding,
                format!("{}: counter {} but {holding} seats hold it", sub.id, now.seats_assigned),
            );
            check(holding <= now.seats, format!("{}: {holding} seats held of {}", sub.id, now.seats));
        }
        for seat in &all {
            let grants: Vec<Grant> = match &seat.customer_id {
                Some(c) => store.grants_of_customer(c).await.expect("grants"),
                None => Vec::new(),
            };
            let live =
                grants.iter().filter(|g| g.seat_id == seat.id && g.status != GrantStatus::Revoked).count();
            match seat.status {
                SeatStatus::Claimed => check(
                    live == benefits,
                    format!("{}: claimed seat {} has {live} of {benefits} grants", sub.id, seat.id),
                ),
                _ => check(
                    live == 0,
                    format!("{}: {:?} seat {} holds {live} grants", sub.id, seat.status, seat.id),
                ),
            }
        }
    }
    let outbox = store.stale_jobs(i64::MAX, 1000).await.expect("outbox");
    check(outbox.is_empty(), format!("{} jobs still in the outbox: {:?}", outbox.len(), outbox.first()));
    let dead = store.dead_jobs(1000).await.expect("dead jobs");
    for d in &dead {
        check(!d.reason.is_empty(), format!("dead job without a reason: {d:?}"));
    }
    let bad = soak.bad_5xx.lock().map(|b| b.clone()).unwrap_or_default();
    check(bad.is_empty(), format!("server errors other than 503 + Retry-After: {bad:?}"));

    // The table.
    let outcomes = soak.outcomes.lock().map(|o| o.clone()).unwrap_or_default();
    let ops: usize = outcomes.values().sum();
    println!("\nsoak under faults: {ops} operations by {WORKERS} callers on {SUBSCRIPTIONS} subscriptions in {:.0} s, then {sweeps} sweeps ({resent} jobs re-sent) in {:.0} s",
        operated.as_secs_f64(), (started.elapsed() - operated).as_secs_f64());
    println!("| operation | answers (status × count) |");
    println!("|---|---|");
    let mut by_op: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((op, status), n) in &outcomes {
        by_op.entry(op).or_default().push(format!("{status}×{n}"));
    }
    for (op, answers) in &by_op {
        println!("| {op} | {} |", answers.join(", "));
    }
    let c = &faults.counts;
    println!(
        "| faults injected | DynamoDB writes {}, SQS sends {}, SES sends {} (of {} such requests) |",
        c.get(FaultKind::DynamodbWrite),
        c.get(FaultKind::SqsSend),
        c.get(FaultKind::SesSend),
        c.requests.load(Ordering::Relaxed)
    );
    println!("| seats checked | {seats_seen} |");
    println!("| dead-letter records | {} |", dead.len());
    println!("| invariant checks | {checks} |");
    println!("| violations | {} |", violations.len());
    assert!(ops >= OPERATIONS, "only {ops} operations");
    assert!(
        c.get(FaultKind::DynamodbWrite) > 0 && c.get(FaultKind::SqsSend) > 0 && c.get(FaultKind::SesSend) > 0,
        "faults were injected"
    );
    assert!(violations.is_empty(), "violations:\n{}", violations.join("\n"));
}
