//! Seats at team scale, in memory with a moving clock: invitations that expire free their seat
//! and come back when re-sent; batches are checked row by row, refused whole when they do not
//! fit, and written under one reservation whose unused seats are given back.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::{SeatReservation, Store, TeamSeatStore};
use domain::services::batch::{self, AssignBatch};
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{sweeper, Principal};
use serde_json::{json, Value};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).single().expect("date")
}

async fn bought(seats: i64) -> (Fakes, Principal, Subscription) {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, seats, "boss@corp.example", t0().timestamp(), "sub_team")
        .await
        .expect("bought");
    f.run_jobs().await.expect("jobs");
    f.queue.take();
    (f, merchant, sub)
}

async fn sub_now(f: &Fakes, id: &str) -> Subscription {
    f.store.subscription(id).await.expect("store").expect("sub")
}

fn invite(email: &str) -> AssignSeat {
    AssignSeat { email: email.into(), ..Default::default() }
}

fn rows(emails: &[String]) -> AssignBatch {
    AssignBatch {
        seats: emails.iter().map(|e| json!({"email": e})).collect(),
        notify: None,
        ..Default::default()
    }
}

fn emails(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}@corp.example")).collect()
}

#[tokio::test]
async fn an_expired_invitation_frees_its_seat_and_a_resend_takes_one_again() {
    let (f, merchant, sub) = bought(2).await;
    let ann = seats::assign(&f.app, &merchant, &sub.id, invite("ann@corp.example")).await.expect("ann");
    let token = f.queue.take().into_iter().find_map(|j| j.claim_token).expect("ann's link");
    seats::assign(&f.app, &merchant, &sub.id, invite("bob@corp.example")).await.expect("bob");
    let full = seats::assign(&f.app, &merchant, &sub.id, invite("cy@corp.example")).await;
    assert_eq!(full.err(), Some(DomainError::NoSeatsAvailable));

    // Nothing expires a second early.
    f.clock.advance(Duration::seconds(f.app.settings.claim_ttl_s - 1));
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("sweep").invitations_expired, 0);
    f.clock.advance(Duration::seconds(1));
    let swept = sweeper::sweep(&f.app, 60).await.expect("sweep");
    assert_eq!(swept.invitations_expired, 2);
    assert_eq!(sub_now(&f, &sub.id).await.seats_assigned, 0, "both seats are free");
    let expired = f.store.seat(&sub.id, &ann.id).await.expect("store").expect("seat");
    assert_eq!((expired.status, expired.claim_token_hash.as_ref()), (SeatStatus::Expired, None));
    let kinds: Vec<String> =
        f.store.audit_events(&sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "seat.expired").count(), 2, "each expiry audited once");
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("again").invitations_expired, 0, "once");

    // Its link is dead: the claim page and the claim answer 404.
    let dead = claims::claim(&f.app, ClaimRequest { token: token.clone() }).await;
    assert_eq!(dead.err(), Some(DomainError::NotFound("claim")));

    // The freed seats are taken by someone else; ann's resend then finds none.
    seats::assign(&f.app, &merchant, &sub.id, invite("cy@corp.example")).await.expect("cy");
    seats::assign(&f.app, &merchant, &sub.id, invite("di@corp.example")).await.expect("di");
    let none = seats::resend(&f.app, &merchant, &sub.id, &ann.id).await;
    assert_eq!(none.err(), Some(DomainError::NoSeatsAvailable));
    let still = f.store.seat(&sub.id, &ann.id).await.expect("store").expect("seat");
    assert_eq!(still.status, SeatStatus::Expired, "a refused resend changes nothing");

    // An expired seat holds no seat: it cannot be transferred, and revoking it frees nothing.
    let moved = seats::transfer(
        &f.app,
        &merchant,
        &sub.id,
        &ann.id,
        seats::TransferSeat { email: "eve@corp.example".into(), metadata: None },
    )
    .await;
    assert!(matches!(moved, Err(DomainError::InvalidState(_))), "{moved:?}");

    // With a seat free again, the resend restores ann's seat with a new link that works.
    let cy_id = seats::list(&f.app, &merchant, &sub.id, Some("pending"), None, None)
        .await
        .expect("list")
        .seats
        .into_iter()
        .find(|s| s.email == "cy@corp.example")
        .expect("cy")
        .id;
    seats::revoke(&f.app, &merchant, &sub.id, &cy_id).await.expect("cy revoked");
    f.queue.take();
    let back = seats::resend(&f.app, &merchant, &sub.id, &ann.id).await.expect("resend");
    assert_eq!(back.status, SeatStatus::Pending);
    assert_eq!(sub_now(&f, &sub.id).await.seats_assigned, 2);
    let fresh = f.queue.take().into_iter().find_map(|j| j.claim_token).expect("a new link");
    let claimed = claims::claim(&f.app, ClaimRequest { token: fresh }).await.expect("claimed");
    assert_eq!(claimed.seat.status, SeatStatus::Claimed);

    // Bob's expired seat is listed as expired, and revoking it leaves the counter alone.
    let listed = seats::list(&f.app, &merchant, &sub.id, Some("expired"), None, None).await.expect("list");
    assert_eq!(listed.seats.iter().map(|s| s.email.as_str()).collect::<Vec<_>>(), ["bob@corp.example"]);
    assert!(listed.seats[0].invitation_expires_at.is_some(), "when it ran out");
    seats::revoke(&f.app, &merchant, &sub.id, &listed.seats[0].id).await.expect("bob revoked");
    assert_eq!(sub_now(&f, &sub.id).await.seats_assigned, 2);
}

#[tokio::test]
async fn a_claim_before_the_sweep_wins_and_the_sweep_leaves_it() {
    let (f, merchant, sub) = bought(1).await;
    let ann = seats::assign(&f.app, &merchant, &sub.id, invite("ann@corp.example")).await.expect("ann");
    let token = f.queue.take().into_iter().find_map(|j| j.claim_token).expect("link");
    f.clock.advance(Duration::hours(1));
    claims::claim(&f.app, ClaimRequest { token }).await.expect("claimed in time");
    f.clock.advance(Duration::days(30));
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("sweep").invitations_expired, 0);
    let seat = f.store.seat(&sub.id, &ann.id).await.expect("store").expect("seat");
    assert_eq!(seat.status, SeatStatus::Claimed);
    assert_eq!(sub_now(&f, &sub.id).await.seats_assigned, 1);
}

#[tokio::test]
async fn a_batch_that_does_not_fit_is_refused_whole_and_writes_nothing() {
    let (f, merchant, sub) = bought(400).await;
    // 300 taken by an earlier batch: 100 free.
    let first = batch::assign(&f.app, &merchant, &sub.id, rows(&emails("early", 300))).await.expect("300");
    assert_eq!((first.created, first.refused, first.seats_available), (300, 0, 100));
    f.queue.take();
    let audit_before = f.store.audit_events(&sub.id).await.expect("audit").len();

    let big = batch::assign(&f.app, &merchant, &sub.id, rows(&emails("late", 500))).await;
    assert_eq!(big.err(), Some(DomainError::NotEnoughSeats { needed: 500, free: 100 }));
    let preview = batch::preview(&f.app, &merchant, &sub.id, rows(&emails("late", 500))).await;
    assert_eq!(preview.err(), Some(DomainError::NotEnoughSeats { needed: 500, free: 100 }));
    assert_eq!(sub_now(&f, &sub.id).await.seats_assigned, 300, "nothing reserved or written");
    assert_eq!(f.store.audit_events(&sub.id).await.expect("audit").len(), audit_before);
    assert!(f.queue.take().is_empty(), "no invitation");
    let pending = seats::list(&f.app, &merchant, &sub.id, None, None, Some("100")).await.expect("list");
    assert!(pending.seats.iter().all(|s| s.email.starts_with("early")));

    // 501 rows are refused before anything is read.
    let too_many = batch::assign(&f.app, &merchant, &sub.id, rows(&emails("x", 501))).await;
    assert!(matches!(too_many, Err(DomainError::InvalidRequest { .. })), "{too_many:?}");
}

#[tokio::test]
async fn a_batch_answers_every_row_and_invites_the_good_ones() {
    let (f, merchant, sub) = bought(120).await;
    seats::assign(&f.app, &merchant, &sub.id, invite("taken@corp.example")).await.expect("one");
    f.queue.take();
    let mut list: Vec<Value> = emails("p", 96).iter().map(|e| json!({"email": e})).collect();
    list.insert(10, json!({"email": "not an email"}));
    list.insert(20, json!({"email": "P3@Corp.example"})); // the same person as row 3
    list.insert(30, json!({"email": "taken@corp.example"}));
    list.push(json!({"email": "meta@corp.example", "metadata": {"team": "ops"}}));
    assert_eq!(list.len(), 100);
    let input = || AssignBatch { seats: list.clone(), notify: None, ..Default::default() };

    let preview = batch::preview(&f.app, &merchant, &sub.id, input()).await.expect("preview");
    assert_eq!((preview.will_be_created, preview.refused, preview.created), (Some(97), 3, 0));
    assert_eq!(sub_now(&f, &sub.id).await.seats_assigned, 1, "a preview writes nothing");

    let done = batch::assign(&f.app, &merchant, &sub.id, input()).await.expect("batch");
    assert_eq!((done.created, done.refused), (97, 3));
    let errors: Vec<(usize, &str)> =
        done.rows.iter().filter_map(|r| r.error.as_ref().map(|e| (r.index, e.code))).collect();
    assert_eq!(errors, [(10, "invalid_request"), (20, "duplicate_row"), (30, "seat_already_assigned")]);
    assert_eq!(done.rows[20].email, "p3@corp.example", "normalized");
    let meta = done.rows[99].seat.as_ref().expect("created");
    assert_eq!(meta.metadata.get("team"), Some(&json!("ops")));
    assert_eq!((done.seats_assigned, done.seats_available), (98, 22));
    // Every invitation went out through the outbox and the queue, once.
    let mailed_before = f.mailer.sent().len();
    let jobs = f.queue.take();
    assert_eq!(jobs.iter().filter(|j| j.kind == JobKind::Invite).count(), 97);
    for j in &jobs {
        domain::services::benefits::process(&f.app, j).await.expect("mail");
    }
    assert_eq!(f.mailer.sent().len() - mailed_before, 97);
    let kinds: Vec<String> =
        f.store.audit_events(&sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "seat.assigned").count(), 98);

    // The same rows again: every one already holds a seat (or is bad), nothing is reserved.
    let again = batch::assign(&f.app, &merchant, &sub.id, input()).await.expect("again");
    assert_eq!((again.created, again.refused), (0, 100));
    assert_eq!(sub_now(&f, &sub.id).await.seats_assigned, 98);
}

#[tokio::test]
async fn a_batch_that_died_after_reserving_is_given_back_by_the_sweeper() {
    let (f, _, sub) = bought(10).await;
    let reservation = SeatReservation {
        id: domain::ids::new_id(domain::ids::RESERVATION),
        subscription_id: sub.id.clone(),
        seats: 4,
        seats_read: 10,
        assign_cap_read: sub.assign_cap,
        max_assigned_before: 6,
        limit: domain::ports::RateHit { key: "invite-sub#dead".into(), window_ends_at: 0, max: 1000 },
        created_at: t0(),
    };
    f.store.reserve_seats(&reservation).await.expect("reserved");
    assert_eq!(sub_now(&f, &sub.id).await.seats_available(), 6, "held by the reservation");
    f.clock.advance(Duration::minutes(5));
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("sweep").reservations_released, 0, "maybe running");
    f.clock.advance(Duration::minutes(11));
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("sweep").reservations_released, 1);
    assert_eq!(sub_now(&f, &sub.id).await.seats_available(), 10);
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("sweep").reservations_released, 0, "once");
}

#[tokio::test]
async fn a_billing_manager_batches_too_and_a_lapsed_subscription_takes_none() {
    let (f, _, sub) = bought(5).await;
    let manager = Principal::Customer {
        customer_id: sub.customer_id.clone(),
        organization_id: sub.organization_id.clone(),
    };
    let done =
        batch::assign(&f.app, &manager, &sub.id, rows(&emails("m", 3))).await.expect("manager's batch");
    assert_eq!(done.created, 3);
    let nobody = Principal::Public;
    let refused = batch::assign(&f.app, &nobody, &sub.id, rows(&emails("n", 1))).await;
    assert_eq!(refused.err(), Some(DomainError::Unauthorized));
    let silent = AssignBatch {
        seats: vec![json!({"email": "q@corp.example"})],
        notify: Some(false),
        ..Default::default()
    };
    let silent = batch::assign(&f.app, &manager, &sub.id, silent).await;
    assert!(matches!(silent, Err(DomainError::InvalidRequest { .. })), "{silent:?}");
}
