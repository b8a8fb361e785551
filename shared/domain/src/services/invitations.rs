//! Invitations: a pending seat's claim link goes out by mail from the worker, never from the
//! request that assigned the seat. The assign (or resend) transaction puts the `invite` job in
//! the outbox beside the seat, so a mail that fails, or a process that dies after the commit,
//! loses no invitation, and the caller never waits on (or sees an error of) the mail service.

use super::audit::event;
use super::App;
use crate::error::DomainError;
use crate::model::*;
use crate::ports::OutgoingEmail;
use crate::secrets;
use chrono::Duration;
use serde_json::json;

/// The stored side of a new claim link for `seat` (its hash, expiry and the seat as it is now).
pub fn new_link(app: &App, seat: &Seat, sub: &Subscription) -> (String, ClaimToken) {
    let token = secrets::new_secret(secrets::CLAIM_TOKEN_PREFIX);
    let expires_at = app.clock.now() + Duration::seconds(app.settings.claim_ttl_s);
    let mut snapshot = seat.clone();
    snapshot.claim_token_hash = Some(secrets::hash(&token));
    snapshot.invitation_expires_at = Some(expires_at);
    let stored = ClaimToken {
        token_hash: secrets::hash(&token),
        seat_id: seat.id.clone(),
        subscription_id: sub.id.clone(),
        expires_at,
        seat: Some(snapshot),
        organization_name: Some(sub.organization_name.clone()).filter(|n| !n.is_empty()),
        product_name: Some(sub.product_name.clone()).filter(|n| !n.is_empty()),
    };
    (token, stored)
}

fn claim_link(app: &App, token: &str) -> String {
    format!("{}/portal/claim?token={token}", app.settings.public_base_url)
}

/// The `invite` job: mail the link, then take the job out of the outbox and record
/// `seat.invitation_sent` in one write. Safe to repeat; a failed mail is retried by the queue.
pub async fn send(app: &App, job: &Job) -> Result<(), DomainError> {
    let (token, link) = match &job.claim_token {
        Some(token) => {
            let hash = secrets::hash(token);
            match app.store.pending_invitation(job, &hash).await? {
                // Mailed already (a second delivery), or a re-send owns the job now.
                None => return Ok(()),
                Some(Some(link)) if link.expires_at > app.clock.now() => (token.clone(), link),
                Some(_) => {
                    // Claimed, revoked or expired before the mail went: a dead link is not mailed.
                    app.store.finish_invitation(job, &hash, None).await?;
                    return Ok(());
                }
            }
        }
        None => match relink(app, job).await? {
            Some(made) => made,
            None => return Ok(()),
        },
    };
    let seat = match &link.seat {
        Some(seat) => seat.clone(),
        None => match app.store.seat(&link.subscription_id, &link.seat_id).await? {
            Some(seat) => seat,
            None => return Ok(()),
        },
    };
    let (org_name, product_name) = match (&link.organization_name, &link.product_name) {
        (Some(o), Some(p)) => (o.clone(), p.clone()),
        _ => match app.store.subscription(&link.subscription_id).await? {
            Some(sub) => super::seats::names(app, &sub).await,
            None => return Ok(()),
        },
    };
    let hours = app.settings.claim_ttl_s / 3600;
    let mail = OutgoingEmail {
        to: seat.email.clone(),
        subject: format!("{org_name} invited you to {product_name}"),
        text: format!(
            "Hello,\n\n{org_name} has a seat of {product_name} for you.\n\nClaim it here:\n\n{}\n\n\
             The link works once and expires in {hours} hours.\n",
            claim_link(app, &token)
        ),
    };
    if let Err(e) = app.mailer.send(&mail).await {
        tracing::warn!(seat_id = %seat.id, error = %e, metric = "invitations_failed", "invitation not mailed; the queue retries it");
        return Err(DomainError::Unavailable);
    }
    let audit = event(
        app,
        &link.subscription_id,
        "seat.invitation_sent",
        "system".into(),
        json!({"seat_id": seat.id, "email": seat.email}),
    )
    .announcing(crate::services::webhooks::announce::seat(app, "seat.invitation_sent", &seat));
    if app.store.finish_invitation(job, &link.token_hash, Some(&audit)).await? {
        crate::services::webhooks::announce::announce(app, [&audit]).await;
    }
    tracing::info!(seat_id = %seat.id, metric = "invitations_sent", "invitation mailed");
    Ok(())
}

/// A job re-sent from the outbox carries no token (the outbox keeps none): a new link
/// replaces the seat's, and that one is mailed. `None`: nothing to mail.
async fn relink(app: &App, job: &Job) -> Result<Option<(String, ClaimToken)>, DomainError> {
    let seat = app.store.seat(&job.subscription_id, &job.seat_id).await?;
    let sub = app.store.subscription(&job.subscription_id).await?;
    let (Some(seat), Some(sub)) = (seat, sub) else {
        app.store.finish_job(job).await?;
        return Ok(None);
    };
    if seat.status != SeatStatus::Pending {
        app.store.finish_job(job).await?;
        return Ok(None);
    }
    let (token, link) = new_link(app, &seat, &sub);
    let invitation = Job::invite(&sub.id, &seat.id, Some(token.clone()));
    let audit = event(app, &sub.id, "seat.invitation_renewed", "system".into(), json!({"seat_id": seat.id}));
    if !app.store.replace_claim_token(&seat, &link, &invitation, &audit).await? {
        // Claimed, revoked or re-sent meanwhile: whatever is left in the outbox is retried.
        return Ok(None);
    }
    Ok(Some((token, link)))
}

/// Pending seats whose link ran out leave the count, so dead invitations stop holding seats
/// (the sweeper, every tick). Each expiry is one conditional write: a seat claimed, revoked or
/// re-sent meanwhile is left as it is. Answers how many expired.
pub async fn expire_due(app: &App, limit: usize) -> Result<usize, DomainError> {
    let now = app.clock.now();
    let mut expired = 0;
    for link in app.store.expired_links(now, limit).await? {
        let seat = app.store.seat(&link.subscription_id, &link.seat_id).await?;
        let Some(seat) = seat.filter(|s| {
            s.status == SeatStatus::Pending && s.claim_token_hash.as_deref() == Some(link.token_hash.as_str())
        }) else {
            // The link outlived its seat's pending state: forget it.
            app.store.drop_claim_token(&link.token_hash).await?;
            continue;
        };
        let mut after = seat.clone();
        after.status = SeatStatus::Expired;
        after.claim_token_hash = None;
        let audit = event(
            app,
            &seat.subscription_id,
            "seat.expired",
            "system".into(),
            json!({"seat_id": seat.id, "email": seat.email, "invitation_expires_at": seat.invitation_expires_at}),
        )
        .announcing(crate::services::webhooks::announce::seat(app, "seat.expired", &after));
        let expiry = crate::ports::SeatExpiry { seat, at: now, audit };
        if app.store.expire_seat(&expiry).await? {
            expired += 1;
            tracing::info!(seat_id = %expiry.seat.id, metric = "invitations_expired", "invitation expired; its seat is free");
            crate::services::webhooks::announce::announce(app, [&expiry.audit]).await;
        }
    }
    Ok(expired)
}

/// An expired seat invited again: it takes a free seat again (409 `no_seats_available` when
/// none is), with a new link mailed like any invitation.
pub async fn reinvite(
    app: &App,
    who: &super::Principal,
    sub: &Subscription,
    seat: Seat,
) -> Result<Seat, DomainError> {
    super::limits::check(app, &[super::limits::resend_per_seat(&seat.id)]).await?;
    let mut restored = seat.clone();
    restored.status = SeatStatus::Pending;
    restored.reinvitations += 1;
    let (token, link) = new_link(app, &restored, sub);
    restored.claim_token_hash = Some(link.token_hash.clone());
    restored.invitation_expires_at = Some(link.expires_at);
    let limit = super::limits::invitations_per_subscription(&sub.id);
    let reinvitation = crate::ports::SeatReinvitation {
        invitation: Job::invite(&sub.id, &seat.id, Some(token)),
        audit: event(
            app,
            &sub.id,
            "seat.invitation_renewed",
            who.actor(),
            json!({"seat_id": seat.id, "was": "expired"}),
        ),
        limit: super::limits::hit(app, &limit),
        token: link,
        seat,
    };
    match app.store.reinvite_seat(&reinvitation).await? {
        crate::ports::ReinviteOutcome::Reinvited => {}
        crate::ports::ReinviteOutcome::NoSeats => return Err(DomainError::NoSeatsAvailable),
        crate::ports::ReinviteOutcome::SeatChanged => {
            return Err(DomainError::InvalidState(
                "the seat changed meanwhile (revoked or re-sent); read it again".into(),
            ))
        }
        crate::ports::ReinviteOutcome::RateLimited => {
            return Err(super::limits::refused(app, limit.name, &reinvitation.limit))
        }
    }
    tracing::info!(seat_id = %restored.id, metric = "invitations_renewed", "expired invitation sent again");
    if let Err(e) = app.jobs.enqueue(std::slice::from_ref(&reinvitation.invitation)).await {
        tracing::warn!(seat_id = %restored.id, error = %e, "invitation job not sent; the sweeper will send it");
    }
    Ok(restored)
}
