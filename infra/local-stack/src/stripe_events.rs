//! Stripe-format events, signed as Stripe signs them, for the local stack and the tests
//! (what `stripe trigger` would send).

use crate::BoxError;
use adapters::stripe::webhook::sign;
use serde_json::{json, Value};

fn event(event_type: &str, created: i64, object: Value) -> Value {
    json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "api_version": adapters::stripe::gateway::STRIPE_VERSION,
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

/// `customer.subscription.updated` with the period on the first item (API ≥ 2025-03-31).
pub fn subscription_updated(
    stripe_subscription_id: &str,
    status: &str,
    period: (i64, i64),
    quantity: i64,
    created: i64,
) -> Value {
    event(
        "customer.subscription.updated",
        created,
        json!({
            "id": stripe_subscription_id,
            "object": "subscription",
            "status": status,
            "items": { "object": "list", "data": [{
                "object": "subscription_item",
                "quantity": quantity,
                "current_period_start": period.0,
                "current_period_end": period.1,
            }]},
        }),
    )
}

pub fn subscription_deleted(stripe_subscription_id: &str, created: i64) -> Value {
    event(
        "customer.subscription.deleted",
        created,
        json!({ "id": stripe_subscription_id, "object": "subscription", "status": "canceled" }),
    )
}

pub fn invoice(event_type: &str, stripe_subscription_id: &str, created: i64) -> Value {
    event(
        event_type,
        created,
        json!({
            "id": format!("in_test_{}", uuid::Uuid::new_v4().simple()),
            "object": "invoice",
            "parent": { "type": "subscription_details",
                        "subscription_details": { "subscription": stripe_subscription_id } },
        }),
    )
}

/// POSTs `event` to the webhook signed with `secret` at `signed_at`; returns status and body.
pub async fn post_signed(
    api_url: &str,
    secret: &str,
    event: &Value,
    signed_at: i64,
) -> Result<(u16, String), BoxError> {
    let body = serde_json::to_vec(event)?;
    let resp = reqwest::Client::new()
        .post(format!("{api_url}/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", sign(&body, secret, signed_at))
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}
