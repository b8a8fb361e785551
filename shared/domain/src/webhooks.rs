//! Outgoing webhooks, the merchant's own systems told what changed: the endpoints, the events
//! this system announces, their deliveries, the Standard Webhooks signature and the retry
//! schedule. Pure: the store, the queue and the HTTP client are ports.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

/// Every event type an endpoint can subscribe to.
pub const EVENT_TYPES: [&str; 14] = [
    "subscription.created",
    "subscription.updated",
    "subscription.canceled",
    "subscription.past_due",
    "seat.assigned",
    "seat.claimed",
    "seat.revoked",
    "seat.invitation_sent",
    "seat.expired",
    "seat.suspended",
    "seat.restored",
    "benefit.granted",
    "benefit.revoked",
    "checkout.completed",
];
/// Sent only by "send a test event", to the one endpoint it names.
pub const TEST_EVENT: &str = "webhook_endpoint.test";
/// Endpoints per organization (a counter on the organization, checked in the create write).
pub const MAX_ENDPOINTS: i64 = 20;
/// After a rotation the old secret signs too, for this long (receivers switch without a gap).
pub const ROTATION_OVERLAP_S: i64 = 24 * 3600;
/// Each attempt waits this long for the receiver's answer.
pub const ATTEMPT_TIMEOUT_S: u64 = 10;
const SECRET_PREFIX: &str = "whsec_";

/// An event as announced: captured in the transaction that made the change, so the object is
/// what it was then (a revoked seat still names who held it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutgoingEvent {
    pub id: String,
    pub organization_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: DateTime<Utc>,
    /// Grows with every change of the object: a receiver keeps the highest it has seen.
    pub version: i64,
    /// The object as the API shows it.
    pub object: Value,
}

impl OutgoingEvent {
    /// The body every attempt sends, byte for byte: `{id, type, created, version, data: {object}}`.
    pub fn payload(&self) -> String {
        json!({
            "id": self.id,
            "type": self.kind,
            "created": self.created,
            "version": self.version,
            "data": { "object": self.object },
        })
        .to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub organization_id: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `whsec_` + base64 of 32 random bytes; shown once, at creation and at rotation.
    pub secret: String,
    #[serde(default)]
    pub previous_secret: Option<String>,
    #[serde(default)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// Set by the first failed attempt since the last success; cleared by a success.
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    /// Optimistic concurrency: each replacement is conditioned on the version it read.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        event_type == TEST_EVENT || self.events.iter().any(|e| e == event_type || e == "*")
    }

    /// The secrets that sign at `now`: the current one, and the previous one within its overlap.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at) {
            if now < until {
                out.push(old);
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

/// One event for one endpoint, attempted until a 2xx or until the retry window closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// `whd_` + the event id's hex: one delivery per event and endpoint, whoever creates it.
    pub id: String,
    pub endpoint_id: String,
    pub organization_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    #[serde(default)]
    pub last_response_code: Option<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// While pending: when the next attempt is due.
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Retries stop this long after it: creation, or a manual retry.
    pub window_started_at: DateTime<Utc>,
    /// The first failed attempt of this window.
    #[serde(default)]
    pub window_first_failure_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Optimistic concurrency, as for endpoints: two workers never both record an attempt.
    pub revision: i64,
}

pub fn delivery_id(event_id: &str) -> String {
    format!("whd_{}", event_id.rsplit('_').next().unwrap_or(event_id))
}

/// What the webhook queue carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WebhookMessage {
    /// The events an audited change announced: make one delivery per subscribed endpoint.
    Dispatch { subscription_id: String, audit_id: String },
    /// Attempt one delivery.
    Deliver { organization_id: String, endpoint_id: String, delivery_id: String },
}

/// Exponential backoff with jitter, capped, within a window (3 days deployed; compressed by
/// settings in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_s: i64,
    pub cap_s: i64,
    pub window_s: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base_s: 5, cap_s: 6 * 3600, window_s: 3 * 24 * 3600 }
    }
}

impl RetryPolicy {
    /// The wait after the `failed`-th failed attempt (1, 2, …): base·2^(failed-1), capped, times
    /// `jitter` in [0.75, 1.25], at least a second.
    pub fn delay_s(&self, failed: i64, jitter: f64) -> i64 {
        let exp = failed.clamp(1, 40) - 1;
        let raw = self.base_s.saturating_mul(1_i64.checked_shl(exp as u32).unwrap_or(i64::MAX));
        let capped = raw.min(self.cap_s).max(1) as f64;
        ((capped * jitter.clamp(0.75, 1.25)).round() as i64).max(1)
    }
}

/// Not loopback, private, link-local (the metadata service), shared, unspecified, multicast,
/// documentation or reserved.
pub fn is_public_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_address(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                    || first == 0x2001 && v6.segments()[1] == 0x0db8)
            }
        },
    }
}

/// A new signing secret.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// `v1,<base64 HMAC-SHA256>` of `"{msg_id}.{timestamp}.{body}"`, keyed with the secret's
/// base64-decoded bytes (Standard Webhooks). `None`: not a `whsec_` secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = B64.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(secrets: &[&str], msg_id: &str, timestamp: i64, body: &str) -> String {
    secrets.iter().filter_map(|s| sign(s, msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and Svix's documentation): this
    /// secret, id, timestamp and body sign to this value.
    #[test]
    fn signs_the_specification_example() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }

    #[test]
    fn a_rotated_endpoint_signs_with_both_secrets_for_a_day() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let e = WebhookEndpoint {
            id: "we_1".into(),
            organization_id: "org_1".into(),
            url: "https://example.com/hook".into(),
            events: vec!["seat.claimed".into()],
            description: None,
            secret: new_secret(),
            previous_secret: Some(new_secret()),
            previous_secret_expires_at: Some(now + chrono::Duration::seconds(ROTATION_OVERLAP_S)),
            disabled: false,
            disabled_reason: None,
            failing_since: None,
            version: 2,
            created_at: now,
            updated_at: now,
        };
        let both = signature_header(&e.signing_secrets(now), "evt_1", 1, "{}");
        assert_eq!(both.split(' ').count(), 2);
        let later = now + chrono::Duration::seconds(ROTATION_OVERLAP_S);
        assert_eq!(e.signing_secrets(later), vec![e.secret.as_str()]);
        assert!(e.wants("seat.claimed") && e.wants(TEST_EVENT) && !e.wants("seat.revoked"));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_s(1, 1.0), 5);
        assert_eq!(p.delay_s(2, 1.0), 10);
        assert_eq!(p.delay_s(4, 1.0), 40);
        assert_eq!(p.delay_s(30, 1.0), 6 * 3600);
        assert_eq!(p.delay_s(3, 1.25), 25);
        assert_eq!(p.delay_s(3, 0.75), 15);
        assert_eq!(p.delay_s(3, 9.0), 25, "jitter is clamped");
        // From the first failure, the attempts of three days: enough to ride out a long outage.
        let (mut t, mut n) = (0, 0);
        while t < p.window_s {
            n += 1;
            t += p.delay_s(n, 1.0);
        }
        assert!((15..=30).contains(&n), "{n} attempts in the window");
    }

    #[test]
    fn the_payload_wraps_the_object() {
        let e = OutgoingEvent {
            id: "evt_0192".into(),
            organization_id: "org_1".into(),
            kind: "seat.claimed".into(),
            created: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            version: 2,
            object: json!({"id": "seat_1"}),
        };
        let v: Value = serde_json::from_str(&e.payload()).unwrap_or_default();
        assert_eq!(v["data"]["object"]["id"], "seat_1");
        assert_eq!(v["type"], "seat.claimed");
        assert_eq!(v["version"], 2);
        assert_eq!(delivery_id("evt_0192"), "whd_0192");
    }
}
