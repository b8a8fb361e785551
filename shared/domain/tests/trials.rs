//! Free trials, in memory (the offline gateway's way): a product's `trial_days` starts each
//! purchase `trialing` for that long, nothing charged; seats are assigned and claimed meanwhile;
//! more seats cost nothing until the first invoice, which comes at the trial's end.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::error::DomainError;
use domain::events::{ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::services::catalogue::{self, NewPrice, NewPrices, NewProduct};
use domain::services::changes::{self, IntervalChangeRequest, SeatChangeRequest};
use domain::services::claims::{self, ClaimRequest};
use domain::services::invoices::{self, InvoiceQuery};
use domain::services::seats::{self, AssignSeat};
use domain::services::{billing_events, purchase, Principal};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).single().expect("date")
}

#[tokio::test]
async fn a_trial_charges_nothing_seats_work_and_the_first_invoice_comes_at_its_end() {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { year: Some(10000), trial_days: Some(14), ..Default::default() };
    let product = fixtures::product(&f.app, &merchant, &plan).await.expect("product");
    assert_eq!(product.trial_days, Some(14));
    let chk = purchase::create_checkout(
        &f.app,
        &Principal::Public,
        purchase::NewCheckout {
            product_id: product.id.clone(),
            interval: Interval::Month,
            seats: 3,
            customer_email: "boss@corp.example".into(),
            success_url: "https://corp.example/ok".into(),
            cancel_url: "https://corp.example/no".into(),
        },
    )
    .await
    .expect("checkout");
    assert_eq!((chk.trial_days, chk.amount_due), (Some(14), 3000), "3000 at the trial's end, nothing now");
    let sessions = f.payments.sessions.lock().expect("sessions").clone();
    assert_eq!(sessions[0].trial_days, Some(14), "the provider starts the trial");
    let done = PaymentEvent {
        id: "evt_done".into(),
        created: t0().timestamp(),
        kind: PaymentEventKind::CheckoutCompleted {
            checkout_id: chk.id.clone(),
            provider_subscription_id: "sub_trial".into(),
            provider_customer_id: None,
        },
    };
    billing_events::handle(&f.app, &done).await.expect("completed");
    let sub = f.app.store.subscription_by_provider_id("sub_trial").await.expect("store").expect("sub");
    let trial_end = t0() + Duration::days(14);
    assert_eq!(
        (sub.status, sub.current_period_end, sub.trial_end),
        (SubscriptionStatus::Trialing, trial_end, Some(trial_end))
    );
    let boss = Principal::Customer {
        customer_id: sub.customer_id.clone(),
        organization_id: sub.organization_id.clone(),
    };
    let listed = invoices::list(&f.app, &boss, &sub.id, InvoiceQuery::default()).await.expect("invoices");
    assert_eq!(
        listed.data.iter().map(|i| (i.total, i.status.as_str())).collect::<Vec<_>>(),
        [(0, "paid")],
        "the trial's invoice is free"
    );

    // Seats are assigned and claimed during the trial.
    f.run_jobs().await.expect("jobs");
    seats::assign(
        &f.app,
        &boss,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), ..Default::default() },
    )
    .await
    .expect("assign");
    let token = f.queue.take().into_iter().find_map(|j| j.claim_token).expect("link");
    let holder =
        claims::claim(&f.app, ClaimRequest { token }).await.expect("claim").seat.customer_id.expect("holder");
    f.run_jobs().await.expect("grants");
    let grants = f.app.store.grants_of_customer(&holder).await.expect("grants");
    assert_eq!(grants.iter().filter(|g| g.status == GrantStatus::Granted).count(), 1);

    // More seats cost nothing now; the interval waits for the first payment.
    f.clock.advance(Duration::days(3));
    let more =
        changes::preview_seats(&f.app, &boss, &sub.id, SeatChangeRequest { seats: 5, proration_date: None })
            .await
            .expect("preview");
    assert_eq!((more.amount_due_now, more.next_renewal_amount, more.lines.len()), (0, 5000, 0));
    let applied = changes::apply_seats(
        &f.app,
        &boss,
        &sub.id,
        SeatChangeRequest { seats: 5, proration_date: Some(more.proration_date) },
    )
    .await
    .expect("more seats");
    assert_eq!((applied.subscription.seats, applied.amount_due_now), (5, 0));
    assert!(f.payments.charges.lock().expect("charges")[0].trialing, "the provider is told it is a trial");
    let fewer =
        changes::apply_seats(&f.app, &boss, &sub.id, SeatChangeRequest { seats: 4, proration_date: None })
            .await;
    assert!(matches!(fewer, Err(DomainError::InvalidState(ref m)) if m.contains("trial")), "{fewer:?}");
    let yearly = changes::preview_interval(
        &f.app,
        &boss,
        &sub.id,
        IntervalChangeRequest { interval: Interval::Year, proration_date: None },
    )
    .await;
    assert!(matches!(yearly, Err(DomainError::InvalidState(ref m)) if m.contains("trial")), "{yearly:?}");

    // The trial ends: the first invoice bills the 5 seats for the first month.
    let next = trial_end + Duration::days(30);
    f.clock.set(trial_end + Duration::minutes(1));
    let first = PaymentEvent {
        id: "evt_first".into(),
        created: trial_end.timestamp(),
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: "sub_trial".into(),
            checkout_id: None,
            state: SubscriptionState {
                status: "active".into(),
                period: Some((trial_end.timestamp(), next.timestamp())),
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
    billing_events::handle(&f.app, &first).await.expect("first invoice");
    let sub = f.app.store.subscription(&sub.id).await.expect("store").expect("sub");
    assert_eq!((sub.status, sub.current_period_end), (SubscriptionStatus::Active, next));
    let listed = invoices::list(&f.app, &boss, &sub.id, InvoiceQuery::default()).await.expect("invoices");
    assert_eq!(
        (listed.data[0].total, listed.data[0].billing_reason.as_deref()),
        (5000, Some("subscription_cycle"))
    );
    // The same buyer buying the product again pays from the start: one trial per buyer.
    let again = purchase::create_checkout(
        &f.app,
        &Principal::Public,
        purchase::NewCheckout {
            product_id: product.id.clone(),
            interval: Interval::Month,
            seats: 2,
            customer_email: "boss@corp.example".into(),
            success_url: "https://corp.example/ok".into(),
            cancel_url: "https://corp.example/no".into(),
        },
    )
    .await
    .expect("checkout");
    assert_eq!(again.trial_days, None);
    assert_eq!(f.payments.sessions.lock().expect("sessions").last().and_then(|s| s.trial_days), None);
}

#[tokio::test]
async fn trial_days_outside_one_to_730_are_refused() {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    for days in [0, 731] {
        let r = catalogue::create_product(
            &f.app,
            &merchant,
            NewProduct {
                name: "Pro".into(),
                description: None,
                currency: "usd".into(),
                prices: NewPrices { month: Some(NewPrice { unit_amount: 1000 }), year: None },
                min_seats: None,
                max_seats: None,
                benefit_ids: vec![],
                when_full: None,
                trial_days: Some(days),
            },
        )
        .await;
        assert!(
            matches!(r, Err(DomainError::InvalidRequest { field: Some(ref x), .. }) if x == "trial_days"),
            "{days}: {r:?}"
        );
    }
}
