//! Webhook endpoints, the undispatched list and deliveries in memory, with the table's
//! conditions: the endpoint limit, versions and revisions, one delivery per event and endpoint.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::AuditEvent;
use crate::ports::{EndpointCreated, WebhookStore};
use crate::webhooks::{DeliveryStatus, WebhookDelivery, WebhookEndpoint};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_webhook_endpoint(
        &self,
        e: &WebhookEndpoint,
        max: i64,
    ) -> Result<EndpointCreated, StoreError> {
        self.with(|s| {
            let count = s.webhook_endpoints.keys().filter(|(org, _)| *org == e.organization_id).count();
            if count as i64 >= max {
                return EndpointCreated::LimitReached;
            }
            s.webhook_endpoints.insert((e.organization_id.clone(), e.id.clone()), e.clone());
            EndpointCreated::Created
        })
    }
    async fn webhook_endpoint(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.with(|s| s.webhook_endpoints.get(&(org.to_string(), id.to_string())).cloned())
    }
    async fn webhook_endpoints(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.with(|s| s.webhook_endpoints.values().filter(|e| e.organization_id == org).cloned().collect())
    }
    async fn replace_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<bool, StoreError> {
        self.with(|s| match s.webhook_endpoints.get_mut(&(e.organization_id.clone(), e.id.clone())) {
            Some(stored) if stored.version == e.version - 1 => {
                *stored = e.clone();
                true
            }
            _ => false,
        })
    }
    async fn delete_webhook_endpoint(&self, org: &str, id: &str) -> Result<bool, StoreError> {
        self.with(|s| s.webhook_endpoints.remove(&(org.to_string(), id.to_string())).is_some())
    }
    async fn mark_endpoint_failing(
        &self,
        org: &str,
        id: &str,
        since: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(e) = s.webhook_endpoints.get_mut(&(org.to_string(), id.to_string())) {
                e.failing_since.get_or_insert(since);
            }
        })
    }
    async fn mark_endpoint_healthy(&self, org: &str, id: &str) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(e) = s.webhook_endpoints.get_mut(&(org.to_string(), id.to_string())) {
                e.failing_since = None;
            }
        })
    }
    async fn disable_webhook_endpoint(
        &self,
        org: &str,
        id: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with(|s| match s.webhook_endpoints.get_mut(&(org.to_string(), id.to_string())) {
            Some(e) if !e.disabled => {
                e.disabled = true;
                e.disabled_reason = Some(reason.to_string());
                e.updated_at = at;
                e.version += 1;
                true
            }
            _ => false,
        })
    }

    async fn undispatched_events(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|s| {
            let mut v: Vec<&AuditEvent> = s
                .audit
                .iter()
                .filter(|a| {
                    !a.outgoing.is_empty()
                        && !s.dispatched.contains(&a.id)
                        && a.created_at.timestamp() <= cutoff
                })
                .collect();
            v.sort_by_key(|a| a.created_at);
            v.into_iter().take(limit).map(|a| (a.subscription_id.clone(), a.id.clone())).collect()
        })
    }
    async fn audit_event_with_outgoing(&self, sub: &str, id: &str) -> Result<Option<AuditEvent>, StoreError> {
        self.with(|s| s.audit.iter().find(|a| a.subscription_id == sub && a.id == id).cloned())
    }
    async fn mark_events_dispatched(&self, _sub: &str, id: &str) -> Result<(), StoreError> {
        self.with(|s| {
            s.dispatched.insert(id.to_string());
        })
    }

    async fn put_webhook_delivery(&self, d: &WebhookDelivery) -> Result<bool, StoreError> {
        self.with(|s| {
            let key = (d.endpoint_id.clone(), d.id.clone());
            if s.deliveries.contains_key(&key) {
                return false;
            }
            s.deliveries.insert(key, d.clone());
            true
        })
    }
    async fn webhook_delivery(
        &self,
        endpoint: &str,
        id: &str,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        self.with(|s| s.deliveries.get(&(endpoint.to_string(), id.to_string())).cloned())
    }
    async fn webhook_deliveries(
        &self,
        endpoint: &str,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.with(|s| {
            s.deliveries.values().rev().filter(|d| d.endpoint_id == endpoint).take(limit).cloned().collect()
        })
    }
    async fn replace_webhook_delivery(&self, d: &WebhookDelivery) -> Result<bool, StoreError> {
        self.with(|s| match s.deliveries.get_mut(&(d.endpoint_id.clone(), d.id.clone())) {
            Some(stored) if stored.revision == d.revision - 1 => {
                *stored = d.clone();
                true
            }
            _ => false,
        })
    }
    async fn due_webhook_deliveries(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.with(|s| {
            let mut v: Vec<WebhookDelivery> = s
                .deliveries
                .values()
                .filter(|d| {
                    d.status == DeliveryStatus::Pending
                        && d.next_attempt_at.is_some_and(|t| t.timestamp() <= cutoff)
                })
                .cloned()
                .collect();
            v.sort_by_key(|d| d.next_attempt_at);
            v.truncate(limit);
            v
        })
    }
}
