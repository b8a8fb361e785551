//! The ports of suspension: a lapsed subscription's seats kept (benefits revoked) for a window,
//! restored by a reactivation within it, revoked by the sweeper at its end. The suspension's
//! record is the one thing a restore and the sweeper's revoke both delete, under the condition
//! that it exists: exactly one of them happens.

use crate::error::StoreError;
use crate::model::{AuditEvent, ClaimToken, Grant, Job, Seat};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A lapsed subscription's suspension: its seats wait for a reactivation until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    pub subscription_id: String,
    /// Whose purchase of `product_id` may restore the seats (the billing manager at the lapse).
    pub customer_id: String,
    pub product_id: String,
    pub lapsed_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// What a billing event does to the suspension, in the write that changes the status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SuspensionChange {
    #[default]
    None,
    /// The subscription lapsed: the record is written, `suspended_until` set.
    Begin(Suspension),
    /// The provider reactivated the same subscription: the record is deleted (it must still
    /// exist), `suspended_until` removed.
    End,
}

/// A purchase that restores a suspended subscription's seats, in the checkout's completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Restoration {
    /// The suspended subscription: its record is deleted (it must exist and not be past its
    /// end), `restored_into` set to the new subscription, only while `customer_id` owns it.
    pub from_subscription_id: String,
    pub customer_id: String,
    pub until: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// The `restore` job, in the outbox.
    pub job: Job,
}

/// A live seat (pending or claimed, as read) suspended: its link is deleted, it keeps its
/// email guard and its place in the count; a claimed seat's benefits are revoked by `job`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatSuspension {
    pub seat: Seat,
    pub at: DateTime<Utc>,
    pub job: Option<Job>,
    pub audit: AuditEvent,
}

/// A suspended seat (as read) brought back as `restored`: the same seat (in place, the count
/// unchanged) or a new seat of the new subscription, which takes one of its free seats while
/// the old one is revoked and leaves its count. A pending seat gets a new link (`token`) and
/// its invitation; a claimed one its grant job. Onto a new subscription the old seat may still
/// be live (the lapse's pages had not reached it): it is moved as read, its link deleted, and
/// a claimed one's benefits revoked by `old_seat_job`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatRestore {
    pub seat: Seat,
    pub restored: Seat,
    pub token: Option<ClaimToken>,
    pub job: Job,
    pub old_seat_job: Option<Job>,
    pub audit: AuditEvent,
    /// Moved: the old subscription's own record of the seat leaving (announcing its `seat.revoked`).
    pub old_audit: Option<AuditEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOutcome {
    Restored,
    /// The new subscription has no free seat left: nothing written.
    Full,
    /// The new subscription has a seat for that email already: nothing written.
    EmailTaken,
    /// The seat is no longer suspended (revoked meanwhile, or restored by a repeat delivery).
    Gone,
}

/// Seats per suspending write: three items each (the seat, its audit event, its link's delete
/// or its benefits' revoke job) and the suspension's check, within DynamoDB's 100.
pub const SUSPEND_PER_WRITE: usize = 25;
/// Seats per in-place restoring write: four items each (the seat, its new link, its audit
/// event, its job).
pub const RESTORE_PER_WRITE: usize = 20;

#[async_trait]
pub trait SuspensionStore: Send + Sync {
    /// Seats suspended together, in one write: all, or (one changed meanwhile, or the
    /// suspension is over) none. At most [`SUSPEND_PER_WRITE`].
    async fn suspend_seats(&self, s: &[SeatSuspension]) -> Result<bool, StoreError>;
    /// Seats restored in place together, in one write: all (each still suspended), or none.
    /// At most [`RESTORE_PER_WRITE`].
    async fn restore_in_place(&self, r: &[SeatRestore]) -> Result<bool, StoreError>;
    /// One seat restored, in place or onto the new subscription (whose counter it takes).
    async fn restore_seat(&self, r: &SeatRestore) -> Result<RestoreOutcome, StoreError>;
    /// A revoked grant (as read) granted again, while its seat is claimed by its holder: a
    /// seat restored in place gets its benefits back as they were (the same license key).
    /// `false`: not revoked, or the seat is not claimed by them.
    async fn reinstate_grant(
        &self,
        g: &Grant,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Suspensions whose end is at or before `now` (the sweeper's list), oldest first.
    async fn suspensions_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Suspension>, StoreError>;
    /// The sweeper ends a suspension: the record deleted (if it is still this one, ending
    /// `s.until`: `false` otherwise), `suspended_until` removed, `revoke_all` in the outbox,
    /// audited.
    async fn end_suspension(
        &self,
        s: &Suspension,
        revoke_all: &Job,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
}
