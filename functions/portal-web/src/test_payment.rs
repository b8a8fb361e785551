//! The offline gateway's payment: what Stripe does when a buyer pays a Checkout Session — a
//! signed `checkout.session.completed` event posted to the webhook. The purchase then completes
//! through exactly the code path a real Stripe payment takes.

use adapters::stripe::{events, webhook};
use domain::DomainError;
use http_kit::ApiError;
use lambda_http::Body;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    checkout_id: String,
}

/// The answer to the page: where the buyer goes next.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Paid {
    pub checkout_id: String,
    pub status: &'static str,
    pub success_url: String,
}

fn invalid(message: &str) -> ApiError {
    ApiError::invalid(Some("checkout_id"), message)
}

/// The checkout id from `{"checkout_id": "chk_…"}`.
pub fn parse(body: &Body) -> Result<String, ApiError> {
    let bytes: &[u8] = match body {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    let req: PayRequest = serde_json::from_slice(bytes)
        .map_err(|_| ApiError::invalid(None, "The body must be {\"checkout_id\": \"chk_…\"}."))?;
    let id = req.checkout_id;
    let well_formed = id.len() <= 64
        && id.strip_prefix("chk_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    if !well_formed {
        return Err(invalid("checkout_id must be a checkout id (chk_…)."));
    }
    Ok(id)
}

fn unavailable(what: &str, detail: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%detail, "test payment: {what}");
    ApiError::Domain(DomainError::Unavailable)
}

/// Reads the checkout (it must be open), then posts the signed event as Stripe would.
pub async fn complete(
    http: &reqwest::Client,
    api_base: &str,
    webhook_secret: &str,
    checkout_id: &str,
) -> Result<Paid, ApiError> {
    let read = http
        .get(format!("{api_base}/v1/checkouts/{checkout_id}"))
        .send()
        .await
        .map_err(|e| unavailable("reading the checkout failed", e))?;
    match read.status().as_u16() {
        200 => {}
        404 => return Err(ApiError::Domain(DomainError::NotFound("checkout"))),
        s => return Err(unavailable("reading the checkout failed", s)),
    }
    let checkout: Value = read.json().await.map_err(|e| unavailable("the checkout was unreadable", e))?;
    let status = checkout["status"].as_str().unwrap_or_default();
    if status != "open" {
        return Err(ApiError::Domain(DomainError::InvalidState(format!(
            "This checkout is {status}; it cannot be paid again."
        ))));
    }
    let now = chrono::Utc::now().timestamp();
    let stripe_subscription = format!("sub_offline_{}", uuid::Uuid::new_v4().simple());
    let event = events::checkout_completed(checkout_id, &stripe_subscription, now);
    let body = serde_json::to_vec(&event).map_err(|e| unavailable("encoding the event failed", e))?;
    let delivered = http
        .post(format!("{api_base}/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", webhook::sign(&body, webhook_secret, now))
        .body(body)
        .send()
        .await
        .map_err(|e| unavailable("delivering the event failed", e))?;
    if !delivered.status().is_success() {
        return Err(unavailable("the webhook refused the event", delivered.status()));
    }
    Ok(Paid {
        checkout_id: checkout_id.to_string(),
        status: "completed",
        success_url: checkout["success_url"].as_str().unwrap_or_default().to_string(),
    })
}
