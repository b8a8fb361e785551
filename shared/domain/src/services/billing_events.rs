//! What the payment provider tells us: completed checkouts, subscription updates, invoices.
//!
//! Delivery is at least once and in any order. Each event id takes effect once (recorded in
//! the same transaction as its effect) and an event older than the last one applied to a
//! subscription never rolls its state back.

use super::webhooks::announce;
use super::App;
use crate::error::DomainError;
use crate::events::{PaymentEvent, PaymentEventKind, StateCancellation, SubscriptionState};
use crate::ids;
use crate::model::*;
use crate::period::first_period_end;
use crate::ports::{
    Applied, BillingUpdate, CancellationWrite, CheckoutCompletion, RenewalTerms, Restoration,
    SuspensionChange,
};
use crate::services::changes;
use chrono::{DateTime, Utc};
use serde_json::json;

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
const CLOCK_SKEW_S: i64 = 5;

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
        PaymentEventKind::SubscriptionUpdated { provider_subscription_id, checkout_id, state } => {
            let Some(status) = SubscriptionStatus::from_provider(&state.status) else {
                tracing::warn!(event_id = %event.id, "unknown subscription status; ignored");
                return ignore(app, event).await;
            };
            let Some(sub) = known(app, event, provider_subscription_id, checkout_id).await? else {
                return ignore(app, event).await;
            };
            // A settlement wrote the subscription: read it again; else it is as read.
            let as_read = (!settle_from_event(app, event, sub.clone(), state).await?).then_some(sub);
            let item_id = state.item.as_ref().and_then(|i| i.id.clone());
            update_billing(app, event, provider_subscription_id, as_read, |_| Next {
                status: Some(status),
                period: state.period,
                item_id: item_id.clone(),
                cancellation: state.cancellation.clone(),
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
        PaymentEventKind::InvoicePaymentFailed { provider_subscription_id, checkout_id, billing_reason } => {
            let Some(sub) = known(app, event, provider_subscription_id, checkout_id).await? else {
                return ignore(app, event).await;
            };
            let of_a_change = billing_reason.as_deref() == Some("subscription_update");
            let unpaid = match of_a_change {
                false => super::invoices::renewal_payment(app, &sub, false).await?,
                true => None,
            };
            update_billing(app, event, provider_subscription_id, Some(sub), |s| match s.status {
                // A change's declined payment leaves the subscription as it was (pay first):
                // only a renewal's failure makes it past due.
                SubscriptionStatus::Active | SubscriptionStatus::Trialing
                    if !of_a_change && s.pending_change.is_none() && s.change_intent.is_none() =>
                {
                    Next { invoice: unpaid.clone(), ..Next::status(SubscriptionStatus::PastDue) }
                }
                _ => Next::none(),
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
            update_billing(app, event, provider_subscription_id, as_read, |s| match s.status {
                SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid if !of_a_change => {
                    Next { invoice: paid.clone(), ..Next::status(SubscriptionStatus::Active) }
                }
                _ => Next::none(),
            })
            .await
        }
        PaymentEventKind::Ignored { .. } => ignore(app, event).await,
    }
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

/// What an event says the subscription is now; `None` fields leave it as it is.
struct Next {
    status: Option<SubscriptionStatus>,
    period: Option<(i64, i64)>,
    item_id: Option<String>,
    /// The ledger's renewal invoice, paid or open now (a provider that keeps no invoices).
    invoice: Option<BillingInvoice>,
    /// What the provider says of an end at the period's end.
    cancellation: Option<StateCancellation>,
    /// Write only while no change is in flight.
    only_without_change: bool,
}

impl Next {
    fn none() -> Self {
        Next {
            status: None,
            period: None,
            item_id: None,
            invoice: None,
            cancellation: None,
            only_without_change: false,
        }
    }
    fn status(s: SubscriptionStatus) -> Self {
        Next { status: Some(s), ..Next::none() }
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
    // The first period is the provider's (it starts when the provider created the
    // subscription, before this event). A provider without state (offline) gets an estimate
    // from the event's time until its first subscription event brings the real one.
    let provider = app.payments.subscription(provider_subscription_id).await?;
    let (start, end, item_id, confirmed) = match &provider {
        Some(p) => (at_unix(p.period_start)?, at_unix(p.period_end)?, Some(p.item_id.clone()), true),
        None => {
            let start = at_unix(event.created)?;
            (start, first_period_end(start, checkout.interval), None, false)
        }
    };
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
        // The billing manager's own lapsed subscription of this product, within its window,
        // gives its seats to this one.
        let now = app.clock.now();
        let reactivates = match new_customer {
            Some(_) => None,
            None => super::suspension::restorable(app, &customer.id, &checkout.product_id, now).await?,
        };
        let id = ids::new_id(ids::SUBSCRIPTION);
        let restore = reactivates.as_ref().and_then(|old| {
            old.suspended_until.map(|until| Restoration {
                from_subscription_id: old.id.clone(),
                customer_id: customer.id.clone(),
                until,
                at: now,
                job: Job::restore(&old.id, &id, None),
            })
        });
        let subscription = Subscription {
            id,
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
            current_period_end: end,
            provider_subscription_id: provider_subscription_id.to_string(),
            provider_customer_id: provider_customer_id.map(str::to_string),
            last_event_at: event.created,
            version: 1,
            created_at: app.clock.now(),
            provider_item_id: item_id.clone(),
            period_confirmed: confirmed,
            change_intent: None,
            pending_change: None,
            suspended_until: None,
            restored_from: restore.as_ref().map(|r| r.from_subscription_id.clone()),
            restored_into: None,
            cancellation: None,
            cancellation_changed_at: 0,
        };
        let mut completed = checkout.clone();
        completed.status = CheckoutStatus::Completed;
        completed.subscription_id = Some(subscription.id.clone());
        let audit = AuditEvent {
            outgoing: vec![
                announce::checkout(app, &completed),
                announce::subscription(app, "subscription.created", &subscription),
            ],
            id: ids::new_id(ids::EVENT),
            subscription_id: subscription.id.clone(),
            kind: "subscription.created".into(),
            actor: event.actor(),
            data: json!({
                "checkout_id": checkout.id,
                "seats": checkout.seats,
                "interval": checkout.interval,
                "unit_amount": checkout.unit_amount,
                "amount_paid": checkout.amount_due,
                "currency": checkout.currency,
                "restored_from": subscription.restored_from,
            }),
            created_at: app.clock.now(),
        };
        let invoice = super::invoices::purchase(app, &subscription, &checkout);
        let completion = CheckoutCompletion {
            checkout_id: checkout.id.clone(),
            event_id: event.id.clone(),
            new_customer,
            subscription,
            audit,
            restore,
            invoice,
        };
        let applied = app.store.complete_checkout(&completion).await?;
        match applied {
            Applied::Applied => {
                announce::announce(app, [&completion.audit]).await;
                if let Some(r) = &completion.restore {
                    if let Err(e) = app.jobs.enqueue(std::slice::from_ref(&r.job)).await {
                        tracing::warn!(subscription_id = %completion.subscription.id, error = %e, "restore job not sent; the sweeper will send it");
                    }
                }
                // The purchase is committed; the link goes out from the worker, so neither a
                // mail failure nor a slow mail service reaches the provider's delivery. Should
                // the queue refuse it, the success page offers to ask for another link.
                let link = Job::sign_in(&org.slug, &customer.email);
                if let Err(e) = app.jobs.enqueue(&[link]).await {
                    tracing::warn!(error = %e, "sign-in link after purchase not queued");
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

/// The provider's cancellation flag, set or withdrawn by hand at the provider, as a write of
/// ours, when the event is newer than our last change of it (an event from before a resume
/// says nothing of it) and the subscription still runs.
fn mirrored_cancellation(
    event: &PaymentEvent,
    sub: &Subscription,
    said: Option<&StateCancellation>,
    status: SubscriptionStatus,
    period_end: DateTime<Utc>,
) -> Option<CancellationWrite> {
    let said = said?;
    // Our own cancel or resume in flight: Stripe's event of it overtakes its answer; the
    // settlement writes it (once, with its reason).
    let ours_in_flight = sub
        .change_intent
        .as_ref()
        .is_some_and(|i| matches!(i.kind, ChangeKind::CancelAtPeriodEnd | ChangeKind::Resume));
    if ours_in_flight || status.is_lapsed() || event.created <= sub.cancellation_changed_at + CLOCK_SKEW_S {
        return None;
    }
    match (said.cancel_at_period_end, &sub.cancellation) {
        (false, Some(_)) => Some(CancellationWrite { cancellation: None, at: event.created }),
        (true, None) => Some(CancellationWrite {
            cancellation: Some(Cancellation {
                cancel_at: said.cancel_at.and_then(|t| DateTime::from_timestamp(t, 0)).unwrap_or(period_end),
                requested_at: DateTime::from_timestamp(event.created, 0).unwrap_or(period_end),
                reason: said
                    .feedback
                    .as_deref()
                    .and_then(|f| serde_json::from_value(serde_json::Value::String(f.into())).ok()),
                comment: said.comment.clone().filter(|c| !c.is_empty()),
                actor: event.actor(),
            }),
            at: event.created,
        }),
        _ => None,
    }
}

/// The sweeper's end of a subscription set to cancel at `cancel_at`, through the lapse path:
/// only while it is still set to that end and no change (a resume) is in flight, conditioned
/// on both in the write.
pub async fn end_at_period_end(
    app: &App,
    event: &PaymentEvent,
    provider_subscription_id: &str,
    cancel_at: DateTime<Utc>,
) -> Result<Outcome, DomainError> {
    update_billing(app, event, provider_subscription_id, None, |s| {
        let still =
            s.cancellation.as_ref().is_some_and(|c| c.cancel_at == cancel_at) && s.change_intent.is_none();
        match still {
            true => Next { only_without_change: true, ..Next::status(SubscriptionStatus::Canceled) },
            false => Next::none(),
        }
    })
    .await
}

fn renewal_terms(sub: &Subscription, c: &ScheduledChange) -> RenewalTerms {
    match c {
        ScheduledChange::SeatDecrease { seats, .. } => RenewalTerms {
            seats: *seats,
            assign_cap: *seats,
            interval: sub.interval,
            unit_amount: sub.unit_amount,
        },
        ScheduledChange::IntervalChange { interval, unit_amount, seats, .. } => {
            let seats = seats.unwrap_or(sub.seats);
            RenewalTerms { seats, assign_cap: seats, interval: *interval, unit_amount: *unit_amount }
        }
    }
}

/// Applies what an event says under optimistic concurrency. An event that changes nothing
/// writes nothing but its id (no version bump); `canceled` is terminal.
async fn update_billing<F>(
    app: &App,
    event: &PaymentEvent,
    provider_subscription_id: &str,
    as_read: Option<Subscription>,
    next: F,
) -> Result<Outcome, DomainError>
where
    F: Fn(&Subscription) -> Next,
{
    // The first attempt works on the subscription as the caller read it (when nothing wrote
    // it since); a conflict reads it again.
    let mut as_read = as_read;
    for _ in 0..MAX_ATTEMPTS {
        let sub = match as_read.take() {
            Some(sub) => sub,
            None => match app.store.subscription_by_provider_id(provider_subscription_id).await? {
                Some(sub) => sub,
                None => {
                    return Err(DomainError::Conflict(
                        "the subscription is not known yet; deliver the event again later".into(),
                    ))
                }
            },
        };
        if event.created < sub.last_event_at || sub.status == SubscriptionStatus::Canceled {
            return Ok(if app.store.record_event(&event.id, app.clock.now()).await? {
                Outcome::Stale
            } else {
                Outcome::Duplicate
            });
        }
        let mut next = next(&sub);
        let status = next.status.unwrap_or(sub.status);
        // The provider's period replaces an estimated one whatever its start; once confirmed,
        // only a later period replaces it.
        let (start, end, from_provider) = match next.period {
            Some((s, e)) if e > s && (!sub.period_confirmed || s >= sub.current_period_start.timestamp()) => {
                (at_unix(s)?, at_unix(e)?, true)
            }
            _ => (sub.current_period_start, sub.current_period_end, false),
        };
        let period_confirmed = sub.period_confirmed || from_provider;
        let provider_item_id = next.item_id.clone().or_else(|| sub.provider_item_id.clone());
        // A period starting at or after a scheduled change's date applies it: the renewal
        // bills the new terms from now on.
        let renewal = match &sub.scheduled_change {
            Some(c) if start > sub.current_period_start && c.effective_at() <= start => {
                Some(renewal_terms(&sub, c))
            }
            _ => None,
        };
        // A lapse suspends every seat (a reactivation within the window restores them), fanned
        // out over the queue from the outbox; the provider's reactivation restores them in place.
        let lapsed = status.is_lapsed() && !sub.status.is_lapsed();
        let (seats_job, suspension) = super::suspension::on_status_change(app, &sub, status);
        // The provider's own word on an end at the period's end (set or withdrawn at Stripe by
        // hand), when it is newer than our last change of it.
        let cancellation = mirrored_cancellation(event, &sub, next.cancellation.as_ref(), status, end);
        let withdrawn = cancellation.as_ref().is_some_and(|w| w.cancellation.is_none());
        let billing_changed = status != sub.status
            || start != sub.current_period_start
            || end != sub.current_period_end
            || renewal.is_some()
            || cancellation.is_some();
        if !billing_changed
            && period_confirmed == sub.period_confirmed
            && provider_item_id == sub.provider_item_id
        {
            return Ok(if app.store.record_event(&event.id, app.clock.now()).await? {
                Outcome::Unchanged
            } else {
                Outcome::Duplicate
            });
        }
        let reactivated = suspension == SuspensionChange::End;
        let kind = match (&renewal, lapsed) {
            (_, true) => "subscription.lapsed",
            _ if reactivated => "subscription.reactivated",
            _ if withdrawn => "subscription.resumed",
            _ if cancellation.is_some() => "subscription.cancellation_scheduled",
            (Some(_), _) => "subscription.renewed",
            _ => "subscription.updated",
        };
        let mut after = sub.clone();
        after.status = status;
        after.current_period_start = start;
        after.current_period_end = end;
        after.version = sub.version + 1;
        after.suspended_until = match &suspension {
            SuspensionChange::Begin(s) => Some(s.until),
            SuspensionChange::End => None,
            SuspensionChange::None => sub.suspended_until,
        };
        if let Some(w) = &cancellation {
            after.cancellation = w.cancellation.clone();
            after.cancellation_changed_at = w.at;
        }
        if let Some(r) = &renewal {
            // The renewal bills the scheduled terms, and the schedule is used up.
            (after.seats, after.assign_cap, after.interval, after.unit_amount) =
                (r.seats, r.assign_cap, r.interval, r.unit_amount);
            after.scheduled_change = None;
        }
        let audit = billing_changed.then(|| AuditEvent {
            outgoing: announce::billing_change(app, &sub, &after),
            id: ids::new_id(ids::EVENT),
            subscription_id: sub.id.clone(),
            kind: kind.into(),
            actor: event.actor(),
            data: json!({
                "status": {"from": sub.status, "to": status},
                "suspended_until": after.suspended_until,
                "current_period_start": start,
                "current_period_end": end,
                "cancellation_withdrawn": withdrawn,
                "cancel_at": cancellation.as_ref().and_then(|w| w.cancellation.as_ref()).map(|c| c.cancel_at),
                "renewal": renewal.as_ref().map(|r| json!({
                    "seats": r.seats, "interval": r.interval, "unit_amount": r.unit_amount,
                    "amount": r.seats * r.unit_amount,
                })),
            }),
            created_at: app.clock.now(),
        });
        // A new period that still runs is billed: the ledger records it (offline).
        let renewed = start > sub.current_period_start
            && start + chrono::Duration::hours(1) >= sub.current_period_end
            && !status.is_lapsed();
        let invoice = match renewed {
            true => super::invoices::renewal(app, &after, status != SubscriptionStatus::PastDue),
            false => next.invoice.take(),
        };
        let update = BillingUpdate {
            subscription_id: sub.id.clone(),
            expected_version: sub.version,
            event_id: event.id.clone(),
            event_created: event.created,
            status,
            current_period_start: start,
            current_period_end: end,
            period_confirmed,
            provider_item_id,
            renewal,
            seats_job: seats_job.clone(),
            suspension,
            cancellation,
            require_no_change: next.only_without_change,
            audit,
            invoice,
        };
        let applied = app.store.apply_billing_update(&update).await?;
        match applied {
            Applied::Stale => continue, // someone else wrote first: read again
            Applied::Applied => {
                if let Some(a) = &update.audit {
                    announce::announce(app, [a]).await;
                }
                if let Some(job) = seats_job {
                    if let Err(e) = app.jobs.enqueue(&[job]).await {
                        tracing::warn!(subscription_id = %sub.id, error = %e, "suspend or restore job not sent; the sweeper will send it");
                    }
                }
                return Ok(Outcome::Applied);
            }
            other => return Ok(other.into()),
        }
    }
    Err(DomainError::Unavailable)
}
