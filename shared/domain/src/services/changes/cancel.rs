//! Cancel at the period's end, and resume before it. Nothing is charged or refunded: the
//! subscription keeps its seats and benefits until the end, then lapses through the usual
//! path (Stripe's `customer.subscription.deleted`; offline, the sweeper at the end). Both go
//! through a change intent, so they never race a seat change, and are settled once.

use super::apply::{begin, new_intent, Plan};
use super::settle::{self, scheduled};
use super::*;
use crate::events::{
    ItemState, PaymentEvent, PaymentEventKind, StateCancellation, SubscriptionState, SWEEPER_EVENT_PREFIX,
};
use crate::proration::Effective;
use crate::services::billing_events;
use crate::services::suspension::SUSPENSION_DAYS;
use crate::views::{BenefitView, CancelPreviewView, ScheduledChangeView};
use chrono::Duration;
use serde_json::json;

/// Longest free-text comment kept with a cancellation.
pub const COMMENT_MAX_CHARS: usize = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Only `true` (the default): an immediate cancellation is not offered.
    #[serde(default)]
    pub at_period_end: Option<bool>,
    #[serde(default)]
    pub reason: Option<CancellationReason>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A subscription that ends at the period's end has no next period to change.
pub(crate) fn nothing_renews() -> DomainError {
    DomainError::InvalidState(
        "the subscription is set to cancel at the period's end; resume it before changing the next period"
            .into(),
    )
}

/// The subscription as it may be cancelled or resumed: one of the manager's, still running.
async fn running(app: &App, who: &Principal, id: &str) -> Result<Subscription, DomainError> {
    let (sub, _) = changeable(app, who, id).await?;
    let sub = settle::heal(app, sub).await?;
    if app.clock.now() >= sub.current_period_end {
        return Err(DomainError::Conflict("the subscription is renewing; retry in a moment".into()));
    }
    if sub.change_intent.is_some() {
        // Another manager's cancel or resume (or a seat change) decides first.
        return Err(DomainError::Conflict(
            "another change to this subscription is in progress; retry shortly".into(),
        ));
    }
    Ok(sub)
}

/// `POST …/resume` takes no fields (an empty body or `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {}

fn validated(req: &CancelRequest) -> Result<Option<String>, DomainError> {
    if req.at_period_end == Some(false) {
        return Err(DomainError::invalid(
            "at_period_end",
            "only a cancellation at the period's end is offered (seats were paid for until then)",
        ));
    }
    let comment = req.comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > COMMENT_MAX_CHARS) {
        return Err(DomainError::invalid(
            "comment",
            format!("must be at most {COMMENT_MAX_CHARS} characters"),
        ));
    }
    Ok(comment.map(str::to_string))
}

/// `POST …/cancel/preview`: what ends, and when. Persists nothing.
pub async fn preview_cancel(
    app: &App,
    who: &Principal,
    id: &str,
    req: CancelRequest,
) -> Result<CancelPreviewView, DomainError> {
    validated(&req)?;
    let (sub, product) = changeable(app, who, id).await?;
    if app.clock.now() >= sub.current_period_end {
        return Err(DomainError::Conflict("the subscription is renewing; retry in a moment".into()));
    }
    let cancel_at = sub.cancellation.as_ref().map_or(sub.current_period_end, |c| c.cancel_at);
    let mut benefits = Vec::new();
    for benefit_id in &product.benefit_ids {
        if let Some(b) = app.store.benefit(benefit_id).await? {
            benefits.push(BenefitView::from(&b));
        }
    }
    Ok(CancelPreviewView {
        cancel_at,
        seats: sub.seats,
        seats_assigned: sub.seats_assigned,
        benefits,
        scheduled_change_dropped: sub.scheduled_change.as_ref().map(ScheduledChangeView::from),
        amount_due_now: 0,
        restorable_until: cancel_at + Duration::days(SUSPENSION_DAYS),
        subscription: SubscriptionView::from(&sub),
    })
}

/// `POST …/cancel`: ends at the period's end. Asking again changes nothing (the first
/// reason stays); a scheduled change is dropped with it.
pub async fn cancel(
    app: &App,
    who: &Principal,
    id: &str,
    req: CancelRequest,
) -> Result<SubscriptionView, DomainError> {
    let comment = validated(&req)?;
    let sub = running(app, who, id).await?;
    if sub.cancellation.is_some() {
        return Ok(SubscriptionView::from(&sub));
    }
    let now = app.clock.now();
    let cancellation = Cancellation {
        cancel_at: sub.current_period_end,
        requested_at: now,
        reason: req.reason,
        comment,
        actor: who.actor(),
    };
    let detail = json!({
        "cancel_at": cancellation.cancel_at,
        "reason": cancellation.reason,
        "comment": cancellation.comment,
        "seats": sub.seats,
        "seats_assigned": sub.seats_assigned,
        "scheduled_change_dropped": sub.scheduled_change.as_ref().map(ScheduledChangeView::from),
    });
    let updated =
        run(app, &sub, ChangeKind::CancelAtPeriodEnd, Some(cancellation), who.actor(), detail).await?;
    Ok(SubscriptionView::from(&updated))
}

/// `POST …/resume`: renews again, as it was. 409 when it is not set to cancel.
pub async fn resume(app: &App, who: &Principal, id: &str) -> Result<SubscriptionView, DomainError> {
    let sub = running(app, who, id).await?;
    let Some(was) = &sub.cancellation else {
        return Err(DomainError::InvalidState("the subscription is not set to cancel".into()));
    };
    let detail = json!({ "cancel_at": was.cancel_at, "canceled_at": was.requested_at });
    let updated = run(app, &sub, ChangeKind::Resume, None, who.actor(), detail).await?;
    Ok(SubscriptionView::from(&updated))
}

async fn run(
    app: &App,
    sub: &Subscription,
    kind: ChangeKind,
    cancellation: Option<Cancellation>,
    actor: String,
    detail: serde_json::Value,
) -> Result<Subscription, DomainError> {
    let product = app
        .store
        .product(&sub.product_id)
        .await?
        .ok_or_else(|| DomainError::Internal("subscription without product".into()))?;
    let at = app.clock.now();
    let quote = Quote {
        effective: Effective::PeriodEnd,
        effective_at: sub.current_period_end,
        lines: vec![],
        amount_due_now: 0,
        tax: 0,
        next_renewal_amount: if kind == ChangeKind::Resume { sub.unit_amount * sub.seats } else { 0 },
    };
    let target = Target { seats: sub.seats, interval: sub.interval, unit_amount: sub.unit_amount };
    let plan = Plan { kind, target, at, quote, actor, detail, reserve: None };
    let intent = ChangeIntent { cancellation, ..new_intent(app, sub, &plan) };
    begin(app, sub, &intent, None).await?;
    scheduled(app, sub, &product, &intent).await
}

/// How long the sweeper waits before it looks at the provider again, when the provider's own
/// end has not come yet (its renewal run is not to the second) or a change is in flight.
pub const LOOK_AGAIN_AFTER_S: i64 = 15 * 60;
/// The sweeper's time for cancellations in one run: the rest waits for the next minute.
const END_DUE_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Ends every subscription whose cancellation's end has come, at most `limit`, within
/// [`END_DUE_BUDGET`]: the provider's end when it made one (Stripe's
/// `customer.subscription.deleted` may be late or lost), the end itself when the provider keeps
/// no state (offline: no one else would), or the cancellation withdrawn when the provider
/// renewed the subscription (resumed there by hand). Ends go through the lapse path, once.
pub async fn end_due(app: &App, limit: usize) -> Result<usize, DomainError> {
    let started = std::time::Instant::now();
    let now = app.clock.now();
    let mut ended = 0;
    for (id, cancel_at) in app.store.cancellations_due(now, limit).await? {
        if started.elapsed() > END_DUE_BUDGET {
            break;
        }
        match end_one(app, &id, cancel_at).await {
            Ok(true) => ended += 1,
            Ok(false) => {}
            // One subscription's provider trouble must not stop the others.
            Err(e) => {
                tracing::warn!(subscription_id = %id, error = %e, "cancellation not ended yet");
                let later = app.clock.now() + Duration::seconds(LOOK_AGAIN_AFTER_S);
                app.store.postpone_cancellation_due(&id, cancel_at, later).await?;
            }
        }
    }
    Ok(ended)
}

async fn end_one(app: &App, id: &str, cancel_at: DateTime<Utc>) -> Result<bool, DomainError> {
    let Some(sub) = app.store.subscription(id).await? else {
        app.store.forget_cancellation_due(id, cancel_at).await?;
        return Ok(false);
    };
    if sub.status.is_lapsed() || sub.cancellation.as_ref().map(|c| c.cancel_at) != Some(cancel_at) {
        // Ended already (Stripe's event came first), or cancelled again for another end.
        app.store.forget_cancellation_due(id, cancel_at).await?;
        return Ok(false);
    }
    let later = app.clock.now() + Duration::seconds(LOOK_AGAIN_AFTER_S);
    if sub.change_intent.is_some() || sub.pending_change.is_some() {
        // A resume (or another change) is in flight: it decides first.
        app.store.postpone_cancellation_due(id, cancel_at, later).await?;
        return Ok(false);
    }
    let provider = match app.payments.subscription(&sub.provider_subscription_id).await {
        // Gone at the provider: nothing renews it.
        Err(e) if e.is_not_found() => None,
        other => other?,
    };
    match provider {
        Some(p) if p.status != "canceled" => {
            if !p.cancel_at_period_end && p.period_end > cancel_at.timestamp() {
                // Renewed at the provider (resumed there by hand) and its renewal's event not
                // here yet: the provider's state is applied as that event would be, which
                // withdraws the cancellation. Not newer than what was applied, nor than the renewal.
                tracing::warn!(subscription_id = %id, metric = "cancellations_withdrawn_at_provider", "the provider renewed a subscription set to cancel");
                let event = PaymentEvent {
                    id: format!("{SWEEPER_EVENT_PREFIX}renewed_{id}_{}", p.period_start),
                    created: sub.last_event_at.max(p.period_start),
                    kind: PaymentEventKind::SubscriptionUpdated {
                        provider_subscription_id: sub.provider_subscription_id.clone(),
                        checkout_id: None,
                        state: SubscriptionState {
                            status: p.status.clone(),
                            period: Some((p.period_start, p.period_end)),
                            item: Some(ItemState {
                                id: Some(p.item_id.clone()),
                                quantity: p.quantity,
                                interval: Some(p.interval.as_str().to_string()),
                            }),
                            pending_update: p.pending_update_expires_at.is_some(),
                            latest_invoice: p.latest_invoice.as_ref().map(|i| i.id.clone()),
                            cancellation: Some(StateCancellation {
                                cancel_at_period_end: false,
                                cancel_at: None,
                                feedback: None,
                                comment: None,
                            }),
                        },
                    },
                };
                crate::services::billing_events::handle(app, &event).await?;
            } else {
                // The provider's own end is still to come.
                app.store.postpone_cancellation_due(id, cancel_at, later).await?;
            }
            Ok(false)
        }
        _ => {
            // Each look its own event: one that found a change in flight says nothing of the next.
            let now = app.clock.now().timestamp();
            let event = PaymentEvent {
                id: format!("{SWEEPER_EVENT_PREFIX}cancel_{id}_{}_{now}", cancel_at.timestamp()),
                created: now.max(sub.last_event_at),
                kind: PaymentEventKind::SubscriptionDeleted {
                    provider_subscription_id: sub.provider_subscription_id.clone(),
                    checkout_id: None,
                },
            };
            billing_events::end_at_period_end(app, &event, &sub.provider_subscription_id, cancel_at).await?;
            let lapsed = app.store.subscription(id).await?.is_some_and(|s| s.status.is_lapsed());
            if lapsed {
                app.store.forget_cancellation_due(id, cancel_at).await?;
            } else {
                app.store.postpone_cancellation_due(id, cancel_at, later).await?;
            }
            Ok(lapsed)
        }
    }
}
