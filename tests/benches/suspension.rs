//! `make bench` (second part): a 2,000-seat subscription suspended and restored, against moto.
//!
//! Each step runs as the worker runs it: one SQS message per page of 100 seats (`suspend_all`,
//! `restore`), each timed as one invocation. The benefit jobs the pages send (a revoke per
//! suspended claimed seat, a grant per restored one) are counted, not run: the worker runs them
//! in parallel, and each costs what the flows table shows for "worker: revoke" and "worker:
//! grant". The bound each step must keep: every page well inside
//! the worker's 60 s Lambda timeout (under 30 s here, on moto, which copies the table for each
//! transaction and is far slower than DynamoDB), and every seat of the step done. Printed: the
//! messages, the DynamoDB requests and the time of each step, and its slowest page.

use chrono::Utc;
use domain::events::{ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::model::*;
use domain::services::{benefits, billing_events};
use seats_tests::flows::{self, World};
use std::time::{Duration, Instant};

const SEATS: i64 = 2_000;
/// Each page (one worker invocation) stays within half the worker's Lambda timeout.
const PAGE_BOUND: Duration = Duration::from_secs(30);

fn status_event(sub: &Subscription, status: &str, created: i64) -> PaymentEvent {
    PaymentEvent {
        id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        created,
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: sub.provider_subscription_id.clone(),
            checkout_id: None,
            state: SubscriptionState {
                status: status.into(),
                period: None,
                item: Some(ItemState { id: None, quantity: sub.seats, interval: Some("month".into()) }),
                pending_update: false,
                latest_invoice: None,
                cancellation: None,
            },
        },
    }
}

struct Step {
    name: &'static str,
    pages: usize,
    benefit_jobs: usize,
    dynamodb: u32,
    sqs: u32,
    slowest_page: Duration,
    total: Duration,
}

/// Works the queue as the worker does until it is empty: every job is one invocation.
async fn work(w: &World, name: &'static str, kinds: &[JobKind]) -> Step {
    w.meter.take();
    let started = Instant::now();
    let (mut pages, mut benefit_jobs, mut slowest) = (0, 0, Duration::ZERO);
    loop {
        let jobs: Vec<Job> = w.queue.sent.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            if !kinds.contains(&job.kind) {
                benefit_jobs += 1;
                continue;
            }
            let t = Instant::now();
            benefits::process(&w.app, &job).await.expect("job");
            pages += 1;
            slowest = slowest.max(t.elapsed());
        }
    }
    let usage = w.meter.take();
    Step {
        name,
        pages,
        benefit_jobs,
        dynamodb: usage.count("dynamodb"),
        sqs: usage.count("sqs"),
        slowest_page: slowest,
        total: started.elapsed(),
    }
}

async fn statuses(w: &World, sub: &str) -> std::collections::BTreeMap<&'static str, usize> {
    let mut out = std::collections::BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = w.app.store.seats_page(sub, None, cursor.as_deref(), 500).await.expect("seats");
        for s in &page.seats {
            *out.entry(s.status.as_str()).or_default() += 1;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let moto = local_stack::moto::Moto::start().await.expect("moto");
    let sdk = local_stack::resources::sdk_config(&moto.endpoint).await;
    let w = World::new(&sdk, "suspend").await;
    eprintln!("seeding a {SEATS}-seat subscription, every seat claimed…");
    let sub = flows::subscription(&w, SEATS, false).await;
    w.unmetered(seats_tests::seed_seats(
        &w.db,
        &w.res.table,
        &sub.id,
        &sub.organization_id,
        SEATS as usize,
        true,
    ))
    .await;
    w.queue.sent.lock().map(|mut v| v.clear()).ok();

    // Stripe: unpaid (a lapse), then active again (the customer paid the open invoice).
    let now = Utc::now().timestamp();
    billing_events::handle(&w.app, &status_event(&sub, "unpaid", now)).await.expect("lapse");
    let suspend = work(&w, "suspend (lapse: unpaid)", &[JobKind::SuspendAll]).await;
    let after = statuses(&w, &sub.id).await;
    assert_eq!(after.get("suspended"), Some(&(SEATS as usize)), "{after:?}");
    billing_events::handle(&w.app, &status_event(&sub, "active", now + 1)).await.expect("reactivation");
    let restore = work(&w, "restore in place (reactivated: active)", &[JobKind::Restore]).await;
    let after = statuses(&w, &sub.id).await;
    assert_eq!(after.get("claimed"), Some(&(SEATS as usize)), "{after:?}");
    let counter = w.app.store.subscription(&sub.id).await.expect("store").expect("sub").seats_assigned;
    assert_eq!(counter, SEATS, "the count never moved");

    println!("\n### Suspend and restore: a {SEATS}-seat subscription (moto on 127.0.0.1)\n");
    println!("| step | pages (worker invocations) | benefit jobs sent | DynamoDB requests | SQS requests | slowest page | every page |");
    println!("|---|---|---|---|---|---|---|");
    for s in [&suspend, &restore] {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} s | {:.1} s |",
            s.name,
            s.pages,
            s.benefit_jobs,
            s.dynamodb,
            s.sqs,
            s.slowest_page.as_secs_f64(),
            s.total.as_secs_f64()
        );
        assert!(s.slowest_page < PAGE_BOUND, "{}: a page took {:?}", s.name, s.slowest_page);
    }
    println!(
        "\nBound: every page under {} s (the worker's timeout is 60 s); every seat done: {SEATS} suspended, then {SEATS} claimed again with the counter at {SEATS}.",
        PAGE_BOUND.as_secs()
    );
}
