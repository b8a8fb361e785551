//! Seats: the billing manager (or the merchant) assigns them by email, re-sends invitations
//! (mailed by the worker, see [`super::invitations`]), lists and revokes them. Every invariant
//! is the store's condition, not a read here.

use super::audit::event;
use super::webhooks::announce::{self, announce};
use super::{invitations, portal, App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::{
    AssignOutcome, ClaimedAssignOutcome, ClaimedAssignment, SeatAssignment, SeatRevocation, SeatTransfer,
    TransferOutcome,
};
use crate::validate;
use crate::views::{SeatList, SeatView};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub const DEFAULT_PAGE: i32 = 25;
pub const MAX_PAGE: i32 = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignSeat {
    pub email: String,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// `false` (with `claim: "immediate"`): no invitation is mailed.
    #[serde(default)]
    pub notify: Option<bool>,
    /// `"invitation"` (the default: the person claims through the mailed link) or `"immediate"`:
    /// claimed at once, for the organization's own onboarding (its key, any email) or a billing
    /// manager's own seat ("assign me").
    #[serde(default)]
    pub claim: Option<String>,
    /// On a full subscription whose product grows when full: buy the seat first (the 402's
    /// preview), then assign.
    #[serde(default)]
    pub confirm_charge: Option<bool>,
    /// The 402 preview's instant, so the charge is the amount shown.
    #[serde(default)]
    pub proration_date: Option<i64>,
}

impl AssignSeat {
    /// Whether the seat is claimed at once; the combinations that make no sense are refused.
    fn immediate(&self) -> Result<bool, DomainError> {
        let immediate = match self.claim.as_deref() {
            None | Some("invitation") => false,
            Some("immediate") => true,
            Some(_) => return Err(DomainError::invalid("claim", "must be \"invitation\" or \"immediate\"")),
        };
        match (immediate, self.notify) {
            (false, Some(false)) => Err(DomainError::invalid(
                "notify",
                "a pending seat is claimed through its invitation: notify: false needs claim: \"immediate\"",
            )),
            (true, Some(true)) => {
                Err(DomainError::invalid("notify", "a seat claimed at once has no invitation to send"))
            }
            _ => Ok(immediate),
        }
    }
}

/// Stripe's metadata rules: at most 50 keys of ≤ 40 characters, string values of ≤ 500.
pub fn metadata(m: Option<Map<String, Value>>) -> Result<Map<String, Value>, DomainError> {
    let m = m.unwrap_or_default();
    if m.len() > 50 {
        return Err(DomainError::invalid("metadata", "at most 50 keys"));
    }
    for (k, v) in &m {
        if k.is_empty() || k.chars().count() > 40 {
            return Err(DomainError::invalid(&format!("metadata.{k}"), "keys are 1-40 characters"));
        }
        match v {
            Value::String(s) if s.chars().count() <= 500 => {}
            _ => {
                return Err(DomainError::invalid(
                    &format!("metadata.{k}"),
                    "values are strings of at most 500 characters",
                ))
            }
        }
    }
    Ok(m)
}

/// The organization's and product's names (copied on the subscription at purchase).
pub async fn names(app: &App, sub: &Subscription) -> (String, String) {
    let org = match sub.organization_name.as_str() {
        "" => app.store.organization(&sub.organization_id).await.ok().flatten().map(|o| o.name),
        n => Some(n.to_string()),
    };
    let product = match sub.product_name.as_str() {
        "" => app.store.product(&sub.product_id).await.ok().flatten().map(|p| p.name),
        n => Some(n.to_string()),
    };
    (org.unwrap_or_else(|| "Your team".into()), product.unwrap_or_else(|| "the product".into()))
}

pub async fn assign(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    input: AssignSeat,
) -> Result<SeatView, DomainError> {
    let sub = portal::managed_subscription(app, who, subscription_id).await?;
    let email = validate::email("email", &input.email)?;
    let immediate = input.immediate()?;
    let metadata = metadata(input.metadata)?;
    if !sub.status.allows_seat_changes() {
        return Err(DomainError::InvalidState(format!(
            "seats can be assigned only while the subscription is active or past due (it is {:?})",
            sub.status
        )));
    }
    if immediate {
        return assign_claimed(app, who, &sub, email, metadata).await;
    }
    let growth = (input.confirm_charge == Some(true), input.proration_date);
    let assignment = new_assignment(app, who, &sub, email, metadata);
    let limit = super::limits::invitations_per_subscription(&sub.id);
    match app.store.assign_seat(&assignment).await? {
        AssignOutcome::Assigned => {}
        AssignOutcome::NoSeats => return assign_growing(app, who, &sub.id, assignment, growth).await,
        AssignOutcome::AlreadyAssigned => return Err(DomainError::SeatAlreadyAssigned),
        AssignOutcome::RateLimited => return Err(super::limits::refused(app, limit.name, &assignment.limit)),
    }
    tracing::info!(subscription_id = %sub.id, seat_id = %assignment.seat.id, metric = "seats_assigned", "seat assigned");
    announce(app, [&assignment.audit]).await;
    send_invitation(app, assignment.invitation).await;
    Ok(SeatView::from(&assignment.seat))
}

/// A full subscription: refused, or (its product growing when full) the 402 with the price of
/// one more seat, or, confirmed, that seat bought and this assignment written under the
/// reservation the purchase made. The email was free when the assign found no seat.
async fn assign_growing(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    assignment: SeatAssignment,
    (confirmed, proration_date): (bool, Option<i64>),
) -> Result<SeatView, DomainError> {
    let sub = app.store.subscription(subscription_id).await?.ok_or(DomainError::NotFound("subscription"))?;
    if !super::grow::grows(app, &sub).await? {
        return Err(DomainError::NoSeatsAvailable);
    }
    if sub.seats_available() > 0 {
        return Err(DomainError::Conflict(
            "a seat was freed meanwhile: assign again (nothing was charged)".into(),
        ));
    }
    if !confirmed {
        return Err(super::grow::required(app, who, &sub, 1).await);
    }
    let reservation = super::grow::grow(app, who, &sub, 1, proration_date).await?;
    let written =
        app.store.assign_reserved_seats(&reservation, &sub.id, std::slice::from_ref(&assignment)).await;
    if let Err(e) = app.store.release_reservation(&sub.id, &reservation).await {
        tracing::warn!(reservation_id = %reservation, error = %e, "reservation not released; the sweeper will");
    }
    if !written?.first().copied().unwrap_or(false) {
        // Someone assigned this email meanwhile: the seat bought is free for the next one.
        return Err(DomainError::SeatAlreadyAssigned);
    }
    tracing::info!(subscription_id = %sub.id, seat_id = %assignment.seat.id, metric = "seats_assigned", "seat bought and assigned");
    announce(app, [&assignment.audit]).await;
    send_invitation(app, assignment.invitation).await;
    Ok(SeatView::from(&assignment.seat))
}

/// A seat claimed at once by `email`'s customer (made if new): no link, no invitation; the grant
/// job goes to the outbox with it. The organization's key may do it for anyone; a billing
/// manager only for themselves.
async fn assign_claimed(
    app: &App,
    who: &Principal,
    sub: &Subscription,
    email: String,
    metadata: Map<String, Value>,
) -> Result<SeatView, DomainError> {
    for _ in 0..3 {
        let known = app.store.customer_by_email(&sub.organization_id, &email).await?;
        if let Principal::Customer { customer_id, .. } = who {
            if known.as_ref().map(|c| &c.id) != Some(customer_id) {
                return Err(DomainError::invalid(
                    "claim",
                    "a billing manager claims at once only their own seat; invite everyone else",
                ));
            }
        }
        let now = app.clock.now();
        let (holder, new_customer) = match known {
            Some(c) => (c, None),
            None => {
                let c = Customer {
                    id: ids::new_id(ids::CUSTOMER),
                    organization_id: sub.organization_id.clone(),
                    email: email.clone(),
                    created_at: now,
                };
                (c.clone(), Some(c))
            }
        };
        let seat = Seat {
            id: ids::new_id(ids::SEAT),
            subscription_id: sub.id.clone(),
            organization_id: sub.organization_id.clone(),
            status: SeatStatus::Claimed,
            email: email.clone(),
            customer_id: Some(holder.id.clone()),
            metadata: metadata.clone(),
            invited_at: now,
            invitation_expires_at: None,
            claimed_at: Some(now),
            revoked_at: None,
            claim_token_hash: None,
            reinvitations: 0,
            suspended_at: None,
            suspended_from: None,
            restorations: 0,
        };
        let grant = Job {
            kind: JobKind::Grant,
            seat_id: seat.id.clone(),
            subscription_id: sub.id.clone(),
            customer_id: holder.id.clone(),
            cursor: None,
            claim_token: None,
            sign_in: None,
        };
        let detail =
            json!({"seat_id": seat.id, "email": seat.email, "customer_id": holder.id, "claim": "immediate"});
        let audit = event(app, &sub.id, "seat.assigned", who.actor(), detail)
            .announcing(announce::seat(app, "seat.assigned", &seat))
            .announcing(announce::seat(app, "seat.claimed", &seat));
        let assignment = ClaimedAssignment { seat, new_customer, audit, grant };
        match app.store.assign_claimed_seat(&assignment).await? {
            ClaimedAssignOutcome::Assigned => {
                tracing::info!(subscription_id = %sub.id, seat_id = %assignment.seat.id, metric = "seats_assigned", "seat assigned and claimed at once");
                if let Err(e) = app.jobs.enqueue(std::slice::from_ref(&assignment.grant)).await {
                    tracing::warn!(seat_id = %assignment.seat.id, error = %e, "grant job not sent; the sweeper will send it");
                }
                announce(app, [&assignment.audit]).await;
                return Ok(SeatView::from(&assignment.seat));
            }
            ClaimedAssignOutcome::NoSeats => return Err(DomainError::NoSeatsAvailable),
            ClaimedAssignOutcome::AlreadyAssigned => return Err(DomainError::SeatAlreadyAssigned),
            // Became a customer meanwhile: read them again.
            ClaimedAssignOutcome::HolderExists => continue,
        }
    }
    Err(DomainError::Unavailable)
}

/// A new pending seat for `email`: its link, its invitation job, its audit event and its hit on
/// the subscription's invitation limit (counted in the same transaction: no request of its own).
pub(super) fn new_assignment(
    app: &App,
    who: &Principal,
    sub: &Subscription,
    email: String,
    metadata: Map<String, Value>,
) -> SeatAssignment {
    let mut seat = Seat {
        id: ids::new_id(ids::SEAT),
        subscription_id: sub.id.clone(),
        organization_id: sub.organization_id.clone(),
        status: SeatStatus::Pending,
        email,
        customer_id: None,
        metadata,
        invited_at: app.clock.now(),
        invitation_expires_at: None,
        claimed_at: None,
        revoked_at: None,
        claim_token_hash: None,
        reinvitations: 0,
        suspended_at: None,
        suspended_from: None,
        restorations: 0,
    };
    let (token, link) = invitations::new_link(app, &seat, sub);
    seat.claim_token_hash = Some(link.token_hash.clone());
    seat.invitation_expires_at = Some(link.expires_at);
    let limit = super::limits::invitations_per_subscription(&sub.id);
    SeatAssignment {
        limit: super::limits::hit(app, &limit),
        invitation: Job::invite(&sub.id, &seat.id, Some(token)),
        token: link,
        audit: event(
            app,
            &sub.id,
            "seat.assigned",
            who.actor(),
            json!({"seat_id": seat.id, "email": seat.email}),
        )
        .announcing(announce::seat(app, "seat.assigned", &seat)),
        seat,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSeat {
    pub email: String,
    /// The new seat's metadata; the old seat's when absent.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// Hands a seat to someone else in one transaction: the old seat is revoked (its holder's
/// benefits revoked by the worker), a new pending seat invites `email`, and the counter never
/// moves, so a full subscription can transfer. Answers the new seat.
pub async fn transfer(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    raw_seat_id: &str,
    input: TransferSeat,
) -> Result<SeatView, DomainError> {
    let sub = portal::managed_subscription(app, who, subscription_id).await?;
    let id = seat_id(raw_seat_id)?;
    let email = validate::email("email", &input.email)?;
    let seat = app.store.seat(&sub.id, id).await?.ok_or(DomainError::NotFound("seat"))?;
    match seat.status {
        SeatStatus::Revoked => {
            return Err(DomainError::InvalidState(
                "a revoked seat cannot be transferred; assign a new one".into(),
            ))
        }
        // It holds none of the count: handing it on would seat someone without a free seat.
        SeatStatus::Expired => {
            return Err(DomainError::InvalidState(
                "an expired invitation holds no seat: re-send it, or revoke it and assign a new one".into(),
            ))
        }
        SeatStatus::Suspended => {
            return Err(DomainError::InvalidState(
                "a suspended seat cannot be transferred: reactivate the subscription first".into(),
            ))
        }
        SeatStatus::Pending | SeatStatus::Claimed => {}
    }
    if seat.email == email {
        return Err(DomainError::invalid("email", "is this seat's email already"));
    }
    let metadata = match input.metadata {
        Some(m) => metadata(Some(m))?,
        None => seat.metadata.clone(),
    };
    let assignment = new_assignment(app, who, &sub, email, metadata);
    let detail =
        json!({"seat_id": seat.id, "to_seat_id": assignment.seat.id, "to_email": assignment.seat.email});
    let (revocation, revoke_job) = revocation(app, &seat, who.actor(), Some(detail));
    let limit = super::limits::invitations_per_subscription(&sub.id);
    let transfer = SeatTransfer { revocation, assignment };
    match app.store.transfer_seat(&transfer).await? {
        TransferOutcome::Transferred => {}
        TransferOutcome::SeatChanged => {
            return Err(DomainError::InvalidState(
                "the seat changed meanwhile (claimed, revoked or re-sent); read it again".into(),
            ))
        }
        TransferOutcome::AlreadyAssigned => return Err(DomainError::SeatAlreadyAssigned),
        TransferOutcome::NotLive => {
            return Err(DomainError::InvalidState(format!(
                "seats can be transferred only while the subscription is active or past due (it is {:?})",
                sub.status
            )))
        }
        TransferOutcome::RateLimited => {
            return Err(super::limits::refused(app, limit.name, &transfer.assignment.limit))
        }
    }
    tracing::info!(subscription_id = %sub.id, seat_id = %seat.id, to_seat_id = %transfer.assignment.seat.id, metric = "seats_transferred", "seat transferred");
    if let Some(job) = revoke_job {
        if let Err(e) = app.jobs.enqueue(&[job]).await {
            tracing::warn!(seat_id = %seat.id, error = %e, "revoke job not sent; the sweeper will send it");
        }
    }
    announce(app, [&transfer.revocation.audit, &transfer.assignment.audit]).await;
    send_invitation(app, transfer.assignment.invitation.clone()).await;
    Ok(SeatView::from(&transfer.assignment.seat))
}

/// Hands the committed invitation to the queue; if that fails the sweeper sends it from the
/// outbox (with a new link, as the outbox keeps no token).
async fn send_invitation(app: &App, job: Job) {
    if let Err(e) = app.jobs.enqueue(std::slice::from_ref(&job)).await {
        tracing::warn!(seat_id = %job.seat_id, error = %e, "invitation job not sent; the sweeper will send it");
    }
}

fn seat_id(raw: &str) -> Result<&str, DomainError> {
    if ids::is_valid(ids::SEAT, raw) {
        Ok(raw)
    } else {
        Err(DomainError::NotFound("seat"))
    }
}

pub async fn resend(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    raw_seat_id: &str,
) -> Result<SeatView, DomainError> {
    let sub = portal::managed_subscription(app, who, subscription_id).await?;
    let mut seat =
        app.store.seat(&sub.id, seat_id(raw_seat_id)?).await?.ok_or(DomainError::NotFound("seat"))?;
    if seat.status == SeatStatus::Expired {
        let restored = invitations::reinvite(app, who, &sub, seat).await?;
        return Ok(SeatView::from(&restored));
    }
    if seat.status != SeatStatus::Pending {
        return Err(DomainError::InvalidState(format!(
            "only pending and expired seats can be re-invited (this one is {})",
            seat.status.as_str()
        )));
    }
    super::limits::check(
        app,
        &[super::limits::resend_per_seat(&seat.id), super::limits::invitations_per_subscription(&sub.id)],
    )
    .await?;
    let (token, link) = invitations::new_link(app, &seat, &sub);
    let invitation = Job::invite(&sub.id, &seat.id, Some(token));
    let audit = event(app, &sub.id, "seat.invitation_renewed", who.actor(), json!({"seat_id": seat.id}));
    if !app.store.replace_claim_token(&seat, &link, &invitation, &audit).await? {
        return Err(DomainError::InvalidState(
            "the seat changed meanwhile (claimed, revoked or re-sent); read it again".into(),
        ));
    }
    seat.claim_token_hash = Some(link.token_hash);
    seat.invitation_expires_at = Some(link.expires_at);
    send_invitation(app, invitation).await;
    Ok(SeatView::from(&seat))
}

pub async fn list(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: Option<&str>,
) -> Result<SeatList, DomainError> {
    let sub = portal::managed_subscription(app, who, subscription_id).await?;
    let status = match status {
        None | Some("") => None,
        Some("pending") => Some(SeatStatus::Pending),
        Some("claimed") => Some(SeatStatus::Claimed),
        Some("revoked") => Some(SeatStatus::Revoked),
        Some("expired") => Some(SeatStatus::Expired),
        Some("suspended") => Some(SeatStatus::Suspended),
        Some(_) => {
            return Err(DomainError::invalid(
                "status",
                "must be pending, claimed, revoked, expired or suspended",
            ))
        }
    };
    let limit = match limit {
        None | Some("") => DEFAULT_PAGE,
        Some(l) => match l.parse::<i32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(DomainError::invalid("limit", format!("must be an integer from 1 to {MAX_PAGE}")))
            }
        },
    };
    if let Some(c) = cursor {
        if !ids::is_valid(ids::SEAT, c) {
            return Err(DomainError::invalid("cursor", "is not a cursor of this list"));
        }
    }
    let page = app.store.seats_page(&sub.id, status, cursor.filter(|c| !c.is_empty()), limit).await?;
    Ok(SeatList {
        seats: page.seats.iter().map(SeatView::from).collect(),
        seats_assigned: sub.seats_assigned,
        seats_available: sub.seats_available(),
        next_cursor: page.next_cursor,
    })
}

/// Revokes a seat: idempotent, frees it, and queues the revoke job for a claimed seat.
pub async fn revoke(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    raw_seat_id: &str,
) -> Result<SeatView, DomainError> {
    let sub = portal::managed_subscription(app, who, subscription_id).await?;
    let id = seat_id(raw_seat_id)?;
    for _ in 0..5 {
        let seat = app.store.seat(&sub.id, id).await?.ok_or(DomainError::NotFound("seat"))?;
        if seat.status == SeatStatus::Revoked {
            // Revoking twice changes nothing and records nothing.
            return Ok(SeatView::from(&seat));
        }
        let outcome = revoke_one(app, &seat, who.actor()).await?;
        if let Some(revoked) = outcome {
            return Ok(SeatView::from(&revoked));
        }
    }
    Err(DomainError::Unavailable)
}

/// One revocation attempt of a seat as read, sending its revoke job. `None`: it changed meanwhile.
pub async fn revoke_one(app: &App, seat: &Seat, actor: String) -> Result<Option<Seat>, DomainError> {
    let Some((revoked, job)) = revoke_record(app, seat, actor).await? else {
        return Ok(None);
    };
    if let Some(job) = job {
        if let Err(e) = app.jobs.enqueue(&[job]).await {
            tracing::warn!(seat_id = %seat.id, error = %e, "revoke job not sent; the sweeper will send it");
        }
    }
    Ok(Some(revoked))
}

/// Commits one revocation (the revoke job goes to the outbox with it) and returns the job
/// for the caller to send. `None`: the seat changed meanwhile.
pub async fn revoke_record(
    app: &App,
    seat: &Seat,
    actor: String,
) -> Result<Option<(Seat, Option<Job>)>, DomainError> {
    let (revocation, job) = revocation(app, seat, actor, None);
    if !app.store.revoke_seat(&revocation).await? {
        return Ok(None);
    }
    tracing::info!(subscription_id = %seat.subscription_id, seat_id = %seat.id, metric = "seats_revoked", "seat revoked");
    announce(app, [&revocation.audit]).await;
    Ok(Some((revoked_seat(seat, revocation.revoked_at), job)))
}

/// A seat's revocation as read, with the revoke job of a claimed seat; `transferred` names the
/// seat that replaces it (its audit event is then `seat.transferred`).
fn revocation(
    app: &App,
    seat: &Seat,
    actor: String,
    transferred: Option<Value>,
) -> (SeatRevocation, Option<Job>) {
    let now = app.clock.now();
    let job = Job::revoke_benefits(seat);
    let revoked = revoked_seat(seat, now);
    let audit = match transferred {
        Some(detail) => event(app, &seat.subscription_id, "seat.transferred", actor, detail),
        None => event(
            app,
            &seat.subscription_id,
            "seat.revoked",
            actor,
            json!({"seat_id": seat.id, "email": seat.email, "was": seat.status}),
        ),
    }
    // The holder as they were: the payload names who lost the seat.
    .announcing(announce::seat(app, "seat.revoked", &revoked));
    (SeatRevocation { seat: seat.clone(), revoked_at: now, job: job.clone(), audit }, job)
}

/// The seat as a revocation at `at` leaves it.
fn revoked_seat(seat: &Seat, at: chrono::DateTime<chrono::Utc>) -> Seat {
    let mut revoked = seat.clone();
    revoked.status = SeatStatus::Revoked;
    revoked.revoked_at = Some(at);
    revoked.claim_token_hash = None;
    revoked.invitation_expires_at = None;
    revoked
}
