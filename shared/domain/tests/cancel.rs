//! Cancel at the period's end and resume, in memory with a moving clock. The offline gateway's
//! part (no provider state: the sweeper ends the subscription at its period's end) and the
//! reconciliation with a provider that has state (its end event lost; resumed there by hand).

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::error::DomainError;
use domain::events::{ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::ProviderSubscription;
use domain::services::changes::cancel::CancelRequest;
use domain::services::changes::{self, IntervalChangeRequest, SeatChangeRequest};
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{billing_events, sweeper, Principal};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).single().expect("date")
}

struct World {
    f: Fakes,
    merchant: Principal,
    boss: Principal,
    sub: Subscription,
    /// The claimed seat's holder.
    holder: String,
}

/// 5 monthly seats (a yearly price too): one claimed (its license key granted), one pending.
async fn world() -> World {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { year: Some(10000), with_file: true, ..Default::default() };
    let product = fixtures::product(&f.app, &merchant, &plan).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, 5, "boss@corp.example", t0().timestamp(), "sub_cancel")
        .await
        .expect("bought");
    f.run_jobs().await.expect("jobs");
    f.queue.take();
    let boss = Principal::Customer {
        customer_id: sub.customer_id.clone(),
        organization_id: sub.organization_id.clone(),
    };
    let mut holder = String::new();
    for (i, email) in ["ann@corp.example", "bob@corp.example"].iter().enumerate() {
        seats::assign(&f.app, &boss, &sub.id, AssignSeat { email: email.to_string(), ..Default::default() })
            .await
            .expect("assign");
        let token = f.queue.take().into_iter().find_map(|j| j.claim_token).expect("link");
        if i == 0 {
            let c = claims::claim(&f.app, ClaimRequest { token }).await.expect("claim");
            holder = c.seat.customer_id.clone().expect("holder");
        }
        f.run_jobs().await.expect("grants");
    }
    let sub = f.app.store.subscription(&sub.id).await.expect("store").expect("sub");
    World { f, merchant, boss, sub, holder }
}

async fn read(w: &World) -> Subscription {
    w.f.app.store.subscription(&w.sub.id).await.expect("store").expect("sub")
}

async fn live_grants(w: &World, customer: &str) -> usize {
    let grants = w.f.app.store.grants_of_customer(customer).await.expect("grants");
    grants.iter().filter(|g| g.status == GrantStatus::Granted).count()
}

async fn audit_kinds(w: &World) -> Vec<String> {
    w.f.app.store.audit_events(&w.sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect()
}

fn why() -> CancelRequest {
    CancelRequest {
        at_period_end: Some(true),
        reason: Some(CancellationReason::TooExpensive),
        comment: Some("  Budget cut for next quarter  ".into()),
    }
}

#[tokio::test]
async fn a_cancelled_subscription_runs_to_its_period_end_and_then_lapses_offline() {
    let w = world().await;
    let end = w.sub.current_period_end;
    assert_eq!(live_grants(&w, &w.holder).await, 2, "the file and the license key");

    // The preview says what ends and when, and writes nothing.
    let p = changes::preview_cancel(&w.f.app, &w.boss, &w.sub.id, CancelRequest::default())
        .await
        .expect("preview");
    assert_eq!((p.cancel_at, p.seats, p.seats_assigned, p.amount_due_now), (end, 5, 2, 0));
    let names: Vec<&str> = p.benefits.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["Installer", "Key"]);
    assert_eq!(p.restorable_until, end + Duration::days(30));
    assert_eq!(p.scheduled_change_dropped, None);
    assert_eq!(read(&w).await.version, w.sub.version, "a preview writes nothing");

    // Cancel: nothing changes but the flag, and the provider is told once.
    w.f.clock.advance(Duration::days(3));
    let v = changes::cancel(&w.f.app, &w.boss, &w.sub.id, why()).await.expect("cancel");
    assert_eq!(
        (v.status, v.cancel_at_period_end, v.cancel_at, v.seats),
        (SubscriptionStatus::Active, true, Some(end), 5)
    );
    assert_eq!(v.canceled_at, Some(t0() + Duration::days(3)));
    let details = v.cancellation_details.expect("details");
    assert_eq!(details.reason, Some(CancellationReason::TooExpensive));
    assert_eq!(details.comment.as_deref(), Some("Budget cut for next quarter"));
    let calls = w.f.payments.cancellations.lock().expect("calls").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].cancel, calls[0].reason, calls[0].provider_subscription_id.as_str()),
        (true, Some(CancellationReason::TooExpensive), "sub_cancel")
    );
    let audit = w.f.app.store.audit_events(&w.sub.id).await.expect("audit");
    let done = audit.iter().find(|e| e.kind == "subscription.cancellation_scheduled").expect("audited");
    assert_eq!(done.actor, format!("customer:{}", w.sub.customer_id));
    assert_eq!(
        (done.data["reason"].as_str(), done.data["seats_assigned"].as_i64()),
        (Some("too_expensive"), Some(2))
    );

    // Asking again changes nothing and tells no one.
    let again = changes::cancel(&w.f.app, &w.boss, &w.sub.id, CancelRequest::default()).await.expect("again");
    assert_eq!(again.canceled_at, v.canceled_at);
    assert_eq!(w.f.payments.cancellations.lock().expect("calls").len(), 1);

    // Until the end: nothing for the next period changes, more seats can be bought, seats work.
    let fewer = changes::apply_seats(
        &w.f.app,
        &w.boss,
        &w.sub.id,
        SeatChangeRequest { seats: 3, proration_date: None },
    )
    .await;
    assert!(matches!(fewer, Err(DomainError::InvalidState(ref m)) if m.contains("resume")), "{fewer:?}");
    let yearly = changes::preview_interval(
        &w.f.app,
        &w.boss,
        &w.sub.id,
        IntervalChangeRequest { interval: Interval::Year, proration_date: None },
    )
    .await;
    assert!(matches!(yearly, Err(DomainError::InvalidState(_))), "{yearly:?}");
    let more = changes::apply_seats(
        &w.f.app,
        &w.boss,
        &w.sub.id,
        SeatChangeRequest { seats: 6, proration_date: None },
    )
    .await
    .expect("more seats");
    assert_eq!((more.subscription.seats, more.subscription.cancel_at_period_end), (6, true));
    // (The fake provider remembers the charge; the offline gateway keeps no state.)
    *w.f.payments.state.lock().expect("state") = None;
    seats::assign(
        &w.f.app,
        &w.boss,
        &w.sub.id,
        AssignSeat { email: "cy@corp.example".into(), ..Default::default() },
    )
    .await
    .expect("assign while cancelling");

    // A sweep a second before the end ends nothing.
    w.f.clock.set(end - Duration::seconds(1));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").cancellations_ended, 0);
    assert_eq!(read(&w).await.status, SubscriptionStatus::Active);
    assert_eq!(live_grants(&w, &w.holder).await, 2);

    // At the end the offline gateway has no one to end it: the sweeper does, through the lapse.
    w.f.clock.set(end);
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").cancellations_ended, 1);
    let lapsed = read(&w).await;
    assert_eq!(lapsed.status, SubscriptionStatus::Canceled);
    assert_eq!(lapsed.suspended_until, Some(end + Duration::days(30)));
    w.f.run_jobs().await.expect("suspend");
    assert_eq!(live_grants(&w, &w.holder).await, 0, "benefits end with the subscription");
    let page = w.f.app.store.seats_page(&w.sub.id, None, None, 100).await.expect("seats");
    // ann's claimed seat is suspended; the two invitations had expired meanwhile (3 days).
    let statuses: Vec<SeatStatus> = page.seats.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [SeatStatus::Suspended, SeatStatus::Expired, SeatStatus::Expired]);
    let lapse = w.f.app.store.audit_events(&w.sub.id).await.expect("audit");
    let lapse = lapse.iter().find(|e| e.kind == "subscription.lapsed").expect("lapsed");
    assert_eq!(lapse.actor, "system:sweeper");
    // Once.
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").cancellations_ended, 0);
    let r = changes::resume(&w.f.app, &w.boss, &w.sub.id).await;
    assert!(matches!(r, Err(DomainError::InvalidState(_))), "too late: {r:?}");
}

#[tokio::test]
async fn resumed_before_the_end_it_renews_as_before() {
    let w = world().await;
    let end = w.sub.current_period_end;
    changes::cancel(&w.f.app, &w.merchant, &w.sub.id, CancelRequest::default()).await.expect("cancel");
    let not_yet = changes::resume(&w.f.app, &w.boss, &w.sub.id).await.expect("resume");
    assert_eq!(
        (not_yet.cancel_at_period_end, not_yet.cancel_at, not_yet.cancellation_details),
        (false, None, None)
    );
    let calls = w.f.payments.cancellations.lock().expect("calls").clone();
    assert_eq!(calls.iter().map(|c| c.cancel).collect::<Vec<_>>(), [true, false]);
    let kinds = audit_kinds(&w).await;
    assert!(
        kinds.ends_with(&[
            "subscription.cancellation_scheduled".to_string(),
            "subscription.resumed".to_string()
        ]),
        "{kinds:?}"
    );
    let r = changes::resume(&w.f.app, &w.boss, &w.sub.id).await;
    assert!(matches!(r, Err(DomainError::InvalidState(ref m)) if m.contains("not set to cancel")), "{r:?}");

    // The end passes: nothing to end; the renewal comes and is applied as ever.
    w.f.clock.set(end + Duration::minutes(5));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").cancellations_ended, 0);
    let next_end = end + Duration::days(31);
    let renewal = PaymentEvent {
        id: "evt_renewal".into(),
        created: end.timestamp() + 60,
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: "sub_cancel".into(),
            checkout_id: None,
            state: SubscriptionState {
                status: "active".into(),
                period: Some((end.timestamp(), next_end.timestamp())),
                item: Some(ItemState {
                    id: Some("si_1".into()),
                    quantity: 5,
                    interval: Some("month".into()),
                }),
                pending_update: false,
                latest_invoice: None,
                cancellation: None,
            },
        },
    };
    billing_events::handle(&w.f.app, &renewal).await.expect("renewal");
    let s = read(&w).await;
    assert_eq!(
        (s.status, s.current_period_end, s.cancellation),
        (SubscriptionStatus::Active, next_end, None)
    );
    assert_eq!(live_grants(&w, &w.holder).await, 2);
    // Cancelling now ends at the new period's end.
    let again =
        changes::cancel(&w.f.app, &w.boss, &w.sub.id, CancelRequest::default()).await.expect("cancel");
    assert_eq!(again.cancel_at, Some(next_end));
}

#[tokio::test]
async fn cancelling_drops_a_scheduled_decrease_and_gives_back_its_cap() {
    let w = world().await;
    let fewer = changes::apply_seats(
        &w.f.app,
        &w.boss,
        &w.sub.id,
        SeatChangeRequest { seats: 3, proration_date: None },
    )
    .await
    .expect("decrease scheduled");
    assert_eq!((fewer.subscription.seats, fewer.subscription.seats_available), (5, 1), "capped at 3");
    let p = changes::preview_cancel(&w.f.app, &w.boss, &w.sub.id, CancelRequest::default())
        .await
        .expect("preview");
    assert!(p.scheduled_change_dropped.is_some());
    let v = changes::cancel(&w.f.app, &w.boss, &w.sub.id, CancelRequest::default()).await.expect("cancel");
    assert_eq!((v.scheduled_change, v.seats_available, v.cancel_at_period_end), (None, 3, true));
    let audit = w.f.app.store.audit_events(&w.sub.id).await.expect("audit");
    let done = audit.iter().find(|e| e.kind == "subscription.cancellation_scheduled").expect("audited");
    assert_eq!(done.data["scheduled_change_dropped"]["seats"], serde_json::json!(3));
}

#[tokio::test]
async fn bad_requests_and_strangers_change_nothing() {
    let w = world().await;
    let immediate = CancelRequest { at_period_end: Some(false), ..Default::default() };
    let r = changes::cancel(&w.f.app, &w.boss, &w.sub.id, immediate).await;
    assert!(
        matches!(r, Err(DomainError::InvalidRequest { ref field, .. }) if field.as_deref() == Some("at_period_end")),
        "{r:?}"
    );
    let long = CancelRequest { comment: Some("x".repeat(501)), ..Default::default() };
    let r = changes::cancel(&w.f.app, &w.boss, &w.sub.id, long).await;
    assert!(
        matches!(r, Err(DomainError::InvalidRequest { ref field, .. }) if field.as_deref() == Some("comment")),
        "{r:?}"
    );
    // A seat holder who is not a manager, and another merchant, see no such subscription.
    let holder =
        Principal::Customer { customer_id: w.holder.clone(), organization_id: w.sub.organization_id.clone() };
    let r = changes::cancel(&w.f.app, &holder, &w.sub.id, CancelRequest::default()).await;
    assert_eq!(r.err(), Some(DomainError::NotFound("subscription")));
    let (other, _) = fixtures::merchant(&w.f.app, "globex").await.expect("merchant");
    let r = changes::preview_cancel(&w.f.app, &other, &w.sub.id, CancelRequest::default()).await;
    assert_eq!(r.err(), Some(DomainError::NotFound("subscription")));
    let r = changes::resume(&w.f.app, &other, &w.sub.id).await;
    assert_eq!(r.err(), Some(DomainError::NotFound("subscription")));
    assert_eq!(read(&w).await, w.sub, "nothing written");
    assert!(w.f.payments.cancellations.lock().expect("calls").is_empty());
}

fn provider(status: &str, cancel_at_period_end: bool, period: (i64, i64)) -> ProviderSubscription {
    ProviderSubscription {
        id: "sub_cancel".into(),
        status: status.into(),
        item_id: "si_1".into(),
        quantity: 5,
        interval: Interval::Month,
        period_start: period.0,
        period_end: period.1,
        pending_update_expires_at: None,
        schedule_id: None,
        latest_invoice: None,
        cancel_at_period_end,
    }
}

#[tokio::test]
async fn with_a_provider_that_keeps_state_the_sweeper_follows_the_provider() {
    let w = world().await;
    let (start, end) = (w.sub.current_period_start.timestamp(), w.sub.current_period_end.timestamp());
    changes::cancel(&w.f.app, &w.boss, &w.sub.id, CancelRequest::default()).await.expect("cancel");
    // Stripe has not run its end yet: the sweeper waits for it.
    *w.f.payments.state.lock().expect("state") = Some(provider("active", true, (start, end)));
    w.f.clock.set(w.sub.current_period_end + Duration::minutes(2));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").cancellations_ended, 0);
    assert_eq!(read(&w).await.status, SubscriptionStatus::Active);
    // It looks again a quarter of an hour later, not every minute.
    *w.f.payments.state.lock().expect("state") = Some(provider("canceled", true, (start, end)));
    w.f.clock.advance(Duration::minutes(14));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").cancellations_ended, 0);
    // Stripe ended it and its event was lost: the sweeper lapses it from Stripe's state.
    w.f.clock.advance(Duration::minutes(1));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").cancellations_ended, 1);
    assert_eq!(read(&w).await.status, SubscriptionStatus::Canceled);
}

#[tokio::test]
async fn a_subscription_resumed_at_the_provider_by_hand_is_resumed_here_too() {
    let w = world().await;
    let (end, next) =
        (w.sub.current_period_end.timestamp(), (w.sub.current_period_end + Duration::days(31)).timestamp());
    changes::cancel(&w.f.app, &w.boss, &w.sub.id, CancelRequest::default()).await.expect("cancel");
    *w.f.payments.state.lock().expect("state") = Some(provider("active", false, (end, next)));
    w.f.clock.set(w.sub.current_period_end + Duration::minutes(2));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").cancellations_ended, 0);
    let s = read(&w).await;
    assert_eq!((s.status, s.cancellation), (SubscriptionStatus::Active, None));
    let audit = w.f.app.store.audit_events(&w.sub.id).await.expect("audit");
    let resumed = audit.iter().find(|e| e.kind == "subscription.resumed").expect("resumed");
    assert_eq!(
        (resumed.actor.as_str(), resumed.data["cancellation_withdrawn"].as_bool()),
        ("system:sweeper", Some(true))
    );
    assert_eq!(s.current_period_end.timestamp(), next, "the provider's renewal, applied");
    // Nothing left to sweep.
    assert!(w.f.app.store.cancellations_due(w.f.app.clock.now(), 10).await.expect("due").is_empty());
}

fn updated(
    id: &str,
    created: DateTime<Utc>,
    period: (i64, i64),
    cancel: Option<(bool, i64)>,
) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created: created.timestamp(),
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: "sub_cancel".into(),
            checkout_id: None,
            state: SubscriptionState {
                status: "active".into(),
                period: Some(period),
                item: Some(ItemState {
                    id: Some("si_1".into()),
                    quantity: 5,
                    interval: Some("month".into()),
                }),
                pending_update: false,
                latest_invoice: None,
                cancellation: cancel.map(|(flag, at)| domain::events::StateCancellation {
                    cancel_at_period_end: flag,
                    cancel_at: flag.then_some(at),
                    feedback: flag.then(|| "unused".to_string()),
                    comment: None,
                }),
            },
        },
    }
}

#[tokio::test]
async fn a_cancellation_set_or_withdrawn_at_stripe_by_hand_is_mirrored_unless_older_than_ours() {
    let w = world().await;
    let period = (w.sub.current_period_start.timestamp(), w.sub.current_period_end.timestamp());
    let end = w.sub.current_period_end;
    // The merchant sets "cancel at period end" in Stripe's dashboard.
    w.f.clock.advance(Duration::hours(1));
    let set = updated("evt_set", t0() + Duration::hours(1), period, Some((true, period.1)));
    billing_events::handle(&w.f.app, &set).await.expect("set");
    let s = read(&w).await;
    let c = s.cancellation.clone().expect("mirrored");
    assert_eq!(
        (c.cancel_at, c.reason, c.actor.as_str()),
        (end, Some(CancellationReason::Unused), "stripe:evt_set")
    );
    assert_eq!(w.f.app.store.cancellations_due(end, 10).await.expect("due"), vec![(w.sub.id.clone(), end)]);
    // Then resumes it there.
    w.f.clock.advance(Duration::hours(1));
    let unset = updated("evt_unset", t0() + Duration::hours(2), period, Some((false, 0)));
    billing_events::handle(&w.f.app, &unset).await.expect("unset");
    assert_eq!(read(&w).await.cancellation, None);
    assert!(w.f.app.store.cancellations_due(end, 10).await.expect("due").is_empty());
    // Our own cancel, then an event from before it (delivered late) says nothing of it.
    w.f.clock.advance(Duration::hours(1));
    changes::cancel(&w.f.app, &w.boss, &w.sub.id, CancelRequest::default()).await.expect("cancel");
    let late =
        updated("evt_late", t0() + Duration::hours(2) + Duration::minutes(30), period, Some((false, 0)));
    billing_events::handle(&w.f.app, &late).await.expect("late");
    assert!(read(&w).await.cancellation.is_some(), "a stale event withdraws nothing");
    // Nor does an event that says nothing of it (offline events), however new.
    let silent = updated("evt_silent", t0() + Duration::hours(5), period, None);
    billing_events::handle(&w.f.app, &silent).await.expect("silent");
    assert!(read(&w).await.cancellation.is_some());
}
