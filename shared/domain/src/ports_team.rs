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

/// A co-manager of a subscription: a customer of its organization who may do whatever its
/// owner (the buyer) may, except removing managers and handing over ownership.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manager {
    pub subscription_id: String,
    pub customer_id: String,
    pub email: String,
    pub added_at: DateTime<Utc>,
    /// The actor who added them (`cus:…` or `org:…`).
    pub added_by: String,
}

/// Ownership offered to someone; it changes hands when they accept, signed in as that customer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OwnershipOffer {
    pub subscription_id: String,
    pub customer_id: String,
    pub email: String,
    pub offered_by: String,
    pub offered_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Adding a manager: the manager, the subscription's manager counter (at most `max`), a new
/// customer and their email guard when the person is new, and the audit entry, at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerAddition {
    pub manager: Manager,
    pub new_customer: Option<crate::model::Customer>,
    pub max: i64,
    pub audit: AuditEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerAdded {
    Added,
    AlreadyManager,
    LimitReached,
    /// They own the subscription.
    IsOwner,
    /// The person became a customer meanwhile: read them again.
    CustomerExists,
}

/// Ownership changing hands as offered: the subscription (as read, still its old owner's) gets
/// the new owner, the offer is used up (unexpired, theirs), and a new owner who was a manager
/// stops being one (the counter follows). The old owner keeps nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnershipChange {
    pub subscription_id: String,
    pub from: String,
    pub offer: OwnershipOffer,
    pub was_manager: bool,
    pub at: DateTime<Utc>,
    pub audit: AuditEvent,
}

#[async_trait]
pub trait ManagerStore: Send + Sync {
    async fn add_manager(&self, a: &ManagerAddition) -> Result<ManagerAdded, StoreError>;
    /// `false`: not a manager (any more).
    async fn remove_manager(
        &self,
        subscription_id: &str,
        customer_id: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn manager(&self, subscription_id: &str, customer_id: &str) -> Result<Option<Manager>, StoreError>;
    async fn managers(&self, subscription_id: &str) -> Result<Vec<Manager>, StoreError>;
    /// The ids of the subscriptions `customer_id` co-manages.
    async fn managed_by(&self, customer_id: &str) -> Result<Vec<String>, StoreError>;
    /// Replaces any earlier offer of the subscription; a new customer and their guard with it.
    async fn offer_ownership(
        &self,
        offer: &OwnershipOffer,
        new_customer: Option<&crate::model::Customer>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn ownership_offer(&self, subscription_id: &str) -> Result<Option<OwnershipOffer>, StoreError>;
    /// The offers made to `customer_id` (to show them in the portal).
    async fn ownership_offers_for(&self, customer_id: &str) -> Result<Vec<OwnershipOffer>, StoreError>;
    /// `false`: the offer is gone, expired or not theirs, or the owner changed meanwhile.
    async fn change_owner(&self, c: &OwnershipChange) -> Result<bool, StoreError>;
}
