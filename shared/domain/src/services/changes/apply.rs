//! Applying a change: the intent is recorded first (it is also the subscription's change lock),
//! then the provider is called, then the answer settles the intent — unless the provider's
//! webhook settled it already, which is just as good.

use super::settle::{self, Settle};
use super::*;
use crate::ids;
use crate::ports::ChargeOutcome;
use crate::proration::Effective;
use serde_json::{json, Value};

/// A change as decided from the subscription read: what it is, where it leads, its money.
pub(super) struct Plan {
    pub kind: ChangeKind,
    pub target: Target,
    pub at: DateTime<Utc>,
    pub quote: Quote,
    pub actor: String,
    pub detail: Value,
    /// Seats taken for the asker when it applies (auto-grow).
    pub reserve: Option<i64>,
}

pub(super) fn new_intent(app: &App, sub: &Subscription, plan: &Plan) -> ChangeIntent {
    let id = ids::new_id(ids::CHANGE);
    ChangeIntent {
        // One key per intent: a retried call replays, another change never collides.
        idempotency_key: format!("{}-{id}", sub.id),
        id,
        kind: plan.kind,
        seats: plan.target.seats,
        interval: plan.target.interval,
        unit_amount: plan.target.unit_amount,
        proration_date: plan.at.timestamp(),
        amount_due: plan.quote.amount_due_now,
        previous_cap: sub.assign_cap,
        actor: plan.actor.clone(),
        detail: plan.detail.clone(),
        started_at: app.clock.now(),
        reserve: plan.reserve,
        cancellation: None,
    }
}

/// Records the intent on the subscription as it was read; says why not otherwise.
pub(super) async fn begin(
    app: &App,
    sub: &Subscription,
    intent: &ChangeIntent,
    cap: Option<i64>,
) -> Result<(), DomainError> {
    if app.clock.now() >= sub.current_period_end {
        // The provider is renewing and its event has not arrived: a change now would be decided
        // on a period that is over.
        return Err(DomainError::Conflict("the subscription is renewing; retry in a moment".into()));
    }
    if app.store.begin_change(sub, intent, cap).await? {
        return Ok(());
    }
    let now = app.store.subscription(&sub.id).await?.ok_or(DomainError::NotFound("subscription"))?;
    Err(if now.pending_change.is_some() {
        DomainError::InvalidState(
            "a change is waiting for its payment; pay its invoice or let it expire before another".into(),
        )
    } else if now.change_intent.is_some() {
        DomainError::Conflict("another change to this subscription is in progress; retry shortly".into())
    } else if cap.is_some_and(|c| now.seats_assigned > c) {
        DomainError::SeatsBelowAssigned { assigned: now.seats_assigned }
    } else if !now.status.allows_seat_changes() {
        DomainError::InvalidState(format!("the subscription is {:?} and cannot change", now.status))
    } else {
        DomainError::Conflict("the subscription changed meanwhile; preview again".into())
    })
}

pub async fn apply_seats(
    app: &App,
    who: &Principal,
    id: &str,
    req: SeatChangeRequest,
) -> Result<ChangeView, DomainError> {
    Ok(apply_seats_reserving(app, who, id, req, None).await?.0)
}

/// More seats for someone assigning on a full subscription (auto-grow): charged like any
/// increase, and once applied the new seats are theirs under the reservation the settlement
/// makes ([`ChangeIntent::reservation_id`]). `seats_before` is the count the 402's preview was
/// made from: if the subscription moved since, the caller previews again.
pub async fn grow(
    app: &App,
    who: &Principal,
    id: &str,
    seats_before: i64,
    by: i64,
    proration_date: Option<i64>,
) -> Result<(ChangeView, String), DomainError> {
    let req = SeatChangeRequest { seats: seats_before + by, proration_date };
    let (view, reservation) = apply_seats_reserving(app, who, id, req, Some((seats_before, by))).await?;
    let reservation =
        reservation.ok_or_else(|| DomainError::Internal("grown without a reservation".into()))?;
    Ok((view, reservation))
}

async fn apply_seats_reserving(
    app: &App,
    who: &Principal,
    id: &str,
    req: SeatChangeRequest,
    growth: Option<(i64, i64)>,
) -> Result<(ChangeView, Option<String>), DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    if let Some((before, _)) = growth {
        if sub.seats != before {
            return Err(DomainError::Conflict(
                "the subscription's seats changed since the preview; assign again to see the new one".into(),
            ));
        }
    }
    let at = recent_instant(app, req.proration_date)?;
    let mut sub = settle::heal(app, sub).await?;
    let quote = quote_seats(&sub, &product, req.seats, at)?;
    let detail = json!({
        "seats": {"from": sub.seats, "to": req.seats},
        "lines": quote.lines,
        "amount_due_now": quote.amount_due_now,
        "next_renewal_amount": quote.next_renewal_amount,
        "proration_date": at.timestamp(),
    });
    let target = Target { seats: req.seats, interval: sub.interval, unit_amount: sub.unit_amount };
    let reserve = growth.map(|(_, by)| by);
    let plan = |kind| Plan {
        kind,
        target,
        at,
        quote: quote.clone(),
        actor: who.actor(),
        detail: detail.clone(),
        reserve,
    };
    if req.seats == sub.seats {
        // The same count as now cancels a scheduled decrease (an interval change is cancelled
        // by its own DELETE: a retried increase must never cancel it), and is a no-op otherwise.
        if matches!(sub.scheduled_change, Some(ScheduledChange::SeatDecrease { .. })) {
            sub = cancel(app, &sub, &product, who.actor(), at).await?;
        }
        return Ok((view(quote, &sub, None, at), None));
    }
    if req.seats < sub.seats {
        return Ok((schedule(app, &sub, product, plan(ChangeKind::ScheduleDecrease)).await?, None));
    }
    // More seats replace a scheduled decrease, once paid: its schedule is released with the
    // settlement, so a declined payment leaves it as it was. Stripe's quantity is still the
    // count paid for, which the charge prorates from.
    let (view, reservation) = charge_now(app, &sub, product, plan(ChangeKind::SeatIncrease)).await?;
    Ok((view, reserve.map(|_| reservation)))
}

pub async fn apply_interval(
    app: &App,
    who: &Principal,
    id: &str,
    req: IntervalChangeRequest,
) -> Result<ChangeView, DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    let at = recent_instant(app, req.proration_date)?;
    let sub = settle::heal(app, sub).await?;
    let quote = quote_interval(&sub, &product, req.interval, at)?;
    let unit_amount = product
        .prices
        .for_interval(req.interval)
        .map(|p| p.unit_amount)
        .ok_or_else(|| DomainError::invalid("interval", "the product has no such price"))?;
    let detail = json!({
        "interval": {"from": sub.interval, "to": req.interval},
        "unit_amount": {"from": sub.unit_amount, "to": unit_amount},
        "lines": quote.lines,
        "amount_due_now": quote.amount_due_now,
        "next_renewal_amount": quote.next_renewal_amount,
        "proration_date": at.timestamp(),
    });
    let target = Target { seats: sub.seats, interval: req.interval, unit_amount };
    let kind = match quote.effective {
        Effective::Now => ChangeKind::IntervalSwitch,
        Effective::PeriodEnd => ChangeKind::ScheduleInterval,
    };
    let plan = Plan { kind, target, at, quote, actor: who.actor(), detail, reserve: None };
    match kind {
        ChangeKind::IntervalSwitch => Ok(charge_now(app, &sub, product, plan).await?.0),
        _ => schedule(app, &sub, product, plan).await,
    }
}

/// `DELETE …/scheduled-change`: back to renewing as now.
pub async fn cancel_scheduled(app: &App, who: &Principal, id: &str) -> Result<SubscriptionView, DomainError> {
    let (sub, product) = changeable(app, who, id).await?;
    let sub = settle::heal(app, sub).await?;
    if sub.scheduled_change.is_none() {
        return Err(DomainError::NotFound("scheduled change"));
    }
    let updated = cancel(app, &sub, &product, who.actor(), app.clock.now()).await?;
    Ok(SubscriptionView::from(&updated))
}

/// A change that charges now: payment first, applied once paid.
async fn charge_now(
    app: &App,
    sub: &Subscription,
    product: Product,
    plan: Plan,
) -> Result<(ChangeView, String), DomainError> {
    let product = with_prices(app, product).await?;
    let price = price_id(&product, plan.target.interval)?;
    let intent = new_intent(app, sub, &plan);
    begin(app, sub, &intent, None).await?;
    let req = charge_request(sub, price, plan.target, plan.at, intent.idempotency_key.clone());
    let outcome = match app.payments.charge(&req).await {
        Ok(outcome) => outcome,
        Err(e @ crate::error::PortError::Rejected(..)) => {
            // The provider refused it: nothing was charged, nothing changes.
            settle::dropped(app, sub, &intent, "system").await?;
            return Err(settle::refused(sub, e));
        }
        // Unknown whether the provider got it: the intent stays, and is settled from the
        // provider's state by its webhook or by the sweeper (never sent again).
        Err(e) => return Err(e.into()),
    };
    match outcome {
        ChargeOutcome::Applied { invoice, period } => {
            let updated = settle::applied(
                app,
                sub,
                &intent,
                Settle {
                    period,
                    invoice_id: Some(invoice.id.clone()),
                    amount_due: Some(invoice.amount_due),
                    actor: intent.actor.clone(),
                },
            )
            .await?;
            let quote = with_provider_numbers(sub, plan.quote, &invoice);
            Ok((view(quote, &updated, Some(&invoice), plan.at), intent.reservation_id()))
        }
        ChargeOutcome::PaymentRequired { invoice, expires_at } => {
            let payment_url = invoice.hosted_invoice_url.clone().unwrap_or_default();
            settle::pending(app, sub, &intent, &invoice, expires_at).await?;
            Err(DomainError::PaymentRequired { payment_url })
        }
    }
}

/// A change from the next period on: the provider's schedule carries it, nothing is due now.
async fn schedule(
    app: &App,
    sub: &Subscription,
    product: Product,
    plan: Plan,
) -> Result<ChangeView, DomainError> {
    let product = with_prices(app, product).await?;
    let intent = new_intent(app, sub, &plan);
    let cap = (plan.kind == ChangeKind::ScheduleDecrease).then_some(plan.target.seats);
    begin(app, sub, &intent, cap).await?;
    let updated = settle::scheduled(app, sub, &product, &intent).await?;
    Ok(view(plan.quote, &updated, None, plan.at))
}

/// Drops the scheduled change here and at the provider.
async fn cancel(
    app: &App,
    sub: &Subscription,
    product: &Product,
    actor: String,
    at: DateTime<Utc>,
) -> Result<Subscription, DomainError> {
    let quote = Quote {
        effective: Effective::Now,
        effective_at: at,
        lines: vec![],
        amount_due_now: 0,
        tax: 0,
        next_renewal_amount: sub.unit_amount * sub.seats,
    };
    let detail = json!({
        "canceled": sub.scheduled_change.as_ref().map(crate::views::ScheduledChangeView::from),
    });
    let target = Target { seats: sub.seats, interval: sub.interval, unit_amount: sub.unit_amount };
    let plan = Plan { kind: ChangeKind::CancelScheduled, target, at, quote, actor, detail, reserve: None };
    let intent = new_intent(app, sub, &plan);
    begin(app, sub, &intent, None).await?;
    settle::scheduled(app, sub, product, &intent).await
}
