//! Billing managers: a subscription has one owner (the buyer) and up to [`MAX_MANAGERS`]
//! co-managers, who may do everything the owner does except removing managers and handing
//! over ownership. Ownership changes hands only when the person offered it accepts, signed in
//! through the link mailed to them. Each rule is a condition of the write that changes it.

use super::audit::event;
use super::webhooks::announce::{self, announce};
use super::{portal, App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::{Manager, ManagerAdded, ManagerAddition, OwnershipChange, OwnershipOffer};
use crate::validate;
use crate::views::SubscriptionView;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const MAX_MANAGERS: i64 = 5;
/// An ownership offer stands this long.
pub const OFFER_TTL_DAYS: i64 = 7;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagerRequest {
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManagerView {
    pub customer_id: String,
    pub email: String,
    /// `owner` or `manager`.
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
}

impl From<&Manager> for ManagerView {
    fn from(m: &Manager) -> Self {
        ManagerView {
            customer_id: m.customer_id.clone(),
            email: m.email.clone(),
            role: "manager",
            added_at: Some(m.added_at),
            added_by: Some(m.added_by.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ManagersView {
    pub subscription_id: String,
    pub owner: ManagerView,
    pub managers: Vec<ManagerView>,
    pub max_managers: i64,
    pub ownership_offer: Option<OwnershipOffer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManagerRemoved {
    pub customer_id: String,
    pub deleted: bool,
}

/// The subscription, for its owner or its organization's key only.
async fn owned_subscription(app: &App, who: &Principal, id: &str) -> Result<Subscription, DomainError> {
    let sub = portal::managed_subscription(app, who, id).await?;
    match who {
        Principal::Customer { customer_id, .. } if *customer_id != sub.customer_id => {
            Err(DomainError::Forbidden(
                "only the subscription's owner may do this; ask them, or its organization".into(),
            ))
        }
        _ => Ok(sub),
    }
}

/// The customer of `email` in the subscription's organization, and whether they are new (to be
/// written with the change, under the one-customer-per-email guard).
async fn person(app: &App, sub: &Subscription, email: &str) -> Result<(Customer, bool), DomainError> {
    Ok(match app.store.customer_by_email(&sub.organization_id, email).await? {
        Some(c) => (c, false),
        None => (
            Customer {
                id: ids::new_id(ids::CUSTOMER),
                organization_id: sub.organization_id.clone(),
                email: email.to_string(),
                created_at: app.clock.now(),
            },
            true,
        ),
    })
}

/// Mails go out on every add and offer: they count on the subscription's invitation limit, so
/// that adding and removing in a loop cannot flood an inbox.
async fn count_mail(app: &App, sub: &Subscription) -> Result<(), DomainError> {
    super::limits::check(app, &[super::limits::invitations_per_subscription(&sub.id)]).await
}

/// Their way in: a sign-in link, mailed by the worker like any other.
async fn mail_sign_in_link(app: &App, sub: &Subscription, email: &str) {
    let slug = match app.store.organization(&sub.organization_id).await {
        Ok(Some(org)) => org.slug,
        _ => return,
    };
    if let Err(e) = app.jobs.enqueue(&[Job::sign_in(&slug, email)]).await {
        // They are a manager all the same, and can ask for a link on the sign-in page.
        tracing::warn!(error = %e, metric = "sign_in_asks_lost", "manager's sign-in link not queued");
    }
}

pub async fn list(app: &App, who: &Principal, id: &str) -> Result<ManagersView, DomainError> {
    let sub = portal::managed_subscription(app, who, id).await?;
    let owner_email = app.store.customer(&sub.customer_id).await?.map(|c| c.email).unwrap_or_default();
    let mut managers: Vec<ManagerView> =
        app.store.managers(&sub.id).await?.iter().map(ManagerView::from).collect();
    managers.sort_by_key(|m| m.added_at);
    let offer = app.store.ownership_offer(&sub.id).await?.filter(|o| o.expires_at > app.clock.now());
    Ok(ManagersView {
        subscription_id: sub.id.clone(),
        owner: ManagerView {
            customer_id: sub.customer_id.clone(),
            email: owner_email,
            role: "owner",
            added_at: None,
            added_by: None,
        },
        managers,
        max_managers: MAX_MANAGERS,
        ownership_offer: offer,
    })
}

/// Any manager (or the organization's key) adds one; they are mailed a sign-in link.
pub async fn add(
    app: &App,
    who: &Principal,
    id: &str,
    input: ManagerRequest,
) -> Result<ManagerView, DomainError> {
    let sub = portal::managed_subscription(app, who, id).await?;
    let email = validate::email("email", &input.email)?;
    count_mail(app, &sub).await?;
    for _ in 0..3 {
        let (customer, new) = person(app, &sub, &email).await?;
        let manager = Manager {
            subscription_id: sub.id.clone(),
            customer_id: customer.id.clone(),
            email: email.clone(),
            added_at: app.clock.now(),
            added_by: who.actor(),
        };
        let audit = event(
            app,
            &sub.id,
            "subscription.manager_added",
            who.actor(),
            json!({"customer_id": customer.id, "email": email}),
        );
        let addition =
            ManagerAddition { manager, new_customer: new.then_some(customer), max: MAX_MANAGERS, audit };
        match app.store.add_manager(&addition).await? {
            ManagerAdded::Added => {
                tracing::info!(subscription_id = %sub.id, metric = "managers_added", "billing manager added");
                mail_sign_in_link(app, &sub, &email).await;
                return Ok(ManagerView::from(&addition.manager));
            }
            ManagerAdded::AlreadyManager => {
                return Err(DomainError::Conflict(format!("{email} is a billing manager of this subscription already")))
            }
            ManagerAdded::IsOwner => {
                return Err(DomainError::Conflict(format!("{email} owns this subscription")))
            }
            ManagerAdded::LimitReached => {
                return Err(DomainError::InvalidState(format!(
                    "a subscription has at most {MAX_MANAGERS} billing managers besides its owner; remove one first"
                )))
            }
            ManagerAdded::CustomerExists => continue,
        }
    }
    Err(DomainError::Unavailable)
}

/// The owner (or the organization's key) removes a manager; their session no longer reaches the
/// subscription from the next request on.
pub async fn remove(
    app: &App,
    who: &Principal,
    id: &str,
    customer_id: &str,
) -> Result<ManagerRemoved, DomainError> {
    let sub = owned_subscription(app, who, id).await?;
    if !ids::is_valid(ids::CUSTOMER, customer_id) {
        return Err(DomainError::NotFound("manager"));
    }
    let audit =
        event(app, &sub.id, "subscription.manager_removed", who.actor(), json!({"customer_id": customer_id}));
    if !app.store.remove_manager(&sub.id, customer_id, &audit).await? {
        return Err(DomainError::NotFound("manager"));
    }
    Ok(ManagerRemoved { customer_id: customer_id.to_string(), deleted: true })
}

/// The owner (or the organization's key) offers ownership to `email`; it changes hands when they
/// accept. A later offer replaces an earlier one.
pub async fn offer(
    app: &App,
    who: &Principal,
    id: &str,
    input: ManagerRequest,
) -> Result<OwnershipOffer, DomainError> {
    let sub = owned_subscription(app, who, id).await?;
    let email = validate::email("email", &input.email)?;
    count_mail(app, &sub).await?;
    for _ in 0..3 {
        let (customer, new) = person(app, &sub, &email).await?;
        if customer.id == sub.customer_id {
            return Err(DomainError::invalid("email", "owns this subscription already"));
        }
        let now = app.clock.now();
        let offer = OwnershipOffer {
            subscription_id: sub.id.clone(),
            customer_id: customer.id.clone(),
            email: email.clone(),
            offered_by: who.actor(),
            offered_at: now,
            expires_at: now + Duration::days(OFFER_TTL_DAYS),
        };
        let audit = event(
            app,
            &sub.id,
            "subscription.ownership_offered",
            who.actor(),
            json!({"customer_id": customer.id, "email": email, "expires_at": offer.expires_at}),
        );
        if app.store.offer_ownership(&offer, new.then_some(&customer), &audit).await? {
            mail_sign_in_link(app, &sub, &email).await;
            return Ok(offer);
        }
    }
    Err(DomainError::Unavailable)
}

/// The offers standing for the caller (the portal shows them with an Accept button).
pub async fn my_offers(app: &App, who: &Principal) -> Result<Vec<OwnershipOffer>, DomainError> {
    let (customer_id, _) = who.require_customer()?;
    let now = app.clock.now();
    Ok(app
        .store
        .ownership_offers_for(customer_id)
        .await?
        .into_iter()
        .filter(|o| o.expires_at > now)
        .collect())
}

/// The person offered ownership takes it: they become the owner, the old owner keeps nothing.
pub async fn accept(app: &App, who: &Principal, id: &str) -> Result<SubscriptionView, DomainError> {
    let (me, org) = who.require_customer()?;
    let not_found = DomainError::NotFound("ownership offer");
    if !ids::is_valid(ids::SUBSCRIPTION, id) {
        return Err(not_found);
    }
    let sub = app
        .store
        .subscription(id)
        .await?
        .filter(|s| s.organization_id == org)
        .ok_or(DomainError::NotFound("ownership offer"))?;
    let now = app.clock.now();
    let offer = app
        .store
        .ownership_offer(&sub.id)
        .await?
        .filter(|o| o.customer_id == me && o.expires_at > now)
        .ok_or(not_found)?;
    let was_manager = app.store.manager(&sub.id, me).await?.is_some();
    let mut after = sub.clone();
    after.customer_id = me.to_string();
    after.version += 1;
    let audit = event(
        app,
        &sub.id,
        "subscription.owner_changed",
        who.actor(),
        json!({"from": sub.customer_id, "to": me}),
    )
    .announcing(announce::subscription(app, "subscription.updated", &after));
    let change = OwnershipChange {
        subscription_id: sub.id.clone(),
        from: sub.customer_id.clone(),
        offer,
        was_manager,
        at: now,
        audit,
    };
    if !app.store.change_owner(&change).await? {
        return Err(DomainError::Conflict(
            "the subscription or the offer changed meanwhile; read it again".into(),
        ));
    }
    tracing::info!(subscription_id = %sub.id, metric = "ownership_changed", "ownership handed over");
    announce(app, [&change.audit]).await;
    Ok(SubscriptionView::from(&after))
}
