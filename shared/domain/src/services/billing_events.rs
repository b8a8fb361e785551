//! What the payment provider tells us: completed checkouts, subscription updates, invoices.
//!
//! Delivery is at least once and in any order. Each event id takes effect once (recorded in
//! the same transaction as its effect) and an event older than the last one applied to a
//! subscription never rolls its state back.

use super::App;
use crate::error::DomainError;
use crate::events::{PaymentEvent, PaymentEventKind};
use crate::ids;
use crate::model::*;
use crate::period::first_period_end;
use crate::ports::{Applied, BillingUpdate, CheckoutCompletion, RenewalTerms};
use chrono::{DateTime, Utc};
use serde_json::json;

/// The result of handling one event, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Stale,
    Ignored,
}

impl From<Applied> for Outcome {
    fn from(a: Applied) -> Self {
        match a {
            Applied::Applied => Outcome::Applied,
            Applied::Duplicate => Outcome::Duplicate,
            Applied::Stale => Outcome::Stale,
        }
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
        }
    }
}

/// How often an optimistic update is retried when a concurrent writer moved the version.
const MAX_ATTEMPTS: usize = 5;

pub async fn handle(app: &App, event: &PaymentEvent) -> Result<Outcome, DomainError> {
    match &event.kind {
        PaymentEventKind::CheckoutCompleted {
            checkout_id,
            provider_subscription_id,
            provider_customer_id,
        } => {
            complete_checkout(
                app,
                event,
                checkout_id,
                provider_subscription_id,
                provider_customer_id.as_deref(),
            )
            .await
        }
        PaymentEventKind::SubscriptionUpdated { provider_subscription_id, status, period } => {
            let Some(status) = SubscriptionStatus::from_provider(status) else {
                tracing::warn!(event_id = %event.id, "unknown subscription status; ignored");
                return ignore(app, event).await;
            };
            update_billing(app, event, provider_subscription_id, |_| (Some(status), *period)).await
        }
        PaymentEventKind::SubscriptionDeleted { provider_subscription_id } => {
            update_billing(app, event, provider_subscription_id, |_| {
                (Some(SubscriptionStatus::Canceled), None)
            })
            .await
        }
        PaymentEventKind::InvoicePaymentFailed { provider_subscription_id } => {
            update_billing(app, event, provider_subscription_id, |s| {
                let next = match s.status {
                    SubscriptionStatus::Active | SubscriptionStatus::Trialing => {
                        Some(SubscriptionStatus::PastDue)
                    }
                    _ => None,
                };
                (next, None)
            })
            .await
        }
        PaymentEventKind::InvoicePaid { provider_subscription_id } => {
            update_billing(app, event, provider_subscription_id, |s| {
                let next = match s.status {
                    SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => {
                        Some(SubscriptionStatus::Active)
                    }
                    _ => None,
                };
                (next, None)
            })
            .await
        }
        PaymentEventKind::Ignored { .. } => ignore(app, event).await,
    }
}

async fn ignore(app: &App, event: &PaymentEvent) -> Result<Outcome, DomainError> {
    app.store.record_event(&event.id, app.clock.now()).await?;
    Ok(Outcome::Ignored)
}

fn at_unix(s: i64) -> Result<DateTime<Utc>, DomainError> {
    DateTime::from_timestamp(s, 0).ok_or_else(|| DomainError::invalid("created", "is not a valid Unix time"))
}

async fn complete_checkout(
    app: &App,
    event: &PaymentEvent,
    checkout_id: &str,
    provider_subscription_id: &str,
    provider_customer_id: Option<&str>,
) -> Result<Outcome, DomainError> {
    let checkout =
        if ids::is_valid(ids::CHECKOUT, checkout_id) { app.store.checkout(checkout_id).await? } else { None };
    let Some(checkout) = checkout else {
        // Not ours (another integration on the same Stripe account): acknowledge.
        tracing::warn!(event_id = %event.id, "checkout.session.completed for an unknown checkout");
        return ignore(app, event).await;
    };
    if checkout.status != CheckoutStatus::Open {
        return Ok(if app.store.record_event(&event.id, app.clock.now()).await? {
            Outcome::Stale
        } else {
            Outcome::Duplicate
        });
    }
    let org = app
        .store
        .organization(&checkout.organization_id)
        .await?
        .ok_or(DomainError::Internal("checkout without organization".into()))?;
    let product_name = app.store.product(&checkout.product_id).await?.map(|p| p.name).unwrap_or_default();
    // The first period starts when the payment completed at the provider, so a retried
    // event computes the very same period.
    let start = at_unix(event.created)?;
    for _ in 0..MAX_ATTEMPTS {
        let existing =
            app.store.customer_by_email(&checkout.organization_id, &checkout.customer_email).await?;
        let (customer, new_customer) = match existing {
            Some(c) => (c, None),
            None => {
                let c = Customer {
                    id: ids::new_id(ids::CUSTOMER),
                    organization_id: checkout.organization_id.clone(),
                    email: checkout.customer_email.clone(),
                    created_at: app.clock.now(),
                };
                (c.clone(), Some(c))
            }
        };
        let subscription = Subscription {
            id: ids::new_id(ids::SUBSCRIPTION),
            organization_id: checkout.organization_id.clone(),
            product_id: checkout.product_id.clone(),
            product_name: product_name.clone(),
            organization_name: org.name.clone(),
            customer_id: customer.id.clone(),
            status: SubscriptionStatus::Active,
            interval: checkout.interval,
            currency: checkout.currency.clone(),
            unit_amount: checkout.unit_amount,
            seats: checkout.seats,
            seats_assigned: 0,
            assign_cap: checkout.seats,
            scheduled_change: None,
            current_period_start: start,
            current_period_end: first_period_end(start, checkout.interval),
            provider_subscription_id: provider_subscription_id.to_string(),
            provider_customer_id: provider_customer_id.map(str::to_string),
            last_event_at: event.created,
            version: 1,
            created_at: app.clock.now(),
        };
        let audit = AuditEvent {
            id: ids::new_id(ids::EVENT),
            subscription_id: subscription.id.clone(),
            kind: "subscription.created".into(),
            actor: format!("stripe:{}", event.id),
            data: json!({
                "checkout_id": checkout.id,
                "seats": checkout.seats,
                "interval": checkout.interval,
                "unit_amount": checkout.unit_amount,
                "amount_paid": checkout.amount_due,
                "currency": checkout.currency,
            }),
            created_at: app.clock.now(),
        };
        let applied = app
            .store
            .complete_checkout(&CheckoutCompletion {
                checkout_id: checkout.id.clone(),
                event_id: event.id.clone(),
                new_customer,
                subscription,
                audit,
            })
            .await?;
        match applied {
            Applied::Applied => {
                // The purchase is committed; a mail failure must not undo it or make the
                // provider retry. The billing manager can ask for another link.
                if let Err(e) = super::portal::send_sign_in_link(app, &org, &customer).await {
                    tracing::warn!(error = %e, "sign-in email after purchase failed");
                }
                return Ok(Outcome::Applied);
            }
            Applied::Duplicate => return Ok(Outcome::Duplicate),
            Applied::Stale => {
                // Either the checkout completed meanwhile, or the billing manager's customer
                // was created concurrently: read again.
                let now_checkout = app.store.checkout(&checkout.id).await?;
                if now_checkout.is_some_and(|c| c.status != CheckoutStatus::Open) {
                    app.store.record_event(&event.id, app.clock.now()).await?;
                    return Ok(Outcome::Stale);
                }
            }
        }
    }
    Err(DomainError::Unavailable)
}

fn scheduled_at(c: &ScheduledChange) -> DateTime<Utc> {
    match c {
        ScheduledChange::SeatDecrease { effective_at, .. }
        | ScheduledChange::IntervalChange { effective_at, .. } => *effective_at,
    }
}

fn renewal_terms(sub: &Subscription, c: &ScheduledChange) -> RenewalTerms {
    match c {
        ScheduledChange::SeatDecrease { seats, .. } => RenewalTerms {
            seats: *seats,
            assign_cap: *seats,
            interval: sub.interval,
            unit_amount: sub.unit_amount,
        },
        ScheduledChange::IntervalChange { interval, unit_amount, .. } => RenewalTerms {
            seats: sub.seats,
            assign_cap: sub.seats,
            interval: *interval,
            unit_amount: *unit_amount,
        },
    }
}

/// Applies `next(subscription)` = (new status, new period) under optimistic concurrency.
async fn update_billing<F>(
    app: &App,
    event: &PaymentEvent,
    provider_subscription_id: &str,
    next: F,
) -> Result<Outcome, DomainError>
where
    F: Fn(&Subscription) -> (Option<SubscriptionStatus>, Option<(i64, i64)>),
{
    for _ in 0..MAX_ATTEMPTS {
        let Some(sub) = app.store.subscription_by_provider_id(provider_subscription_id).await? else {
            // Stripe does not order events: an update can overtake the checkout's completion.
            // Answering non-2xx makes Stripe deliver it again later, when it can apply.
            return Err(DomainError::Conflict(
                "the subscription is not known yet; deliver the event again later".into(),
            ));
        };
        if event.created < sub.last_event_at {
            return Ok(if app.store.record_event(&event.id, app.clock.now()).await? {
                Outcome::Stale
            } else {
                Outcome::Duplicate
            });
        }
        let (status, period) = next(&sub);
        let status = status.unwrap_or(sub.status);
        let (start, end) = match period {
            Some((s, e)) if s >= sub.current_period_start.timestamp() && e > s => (at_unix(s)?, at_unix(e)?),
            _ => (sub.current_period_start, sub.current_period_end),
        };
        // A new period that reaches a scheduled change's date applies it: the renewal bills
        // the new terms from now on.
        let renewal = match &sub.scheduled_change {
            Some(c) if start > sub.current_period_start && scheduled_at(c) <= start => {
                Some(renewal_terms(&sub, c))
            }
            _ => None,
        };
        // A lapse revokes every seat, fanned out over the queue from the outbox.
        let lapsed = matches!(status, SubscriptionStatus::Canceled | SubscriptionStatus::Unpaid)
            && !matches!(sub.status, SubscriptionStatus::Canceled | SubscriptionStatus::Unpaid);
        let revoke_all = lapsed.then(|| Job::revoke_all(&sub.id, None));
        let changed = status != sub.status
            || start != sub.current_period_start
            || end != sub.current_period_end
            || renewal.is_some();
        let kind = match (&renewal, lapsed) {
            (_, true) => "subscription.lapsed",
            (Some(_), _) => "subscription.renewed",
            _ => "subscription.updated",
        };
        let audit = changed.then(|| AuditEvent {
            id: ids::new_id(ids::EVENT),
            subscription_id: sub.id.clone(),
            kind: kind.into(),
            actor: format!("stripe:{}", event.id),
            data: json!({
                "status": {"from": sub.status, "to": status},
                "current_period_start": start,
                "current_period_end": end,
                "renewal": renewal.as_ref().map(|r| json!({
                    "seats": r.seats, "interval": r.interval, "unit_amount": r.unit_amount,
                    "amount": r.seats * r.unit_amount,
                })),
            }),
            created_at: app.clock.now(),
        });
        let applied = app
            .store
            .apply_billing_update(&BillingUpdate {
                subscription_id: sub.id.clone(),
                expected_version: sub.version,
                event_id: event.id.clone(),
                event_created: event.created,
                status,
                current_period_start: start,
                current_period_end: end,
                renewal,
                revoke_all: revoke_all.clone(),
                audit,
            })
            .await?;
        match applied {
            Applied::Stale => continue, // someone else wrote first: read again
            Applied::Applied => {
                if let Some(job) = revoke_all {
                    if let Err(e) = app.jobs.enqueue(&[job]).await {
                        tracing::warn!(subscription_id = %sub.id, error = %e, "revoke-all job not sent; the sweeper will send it");
                    }
                }
                return Ok(Outcome::Applied);
            }
            other => return Ok(other.into()),
        }
    }
    Err(DomainError::Unavailable)
}
