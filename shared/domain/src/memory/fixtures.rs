//! The story's first steps through the use cases — an organization, a product, a purchase —
//! for tests and benches, over any wiring of the ports.

use crate::error::DomainError;
use crate::events::{PaymentEvent, PaymentEventKind};
use crate::model::{Interval, Product, Subscription, WhenFull};
use crate::services::catalogue::{self, NewBenefit, NewOrganization, NewPrice, NewPrices, NewProduct};
use crate::services::{auth, billing_events, purchase, App, Principal};

/// An organization and its API key, authenticated as the merchant.
pub async fn merchant(app: &App, slug: &str) -> Result<(Principal, String), DomainError> {
    let org = catalogue::create_organization(
        app,
        &Principal::Operator,
        NewOrganization {
            name: "Acme".into(),
            slug: slug.into(),
            email: Some("billing@acme.example".into()),
        },
    )
    .await?;
    Ok((auth::authenticate(app, Some(&org.api_key)).await?, org.api_key))
}

/// What the product sells and for how much.
#[derive(Debug, Clone)]
pub struct Plan {
    pub month: Option<i64>,
    pub year: Option<i64>,
    pub min_seats: Option<i64>,
    pub max_seats: Option<i64>,
    /// A file benefit (`setup.zip`) beside the license key.
    pub with_file: bool,
    pub license_prefix: Option<&'static str>,
    /// The license key's activation limit.
    pub activation_limit: Option<u32>,
    /// What assigning on a full subscription does.
    pub when_full: WhenFull,
    /// Days of free trial.
    pub trial_days: Option<u32>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            month: Some(1000),
            year: None,
            min_seats: None,
            max_seats: None,
            with_file: false,
            license_prefix: Some("ACME"),
            activation_limit: None,
            when_full: WhenFull::Block,
            trial_days: None,
        }
    }
}

/// "Pro": a license key (and a file) benefit, priced as `plan` says.
pub async fn product(app: &App, merchant: &Principal, plan: &Plan) -> Result<Product, DomainError> {
    let mut benefit_ids = Vec::new();
    if plan.with_file {
        let file = NewBenefit {
            kind: "file_download".into(),
            name: "Installer".into(),
            filename: Some("setup.zip".into()),
            content_type: Some("application/zip".into()),
            prefix: None,
            activation_limit: None,
        };
        benefit_ids.push(catalogue::create_benefit(app, merchant, file).await?.benefit.id);
    }
    let key = NewBenefit {
        kind: "license_key".into(),
        name: "Key".into(),
        filename: None,
        content_type: None,
        prefix: plan.license_prefix.map(str::to_string),
        activation_limit: plan.activation_limit,
    };
    benefit_ids.push(catalogue::create_benefit(app, merchant, key).await?.benefit.id);
    let price = |p: Option<i64>| p.map(|unit_amount| NewPrice { unit_amount });
    let new = NewProduct {
        name: "Pro".into(),
        description: None,
        currency: "usd".into(),
        prices: NewPrices { month: price(plan.month), year: price(plan.year) },
        min_seats: plan.min_seats,
        max_seats: plan.max_seats,
        benefit_ids,
        when_full: Some(plan.when_full),
        trial_days: plan.trial_days,
    };
    catalogue::create_product(app, merchant, new).await
}

/// `seats` monthly seats bought by `email` and paid at `paid_at` (Unix seconds): the
/// checkout, then Stripe's completion event for `provider_subscription_id`.
pub async fn buy(
    app: &App,
    product: &Product,
    seats: i64,
    email: &str,
    paid_at: i64,
    provider_subscription_id: &str,
) -> Result<Subscription, DomainError> {
    let chk = purchase::create_checkout(
        app,
        &Principal::Public,
        purchase::NewCheckout {
            product_id: product.id.clone(),
            interval: Interval::Month,
            seats,
            customer_email: email.into(),
            success_url: "https://corp.example/ok".into(),
            cancel_url: "https://corp.example/no".into(),
        },
    )
    .await?;
    let event = PaymentEvent {
        id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        created: paid_at,
        kind: PaymentEventKind::CheckoutCompleted {
            checkout_id: chk.id,
            provider_subscription_id: provider_subscription_id.into(),
            provider_customer_id: None,
        },
    };
    billing_events::handle(app, &event).await?;
    app.store
        .subscription_by_provider_id(provider_subscription_id)
        .await?
        .ok_or(DomainError::NotFound("subscription"))
}
