//! Every flow, run as its handler runs it (the use case behind the function, authentication
//! included) against moto, metered: the bench (`make bench`) prints what they use and cost,
//! and the cost test checks the same counts. Payments are the in-memory gateway (Stripe's
//! requests are not AWS's cost); everything AWS is real (moto).

use crate::meter::{Meter, Usage};
use adapters::dynamo::DynamoStore;
use chrono::{Duration as Days, Utc};
use domain::error::PortError;
use domain::events::{ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::memory::{fixtures, MemoryFiles, MemoryPayments};
use domain::model::*;
use domain::ports::{JobQueue, SystemClock};
use domain::services::changes::{self, IntervalChangeRequest, SeatChangeRequest};
use domain::services::claims::{self, ClaimRequest};
use domain::services::portal::{self, SignInRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{auth, benefits, billing_events, purchase, App, Principal, Settings};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The flows, in the order a subscription lives them.
pub const FLOWS: [&str; 16] = [
    "purchase (checkout)",
    "webhook: checkout completed",
    "sign-in (a customer's email)",
    "sign-in (an unknown email)",
    "worker: sign-in link",
    "assign",
    "worker: invitation",
    "claim",
    "worker: grant",
    "benefits (holder's page)",
    "list a page (25)",
    "resize (+1 seat, charged)",
    "annual switch",
    "revoke",
    "worker: revoke",
    "webhook: renewal",
];

/// Flows the worker runs from SQS (no API Gateway request; the queue's receive and delete).
pub fn from_queue(flow: &str) -> bool {
    flow.starts_with("worker:")
}

/// Sends jobs to SQS and keeps a copy, so the bench can run the worker in-process.
pub struct TeeQueue {
    sqs: adapters::sqs::SqsJobs,
    pub sent: Mutex<Vec<Job>>,
}

#[async_trait::async_trait]
impl JobQueue for TeeQueue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), PortError> {
        self.sqs.enqueue(jobs).await?;
        if let Ok(mut v) = self.sent.lock() {
            v.extend_from_slice(jobs);
        }
        Ok(())
    }
}

impl TeeQueue {
    fn take(&self, kind: JobKind) -> Job {
        let mut v = self.sent.lock().expect("jobs");
        let i = v.iter().rposition(|j| j.kind == kind).expect("a job of that kind");
        v.remove(i)
    }
}

/// One run of one flow: what it used and how long its handler took.
#[derive(Debug, Clone)]
pub struct Sample {
    pub usage: Usage,
    pub handler: Duration,
}

impl Sample {
    /// The time of the SDK calls the handler made (see [`crate::meter`]).
    pub fn sdk(&self) -> Duration {
        self.usage.sdk_time
    }
}

pub struct World {
    pub app: App,
    pub meter: Meter,
    pub db: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub res: local_stack::resources::Resources,
    pub queue: Arc<TeeQueue>,
    pub api_key: String,
    pub merchant: Principal,
}

impl World {
    /// Fresh resources (table, queue, sender) on the emulator, with metered clients.
    pub async fn new(sdk: &aws_config::SdkConfig, name: &str) -> World {
        let meter = Meter::default();
        let res = local_stack::resources::provision(sdk, &local_stack::resources::unique_prefix(name))
            .await
            .expect("resources");
        let db = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(meter.clone()).build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk).interceptor(meter.clone()).build(),
        );
        let ses = aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(sdk).interceptor(meter.clone()).build(),
        );
        let queue = Arc::new(TeeQueue {
            sqs: adapters::sqs::SqsJobs::new(sqs.clone(), &res.queue_url),
            sent: Mutex::new(Vec::new()),
        });
        let app = App {
            store: Arc::new(DynamoStore::new(db.clone(), &res.table)),
            mailer: Arc::new(adapters::ses::SesMailer::new(ses.clone(), &res.mail_from)),
            // Stripe's way with invoices (it keeps them): the costs measured are production's.
            payments: Arc::new(MemoryPayments { keeps_invoices: true.into(), ..Default::default() }),
            files: Arc::new(MemoryFiles),
            jobs: queue.clone(),
            webhooks: Arc::new(adapters::sqs::SqsWebhooks::new(sqs.clone(), &res.webhook_queue_url)),
            clock: Arc::new(SystemClock),
            settings: Settings::with_defaults("https://portal.example", &domain::secrets::hash("admin")),
        };
        let (merchant, api_key) = fixtures::merchant(&app, "acme").await.expect("merchant");
        meter.take();
        World { app, meter, db, sqs, ses, res, queue, api_key, merchant }
    }

    /// Runs `flow` metered and timed.
    pub async fn measure<T>(&self, flow: impl Future<Output = T>) -> (T, Sample) {
        self.meter.take();
        let t = Instant::now();
        let out = flow.await;
        let handler = t.elapsed();
        (out, Sample { usage: self.meter.take(), handler })
    }

    /// Set-up work whose requests are not any flow's.
    pub async fn unmetered<T>(&self, work: impl Future<Output = T>) -> T {
        self.meter.pause(true);
        let out = work.await;
        self.meter.pause(false);
        out
    }

    async fn merchant(&self) -> Principal {
        auth::authenticate(&self.app, Some(&self.api_key)).await.expect("the merchant's key")
    }
}

/// A subscription of `seats` seats (monthly, with a yearly price), all but one taken by seeded
/// claimed seats when `fill`.
pub async fn subscription(w: &World, seats: i64, fill: bool) -> Subscription {
    w.unmetered(async {
        let plan = fixtures::Plan { year: Some(10_000), license_prefix: None, ..Default::default() };
        let product = fixtures::product(&w.app, &w.merchant, &plan).await.expect("product");
        let provider = format!("sub_bench_{}", uuid::Uuid::new_v4().simple());
        let sub =
            fixtures::buy(&w.app, &product, seats, "boss@corp.example", Utc::now().timestamp(), &provider)
                .await
                .expect("bought");
        if fill {
            crate::seed_seats(&w.db, &w.res.table, &sub.id, &sub.organization_id, (seats - 1) as usize, true)
                .await;
        }
        sub
    })
    .await
}

/// Stripe's event for the next period of `sub` (as it is now).
fn renewal(sub: &Subscription) -> PaymentEvent {
    let start = sub.current_period_end;
    let end = start + Days::days(31);
    PaymentEvent {
        id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        created: start.timestamp(),
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: sub.provider_subscription_id.clone(),
            checkout_id: None,
            state: SubscriptionState {
                status: "active".into(),
                period: Some((start.timestamp(), end.timestamp())),
                item: Some(ItemState { id: None, quantity: sub.seats, interval: Some("month".into()) }),
                pending_update: false,
                latest_invoice: None,
                cancellation: None,
            },
        },
    }
}

/// One run of every flow on `sub` (whose last free seat each run assigns, claims and revokes
/// again). Returns a sample per flow, in [`FLOWS`] order.
pub async fn run_all(w: &World, sub: &Subscription) -> Vec<(&'static str, Sample)> {
    let mut out = Vec::new();
    let product = w.unmetered(w.app.store.product(&sub.product_id)).await.expect("store").expect("product");
    let buyer = format!("buyer{}@corp.example", uuid::Uuid::new_v4().simple());
    let new_checkout = || purchase::NewCheckout {
        product_id: product.id.clone(),
        interval: Interval::Month,
        seats: 5,
        customer_email: buyer.clone(),
        success_url: "https://corp.example/ok".into(),
        cancel_url: "https://corp.example/no".into(),
    };

    let (checkout, s) =
        w.measure(purchase::create_checkout(&w.app, &Principal::Public, new_checkout())).await;
    let checkout = checkout.expect("checkout");
    out.push((FLOWS[0], s));

    let completed = PaymentEvent {
        id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        created: Utc::now().timestamp(),
        kind: PaymentEventKind::CheckoutCompleted {
            checkout_id: checkout.id,
            provider_subscription_id: format!("sub_bench_{}", uuid::Uuid::new_v4().simple()),
            provider_customer_id: None,
        },
    };
    let (done, s) = w.measure(billing_events::handle(&w.app, &completed)).await;
    done.expect("checkout completed");
    out.push((FLOWS[1], s));

    // Sign-in costs the same whoever asks; the worker alone learns whether to mail.
    let slug =
        w.unmetered(w.app.store.organization(&sub.organization_id)).await.expect("s").expect("org").slug;
    let stranger = format!("nobody{}@corp.example", uuid::Uuid::new_v4().simple());
    for (i, email) in [buyer.clone(), stranger].into_iter().enumerate() {
        let ask = SignInRequest { organization_slug: slug.clone(), email };
        let (asked, s) = w.measure(portal::sign_in(&w.app, ask)).await;
        asked.expect("sign-in");
        out.push((FLOWS[2 + i], s));
    }
    let _stranger_ask = w.queue.take(JobKind::SignIn);
    let ask = w.queue.take(JobKind::SignIn);
    let (mailed, s) = w.measure(benefits::process(&w.app, &ask)).await;
    mailed.expect("sign-in link mailed");
    out.push((FLOWS[4], s));

    let email = format!("new{}@corp.example", uuid::Uuid::new_v4().simple());
    let (seat, s) = w
        .measure(async {
            let who = w.merchant().await;
            seats::assign(
                &w.app,
                &who,
                &sub.id,
                AssignSeat { email: email.clone(), metadata: None, ..Default::default() },
            )
            .await
        })
        .await;
    let seat = seat.expect("assign");
    out.push((FLOWS[5], s));

    let invite = w.queue.take(JobKind::Invite);
    let token = invite.claim_token.clone().expect("the job carries the link");
    let (sent, s) = w.measure(benefits::process(&w.app, &invite)).await;
    sent.expect("invitation mailed");
    out.push((FLOWS[6], s));

    let (claimed, s) = w.measure(claims::claim(&w.app, ClaimRequest { token })).await;
    let claimed = claimed.expect("claim");
    out.push((FLOWS[7], s));

    let grant = w.queue.take(JobKind::Grant);
    let (granted, s) = w.measure(benefits::process(&w.app, &grant)).await;
    granted.expect("granted");
    out.push((FLOWS[8], s));

    let (page, s) = w
        .measure(async {
            let holder = auth::authenticate(&w.app, Some(&claimed.session.token)).await.expect("session");
            benefits::my_benefits(&w.app, &holder).await
        })
        .await;
    assert!(!page.expect("benefits").is_empty(), "the holder sees the grant");
    out.push((FLOWS[9], s));

    let (list, s) = w
        .measure(async {
            let who = w.merchant().await;
            seats::list(&w.app, &who, &sub.id, None, None, Some("25")).await
        })
        .await;
    list.expect("list");
    out.push((FLOWS[10], s));

    let now_seats = w.unmetered(w.app.store.subscription(&sub.id)).await.expect("s").expect("sub").seats;
    let (resized, s) = w
        .measure(async {
            let who = w.merchant().await;
            let req = SeatChangeRequest { seats: now_seats + 1, proration_date: None };
            changes::apply_seats(&w.app, &who, &sub.id, req).await
        })
        .await;
    resized.expect("resize");
    out.push((FLOWS[11], s));

    // A switch happens once per subscription: a fresh monthly one each run.
    let monthly = subscription(w, 5, false).await;
    let (switched, s) = w
        .measure(async {
            let who = w.merchant().await;
            let req = IntervalChangeRequest { interval: Interval::Year, proration_date: None };
            changes::apply_interval(&w.app, &who, &monthly.id, req).await
        })
        .await;
    switched.expect("switch");
    out.push((FLOWS[12], s));

    let (revoked, s) = w
        .measure(async {
            let who = w.merchant().await;
            seats::revoke(&w.app, &who, &sub.id, &seat.id).await
        })
        .await;
    revoked.expect("revoke");
    out.push((FLOWS[13], s));

    let revoke = w.queue.take(JobKind::Revoke);
    let (done, s) = w.measure(benefits::process(&w.app, &revoke)).await;
    done.expect("revoked");
    out.push((FLOWS[14], s));

    // Renewals move the period a month on: a fresh subscription each run keeps the bench's own
    // in the present (its changes are priced in the current period).
    let renewing = subscription(w, 5, false).await;
    let renewal = renewal(&renewing);
    let (renewed, s) = w.measure(billing_events::handle(&w.app, &renewal)).await;
    renewed.expect("renewal");
    out.push((FLOWS[15], s));
    out
}
