//! Checkouts: a company's billing manager buys N seats through the payment provider.

use super::{App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::CheckoutSessionRequest;
use crate::validate;
use crate::views::CheckoutView;
use chrono::Duration;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCheckout {
    pub product_id: String,
    pub interval: Interval,
    pub seats: i64,
    pub customer_email: String,
    pub success_url: String,
    pub cancel_url: String,
}

pub async fn create_checkout(
    app: &App,
    _who: &Principal,
    input: NewCheckout,
) -> Result<CheckoutView, DomainError> {
    let unknown = || DomainError::invalid("product_id", "is not a known product");
    if !ids::is_valid(ids::PRODUCT, &input.product_id) {
        return Err(unknown());
    }
    let customer_email = validate::email("customer_email", &input.customer_email)?;
    let success_url = validate::http_url("success_url", &input.success_url)?;
    let cancel_url = validate::http_url("cancel_url", &input.cancel_url)?;
    let product = app.store.product(&input.product_id).await?.ok_or_else(unknown)?;
    let price = product.prices.for_interval(input.interval).ok_or_else(|| {
        DomainError::invalid("interval", format!("the product has no {} price", input.interval.as_str()))
    })?;
    if input.seats < product.min_seats || input.seats > product.max_seats {
        return Err(DomainError::invalid(
            "seats",
            format!("must be from {} to {}", product.min_seats, product.max_seats),
        ));
    }
    let org = app
        .store
        .organization(&product.organization_id)
        .await?
        .ok_or_else(|| DomainError::Internal("product without organization".into()))?;
    // One free trial per buyer and product: someone who has had this product (a reactivation,
    // a second purchase) pays from the start.
    let trial_days = match product.trial_days {
        Some(days) => match app.store.customer_by_email(&product.organization_id, &customer_email).await? {
            Some(c) => {
                let had = app.store.subscriptions_of_billing_manager(&c.id).await?;
                (!had.iter().any(|s| s.product_id == product.id)).then_some(days)
            }
            None => Some(days),
        },
        None => None,
    };
    let product = super::changes::with_prices(app, product).await?;
    let price_id = super::changes::price_id(&product, input.interval)?;
    let now = app.clock.now();
    let id = ids::new_id(ids::CHECKOUT);
    let session = app
        .payments
        .create_checkout_session(&CheckoutSessionRequest {
            checkout_id: id.clone(),
            price_id,
            seats: input.seats,
            customer_email: customer_email.clone(),
            success_url: success_url.clone(),
            cancel_url: cancel_url.clone(),
            trial_days,
            automatic_tax: org.automatic_tax,
        })
        .await?;
    let checkout = Checkout {
        id,
        organization_id: product.organization_id.clone(),
        product_id: product.id.clone(),
        interval: input.interval,
        seats: input.seats,
        currency: product.currency.clone(),
        unit_amount: price.unit_amount,
        amount_due: price.unit_amount * input.seats,
        customer_email,
        success_url,
        cancel_url,
        status: CheckoutStatus::Open,
        payment_url: session.url,
        provider_session_id: session.id,
        subscription_id: None,
        created_at: now,
        expires_at: now + Duration::seconds(app.settings.checkout_ttl_s),
        trial_days,
        automatic_tax: org.automatic_tax,
    };
    app.store.put_checkout(&checkout).await?;
    Ok(CheckoutView::at(&checkout, now))
}

/// Checkouts are read by id by the buyer's browser (public, as Stripe's client secret flow).
pub async fn get_checkout(app: &App, id: &str) -> Result<CheckoutView, DomainError> {
    if !ids::is_valid(ids::CHECKOUT, id) {
        return Err(DomainError::NotFound("checkout"));
    }
    let c = app.store.checkout(id).await?.ok_or(DomainError::NotFound("checkout"))?;
    Ok(CheckoutView::at(&c, app.clock.now()))
}
