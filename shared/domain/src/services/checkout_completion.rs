//! A completed checkout becomes a subscription, once: the billing manager (new or known), the
//! provider's first period (or an estimate offline), the ledger's invoice offline, and the
//! owner's lapsed subscription of the same product restored onto it within its window.

use super::billing_events::{at_unix, ignore, Outcome, MAX_ATTEMPTS};
use super::webhooks::announce;
use super::App;
use crate::error::DomainError;
use crate::events::PaymentEvent;
use crate::ids;
use crate::model::*;
use crate::period::first_period_end;
use crate::ports::{Applied, CheckoutCompletion, Restoration};
use serde_json::json;

pub(super) async fn complete_checkout(
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
    // A trial's first period is the trial: the first invoice comes at its end.
    let trial = checkout.trial_days.map(|d| chrono::Duration::days(i64::from(d)));
    let (start, end, item_id, confirmed) = match &provider {
        Some(p) => (at_unix(p.period_start)?, at_unix(p.period_end)?, Some(p.item_id.clone()), true),
        None => {
            let start = at_unix(event.created)?;
            let end = trial.map_or_else(|| first_period_end(start, checkout.interval), |t| start + t);
            (start, end, None, false)
        }
    };
    let status = match (&provider, trial) {
        (Some(p), _) => match SubscriptionStatus::from_provider(&p.status) {
            Some(s @ (SubscriptionStatus::Trialing | SubscriptionStatus::PastDue)) => s,
            _ => SubscriptionStatus::Active,
        },
        (None, Some(_)) => SubscriptionStatus::Trialing,
        (None, None) => SubscriptionStatus::Active,
    };
    let trial_end = (status == SubscriptionStatus::Trialing).then_some(end);
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
            None => {
                match super::suspension::restorable(app, &customer.id, &checkout.product_id, now).await? {
                    Some(old) => super::suspension::end_at_provider(app, old).await?,
                    None => None,
                }
            }
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
            status,
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
            dunning: None,
            trial_end,
            automatic_tax: checkout.automatic_tax,
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
                "amount_paid": if checkout.trial_days.is_some() { 0 } else { checkout.amount_due },
                "trial_days": checkout.trial_days,
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
