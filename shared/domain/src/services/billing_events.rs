//! What the payment provider tells us: completed checkouts, subscription updates, invoices.
//!
//! Delivery is at least once and in any order. Each event id takes effect once (recorded in
//! the same transaction as its effect) and an event older than the last one applied to a
//! subscription never rolls its state back.

use super::billing_state::{update_billing, Next};
use super::checkout_completion::complete_checkout;
use super::App;
use crate::error::DomainError;
use crate::events::{PaymentEvent, PaymentEventKind, SubscriptionState};
use crate::ids;
use crate::model::*;
use crate::ports::Applied;
use crate::services::changes;
use chrono::{DateTime, Utc};

pub use super::billing_state::end_at_period_end;

/// The result of handling one event, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Stale,
    /// Read and recorded; it changed nothing.
    Unchanged,
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
            Outcome::Unchanged => "unchanged",
            Outcome::Ignored => "ignored",
        }
    }
}

/// How far the provider's clock may lag ours when an event is compared with a change's start.
pub(super) const CLOCK_SKEW_S: i64 = 5;

/// How often an optimistic update is retried when a concurrent writer moved the version.
pub(super) const MAX_ATTEMPTS: usize = 5;

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
        PaymentEventKind::SubscriptionUpdated { provider_subscription_id, checkout_id, state } => {
            let Some(status) = SubscriptionStatus::from_provider(&state.status) else {
                tracing::warn!(event_id = %event.id, "unknown subscription status; ignored");
                return ignore(app, event).await;
            };
            let Some(sub) = known(app, event, provider_subscription_id, checkout_id).await? else {
                return ignore(app, event).await;
            };
            // Past due at the provider with no dunning here (its payment_failed event came late,
            // or was consumed while a change was in flight): one starts now.
            let grace_days = match (status, &sub.dunning) {
                (SubscriptionStatus::PastDue, None) => Some(grace_days_of(app, &sub).await?),
                _ => None,
            };
            let at = at_unix(event.created)?;
            // A settlement wrote the subscription: read it again; else it is as read.
            let as_read = (!settle_from_event(app, event, sub.clone(), state).await?).then_some(sub);
            let item_id = state.item.as_ref().and_then(|i| i.id.clone());
            update_billing(app, event, provider_subscription_id, as_read, |s| Next {
                status: Some(status),
                period: state.period,
                item_id: item_id.clone(),
                cancellation: state.cancellation.clone(),
                // The provider says it is paid up (active, trialing): any dunning is over. Past
                // due without one: it starts.
                dunning: match (status, &s.dunning, grace_days) {
                    (SubscriptionStatus::Active | SubscriptionStatus::Trialing, Some(_), _) => Some(None),
                    (SubscriptionStatus::PastDue, None, Some(days)) => {
                        Some(Some(super::dunning::after_failure(s, days, None, at)))
                    }
                    _ => None,
                },
                ..Next::none()
            })
            .await
        }
        PaymentEventKind::SubscriptionDeleted { provider_subscription_id, checkout_id } => {
            let Some(sub) = known(app, event, provider_subscription_id, checkout_id).await? else {
                return ignore(app, event).await;
            };
            update_billing(app, event, provider_subscription_id, Some(sub), |_| {
                Next::status(SubscriptionStatus::Canceled)
            })
            .await
        }
        PaymentEventKind::PendingUpdateExpired { provider_subscription_id, checkout_id } => {
            let Some(sub) = known(app, event, provider_subscription_id, checkout_id).await? else {
                return ignore(app, event).await;
            };
            let Some(pending) = sub.pending_change.clone() else {
                return ignore(app, event).await;
            };
            if event.created + CLOCK_SKEW_S < pending.intent.started_at.timestamp() {
                // The expiry of an earlier pending change, delivered late: not this one's.
                app.store.record_event(&event.id, app.clock.now()).await?;
                return Ok(Outcome::Stale);
            }
            let actor = event.actor();
            let done = changes::settle::dropped(app, &sub, &pending.intent, &actor).await?;
            app.store.record_event(&event.id, app.clock.now()).await?;
            Ok(if done { Outcome::Applied } else { Outcome::Unchanged })
        }
        PaymentEventKind::InvoicePaymentFailed {
            provider_subscription_id,
            checkout_id,
            billing_reason,
            invoice,
        } => {
            let Some(sub) = known(app, event, provider_subscription_id, checkout_id).await? else {
                return ignore(app, event).await;
            };
            let of_a_change = billing_reason.as_deref() == Some("subscription_update");
            let unpaid = match of_a_change {
                false => super::invoices::renewal_payment(app, &sub, false).await?,
                true => None,
            };
            let grace_days = match of_a_change {
                false => grace_days_of(app, &sub).await?,
                true => DEFAULT_GRACE_DAYS,
            };
            let at = at_unix(event.created)?;
            // A renewal's invoice says so; an event without its reason counts as one only while
            // no change (whose own invoice it might be) is in flight.
            let of_a_renewal =
                matches!(billing_reason.as_deref(), Some("subscription_cycle" | "subscription_create"));
            update_billing(app, event, provider_subscription_id, Some(sub), |s| {
                // A change's declined payment leaves the subscription as it was (pay first):
                // only a renewal's failure makes it past due, and starts (or continues) dunning.
                let renewal_failed =
                    of_a_renewal || (!of_a_change && s.pending_change.is_none() && s.change_intent.is_none());
                let dunning = Some(Some(super::dunning::after_failure(s, grace_days, invoice.as_ref(), at)));
                match s.status {
                    SubscriptionStatus::Active | SubscriptionStatus::Trialing if renewal_failed => {
                        Next { invoice: unpaid.clone(), dunning, ..Next::status(SubscriptionStatus::PastDue) }
                    }
                    SubscriptionStatus::PastDue if renewal_failed => Next { dunning, ..Next::none() },
                    _ => Next::none(),
                }
            })
            .await
        }
        PaymentEventKind::InvoicePaid {
            provider_subscription_id,
            checkout_id,
            invoice_id,
            billing_reason,
        } => {
            let Some(sub) = known(app, event, provider_subscription_id, checkout_id).await? else {
                return ignore(app, event).await;
            };
            let mut as_read = Some(sub.clone());
            if let (Some(pending), Some(id)) = (&sub.pending_change, invoice_id) {
                if &pending.invoice_id == id {
                    settle_paid_pending(app, event, &sub, pending).await?;
                    as_read = None;
                }
            }
            // A change's invoice paid says nothing of the renewal's.
            let of_a_change = billing_reason.as_deref() == Some("subscription_update");
            let paid = match of_a_change {
                false => super::invoices::renewal_payment(app, &sub, true).await?,
                true => None,
            };
            if sub.status == SubscriptionStatus::Canceled && !of_a_change {
                // Paid after the subscription ended (an open invoice paid by hand): the money is
                // the merchant's to refund; a person looks.
                tracing::error!(subscription_id = %sub.id, event_id = %event.id, invoice_id = ?invoice_id, metric = "paid_after_lapse", "an invoice of a lapsed subscription was paid");
            }
            // Another invoice than the one the dunning is about (a change's, say) ends nothing.
            let ends_dunning = |s: &Subscription| {
                !of_a_change
                    && match (s.dunning.as_ref().and_then(|d| d.invoice_id.as_deref()), invoice_id.as_deref())
                    {
                        (Some(unpaid), Some(paid)) => unpaid == paid,
                        _ => true,
                    }
            };
            update_billing(app, event, provider_subscription_id, as_read, |s| match s.status {
                SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid if ends_dunning(s) => Next {
                    invoice: paid.clone(),
                    dunning: Some(None),
                    ..Next::status(SubscriptionStatus::Active)
                },
                // Paid while still active (the failure's event never came, or came late): any
                // dunning ends.
                _ if ends_dunning(s) && s.dunning.is_some() => Next { dunning: Some(None), ..Next::none() },
                _ => Next::none(),
            })
            .await
        }
        PaymentEventKind::Ignored { .. } => ignore(app, event).await,
    }
}

/// The organization's grace days for an unpaid renewal of `sub`.
async fn grace_days_of(app: &App, sub: &Subscription) -> Result<u32, DomainError> {
    Ok(app.store.organization(&sub.organization_id).await?.map_or(DEFAULT_GRACE_DAYS, |o| o.grace_days()))
}

/// Our subscription for a provider event; `None` for one this system did not create (another
/// integration on the same account: acknowledged, never retried for days). One of ours whose
/// checkout's completion has not arrived yet answers 409, so the provider delivers it again.
async fn known(
    app: &App,
    event: &PaymentEvent,
    provider_subscription_id: &str,
    checkout_id: &Option<String>,
) -> Result<Option<Subscription>, DomainError> {
    if let Some(sub) = app.store.subscription_by_provider_id(provider_subscription_id).await? {
        return Ok(Some(sub));
    }
    // Ours, overtaking its checkout's completion: the checkout is here and still open. A
    // `checkout_id` this deployment never made (another deployment on the same Stripe account)
    // is not ours.
    if let Some(id) = checkout_id.as_deref().filter(|id| ids::is_valid(ids::CHECKOUT, id)) {
        if app.store.checkout(id).await?.is_some_and(|c| c.status == CheckoutStatus::Open) {
            return Err(DomainError::Conflict(
                "the subscription is not known yet; deliver the event again later".into(),
            ));
        }
    }
    tracing::info!(event_id = %event.id, "event of a subscription this system did not create; ignored");
    Ok(None)
}

/// A provider subscription that now carries a change in flight or waiting for payment, paid
/// and with nothing pending, settles it (this event may overtake the apply's own answer).
async fn settle_from_event(
    app: &App,
    event: &PaymentEvent,
    sub: Subscription,
    state: &SubscriptionState,
) -> Result<bool, DomainError> {
    let intent = sub
        .change_intent
        .clone()
        .filter(|i| i.kind.charges_now())
        .or_else(|| sub.pending_change.as_ref().map(|p| p.intent.clone()));
    let (Some(intent), Some(item)) = (intent, &state.item) else { return Ok(false) };
    if state.pending_update
        || item.quantity != intent.seats
        || item.interval.as_deref() != Some(intent.interval.as_str())
        // An older event delivered again (Stripe retries for days) proves nothing of this change,
        // nor does one older than what was applied since (a renewal): the sweeper then reads
        // Stripe's own state.
        || event.created + CLOCK_SKEW_S < intent.started_at.timestamp()
        || event.created < sub.last_event_at
    {
        return Ok(false);
    }
    // A change waiting for payment is paid by its own invoice.
    if let (Some(pending), Some(invoice)) = (&sub.pending_change, &state.latest_invoice) {
        if pending.intent.id == intent.id && &pending.invoice_id != invoice {
            return Ok(false);
        }
    }
    let period =
        state.period.unwrap_or((sub.current_period_start.timestamp(), sub.current_period_end.timestamp()));
    // A pending change was paid by the invoice it named, whose amount it recorded.
    let amount_due = sub.pending_change.as_ref().filter(|p| p.intent.id == intent.id).map(|p| p.amount_due);
    let how = changes::settle::Settle {
        period,
        invoice_id: state.latest_invoice.clone(),
        amount_due,
        actor: event.actor(),
    };
    changes::settle::applied(app, &sub, &intent, how).await?;
    Ok(true)
}

/// The invoice of a change waiting for its payment was paid: Stripe applies a pending update
/// when its invoice is paid. Settled from Stripe's state (the subscription's own update event
/// may name a later invoice, a renewal's, and so not settle it); offline, from the intent.
async fn settle_paid_pending(
    app: &App,
    event: &PaymentEvent,
    sub: &Subscription,
    pending: &PendingChange,
) -> Result<(), DomainError> {
    let intent = &pending.intent;
    let period = match app.payments.subscription(&sub.provider_subscription_id).await? {
        Some(state)
            if state.pending_update_expires_at.is_none()
                && state.quantity == intent.seats
                && state.interval == intent.interval =>
        {
            (state.period_start, state.period_end)
        }
        // Not applied at Stripe yet: its update event will say when.
        Some(_) => return Ok(()),
        None if intent.kind == ChangeKind::IntervalSwitch => {
            let start = at_unix(intent.proration_date)?;
            (start.timestamp(), crate::period::add_interval_anchored(start, 1, intent.interval).timestamp())
        }
        None => (sub.current_period_start.timestamp(), sub.current_period_end.timestamp()),
    };
    let how = changes::settle::Settle {
        period,
        invoice_id: Some(pending.invoice_id.clone()),
        amount_due: Some(pending.amount_due),
        actor: event.actor(),
    };
    changes::settle::applied(app, sub, intent, how).await?;
    Ok(())
}

pub(super) async fn ignore(app: &App, event: &PaymentEvent) -> Result<Outcome, DomainError> {
    app.store.record_event(&event.id, app.clock.now()).await?;
    Ok(Outcome::Ignored)
}

pub(super) fn at_unix(s: i64) -> Result<DateTime<Utc>, DomainError> {
    DateTime::from_timestamp(s, 0).ok_or_else(|| DomainError::invalid("created", "is not a valid Unix time"))
}
