//! The purchase flow's use cases over the in-memory fakes: catalogue, checkout, the
//! payment provider's events (once, in order), sign-in, and who may see what.

use chrono::{DateTime, TimeZone, Utc};
use domain::error::DomainError;
use domain::events::{PaymentEvent, PaymentEventKind};
use domain::memory::*;
use domain::model::*;
use domain::ports::Store;
use domain::services::billing_events::{self, Outcome};
use domain::services::catalogue::{self, NewBenefit, NewOrganization, NewPrice, NewPrices, NewProduct};
use domain::services::portal::{self, NewSession, SignInRequest};
use domain::services::purchase::{self, NewCheckout};
use domain::services::Principal;

type World = Fakes;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 31, 12, 0, 0).single().expect("date")
}

fn world() -> World {
    Fakes::at(t0())
}

async fn merchant(w: &World, slug: &str) -> (Principal, Product) {
    let created = catalogue::create_organization(
        &w.app,
        &Principal::Operator,
        NewOrganization { name: "Acme".into(), slug: slug.into(), email: None },
    )
    .await
    .expect("organization");
    let who = domain::services::auth::authenticate(&w.app, Some(&created.api_key))
        .await
        .expect("api key authenticates");
    let benefit = catalogue::create_benefit(
        &w.app,
        &who,
        NewBenefit {
            kind: "license_key".into(),
            name: "Key".into(),
            filename: None,
            content_type: None,
            prefix: Some("ACME".into()),
            activation_limit: None,
        },
    )
    .await
    .expect("benefit");
    let product = catalogue::create_product(
        &w.app,
        &who,
        NewProduct {
            name: "Pro".into(),
            description: None,
            currency: "usd".into(),
            prices: NewPrices { month: Some(NewPrice { unit_amount: 1000 }), year: None },
            min_seats: Some(2),
            max_seats: Some(50),
            benefit_ids: vec![benefit.benefit.id.clone()],
            when_full: None,
            trial_days: None,
        },
    )
    .await
    .expect("product");
    (who, product)
}

fn checkout_input(product: &Product, seats: i64) -> NewCheckout {
    NewCheckout {
        product_id: product.id.clone(),
        interval: Interval::Month,
        seats,
        customer_email: "Boss@Corp.Example".into(),
        success_url: "https://corp.example/ok".into(),
        cancel_url: "https://corp.example/cancel".into(),
    }
}

fn completed(id: &str, checkout_id: &str, created: i64) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created,
        kind: PaymentEventKind::CheckoutCompleted {
            checkout_id: checkout_id.into(),
            provider_subscription_id: "sub_stripe_1".into(),
            provider_customer_id: Some("cus_stripe_1".into()),
        },
    }
}

fn updated(id: &str, created: i64, status: &str, period: (i64, i64)) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created,
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: "sub_stripe_1".into(),
            checkout_id: Some("chk_x".into()),
            state: domain::events::SubscriptionState {
                status: status.into(),
                period: Some(period),
                item: None,
                pending_update: false,
                latest_invoice: None,
                cancellation: None,
            },
        },
    }
}

#[tokio::test]
async fn a_completed_checkout_creates_one_active_subscription_and_mails_a_sign_in_link() {
    let w = world();
    let (_, product) = merchant(&w, "acme").await;
    let checkout = purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 5))
        .await
        .expect("checkout");
    assert_eq!(checkout.amount_due, 5000);
    assert_eq!(checkout.customer_email, "boss@corp.example");

    let e = completed("evt_1", &checkout.id, t0().timestamp());
    assert_eq!(billing_events::handle(&w.app, &e).await, Ok(Outcome::Applied));
    // The same event again, and a different event for the same checkout: nothing new.
    assert_eq!(billing_events::handle(&w.app, &e).await, Ok(Outcome::Duplicate));
    let again = completed("evt_2", &checkout.id, t0().timestamp());
    assert_eq!(billing_events::handle(&w.app, &again).await, Ok(Outcome::Stale));
    // The webhook mailed nothing itself: the link went to the worker, once.
    assert!(w.mailer.sent().is_empty());
    w.run_jobs().await.expect("the worker mails the link");

    let done = purchase::get_checkout(&w.app, &checkout.id).await.expect("checkout");
    assert_eq!(done.status, CheckoutStatus::Completed);
    let sub = w
        .store
        .subscription(done.subscription_id.as_deref().unwrap_or_default())
        .await
        .expect("store")
        .expect("subscription");
    assert_eq!((sub.status, sub.seats, sub.seats_assigned), (SubscriptionStatus::Active, 5, 0));
    // Jan 31 + one month is clamped to Feb 28, as Stripe anchors.
    assert_eq!(sub.current_period_end, Utc.with_ymd_and_hms(2025, 2, 28, 12, 0, 0).single().expect("date"));

    let mails = w.mailer.sent();
    assert_eq!(mails.len(), 1, "one sign-in email");
    assert_eq!(mails[0].to, "boss@corp.example");
    assert!(mails[0].text.contains("/portal/sign-in?code=sic_"));
    assert_eq!(w.store.audit_events(&sub.id).await.expect("audit").len(), 1);
}

#[tokio::test]
async fn checkout_input_is_checked_against_the_product() {
    let w = world();
    let (_, product) = merchant(&w, "acme").await;
    let field = |r: Result<_, DomainError>| match r {
        Err(DomainError::InvalidRequest { field, .. }) => field,
        other => panic!("expected invalid_request, got {other:?}"),
    };
    assert_eq!(
        field(purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 1)).await),
        Some("seats".into())
    );
    assert_eq!(
        field(purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 51)).await),
        Some("seats".into())
    );
    let mut yearly = checkout_input(&product, 5);
    yearly.interval = Interval::Year;
    assert_eq!(
        field(purchase::create_checkout(&w.app, &Principal::Public, yearly).await),
        Some("interval".into())
    );
    let mut unknown = checkout_input(&product, 5);
    unknown.product_id = domain::ids::new_id("prod");
    assert_eq!(
        field(purchase::create_checkout(&w.app, &Principal::Public, unknown).await),
        Some("product_id".into())
    );
    let mut bad_email = checkout_input(&product, 5);
    bad_email.customer_email = "not-an-email".into();
    assert_eq!(
        field(purchase::create_checkout(&w.app, &Principal::Public, bad_email).await),
        Some("customer_email".into())
    );
    // The bounds themselves are fine.
    assert!(purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 2)).await.is_ok());
    assert!(purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 50))
        .await
        .is_ok());
}

#[tokio::test]
async fn older_or_repeated_subscription_events_never_roll_state_back() {
    let w = world();
    let (_, product) = merchant(&w, "acme").await;
    let checkout = purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 3))
        .await
        .expect("checkout");
    let start = t0().timestamp();
    billing_events::handle(&w.app, &completed("evt_c", &checkout.id, start)).await.expect("completed");

    let next = (start + 100, start + 2_678_400);
    let newer = updated("evt_new", start + 50, "past_due", next);
    assert_eq!(billing_events::handle(&w.app, &newer).await, Ok(Outcome::Applied));
    // An older event (earlier `created`) arriving late is recorded but changes nothing.
    let older = updated("evt_old", start + 10, "active", (start, start + 100));
    assert_eq!(billing_events::handle(&w.app, &older).await, Ok(Outcome::Stale));
    assert_eq!(billing_events::handle(&w.app, &newer).await, Ok(Outcome::Duplicate));

    let sub = w.store.subscription_by_provider_id("sub_stripe_1").await.expect("store").expect("sub");
    assert_eq!(sub.status, SubscriptionStatus::PastDue);
    assert_eq!(sub.current_period_start.timestamp(), next.0);

    // A paid invoice afterwards clears past_due.
    let paid = PaymentEvent {
        id: "evt_paid".into(),
        created: start + 60,
        kind: PaymentEventKind::InvoicePaid {
            provider_subscription_id: "sub_stripe_1".into(),
            checkout_id: Some("chk_x".into()),
            invoice_id: Some("in_renewal".into()),
            billing_reason: Some("subscription_cycle".into()),
        },
    };
    assert_eq!(billing_events::handle(&w.app, &paid).await, Ok(Outcome::Applied));
    let sub = w.store.subscription_by_provider_id("sub_stripe_1").await.expect("store").expect("sub");
    assert_eq!(sub.status, SubscriptionStatus::Active);
}

#[tokio::test]
async fn an_update_for_an_unknown_subscription_asks_for_redelivery() {
    let w = world();
    let (_, product) = merchant(&w, "acme").await;
    let checkout = purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 3))
        .await
        .expect("checkout");
    // Its subscription's update overtook the checkout's completion: delivered again later.
    let mut e = updated("evt_early", t0().timestamp(), "active", (1, 2));
    if let PaymentEventKind::SubscriptionUpdated { checkout_id, .. } = &mut e.kind {
        *checkout_id = Some(checkout.id.clone());
    }
    assert!(matches!(billing_events::handle(&w.app, &e).await, Err(DomainError::Conflict(_))));
    // Not recorded as seen: the redelivery can still apply.
    assert!(w.store.record_event("evt_early", t0()).await.expect("store"));
}

#[tokio::test]
async fn sign_in_codes_work_once_and_expire() {
    let w = world();
    let (_, product) = merchant(&w, "acme").await;
    let checkout = purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 3))
        .await
        .expect("checkout");
    billing_events::handle(&w.app, &completed("evt_c", &checkout.id, t0().timestamp()))
        .await
        .expect("completed");
    w.run_jobs().await.expect("jobs");
    let code_of = |text: &str| {
        text.split("code=")
            .nth(1)
            .map(|c| c.split_whitespace().next().unwrap_or_default().to_string())
            .expect("code")
    };

    let code = code_of(&w.mailer.sent()[0].text);
    let session = portal::create_session(&w.app, NewSession { code: code.clone() }).await.expect("session");
    assert!(session.token.starts_with("cs_"));
    assert!(portal::create_session(&w.app, NewSession { code }).await.is_err(), "a code works once");

    // Unknown people and organizations get the same quiet answer and no mail.
    let before = w.mailer.sent().len();
    portal::sign_in(
        &w.app,
        SignInRequest { organization_slug: "acme".into(), email: "nobody@corp.example".into() },
    )
    .await
    .expect("quiet");
    portal::sign_in(
        &w.app,
        SignInRequest { organization_slug: "nope".into(), email: "boss@corp.example".into() },
    )
    .await
    .expect("quiet");
    w.run_jobs().await.expect("jobs");
    assert_eq!(w.mailer.sent().len(), before);

    portal::sign_in(
        &w.app,
        SignInRequest { organization_slug: "acme".into(), email: "boss@corp.example".into() },
    )
    .await
    .expect("mailed");
    w.run_jobs().await.expect("jobs");
    let code = code_of(&w.mailer.sent().last().expect("mail").text);
    w.clock.advance(chrono::Duration::minutes(16));
    assert!(portal::create_session(&w.app, NewSession { code }).await.is_err(), "codes expire");
}

#[tokio::test]
async fn another_organization_sees_nothing() {
    let w = world();
    let (acme, product) = merchant(&w, "acme").await;
    let (globex, _) = merchant(&w, "globex").await;
    let checkout = purchase::create_checkout(&w.app, &Principal::Public, checkout_input(&product, 3))
        .await
        .expect("checkout");
    billing_events::handle(&w.app, &completed("evt_c", &checkout.id, t0().timestamp()))
        .await
        .expect("completed");
    let sub_id =
        purchase::get_checkout(&w.app, &checkout.id).await.expect("checkout").subscription_id.expect("sub");

    assert!(portal::get_subscription(&w.app, &acme, &sub_id).await.is_ok());
    assert_eq!(
        portal::get_subscription(&w.app, &globex, &sub_id).await.err(),
        Some(DomainError::NotFound("subscription"))
    );
    assert_eq!(
        catalogue::list_products(&w.app, &globex).await.map(|v| v.len()),
        Ok(1),
        "only its own product"
    );
    assert!(catalogue::list_products(&w.app, &acme).await.expect("list").iter().any(|p| p.id == product.id));
    assert!(catalogue::list_benefits(&w.app, &globex)
        .await
        .expect("list")
        .iter()
        .all(|b| b.organization_id != product.organization_id));

    // A benefit of another organization cannot be attached to a product.
    let acme_benefit = product.benefit_ids[0].clone();
    let r = catalogue::create_product(
        &w.app,
        &globex,
        NewProduct {
            name: "Steal".into(),
            description: None,
            currency: "usd".into(),
            prices: NewPrices { month: Some(NewPrice { unit_amount: 1 }), year: None },
            min_seats: None,
            max_seats: None,
            benefit_ids: vec![acme_benefit],
            when_full: None,
            trial_days: None,
        },
    )
    .await;
    assert!(matches!(r, Err(DomainError::InvalidRequest { field: Some(f), .. }) if f == "benefit_ids[0]"));
}

#[tokio::test]
async fn only_the_operator_creates_organizations_and_slugs_are_unique() {
    let w = world();
    let input = || NewOrganization { name: "Acme".into(), slug: "acme".into(), email: None };
    assert_eq!(
        catalogue::create_organization(&w.app, &Principal::Public, input()).await.err(),
        Some(DomainError::Unauthorized)
    );
    assert!(catalogue::create_organization(&w.app, &Principal::Operator, input()).await.is_ok());
    assert!(matches!(
        catalogue::create_organization(&w.app, &Principal::Operator, input()).await,
        Err(DomainError::InvalidRequest { field: Some(f), .. }) if f == "slug"
    ));
    assert_eq!(domain::services::auth::authenticate(&w.app, Some("admin")).await, Ok(Principal::Operator));
    assert_eq!(
        domain::services::auth::authenticate(&w.app, Some("sk_wrong")).await,
        Err(DomainError::Unauthorized)
    );
    assert_eq!(
        domain::services::auth::authenticate(&w.app, Some("cs_wrong")).await,
        Err(DomainError::Unauthorized)
    );
    assert_eq!(
        domain::services::auth::authenticate(&w.app, Some("wrong")).await,
        Err(DomainError::Unauthorized)
    );
}

#[tokio::test]
async fn a_key_made_before_keys_had_ids_gets_one_when_used_and_can_be_rotated_away() {
    use domain::ports::Store;
    let f = domain::memory::Fakes::at(chrono::Utc::now());
    let org = domain::model::Organization {
        id: domain::ids::new_id(domain::ids::ORG),
        name: "Old".into(),
        slug: "old-co".into(),
        email: None,
        created_at: chrono::Utc::now(),
        billing_portal_configuration_id: None,
        grace_days: None,
        automatic_tax: false,
    };
    let key = domain::secrets::new_secret(domain::secrets::API_KEY_PREFIX);
    let legacy = domain::model::ApiKey {
        id: String::new(),
        organization_id: org.id.clone(),
        created_at: org.created_at,
        last4: String::new(),
        expires_at: None,
    };
    f.store.create_organization(&org, &legacy, &domain::secrets::hash(&key)).await.expect("org");
    let who = domain::services::auth::authenticate(&f.app, Some(&key)).await.expect("the old key works");
    let listed = catalogue::list_api_keys(&f.app, &who, &org.id).await.expect("list");
    assert_eq!(listed.len(), 1, "adopted into the list");
    assert!(listed[0].id.starts_with("key_") && key.ends_with(&listed[0].last4));
    let input = catalogue::RotateApiKey { grace_period_s: Some(0) };
    let new = catalogue::rotate_api_key(&f.app, &who, &org.id, input).await.expect("rotate");
    assert!(domain::services::auth::authenticate(&f.app, Some(&key)).await.is_err(), "rotated away");
    assert!(domain::services::auth::authenticate(&f.app, Some(&new.api_key)).await.is_ok());
    let other =
        catalogue::rotate_api_key(&f.app, &who, "org_other", catalogue::RotateApiKey::default()).await;
    assert!(other.is_err(), "another organization's keys are not the caller's");
}

#[tokio::test]
async fn sign_in_is_rate_limited_alike_for_known_and_unknown_emails() {
    let w = world();
    let (_, product) = merchant(&w, "acme").await;
    fixtures::buy(&w.app, &product, 2, "boss@corp.example", t0().timestamp(), "sub_rl")
        .await
        .expect("bought");
    let ask = |email: &str| SignInRequest { organization_slug: "acme".into(), email: email.into() };
    w.run_jobs().await.expect("jobs");
    let mails_before = w.mailer.sent().len();
    for email in ["boss@corp.example", "nobody@corp.example"] {
        for _ in 0..5 {
            assert_eq!(portal::sign_in(&w.app, ask(email)).await, Ok(()));
        }
        // The same work for both: the limits' counters and one queued ask each (no lookup).
        let queued = w.queue.take();
        assert_eq!(queued.len(), 5);
        assert!(queued.iter().all(|j| j.kind == JobKind::SignIn
            && j.sign_in == Some(SignInAsk { organization_slug: "acme".into(), email: email.into() })));
        match portal::sign_in(&w.app, ask(email)).await {
            Err(DomainError::RateLimited { retry_after_s }) => assert!((1..=900).contains(&retry_after_s)),
            other => panic!("the 6th within 15 minutes is limited, known or not: {other:?}"),
        }
        for job in queued {
            domain::services::benefits::process(&w.app, &job).await.expect("worked");
        }
    }
    assert_eq!(w.mailer.sent().len(), mails_before + 5, "links only for the known email");
    // A queue that refuses the ask: still the contract's 202, alike for known and unknown emails.
    w.queue.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(portal::sign_in(&w.app, ask("nobody2@corp.example")).await, Ok(()));
    assert_eq!(portal::sign_in(&w.app, ask("boss2@corp.example")).await, Ok(()));
    w.queue.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    // The window passes: asking works again. A known email whose mail fails answers as an
    // unknown one; the worker's job fails, and the queue retries it.
    w.clock.advance(chrono::Duration::minutes(16));
    w.mailer.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(portal::sign_in(&w.app, ask("BOSS@corp.example")).await, Ok(()));
    assert_eq!(w.run_jobs().await, Err(DomainError::Unavailable));
}
