//! "Update card / billing details": a billing portal session of the subscription's Stripe
//! customer, under one configuration per organization, made on the first session and kept.

use chrono::{TimeZone, Utc};
use domain::error::DomainError;
use domain::events::{PaymentEvent, PaymentEventKind};
use domain::memory::{fixtures, Fakes};
use domain::services::billing_details::{self, BillingSessionRequest};
use domain::services::{billing_events, purchase, Principal};

#[tokio::test]
async fn a_session_of_the_subscriptions_customer_under_the_organizations_one_configuration() {
    let t0 = Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).single().expect("date");
    let f = Fakes::at(t0);
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let mut subs = Vec::new();
    for (n, email) in ["boss@corp.example", "lead@other.example"].iter().enumerate() {
        let chk = purchase::create_checkout(
            &f.app,
            &Principal::Public,
            purchase::NewCheckout {
                product_id: product.id.clone(),
                interval: domain::model::Interval::Month,
                seats: 2,
                customer_email: email.to_string(),
                success_url: "https://corp.example/ok".into(),
                cancel_url: "https://corp.example/no".into(),
            },
        )
        .await
        .expect("checkout");
        let done = PaymentEvent {
            id: format!("evt_done_{n}"),
            created: t0.timestamp(),
            kind: PaymentEventKind::CheckoutCompleted {
                checkout_id: chk.id,
                provider_subscription_id: format!("sub_stripe_{n}"),
                provider_customer_id: Some(format!("cus_stripe_{n}")),
            },
        };
        billing_events::handle(&f.app, &done).await.expect("completed");
        let sub = f.app.store.subscription_by_provider_id(&format!("sub_stripe_{n}")).await.expect("store");
        subs.push(sub.expect("sub"));
    }
    let boss = Principal::Customer {
        customer_id: subs[0].customer_id.clone(),
        organization_id: subs[0].organization_id.clone(),
    };
    let req = |id: &str| BillingSessionRequest { subscription_id: id.to_string() };
    let first = billing_details::session(&f.app, &boss, req(&subs[0].id)).await.expect("session");
    assert!(first.url.contains("customer=cus_stripe_0"), "{}", first.url);
    assert_eq!(
        first.return_url,
        format!("{}/portal/subscription?id={}", f.app.settings.public_base_url, subs[0].id)
    );
    let made = f.payments.portal_configurations.lock().expect("made").clone();
    assert_eq!(made.len(), 1);
    assert_eq!(
        (made[0].business_name.as_str(), made[0].organization_id.as_str()),
        ("Acme", subs[0].organization_id.as_str())
    );
    let org = f.app.store.organization(&subs[0].organization_id).await.expect("store").expect("org");
    let kept = org.billing_portal_configuration_id.expect("kept on the organization");
    assert!(first.url.contains(&format!("configuration={kept}")));
    // The other billing manager's session uses the same configuration, made once.
    let lead = Principal::Customer {
        customer_id: subs[1].customer_id.clone(),
        organization_id: subs[1].organization_id.clone(),
    };
    let second = billing_details::session(&f.app, &lead, req(&subs[1].id)).await.expect("session");
    assert!(
        second.url.contains("customer=cus_stripe_1") && second.url.contains(&format!("configuration={kept}"))
    );
    assert_eq!(f.payments.portal_configurations.lock().expect("made").len(), 1);
    // Someone else's subscription, or no id at all, is not found / refused.
    let r = billing_details::session(&f.app, &lead, req(&subs[0].id)).await;
    assert_eq!(r.err(), Some(DomainError::NotFound("subscription")));
    let r = billing_details::session(&f.app, &lead, req("not-an-id")).await;
    assert!(
        matches!(r, Err(DomainError::InvalidRequest { field: Some(ref x), .. }) if x == "subscription_id"),
        "{r:?}"
    );
    // A subscription whose provider customer is unknown has no billing details to change.
    let offline = fixtures::buy(&f.app, &product, 1, "solo@corp.example", t0.timestamp(), "sub_offline")
        .await
        .expect("bought");
    let solo = Principal::Customer {
        customer_id: offline.customer_id.clone(),
        organization_id: offline.organization_id.clone(),
    };
    let r = billing_details::session(&f.app, &solo, req(&offline.id)).await;
    assert!(matches!(r, Err(DomainError::InvalidState(_))), "{r:?}");
}
