//! What a change announces: the webhook events an audit entry carries (built from the objects
//! as the API shows them, at the moment of the change), and the nudge that sends them once the
//! change is committed.

use crate::model::*;
use crate::services::App;
use crate::views::{CheckoutView, GrantView, SeatView, SubscriptionView};
use crate::webhooks::{OutgoingEvent, WebhookMessage};
use crate::{ids, model::AuditEvent};
use serde_json::Value;

fn outgoing(app: &App, organization_id: &str, kind: &str, version: i64, object: Value) -> OutgoingEvent {
    OutgoingEvent {
        id: ids::new_id(ids::EVENT),
        organization_id: organization_id.to_string(),
        kind: kind.to_string(),
        created: app.clock.now(),
        version,
        object,
    }
}

fn value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A seat's version: its lifecycle only moves forward (pending → claimed or expired →
/// suspended → revoked), and an expired invitation sent again, or a suspended seat restored
/// in place, starts a later round of it.
fn seat_version(seat: &Seat) -> i64 {
    let step = match seat.status {
        SeatStatus::Pending => 1,
        SeatStatus::Claimed | SeatStatus::Expired => 2,
        SeatStatus::Suspended => 3,
        SeatStatus::Revoked => 4,
    };
    4 * i64::from(seat.reinvitations + seat.restorations) + step
}

pub fn seat(app: &App, kind: &str, seat: &Seat) -> OutgoingEvent {
    outgoing(app, &seat.organization_id, kind, seat_version(seat), value(&SeatView::from(seat)))
}

/// The subscription as it is once the change is written (its version already the new one).
pub fn subscription(app: &App, kind: &str, sub: &Subscription) -> OutgoingEvent {
    outgoing(app, &sub.organization_id, kind, sub.version, value(&SubscriptionView::from(sub)))
}

pub fn grant(app: &App, kind: &str, organization_id: &str, g: &Grant) -> OutgoingEvent {
    let step = if g.status == GrantStatus::Revoked { 2 } else { 1 };
    let version = 2 * i64::from(g.reinstatements) + step;
    outgoing(app, organization_id, kind, version, value(&GrantView::from(g)))
}

pub fn checkout(app: &App, c: &Checkout) -> OutgoingEvent {
    outgoing(app, &c.organization_id, "checkout.completed", 1, value(&CheckoutView::at(c, app.clock.now())))
}

/// The events a subscription's billing change announces: `subscription.updated`, and
/// `.canceled` / `.past_due` when its status became that.
pub fn billing_change(app: &App, before: &Subscription, after: &Subscription) -> Vec<OutgoingEvent> {
    let mut out = vec![subscription(app, "subscription.updated", after)];
    if after.status != before.status {
        match after.status {
            SubscriptionStatus::Canceled => out.push(subscription(app, "subscription.canceled", after)),
            SubscriptionStatus::PastDue => out.push(subscription(app, "subscription.past_due", after)),
            _ => {}
        }
    }
    out
}

/// After the commit: asks the webhook sender to dispatch what these entries announce. A send
/// that fails is logged; the entries stay undispatched in the table and the sweeper sends them.
pub async fn announce<'a>(app: &App, audits: impl IntoIterator<Item = &'a AuditEvent>) {
    let messages: Vec<WebhookMessage> = audits
        .into_iter()
        .filter(|a| !a.outgoing.is_empty())
        .map(|a| WebhookMessage::Dispatch {
            subscription_id: a.subscription_id.clone(),
            audit_id: a.id.clone(),
        })
        .collect();
    if messages.is_empty() {
        return;
    }
    if let Err(e) = app.webhooks.send(&messages, 0).await {
        tracing::warn!(error = %e, metric = "webhook_dispatches_deferred", "webhook events not sent now; the sweeper sends them");
    }
}
