//! Who is calling: the operator, a merchant (organization API key) or a customer (portal
//! session). Secrets are looked up by their SHA-256 only.

use super::App;
use crate::error::DomainError;
use crate::secrets;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Public,
    Operator,
    Merchant {
        organization_id: String,
    },
    /// A billing manager or a seat holder.
    Customer {
        customer_id: String,
        organization_id: String,
    },
}

impl Principal {
    /// The idempotency scope: one caller's keys never collide with another's.
    pub fn scope(&self) -> String {
        match self {
            Principal::Public => "public".into(),
            Principal::Operator => "operator".into(),
            Principal::Merchant { organization_id } => format!("org:{organization_id}"),
            Principal::Customer { customer_id, .. } => format!("cus:{customer_id}"),
        }
    }

    /// Who did it, for the audit trail.
    pub fn actor(&self) -> String {
        match self {
            Principal::Public => "public".into(),
            Principal::Operator => "operator".into(),
            Principal::Merchant { organization_id } => format!("organization:{organization_id}"),
            Principal::Customer { customer_id, .. } => format!("customer:{customer_id}"),
        }
    }

    pub fn require_operator(&self) -> Result<(), DomainError> {
        match self {
            Principal::Operator => Ok(()),
            _ => Err(DomainError::Unauthorized),
        }
    }

    pub fn require_merchant(&self) -> Result<&str, DomainError> {
        match self {
            Principal::Merchant { organization_id } => Ok(organization_id),
            _ => Err(DomainError::Unauthorized),
        }
    }

    pub fn require_customer(&self) -> Result<(&str, &str), DomainError> {
        match self {
            Principal::Customer { customer_id, organization_id } => Ok((customer_id, organization_id)),
            _ => Err(DomainError::Unauthorized),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Resolves a bearer token. No token is `Public`; a token that resolves to nobody is
/// `Unauthorized` (a wrong token is never silently treated as public).
pub async fn authenticate(app: &App, bearer: Option<&str>) -> Result<Principal, DomainError> {
    let Some(token) = bearer else {
        return Ok(Principal::Public);
    };
    if token.is_empty() || token.len() > secrets::MAX_SECRET_LEN {
        return Err(DomainError::Unauthorized);
    }
    let hashed = secrets::hash(token);
    if token.starts_with(secrets::API_KEY_PREFIX) {
        return match app.store.api_key(&hashed).await? {
            Some(key) if key.works_at(app.clock.now()) => {
                if key.id.is_empty() {
                    // Made before keys had ids: it gets one now, and its place in the list.
                    let adopted =
                        super::catalogue::key_record(app, &key.organization_id, token, key.created_at);
                    if let Err(e) = app.store.adopt_api_key(&hashed, &adopted).await {
                        tracing::warn!(error = %e, "an older API key was not given an id yet");
                    }
                }
                Ok(Principal::Merchant { organization_id: key.organization_id })
            }
            _ => Err(DomainError::Unauthorized),
        };
    }
    if token.starts_with(secrets::SESSION_PREFIX) {
        return match app.store.session(&hashed).await? {
            Some(s) if s.expires_at > app.clock.now() => {
                Ok(Principal::Customer { customer_id: s.customer_id, organization_id: s.organization_id })
            }
            _ => Err(DomainError::Unauthorized),
        };
    }
    let admin = hex::decode(&app.settings.admin_token_hash).unwrap_or_default();
    if !admin.is_empty() && constant_time_eq(&Sha256::digest(token.as_bytes()), &admin) {
        return Ok(Principal::Operator);
    }
    Err(DomainError::Unauthorized)
}
