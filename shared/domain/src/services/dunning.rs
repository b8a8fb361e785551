//! Dunning: a renewal whose payment failed keeps its seats for the organization's grace days
//! (the provider retries meanwhile). The billing managers are mailed once, through the outbox,
//! with the page to pay the invoice; the portal shows a banner with the amount and the day
//! access stops. Paid in time, it ends and says so; not paid, the sweeper lapses the
//! subscription at the end of the grace days (and cancels it at the provider, so it never
//! charges a lapsed subscription later), even if the provider still calls it past due.

use super::billing_state::{update_billing, Next};
use super::App;
use crate::error::{DomainError, PortError};
use crate::events::{FailedInvoice, PaymentEvent, PaymentEventKind, SWEEPER_EVENT_PREFIX};
use crate::model::*;
use crate::ports::OutgoingEmail;
use chrono::{DateTime, Duration, Utc};

/// The dunning a failed renewal payment starts, or the one it continues (another attempt).
pub(crate) fn after_failure(
    sub: &Subscription,
    grace_days: u32,
    invoice: Option<&FailedInvoice>,
    at: DateTime<Utc>,
) -> Dunning {
    match &sub.dunning {
        Some(d) => Dunning {
            attempts: d.attempts + 1,
            amount_due: invoice.map_or(d.amount_due, |i| i.amount_due),
            payment_url: invoice.and_then(|i| i.hosted_invoice_url.clone()).or_else(|| d.payment_url.clone()),
            invoice_id: invoice.map(|i| i.id.clone()).or_else(|| d.invoice_id.clone()),
            ..d.clone()
        },
        None => Dunning {
            failed_at: at,
            invoice_id: invoice.map(|i| i.id.clone()),
            amount_due: invoice.map_or(sub.seats * sub.unit_amount, |i| i.amount_due),
            payment_url: invoice.and_then(|i| i.hosted_invoice_url.clone()),
            access_until: at + Duration::days(i64::from(grace_days)),
            attempts: 1,
        },
    }
}

/// The worker's mail about a payment, to the subscription's owner: sent only while it is still
/// true (a payment that failed and was paid before the worker ran mails only the recovery).
pub async fn mail(app: &App, job: &Job) -> Result<(), DomainError> {
    let Some(sub) = app.store.subscription(&job.subscription_id).await? else {
        app.store.finish_job(job).await?;
        return Ok(());
    };
    let still = match job.kind {
        JobKind::PaymentFailed => sub.dunning.is_some(),
        _ => sub.dunning.is_none() && !sub.status.is_lapsed(),
    };
    let owner = app.store.customer(&sub.customer_id).await?;
    if let (true, Some(owner)) = (still, owner) {
        let (org_name, product_name) = super::seats::names(app, &sub).await;
        let page = format!("{}/portal/subscription?id={}", app.settings.public_base_url, sub.id);
        let amount = money(sub.dunning.as_ref().map_or(0, |d| d.amount_due), &sub.currency);
        let mail = match (&sub.dunning, job.kind) {
            (Some(d), JobKind::PaymentFailed) => OutgoingEmail {
                to: owner.email.clone(),
                subject: format!("Payment failed for {product_name}: {amount} due"),
                text: format!(
                    "Hello,\n\nThe payment of {amount} for {product_name} ({org_name}, {} seats) did not go through.\n\n\
                     Pay it here:\n\n{}\n\nYour seats and their benefits keep working until {}; after that \
                     the subscription ends.\n\nYour subscription: {page}\n",
                    sub.seats,
                    d.payment_url.clone().unwrap_or_else(|| page.clone()),
                    d.access_until.format("%-d %B %Y"),
                ),
            },
            _ => OutgoingEmail {
                to: owner.email.clone(),
                subject: format!("Payment received for {product_name}"),
                text: format!(
                    "Hello,\n\nThe payment for {product_name} ({org_name}) went through: everything keeps \
                     working as before.\n\nYour subscription: {page}\n"
                ),
            },
        };
        app.mailer.send(&mail).await?;
    }
    app.store.finish_job(job).await?;
    Ok(())
}

fn money(minor: MinorUnits, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.abs();
    format!("{sign}{}.{:02} {}", m / 100, m % 100, currency.to_uppercase())
}

/// Lapses every subscription whose grace days are over and that is still unpaid, at most
/// `limit`: cancelled at the provider first (no retry ever charges it later), then lapsed here
/// through the lapse path (its seats suspended, restorable by a new purchase).
pub async fn end_due(app: &App, limit: usize) -> Result<usize, DomainError> {
    let now = app.clock.now();
    let mut ended = 0;
    for (id, access_until) in app.store.dunning_due(now, limit).await? {
        match end_one(app, &id, access_until).await {
            Ok(true) => ended += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(subscription_id = %id, error = %e, "unpaid subscription not lapsed yet"),
        }
    }
    Ok(ended)
}

async fn end_one(app: &App, id: &str, access_until: DateTime<Utc>) -> Result<bool, DomainError> {
    let sub = app.store.subscription(id).await?;
    let current = sub.as_ref().and_then(|s| s.dunning.as_ref()).map(|d| d.access_until);
    let Some(sub) = sub.filter(|s| current == Some(access_until) && !s.status.is_lapsed()) else {
        // Paid, lapsed, or another dunning since: this entry is done.
        app.store.forget_dunning_due(id, access_until).await?;
        return Ok(false);
    };
    let key = format!("dunning-{id}-{}", access_until.timestamp());
    match app.payments.cancel_now(&sub.provider_subscription_id, &key).await {
        // Canceled already at the provider, or gone there: what was asked is so.
        Ok(()) | Err(PortError::Rejected(..)) => {}
        Err(e) => return Err(e.into()),
    }
    let now = app.clock.now().timestamp();
    let event = PaymentEvent {
        id: format!("{SWEEPER_EVENT_PREFIX}unpaid_{id}_{}", access_until.timestamp()),
        created: now.max(sub.last_event_at),
        kind: PaymentEventKind::SubscriptionDeleted {
            provider_subscription_id: sub.provider_subscription_id.clone(),
            checkout_id: None,
        },
    };
    update_billing(app, &event, &sub.provider_subscription_id, None, |s| {
        match s.dunning.as_ref().is_some_and(|d| d.access_until == access_until) {
            true => Next::status(SubscriptionStatus::Canceled),
            false => Next::none(),
        }
    })
    .await?;
    let lapsed = app.store.subscription(id).await?.is_some_and(|s| s.status.is_lapsed());
    if lapsed {
        app.store.forget_dunning_due(id, access_until).await?;
    }
    Ok(lapsed)
}
