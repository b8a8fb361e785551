//! `make bench`: what each seat flow costs, against moto on this machine.
//!
//! - DynamoDB requests per flow (counted by an SDK interceptor on every attempt), beside the
//!   design's minimum, on a 10-seat and a 10,000-seat subscription (seeded with
//!   BatchWriteItem): they must be equal.
//! - Each flow's median latency as a ratio to the bare SDK calls it makes (the same requests
//!   issued directly, on the same table): the ratio is the handler's overhead. moto's own
//!   latency grows with the table, so only the ratio at the same size means anything.
//! - The 200-way contention run: 200 concurrent assigns on 10 seats.

use adapters::dynamo::{marker, DynamoStore};
use adapters::keys;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use domain::error::PortError;
use domain::memory::{fixtures, MemoryFiles, MemoryPayments};
use domain::model::*;
use domain::ports::{Mailer, OutgoingEmail, SystemClock};
use domain::services::catalogue::*;
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{auth, App, Principal, Settings};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RUNS: usize = 15;

/// Counts DynamoDB requests by operation (`X-Amz-Target`), retries included.
#[derive(Debug, Clone, Default)]
struct Counter(Arc<Mutex<BTreeMap<String, u32>>>);

impl Counter {
    fn take(&self) -> BTreeMap<String, u32> {
        self.0.lock().map(|mut m| std::mem::take(&mut *m)).unwrap_or_default()
    }
}

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "request-counter"
    }
    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let op = ctx
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or("?")
            .to_string();
        if let Ok(mut m) = self.0.lock() {
            *m.entry(op).or_default() += 1;
        }
        Ok(())
    }
}

/// Sends through SES and keeps a copy, so the bench can read claim links.
struct TeeMailer {
    ses: adapters::ses::SesMailer,
    sent: Mutex<Vec<OutgoingEmail>>,
}

#[async_trait::async_trait]
impl Mailer for TeeMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), PortError> {
        self.ses.send(email).await?;
        if let Ok(mut v) = self.sent.lock() {
            v.push(email.clone());
        }
        Ok(())
    }
}

struct World {
    app: App,
    store: DynamoStore,
    mailer: Arc<TeeMailer>,
    ses: aws_sdk_sesv2::Client,
    sqs: aws_sdk_sqs::Client,
    res: local_stack::resources::Resources,
    merchant: Principal,
    api_key: String,
}

async fn world(sdk: &aws_config::SdkConfig, db: &aws_sdk_dynamodb::Client, name: &str) -> World {
    let res = local_stack::resources::provision(sdk, &local_stack::resources::unique_prefix(name))
        .await
        .expect("resources");
    let store = DynamoStore::new(db.clone(), &res.table);
    let ses = aws_sdk_sesv2::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mailer = Arc::new(TeeMailer {
        ses: adapters::ses::SesMailer::new(ses.clone(), &res.mail_from),
        sent: Mutex::new(Vec::new()),
    });
    let app = App {
        store: Arc::new(store.clone()),
        mailer: mailer.clone(),
        payments: Arc::new(MemoryPayments::default()),
        files: Arc::new(MemoryFiles),
        jobs: Arc::new(adapters::sqs::SqsJobs::new(sqs.clone(), &res.queue_url)),
        clock: Arc::new(SystemClock),
        settings: Settings::with_defaults("https://portal.example", &domain::secrets::hash("admin")),
    };
    let org = create_organization(
        &app,
        &Principal::Operator,
        NewOrganization { name: "Acme".into(), slug: "acme".into() },
    )
    .await
    .expect("org");
    let merchant = auth::authenticate(&app, Some(&org.api_key)).await.expect("key");
    World { app, store, mailer, ses, sqs, res, merchant, api_key: org.api_key }
}

async fn subscription(w: &World, seats: i64) -> Subscription {
    let product = fixtures::product(
        &w.app,
        &w.merchant,
        &fixtures::Plan { license_prefix: None, ..Default::default() },
    )
    .await
    .expect("product");
    let provider = format!("sub_bench_{}", uuid::Uuid::new_v4().simple());
    fixtures::buy(
        &w.app,
        &product,
        seats,
        &format!("boss{seats}@corp.example"),
        Utc::now().timestamp(),
        &provider,
    )
    .await
    .expect("bought")
}

async fn seed(w: &World, db: &aws_sdk_dynamodb::Client, sub: &Subscription, count: usize) {
    seats_tests::seed_seats(db, &w.res.table, &sub.id, &sub.organization_id, count, true).await;
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt_counts(m: &BTreeMap<String, u32>) -> String {
    m.iter().map(|(k, v)| format!("{v}×{k}")).collect::<Vec<_>>().join(" + ")
}

#[derive(Default)]
struct FlowResult {
    counts: BTreeMap<String, u32>,
    total: u32,
    handler: Vec<Duration>,
    bare: Vec<Duration>,
}

/// The bare SDK calls of each flow: the same operations on the same table, without the handler.
async fn bare_get(w: &World, key: &keys::Key) {
    w.store
        .client()
        .get_item()
        .table_name(&w.res.table)
        .key("PK", AttributeValue::S(key.pk.clone()))
        .key("SK", AttributeValue::S(key.sk.clone()))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
}

async fn bare_transaction(w: &World, sub: &Subscription, puts: usize, with_counter: bool) {
    let mut items = Vec::new();
    if with_counter {
        items.push(
            w.store
                .update(
                    &keys::subscription(&sub.id),
                    "SET bench_touch = :one",
                    None,
                    &[],
                    vec![(":one", AttributeValue::N("1".into()))],
                )
                .expect("update"),
        );
    }
    for _ in 0..puts {
        let id = uuid::Uuid::new_v4().simple().to_string();
        items.push(
            w.store
                .put_new(marker("bench", &keys::Key { pk: format!("BENCH#{id}"), sk: "X".into() }, &[]))
                .expect("put"),
        );
    }
    w.store
        .client()
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
        .expect("transaction");
}

async fn bare_put(w: &World) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let item = marker("bench", &keys::Key { pk: format!("BENCH#{id}"), sk: "X".into() }, &[]);
    w.store.client().put_item().table_name(&w.res.table).set_item(Some(item)).send().await.expect("put");
}

async fn bare_email(w: &World) {
    let mailer = adapters::ses::SesMailer::new(w.ses.clone(), &w.res.mail_from);
    mailer
        .send(&OutgoingEmail { to: "x@corp.example".into(), subject: "bench".into(), text: "bench".into() })
        .await
        .expect("ses");
}

async fn bare_sqs(w: &World) {
    w.sqs.send_message().queue_url(&w.res.queue_url).message_body("{}").send().await.expect("sqs");
}

async fn bench_size(
    w: &World,
    counter: &Counter,
    db: &aws_sdk_dynamodb::Client,
    size: i64,
) -> BTreeMap<&'static str, FlowResult> {
    let sub = subscription(w, size).await;
    // Every seat but one is taken: each run assigns, claims and revokes that one.
    seed(w, db, &sub, (size as usize) - 1).await;
    let mut out: BTreeMap<&'static str, FlowResult> = BTreeMap::new();
    let mut seat_ids = Vec::new();
    let api_key_hash = domain::secrets::hash(&w.api_key);
    counter.take();
    for i in 0..RUNS {
        // assign, as the merchant (auth resolves the API key, as a request would).
        let t = Instant::now();
        let who = auth::authenticate(&w.app, Some(&w.api_key)).await.expect("auth");
        let seat = seats::assign(
            &w.app,
            &who,
            &sub.id,
            AssignSeat { email: format!("new{i}@corp.example"), metadata: None },
        )
        .await
        .expect("assign");
        let took = t.elapsed();
        let r = out.entry("assign").or_default();
        r.handler.push(took);
        r.counts = counter.take();
        seat_ids.push(seat.id);
        let t = Instant::now();
        bare_get(w, &keys::api_key(&api_key_hash)).await;
        bare_get(w, &keys::subscription(&sub.id)).await;
        bare_transaction(w, &sub, 4, true).await;
        bare_email(w).await;
        bare_put(w).await;
        r.bare.push(t.elapsed());
        counter.take();

        // claim the seat just assigned.
        let mail = w.mailer.sent.lock().ok().and_then(|v| v.last().cloned()).expect("invitation");
        let token = local_stack::moto::link_param(&mail.text, "token").expect("token");
        let t = Instant::now();
        claims::claim(&w.app, ClaimRequest { token }).await.expect("claim");
        let took = t.elapsed();
        let r = out.entry("claim").or_default();
        r.handler.push(took);
        r.counts = counter.take();
        let t = Instant::now();
        for k in [
            keys::claim_token("x"),
            keys::seat(&sub.id, &seat_ids[i]),
            keys::subscription(&sub.id),
            keys::customer_email(&sub.organization_id, "x"),
        ] {
            bare_get(w, &k).await;
        }
        bare_transaction(w, &sub, 6, false).await;
        bare_sqs(w).await;
        bare_put(w).await;
        r.bare.push(t.elapsed());
        counter.take();

        // one page of the seat list.
        let t = Instant::now();
        let who = auth::authenticate(&w.app, Some(&w.api_key)).await.expect("auth");
        seats::list(&w.app, &who, &sub.id, None, None, Some("25")).await.expect("list");
        let took = t.elapsed();
        let r = out.entry("list a page (25)").or_default();
        r.handler.push(took);
        r.counts = counter.take();
        let t = Instant::now();
        bare_get(w, &keys::api_key(&api_key_hash)).await;
        bare_get(w, &keys::subscription(&sub.id)).await;
        w.store
            .client()
            .query()
            .table_name(&w.res.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::subscription(&sub.id).pk))
            .expression_attribute_values(":p", AttributeValue::S(keys::SEAT_PREFIX.into()))
            .limit(25)
            .consistent_read(true)
            .send()
            .await
            .expect("query");
        r.bare.push(t.elapsed());
        counter.take();

        // revoke it again (the claimed seat: its revoke job goes out too).
        let seat_id = &seat_ids[i];
        let t = Instant::now();
        let who = auth::authenticate(&w.app, Some(&w.api_key)).await.expect("auth");
        seats::revoke(&w.app, &who, &sub.id, seat_id).await.expect("revoke");
        let took = t.elapsed();
        let r = out.entry("revoke").or_default();
        r.handler.push(took);
        r.counts = counter.take();
        let t = Instant::now();
        bare_get(w, &keys::api_key(&api_key_hash)).await;
        bare_get(w, &keys::subscription(&sub.id)).await;
        bare_get(w, &keys::seat(&sub.id, seat_id)).await;
        bare_transaction(w, &sub, 5, true).await;
        bare_sqs(w).await;
        r.bare.push(t.elapsed());
        counter.take();
    }
    for r in out.values_mut() {
        r.total = r.counts.values().sum();
    }
    out
}

/// The least each flow can do: the reads authorization needs and one transaction.
fn minimum(flow: &str) -> &'static str {
    match flow {
        "assign" => "3 (key + subscription reads, 1 transaction) + 1 audit put after the invitation is sent",
        "claim" => "3 (token read, 1 transaction, session put)",
        "revoke" => "4 (key + subscription + seat reads, 1 transaction)",
        _ => "3 (key + subscription reads, 1 query)",
    }
}

#[tokio::main]
async fn main() {
    let moto = local_stack::moto::Moto::start().await.expect("moto");
    let sdk = local_stack::resources::sdk_config(&moto.endpoint).await;
    let counter = Counter::default();
    let db = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build(),
    );

    let mut results = Vec::new();
    for size in [10i64, 10_000] {
        let w = world(&sdk, &db, &format!("bench{size}")).await;
        eprintln!("measuring a {size}-seat subscription…");
        results.push((size, bench_size(&w, &counter, &db, size).await));
    }

    println!("\n### DynamoDB requests per flow (10-seat vs 10,000-seat subscription)\n");
    println!("| flow | design minimum | requests, 10 seats | requests, 10,000 seats | which |");
    println!("|---|---|---|---|---|");
    for flow in ["assign", "claim", "revoke", "list a page (25)"] {
        let small = &results[0].1[flow];
        let big = &results[1].1[flow];
        assert_eq!(small.counts, big.counts, "{flow}: request counts differ with the subscription's size");
        println!(
            "| {flow} | {} | {} | {} | {} |",
            minimum(flow),
            small.total,
            big.total,
            fmt_counts(&small.counts)
        );
    }
    println!("\n### Latency: handler vs the bare SDK calls it makes (median of {RUNS}, moto on 127.0.0.1)\n");
    println!("| flow | seats | handler | bare SDK calls | ratio |");
    println!("|---|---|---|---|---|");
    for (size, flows) in &results {
        for (flow, r) in flows {
            let (h, b) = (median(r.handler.clone()), median(r.bare.clone()));
            println!(
                "| {flow} | {size} | {:.1} ms | {:.1} ms | {:.2} |",
                h.as_secs_f64() * 1e3,
                b.as_secs_f64() * 1e3,
                h.as_secs_f64() / b.as_secs_f64()
            );
        }
    }

    let w = world(&sdk, &db, "contention").await;
    let sub = subscription(&w, 10).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let app = w.app.clone();
        let who = w.merchant.clone();
        let sub_id = sub.id.clone();
        tasks.push(tokio::spawn(async move {
            seats::assign(
                &app,
                &who,
                &sub_id,
                AssignSeat { email: format!("c{i}@corp.example"), metadata: None },
            )
            .await
        }));
    }
    let mut outcome: BTreeMap<String, u32> = BTreeMap::new();
    for t in tasks {
        let key = match t.await.expect("join") {
            Ok(_) => "201 created".to_string(),
            Err(e) => format!("{e:?}"),
        };
        *outcome.entry(key).or_default() += 1;
    }
    let wall = started.elapsed();
    let counter_now = w.app.store.subscription(&sub.id).await.expect("get").expect("sub").seats_assigned;
    println!("\n### Contention: 200 concurrent assigns on 10 seats\n");
    println!("| wall time | outcome | counter after |");
    println!("|---|---|---|");
    println!(
        "| {:.2} s | {} | {counter_now} |",
        wall.as_secs_f64(),
        outcome.iter().map(|(k, v)| format!("{v} × {k}")).collect::<Vec<_>>().join(", ")
    );
    assert_eq!(counter_now, 10);
}
