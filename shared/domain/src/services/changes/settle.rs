//! Settling a change intent, exactly once: by the provider's answer, by its webhook (which
//! may arrive first), or by the sweeper after a crash. Each settlement is one conditional
//! write on the intent's id, so whichever path comes second finds it gone and changes nothing.

use super::{price_id, App};
use crate::error::{DomainError, PortError};
use crate::model::*;
use crate::ports::{
    AssignCap, CancelRequest, CancellationWrite, ProviderInvoice, RenewalSchedule, SettleOutcome, Settlement,
    Terms,
};
use crate::services::audit::event;
use crate::services::invoices;
use crate::services::webhooks::announce;
use chrono::DateTime;
use serde_json::{json, Value};

/// An intent older than this is from a function that died (the provider calls of one change
/// take at most a few timeouts of a few seconds): the sweeper or the next change settles it.
pub const INTENT_STALE_S: i64 = 120;

/// How an applied change is settled: the provider's period, its invoice, who saw it done.
#[derive(Debug, Clone)]
pub struct Settle {
    pub period: (i64, i64),
    pub invoice_id: Option<String>,
    /// What the provider invoiced, when its answer says (the audit records it in place of the
    /// preview's amount; they differ only on an arithmetic mismatch, which is logged).
    pub amount_due: Option<MinorUnits>,
    pub actor: String,
}

fn audit_kind(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::SeatIncrease => "subscription.seats_increased",
        ChangeKind::IntervalSwitch => "subscription.interval_changed",
        ChangeKind::ScheduleDecrease => "subscription.seat_decrease_scheduled",
        ChangeKind::ScheduleInterval => "subscription.interval_change_scheduled",
        ChangeKind::CancelScheduled => "subscription.scheduled_change_canceled",
        ChangeKind::CancelAtPeriodEnd => "subscription.cancellation_scheduled",
        ChangeKind::Resume => "subscription.resumed",
    }
}

fn with(detail: &Value, extra: Value) -> Value {
    let mut d = detail.clone();
    if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    d
}

fn at_unix(t: i64) -> Result<DateTime<chrono::Utc>, DomainError> {
    DateTime::from_timestamp(t, 0).ok_or_else(|| DomainError::Internal(format!("bad provider time {t}")))
}

/// The provider refused a change: nothing happened there. Our state was behind the provider's
/// or a bug; the caller previews again (409), a person reads the log.
pub(crate) fn refused(sub: &Subscription, e: PortError) -> DomainError {
    tracing::error!(subscription_id = %sub.id, error = %e, metric = "changes_refused", "the payment provider refused a change");
    DomainError::Conflict("the payment provider refused this change; preview it again".into())
}

/// The one conditional write that ends an intent. `false`: the other path ended it first.
async fn settle(
    app: &App,
    sub: &Subscription,
    intent: &ChangeIntent,
    outcome: SettleOutcome,
    audit: Option<AuditEvent>,
    invoice: Option<BillingInvoice>,
) -> Result<bool, DomainError> {
    // Only a decrease lowered the cap when it began: a dropped one gives it back.
    let dropped_decrease =
        matches!(outcome, SettleOutcome::Dropped) && intent.kind == ChangeKind::ScheduleDecrease;
    let outcome_applied = matches!(outcome, SettleOutcome::Applied(_));
    let paid_later = sub.pending_change.as_ref().is_some_and(|p| p.intent.id == intent.id);
    // An applied change announces the subscription as the write leaves it.
    let audit = match (&outcome, audit) {
        (SettleOutcome::Applied(terms), Some(a)) => {
            Some(a.announcing(announce::subscription(app, "subscription.updated", &with_terms(sub, terms))))
        }
        (_, a) => a,
    };
    let settlement = Settlement {
        subscription_id: sub.id.clone(),
        intent_id: intent.id.clone(),
        outcome,
        previous_cap: dropped_decrease.then_some(intent.previous_cap),
        // Seats bought by auto-grow are taken for the one who asked, while they wait for them.
        // Paid later (the change waited for its payment), nobody waits: they are simply added.
        reserve: match (outcome_applied && !paid_later, intent.reserve) {
            (true, Some(seats)) => Some(crate::ports::SeatHold {
                reservation_id: intent.reservation_id(),
                seats,
                created_at: app.clock.now(),
            }),
            _ => None,
        },
        audit,
        invoice,
    };
    let done = app.store.settle_change(&settlement).await?;
    if done {
        announce::announce(app, settlement.audit.iter()).await;
    }
    Ok(done)
}

/// The subscription once `terms` are written (the store's settle write, field for field).
fn with_terms(sub: &Subscription, terms: &Terms) -> Subscription {
    let mut after = sub.clone();
    if let Some(seats) = terms.seats {
        after.seats = seats;
    }
    match terms.assign_cap {
        Some(AssignCap::To(cap)) => after.assign_cap = cap,
        Some(AssignCap::Seats) => after.assign_cap = after.seats,
        None => {}
    }
    if let Some(interval) = terms.interval {
        after.interval = interval;
    }
    if let Some(amount) = terms.unit_amount {
        after.unit_amount = amount;
    }
    if let Some((start, end)) = terms.period {
        (after.current_period_start, after.current_period_end) = (start, end);
    }
    if let Some(change) = &terms.scheduled_change {
        after.scheduled_change = change.clone();
    }
    if let Some(w) = &terms.cancellation {
        after.cancellation = w.cancellation.clone();
        after.cancellation_changed_at = w.at;
    }
    after.change_intent = None;
    after.pending_change = None;
    after.version += 1;
    after
}

async fn reread(app: &App, id: &str) -> Result<Subscription, DomainError> {
    app.store.subscription(id).await?.ok_or(DomainError::NotFound("subscription"))
}

async fn product_of(app: &App, sub: &Subscription) -> Result<Product, DomainError> {
    app.store
        .product(&sub.product_id)
        .await?
        .ok_or_else(|| DomainError::Internal("subscription without product".into()))
}

/// The terms once a change that charged is paid, and the schedule kept in step first (the
/// same key on every path, so the provider replays it; a failure leaves the intent to be
/// settled again): an increase while annual → monthly is scheduled rewrites the schedule's
/// phases to the new count; one while a decrease is scheduled releases it (more seats replace
/// fewer). Only the fields the change owns are written.
async fn terms_after_charge(
    app: &App,
    sub: &Subscription,
    intent: &ChangeIntent,
    period: (i64, i64),
) -> Result<Terms, DomainError> {
    if intent.kind == ChangeKind::IntervalSwitch {
        return Ok(Terms {
            interval: Some(intent.interval),
            unit_amount: Some(intent.unit_amount),
            period: Some((at_unix(period.0)?, at_unix(period.1)?)),
            ..Terms::default()
        });
    }
    // The money is settled whatever the schedule does: a refused schedule call (a schedule
    // released or cancelled by hand) keeps our record as it is, which is what Stripe's schedule
    // then still does at the renewal; an unknown outcome leaves the intent to be settled again.
    let out_of_step = |e: &PortError| {
        tracing::error!(subscription_id = %sub.id, change_id = %intent.id, error = %e, metric = "schedule_out_of_step", "the schedule could not follow a paid change");
    };
    let mut assign_cap = AssignCap::To(intent.seats);
    let scheduled = match &sub.scheduled_change {
        Some(ScheduledChange::IntervalChange {
            interval,
            unit_amount,
            effective_at,
            provider_schedule_id: Some(schedule_id),
            ..
        }) => {
            let product = product_of(app, sub).await?;
            let rewritten = app
                .payments
                .schedule_renewal(&RenewalSchedule {
                    provider_subscription_id: sub.provider_subscription_id.clone(),
                    current_period_end: sub.current_period_end.timestamp(),
                    schedule_id: Some(schedule_id.clone()),
                    current_price_id: price_id(&product, sub.interval)?,
                    current_quantity: intent.seats,
                    next_price_id: price_id(&product, *interval)?,
                    next_interval: *interval,
                    next_quantity: intent.seats,
                    idempotency_key: format!("{}-reschedule", intent.idempotency_key),
                })
                .await;
            match rewritten {
                Ok(_) => Some(Some(ScheduledChange::IntervalChange {
                    interval: *interval,
                    unit_amount: *unit_amount,
                    effective_at: *effective_at,
                    provider_schedule_id: Some(schedule_id.clone()),
                    seats: Some(intent.seats),
                })),
                Err(e @ PortError::Rejected(..)) => {
                    out_of_step(&e);
                    None
                }
                Err(e) => return Err(e.into()),
            }
        }
        Some(ScheduledChange::SeatDecrease { provider_schedule_id, seats, .. }) => {
            let released = match provider_schedule_id {
                Some(schedule_id) => {
                    app.payments
                        .release_schedule(schedule_id, &format!("{}-replace", intent.idempotency_key))
                        .await
                }
                None => Ok(()),
            };
            match released {
                Ok(()) => Some(None),
                Err(e @ PortError::Rejected(..)) => {
                    // Still scheduled at Stripe: the decrease stays here too, and its cap.
                    out_of_step(&e);
                    assign_cap = AssignCap::To(*seats);
                    None
                }
                Err(e) => return Err(e.into()),
            }
        }
        _ => None,
    };
    Ok(Terms {
        seats: Some(intent.seats),
        assign_cap: Some(assign_cap),
        scheduled_change: scheduled,
        ..Terms::default()
    })
}

/// A change that charged is paid: it takes effect, audited once. `false` from the store means
/// the other path settled it first; the subscription is read back either way.
pub async fn applied(
    app: &App,
    sub: &Subscription,
    intent: &ChangeIntent,
    how: Settle,
) -> Result<Subscription, DomainError> {
    let terms = terms_after_charge(app, sub, intent, how.period).await?;
    let audit = event(
        app,
        &sub.id,
        audit_kind(intent.kind),
        how.actor,
        with(&intent.detail, {
            let mut extra = json!({ "invoice_id": how.invoice_id, "change_id": intent.id });
            if let Some(amount) = how.amount_due {
                extra["amount_due_now"] = json!(amount);
            }
            extra
        }),
    );
    let payment_url = sub.pending_change.as_ref().map(|p| p.payment_url.clone()).filter(|u| !u.is_empty());
    let invoice = invoices::change(
        app,
        sub,
        intent.started_at,
        how.invoice_id.as_deref(),
        how.amount_due,
        true,
        payment_url,
    );
    let settled = settle(app, sub, intent, SettleOutcome::Applied(terms), Some(audit), invoice).await?;
    if !settled {
        tracing::info!(subscription_id = %sub.id, change_id = %intent.id, "change settled by the other path first");
    }
    reread(app, &sub.id).await
}

/// Sent, not paid: the change waits at the provider; nothing of it applies here.
pub async fn pending(
    app: &App,
    sub: &Subscription,
    intent: &ChangeIntent,
    invoice: &ProviderInvoice,
    expires_at: i64,
) -> Result<(), DomainError> {
    tracing::info!(subscription_id = %sub.id, change_id = %intent.id, metric = "changes_payment_required", "change waits for its payment");
    let pending = PendingChange {
        intent: intent.clone(),
        invoice_id: invoice.id.clone(),
        amount_due: invoice.amount_due,
        payment_url: invoice.hosted_invoice_url.clone().unwrap_or_default(),
        expires_at: at_unix(expires_at)?,
    };
    let audit = event(
        app,
        &sub.id,
        "subscription.change_payment_required",
        intent.actor.clone(),
        with(
            &intent.detail,
            json!({ "invoice_id": invoice.id, "amount_due": invoice.amount_due, "change_id": intent.id }),
        ),
    );
    let open = invoices::change(
        app,
        sub,
        intent.started_at,
        Some(&invoice.id),
        Some(invoice.amount_due),
        false,
        invoice.hosted_invoice_url.clone(),
    );
    settle(app, sub, intent, SettleOutcome::PaymentPending(pending), Some(audit), open).await?;
    Ok(())
}

/// Nothing of the change took effect: the intent (or the pending change) goes.
pub async fn dropped(
    app: &App,
    sub: &Subscription,
    intent: &ChangeIntent,
    actor: &str,
) -> Result<bool, DomainError> {
    let waiting = sub.pending_change.as_ref().filter(|p| p.intent.id == intent.id);
    let audit = waiting.map(|p| {
        event(
            app,
            &sub.id,
            "subscription.pending_change_expired",
            actor.to_string(),
            with(&intent.detail, json!({ "invoice_id": p.invoice_id, "change_id": intent.id })),
        )
    });
    // Its open invoice is void: it will never be paid.
    let void = waiting
        .and_then(|p| {
            invoices::change(
                app,
                sub,
                intent.started_at,
                Some(&p.invoice_id),
                Some(p.amount_due),
                false,
                None,
            )
        })
        .map(|i| BillingInvoice { status: "void".into(), ..i });
    settle(app, sub, intent, SettleOutcome::Dropped, audit, void).await
}

/// A scheduled change (or its cancellation, or the subscription's end at the period's end, or
/// its withdrawal) at the provider, then here. Safe to run again with the same intent: the
/// provider replays the call under the intent's key.
pub async fn scheduled(
    app: &App,
    sub: &Subscription,
    product: &Product,
    intent: &ChangeIntent,
) -> Result<Subscription, DomainError> {
    let existing = sub.scheduled_change.as_ref().and_then(|c| c.provider_schedule_id()).map(str::to_string);
    // A cancellation releases the schedule first (Stripe refuses the flag on a scheduled
    // subscription): once released, a refused flag still leaves the schedule gone.
    let mut released = false;
    let call = match intent.kind {
        ChangeKind::CancelScheduled | ChangeKind::CancelAtPeriodEnd => match &existing {
            Some(schedule_id) => {
                let r = app.payments.release_schedule(schedule_id, &intent.idempotency_key).await;
                released = r.is_ok();
                r
            }
            None => Ok(()),
        }
        .map(|()| None),
        _ => Ok(None),
    };
    let call = match (call, intent.kind) {
        (Ok(_), ChangeKind::CancelAtPeriodEnd | ChangeKind::Resume) => {
            let cancellation = intent.cancellation.as_ref();
            app.payments
                .cancel_at_period_end(&CancelRequest {
                    provider_subscription_id: sub.provider_subscription_id.clone(),
                    cancel: intent.kind == ChangeKind::CancelAtPeriodEnd,
                    reason: cancellation.and_then(|c| c.reason),
                    comment: cancellation.and_then(|c| c.comment.clone()),
                    idempotency_key: intent.idempotency_key.clone(),
                })
                .await
                .map(|()| None)
        }
        (Ok(_), ChangeKind::ScheduleDecrease | ChangeKind::ScheduleInterval) => app
            .payments
            .schedule_renewal(&RenewalSchedule {
                provider_subscription_id: sub.provider_subscription_id.clone(),
                current_period_end: sub.current_period_end.timestamp(),
                schedule_id: existing.clone(),
                current_price_id: price_id(product, sub.interval)
                    .map_err(|e| PortError::Rejected("catalogue", e.to_string()))?,
                current_quantity: sub.seats,
                next_price_id: price_id(product, intent.interval)
                    .map_err(|e| PortError::Rejected("catalogue", e.to_string()))?,
                next_interval: intent.interval,
                next_quantity: intent.seats,
                idempotency_key: intent.idempotency_key.clone(),
            })
            .await
            .map(Some),
        (other, _) => other,
    };
    let renewal = match call {
        Ok(r) => r,
        Err(e @ PortError::Rejected(..)) if released => {
            // Released at the provider, then the flag refused: the subscription renews as it is,
            // without the scheduled change, which goes here too (never a phantom decrease).
            let audit = event(
                app,
                &sub.id,
                audit_kind(ChangeKind::CancelScheduled),
                intent.actor.clone(),
                json!({ "canceled": sub.scheduled_change.as_ref().map(crate::views::ScheduledChangeView::from), "change_id": intent.id, "cancellation_refused": true }),
            );
            let terms = Terms {
                assign_cap: Some(AssignCap::Seats),
                scheduled_change: Some(None),
                ..Terms::default()
            };
            settle(app, sub, intent, SettleOutcome::Applied(terms), Some(audit), None).await?;
            return Err(refused(sub, e));
        }
        Err(e @ PortError::Rejected(..)) => {
            dropped(app, sub, intent, "system").await?;
            return Err(refused(sub, e));
        }
        // Unknown outcome: the intent stays and is run again later under the same key.
        Err(e) => return Err(e.into()),
    };
    // The next phase starts where the provider's current phase ends: a renewal that landed
    // meanwhile moves it, and the record follows the provider.
    let effective_at = match &renewal {
        Some(r) => at_unix(r.next_phase_starts_at)?,
        None => sub.current_period_end,
    };
    let schedule_id = renewal.map(|r| r.schedule_id);
    let terms = match intent.kind {
        ChangeKind::ScheduleDecrease => Terms {
            assign_cap: Some(AssignCap::To(intent.seats)),
            scheduled_change: Some(Some(ScheduledChange::SeatDecrease {
                seats: intent.seats,
                effective_at,
                provider_schedule_id: schedule_id,
            })),
            ..Terms::default()
        },
        ChangeKind::ScheduleInterval => Terms {
            scheduled_change: Some(Some(ScheduledChange::IntervalChange {
                interval: intent.interval,
                unit_amount: intent.unit_amount,
                effective_at,
                provider_schedule_id: schedule_id,
                seats: Some(sub.seats),
            })),
            ..Terms::default()
        },
        // Nothing renews: a scheduled change goes with the renewal (the provider's schedule
        // was released), and its cap with it.
        ChangeKind::CancelAtPeriodEnd => Terms {
            assign_cap: Some(AssignCap::Seats),
            scheduled_change: Some(None),
            cancellation: Some(CancellationWrite {
                cancellation: intent.cancellation.clone(),
                at: app.clock.now().timestamp(),
            }),
            ..Terms::default()
        },
        ChangeKind::Resume => Terms {
            cancellation: Some(CancellationWrite { cancellation: None, at: app.clock.now().timestamp() }),
            ..Terms::default()
        },
        _ => Terms { assign_cap: Some(AssignCap::Seats), scheduled_change: Some(None), ..Terms::default() },
    };
    let audit = event(
        app,
        &sub.id,
        audit_kind(intent.kind),
        intent.actor.clone(),
        with(&intent.detail, json!({ "effective_at": effective_at, "change_id": intent.id })),
    );
    settle(app, sub, intent, SettleOutcome::Applied(terms), Some(audit), None).await?;
    reread(app, &sub.id).await
}

/// Settles an intent whose function died, from the provider's state: paid and applied there →
/// applied here; waiting for payment → pending; otherwise it never happened → dropped. A
/// scheduling intent is run again under its key. Nothing is ever charged again.
pub async fn heal(app: &App, sub: Subscription) -> Result<Subscription, DomainError> {
    if let Some(pending) = sub.pending_change.clone() {
        return heal_pending(app, sub, pending).await;
    }
    let Some(intent) = sub.change_intent.clone() else { return Ok(sub) };
    if (app.clock.now() - intent.started_at).num_seconds() < INTENT_STALE_S {
        return Ok(sub);
    }
    tracing::warn!(subscription_id = %sub.id, change_id = %intent.id, metric = "changes_healed", "settling a change left in flight");
    if intent.kind == ChangeKind::CancelAtPeriodEnd
        && intent.cancellation.as_ref().is_some_and(|c| app.clock.now() >= c.cancel_at)
    {
        // The period it was to end is over: sent now it would end the next one, which the
        // provider may have renewed and charged meanwhile. Not sent; the billing manager
        // cancels again if they still want to (the provider's own end, if it got the first
        // call, arrives as its event).
        tracing::warn!(subscription_id = %sub.id, change_id = %intent.id, metric = "cancellations_not_sent", "a cancellation left in flight past its period's end is dropped");
        dropped(app, &sub, &intent, "system:sweeper").await?;
        return reread(app, &sub.id).await;
    }
    if !intent.kind.charges_now() {
        let product = product_of(app, &sub).await?;
        // Rebuilt from the subscription as it is now, so under a key of its own: the gateway
        // reuses the schedule already attached, which makes running it again harmless.
        let again = ChangeIntent {
            idempotency_key: format!("{}-heal{}", intent.idempotency_key, app.clock.now().timestamp()),
            ..intent.clone()
        };
        return scheduled(app, &sub, &product, &again).await;
    }
    match app.payments.subscription(&sub.provider_subscription_id).await? {
        Some(state)
            if state.pending_update_expires_at.is_none()
                && state.quantity == intent.seats
                && state.interval == intent.interval =>
        {
            let how = Settle {
                period: (state.period_start, state.period_end),
                amount_due: state.latest_invoice.as_ref().map(|i| i.amount_due).filter(|a| *a != 0),
                invoice_id: state.latest_invoice.map(|i| i.id),
                actor: "system:sweeper".into(),
            };
            applied(app, &sub, &intent, how).await
        }
        Some(state) => match (state.pending_update_expires_at, state.latest_invoice) {
            (Some(expires_at), Some(invoice)) => {
                pending(app, &sub, &intent, &invoice, expires_at).await?;
                reread(app, &sub.id).await
            }
            // Stripe holds a change pending but its invoice could not be read: never drop what
            // may still be paid; look again next time.
            (Some(_), None) => Ok(sub),
            _ => {
                dropped(app, &sub, &intent, "system:sweeper").await?;
                reread(app, &sub.id).await
            }
        },
        None => {
            dropped(app, &sub, &intent, "system:sweeper").await?;
            reread(app, &sub.id).await
        }
    }
}

/// A change waiting for its payment past its expiry, whose expiry event never came (not
/// enabled on the endpoint, undeliverable for days, or the invoice voided by hand): applied if
/// the provider applied it, dropped otherwise, so the subscription never stays blocked.
async fn heal_pending(
    app: &App,
    sub: Subscription,
    pending: PendingChange,
) -> Result<Subscription, DomainError> {
    if (app.clock.now() - pending.expires_at).num_seconds() < INTENT_STALE_S {
        return Ok(sub);
    }
    let intent = pending.intent;
    match app.payments.subscription(&sub.provider_subscription_id).await? {
        Some(state)
            if state.pending_update_expires_at.is_none()
                && state.quantity == intent.seats
                && state.interval == intent.interval =>
        {
            let how = Settle {
                period: (state.period_start, state.period_end),
                invoice_id: Some(pending.invoice_id),
                amount_due: Some(pending.amount_due),
                actor: "system:sweeper".into(),
            };
            applied(app, &sub, &intent, how).await
        }
        Some(state) if state.pending_update_expires_at.is_some_and(|t| t > app.clock.now().timestamp()) => {
            Ok(sub) // the provider still waits for it
        }
        _ => {
            tracing::warn!(subscription_id = %sub.id, change_id = %intent.id, metric = "changes_healed", "dropping a change whose payment never came");
            dropped(app, &sub, &intent, "system:sweeper").await?;
            reread(app, &sub.id).await
        }
    }
}
