//! A subscription's billing state from what the provider says (or the sweeper in its place),
//! under optimistic concurrency: status, period, a renewal's terms, a lapse's suspension, the
//! provider's own word on a cancellation, the ledger's renewal invoice.

use super::billing_events::{at_unix, Outcome, CLOCK_SKEW_S, MAX_ATTEMPTS};
use super::webhooks::announce;
use super::App;
use crate::error::DomainError;
use crate::events::{PaymentEvent, StateCancellation};
use crate::ids;
use crate::model::*;
use crate::ports::{Applied, BillingUpdate, CancellationWrite, RenewalTerms, SuspensionChange};
use chrono::{DateTime, Utc};
use serde_json::json;

/// What an event says the subscription is now; `None` fields leave it as it is.
pub(super) struct Next {
    pub(super) status: Option<SubscriptionStatus>,
    pub(super) period: Option<(i64, i64)>,
    pub(super) item_id: Option<String>,
    /// The ledger's renewal invoice, paid or open now (a provider that keeps no invoices).
    pub(super) invoice: Option<BillingInvoice>,
    /// What the provider says of an end at the period's end.
    pub(super) cancellation: Option<StateCancellation>,
    /// Write only while no change is in flight.
    pub(super) only_without_change: bool,
    /// A renewal's payment failed (the dunning it starts or continues), or was paid (`Some(None)`).
    pub(super) dunning: Option<Option<Dunning>>,
}

impl Next {
    pub(super) fn none() -> Self {
        Next {
            status: None,
            period: None,
            item_id: None,
            invoice: None,
            cancellation: None,
            only_without_change: false,
            dunning: None,
        }
    }
    pub(super) fn status(s: SubscriptionStatus) -> Self {
        Next { status: Some(s), ..Next::none() }
    }
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
pub(super) async fn update_billing<F>(
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
        // A lapse ends a dunning too (its entry with it); otherwise the event says.
        let dunning = match (status.is_lapsed(), &sub.dunning, next.dunning.take()) {
            (true, Some(_), _) => Some(None),
            (true, None, _) => None,
            (false, None, Some(None)) => None,
            (false, _, d) => d,
        };
        let payment_failed = matches!(dunning, Some(Some(_))) && sub.dunning.is_none();
        let recovered = matches!(dunning, Some(None)) && !status.is_lapsed();
        // The billing managers hear of it once: when the dunning starts, and when it is paid.
        let notice_job = match (payment_failed, recovered) {
            (true, _) => Some(Job::billing_notice(JobKind::PaymentFailed, &sub.id, &sub.customer_id)),
            (_, true) => Some(Job::billing_notice(JobKind::PaymentRecovered, &sub.id, &sub.customer_id)),
            _ => None,
        };
        let billing_changed = status != sub.status
            || start != sub.current_period_start
            || end != sub.current_period_end
            || renewal.is_some()
            || cancellation.is_some()
            || dunning.is_some();
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
            _ if payment_failed => "subscription.payment_failed",
            _ if recovered => "subscription.payment_recovered",
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
        if let Some(d) = &dunning {
            after.dunning = d.clone();
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
                "dunning": dunning.as_ref().map(|d| d.as_ref().map(|d| json!({
                    "amount_due": d.amount_due, "access_until": d.access_until,
                    "attempts": d.attempts, "invoice_id": d.invoice_id,
                }))),
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
            dunning,
            notice_job: notice_job.clone(),
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
                if let Some(job) = notice_job {
                    if let Err(e) = app.jobs.enqueue(&[job]).await {
                        tracing::warn!(subscription_id = %sub.id, error = %e, "payment notice not sent; the sweeper will send it");
                    }
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
