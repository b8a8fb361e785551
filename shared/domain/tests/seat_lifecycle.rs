//! The seat lifecycle over the in-memory fakes: assign, invite, claim, grant, revoke, and the
//! outbox that keeps a job when the queue is down.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{audit, auth, benefits, sweeper, Principal};
use std::sync::atomic::Ordering;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).single().expect("date")
}

struct Setup {
    f: Fakes,
    merchant: Principal,
    sub: Subscription,
}

async fn setup(seats: i64) -> Setup {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { with_file: true, ..Default::default() };
    let product = fixtures::product(&f.app, &merchant, &plan).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, seats, "boss@corp.example", t0().timestamp(), "sub_s")
        .await
        .expect("bought");
    // The buyer's sign-in link is mailed: the queue starts empty.
    f.run_jobs().await.expect("jobs");
    Setup { f, merchant, sub }
}

fn token_in(text: &str) -> String {
    text.split("token=").nth(1).and_then(|t| t.split_whitespace().next()).expect("token").to_string()
}

fn assign_input(email: &str) -> AssignSeat {
    AssignSeat { email: email.into(), metadata: None, ..Default::default() }
}

async fn run_jobs(s: &Setup) {
    s.f.run_jobs().await.expect("jobs");
}

/// The invitations mailed so far (other mail, like the buyer's sign-in link, left out).
fn invitations(s: &Setup) -> Vec<domain::ports::OutgoingEmail> {
    s.f.mailer.sent().into_iter().filter(|m| m.text.contains("/portal/claim?token=ct_")).collect()
}

/// The worker runs the queued jobs (invitations are mailed there); the newest mail's token.
async fn mailed_token(s: &Setup) -> String {
    run_jobs(s).await;
    token_in(&s.f.mailer.sent().last().expect("mail").text)
}

#[tokio::test]
async fn assign_is_capped_at_the_paid_seats_and_one_live_seat_per_email() {
    let s = setup(3).await;
    let app = &s.f.app;
    for i in 0..3 {
        let seat = seats::assign(app, &s.merchant, &s.sub.id, assign_input(&format!("p{i}@corp.example")))
            .await
            .expect("assign");
        assert_eq!(seat.status, SeatStatus::Pending);
    }
    assert_eq!(
        seats::assign(app, &s.merchant, &s.sub.id, assign_input("p9@corp.example")).await.err(),
        Some(DomainError::NoSeatsAvailable)
    );
    assert_eq!(
        seats::assign(app, &s.merchant, &s.sub.id, assign_input("P0@corp.example")).await.err(),
        Some(DomainError::SeatAlreadyAssigned)
    );
    assert!(matches!(
        seats::assign(app, &s.merchant, &s.sub.id, assign_input("nope")).await,
        Err(DomainError::InvalidRequest { .. })
    ));
    let list = seats::list(app, &s.merchant, &s.sub.id, None, None, None).await.expect("list");
    assert_eq!((list.seats.len(), list.seats_assigned, list.seats_available), (3, 3, 0));
    assert!(invitations(&s).is_empty(), "the request mails nothing: the worker does");
    run_jobs(&s).await;
    // Each invitation mail carries its claim link.
    assert_eq!(invitations(&s).len(), 3);
}

#[tokio::test]
async fn claim_grants_the_benefits_and_revoke_takes_them_back() {
    let s = setup(2).await;
    let app = &s.f.app;
    let seat =
        seats::assign(app, &s.merchant, &s.sub.id, assign_input("ann@corp.example")).await.expect("assign");
    let token = mailed_token(&s).await;

    // The preview changes nothing and can be repeated.
    for _ in 0..2 {
        let p = claims::preview(app, &token).await.expect("preview");
        assert_eq!(
            (p.organization_name.as_str(), p.product_name.as_str(), p.email.as_str()),
            ("Acme", "Pro", "ann@corp.example")
        );
    }
    let claimed = claims::claim(app, ClaimRequest { token: token.clone() }).await.expect("claim");
    assert_eq!(claimed.seat.status, SeatStatus::Claimed);
    assert!(claimed.session.token.starts_with("cs_"));
    assert_eq!(
        claims::claim(app, ClaimRequest { token: token.clone() }).await.err(),
        Some(DomainError::NotFound("claim")),
        "a token works once"
    );
    assert_eq!(claims::preview(app, &token).await.err(), Some(DomainError::NotFound("claim")));

    // The grant job arrives twice (at least once delivery): one grant per benefit.
    let jobs = s.f.queue.take();
    assert_eq!(jobs.len(), 1);
    for _ in 0..2 {
        benefits::process(app, &jobs[0]).await.expect("grant");
    }
    let holder = auth::authenticate(app, Some(&claimed.session.token)).await.expect("session");
    let grants = benefits::my_benefits(app, &holder).await.expect("grants");
    assert_eq!(grants.len(), 2);
    assert!(grants.iter().all(|g| g.status == GrantStatus::Granted));
    let key = grants.iter().find_map(|g| g.license_key.clone()).expect("license key");
    assert!(key.starts_with("ACME-"));
    let file = grants.iter().find(|g| g.benefit.kind == "file_download").expect("file grant");
    assert!(benefits::download(app, &holder, &file.id).await.is_ok());
    assert!(
        s.f.store.stale_jobs(i64::MAX, 10).await.expect("outbox").is_empty(),
        "done jobs leave the outbox"
    );

    // The billing manager holds no seat: nothing to download.
    let boss = domain::services::portal::new_session(
        app,
        &s.f.store.customer(&s.sub.customer_id).await.expect("s").expect("c"),
    )
    .await
    .expect("session");
    let boss = auth::authenticate(app, Some(&boss.token)).await.expect("boss");
    assert_eq!(benefits::download(app, &boss, &file.id).await.err(), Some(DomainError::NotFound("grant")));
    // A holder's session manages nothing.
    assert_eq!(
        seats::list(app, &holder, &s.sub.id, None, None, None).await.err(),
        Some(DomainError::NotFound("subscription"))
    );

    let revoked = seats::revoke(app, &s.merchant, &s.sub.id, &seat.id).await.expect("revoke");
    assert_eq!(revoked.status, SeatStatus::Revoked);
    let events_before = s.f.store.audit_events(&s.sub.id).await.expect("audit").len();
    assert_eq!(
        seats::revoke(app, &s.merchant, &s.sub.id, &seat.id).await.expect("again").status,
        SeatStatus::Revoked
    );
    assert_eq!(
        s.f.store.audit_events(&s.sub.id).await.expect("audit").len(),
        events_before,
        "a second revoke records nothing"
    );
    run_jobs(&s).await;
    let grants = benefits::my_benefits(app, &holder).await.expect("grants");
    assert!(grants.iter().all(|g| g.status == GrantStatus::Revoked && g.license_key.is_none()));
    assert_eq!(benefits::download(app, &holder, &file.id).await.err(), Some(DomainError::NotFound("grant")));

    // The seat is free again, for the same email too.
    let again =
        seats::assign(app, &s.merchant, &s.sub.id, assign_input("ann@corp.example")).await.expect("reassign");
    assert_ne!(again.id, seat.id);

    let kinds: Vec<String> =
        audit::trail(app, &s.merchant, &s.sub.id).await.expect("trail").into_iter().map(|e| e.kind).collect();
    for k in [
        "subscription.created",
        "seat.assigned",
        "seat.invitation_sent",
        "seat.claimed",
        "benefit.granted",
        "seat.revoked",
        "benefit.revoked",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn a_grant_job_after_the_revoke_grants_nothing() {
    let s = setup(1).await;
    let app = &s.f.app;
    let seat =
        seats::assign(app, &s.merchant, &s.sub.id, assign_input("bob@corp.example")).await.expect("assign");
    let token = mailed_token(&s).await;
    claims::claim(app, ClaimRequest { token }).await.expect("claim");
    let grant_job = s.f.queue.take();
    seats::revoke(app, &s.merchant, &s.sub.id, &seat.id).await.expect("revoke");
    // The revoke job runs first, then the late grant job.
    run_jobs(&s).await;
    for job in grant_job {
        benefits::process(app, &job).await.expect("late grant job");
    }
    let holder =
        s.f.store
            .customer_by_email(&s.sub.organization_id, "bob@corp.example")
            .await
            .expect("s")
            .expect("holder");
    assert!(s.f.store.grants_of_customer(&holder.id).await.expect("grants").is_empty());
}

#[tokio::test]
async fn resend_replaces_the_token_and_only_for_pending_seats() {
    let s = setup(2).await;
    let app = &s.f.app;
    let seat =
        seats::assign(app, &s.merchant, &s.sub.id, assign_input("cy@corp.example")).await.expect("assign");
    let old = mailed_token(&s).await;
    s.f.clock.advance(Duration::hours(80));
    assert_eq!(claims::preview(app, &old).await.err(), Some(DomainError::NotFound("claim")), "expired");
    let renewed = seats::resend(app, &s.merchant, &s.sub.id, &seat.id).await.expect("resend");
    assert!(renewed.invitation_expires_at.expect("expiry") > s.f.clock.0.lock().map(|t| *t).expect("now"));
    let new = mailed_token(&s).await;
    assert_ne!(old, new);
    assert_eq!(
        claims::claim(app, ClaimRequest { token: old }).await.err(),
        Some(DomainError::NotFound("claim"))
    );
    claims::claim(app, ClaimRequest { token: new }).await.expect("claim with the new link");
    assert!(matches!(
        seats::resend(app, &s.merchant, &s.sub.id, &seat.id).await,
        Err(DomainError::InvalidState(_))
    ));
}

#[tokio::test]
async fn a_job_whose_send_failed_is_sent_again_by_the_sweeper() {
    let s = setup(1).await;
    let app = &s.f.app;
    seats::assign(app, &s.merchant, &s.sub.id, assign_input("dee@corp.example")).await.expect("assign");
    let token = mailed_token(&s).await;
    s.f.queue.failing.store(true, Ordering::SeqCst);
    let claimed =
        claims::claim(app, ClaimRequest { token }).await.expect("the claim commits even when SQS is down");
    assert!(s.f.queue.take().is_empty());
    s.f.queue.failing.store(false, Ordering::SeqCst);
    // Not yet stale: nothing to do.
    assert_eq!(sweeper::sweep(app, 60).await.expect("sweep").resent, 0);
    s.f.clock.advance(Duration::seconds(61));
    assert_eq!(sweeper::sweep(app, 60).await.expect("sweep").resent, 1);
    run_jobs(&s).await;
    let holder = auth::authenticate(app, Some(&claimed.session.token)).await.expect("session");
    assert_eq!(benefits::my_benefits(app, &holder).await.expect("grants").len(), 2, "the grant arrived");
    assert_eq!(sweeper::sweep(app, 0).await.expect("sweep").resent, 0, "and the outbox is empty");
}

#[tokio::test]
async fn seat_pages_follow_the_cursor() {
    let s = setup(7).await;
    let app = &s.f.app;
    for i in 0..7 {
        seats::assign(app, &s.merchant, &s.sub.id, assign_input(&format!("u{i}@corp.example")))
            .await
            .expect("assign");
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page =
            seats::list(app, &s.merchant, &s.sub.id, None, cursor.as_deref(), Some("3")).await.expect("page");
        seen.extend(page.seats.iter().map(|x| x.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 7);
    assert!(matches!(
        seats::list(app, &s.merchant, &s.sub.id, Some("lost"), None, None).await,
        Err(DomainError::InvalidRequest { .. })
    ));
    assert!(matches!(
        seats::list(app, &s.merchant, &s.sub.id, None, None, Some("1000")).await,
        Err(DomainError::InvalidRequest { .. })
    ));
}

#[tokio::test]
async fn an_invitation_that_ses_refused_is_mailed_when_the_queue_delivers_it_again() {
    let s = setup(2).await;
    let app = &s.f.app;
    s.f.mailer.failing.store(true, Ordering::SeqCst);
    let seat = seats::assign(app, &s.merchant, &s.sub.id, assign_input("eve@corp.example"))
        .await
        .expect("the seat is assigned: the caller never waits on the mail");
    assert_eq!(seat.status, SeatStatus::Pending);
    let jobs = s.f.queue.take();
    assert_eq!(jobs.len(), 1);
    assert!(benefits::process(app, &jobs[0]).await.is_err(), "the worker reports it: the queue retries");
    let kinds: Vec<String> =
        s.f.store.audit_events(&s.sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert!(!kinds.contains(&"seat.invitation_sent".to_string()), "no mail, no 'sent' record");
    assert_eq!(s.f.store.stale_jobs(i64::MAX, 10).await.expect("outbox").len(), 1, "kept in the outbox");

    // The queue delivers it again (twice, as at-least-once may): one mail, one record.
    s.f.mailer.failing.store(false, Ordering::SeqCst);
    for _ in 0..2 {
        benefits::process(app, &jobs[0]).await.expect("delivered again");
    }
    assert_eq!(invitations(&s).len(), 1);
    let sent = s.f.store.audit_events(&s.sub.id).await.expect("audit");
    assert_eq!(sent.iter().filter(|e| e.kind == "seat.invitation_sent").count(), 1);
    assert!(s.f.store.stale_jobs(i64::MAX, 10).await.expect("outbox").is_empty());
    let token = token_in(&invitations(&s)[0].text);
    claims::claim(app, ClaimRequest { token }).await.expect("the mailed link claims the seat");
}

#[tokio::test]
async fn an_invitation_the_queue_never_got_is_mailed_from_the_outbox_with_a_new_link() {
    let s = setup(2).await;
    let app = &s.f.app;
    s.f.queue.failing.store(true, Ordering::SeqCst);
    seats::assign(app, &s.merchant, &s.sub.id, assign_input("fay@corp.example")).await.expect("assign");
    s.f.queue.failing.store(false, Ordering::SeqCst);
    // The outbox keeps no token: the plain link existed only in the lost message.
    let kept = s.f.store.stale_jobs(i64::MAX, 10).await.expect("outbox");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].job.claim_token, None);
    s.f.clock.advance(Duration::seconds(61));
    assert_eq!(sweeper::sweep(app, 60).await.expect("sweep").resent, 1);
    let token = mailed_token(&s).await;
    claims::claim(app, ClaimRequest { token }).await.expect("the new link claims the seat");
    let kinds: Vec<String> =
        s.f.store.audit_events(&s.sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"seat.invitation_renewed".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"seat.invitation_sent".to_string()), "{kinds:?}");
    run_jobs(&s).await;
    assert!(s.f.store.stale_jobs(i64::MAX, 10).await.expect("outbox").is_empty());
}

#[tokio::test]
async fn a_link_revoked_or_replaced_before_the_worker_ran_is_not_mailed() {
    let s = setup(3).await;
    let app = &s.f.app;
    let gone = seats::assign(app, &s.merchant, &s.sub.id, assign_input("gil@corp.example")).await.expect("a");
    seats::revoke(app, &s.merchant, &s.sub.id, &gone.id).await.expect("revoke");
    let resent =
        seats::assign(app, &s.merchant, &s.sub.id, assign_input("hal@corp.example")).await.expect("b");
    seats::resend(app, &s.merchant, &s.sub.id, &resent.id).await.expect("resend");
    run_jobs(&s).await;
    let mails = invitations(&s);
    assert_eq!(mails.len(), 1, "only the re-sent link to hal");
    assert_eq!(mails[0].to, "hal@corp.example");
    claims::claim(app, ClaimRequest { token: token_in(&mails[0].text) }).await.expect("claim");
    run_jobs(&s).await;
    assert!(s.f.store.stale_jobs(i64::MAX, 10).await.expect("outbox").is_empty());
}

#[tokio::test]
async fn a_returning_customer_claims_as_themselves() {
    let s = setup(3).await;
    let app = &s.f.app;
    // The billing manager is a customer already; they give themselves a seat.
    seats::assign(app, &s.merchant, &s.sub.id, assign_input("boss@corp.example")).await.expect("assign");
    let token = mailed_token(&s).await;
    let claimed = claims::claim(app, ClaimRequest { token }).await.expect("claim");
    assert_eq!(claimed.seat.customer_id.as_deref(), Some(s.sub.customer_id.as_str()));
    let holder = auth::authenticate(app, Some(&claimed.session.token)).await.expect("their session");
    assert!(seats::list(app, &holder, &s.sub.id, None, None, None).await.is_ok(), "as the billing manager");
}
