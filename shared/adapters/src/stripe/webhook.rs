//! Stripe webhooks: the signature check over the raw body, and Stripe's JSON turned into the
//! domain's `PaymentEvent`.

use domain::events::{
    FailedInvoice, ItemState, PaymentEvent, PaymentEventKind, StateCancellation, SubscriptionState,
};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Stripe's default tolerance between the signature's timestamp and now.
pub const TOLERANCE_S: i64 = 300;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("missing or malformed Stripe-Signature header")]
    MalformedHeader,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
    #[error("the event is not valid JSON of a Stripe event: {0}")]
    BadEvent(String),
}

fn mac(secret: &str, timestamp: &str, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(payload);
    m
}

/// Checks `Stripe-Signature: t=…,v1=…[,v1=…]` against the raw body: any `v1` may match,
/// compared in constant time; the timestamp must be within `tolerance_s` of `now`.
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: i64,
    tolerance_s: i64,
) -> Result<(), WebhookError> {
    let mut timestamp: Option<&str> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(WebhookError::MalformedHeader)?;
        match k {
            "t" if timestamp.is_none() => timestamp = Some(v),
            "t" => return Err(WebhookError::MalformedHeader),
            "v1" => {
                if let Ok(bytes) = hex::decode(v) {
                    signatures.push(bytes)
                }
            }
            _ => {} // v0 and future schemes are ignored, as Stripe's libraries do
        }
    }
    let t_raw = timestamp.ok_or(WebhookError::MalformedHeader)?;
    let t: i64 = t_raw.parse().map_err(|_| WebhookError::MalformedHeader)?;
    if signatures.is_empty() {
        return Err(WebhookError::MalformedHeader);
    }
    if (now - t).abs() > tolerance_s {
        return Err(WebhookError::Stale);
    }
    let expected = mac(secret, t_raw, payload).finalize().into_bytes();
    let any = signatures.iter().fold(subtle::Choice::from(0u8), |acc, s| acc | expected.as_slice().ct_eq(s));
    if bool::from(any) {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

/// The header Stripe would send for `payload` at `timestamp` (for the local tools and tests).
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let sig = mac(secret, &timestamp.to_string(), payload).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(sig))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// An id field that may be a plain id or an expanded object.
fn id_at(v: &Value, path: &[&str]) -> Option<String> {
    let x = path.iter().try_fold(v, |v, k| v.get(k))?;
    x.as_str().or_else(|| x.get("id").and_then(Value::as_str)).map(str::to_string)
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_i64()
}

/// The period of a subscription object: top-level in older API versions, on the first item
/// since 2025-03-31.
fn period(obj: &Value) -> Option<(i64, i64)> {
    let top = (int_at(obj, &["current_period_start"]), int_at(obj, &["current_period_end"]));
    if let (Some(s), Some(e)) = top {
        return Some((s, e));
    }
    let item = obj.get("items")?.get("data")?.get(0)?;
    Some((int_at(item, &["current_period_start"])?, int_at(item, &["current_period_end"])?))
}

/// The subscription an invoice belongs to, in old and new API shapes.
fn invoice_subscription(obj: &Value) -> Option<String> {
    id_at(obj, &["subscription"]).or_else(|| id_at(obj, &["parent", "subscription_details", "subscription"]))
}

/// Our checkout's id in a subscription's metadata (or an invoice's copy of it): set only on
/// subscriptions this system created.
fn checkout_id_of(obj: &Value) -> Option<String> {
    str_at(obj, &["metadata", "checkout_id"])
        .or_else(|| str_at(obj, &["parent", "subscription_details", "metadata", "checkout_id"]))
        .or_else(|| str_at(obj, &["subscription_details", "metadata", "checkout_id"]))
        .map(str::to_string)
}

/// The first item: its id, quantity (the seats paid for now) and its price's interval.
fn item_state(obj: &Value) -> Option<ItemState> {
    let item = obj.get("items")?.get("data")?.get(0)?;
    Some(ItemState {
        id: str_at(item, &["id"]).map(str::to_string),
        quantity: int_at(item, &["quantity"])?,
        interval: str_at(item, &["price", "recurring", "interval"])
            .or_else(|| str_at(item, &["plan", "interval"]))
            .map(str::to_string),
    })
}

fn subscription_state(obj: &Value, status: &str) -> SubscriptionState {
    SubscriptionState {
        status: status.to_string(),
        period: period(obj),
        item: item_state(obj),
        pending_update: obj.get("pending_update").is_some_and(|p| !p.is_null()),
        latest_invoice: id_at(obj, &["latest_invoice"]),
        cancellation: obj.get("cancel_at_period_end").and_then(Value::as_bool).map(|flag| {
            StateCancellation {
                cancel_at_period_end: flag,
                cancel_at: int_at(obj, &["cancel_at"]),
                feedback: str_at(obj, &["cancellation_details", "feedback"]).map(str::to_string),
                comment: str_at(obj, &["cancellation_details", "comment"]).map(str::to_string),
            }
        }),
    }
}

pub fn parse_event(payload: &[u8]) -> Result<PaymentEvent, WebhookError> {
    let bad = |m: &str| WebhookError::BadEvent(m.to_string());
    let v: Value = serde_json::from_slice(payload).map_err(|e| WebhookError::BadEvent(e.to_string()))?;
    let id = str_at(&v, &["id"]).ok_or_else(|| bad("no id"))?.to_string();
    if id.is_empty() || id.len() > 255 {
        return Err(bad("id length"));
    }
    let created = int_at(&v, &["created"]).ok_or_else(|| bad("no created"))?;
    let event_type = str_at(&v, &["type"]).ok_or_else(|| bad("no type"))?;
    let obj = v.get("data").and_then(|d| d.get("object")).ok_or_else(|| bad("no data.object"))?;
    let ignored = || PaymentEventKind::Ignored { event_type: event_type.to_string() };
    let kind = match event_type {
        "checkout.session.completed" => {
            let checkout_id = str_at(obj, &["metadata", "checkout_id"])
                .or_else(|| str_at(obj, &["client_reference_id"]))
                .map(str::to_string);
            match (checkout_id, id_at(obj, &["subscription"])) {
                (Some(checkout_id), Some(provider_subscription_id)) => PaymentEventKind::CheckoutCompleted {
                    checkout_id,
                    provider_subscription_id,
                    provider_customer_id: id_at(obj, &["customer"]),
                },
                _ => ignored(),
            }
        }
        "customer.subscription.created" | "customer.subscription.updated" => {
            match (str_at(obj, &["id"]), str_at(obj, &["status"])) {
                (Some(sid), Some(status)) => PaymentEventKind::SubscriptionUpdated {
                    provider_subscription_id: sid.to_string(),
                    checkout_id: checkout_id_of(obj),
                    state: subscription_state(obj, status),
                },
                _ => return Err(bad("subscription without id or status")),
            }
        }
        "customer.subscription.deleted" => match str_at(obj, &["id"]) {
            Some(sid) => PaymentEventKind::SubscriptionDeleted {
                provider_subscription_id: sid.to_string(),
                checkout_id: checkout_id_of(obj),
            },
            None => return Err(bad("subscription without id")),
        },
        "customer.subscription.pending_update_expired" => match str_at(obj, &["id"]) {
            Some(sid) => PaymentEventKind::PendingUpdateExpired {
                provider_subscription_id: sid.to_string(),
                checkout_id: checkout_id_of(obj),
            },
            None => return Err(bad("subscription without id")),
        },
        "invoice.paid" => match invoice_subscription(obj) {
            Some(sid) => PaymentEventKind::InvoicePaid {
                provider_subscription_id: sid,
                checkout_id: checkout_id_of(obj),
                invoice_id: str_at(obj, &["id"]).map(str::to_string),
                billing_reason: str_at(obj, &["billing_reason"]).map(str::to_string),
            },
            None => ignored(),
        },
        "invoice.payment_failed" => match invoice_subscription(obj) {
            Some(sid) => PaymentEventKind::InvoicePaymentFailed {
                provider_subscription_id: sid,
                checkout_id: checkout_id_of(obj),
                billing_reason: str_at(obj, &["billing_reason"]).map(str::to_string),
                invoice: str_at(obj, &["id"]).map(|id| FailedInvoice {
                    id: id.to_string(),
                    amount_due: int_at(obj, &["amount_due"]).unwrap_or(0),
                    hosted_invoice_url: str_at(obj, &["hosted_invoice_url"]).map(str::to_string),
                }),
            },
            None => ignored(),
        },
        _ => ignored(),
    };
    Ok(PaymentEvent { id, created, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signed_payload_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_000);
        assert_eq!(verify(body, &header, SECRET, 1_100, TOLERANCE_S), Ok(()));
    }

    #[test]
    fn any_v1_may_match() {
        let body = b"{}";
        let good = sign(body, SECRET, 1_000);
        let good_sig = good.split("v1=").nth(1).unwrap_or_default();
        let header = format!("t=1000,v1={},v1={good_sig},v0=abc", "00".repeat(32));
        assert_eq!(verify(body, &header, SECRET, 1_000, TOLERANCE_S), Ok(()));
    }

    #[test]
    fn wrong_secret_tampered_body_and_stale_time_fail() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_000);
        assert_eq!(verify(body, &header, "whsec_other", 1_000, TOLERANCE_S), Err(WebhookError::Mismatch));
        assert_eq!(
            verify(br#"{"id":"evt_2"}"#, &header, SECRET, 1_000, TOLERANCE_S),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(verify(body, &header, SECRET, 1_000 + 360, TOLERANCE_S), Err(WebhookError::Stale));
        assert_eq!(verify(body, &header, SECRET, 1_000 - 360, TOLERANCE_S), Err(WebhookError::Stale));
        assert_eq!(verify(body, "garbage", SECRET, 1_000, TOLERANCE_S), Err(WebhookError::MalformedHeader));
        assert_eq!(verify(body, "t=1000", SECRET, 1_000, TOLERANCE_S), Err(WebhookError::MalformedHeader));
        assert_eq!(verify(body, "t=x,v1=00", SECRET, 1_000, TOLERANCE_S), Err(WebhookError::MalformedHeader));
    }

    #[test]
    fn parses_subscription_period_in_both_shapes() {
        let old = br#"{"id":"evt_1","created":5,"type":"customer.subscription.updated",
            "data":{"object":{"id":"sub_1","status":"active","current_period_start":10,"current_period_end":20}}}"#;
        let new = br#"{"id":"evt_2","created":5,"type":"customer.subscription.updated",
            "data":{"object":{"id":"sub_1","status":"past_due","items":{"data":[{"current_period_start":11,"current_period_end":21}]}}}}"#;
        assert_eq!(
            parse_event(old).map(|e| e.kind),
            Ok(PaymentEventKind::SubscriptionUpdated {
                provider_subscription_id: "sub_1".into(),
                checkout_id: None,
                state: SubscriptionState {
                    status: "active".into(),
                    period: Some((10, 20)),
                    item: None,
                    pending_update: false,
                    latest_invoice: None,
                    cancellation: None,
                }
            })
        );
        assert_eq!(
            parse_event(new).map(|e| e.kind),
            Ok(PaymentEventKind::SubscriptionUpdated {
                provider_subscription_id: "sub_1".into(),
                checkout_id: None,
                state: SubscriptionState {
                    status: "past_due".into(),
                    period: Some((11, 21)),
                    item: None,
                    pending_update: false,
                    latest_invoice: None,
                    cancellation: None,
                }
            })
        );
    }

    #[test]
    fn reads_the_item_pending_update_and_our_metadata() {
        let body = br#"{"id":"evt_6","created":5,"type":"customer.subscription.updated",
            "data":{"object":{"id":"sub_1","status":"active","metadata":{"checkout_id":"chk_1"},
            "latest_invoice":"in_1","pending_update":{"expires_at":99,"subscription_items":[]},
            "items":{"data":[{"id":"si_1","quantity":4,"price":{"id":"price_1","recurring":{"interval":"month"}},
            "current_period_start":11,"current_period_end":21}]}}}}"#;
        let Ok(PaymentEventKind::SubscriptionUpdated { checkout_id, state, .. }) =
            parse_event(body).map(|e| e.kind)
        else {
            panic!("a subscription update")
        };
        assert_eq!(checkout_id.as_deref(), Some("chk_1"));
        assert!(state.pending_update);
        assert_eq!(state.latest_invoice.as_deref(), Some("in_1"));
        assert_eq!(
            state.item,
            Some(ItemState { id: Some("si_1".into()), quantity: 4, interval: Some("month".into()) })
        );
        let expired = br#"{"id":"evt_7","created":5,"type":"customer.subscription.pending_update_expired",
            "data":{"object":{"id":"sub_1","status":"active","pending_update":null}}}"#;
        assert!(matches!(
            parse_event(expired).map(|e| e.kind),
            Ok(PaymentEventKind::PendingUpdateExpired { .. })
        ));
    }

    #[test]
    fn parses_checkout_and_invoices() {
        let done = br#"{"id":"evt_3","created":5,"type":"checkout.session.completed",
            "data":{"object":{"id":"cs_1","client_reference_id":"chk_1","subscription":"sub_9","customer":"cus_9"}}}"#;
        assert_eq!(
            parse_event(done).map(|e| e.kind),
            Ok(PaymentEventKind::CheckoutCompleted {
                checkout_id: "chk_1".into(),
                provider_subscription_id: "sub_9".into(),
                provider_customer_id: Some("cus_9".into())
            })
        );
        let paid = br#"{"id":"evt_4","created":5,"type":"invoice.paid",
            "data":{"object":{"parent":{"subscription_details":{"subscription":"sub_9"}}}}}"#;
        assert_eq!(
            parse_event(paid).map(|e| e.kind),
            Ok(PaymentEventKind::InvoicePaid {
                provider_subscription_id: "sub_9".into(),
                checkout_id: None,
                invoice_id: None,
                billing_reason: None
            })
        );
        let failed = br#"{"id":"evt_6","created":5,"type":"invoice.payment_failed",
            "data":{"object":{"id":"in_7","amount_due":4200,"hosted_invoice_url":"https://invoice.stripe.com/i/x",
            "billing_reason":"subscription_cycle","parent":{"subscription_details":{"subscription":"sub_9"}}}}}"#;
        assert_eq!(
            parse_event(failed).map(|e| e.kind),
            Ok(PaymentEventKind::InvoicePaymentFailed {
                provider_subscription_id: "sub_9".into(),
                checkout_id: None,
                billing_reason: Some("subscription_cycle".into()),
                invoice: Some(FailedInvoice {
                    id: "in_7".into(),
                    amount_due: 4200,
                    hosted_invoice_url: Some("https://invoice.stripe.com/i/x".into()),
                }),
            })
        );
        // A subscription set to cancel by hand at Stripe: its flag, end and reason.
        let set = br#"{"id":"evt_7","created":5,"type":"customer.subscription.updated",
            "data":{"object":{"id":"sub_9","status":"active","cancel_at_period_end":true,"cancel_at":99,
            "cancellation_details":{"feedback":"too_expensive","comment":null,"reason":"cancellation_requested"}}}}"#;
        let Ok(PaymentEventKind::SubscriptionUpdated { state, .. }) = parse_event(set).map(|e| e.kind) else {
            panic!("an update")
        };
        assert_eq!(
            state.cancellation,
            Some(StateCancellation {
                cancel_at_period_end: true,
                cancel_at: Some(99),
                feedback: Some("too_expensive".into()),
                comment: None,
            })
        );
        let other = br#"{"id":"evt_5","created":5,"type":"charge.refunded","data":{"object":{}}}"#;
        assert!(matches!(parse_event(other).map(|e| e.kind), Ok(PaymentEventKind::Ignored { .. })));
        assert!(parse_event(b"not json").is_err());
    }
}
