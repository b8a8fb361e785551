//! Claiming a seat from an invitation link. The preview (GET) has no side effects, so mail
//! scanners that follow links change nothing. Unknown, expired, used and revoked tokens all
//! answer the same `not_found`.

use super::audit::event;
use super::{portal, App};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::{ClaimOutcome, SeatClaim};
use crate::secrets;
use crate::views::{ClaimPreview, ClaimResult, SeatView, SessionToken};
use serde::Deserialize;
use serde_json::json;

const NOT_FOUND: DomainError = DomainError::NotFound("claim");

/// The live claim behind a token: its seat (pending, holding this token) and subscription
/// (able to take seats). Anything else is `not_found`.
async fn live_claim(app: &App, token: &str) -> Result<(ClaimToken, Seat, Subscription), DomainError> {
    if token.len() < 8 || token.len() > secrets::MAX_SECRET_LEN || !token.is_ascii() {
        return Err(NOT_FOUND);
    }
    let hash = secrets::hash(token);
    let now = app.clock.now();
    let claim = app.store.claim_token(&hash).await?.ok_or(NOT_FOUND)?;
    if claim.expires_at <= now {
        return Err(NOT_FOUND);
    }
    let seat = app.store.seat(&claim.subscription_id, &claim.seat_id).await?.ok_or(NOT_FOUND)?;
    if seat.status != SeatStatus::Pending || seat.claim_token_hash.as_deref() != Some(hash.as_str()) {
        return Err(NOT_FOUND);
    }
    let sub = app.store.subscription(&seat.subscription_id).await?.ok_or(NOT_FOUND)?;
    if !sub.status.allows_seat_changes() {
        return Err(NOT_FOUND);
    }
    Ok((claim, seat, sub))
}

pub async fn preview(app: &App, token: &str) -> Result<ClaimPreview, DomainError> {
    let (claim, seat, sub) = live_claim(app, token).await?;
    let (organization_name, product_name) = super::seats::names(app, &sub).await;
    Ok(ClaimPreview { organization_name, product_name, email: seat.email, expires_at: claim.expires_at })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub token: String,
}

pub async fn claim(app: &App, input: ClaimRequest) -> Result<ClaimResult, DomainError> {
    for _ in 0..3 {
        let (token, seat, sub) = live_claim(app, &input.token).await?;
        let now = app.clock.now();
        let (holder, new_customer) =
            match app.store.customer_by_email(&sub.organization_id, &seat.email).await? {
                Some(c) => (c, None),
                None => {
                    let c = Customer {
                        id: ids::new_id(ids::CUSTOMER),
                        organization_id: sub.organization_id.clone(),
                        email: seat.email.clone(),
                        created_at: now,
                    };
                    (c.clone(), Some(c))
                }
            };
        let job = Job {
            kind: JobKind::Grant,
            seat_id: seat.id.clone(),
            subscription_id: sub.id.clone(),
            customer_id: holder.id.clone(),
            cursor: None,
        };
        let claim = SeatClaim {
            token,
            holder: holder.clone(),
            new_customer,
            claimed_at: now,
            job: job.clone(),
            audit: event(
                app,
                &sub.id,
                "seat.claimed",
                format!("customer:{}", holder.id),
                json!({"seat_id": seat.id, "customer_id": holder.id}),
            ),
        };
        match app.store.claim_seat(&claim, now).await? {
            ClaimOutcome::Claimed => {
                tracing::info!(subscription_id = %sub.id, seat_id = %seat.id, metric = "seats_claimed", "seat claimed");
                if let Err(e) = app.jobs.enqueue(&[job]).await {
                    tracing::warn!(seat_id = %seat.id, error = %e, "grant job not sent; the sweeper will send it");
                }
                let session = portal::new_session(app, &holder).await?;
                let mut claimed = seat.clone();
                claimed.status = SeatStatus::Claimed;
                claimed.customer_id = Some(holder.id.clone());
                claimed.claimed_at = Some(now);
                claimed.claim_token_hash = None;
                claimed.invitation_expires_at = None;
                return Ok(ClaimResult {
                    seat: SeatView::from(&claimed),
                    session: SessionToken { token: session.token, expires_at: session.expires_at },
                });
            }
            ClaimOutcome::Gone => return Err(NOT_FOUND),
            ClaimOutcome::CustomerRace => continue,
        }
    }
    Err(DomainError::Unavailable)
}
