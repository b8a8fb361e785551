//! Claiming a seat from an invitation link. The preview (GET) has no side effects, so mail
//! scanners that follow links change nothing. Unknown, expired, used and revoked tokens all
//! answer the same `not_found`.
//!
//! The claim reads one item, the link (which keeps the pending seat as it was invited), and
//! makes one transaction whose conditions do what reads would: the link is unused, the seat is
//! still pending with it, the subscription takes seats, and the holder is new to the
//! organization — if they are not, the cancelled transaction names them and the claim is made
//! again as them. The portal session starts in the same transaction.

use super::audit::event;
use super::App;
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::{ClaimOutcome, SeatClaim};
use crate::secrets;
use crate::views::{ClaimPreview, ClaimResult, SeatView, SessionToken};
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;

const NOT_FOUND: DomainError = DomainError::NotFound("claim");

/// The unexpired link behind a token and its pending seat. Anything else is `not_found`.
async fn live_link(app: &App, token: &str) -> Result<(ClaimToken, Seat), DomainError> {
    if token.len() < 8 || token.len() > secrets::MAX_SECRET_LEN || !token.is_ascii() {
        return Err(NOT_FOUND);
    }
    let link = app.store.claim_token(&secrets::hash(token)).await?.ok_or(NOT_FOUND)?;
    if link.expires_at <= app.clock.now() {
        return Err(NOT_FOUND);
    }
    let seat = match &link.seat {
        Some(seat) => seat.clone(),
        // A link made before the seat was kept on it.
        None => app.store.seat(&link.subscription_id, &link.seat_id).await?.ok_or(NOT_FOUND)?,
    };
    if seat.status != SeatStatus::Pending
        || seat.claim_token_hash.as_deref() != Some(link.token_hash.as_str())
    {
        return Err(NOT_FOUND);
    }
    Ok((link, seat))
}

pub async fn preview(app: &App, token: &str) -> Result<ClaimPreview, DomainError> {
    let (link, seat) = live_link(app, token).await?;
    // The page must not offer a seat the claim would refuse: the subscription is read here.
    let sub = app.store.subscription(&link.subscription_id).await?.ok_or(NOT_FOUND)?;
    if !sub.status.allows_seat_changes() {
        return Err(NOT_FOUND);
    }
    let (organization_name, product_name) = match (link.organization_name, link.product_name) {
        (Some(o), Some(p)) => (o, p),
        _ => super::seats::names(app, &sub).await,
    };
    Ok(ClaimPreview { organization_name, product_name, email: seat.email, expires_at: link.expires_at })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub token: String,
}

pub async fn claim(app: &App, input: ClaimRequest) -> Result<ClaimResult, DomainError> {
    let (link, seat) = live_link(app, &input.token).await?;
    let now = app.clock.now();
    // Taken to be new until the transaction says otherwise (most people claim once).
    let mut holder = Customer {
        id: ids::new_id(ids::CUSTOMER),
        organization_id: seat.organization_id.clone(),
        email: seat.email.clone(),
        created_at: now,
    };
    let mut new_customer = true;
    for _ in 0..3 {
        let job = Job {
            kind: JobKind::Grant,
            seat_id: seat.id.clone(),
            subscription_id: seat.subscription_id.clone(),
            customer_id: holder.id.clone(),
            cursor: None,
            claim_token: None,
            sign_in: None,
        };
        let session_token = secrets::new_secret(secrets::SESSION_PREFIX);
        let session = Session {
            token_hash: secrets::hash(&session_token),
            customer_id: holder.id.clone(),
            organization_id: holder.organization_id.clone(),
            expires_at: now + Duration::seconds(app.settings.session_ttl_s),
        };
        let mut claimed = seat.clone();
        claimed.status = SeatStatus::Claimed;
        claimed.customer_id = Some(holder.id.clone());
        claimed.claimed_at = Some(now);
        claimed.claim_token_hash = None;
        claimed.invitation_expires_at = None;
        let claim = SeatClaim {
            token: link.clone(),
            holder: holder.clone(),
            new_customer: new_customer.then(|| holder.clone()),
            claimed_at: now,
            job: job.clone(),
            audit: event(
                app,
                &seat.subscription_id,
                "seat.claimed",
                format!("customer:{}", holder.id),
                json!({"seat_id": seat.id, "customer_id": holder.id}),
            )
            .announcing(crate::services::webhooks::announce::seat(app, "seat.claimed", &claimed)),
            session: session.clone(),
        };
        match app.store.claim_seat(&claim, now).await? {
            ClaimOutcome::Claimed => {
                tracing::info!(subscription_id = %seat.subscription_id, seat_id = %seat.id, metric = "seats_claimed", "seat claimed");
                if let Err(e) = app.jobs.enqueue(&[job]).await {
                    tracing::warn!(seat_id = %seat.id, error = %e, "grant job not sent; the sweeper will send it");
                }
                crate::services::webhooks::announce::announce(app, [&claim.audit]).await;
                return Ok(ClaimResult {
                    seat: SeatView::from(&claimed),
                    session: SessionToken { token: session_token, expires_at: session.expires_at },
                });
            }
            ClaimOutcome::Gone => return Err(NOT_FOUND),
            ClaimOutcome::HolderExists(id) => {
                holder.id = id;
                new_customer = false;
            }
        }
    }
    Err(DomainError::Unavailable)
}
