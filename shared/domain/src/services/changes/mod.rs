//! Seat-count and interval changes. The money comes first: a preview persists nothing and, in
//! Stripe mode, shows Stripe's own invoice preview. Applying is intent → provider → settle:
//! the change is recorded on the subscription before the provider is called ([`apply`]), and
//! settled exactly once by the provider's answer or its webhook, whichever comes first
//! ([`settle`]); a crash in between is healed from the provider's state, never charged twice.

pub mod apply;
pub mod cancel;
pub mod settle;

pub use apply::{apply_interval, apply_seats, cancel_scheduled};
pub use cancel::{cancel, preview_cancel, resume};

use super::{portal, App, Principal};
use crate::error::DomainError;
use crate::model::*;
use crate::ports::{ChargeRequest, ProviderInvoice};
use crate::proration::{self, Quote};
use crate::views::{ChangeView, InvoiceView, SubscriptionView};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// How far a `proration_date` on an applying POST may lie in the future (clock skew).
pub const PRORATION_SKEW_S: i64 = 60;
/// How old a `proration_date` on an applying POST may be: a preview's, not a chosen instant.
pub const PRORATION_MAX_AGE_S: i64 = 15 * 60;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatChangeRequest {
    pub seats: i64,
    #[serde(default)]
    pub proration_date: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalChangeRequest {
    pub interval: Interval,
    #[serde(default)]
    pub proration_date: Option<i64>,
}

fn instant(app: &App, proration_date: Option<i64>) -> Result<DateTime<Utc>, DomainError> {
    match proration_date {
        None => Ok(app.clock.now()),
        Some(t) => DateTime::from_timestamp(t, 0)
            .ok_or_else(|| DomainError::invalid("proration_date", "must be a Unix time in seconds")),
    }
}

/// An applying POST's instant: now, or a recent preview's. A caller never picks a cheaper
/// instant (the end of the period, or a backdated switch).
fn recent_instant(app: &App, proration_date: Option<i64>) -> Result<DateTime<Utc>, DomainError> {
    let at = instant(app, proration_date)?;
    let now = app.clock.now();
    if (at - now).num_seconds() > PRORATION_SKEW_S {
        return Err(DomainError::invalid("proration_date", "must not lie in the future"));
    }
    if (now - at).num_seconds() > PRORATION_MAX_AGE_S {
        return Err(DomainError::invalid(
            "proration_date",
            "is more than 15 minutes old; preview the change again",
        ));
    }
    Ok(at)
}

async fn changeable(app: &App, who: &Principal, id: &str) -> Result<(Subscription, Product), DomainError> {
    let sub = portal::managed_subscription(app, who, id).await?;
    if !sub.status.allows_seat_changes() {
        return Err(DomainError::InvalidState(format!(
            "the subscription is {:?}; only active or past-due subscriptions can change",
            sub.status
        )));
    }
    let product = app
        .store
        .product(&sub.product_id)
        .await?
        .ok_or_else(|| DomainError::Internal("subscription without product".into()))?;
    Ok((sub, product))
}

fn quote_seats(
    sub: &Subscription,
    product: &Product,
    seats: i64,
    at: DateTime<Utc>,
) -> Result<Quote, DomainError> {
    if seats < product.min_seats || seats > product.max_seats {
        return Err(DomainError::invalid(
            "seats",
            format!("must be from {} to {}", product.min_seats, product.max_seats),
        ));
    }
    if seats < sub.seats_assigned {
        return Err(DomainError::SeatsBelowAssigned { assigned: sub.seats_assigned });
    }
    if seats < sub.seats && sub.cancellation.is_some() {
        return Err(cancel::nothing_renews());
    }
    if sub.status == SubscriptionStatus::Trialing && seats > sub.seats {
        return Ok(proration::trial_quote(sub.unit_amount, seats, at));
    }
    if sub.status == SubscriptionStatus::Trialing && seats < sub.seats {
        // A schedule's phase would end the provider's trial at once: fewer seats wait for the
        // first invoice (revoking unused seats needs no change at all).
        return Err(DomainError::InvalidState(
            "the subscription is in its free trial; fewer seats can be scheduled once it is paid".into(),
        ));
    }
    if seats < sub.seats && matches!(sub.scheduled_change, Some(ScheduledChange::IntervalChange { .. })) {
        return Err(DomainError::InvalidState(
            "an interval change is scheduled; cancel it before scheduling fewer seats".into(),
        ));
    }
    proration::quote_seat_change(&sub.billing_state(), seats, at)
}

fn quote_interval(
    sub: &Subscription,
    product: &Product,
    interval: Interval,
    at: DateTime<Utc>,
) -> Result<Quote, DomainError> {
    let price = product.prices.for_interval(interval).ok_or_else(|| {
        DomainError::invalid("interval", format!("the product has no {} price", interval.as_str()))
    })?;
    if sub.cancellation.is_some() {
        return Err(cancel::nothing_renews());
    }
    if sub.status == SubscriptionStatus::Trialing {
        return Err(DomainError::InvalidState(
            "the subscription is in its free trial; the billing interval can change once it is paid".into(),
        ));
    }
    if matches!(sub.scheduled_change, Some(ScheduledChange::SeatDecrease { .. })) {
        return Err(DomainError::InvalidState(
            "a seat decrease is scheduled; cancel it before changing the interval".into(),
        ));
    }
    proration::quote_interval_change(&sub.billing_state(), interval, price.unit_amount, at)
}

fn view(q: Quote, sub: &Subscription, invoice: Option<&ProviderInvoice>, at: DateTime<Utc>) -> ChangeView {
    ChangeView {
        effective: q.effective,
        effective_at: q.effective_at,
        lines: q.lines,
        amount_due_now: q.amount_due_now,
        tax: q.tax,
        next_renewal_amount: q.next_renewal_amount,
        subscription: SubscriptionView::from(sub),
        invoice: invoice.map(InvoiceView::from),
        proration_date: at.timestamp(),
    }
}

/// The product with a provider Price for every priced interval, made now if missing (a
/// product created before prices lived at the provider).
pub(crate) async fn with_prices(app: &App, product: Product) -> Result<Product, DomainError> {
    if product.provider_prices.cover(&product.prices) {
        return Ok(product);
    }
    let provider_prices = app.payments.create_prices(&product).await?;
    let product = Product { provider_prices, ..product };
    app.store.put_product(&product).await?;
    Ok(product)
}

pub(crate) fn price_id(product: &Product, interval: Interval) -> Result<String, DomainError> {
    product.provider_prices.for_interval(interval).map(str::to_string).ok_or_else(|| {
        DomainError::Internal(format!("product without a provider {} price", interval.as_str()))
    })
}

/// The terms a change leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    pub seats: i64,
    pub interval: Interval,
    pub unit_amount: MinorUnits,
}

/// The provider call of a change that charges now, at the quote's instant.
pub(crate) fn charge_request(
    sub: &Subscription,
    price_id: String,
    target: Target,
    at: DateTime<Utc>,
    idempotency_key: String,
) -> ChargeRequest {
    let Target { seats, interval, unit_amount } = target;
    ChargeRequest {
        provider_subscription_id: sub.provider_subscription_id.clone(),
        item_id: sub.provider_item_id.clone(),
        price_id,
        quantity: seats,
        proration_date: at.timestamp(),
        reset_billing_cycle: interval != sub.interval,
        idempotency_key,
        product_name: sub.product_name.clone(),
        previous_quantity: sub.seats,
        previous_unit_amount: sub.unit_amount,
        previous_interval: sub.interval,
        unit_amount,
        interval,
        period_start: sub.current_period_start,
        period_end: sub.current_period_end,
        trialing: sub.status == SubscriptionStatus::Trialing,
        automatic_tax: sub.automatic_tax,
    }
}

/// Our arithmetic against the provider's: the provider's number stands (it is what is
/// charged); a difference is logged and counted for a person to look at.
pub(crate) fn cross_check(sub: &Subscription, ours: MinorUnits, theirs: MinorUnits) {
    if ours != theirs {
        tracing::error!(
            subscription_id = %sub.id,
            ours,
            theirs,
            metric = "proration_mismatch",
            "the provider prorates this change differently from our arithmetic"
        );
    }
}

/// A quote with the provider's numbers in place of ours, where the provider has them.
pub(crate) fn with_provider_numbers(sub: &Subscription, mut q: Quote, invoice: &ProviderInvoice) -> Quote {
    // Ours is before tax; the provider's amount due includes the tax it computed.
    cross_check(sub, q.amount_due_now, invoice.amount_due - invoice.tax);
    q.amount_due_now = invoice.amount_due;
    q.tax = invoice.tax;
    if !invoice.lines.is_empty() {
        q.lines = invoice.lines.clone();
    }
    q
}

async fn provider_preview(
    app: &App,
    sub: &Subscription,
    product: Product,
    target: Target,
    at: DateTime<Utc>,
    q: Quote,
) -> Result<Quote, DomainError> {
    let product = with_prices(app, product).await?;
    let req = charge_request(sub, price_id(&product, target.interval)?, target, at, String::new());
    Ok(match app.payments.preview_charge(&req).await? {
        Some(invoice) => with_provider_numbers(sub, q, &invoice),
        None => q,
    })
}

pub async fn preview_seats(
    app: &App,
    who: &Principal,
    id: &str,
    req: SeatChangeRequest,
) -> Result<ChangeView, DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    let at = instant(app, req.proration_date)?;
    let mut q = quote_seats(&sub, &product, req.seats, at)?;
    if req.seats > sub.seats {
        let target = Target { seats: req.seats, interval: sub.interval, unit_amount: sub.unit_amount };
        q = provider_preview(app, &sub, product, target, at, q).await?;
    }
    Ok(view(q, &sub, None, at))
}

pub async fn preview_interval(
    app: &App,
    who: &Principal,
    id: &str,
    req: IntervalChangeRequest,
) -> Result<ChangeView, DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    let at = instant(app, req.proration_date)?;
    let mut q = quote_interval(&sub, &product, req.interval, at)?;
    if q.effective == proration::Effective::Now {
        let unit = product.prices.for_interval(req.interval).map(|p| p.unit_amount).unwrap_or_default();
        let target = Target { seats: sub.seats, interval: req.interval, unit_amount: unit };
        q = provider_preview(app, &sub, product, target, at, q).await?;
    }
    Ok(view(q, &sub, None, at))
}
