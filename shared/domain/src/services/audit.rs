//! The audit trail: immutable events per subscription, oldest first.

use super::{lists, portal, App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::AuditEvent;
use crate::views::List;
use serde_json::Value;

pub fn event(app: &App, subscription_id: &str, kind: &str, actor: String, data: Value) -> AuditEvent {
    AuditEvent {
        id: ids::new_id(ids::EVENT),
        subscription_id: subscription_id.to_string(),
        kind: kind.to_string(),
        actor,
        data,
        created_at: app.clock.now(),
        outgoing: Vec::new(),
    }
}

pub async fn trail(
    app: &App,
    who: &Principal,
    subscription_id: &str,
) -> Result<Vec<AuditEvent>, DomainError> {
    let sub = portal::managed_subscription(app, who, subscription_id).await?;
    Ok(app.store.audit_events(&sub.id).await?)
}

/// One page of the trail, oldest first.
pub async fn trail_page(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    cursor: Option<&str>,
    limit: Option<&str>,
) -> Result<List<AuditEvent>, DomainError> {
    let sub = portal::managed_subscription(app, who, subscription_id).await?;
    let (limit, after) = (lists::limit(limit)?, lists::cursor(cursor, ids::EVENT)?);
    let events = app.store.audit_events_after(&sub.id, after, limit + 1).await?;
    Ok(lists::page(events, limit, |e| e.id.clone()))
}
