//! Seat-count and interval changes through the use cases over the in-memory fakes: API.md's
//! worked examples to the cent, decreases at period end with the assign cap, renewals that
//! apply the schedule, the provider's first period, and a lapse that revokes every seat.
//! Payment first is in `pay_first.rs`; what Stripe itself does is tested against the simulator
//! (tests/tests/e2e_stripe.rs, shared/adapters/tests/stripe_simulated.rs).

mod common;

use common::*;
use domain::error::DomainError;
use domain::events::{PaymentEvent, PaymentEventKind};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::proration::Effective;
use domain::services::changes::{self, IntervalChangeRequest, SeatChangeRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{benefits, billing_events};
use proptest::prelude::*;

#[tokio::test]
async fn the_worked_examples_to_the_cent() {
    let s = setup(5).await;
    let app = &s.f.app;
    let pd = Some(at(2025, 3, 11).timestamp());
    let preview = changes::preview_seats(
        app,
        &s.merchant,
        &s.sub.id,
        SeatChangeRequest { seats: 8, proration_date: pd },
    )
    .await
    .expect("preview");
    assert_eq!(amounts(&preview), vec![-3387, 5419]);
    assert_eq!(preview.amount_due_now, 2032);
    assert_eq!(current(&s).await.seats, 5, "a preview persists nothing");

    let applied = change_seats(&s, 8, pd).await.expect("apply");
    assert_eq!(
        (amounts(&applied), applied.amount_due_now),
        (vec![-3387, 5419], 2032),
        "charged as API.md says"
    );
    assert_eq!((applied.subscription.seats, applied.subscription.seats_available), (8, 8));
    let asked = s.f.payments.charges.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].quantity, asked[0].proration_date),
        (8, at(2025, 3, 11).timestamp()),
        "the gateway prorates at the same instant"
    );

    let annual = changes::preview_interval(
        app,
        &s.merchant,
        &s.sub.id,
        IntervalChangeRequest { interval: Interval::Year, proration_date: pd },
    )
    .await
    .expect("preview");
    assert_eq!(amounts(&annual), vec![-5419, 80000]);
    assert_eq!(annual.amount_due_now, 74581);
    let switched = change_interval(&s, Interval::Year, pd).await.expect("apply");
    assert_eq!(switched.amount_due_now, 74581);
    let sub = current(&s).await;
    assert_eq!((sub.interval, sub.unit_amount, sub.seats), (Interval::Year, 10000, 8));
    assert_eq!((sub.current_period_start, sub.current_period_end), (at(2025, 3, 11), at(2026, 3, 11)));
    let kinds: Vec<String> =
        s.f.store.audit_events(&s.sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert!(
        kinds.contains(&"subscription.seats_increased".to_string())
            && kinds.contains(&"subscription.interval_changed".to_string())
    );
}

#[tokio::test]
async fn decreases_wait_for_the_period_end_and_cap_assigning() {
    let s = setup(5).await;
    let app = &s.f.app;
    for i in 0..2 {
        seats::assign(
            app,
            &s.merchant,
            &s.sub.id,
            AssignSeat { email: format!("p{i}@corp.example"), metadata: None, ..Default::default() },
        )
        .await
        .expect("assign");
    }
    let below = change_seats(&s, 1, None).await;
    assert!(matches!(below, Err(DomainError::InvalidRequest { .. })), "below min_seats is 400: {below:?}");
    let r = change_seats(&s, 21, None).await;
    assert!(matches!(r, Err(DomainError::InvalidRequest { .. })));
    let r = changes::preview_seats(
        app,
        &s.merchant,
        &s.sub.id,
        SeatChangeRequest { seats: 6, proration_date: Some(at(2025, 4, 2).timestamp()) },
    )
    .await;
    assert!(
        matches!(r, Err(DomainError::InvalidRequest { field: Some(ref f), .. }) if f == "proration_date")
    );

    let d = change_seats(&s, 3, None).await.expect("decrease");
    assert_eq!((d.effective, d.amount_due_now, d.effective_at), (Effective::PeriodEnd, 0, at(2025, 4, 1)));
    assert_eq!(
        (d.subscription.seats, d.subscription.seats_available),
        (5, 1),
        "paid seats stay; assigning is capped at 3"
    );
    seats::assign(
        app,
        &s.merchant,
        &s.sub.id,
        AssignSeat { email: "p2@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await
    .expect("up to the cap");
    let r = seats::assign(
        app,
        &s.merchant,
        &s.sub.id,
        AssignSeat { email: "p3@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await;
    assert_eq!(r.err(), Some(DomainError::NoSeatsAvailable));
    let r = change_seats(&s, 2, None).await;
    assert_eq!(r.err(), Some(DomainError::SeatsBelowAssigned { assigned: 3 }));

    // Renewal: the new period applies the decrease.
    let renew = updated(
        "evt_renew",
        at(2025, 4, 1).timestamp(),
        Some((at(2025, 4, 1).timestamp(), at(2025, 5, 1).timestamp())),
        3,
        "month",
    );
    billing_events::handle(app, &renew).await.expect("renewal");
    let sub = current(&s).await;
    assert_eq!(
        (sub.seats, sub.seats_assigned, sub.assign_cap, sub.scheduled_change.is_none()),
        (3, 3, 3, true)
    );
    // The same event again changes nothing.
    assert_eq!(billing_events::handle(app, &renew).await, Ok(billing_events::Outcome::Duplicate));
}

#[tokio::test]
async fn the_same_count_cancels_a_scheduled_decrease() {
    let s = setup(5).await;
    let app = &s.f.app;
    change_seats(&s, 3, None).await.expect("decrease");
    assert!(current(&s).await.scheduled_change.is_some());
    let same = change_seats(&s, 5, None).await.expect("same");
    assert_eq!((same.amount_due_now, same.subscription.seats_available), (0, 5));
    assert!(current(&s).await.scheduled_change.is_none());
    change_seats(&s, 4, None).await.expect("decrease");
    let sub = changes::cancel_scheduled(app, &s.merchant, &s.sub.id).await.expect("cancel");
    assert!(sub.scheduled_change.is_none());
    assert_eq!(
        changes::cancel_scheduled(app, &s.merchant, &s.sub.id).await.err(),
        Some(DomainError::NotFound("scheduled change"))
    );
}

#[tokio::test]
async fn annual_to_monthly_waits_for_the_renewal() {
    let s = setup(4).await;
    let app = &s.f.app;
    let pd = Some(at(2025, 3, 11).timestamp());
    change_interval(&s, Interval::Year, pd).await.expect("to annual");
    let back = change_interval(&s, Interval::Month, None).await.expect("to monthly");
    assert_eq!(
        (back.effective, back.amount_due_now, back.next_renewal_amount),
        (Effective::PeriodEnd, 0, 4000)
    );
    assert_eq!(current(&s).await.interval, Interval::Year, "still annual until the period ends");
    let same = change_interval(&s, Interval::Month, None).await;
    assert!(same.is_err() || current(&s).await.scheduled_change.is_some());
    let renew = updated(
        "evt_renew",
        at(2026, 3, 11).timestamp(),
        Some((at(2026, 3, 11).timestamp(), at(2026, 4, 11).timestamp())),
        4,
        "month",
    );
    billing_events::handle(app, &renew).await.expect("renewal");
    let sub = current(&s).await;
    assert_eq!(
        (sub.interval, sub.unit_amount, sub.scheduled_change.is_none()),
        (Interval::Month, 1000, true)
    );
}

#[tokio::test]
async fn a_lapse_suspends_every_seat_and_revokes_its_benefits_and_the_window_end_revokes_the_seats() {
    let s = setup(20).await;
    let app = &s.f.app;
    for i in 0..12 {
        seats::assign(
            app,
            &s.merchant,
            &s.sub.id,
            AssignSeat { email: format!("p{i}@corp.example"), metadata: None, ..Default::default() },
        )
        .await
        .expect("assign");
    }
    // The worker mails the invitations; claim three of them so that their grants exist.
    for job in s.f.queue.take() {
        benefits::process(app, &job).await.expect("invitation");
    }
    let tokens: Vec<String> =
        s.f.mailer
            .sent()
            .iter()
            .filter_map(|m| {
                m.text.split("token=").nth(1).and_then(|t| t.split_whitespace().next()).map(str::to_string)
            })
            .take(3)
            .collect();
    assert_eq!(tokens.len(), 3);
    for t in tokens {
        domain::services::claims::claim(app, domain::services::claims::ClaimRequest { token: t })
            .await
            .expect("claim");
    }
    for job in s.f.queue.take() {
        benefits::process(app, &job).await.expect("grant");
    }
    let deleted = PaymentEvent {
        id: "evt_del".into(),
        created: at(2025, 3, 12).timestamp(),
        kind: PaymentEventKind::SubscriptionDeleted {
            provider_subscription_id: "sub_s".into(),
            checkout_id: None,
        },
    };
    billing_events::handle(app, &deleted).await.expect("deleted");
    assert_eq!(current(&s).await.status, SubscriptionStatus::Canceled);
    // An older update arriving afterwards does not bring it back.
    let late = updated("evt_late", at(2025, 3, 11).timestamp(), None, 20, "month");
    assert_eq!(billing_events::handle(app, &late).await, Ok(billing_events::Outcome::Stale));
    // Nor does one of the same second, or a later one: canceled is terminal.
    let same = updated("evt_same", at(2025, 3, 12).timestamp(), None, 20, "month");
    assert_eq!(billing_events::handle(app, &same).await, Ok(billing_events::Outcome::Stale));
    let later = updated("evt_later", at(2025, 3, 13).timestamp(), None, 20, "month");
    assert_eq!(billing_events::handle(app, &later).await, Ok(billing_events::Outcome::Stale));
    // Drain the queue: suspend_all pages, then the benefit revoke jobs.
    let drain = || async {
        for _ in 0..10 {
            let jobs = s.f.queue.take();
            if jobs.is_empty() {
                break;
            }
            for job in jobs {
                benefits::process(app, &job).await.expect("job");
            }
        }
    };
    drain().await;
    // Suspended: every seat kept (and counted), every benefit revoked.
    let sub = current(&s).await;
    assert_eq!((sub.status, sub.seats_assigned), (SubscriptionStatus::Canceled, 12));
    let until = sub.suspended_until.expect("suspended");
    assert_eq!(until, s.f.app.clock.now() + chrono::Duration::days(30));
    let list = seats::list(app, &s.merchant, &s.sub.id, None, None, Some("100")).await.expect("list");
    assert_eq!(list.seats.len(), 12);
    assert!(list.seats.iter().all(|x| x.status == SeatStatus::Suspended));
    let holders: Vec<String> = list.seats.iter().filter_map(|x| x.customer_id.clone()).collect();
    assert_eq!(holders.len(), 3);
    for holder in &holders {
        let grants = s.f.store.grants_of_customer(holder).await.expect("grants");
        assert!(!grants.is_empty() && grants.iter().all(|g| g.status == GrantStatus::Revoked));
    }
    // A sweep a second before the window closes leaves them; at its end they are revoked.
    s.f.clock.set(until - chrono::Duration::seconds(1));
    assert_eq!(domain::services::sweeper::sweep(app, 60).await.expect("sweep").suspensions_ended, 0);
    s.f.clock.set(until);
    assert_eq!(domain::services::sweeper::sweep(app, 60).await.expect("sweep").suspensions_ended, 1);
    assert_eq!(domain::services::sweeper::sweep(app, 60).await.expect("sweep").suspensions_ended, 0, "once");
    drain().await;
    let sub = current(&s).await;
    assert_eq!(
        (sub.status, sub.seats_assigned, sub.suspended_until),
        (SubscriptionStatus::Canceled, 0, None)
    );
    let list = seats::list(app, &s.merchant, &s.sub.id, None, None, Some("100")).await.expect("list");
    assert!(list.seats.iter().all(|x| x.status == SeatStatus::Revoked));
    let r = seats::assign(
        app,
        &s.merchant,
        &s.sub.id,
        AssignSeat { email: "late@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await;
    assert!(matches!(r, Err(DomainError::InvalidState(_))));
}

#[tokio::test]
async fn the_first_period_is_the_providers() {
    let f = Fakes::at(at(2025, 3, 1));
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    // Stripe created the subscription 3 s before the checkout's completion event.
    let completed = at(2025, 3, 1).timestamp() + 3;
    fixtures::buy(&f.app, &product, 5, "boss@corp.example", completed, "sub_s").await.expect("bought");
    let stripe_start = at(2025, 3, 1).timestamp();
    let first = updated("evt_first", completed, Some((stripe_start, at(2025, 4, 1).timestamp())), 5, "month");
    billing_events::handle(&f.app, &first).await.expect("first event");
    let sub = f.store.subscription_by_provider_id("sub_s").await.expect("store").expect("sub");
    assert_eq!((sub.current_period_start, sub.current_period_end), (at(2025, 3, 1), at(2025, 4, 1)));
    assert!(sub.period_confirmed);
    // Once confirmed, an older period no longer replaces it.
    let older = updated("evt_older", completed + 5, Some((stripe_start - 86400, stripe_start)), 5, "month");
    billing_events::handle(&f.app, &older).await.expect("older");
    let sub = f.store.subscription_by_provider_id("sub_s").await.expect("store").expect("sub");
    assert_eq!(sub.current_period_start, at(2025, 3, 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Rounding each line on its own costs at most one minor unit against the delta prorated
    /// as one line (Stripe rounds per line as well).
    #[test]
    fn two_lines_stay_within_a_minor_unit_of_the_delta(
        unit in 0i64..=100_000, from in 1i64..=10_000, by in 1i64..=500,
        remaining in 0i64..=2_678_400,
    ) {
        let period = 2_678_400;
        let to = from + by;
        let lines = -domain::proration::prorate(unit, from, remaining, period)
            + domain::proration::prorate(unit, to, remaining, period);
        let delta = domain::proration::prorate(unit, by, remaining, period);
        prop_assert!((lines - delta).abs() <= 1, "{lines} vs {delta}");
    }
}
