//! `Idempotency-Key`, as Stripe does it: the same key with the same request replays the
//! first response for 24 h (marked `Idempotent-Replayed: true`); the same key with another
//! request is 422 `idempotency_mismatch`; a key whose first request is still running is 409.
//! Successful responses are kept, and a 402 `payment_required` (the change reached the payment
//! provider and waits for its payment: a retry must not send it again); any other failure
//! releases the key, so a failed attempt can be retried with it. A secret in an answer (the
//! API key of a new organization) is shown once: the kept answer has it `null`, and names it in
//! `secrets_not_replayed`, so no secret is ever stored.

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

/// Whose keys these are: the caller's; for an anonymous caller, the product or organization
/// the request is for, so that strangers' keys never meet (one buyer's `Idempotency-Key` cannot
/// replay, block or reveal another's purchase of another product).
pub fn scope(ctx: &Ctx) -> String {
    match ctx.principal {
        domain::services::Principal::Public => {
            let body = serde_json::from_slice::<serde_json::Value>(&ctx.body).unwrap_or_default();
            let of = ["product_id", "organization_id", "organization_slug"]
                .iter()
                .find_map(|k| body.get(*k).and_then(|v| v.as_str()))
                .filter(|v| {
                    (1..=64).contains(&v.len())
                        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })
                .unwrap_or("-");
            format!("public:{of}")
        }
        ref p => p.scope(),
    }
}

pub async fn run<F, Fut>(app: &App, key: &str, ctx: Ctx, handler: F) -> ApiResult
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let scope = format!("{}#{}", scope(&ctx), key);
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
            let stored = StoredResponse { status: resp.status().as_u16(), body: without_secrets(&body) };
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

/// The answer as kept for a replay: every secret replaced by `null`, and the fields that held
/// one listed in `secrets_not_replayed` (a body that is not JSON holds no field to redact).
pub fn without_secrets(body: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_string();
    };
    let mut redacted = Vec::new();
    redact(&mut value, "", &mut redacted);
    if redacted.is_empty() {
        return body.to_string();
    }
    if let Some(obj) = value.as_object_mut() {
        obj.insert("secrets_not_replayed".into(), json!(redacted));
    }
    value.to_string()
}

fn redact(v: &mut serde_json::Value, path: &str, out: &mut Vec<String>) {
    let at = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match v {
        serde_json::Value::String(s) if domain::secrets::is_secret(s) => {
            *v = serde_json::Value::Null;
            out.push(path.to_string());
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                redact(x, &at(k), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                redact(x, &at(&i.to_string()), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_answer_holds_no_secret() {
        let key = domain::secrets::new_secret(domain::secrets::API_KEY_PREFIX);
        let body =
            json!({"id": "org_1", "api_key": key, "nested": [{"token": key}], "url": "https://x/cs_test_1"});
        let kept: serde_json::Value =
            serde_json::from_str(&without_secrets(&body.to_string())).expect("json");
        assert!(!kept.to_string().contains(&key));
        assert_eq!(kept["api_key"], serde_json::Value::Null);
        assert_eq!(kept["secrets_not_replayed"], json!(["api_key", "nested.0.token"]));
        assert_eq!(kept["url"], json!("https://x/cs_test_1"));
        // A webhook endpoint's signing secret, in a create or rotate answer, is not kept either.
        let signing = domain::webhooks::new_secret();
        let kept = without_secrets(&json!({"id": "we_1", "secret": signing}).to_string());
        assert!(!kept.contains(&signing) && kept.contains("secrets_not_replayed"), "{kept}");
        assert_eq!(without_secrets("{\"id\":1}"), "{\"id\":1}");
        assert_eq!(without_secrets("not json"), "not json");
    }
}
