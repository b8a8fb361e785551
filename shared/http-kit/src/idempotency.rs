//! `Idempotency-Key`, as Stripe does it: the same key with the same request replays the
//! first response for 24 h (marked `Idempotent-Replayed: true`); the same key with another
//! request is 422 `idempotency_mismatch`; a key whose first request is still running is 409.
//! Successful responses are kept, and a 402 `payment_required` (the change reached the payment
//! provider and waits for its payment: a retry must not send it again); any other failure
//! releases the key, so a failed attempt can be retried with it.

use crate::{ApiError, ApiResult, Ctx};
use domain::ports::{IdempotencyStart, StoredResponse};
use domain::services::App;
use lambda_http::http::HeaderValue;
use lambda_http::Body;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::future::Future;

/// Hash of what makes two requests "the same": method, path and the body's JSON value
/// (key order and whitespace do not matter).
pub fn request_hash(ctx: &Ctx) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(&ctx.body)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| ctx.body.clone());
    let mut h = Sha256::new();
    h.update(ctx.method.as_str().as_bytes());
    h.update(b" ");
    h.update(ctx.path.as_bytes());
    h.update(b"\n");
    h.update(&canonical);
    hex::encode(h.finalize())
}

pub async fn run<F, Fut>(app: &App, key: &str, ctx: Ctx, handler: F) -> ApiResult
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let scope = format!("{}#{}", ctx.principal.scope(), key);
    let hash = request_hash(&ctx);
    match app
        .store
        .begin_idempotent(&scope, &hash, app.clock.now())
        .await
        .map_err(domain::DomainError::from)?
    {
        IdempotencyStart::Started => {}
        IdempotencyStart::Replay(r) => {
            let mut resp = crate::response::json(200, &json!({}));
            *resp.status_mut() = lambda_http::http::StatusCode::from_u16(r.status)
                .unwrap_or(lambda_http::http::StatusCode::OK);
            *resp.body_mut() = Body::Text(r.body);
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(resp);
        }
        IdempotencyStart::Mismatch => return Err(ApiError::IdempotencyMismatch),
        IdempotencyStart::InProgress => {
            return Err(ApiError::Domain(domain::DomainError::Conflict(
                "a request with this Idempotency-Key is still being processed; retry shortly".into(),
            )))
        }
    }
    let result = match handler(ctx).await {
        Err(e @ ApiError::Domain(domain::DomainError::PaymentRequired { .. })) => Ok(e.into_response()),
        other => other,
    };
    match &result {
        Ok(resp) if resp.status().is_success() || resp.status().as_u16() == 402 => {
            let body = match resp.body() {
                Body::Text(t) => t.clone(),
                Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
                Body::Empty => String::new(),
                _ => String::new(),
            };
            let stored = StoredResponse { status: resp.status().as_u16(), body };
            if let Err(e) = app.store.finish_idempotent(&scope, &stored).await {
                // The work is done; a retry will see "in progress" until the record goes stale.
                tracing::warn!(error = %e, "could not store the idempotent response");
            }
        }
        _ => {
            if let Err(e) = app.store.abandon_idempotent(&scope).await {
                tracing::warn!(error = %e, "could not release the idempotency key");
            }
        }
    }
    result
}
