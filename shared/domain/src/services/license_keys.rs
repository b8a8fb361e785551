//! License keys as the merchant's software sees them: is this key good, activate it on a
//! machine (up to the benefit's limit), deactivate. The routes are public (the key is the
//! credential, and they are rate-limited per address); a key is looked up by its hash, and an
//! unknown key and another organization's answer alike `not_found`. The seat holder lists and
//! removes the activations of their own keys from the portal.

use super::{App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::secrets;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    pub organization_id: String,
    pub key: String,
    #[serde(default)]
    pub activation_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    pub organization_id: String,
    pub key: String,
    pub label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeactivateRequest {
    pub organization_id: String,
    pub key: String,
    pub activation_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivationView {
    pub id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

impl From<&LicenseActivation> for ActivationView {
    fn from(a: &LicenseActivation) -> Self {
        ActivationView { id: a.id.clone(), label: a.label.clone(), created_at: a.created_at }
    }
}

/// What a key is worth now. `valid`: granted, on a subscription that is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validation {
    pub valid: bool,
    pub status: GrantStatus,
    pub seat_id: String,
    pub subscription_id: String,
    pub subscription_status: SubscriptionStatus,
    /// When the access ends, if it does: the end of a lapsed subscription's period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    pub activations: u32,
    pub activation_limit: Option<u32>,
    /// The activation asked about (`activation_id`), if it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<ActivationView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deactivated {
    pub deactivated: bool,
}

const NOT_FOUND: DomainError = DomainError::NotFound("license key");

/// The key's record, if the key is the organization's.
async fn record(app: &App, organization_id: &str, key: &str) -> Result<LicenseKeyRecord, DomainError> {
    if key.is_empty() || key.len() > 200 || !ids::is_valid(ids::ORG, organization_id) {
        return Err(NOT_FOUND);
    }
    app.store
        .license_key(&secrets::hash(key.trim()))
        .await?
        .filter(|r| r.organization_id == organization_id)
        .ok_or(NOT_FOUND)
}

async fn grant_of(app: &App, r: &LicenseKeyRecord) -> Result<Grant, DomainError> {
    app.store.grant(&r.customer_id, &r.seat_id, &r.benefit_id).await?.ok_or(NOT_FOUND)
}

pub async fn validate(app: &App, input: ValidateRequest) -> Result<Validation, DomainError> {
    let r = record(app, &input.organization_id, &input.key).await?;
    let grant = grant_of(app, &r).await?;
    let sub = app.store.subscription(&r.subscription_id).await?.ok_or(NOT_FOUND)?;
    let activation = match &input.activation_id {
        None => None,
        Some(id) => {
            let all = app.store.license_activations(&r.key_hash).await?;
            let found = all.iter().find(|a| &a.id == id).ok_or(DomainError::NotFound("activation"))?;
            Some(ActivationView::from(found))
        }
    };
    let live = sub.status.allows_seat_changes();
    Ok(Validation {
        valid: grant.status == GrantStatus::Granted && live,
        status: grant.status,
        seat_id: r.seat_id.clone(),
        subscription_id: r.subscription_id.clone(),
        subscription_status: sub.status,
        expires_at: (!live).then_some(sub.current_period_end),
        activations: r.activations,
        activation_limit: r.activation_limit,
        activation,
    })
}

fn label(raw: &str) -> Result<String, DomainError> {
    let l = raw.trim();
    if l.is_empty() || l.chars().count() > 100 || l.chars().any(char::is_control) {
        return Err(DomainError::invalid("label", "must be 1 to 100 characters, without control characters"));
    }
    Ok(l.to_string())
}

pub async fn activate(app: &App, input: ActivateRequest) -> Result<ActivationView, DomainError> {
    let label = label(&input.label)?;
    let r = record(app, &input.organization_id, &input.key).await?;
    if grant_of(app, &r).await?.status != GrantStatus::Granted {
        return Err(DomainError::InvalidState("this license key is revoked".into()));
    }
    let a = LicenseActivation {
        id: ids::new_id(ids::ACTIVATION),
        key_hash: r.key_hash.clone(),
        label,
        created_at: app.clock.now(),
    };
    if !app.store.activate_license(&a, r.activation_limit).await? {
        return Err(DomainError::ActivationLimitReached { limit: r.activation_limit.unwrap_or_default() });
    }
    Ok(ActivationView::from(&a))
}

pub async fn deactivate(app: &App, input: DeactivateRequest) -> Result<Deactivated, DomainError> {
    let r = record(app, &input.organization_id, &input.key).await?;
    if !ids::is_valid(ids::ACTIVATION, &input.activation_id)
        || !app.store.deactivate_license(&r.key_hash, &input.activation_id).await?
    {
        return Err(DomainError::NotFound("activation"));
    }
    Ok(Deactivated { deactivated: true })
}

/// The seat holder's license grant `grant_id` and its key's hash.
async fn my_key(app: &App, who: &Principal, grant_id: &str) -> Result<String, DomainError> {
    let g = super::benefits::my_grant(app, who, grant_id).await?;
    g.license_key.as_deref().map(secrets::hash).ok_or(DomainError::NotFound("grant"))
}

/// The holder's activations of one of their keys.
pub async fn my_activations(
    app: &App,
    who: &Principal,
    grant_id: &str,
) -> Result<Vec<ActivationView>, DomainError> {
    let hash = my_key(app, who, grant_id).await?;
    Ok(app.store.license_activations(&hash).await?.iter().map(ActivationView::from).collect())
}

/// The holder removes an activation (a machine they no longer use), freeing one.
pub async fn remove_my_activation(
    app: &App,
    who: &Principal,
    grant_id: &str,
    activation_id: &str,
) -> Result<Deactivated, DomainError> {
    let hash = my_key(app, who, grant_id).await?;
    if !ids::is_valid(ids::ACTIVATION, activation_id)
        || !app.store.deactivate_license(&hash, activation_id).await?
    {
        return Err(DomainError::NotFound("activation"));
    }
    Ok(Deactivated { deactivated: true })
}
