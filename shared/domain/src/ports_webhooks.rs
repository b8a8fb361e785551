//! The ports of outgoing webhooks: where endpoints, the undispatched events and deliveries are
//! kept, the queue that carries the work, and the HTTP client that knocks on the merchant's door.

use crate::error::{PortError, StoreError};
use crate::model::AuditEvent;
use crate::webhooks::{WebhookDelivery, WebhookEndpoint, WebhookMessage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What the endpoint create write answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointCreated {
    Created,
    /// The organization has [`crate::webhooks::MAX_ENDPOINTS`] already.
    LimitReached,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// The endpoint and the organization's endpoint counter (conditioned on `< max`), at once.
    async fn create_webhook_endpoint(
        &self,
        e: &WebhookEndpoint,
        max: i64,
    ) -> Result<EndpointCreated, StoreError>;
    async fn webhook_endpoint(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError>;
    async fn webhook_endpoints(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError>;
    /// Replaces it if the stored version is `e.version - 1`. `false`: changed meanwhile, or gone.
    async fn replace_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<bool, StoreError>;
    /// The endpoint and its counter; its deliveries stay readable until they expire. `false`: gone.
    async fn delete_webhook_endpoint(&self, org: &str, id: &str) -> Result<bool, StoreError>;
    /// Sets `failing_since` unless it is set (the first failure since the last success).
    async fn mark_endpoint_failing(
        &self,
        org: &str,
        id: &str,
        since: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Clears `failing_since` (a success).
    async fn mark_endpoint_healthy(&self, org: &str, id: &str) -> Result<(), StoreError>;
    /// Disables an enabled endpoint. `true` for the one call that disabled it (it tells the merchant).
    async fn disable_webhook_endpoint(
        &self,
        org: &str,
        id: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Audit entries whose webhook events were not dispatched, written before `cutoff` (Unix
    /// seconds), oldest first: `(subscription id, audit entry id)`.
    async fn undispatched_events(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// One audit entry with the events it announces.
    async fn audit_event_with_outgoing(&self, sub: &str, id: &str) -> Result<Option<AuditEvent>, StoreError>;
    /// Its deliveries exist: it leaves the undispatched list.
    async fn mark_events_dispatched(&self, sub: &str, id: &str) -> Result<(), StoreError>;

    /// A new delivery. `false`: it exists (another dispatch made it).
    async fn put_webhook_delivery(&self, d: &WebhookDelivery) -> Result<bool, StoreError>;
    async fn webhook_delivery(&self, endpoint: &str, id: &str)
        -> Result<Option<WebhookDelivery>, StoreError>;
    /// Newest first.
    async fn webhook_deliveries(
        &self,
        endpoint: &str,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;
    /// Replaces it if the stored revision is `d.revision - 1`. `false`: another worker recorded first.
    async fn replace_webhook_delivery(&self, d: &WebhookDelivery) -> Result<bool, StoreError>;
    /// Pending deliveries due before `cutoff` (Unix seconds), soonest first.
    async fn due_webhook_deliveries(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;
}

#[async_trait]
pub trait WebhookQueue: Send + Sync {
    /// Sends the messages, each held back `delay_s` (SQS allows up to 900 s). A failure leaves
    /// the work where the sweeper finds it.
    async fn send(&self, messages: &[WebhookMessage], delay_s: u32) -> Result<(), PortError>;
}

/// A receiver's answer to one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// An HTTP status (2xx is a success).
    Answered(u16),
    /// No answer: refused, unreachable, timed out.
    NoAnswer(String),
}

#[async_trait]
pub trait WebhookPoster: Send + Sync {
    /// POSTs `body` (JSON) with the headers, waiting at most
    /// [`crate::webhooks::ATTEMPT_TIMEOUT_S`]; never follows redirects.
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> PostOutcome;
}
