//! The merchant's webhook endpoints (merchant key): create (the signing secret shown once),
//! list, read, change, delete, rotate the secret, list deliveries, retry one, send a test event.

pub mod announce;
pub mod send;

use super::{App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::ports::EndpointCreated;
use crate::views::List;
use crate::webhooks::*;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub const ENDPOINT: &str = "we";
const MAX_DESCRIPTION: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    pub id: String,
    pub organization_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    /// While the previous secret still signs (24 h after a rotation).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&WebhookEndpoint> for EndpointView {
    fn from(e: &WebhookEndpoint) -> Self {
        EndpointView {
            id: e.id.clone(),
            organization_id: e.organization_id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            description: e.description.clone(),
            disabled: e.disabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since,
            previous_secret_expires_at: e.previous_secret_expires_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret: only the create and rotate answers carry it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    pub secret: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_response_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The body sent, as sent.
    pub payload: serde_json::Value,
}

impl From<&WebhookDelivery> for DeliveryView {
    fn from(d: &WebhookDelivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            endpoint_id: d.endpoint_id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            status: d.status,
            attempts: d.attempts,
            last_response_code: d.last_response_code,
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// `https` only; plain `http` to a loopback address only where the settings allow it (local stacks).
fn endpoint_url(app: &App, raw: &str) -> Result<String, DomainError> {
    let bad = |m: &str| DomainError::invalid("url", m);
    if raw.len() > 2048 {
        return Err(bad("is longer than 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("must be an absolute https URL"))?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(bad("must carry no credentials and no fragment"));
    }
    let (loopback, public) = match url.host() {
        Some(url::Host::Ipv4(ip)) => (ip.is_loopback(), is_public_address(ip.into())),
        Some(url::Host::Ipv6(ip)) => (ip.is_loopback(), is_public_address(ip.into())),
        Some(url::Host::Domain(d)) => (d.eq_ignore_ascii_case("localhost"), true),
        None => return Err(bad("must name a host")),
    };
    // Where a name resolves is checked again at each attempt, on the address connected to.
    let allowed = public || (loopback && app.settings.webhook_allow_loopback);
    if !allowed {
        return Err(bad("may not point at a private, loopback or reserved address"));
    }
    match url.scheme() {
        "https" if !loopback || app.settings.webhook_allow_loopback => Ok(url.to_string()),
        "http" if loopback && app.settings.webhook_allow_loopback => Ok(url.to_string()),
        _ => Err(bad("must be an https URL")),
    }
}

fn event_types(raw: &[String]) -> Result<Vec<String>, DomainError> {
    if raw.is_empty() {
        return Err(DomainError::invalid("events", "must name at least one event type"));
    }
    let mut out: Vec<String> = Vec::new();
    for e in raw {
        if e != "*" && !EVENT_TYPES.contains(&e.as_str()) {
            return Err(DomainError::invalid(
                "events",
                format!("{e:?} is not an event type; one of {} or \"*\"", EVENT_TYPES.join(", ")),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

fn description(raw: Option<String>) -> Result<Option<String>, DomainError> {
    match raw.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()) {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => {
            Err(DomainError::invalid("description", "is longer than 500 characters"))
        }
        d => Ok(d),
    }
}

fn endpoint_id(raw: &str) -> Result<String, DomainError> {
    if ids::is_valid(ENDPOINT, raw) {
        Ok(raw.to_string())
    } else {
        Err(DomainError::NotFound("webhook endpoint"))
    }
}

async fn endpoint_of(app: &App, org: &str, raw_id: &str) -> Result<WebhookEndpoint, DomainError> {
    let id = endpoint_id(raw_id)?;
    app.store.webhook_endpoint(org, &id).await?.ok_or(DomainError::NotFound("webhook endpoint"))
}

pub async fn create(
    app: &App,
    who: &Principal,
    input: NewEndpoint,
) -> Result<EndpointWithSecret, DomainError> {
    let org = who.require_merchant()?;
    let now = app.clock.now();
    let e = WebhookEndpoint {
        id: ids::new_id(ENDPOINT),
        organization_id: org.to_string(),
        url: endpoint_url(app, &input.url)?,
        events: event_types(&input.events)?,
        description: description(input.description)?,
        secret: new_secret(),
        previous_secret: None,
        previous_secret_expires_at: None,
        disabled: false,
        disabled_reason: None,
        failing_since: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    match app.store.create_webhook_endpoint(&e, MAX_ENDPOINTS).await? {
        EndpointCreated::Created => {
            Ok(EndpointWithSecret { endpoint: EndpointView::from(&e), secret: e.secret.clone() })
        }
        EndpointCreated::LimitReached => Err(DomainError::Conflict(format!(
            "an organization has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        ))),
    }
}

pub async fn list(app: &App, who: &Principal) -> Result<List<EndpointView>, DomainError> {
    let org = who.require_merchant()?;
    let endpoints = app.store.webhook_endpoints(org).await?;
    Ok(List::of(endpoints.iter().map(EndpointView::from).collect()))
}

pub async fn get(app: &App, who: &Principal, id: &str) -> Result<EndpointView, DomainError> {
    let org = who.require_merchant()?;
    Ok(EndpointView::from(&endpoint_of(app, org, id).await?))
}

/// Changes what is given; enabling a disabled endpoint forgets its failures.
pub async fn update(
    app: &App,
    who: &Principal,
    id: &str,
    patch: EndpointPatch,
) -> Result<EndpointView, DomainError> {
    let org = who.require_merchant()?;
    // Checked before anything is read: bad input changes nothing.
    let url = patch.url.as_deref().map(|u| endpoint_url(app, u)).transpose()?;
    let events = patch.events.as_deref().map(event_types).transpose()?;
    let description_given = patch.description.is_some();
    let new_description = description(patch.description)?;
    for _ in 0..3 {
        let mut e = endpoint_of(app, org, id).await?;
        if let Some(u) = &url {
            e.url = u.clone();
        }
        if let Some(ev) = &events {
            e.events = ev.clone();
        }
        if description_given {
            e.description = new_description.clone();
        }
        match patch.disabled {
            Some(true) if !e.disabled => {
                e.disabled = true;
                e.disabled_reason = Some("disabled by the merchant".into());
            }
            Some(false) if e.disabled => {
                e.disabled = false;
                e.disabled_reason = None;
                e.failing_since = None;
            }
            _ => {}
        }
        e.version += 1;
        e.updated_at = app.clock.now();
        if app.store.replace_webhook_endpoint(&e).await? {
            return Ok(EndpointView::from(&e));
        }
    }
    Err(DomainError::Conflict("the endpoint changed meanwhile; try again".into()))
}

pub async fn delete(app: &App, who: &Principal, id: &str) -> Result<(), DomainError> {
    let org = who.require_merchant()?;
    let id = endpoint_id(id)?;
    if app.store.delete_webhook_endpoint(org, &id).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound("webhook endpoint"))
    }
}

/// A new secret; the old one keeps signing for 24 hours beside it.
pub async fn rotate_secret(app: &App, who: &Principal, id: &str) -> Result<EndpointWithSecret, DomainError> {
    let org = who.require_merchant()?;
    for _ in 0..3 {
        let mut e = endpoint_of(app, org, id).await?;
        let now = app.clock.now();
        e.previous_secret = Some(std::mem::replace(&mut e.secret, new_secret()));
        e.previous_secret_expires_at = Some(now + Duration::seconds(ROTATION_OVERLAP_S));
        e.version += 1;
        e.updated_at = now;
        if app.store.replace_webhook_endpoint(&e).await? {
            return Ok(EndpointWithSecret { endpoint: EndpointView::from(&e), secret: e.secret.clone() });
        }
    }
    Err(DomainError::Conflict("the endpoint changed meanwhile; try again".into()))
}

pub async fn deliveries(
    app: &App,
    who: &Principal,
    id: &str,
    status: Option<&str>,
    limit: Option<&str>,
) -> Result<List<DeliveryView>, DomainError> {
    let org = who.require_merchant()?;
    let e = endpoint_of(app, org, id).await?;
    let status = match status {
        None => None,
        Some("pending") => Some(DeliveryStatus::Pending),
        Some("succeeded") => Some(DeliveryStatus::Succeeded),
        Some("failed") => Some(DeliveryStatus::Failed),
        Some(_) => return Err(DomainError::invalid("status", "must be pending, succeeded or failed")),
    };
    let limit = super::lists::limit(limit)?;
    // The newest 1,000 (30 days' deliveries are kept; the dashboard shows the recent ones).
    let all = app.store.webhook_deliveries(&e.id, 1000).await?;
    let mut shown: Vec<DeliveryView> = all
        .iter()
        .filter(|d| status.is_none_or(|s| d.status == s))
        .take(limit + 1)
        .map(DeliveryView::from)
        .collect();
    let has_more = shown.len() > limit;
    shown.truncate(limit);
    Ok(List { has_more, ..List::of(shown) })
}

/// Attempts a delivery again now, whatever its status, with a fresh retry window.
pub async fn retry(
    app: &App,
    who: &Principal,
    id: &str,
    delivery_id: &str,
) -> Result<DeliveryView, DomainError> {
    let org = who.require_merchant()?;
    let e = endpoint_of(app, org, id).await?;
    if e.disabled {
        return Err(DomainError::InvalidState("the endpoint is disabled; enable it first".into()));
    }
    if !ids::is_valid("whd", delivery_id) {
        return Err(DomainError::NotFound("webhook delivery"));
    }
    for _ in 0..3 {
        let mut d = app
            .store
            .webhook_delivery(&e.id, delivery_id)
            .await?
            .ok_or(DomainError::NotFound("webhook delivery"))?;
        let now = app.clock.now();
        d.status = DeliveryStatus::Pending;
        d.next_attempt_at = Some(now);
        d.window_started_at = now;
        d.window_first_failure_at = None;
        d.revision += 1;
        if app.store.replace_webhook_delivery(&d).await? {
            if let Err(err) = app.webhooks.send(&[send::deliver_message(&d)], 0).await {
                tracing::warn!(delivery_id = %d.id, error = %err, "retry not queued; the sweeper sends it");
            }
            return Ok(DeliveryView::from(&d));
        }
    }
    Err(DomainError::Conflict("the delivery changed meanwhile; try again".into()))
}

/// A `webhook_endpoint.test` event to this endpoint only (its object: the endpoint).
pub async fn send_test(app: &App, who: &Principal, id: &str) -> Result<DeliveryView, DomainError> {
    let org = who.require_merchant()?;
    let e = endpoint_of(app, org, id).await?;
    if e.disabled {
        return Err(DomainError::InvalidState("the endpoint is disabled; enable it first".into()));
    }
    let event = OutgoingEvent {
        id: ids::new_id(ids::EVENT),
        organization_id: e.organization_id.clone(),
        kind: TEST_EVENT.into(),
        created: app.clock.now(),
        version: e.version,
        object: serde_json::to_value(EndpointView::from(&e)).unwrap_or_default(),
    };
    let d = send::new_delivery(app, &e, &event);
    app.store.put_webhook_delivery(&d).await?;
    if let Err(err) = app.webhooks.send(&[send::deliver_message(&d)], 0).await {
        tracing::warn!(delivery_id = %d.id, error = %err, "test event not queued; the sweeper sends it");
    }
    Ok(DeliveryView::from(&d))
}
