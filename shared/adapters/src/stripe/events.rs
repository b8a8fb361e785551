//! Stripe-format events (what Stripe posts to the webhook), built here for the two places
//! that play Stripe without a Stripe account: the offline gateway's test payment page and the
//! local stack's tools and tests. Sign them with [`super::webhook::sign`].

use serde_json::{json, Value};

/// An event envelope as Stripe sends it.
pub fn event(event_type: &str, created: i64, object: Value) -> Value {
    json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "api_version": super::gateway::STRIPE_VERSION,
        "created": created,
        "livemode": false,
        "pending_webhooks": 1,
        "type": event_type,
        "data": { "object": object },
    })
}

/// `checkout.session.completed` for one of our checkouts.
pub fn checkout_completed(checkout_id: &str, stripe_subscription_id: &str, created: i64) -> Value {
    event(
        "checkout.session.completed",
        created,
        json!({
            "id": format!("cs_test_{}", uuid::Uuid::new_v4().simple()),
            "object": "checkout.session",
            "mode": "subscription",
            "status": "complete",
            "payment_status": "paid",
            "client_reference_id": checkout_id,
            "metadata": { "checkout_id": checkout_id },
            "customer": format!("cus_test_{}", &uuid::Uuid::new_v4().simple().to_string()[..14]),
            "subscription": stripe_subscription_id,
        }),
    )
}

/// What a subscription's item bills: the seats paid for now and the price's interval.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub quantity: i64,
    pub interval: &'a str,
}

/// `customer.subscription.updated` with the period on the first item (API ≥ 2025-03-31) and
/// no pending update.
pub fn subscription_updated(
    stripe_subscription_id: &str,
    status: &str,
    period: (i64, i64),
    item: Item,
    created: i64,
) -> Value {
    event(
        "customer.subscription.updated",
        created,
        json!({
            "id": stripe_subscription_id,
            "object": "subscription",
            "status": status,
            "pending_update": null,
            "items": { "object": "list", "data": [{
                "id": format!("si_{}", &stripe_subscription_id.trim_start_matches("sub_")),
                "object": "subscription_item",
                "quantity": item.quantity,
                "price": { "object": "price", "recurring": { "interval": item.interval } },
                "current_period_start": period.0,
                "current_period_end": period.1,
            }]},
        }),
    )
}

/// `customer.subscription.pending_update_expired`: a change's payment never came.
pub fn pending_update_expired(stripe_subscription_id: &str, created: i64) -> Value {
    event(
        "customer.subscription.pending_update_expired",
        created,
        json!({ "id": stripe_subscription_id, "object": "subscription", "status": "active", "pending_update": null }),
    )
}

pub fn subscription_deleted(stripe_subscription_id: &str, created: i64) -> Value {
    event(
        "customer.subscription.deleted",
        created,
        json!({ "id": stripe_subscription_id, "object": "subscription", "status": "canceled" }),
    )
}

/// An invoice event of the subscription's current invoice (the same id for its failure and its
/// payment, as Stripe's retries and payment of one invoice are).
pub fn invoice(event_type: &str, stripe_subscription_id: &str, created: i64) -> Value {
    event(
        event_type,
        created,
        json!({
            "id": format!("in_test_{}", stripe_subscription_id.trim_start_matches("sub_")),
            "object": "invoice",
            "parent": { "type": "subscription_details",
                        "subscription_details": { "subscription": stripe_subscription_id } },
        }),
    )
}

/// A renewal's invoice event (`invoice.payment_failed`, `invoice.paid`): what is due and
/// Stripe's page to pay it, as Stripe sends them.
pub fn renewal_invoice(
    event_type: &str,
    stripe_subscription_id: &str,
    invoice_id: &str,
    created: i64,
    amount_due: i64,
    hosted_invoice_url: &str,
) -> Value {
    event(
        event_type,
        created,
        json!({
            "id": invoice_id,
            "object": "invoice",
            "billing_reason": "subscription_cycle",
            "amount_due": amount_due,
            "hosted_invoice_url": hosted_invoice_url,
            "parent": { "type": "subscription_details",
                        "subscription_details": { "subscription": stripe_subscription_id } },
        }),
    )
}
