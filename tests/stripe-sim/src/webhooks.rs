//! Webhook delivery, signed as Stripe signs.
//!
//! Docs:
//! - https://docs.stripe.com/webhooks#verify-manually (`Stripe-Signature: t=…,v1=…`, v1 =
//!   hex HMAC-SHA256 of "{t}.{payload}" with the endpoint secret)
//! - https://docs.stripe.com/webhooks#retries (non-2xx answers are retried later)
//! - https://docs.stripe.com/webhooks#event-ordering (Stripe doesn't guarantee order: held
//!   deliveries let tests reorder them)
//! - https://docs.stripe.com/api/events/object (the event envelope)

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::{Delivery, Inner};

#[derive(Default)]
pub struct Hooks {
    pub endpoint: Option<(String, String)>,
    pub hold: bool,
    pub held: Vec<Value>,
    pub failed: Vec<Value>,
    pub deliveries: Vec<Delivery>,
}

/// The `Stripe-Signature` header for `body` sent at unix time `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return format!("t={t},v1="),
    };
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Inner {
    fn hooks(&self) -> std::sync::MutexGuard<'_, Hooks> {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the events the last operation created (or holds them), in order, before the
    /// operation answers. A request made while a delivery is under way (the receiving endpoint
    /// calling the API from its webhook handler, as integrations do) does not wait for it: the
    /// delivery in progress drains its events too, in order. Waiting would deadlock the
    /// endpoint against its own webhook, which real Stripe never does.
    pub async fn flush(&self) {
        self.drain(false).await
    }

    /// As [`Inner::flush`], but waits for a delivery under way (the control API: a test's
    /// step must see its events delivered when it returns).
    pub async fn flush_wait(&self) {
        self.drain(true).await
    }

    async fn drain(&self, wait: bool) {
        loop {
            if self.state().outbox.is_empty() {
                return;
            }
            let _order = if wait {
                self.deliver_lock.lock().await
            } else {
                match self.deliver_lock.try_lock() {
                    Ok(guard) => guard,
                    Err(_) => return,
                }
            };
            loop {
                let events: Vec<Value> = std::mem::take(&mut self.state().outbox);
                if events.is_empty() {
                    break;
                }
                {
                    let mut h = self.hooks();
                    if h.hold {
                        h.held.extend(events);
                        return;
                    }
                }
                for ev in events {
                    self.send(ev).await;
                }
            }
            // Released: events pushed by a request that found the lock taken are sent next.
        }
    }

    /// Posts one event; returns whether the endpoint answered 2xx.
    async fn send(&self, ev: Value) -> bool {
        let endpoint = self.hooks().endpoint.clone();
        let id = ev["id"].as_str().unwrap_or_default().to_string();
        let kind = ev["type"].as_str().unwrap_or_default().to_string();
        let Some((url, secret)) = endpoint else {
            // No endpoint yet: kept for `redeliver_failed` once one is set.
            self.hooks().failed.push(ev);
            return false;
        };
        let body = ev.to_string();
        let t = chrono::Utc::now().timestamp();
        let res = self
            .client
            .post(&url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header("Stripe-Signature", signature(&secret, t, &body))
            .header("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .body(body)
            .send()
            .await;
        let status = match res {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        let ok = (200..300).contains(&status);
        let mut h = self.hooks();
        h.deliveries.push(Delivery { event_id: id, event_type: kind, status });
        if !ok {
            h.failed.push(ev);
        }
        ok
    }

    pub async fn deliver_held(&self) -> usize {
        let _order = self.deliver_lock.lock().await;
        let held = std::mem::take(&mut self.hooks().held);
        let mut n = 0;
        for ev in held {
            if self.send(ev).await {
                n += 1;
            }
        }
        n
    }

    pub async fn redeliver_failed(&self) -> usize {
        let _order = self.deliver_lock.lock().await;
        let failed = std::mem::take(&mut self.hooks().failed);
        let mut n = 0;
        for ev in failed {
            if self.send(ev).await {
                n += 1;
            }
        }
        n
    }

    pub fn set_endpoint(&self, url: &str, secret: &str) {
        self.hooks().endpoint = Some((url.to_string(), secret.to_string()));
    }

    pub fn set_hold(&self, hold: bool) {
        self.hooks().hold = hold;
    }

    pub fn delivery_log(&self) -> Vec<Delivery> {
        self.hooks().deliveries.clone()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_shape() {
        let s = super::signature("whsec_x", 1, "{}");
        assert!(s.starts_with("t=1,v1="));
        assert_eq!(s.len(), "t=1,v1=".len() + 64);
    }
}
