//! The customer portal: passwordless sign-in by emailed one-time code, sessions, and what a
//! billing manager (or the merchant) may read of a subscription.

use super::{App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::OutgoingEmail;
use crate::secrets;
use crate::views::{CustomerView, List, SessionView, SubscriptionView};
use chrono::Duration;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub organization_slug: String,
    pub email: String,
}

/// Answers alike, with the same work, whether or not the customer exists (no account
/// enumeration, not even by timing): the limits are counted and a `sign_in` job is queued; the
/// worker looks the email up and mails a one-time code only to an existing customer, so the
/// mail service's errors and latency never reach the caller.
pub async fn sign_in(app: &App, input: SignInRequest) -> Result<(), DomainError> {
    let email = crate::validate::email("email", &input.email)?;
    let slug = crate::validate::slug("organization_slug", &input.organization_slug)?;
    // Counted for known and unknown emails alike: the answer never tells them apart.
    let who = format!("{slug}/{email}");
    super::limits::check(
        app,
        &[super::limits::sign_in_per_email(&who), super::limits::sign_in_per_organization(&slug)],
    )
    .await?;
    // The contract answers 202 always. Nothing is stored for an ask, so a queue that refuses it
    // loses only the ask: logged and counted, and the person asks again (alike for every email).
    if let Err(e) = app.jobs.enqueue(&[Job::sign_in(&slug, &email)]).await {
        tracing::warn!(error = %e, metric = "sign_in_asks_lost", "sign-in ask not queued");
    }
    Ok(())
}

/// The `sign_in` job: a link for the customer if there is one, nothing otherwise. A failed mail
/// fails the job, and the queue retries it (a retry mails a new code; each expires alone).
pub async fn mail_sign_in(app: &App, ask: &SignInAsk) -> Result<(), DomainError> {
    let Some(org) = app.store.organization_by_slug(&ask.organization_slug).await? else {
        return Ok(());
    };
    let Some(customer) = app.store.customer_by_email(&org.id, &ask.email).await? else {
        return Ok(());
    };
    send_sign_in_link(app, &org, &customer).await.map_err(|e| {
        tracing::warn!(error = %e, metric = "sign_in_mails_failed", "sign-in link not mailed; the queue retries it");
        DomainError::Unavailable
    })
}

/// Creates a one-time sign-in code and mails its link.
async fn send_sign_in_link(app: &App, org: &Organization, customer: &Customer) -> Result<(), DomainError> {
    let code = secrets::new_secret(secrets::SIGN_IN_CODE_PREFIX);
    app.store
        .put_sign_in_code(&SignInCode {
            code_hash: secrets::hash(&code),
            customer_id: customer.id.clone(),
            organization_id: org.id.clone(),
            expires_at: app.clock.now() + Duration::seconds(app.settings.sign_in_code_ttl_s),
        })
        .await?;
    let link = format!("{}/portal/sign-in?code={code}", app.settings.public_base_url);
    app.mailer
        .send(&OutgoingEmail {
            to: customer.email.clone(),
            subject: format!("Sign in to {}", org.name),
            text: format!(
                "Hello,\n\nUse this link to sign in to {}'s customer portal:\n\n{link}\n\n\
                 It works once and expires in {} minutes. If you did not ask for it, ignore this email.\n",
                org.name,
                app.settings.sign_in_code_ttl_s / 60
            ),
        })
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    pub code: String,
}

pub async fn create_session(app: &App, input: NewSession) -> Result<SessionView, DomainError> {
    let invalid = || DomainError::invalid("code", "is invalid, used or expired");
    if input.code.is_empty() || input.code.len() > secrets::MAX_SECRET_LEN {
        return Err(invalid());
    }
    let now = app.clock.now();
    let code = app.store.take_sign_in_code(&secrets::hash(&input.code), now).await?.ok_or_else(invalid)?;
    let customer = app.store.customer(&code.customer_id).await?.ok_or_else(invalid)?;
    new_session(app, &customer).await
}

/// Signs out: the caller's session token stops working at once, on every device that holds it.
pub async fn sign_out(app: &App, who: &Principal, token: &str) -> Result<(), DomainError> {
    who.require_customer()?;
    app.store.end_session(&secrets::hash(token)).await?;
    Ok(())
}

/// A portal session for a customer: the token is returned once, its hash stored.
pub async fn new_session(app: &App, customer: &Customer) -> Result<SessionView, DomainError> {
    let token = secrets::new_secret(secrets::SESSION_PREFIX);
    let expires_at = app.clock.now() + Duration::seconds(app.settings.session_ttl_s);
    app.store
        .put_session(&Session {
            token_hash: secrets::hash(&token),
            customer_id: customer.id.clone(),
            organization_id: customer.organization_id.clone(),
            expires_at,
        })
        .await?;
    Ok(SessionView {
        token,
        expires_at,
        customer: CustomerView { id: customer.id.clone(), email: customer.email.clone() },
    })
}

pub async fn my_subscriptions(app: &App, who: &Principal) -> Result<Vec<SubscriptionView>, DomainError> {
    let (customer_id, _) = who.require_customer()?;
    let mut subs = app.store.subscriptions_of_billing_manager(customer_id).await?;
    // And those they co-manage.
    for id in app.store.managed_by(customer_id).await? {
        if let Some(s) = app.store.subscription(&id).await? {
            subs.push(s);
        }
    }
    subs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(subs.iter().map(SubscriptionView::from).collect())
}

/// One page of the organization's subscriptions, oldest first.
pub async fn organization_subscriptions_page(
    app: &App,
    who: &Principal,
    cursor: Option<&str>,
    limit: Option<&str>,
) -> Result<List<SubscriptionView>, DomainError> {
    let organization_id = who.require_merchant()?;
    let (limit, after) = (super::lists::limit(limit)?, super::lists::cursor(cursor, ids::SUBSCRIPTION)?);
    let subs = app.store.subscriptions_of_organization_after(organization_id, after, limit + 1).await?;
    Ok(super::lists::page(subs.iter().map(SubscriptionView::from).collect(), limit, |s| s.id.clone()))
}

/// A subscription as its billing manager or its organization's key may see it. Anyone else,
/// and any malformed id, gets `not_found`: no existence leaks.
pub async fn managed_subscription(app: &App, who: &Principal, id: &str) -> Result<Subscription, DomainError> {
    let not_found = DomainError::NotFound("subscription");
    let allowed = |s: &Subscription| match who {
        Principal::Merchant { organization_id } => &s.organization_id == organization_id,
        Principal::Customer { customer_id, .. } => &s.customer_id == customer_id,
        _ => false,
    };
    if matches!(who, Principal::Public | Principal::Operator) {
        return Err(DomainError::Unauthorized);
    }
    if !ids::is_valid(ids::SUBSCRIPTION, id) {
        return Err(not_found);
    }
    match app.store.subscription(id).await? {
        Some(s) if allowed(&s) => Ok(s),
        // A co-manager: read on every request, so a removed one is refused at once.
        Some(s) => match who {
            Principal::Customer { customer_id, organization_id } if *organization_id == s.organization_id => {
                match app.store.manager(&s.id, customer_id).await? {
                    Some(_) => Ok(s),
                    None => Err(not_found),
                }
            }
            _ => Err(not_found),
        },
        None => Err(not_found),
    }
}

pub async fn get_subscription(app: &App, who: &Principal, id: &str) -> Result<SubscriptionView, DomainError> {
    Ok(SubscriptionView::from(&managed_subscription(app, who, id).await?))
}
