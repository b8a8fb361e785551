//! Dunning: a renewal whose payment failed keeps its seats for the organization's grace days
//! (the provider retries meanwhile). The owner is mailed once, through the outbox,
//! with the page to pay the invoice; the portal shows a banner with the amount and the day
//! access stops. Paid in time, it ends and says so; not paid, the sweeper lapses the
//! subscription at the end of the grace days (and cancels it at the provider, so it never
//! charges a lapsed subscription later), even if the provider still calls it past due.

use super::billing_state::{update_billing, Next};
use super::App;
use crate::error::DomainError;
use crate::events::{FailedInvoice, PaymentEvent, PaymentEventKind, SWEEPER_EVENT_PREFIX};
use crate::model::*;
use crate::ports::{OutgoingEmail, VoidOutcome};
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
    // Done already (a second delivery of the message): nothing to mail again.
    if !app.store.job_pending(job).await? {
        return Ok(());
    }
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

/// Stripe's zero-decimal currencies: their minor unit is the unit.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof",
    "xpf",
];

fn money(minor: MinorUnits, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.abs();
    match ZERO_DECIMAL.contains(&currency) {
        true => format!("{sign}{m} {}", currency.to_uppercase()),
        false => format!("{sign}{}.{:02} {}", m / 100, m % 100, currency.to_uppercase()),
    }
}

/// The sweeper's time for unpaid lapses in one run (each may ask the provider three times).
const END_DUE_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Lapses every subscription whose grace days are over and that is still unpaid, at most
/// `limit`, within [`END_DUE_BUDGET`]: its unpaid invoice voided at the provider (so it can never
/// be paid for nothing), the provider's subscription cancelled (no retry or renewal charges it),
/// then lapsed here through the lapse path (its seats suspended, restorable by a new purchase).
/// Paid meanwhile at the provider, it is not lapsed: the dunning ends instead.
pub async fn end_due(app: &App, limit: usize) -> Result<usize, DomainError> {
    let started = std::time::Instant::now();
    let now = app.clock.now();
    let mut ended = 0;
    for (id, access_until) in app.store.dunning_due(now, limit).await? {
        if started.elapsed() > END_DUE_BUDGET {
            break;
        }
        match end_one(app, &id, access_until).await {
            Ok(true) => ended += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(subscription_id = %id, error = %e, "unpaid subscription not lapsed yet"),
        }
    }
    Ok(ended)
}

/// The sweeper's own event for what it decided of a dunning (its id names the subscription, the
/// dunning's end and the decision; never older than what was applied).
fn sweeper_event(kind: &str, sub: &Subscription, access_until: DateTime<Utc>, app: &App) -> PaymentEvent {
    PaymentEvent {
        id: format!("{SWEEPER_EVENT_PREFIX}{kind}_{}_{}", sub.id, access_until.timestamp()),
        created: app.clock.now().timestamp().max(sub.last_event_at),
        kind: PaymentEventKind::SubscriptionDeleted {
            provider_subscription_id: sub.provider_subscription_id.clone(),
            checkout_id: None,
        },
    }
}

async fn end_one(app: &App, id: &str, access_until: DateTime<Utc>) -> Result<bool, DomainError> {
    let sub = app.store.subscription(id).await?;
    let current = sub.as_ref().and_then(|s| s.dunning.as_ref()).map(|d| d.access_until);
    let Some(sub) = sub.filter(|s| current == Some(access_until) && !s.status.is_lapsed()) else {
        // Paid, lapsed, or another dunning since: this entry is done.
        app.store.forget_dunning_due(id, access_until).await?;
        return Ok(false);
    };
    if sub.change_intent.is_some() || sub.pending_change.is_some() {
        // A change in flight decides first; the next sweep looks again.
        return Ok(false);
    }
    // The provider's word first: paid up there (its events not here yet), the dunning ends.
    let provider = match app.payments.subscription(&sub.provider_subscription_id).await {
        // Gone at the provider: nothing there to ask; the void and the cancel below say so too.
        Err(e) if e.is_not_found() => None,
        other => other?,
    };
    let paid_up = provider.as_ref().is_some_and(|p| matches!(p.status.as_str(), "active" | "trialing"));
    let invoice = sub.dunning.as_ref().and_then(|d| d.invoice_id.clone());
    let voided = match (&invoice, paid_up) {
        (_, true) => VoidOutcome::Paid,
        (Some(invoice), false) => {
            let key = format!("dunning-{id}-{}", access_until.timestamp());
            app.payments.void_invoice(invoice, &key).await?
        }
        (None, false) => VoidOutcome::Voided,
    };
    if voided == VoidOutcome::Paid {
        tracing::warn!(subscription_id = %id, metric = "dunning_paid_at_provider", "an unpaid subscription was paid at the provider; the dunning ends");
        let event = sweeper_event("paid", &sub, access_until, app);
        update_billing(app, &event, &sub.provider_subscription_id, None, |s| {
            match (s.status, s.dunning.as_ref().is_some_and(|d| d.access_until == access_until)) {
                (SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid, true) => {
                    Next { dunning: Some(None), ..Next::status(SubscriptionStatus::Active) }
                }
                (_, true) => Next { dunning: Some(None), ..Next::none() },
                _ => Next::none(),
            }
        })
        .await?;
        return Ok(false);
    }
    let key = format!("dunning-{id}-{}", access_until.timestamp());
    app.payments.cancel_now(&sub.provider_subscription_id, &key).await?;
    // The ledger's open renewal invoice (offline) is void with it.
    let void = super::invoices::renewal_void(app, &sub).await?;
    let event = sweeper_event("unpaid", &sub, access_until, app);
    update_billing(app, &event, &sub.provider_subscription_id, None, |s| {
        match s.dunning.as_ref().is_some_and(|d| d.access_until == access_until) {
            true => Next {
                invoice: void.clone(),
                only_without_change: true,
                ..Next::status(SubscriptionStatus::Canceled)
            },
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
