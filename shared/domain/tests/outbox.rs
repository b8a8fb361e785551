//! The outbox cannot stall: re-sends wait for the queue's window, given-up jobs leave for the
//! dead-letter records (so they never fill a sweep), and a lapse's fan-out keeps its progress in
//! the table, so a page the queue lost is sent again.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::events::{PaymentEvent, PaymentEventKind};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{benefits, billing_events, sweeper, Principal};
use std::sync::atomic::Ordering;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).single().expect("date")
}

async fn setup(seats: i64) -> (Fakes, Principal, Subscription) {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { max_seats: Some(1000), ..Default::default() };
    let product = fixtures::product(&f.app, &merchant, &plan).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, seats, "boss@corp.example", t0().timestamp(), "sub_o")
        .await
        .expect("bought");
    (f, merchant, sub)
}

async fn drain(f: &Fakes) {
    f.run_jobs().await.expect("jobs");
}

/// Assigns and claims `n` seats (their grants made).
async fn claimed_seats(f: &Fakes, merchant: &Principal, sub: &Subscription, n: usize) {
    for i in 0..n {
        let who = AssignSeat { email: format!("p{i}@corp.example"), metadata: None, ..Default::default() };
        seats::assign(&f.app, merchant, &sub.id, who).await.expect("assign");
    }
    let invites: Vec<Job> = f.queue.take();
    for job in &invites {
        benefits::process(&f.app, job).await.expect("mailed");
        if let Some(token) = job.claim_token.clone() {
            claims::claim(&f.app, ClaimRequest { token }).await.expect("claim");
        }
    }
    drain(f).await;
}

#[tokio::test]
async fn a_job_is_sent_again_only_after_the_queues_window() {
    let (f, merchant, sub) = setup(2).await;
    f.queue.failing.store(true, Ordering::SeqCst);
    let who = AssignSeat { email: "ann@corp.example".into(), metadata: None, ..Default::default() };
    seats::assign(&f.app, &merchant, &sub.id, who).await.expect("assign");
    f.queue.failing.store(false, Ordering::SeqCst);
    f.clock.advance(Duration::seconds(61));
    assert_eq!(sweeper::sweep(&f.app, 420).await.expect("sweep").resent, 0, "SQS may still hold it");
    f.clock.advance(Duration::seconds(360));
    assert_eq!(sweeper::sweep(&f.app, 420).await.expect("sweep").resent, 1);
    assert_eq!(sweeper::sweep(&f.app, 420).await.expect("sweep").resent, 0, "touched: not again at once");
}

#[tokio::test]
async fn given_up_jobs_leave_for_the_dead_letter_records_and_never_block_a_fresh_one() {
    let (f, merchant, sub) = setup(700).await;
    // 600 invitations whose worker never runs: re-sent ten times each, then given up.
    f.queue.failing.store(true, Ordering::SeqCst);
    for i in 0..600 {
        let who =
            AssignSeat { email: format!("stuck{i}@corp.example"), metadata: None, ..Default::default() };
        seats::assign(&f.app, &merchant, &sub.id, who).await.expect("assign");
    }
    f.queue.failing.store(false, Ordering::SeqCst);
    let mut given_up = 0;
    for _ in 0..3 * sweeper::MAX_ATTEMPTS {
        f.clock.advance(Duration::seconds(61));
        let s = sweeper::sweep(&f.app, 60).await.expect("sweep");
        assert!(s.resent <= 500);
        given_up += s.given_up;
        f.queue.take();
    }
    assert_eq!(given_up, 600, "each given up once, after its re-sends");
    // And one fresh job whose send failed.
    f.queue.failing.store(true, Ordering::SeqCst);
    let who = AssignSeat { email: "fresh@corp.example".into(), metadata: None, ..Default::default() };
    let fresh = seats::assign(&f.app, &merchant, &sub.id, who).await.expect("assign");
    f.queue.failing.store(false, Ordering::SeqCst);
    f.clock.advance(Duration::seconds(61));
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("sweep").resent, 1);
    let sent = f.queue.take();
    assert!(sent.iter().any(|j| j.seat_id == fresh.id), "the fresh job went out");
    let dead = sweeper::dead_jobs(&f.app, &Principal::Operator, 1000).await.expect("dead");
    assert_eq!(dead.len(), 600);
    assert!(dead.iter().all(|d| d.attempts >= sweeper::MAX_ATTEMPTS && !d.reason.is_empty()));
    assert_eq!(f.store.stale_jobs(i64::MAX, 1000).await.expect("outbox").len(), 1, "only the fresh one");
    assert!(sweeper::dead_jobs(&f.app, &merchant, 10).await.is_err(), "operators only");
}

#[tokio::test]
async fn a_lapse_whose_next_suspend_page_the_queue_lost_is_finished_by_the_sweeper() {
    let (f, merchant, sub) = setup(250).await;
    claimed_seats(&f, &merchant, &sub, 250).await;
    let deleted = PaymentEvent {
        id: "evt_gone".into(),
        created: t0().timestamp() + 60,
        kind: PaymentEventKind::SubscriptionDeleted {
            provider_subscription_id: "sub_o".into(),
            checkout_id: None,
        },
    };
    billing_events::handle(&f.app, &deleted).await.expect("lapse");
    // The first page runs; the message of the next is lost (or dead-lettered by the queue).
    let first: Vec<Job> = f.queue.take().into_iter().filter(|j| j.kind == JobKind::SuspendAll).collect();
    assert_eq!(first.len(), 1);
    benefits::process(&f.app, &first[0]).await.expect("page 1");
    let lost: Vec<Job> = f.queue.take();
    let next = lost.iter().find(|j| j.kind == JobKind::SuspendAll).expect("the next page was sent");
    assert!(next.cursor.is_some());
    for job in lost.iter().filter(|j| j.kind != JobKind::SuspendAll) {
        benefits::process(&f.app, job).await.expect("benefit revoke");
    }
    // The outbox remembers where the fan-out was: the sweeper sends that page again.
    f.clock.advance(Duration::seconds(61));
    assert!(sweeper::sweep(&f.app, 60).await.expect("sweep").resent >= 1);
    let resent = f.queue.take();
    assert!(resent.iter().any(|j| j.kind == JobKind::SuspendAll && j.cursor == next.cursor));
    for job in resent {
        benefits::process(&f.app, &job).await.expect("job");
    }
    drain(&f).await;
    let now = f.store.subscription(&sub.id).await.expect("s").expect("sub");
    assert_eq!(now.seats_assigned, 250, "every seat suspended, still counted");
    let list = seats::list(&f.app, &merchant, &sub.id, None, None, Some("100")).await.expect("list");
    assert!(list.seats.iter().all(|s| s.status == SeatStatus::Suspended));
    assert!(f.store.stale_jobs(i64::MAX, 1000).await.expect("outbox").is_empty(), "nothing left over");
}

#[tokio::test]
async fn a_subscription_sends_at_most_a_thousand_invitations_an_hour() {
    let (f, merchant, sub) = setup(1000).await;
    for i in 0..1000 {
        let who = AssignSeat { email: format!("m{i}@corp.example"), metadata: None, ..Default::default() };
        seats::assign(&f.app, &merchant, &sub.id, who).await.expect("within the limit");
    }
    let first = seats::list(&f.app, &merchant, &sub.id, None, None, Some("1")).await.expect("list");
    seats::revoke(&f.app, &merchant, &sub.id, &first.seats[0].id).await.expect("a seat freed");
    let who = AssignSeat { email: "one-more@corp.example".into(), metadata: None, ..Default::default() };
    match seats::assign(&f.app, &merchant, &sub.id, who).await {
        Err(domain::error::DomainError::RateLimited { retry_after_s }) => {
            assert!((1..=3600).contains(&retry_after_s))
        }
        other => panic!("the 1,001st invitation within the hour is limited: {other:?}"),
    }
    let now = f.store.subscription(&sub.id).await.expect("s").expect("sub");
    assert_eq!(now.seats_assigned, 999, "the refused assign changed nothing");
    f.clock.advance(Duration::hours(1));
    let who = AssignSeat { email: "one-more@corp.example".into(), metadata: None, ..Default::default() };
    seats::assign(&f.app, &merchant, &sub.id, who).await.expect("the next hour");
}
