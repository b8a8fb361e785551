//! Seat-count and interval changes: the money first (a preview persists nothing), then the
//! same arithmetic applied — invoiced at the provider with the same `proration_date`, and
//! written under the subscription's change lock so two changes never race each other.

use super::audit::event;
use super::{portal, App, Principal};
use crate::error::DomainError;
use crate::model::*;
use crate::ports::{ProviderChange, SubscriptionChange};
use crate::proration::{self, Effective, Quote};
use crate::views::{ChangeView, SubscriptionView};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

/// How long one change may hold the lock before another may take it (a crashed function).
const LOCK_S: i64 = 30;

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
    if matches!(sub.scheduled_change, Some(ScheduledChange::SeatDecrease { .. })) {
        return Err(DomainError::InvalidState(
            "a seat decrease is scheduled; cancel it before changing the interval".into(),
        ));
    }
    proration::quote_interval_change(&sub.billing_state(), interval, price.unit_amount, at)
}

fn view(q: Quote, sub: &Subscription) -> ChangeView {
    ChangeView {
        effective: q.effective,
        effective_at: q.effective_at,
        lines: q.lines,
        amount_due_now: q.amount_due_now,
        next_renewal_amount: q.next_renewal_amount,
        subscription: SubscriptionView::from(sub),
    }
}

pub async fn preview_seats(
    app: &App,
    who: &Principal,
    id: &str,
    req: SeatChangeRequest,
) -> Result<ChangeView, DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    let at = instant(app, req.proration_date)?;
    Ok(view(quote_seats(&sub, &product, req.seats, at)?, &sub))
}

pub async fn preview_interval(
    app: &App,
    who: &Principal,
    id: &str,
    req: IntervalChangeRequest,
) -> Result<ChangeView, DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    let at = instant(app, req.proration_date)?;
    Ok(view(quote_interval(&sub, &product, req.interval, at)?, &sub))
}

fn provider_change(
    sub: &Subscription,
    quantity: i64,
    interval: Interval,
    unit_amount: MinorUnits,
    at: DateTime<Utc>,
    what: &str,
) -> ProviderChange {
    ProviderChange {
        provider_subscription_id: sub.provider_subscription_id.clone(),
        product_name: sub.product_name.clone(),
        currency: sub.currency.clone(),
        quantity,
        previous_quantity: sub.seats,
        previous_unit_amount: sub.unit_amount,
        previous_interval: sub.interval,
        unit_amount,
        interval,
        period_start: sub.current_period_start,
        period_end: sub.current_period_end,
        proration_date: at.timestamp(),
        // The version makes the key change with every applied change, and stay the same when
        // this very change is retried.
        idempotency_key: format!(
            "{}-v{}-{what}-{quantity}-{}-{}",
            sub.id,
            sub.version,
            interval.as_str(),
            at.timestamp()
        ),
    }
}

/// Runs `change` holding the subscription's change lock; the lock is released by the write
/// that commits the change, or here when it fails.
async fn locked<F, Fut>(app: &App, id: &str, change: F) -> Result<ChangeView, DomainError>
where
    F: FnOnce(Subscription) -> Fut,
    Fut: std::future::Future<Output = Result<ChangeView, DomainError>>,
{
    let now = app.clock.now();
    if !app.store.lock_subscription(id, now, now + Duration::seconds(LOCK_S)).await? {
        return Err(DomainError::Conflict(
            "another change to this subscription is in progress; retry shortly".into(),
        ));
    }
    // Read again under the lock: the version and counters the change is decided on.
    let result = match app.store.subscription(id).await? {
        Some(sub) => change(sub).await,
        None => Err(DomainError::NotFound("subscription")),
    };
    if result.is_err() {
        if let Err(e) = app.store.unlock_subscription(id).await {
            tracing::warn!(subscription_id = %id, error = %e, "could not release the change lock; it expires by itself");
        }
    }
    result
}

/// The subscription as it is, with nothing scheduled: each change edits what it changes.
fn unchanged(sub: &Subscription, audit: crate::model::AuditEvent) -> SubscriptionChange {
    SubscriptionChange {
        subscription_id: sub.id.clone(),
        expected_version: sub.version,
        seats: sub.seats,
        assign_cap: sub.seats,
        max_assigned: None,
        interval: sub.interval,
        unit_amount: sub.unit_amount,
        current_period_start: sub.current_period_start,
        current_period_end: sub.current_period_end,
        scheduled_change: None,
        audit,
    }
}

async fn commit(app: &App, c: SubscriptionChange) -> Result<Subscription, DomainError> {
    if !app.store.change_subscription(&c).await? {
        let now = app.store.subscription(&c.subscription_id).await?;
        return Err(match (now, c.max_assigned) {
            (Some(s), Some(max)) if s.seats_assigned > max => {
                DomainError::SeatsBelowAssigned { assigned: s.seats_assigned }
            }
            _ => DomainError::Conflict("the subscription changed meanwhile; preview again".into()),
        });
    }
    app.store.subscription(&c.subscription_id).await?.ok_or(DomainError::NotFound("subscription"))
}

fn check_amount(sub: &Subscription, ours: MinorUnits, theirs: MinorUnits) {
    if ours != theirs {
        // Same code, same proration_date: a difference means a bug or a price changed at the
        // provider. The change stands (it was paid); a person must look.
        tracing::error!(subscription_id = %sub.id, ours, theirs, metric = "proration_mismatch", "provider invoiced another amount than the preview");
    }
}

pub async fn apply_seats(
    app: &App,
    who: &Principal,
    id: &str,
    req: SeatChangeRequest,
) -> Result<ChangeView, DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    let at = instant(app, req.proration_date)?;
    quote_seats(&sub, &product, req.seats, at)?;
    let actor = who.actor();
    locked(app, &sub.id, |sub| async move {
        let q = quote_seats(&sub, &product, req.seats, at)?;
        let mut change = unchanged(&sub, event(app, &sub.id, "", actor.clone(), json!({})));
        let (kind, invoice) = if req.seats > sub.seats {
            let invoice = app
                .payments
                .invoice_seat_increase(&provider_change(
                    &sub,
                    req.seats,
                    sub.interval,
                    sub.unit_amount,
                    at,
                    "seats",
                ))
                .await?;
            check_amount(&sub, q.amount_due_now, invoice.amount_due);
            change.seats = req.seats;
            change.assign_cap = req.seats;
            ("subscription.seats_increased", Some(invoice.id))
        } else if req.seats < sub.seats {
            app.payments
                .set_renewal_quantity(&provider_change(
                    &sub,
                    req.seats,
                    sub.interval,
                    sub.unit_amount,
                    at,
                    "renewal",
                ))
                .await?;
            change.assign_cap = req.seats;
            change.max_assigned = Some(req.seats);
            change.scheduled_change = Some(ScheduledChange::SeatDecrease {
                seats: req.seats,
                effective_at: sub.current_period_end,
            });
            ("subscription.seat_decrease_scheduled", None)
        } else {
            // The same count as now: cancels whatever was scheduled.
            cancel_at_provider(app, &sub, at).await?;
            ("subscription.scheduled_change_canceled", None)
        };
        change.audit = event(
            app,
            &sub.id,
            kind,
            actor,
            json!({
                "seats": {"from": sub.seats, "to": req.seats},
                "lines": q.lines,
                "amount_due_now": q.amount_due_now,
                "next_renewal_amount": q.next_renewal_amount,
                "invoice_id": invoice,
            }),
        );
        let updated = commit(app, change).await?;
        Ok(view(q, &updated))
    })
    .await
}

pub async fn apply_interval(
    app: &App,
    who: &Principal,
    id: &str,
    req: IntervalChangeRequest,
) -> Result<ChangeView, DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    let at = instant(app, req.proration_date)?;
    quote_interval(&sub, &product, req.interval, at)?;
    let actor = who.actor();
    locked(app, &sub.id, |sub| async move {
        let q = quote_interval(&sub, &product, req.interval, at)?;
        let price = product
            .prices
            .for_interval(req.interval)
            .ok_or_else(|| DomainError::invalid("interval", "the product has no such price"))?;
        let pc = provider_change(&sub, sub.seats, req.interval, price.unit_amount, at, "interval");
        let mut change = unchanged(&sub, event(app, &sub.id, "", actor.clone(), json!({})));
        let (kind, invoice) = match q.effective {
            Effective::Now => {
                let invoice = app.payments.switch_interval_now(&pc).await?;
                check_amount(&sub, q.amount_due_now, invoice.amount_due);
                change.interval = req.interval;
                change.unit_amount = price.unit_amount;
                change.current_period_start = at;
                change.current_period_end =
                    q.lines.last().map(|l| l.period_end).unwrap_or(sub.current_period_end);
                ("subscription.interval_changed", Some(invoice.id))
            }
            Effective::PeriodEnd => {
                let schedule = app.payments.schedule_interval_change(&pc).await?;
                change.scheduled_change = Some(ScheduledChange::IntervalChange {
                    interval: req.interval,
                    unit_amount: price.unit_amount,
                    effective_at: sub.current_period_end,
                    provider_schedule_id: Some(schedule),
                });
                ("subscription.interval_change_scheduled", None)
            }
        };
        change.audit = event(
            app,
            &sub.id,
            kind,
            actor,
            json!({
                "interval": {"from": sub.interval, "to": req.interval},
                "unit_amount": {"from": sub.unit_amount, "to": price.unit_amount},
                "lines": q.lines,
                "amount_due_now": q.amount_due_now,
                "next_renewal_amount": q.next_renewal_amount,
                "invoice_id": invoice,
            }),
        );
        let updated = commit(app, change).await?;
        Ok(view(q, &updated))
    })
    .await
}

/// Undoes at the provider what a scheduled change set up there.
async fn cancel_at_provider(app: &App, sub: &Subscription, at: DateTime<Utc>) -> Result<(), DomainError> {
    match &sub.scheduled_change {
        Some(ScheduledChange::SeatDecrease { .. }) => {
            app.payments
                .set_renewal_quantity(&provider_change(
                    sub,
                    sub.seats,
                    sub.interval,
                    sub.unit_amount,
                    at,
                    "renewal",
                ))
                .await?
        }
        Some(ScheduledChange::IntervalChange { provider_schedule_id: Some(schedule), .. }) => {
            app.payments.cancel_scheduled_change(&sub.provider_subscription_id, schedule).await?
        }
        _ => {}
    }
    Ok(())
}

/// `DELETE …/scheduled-change`: back to renewing as now.
pub async fn cancel_scheduled(app: &App, who: &Principal, id: &str) -> Result<SubscriptionView, DomainError> {
    let (sub, _) = changeable(app, who, id).await?;
    if sub.scheduled_change.is_none() {
        return Err(DomainError::NotFound("scheduled change"));
    }
    let actor = who.actor();
    let done = locked(app, &sub.id, |sub| async move {
        if sub.scheduled_change.is_none() {
            return Err(DomainError::NotFound("scheduled change"));
        }
        let at = app.clock.now();
        cancel_at_provider(app, &sub, at).await?;
        let change = unchanged(&sub, event(
                app,
                &sub.id,
                "subscription.scheduled_change_canceled",
                actor,
                json!({ "canceled": sub.scheduled_change.as_ref().map(crate::views::ScheduledChangeView::from) }),
            ));
        let updated = commit(app, change).await?;
        Ok(view(
            Quote { effective: Effective::Now, effective_at: at, lines: vec![], amount_due_now: 0, next_renewal_amount: updated.unit_amount * updated.seats },
            &updated,
        ))
    })
    .await?;
    Ok(done.subscription)
}
