//! "Update card / billing details": a session of the payment provider's own billing portal,
//! limited to the card, the invoices, the address and tax ids (the configuration is made once
//! per organization and kept on it). Seats and cancellation stay in this system.

use super::{portal, App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::ports::BillingPortalConfiguration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSessionRequest {
    pub subscription_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BillingSessionView {
    /// Open it in the browser: the provider's page, which links back to `return_url`.
    pub url: String,
    pub return_url: String,
}

/// `POST /v1/portal/billing-session`.
pub async fn session(
    app: &App,
    who: &Principal,
    req: BillingSessionRequest,
) -> Result<BillingSessionView, DomainError> {
    if !ids::is_valid(ids::SUBSCRIPTION, &req.subscription_id) {
        return Err(DomainError::invalid("subscription_id", "is not a subscription id"));
    }
    let sub = portal::managed_subscription(app, who, &req.subscription_id).await?;
    let return_url = format!("{}/portal/subscription?id={}", app.settings.public_base_url, sub.id);
    let Some(customer) = sub.provider_customer_id.clone() else {
        return Err(DomainError::InvalidState(
            "billing details are kept by the payment provider, which knows no customer for this subscription"
                .into(),
        ));
    };
    let org = app
        .store
        .organization(&sub.organization_id)
        .await?
        .ok_or_else(|| DomainError::Internal("subscription without organization".into()))?;
    let configuration = match org.billing_portal_configuration_id.clone() {
        Some(id) => id,
        None => {
            let made = app
                .payments
                .create_billing_portal_configuration(&BillingPortalConfiguration {
                    organization_id: org.id.clone(),
                    business_name: org.name.clone(),
                    default_return_url: format!("{}/portal", app.settings.public_base_url),
                    // Two first sessions at once make one configuration: the provider replays.
                    idempotency_key: format!("portal-configuration-{}", org.id),
                })
                .await?;
            let Some(made) = made else {
                return Err(DomainError::InvalidState(
                    "this deployment has no payment provider with a billing portal (offline): there is no card, address or tax id to change".into(),
                ));
            };
            if app.store.set_billing_portal_configuration(&org.id, &made).await? {
                made
            } else {
                app.store
                    .organization(&org.id)
                    .await?
                    .and_then(|o| o.billing_portal_configuration_id)
                    .unwrap_or(made)
            }
        }
    };
    let url = app.payments.billing_portal_session(&customer, &configuration, &return_url).await?;
    Ok(BillingSessionView { url, return_url })
}
