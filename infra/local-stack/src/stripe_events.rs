//! Stripe-format events, signed as Stripe signs them, for the local stack and the tests
//! (what `stripe trigger` would send). The event shapes live in the adapters crate, which the
//! offline test payment page shares.

use crate::BoxError;
pub use adapters::stripe::events::{
    checkout_completed, invoice, pending_update_expired, renewal_invoice, subscription_deleted,
    subscription_updated, Item,
};
use adapters::stripe::webhook::sign;
use serde_json::Value;

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
