//! Dunning, in memory with a moving clock: a renewal's failed payment makes the subscription
//! past due with seats still working, mails the billing manager once (through the outbox) with
//! the page to pay, and shows what is due and until when; paid in time it ends and says so;
//! unpaid at the end of the organization's grace days it lapses (cancelled at the provider).

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::error::DomainError;
use domain::events::{FailedInvoice, ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::services::catalogue::{self, OrganizationSettings};
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{billing_events, sweeper, Principal};
use domain::views::SubscriptionView;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 8, 3, 10, 0, 0).single().expect("date")
}

struct World {
    f: Fakes,
    merchant: Principal,
    sub: Subscription,
    holder: String,
}

async fn world(provider_sub: &str) -> World {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, 5, "boss@corp.example", t0().timestamp(), provider_sub)
        .await
        .expect("bought");
    f.run_jobs().await.expect("jobs");
    seats::assign(
        &f.app,
        &merchant,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), ..Default::default() },
    )
    .await
    .expect("assign");
    let token = f.queue.take().into_iter().find_map(|j| j.claim_token).expect("link");
    let holder =
        claims::claim(&f.app, ClaimRequest { token }).await.expect("claim").seat.customer_id.expect("holder");
    f.run_jobs().await.expect("grants");
    let sub = f.app.store.subscription(&sub.id).await.expect("store").expect("sub");
    World { f, merchant, sub, holder }
}

fn renewal(w: &World, provider_sub: &str) -> PaymentEvent {
    let (start, end) = (w.sub.current_period_end, w.sub.current_period_end + Duration::days(31));
    PaymentEvent {
        id: format!("evt_renewal_{provider_sub}"),
        created: start.timestamp(),
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: provider_sub.into(),
            checkout_id: None,
            state: SubscriptionState {
                status: "active".into(),
                period: Some((start.timestamp(), end.timestamp())),
                item: Some(ItemState {
                    id: Some("si_1".into()),
                    quantity: 5,
                    interval: Some("month".into()),
                }),
                pending_update: false,
                latest_invoice: Some("in_renewal".into()),
                cancellation: None,
            },
        },
    }
}

fn failed(id: &str, provider_sub: &str, at: DateTime<Utc>) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created: at.timestamp(),
        kind: PaymentEventKind::InvoicePaymentFailed {
            provider_subscription_id: provider_sub.into(),
            checkout_id: None,
            billing_reason: Some("subscription_cycle".into()),
            invoice: Some(FailedInvoice {
                id: "in_renewal".into(),
                amount_due: 5000,
                hosted_invoice_url: Some("https://pay.example/in_renewal".into()),
            }),
        },
    }
}

fn paid(id: &str, provider_sub: &str, at: DateTime<Utc>) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created: at.timestamp(),
        kind: PaymentEventKind::InvoicePaid {
            provider_subscription_id: provider_sub.into(),
            checkout_id: None,
            invoice_id: Some("in_renewal".into()),
            billing_reason: Some("subscription_cycle".into()),
        },
    }
}

async fn read(w: &World) -> Subscription {
    w.f.app.store.subscription(&w.sub.id).await.expect("store").expect("sub")
}

async fn live_grants(w: &World) -> usize {
    let grants = w.f.app.store.grants_of_customer(&w.holder).await.expect("grants");
    grants.iter().filter(|g| g.status == GrantStatus::Granted).count()
}

fn mails_to_boss(w: &World) -> Vec<domain::ports::OutgoingEmail> {
    w.f.mailer.sent().into_iter().filter(|m| m.to == "boss@corp.example").collect()
}

#[tokio::test]
async fn a_failed_renewal_mails_once_keeps_the_seats_and_paid_in_time_ends_and_says_so() {
    let w = world("sub_dun").await;
    let end = w.sub.current_period_end;
    w.f.clock.set(end + Duration::minutes(1));
    billing_events::handle(&w.f.app, &renewal(&w, "sub_dun")).await.expect("renewal");
    let before = mails_to_boss(&w).len();
    let failed_at = end + Duration::hours(1);
    w.f.clock.set(failed_at);
    billing_events::handle(&w.f.app, &failed("evt_f1", "sub_dun", failed_at)).await.expect("failed");
    let s = read(&w).await;
    assert_eq!(s.status, SubscriptionStatus::PastDue);
    let view = SubscriptionView::from(&s).payment_failed.expect("the banner's facts");
    assert_eq!(
        (view.amount_due, view.access_until, view.attempts),
        (5000, failed_at + Duration::days(14), 1)
    );
    assert_eq!(view.payment_url.as_deref(), Some("https://pay.example/in_renewal"));
    w.f.run_jobs().await.expect("mail");
    let mails = mails_to_boss(&w);
    assert_eq!(mails.len() - before, 1, "one mail");
    let mail = mails.last().expect("mail");
    assert!(
        mail.subject.contains("Payment failed") && mail.subject.contains("50.00 USD"),
        "{}",
        mail.subject
    );
    assert!(mail.text.contains("https://pay.example/in_renewal"), "{}", mail.text);
    assert!(
        mail.text.contains(&(failed_at + Duration::days(14)).format("%-d %B %Y").to_string()),
        "{}",
        mail.text
    );
    assert_eq!(live_grants(&w).await, 1, "access kept while past due");

    // Stripe retries and fails again: counted, no second mail, the same end.
    w.f.clock.advance(Duration::days(3));
    billing_events::handle(&w.f.app, &failed("evt_f2", "sub_dun", failed_at + Duration::days(3)))
        .await
        .expect("again");
    let s = read(&w).await;
    let d = s.dunning.clone().expect("still unpaid");
    assert_eq!((d.attempts, d.access_until), (2, failed_at + Duration::days(14)));
    w.f.run_jobs().await.expect("jobs");
    assert_eq!(mails_to_boss(&w).len() - before, 1, "still one mail");

    // Paid before the end: active again, the banner gone, and the manager told.
    w.f.clock.advance(Duration::days(2));
    billing_events::handle(&w.f.app, &paid("evt_p", "sub_dun", failed_at + Duration::days(5)))
        .await
        .expect("paid");
    let s = read(&w).await;
    assert_eq!((s.status, s.dunning.is_none()), (SubscriptionStatus::Active, true));
    assert!(SubscriptionView::from(&s).payment_failed.is_none());
    w.f.run_jobs().await.expect("mail");
    let last = mails_to_boss(&w).last().cloned().expect("mail");
    assert!(last.subject.contains("Payment received"), "{}", last.subject);
    let kinds: Vec<String> =
        w.f.app.store.audit_events(&w.sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert!(
        kinds.contains(&"subscription.payment_failed".to_string())
            && kinds.contains(&"subscription.payment_recovered".to_string()),
        "{kinds:?}"
    );
    // The grace's end passes: nothing lapses.
    w.f.clock.set(failed_at + Duration::days(15));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").unpaid_lapsed, 0);
    assert_eq!((read(&w).await.status, live_grants(&w).await), (SubscriptionStatus::Active, 1));
    assert!(w.f.payments.canceled_now.lock().expect("calls").is_empty());
}

#[tokio::test]
async fn unpaid_at_the_end_of_the_organizations_grace_days_it_lapses_and_is_cancelled_at_the_provider() {
    let w = world("sub_unpaid").await;
    let org_id = w.sub.organization_id.clone();
    // The merchant shortens the grace to 3 days; nonsense and strangers are refused.
    let too_long = catalogue::update_organization(
        &w.f.app,
        &w.merchant,
        &org_id,
        OrganizationSettings { grace_days: Some(61), automatic_tax: None },
    )
    .await;
    assert!(
        matches!(too_long, Err(DomainError::InvalidRequest { field: Some(ref f), .. }) if f == "grace_days"),
        "{too_long:?}"
    );
    let (other, _) = fixtures::merchant(&w.f.app, "globex").await.expect("other");
    let r = catalogue::update_organization(
        &w.f.app,
        &other,
        &org_id,
        OrganizationSettings { grace_days: Some(1), automatic_tax: None },
    )
    .await;
    assert_eq!(r.err(), Some(DomainError::NotFound("organization")));
    let org = catalogue::update_organization(
        &w.f.app,
        &w.merchant,
        &org_id,
        OrganizationSettings { grace_days: Some(3), automatic_tax: None },
    )
    .await
    .expect("settings");
    assert_eq!(org.grace_days, Some(3));

    let end = w.sub.current_period_end;
    w.f.clock.set(end + Duration::minutes(1));
    billing_events::handle(&w.f.app, &renewal(&w, "sub_unpaid")).await.expect("renewal");
    let failed_at = end + Duration::hours(2);
    w.f.clock.set(failed_at);
    billing_events::handle(&w.f.app, &failed("evt_f", "sub_unpaid", failed_at)).await.expect("failed");
    let until = failed_at + Duration::days(3);
    assert_eq!(read(&w).await.dunning.map(|d| d.access_until), Some(until));
    // Stripe still calls it past due; a second before the end nothing happens.
    w.f.clock.set(until - Duration::seconds(1));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").unpaid_lapsed, 0);
    w.f.clock.set(until);
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").unpaid_lapsed, 1);
    assert_eq!(*w.f.payments.canceled_now.lock().expect("calls"), vec!["sub_unpaid".to_string()]);
    assert_eq!(
        *w.f.payments.voided.lock().expect("calls"),
        vec!["in_renewal".to_string()],
        "never payable for nothing"
    );
    let s = read(&w).await;
    assert_eq!((s.status, s.dunning.is_none()), (SubscriptionStatus::Canceled, true));
    assert_eq!(s.suspended_until, Some(until + Duration::days(30)), "its seats wait for a reactivation");
    w.f.run_jobs().await.expect("suspend");
    assert_eq!(live_grants(&w).await, 0, "benefits end with the grace");
    let lapse = w.f.app.store.audit_events(&w.sub.id).await.expect("audit");
    assert!(lapse.iter().any(|e| e.kind == "subscription.lapsed" && e.actor == "system:sweeper"));
    // Once; and a late payment of the old invoice changes nothing (canceled is final).
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").unpaid_lapsed, 0);
    billing_events::handle(&w.f.app, &paid("evt_late", "sub_unpaid", until + Duration::hours(1)))
        .await
        .expect("late");
    assert_eq!(read(&w).await.status, SubscriptionStatus::Canceled);
}

fn updated(
    id: &str,
    provider_sub: &str,
    at: DateTime<Utc>,
    status: &str,
    period: (DateTime<Utc>, DateTime<Utc>),
) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created: at.timestamp(),
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: provider_sub.into(),
            checkout_id: None,
            state: SubscriptionState {
                status: status.into(),
                period: Some((period.0.timestamp(), period.1.timestamp())),
                item: Some(ItemState {
                    id: Some("si_1".into()),
                    quantity: 5,
                    interval: Some("month".into()),
                }),
                pending_update: false,
                latest_invoice: Some("in_renewal".into()),
                cancellation: None,
            },
        },
    }
}

#[tokio::test]
async fn paid_with_the_events_out_of_order_the_dunning_still_ends_and_nothing_lapses() {
    let w = world("sub_order").await;
    let end = w.sub.current_period_end;
    let period = (end, end + Duration::days(31));
    w.f.clock.set(end + Duration::minutes(1));
    billing_events::handle(&w.f.app, &renewal(&w, "sub_order")).await.expect("renewal");
    let failed_at = end + Duration::hours(1);
    w.f.clock.set(failed_at);
    billing_events::handle(&w.f.app, &failed("evt_f", "sub_order", failed_at)).await.expect("failed");
    // Paid: Stripe's subscription update (active) arrives before its invoice.paid, which is then
    // older than what was applied.
    let paid_at = failed_at + Duration::days(2);
    w.f.clock.set(paid_at);
    billing_events::handle(
        &w.f.app,
        &updated("evt_active", "sub_order", paid_at + Duration::seconds(1), "active", period),
    )
    .await
    .expect("active");
    billing_events::handle(&w.f.app, &paid("evt_paid", "sub_order", paid_at)).await.expect("paid, late");
    let s = read(&w).await;
    assert_eq!((s.status, s.dunning.is_none()), (SubscriptionStatus::Active, true));
    w.f.clock.set(failed_at + Duration::days(15));
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").unpaid_lapsed, 0);
    assert!(
        w.f.payments.canceled_now.lock().expect("calls").is_empty(),
        "never cancelled a paid subscription"
    );
}

#[tokio::test]
async fn at_the_end_of_the_grace_a_provider_that_says_paid_or_a_change_in_flight_stops_the_lapse() {
    let w = world("sub_late").await;
    let end = w.sub.current_period_end;
    w.f.clock.set(end + Duration::minutes(1));
    billing_events::handle(&w.f.app, &renewal(&w, "sub_late")).await.expect("renewal");
    // Stripe says past due, and its payment_failed event never came: the dunning starts anyway.
    let period = (end, end + Duration::days(31));
    let at = end + Duration::hours(3);
    w.f.clock.set(at);
    billing_events::handle(&w.f.app, &updated("evt_pd", "sub_late", at, "past_due", period))
        .await
        .expect("past due");
    let d = read(&w).await.dunning.expect("a dunning from the status alone");
    assert_eq!((d.access_until, d.amount_due), (at + Duration::days(14), 5000));
    // At the end the provider says it was paid (its events not here yet): no lapse, it ends.
    w.f.clock.set(d.access_until);
    *w.f.payments.state.lock().expect("state") = Some(domain::ports::ProviderSubscription {
        id: "sub_late".into(),
        status: "active".into(),
        item_id: "si_1".into(),
        quantity: 5,
        interval: Interval::Month,
        period_start: period.0.timestamp(),
        period_end: period.1.timestamp(),
        pending_update_expires_at: None,
        schedule_id: None,
        latest_invoice: None,
        cancel_at_period_end: false,
    });
    assert_eq!(sweeper::sweep(&w.f.app, 60).await.expect("sweep").unpaid_lapsed, 0);
    let s = read(&w).await;
    assert_eq!((s.status, s.dunning.is_none()), (SubscriptionStatus::Active, true));
    assert!(w.f.payments.canceled_now.lock().expect("calls").is_empty());
    assert!(w.f.payments.voided.lock().expect("calls").is_empty());
}

#[tokio::test]
async fn a_dunning_mail_delivered_twice_is_sent_once() {
    let w = world("sub_twice").await;
    let end = w.sub.current_period_end;
    w.f.clock.set(end + Duration::minutes(1));
    billing_events::handle(&w.f.app, &renewal(&w, "sub_twice")).await.expect("renewal");
    w.f.clock.set(end + Duration::hours(1));
    billing_events::handle(&w.f.app, &failed("evt_f", "sub_twice", end + Duration::hours(1)))
        .await
        .expect("failed");
    let jobs = w.f.queue.take();
    let notice = jobs.iter().find(|j| j.kind == JobKind::PaymentFailed).expect("the mail's job").clone();
    let before = mails_to_boss(&w).len();
    domain::services::benefits::process(&w.f.app, &notice).await.expect("mailed");
    domain::services::benefits::process(&w.f.app, &notice).await.expect("delivered again");
    assert_eq!(mails_to_boss(&w).len() - before, 1);
}
