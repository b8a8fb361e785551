//! The webhook queue and a scripted receiver, in memory.

use crate::error::PortError;
use crate::ports::{PostOutcome, WebhookPoster, WebhookQueue};
use crate::webhooks::WebhookMessage;
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Keeps messages with their delay; can be told to fail, like an SQS outage.
#[derive(Default)]
pub struct MemoryWebhookQueue {
    pub sent: Mutex<Vec<(WebhookMessage, u32)>>,
    pub failing: std::sync::atomic::AtomicBool,
}

impl MemoryWebhookQueue {
    pub fn take(&self) -> Vec<(WebhookMessage, u32)> {
        self.sent.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }
}

#[async_trait]
impl WebhookQueue for MemoryWebhookQueue {
    async fn send(&self, messages: &[WebhookMessage], delay_s: u32) -> Result<(), PortError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PortError::Unavailable("webhook queue", "failing on purpose".into()));
        }
        let mut sent = self.sent.lock().map_err(|_| PortError::Unavailable("queue", "poisoned".into()))?;
        sent.extend(messages.iter().map(|m| (m.clone(), delay_s)));
        Ok(())
    }
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Answers from a script (then `otherwise`), and keeps every request.
pub struct ScriptedReceiver {
    pub script: Mutex<VecDeque<PostOutcome>>,
    pub otherwise: PostOutcome,
    pub received: Mutex<Vec<Received>>,
}

impl ScriptedReceiver {
    pub fn answering(script: Vec<PostOutcome>, otherwise: PostOutcome) -> Self {
        ScriptedReceiver { script: Mutex::new(script.into()), otherwise, received: Mutex::default() }
    }
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl WebhookPoster for ScriptedReceiver {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> PostOutcome {
        if let Ok(mut r) = self.received.lock() {
            r.push(Received {
                url: url.to_string(),
                headers: headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
                body: body.to_string(),
            });
        }
        let next = self.script.lock().ok().and_then(|mut s| s.pop_front());
        next.unwrap_or_else(|| self.otherwise.clone())
    }
}
