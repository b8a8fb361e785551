//! Payment first, over the in-memory fakes: a declined change waits (402, nothing applied) and
//! applies once when paid, or is dropped when its time is up; a crash after the provider
//! answered is healed from the provider's state; an apply takes only a recent
//! `proration_date`; changes stay in step with the provider's schedules; events of other
//! integrations are acknowledged and events that change nothing write nothing.

mod common;

use common::*;
use domain::error::DomainError;
use domain::events::{PaymentEvent, PaymentEventKind};
use domain::model::*;
use domain::ports::{Clock, Store};
use domain::services::changes::{self, SeatChangeRequest};
use domain::services::{billing_events, Principal};

#[tokio::test]
async fn a_declined_increase_changes_nothing_until_it_is_paid_then_applies_once() {
    let s = setup(5).await;
    let app = &s.f.app;
    s.f.payments.decline.store(true, std::sync::atomic::Ordering::SeqCst);
    let pd = Some(at(2025, 3, 11).timestamp());
    let r = change_seats(&s, 8, pd).await;
    let Err(DomainError::PaymentRequired { payment_url }) = r else { panic!("402 expected: {r:?}") };
    assert!(payment_url.starts_with("https://pay.example/invoice/"), "{payment_url}");
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.seats_available()), (5, 5), "no seat before the payment");
    let pending = sub.pending_change.clone().expect("pending change shown");
    assert_eq!(
        (pending.intent.seats, pending.amount_due, pending.payment_url.clone()),
        (8, 2032, payment_url)
    );
    // Another change waits for this one.
    let r = change_seats(&s, 9, pd).await;
    assert!(matches!(r, Err(DomainError::InvalidState(_))), "{r:?}");

    // An update that still carries the old quantity changes nothing.
    let unpaid = updated("evt_unpaid", at(2025, 3, 11).timestamp(), None, 5, "month");
    billing_events::handle(app, &unpaid).await.expect("handled");
    assert_eq!(current(&s).await.seats, 5);
    // An update with the quantity but another invoice is not this change's payment.
    let other = updated_paid("evt_other", at(2025, 3, 11).timestamp(), 8, "in_someone_else");
    billing_events::handle(app, &other).await.expect("handled");
    assert_eq!(current(&s).await.seats, 5);
    // Paid: Stripe applies the pending update and says so, twice (at-least-once delivery).
    let invoice = pending.invoice_id.clone();
    let paid = updated_paid("evt_paid", at(2025, 3, 12).timestamp(), 8, &invoice);
    billing_events::handle(app, &paid).await.expect("paid");
    let again = updated_paid("evt_paid_again", at(2025, 3, 12).timestamp(), 8, &invoice);
    billing_events::handle(app, &again).await.expect("again");
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.assign_cap, sub.pending_change.is_none()), (8, 8, true));
    let audit = s.f.store.audit_events(&s.sub.id).await.expect("audit");
    let increases = audit.iter().filter(|e| e.kind == "subscription.seats_increased").count();
    assert_eq!(increases, 1, "applied and audited once");
    let asked = audit.iter().filter(|e| e.kind == "subscription.change_payment_required").count();
    assert_eq!(asked, 1);
}

#[tokio::test]
async fn the_paid_invoice_of_a_pending_change_applies_it_once() {
    let s = setup(5).await;
    let app = &s.f.app;
    s.f.payments.decline.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = change_seats(&s, 8, None).await;
    assert!(matches!(r, Err(DomainError::PaymentRequired { .. })));
    let invoice = current(&s).await.pending_change.map(|p| p.invoice_id).expect("pending");
    let paid = |id: &str, invoice: &str| PaymentEvent {
        id: id.into(),
        created: at(2025, 3, 12).timestamp(),
        kind: PaymentEventKind::InvoicePaid {
            provider_subscription_id: "sub_s".into(),
            checkout_id: None,
            invoice_id: Some(invoice.into()),
            billing_reason: Some("subscription_update".into()),
        },
    };
    billing_events::handle(app, &paid("evt_other_invoice", "in_other")).await.expect("handled");
    assert_eq!(current(&s).await.seats, 5, "another invoice paid applies nothing");
    billing_events::handle(app, &paid("evt_paid", &invoice)).await.expect("paid");
    billing_events::handle(app, &paid("evt_paid_again", &invoice)).await.expect("again");
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.pending_change.is_none(), sub.status), (8, true, SubscriptionStatus::Active));
    let audit = s.f.store.audit_events(&s.sub.id).await.expect("audit");
    let applied: Vec<_> = audit.iter().filter(|e| e.kind == "subscription.seats_increased").collect();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].data["invoice_id"], serde_json::json!(invoice));
}

#[tokio::test]
async fn an_expired_pending_change_is_dropped() {
    let s = setup(5).await;
    let app = &s.f.app;
    s.f.payments.decline.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = change_seats(&s, 6, None).await;
    assert!(matches!(r, Err(DomainError::PaymentRequired { .. })));
    let expired = PaymentEvent {
        id: "evt_exp".into(),
        created: at(2025, 3, 12).timestamp(),
        kind: PaymentEventKind::PendingUpdateExpired {
            provider_subscription_id: "sub_s".into(),
            checkout_id: Some("chk_x".into()),
        },
    };
    assert_eq!(billing_events::handle(app, &expired).await, Ok(billing_events::Outcome::Applied));
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.pending_change.is_none()), (5, true));
    // A later paid change goes through.
    s.f.payments.decline.store(false, std::sync::atomic::Ordering::SeqCst);
    change_seats(&s, 6, None).await.expect("paid now");
    assert_eq!(current(&s).await.seats, 6);
}

#[tokio::test]
async fn a_crash_after_the_provider_answered_is_healed_once_from_its_state() {
    let s = setup(5).await;
    let app = &s.f.app;
    s.f.payments.lose_answer.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = change_seats(&s, 7, None).await;
    assert_eq!(r.err(), Some(DomainError::Unavailable));
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.change_intent.is_some()), (5, true), "the intent stays for healing");
    // A retry meanwhile is told to wait, never sent again.
    s.f.payments.lose_answer.store(false, std::sync::atomic::Ordering::SeqCst);
    let r = change_seats(&s, 7, None).await;
    assert!(matches!(r, Err(DomainError::Conflict(_))), "{r:?}");
    assert_eq!(s.f.payments.charges.lock().map(|v| v.len()).unwrap_or_default(), 1);
    // Too early for the sweeper; later it settles from the provider's state.
    assert_eq!(domain::services::sweeper::settle_stale_changes(app).await, Ok(0));
    s.f.clock.advance(chrono::Duration::seconds(changes::settle::INTENT_STALE_S + 1));
    assert_eq!(domain::services::sweeper::settle_stale_changes(app).await, Ok(1));
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.assign_cap, sub.change_intent.is_none()), (7, 7, true));
    assert_eq!(s.f.payments.charges.lock().map(|v| v.len()).unwrap_or_default(), 1, "charged once");
    let audit = s.f.store.audit_events(&s.sub.id).await.expect("audit");
    assert_eq!(audit.iter().filter(|e| e.kind == "subscription.seats_increased").count(), 1);
}

#[tokio::test]
async fn an_apply_takes_only_a_recent_proration_date() {
    let s = setup(5).await;
    let app = &s.f.app;
    let now = at(2025, 3, 11).timestamp();
    for (pd, why) in [
        (at(2025, 4, 1).timestamp() - 1, "one second before the period ends"),
        (now + 61, "in the future"),
        (now - 2 * 3600, "two hours old"),
        (at(2025, 3, 1).timestamp(), "backdated to the period start"),
    ] {
        let r = change_seats(&s, 20, Some(pd)).await;
        assert!(
            matches!(r, Err(DomainError::InvalidRequest { field: Some(ref f), .. }) if f == "proration_date"),
            "{why}: {r:?}"
        );
        let r = change_interval(&s, Interval::Year, Some(pd)).await;
        assert!(matches!(r, Err(DomainError::InvalidRequest { .. })), "{why}: {r:?}");
    }
    assert_eq!(current(&s).await.seats, 5);
    assert!(s.f.payments.charges.lock().map(|v| v.is_empty()).unwrap_or_default());
    // A preview may look at any instant of the period; 15 minutes old and 60 s ahead still apply.
    changes::preview_seats(
        app,
        &s.merchant,
        &s.sub.id,
        SeatChangeRequest { seats: 6, proration_date: Some(at(2025, 3, 31).timestamp()) },
    )
    .await
    .expect("a preview anywhere in the period");
    change_seats(&s, 6, Some(now - 900)).await.expect("15 minutes old");
    change_seats(&s, 7, Some(now + 60)).await.expect("60 s of skew");
}

#[tokio::test]
async fn an_increase_after_a_scheduled_decrease_is_charged_from_the_paid_count() {
    let s = setup(10).await;
    change_seats(&s, 5, None).await.expect("decrease");
    assert_eq!(s.f.payments.schedules.lock().map(|v| v.len()).unwrap_or_default(), 1);
    let up = change_seats(&s, 12, None).await.expect("increase");
    // 10 → 12 for the rest of the period, not 5 → 12.
    let expected = -domain::proration::prorate(1000, 10, 21 * 86400, 31 * 86400)
        + domain::proration::prorate(1000, 12, 21 * 86400, 31 * 86400);
    assert_eq!(up.amount_due_now, expected);
    let charge = s.f.payments.charges.lock().map(|v| v[0].clone()).expect("charge");
    assert_eq!((charge.previous_quantity, charge.quantity), (10, 12));
    assert_eq!(
        s.f.payments.released.lock().map(|v| v.len()).unwrap_or_default(),
        1,
        "the schedule is released"
    );
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.assign_cap, sub.scheduled_change.is_none()), (12, 12, true));
}

#[tokio::test]
async fn an_increase_while_annual_to_monthly_is_scheduled_keeps_the_schedule_in_step() {
    let s = setup(4).await;
    let app = &s.f.app;
    let pd = Some(at(2025, 3, 11).timestamp());
    change_interval(&s, Interval::Year, pd).await.expect("to annual");
    change_interval(&s, Interval::Month, None).await.expect("to monthly, scheduled");
    change_seats(&s, 6, None).await.expect("increase");
    let sub = current(&s).await;
    assert_eq!(sub.seats, 6);
    let Some(ScheduledChange::IntervalChange { interval, seats, provider_schedule_id, .. }) =
        sub.scheduled_change
    else {
        panic!("the interval change stays scheduled: {:?}", sub.scheduled_change)
    };
    assert_eq!((interval, seats), (Interval::Month, Some(6)));
    let schedules = s.f.payments.schedules.lock().map(|v| v.clone()).unwrap_or_default();
    let last = schedules.last().expect("rewritten");
    assert_eq!(last.schedule_id, provider_schedule_id, "the same schedule, rewritten");
    assert_eq!((last.current_quantity, last.next_quantity, last.next_interval), (6, 6, Interval::Month));
    // At the renewal the monthly price bills the 6 seats.
    let renew = updated(
        "evt_renew",
        at(2026, 3, 11).timestamp(),
        Some((at(2026, 3, 11).timestamp(), at(2026, 4, 11).timestamp())),
        6,
        "month",
    );
    billing_events::handle(app, &renew).await.expect("renewal");
    let sub = current(&s).await;
    assert_eq!((sub.interval, sub.seats, sub.unit_amount), (Interval::Month, 6, 1000));
}

#[tokio::test]
async fn events_of_other_integrations_are_acknowledged_and_ours_wait() {
    let s = setup(5).await;
    let app = &s.f.app;
    let foreign = PaymentEvent {
        id: "evt_foreign".into(),
        created: at(2025, 3, 11).timestamp(),
        kind: PaymentEventKind::SubscriptionDeleted {
            provider_subscription_id: "sub_other".into(),
            checkout_id: None,
        },
    };
    assert_eq!(billing_events::handle(app, &foreign).await, Ok(billing_events::Outcome::Ignored));
    // One of ours (its checkout is here, open) overtaking the completion waits; a checkout id
    // this deployment never made (another deployment on the account) is not ours.
    let open = domain::services::purchase::create_checkout(
        app,
        &Principal::Public,
        domain::services::purchase::NewCheckout {
            product_id: s.sub.product_id.clone(),
            interval: Interval::Month,
            seats: 3,
            customer_email: "later@corp.example".into(),
            success_url: "https://corp.example/ok".into(),
            cancel_url: "https://corp.example/no".into(),
        },
    )
    .await
    .expect("checkout");
    let early = |checkout_id: &str| PaymentEvent {
        id: format!("evt_early_{checkout_id}"),
        created: at(2025, 3, 11).timestamp(),
        kind: PaymentEventKind::SubscriptionDeleted {
            provider_subscription_id: "sub_not_yet".into(),
            checkout_id: Some(checkout_id.into()),
        },
    };
    assert!(matches!(billing_events::handle(app, &early(&open.id)).await, Err(DomainError::Conflict(_))));
    assert_eq!(
        billing_events::handle(app, &early("chk_elsewhere")).await,
        Ok(billing_events::Outcome::Ignored)
    );
    // An event that changes nothing bumps nothing.
    let before = current(&s).await.version;
    let same = updated(
        "evt_same",
        at(2025, 3, 11).timestamp(),
        Some((at(2025, 3, 1).timestamp(), at(2025, 4, 1).timestamp())),
        5,
        "month",
    );
    let first = billing_events::handle(app, &same).await.expect("handled");
    let version = current(&s).await.version;
    let again = updated(
        "evt_same_2",
        at(2025, 3, 11).timestamp(),
        Some((at(2025, 3, 1).timestamp(), at(2025, 4, 1).timestamp())),
        5,
        "month",
    );
    assert_eq!(billing_events::handle(app, &again).await, Ok(billing_events::Outcome::Unchanged));
    assert_eq!(current(&s).await.version, version, "{first:?} then nothing: version {before} → {version}");
}

#[tokio::test]
async fn a_declined_increase_leaves_a_scheduled_decrease_until_it_is_paid() {
    let s = setup(10).await;
    let app = &s.f.app;
    change_seats(&s, 6, None).await.expect("decrease");
    s.f.payments.decline.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = change_seats(&s, 12, None).await;
    assert!(matches!(r, Err(DomainError::PaymentRequired { .. })), "{r:?}");
    let sub = current(&s).await;
    assert!(matches!(sub.scheduled_change, Some(ScheduledChange::SeatDecrease { seats: 6, .. })), "kept");
    assert_eq!(s.f.payments.released.lock().map(|v| v.len()).unwrap_or_default(), 0);
    let invoice = sub.pending_change.map(|p| p.invoice_id).expect("pending");
    let paid = updated_paid("evt_paid", at(2025, 3, 12).timestamp(), 12, &invoice);
    billing_events::handle(app, &paid).await.expect("paid");
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.assign_cap, sub.scheduled_change.is_none()), (12, 12, true));
    assert_eq!(s.f.payments.released.lock().map(|v| v.len()).unwrap_or_default(), 1, "released once paid");
}

#[tokio::test]
async fn a_pending_change_whose_expiry_event_never_comes_is_dropped_by_the_sweeper() {
    let s = setup(5).await;
    let app = &s.f.app;
    s.f.payments.decline.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = change_seats(&s, 7, None).await;
    assert!(matches!(r, Err(DomainError::PaymentRequired { .. })));
    // Not before its time is up.
    s.f.clock.advance(chrono::Duration::hours(1));
    assert_eq!(domain::services::sweeper::settle_stale_changes(app).await, Ok(0));
    assert!(current(&s).await.pending_change.is_some());
    // The provider forgot it (it keeps no state here: nothing pending, the old quantity).
    s.f.clock.advance(chrono::Duration::hours(23));
    assert_eq!(domain::services::sweeper::settle_stale_changes(app).await, Ok(1));
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.pending_change.is_none()), (5, true));
    s.f.payments.decline.store(false, std::sync::atomic::Ordering::SeqCst);
    let pd = Some(s.f.clock.now().timestamp());
    change_seats(&s, 7, pd).await.expect("not blocked");
}

#[tokio::test]
async fn a_retried_increase_never_cancels_a_scheduled_interval_change() {
    let s = setup(4).await;
    let app = &s.f.app;
    let pd = Some(at(2025, 3, 11).timestamp());
    change_interval(&s, Interval::Year, pd).await.expect("to annual");
    change_interval(&s, Interval::Month, None).await.expect("to monthly, scheduled");
    let more = || SeatChangeRequest { seats: 6, proration_date: None };
    changes::apply_seats(app, &s.merchant, &s.sub.id, more()).await.expect("increase");
    changes::apply_seats(app, &s.merchant, &s.sub.id, more()).await.expect("the same, retried");
    assert!(matches!(current(&s).await.scheduled_change, Some(ScheduledChange::IntervalChange { .. })));
}

#[tokio::test]
async fn no_change_starts_while_the_period_is_renewing() {
    let s = setup(5).await;
    let app = &s.f.app;
    // The period ended; the provider's renewal event has not arrived yet.
    s.f.clock.advance(at(2025, 4, 1) - at(2025, 3, 11));
    for seats in [7, 3] {
        let r = changes::apply_seats(
            app,
            &s.merchant,
            &s.sub.id,
            SeatChangeRequest { seats, proration_date: None },
        )
        .await;
        assert!(matches!(r, Err(DomainError::Conflict(ref m)) if m.contains("renewing")), "{seats}: {r:?}");
    }
    assert!(s.f.payments.charges.lock().map(|v| v.is_empty()).unwrap_or_default());
    assert!(s.f.payments.schedules.lock().map(|v| v.is_empty()).unwrap_or_default());
    let sub = current(&s).await;
    assert_eq!((sub.seats, sub.change_intent.is_none(), sub.scheduled_change.is_none()), (5, true, true));
}
