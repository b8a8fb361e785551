//! The audit trail: immutable events per subscription, oldest first.

use super::{portal, App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::AuditEvent;
use serde_json::Value;

pub fn event(app: &App, subscription_id: &str, kind: &str, actor: String, data: Value) -> AuditEvent {
    AuditEvent {
        id: ids::new_id(ids::EVENT),
        subscription_id: subscription_id.to_string(),
        kind: kind.to_string(),
        actor,
        data,
        created_at: app.clock.now(),
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
