//! The ports of seats at team scale: invitations that expire and free their seat, expired seats
//! invited again, and batches of seats written under one reservation of the counter.

use crate::error::StoreError;
use crate::model::{AuditEvent, ClaimToken, Job, Seat};
use crate::ports::{RateHit, SeatAssignment};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A pending seat whose link ran out leaving the count: the seat (as read, with the link's hash)
/// becomes `expired`, the counter falls by one, the link is deleted, the change is audited.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatExpiry {
    pub seat: Seat,
    pub at: DateTime<Utc>,
    pub audit: AuditEvent,
}

/// An expired seat invited again: it takes a free seat (the counter's condition), gets a new link
/// and its invitation, and counts on the subscription's invitation limit.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatReinvitation {
    /// The expired seat as read.
    pub seat: Seat,
    pub token: ClaimToken,
    pub invitation: Job,
    pub audit: AuditEvent,
    pub limit: RateHit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReinviteOutcome {
    Reinvited,
    /// No free seat (or the subscription no longer takes seats).
    NoSeats,
    /// The seat is no longer the expired seat read (revoked, or invited again meanwhile).
    SeatChanged,
    RateLimited,
}

/// Free seats taken for a batch before any of its seats is written: the counter moved by `seats`
/// at once, and a record of what is left to use, so a batch that dies half-way is released by
/// the sweeper instead of holding seats forever.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatReservation {
    pub id: String,
    pub subscription_id: String,
    pub seats: i64,
    /// The counter's bound as read: the update is conditioned on `seats` and `assign_cap` being
    /// still these and on `seats_assigned <= max_assigned_before` (a condition cannot add).
    pub seats_read: i64,
    pub assign_cap_read: i64,
    pub max_assigned_before: i64,
    /// The batch's invitations, counted at once on the subscription's invitation limit.
    pub limit: RateHit,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationOutcome {
    Reserved,
    /// Fewer free seats than asked (or the subscription no longer takes seats).
    NoSeats,
    /// `seats` or `assign_cap` moved since they were read: read again.
    BoundChanged,
    RateLimited,
}

/// A reservation left by a batch that did not finish (the sweeper's list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReservation {
    pub id: String,
    pub subscription_id: String,
    pub remaining: i64,
}

#[async_trait]
pub trait TeamSeatStore: Send + Sync {
    /// Links whose expiry is at or before `now` (the sweeper's list), oldest first.
    async fn expired_links(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ClaimToken>, StoreError>;
    /// `false`: the seat is no longer pending with that link (claimed, revoked, re-sent).
    async fn expire_seat(&self, e: &SeatExpiry) -> Result<bool, StoreError>;
    /// Deletes a link that no longer belongs to a pending seat (so the list forgets it).
    async fn drop_claim_token(&self, token_hash: &str) -> Result<(), StoreError>;
    async fn reinvite_seat(&self, r: &SeatReinvitation) -> Result<ReinviteOutcome, StoreError>;

    /// Which of `emails` hold a live (pending, claimed or expired) seat of the subscription now.
    async fn seat_emails_taken(
        &self,
        subscription_id: &str,
        emails: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError>;
    /// The counter moved by `r.seats` and the reservation recorded, in one write.
    async fn reserve_seats(&self, r: &SeatReservation) -> Result<ReservationOutcome, StoreError>;
    /// Writes `seats` (each with its link, invitation and audit entry) using the reservation,
    /// as many per transaction as DynamoDB takes. Answers, per seat in order, whether it was
    /// written (`false`: its email has a live seat already).
    async fn assign_reserved_seats(
        &self,
        reservation_id: &str,
        subscription_id: &str,
        seats: &[SeatAssignment],
    ) -> Result<Vec<bool>, StoreError>;
    /// Gives what is left of the reservation back to the counter and deletes it. Safe to repeat.
    async fn release_reservation(
        &self,
        subscription_id: &str,
        reservation_id: &str,
    ) -> Result<(), StoreError>;
    /// Reservations made before `cutoff` that are still open.
    async fn stale_reservations(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OpenReservation>, StoreError>;
}
