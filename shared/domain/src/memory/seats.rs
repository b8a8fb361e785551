//! The in-memory seat writes: assign, revoke and transfer, each checking every condition the
//! table's transaction checks before it changes anything (all or nothing, as a transaction).

use super::State;
use crate::model::*;
use crate::ports::{
    AssignOutcome, ClaimedAssignOutcome, ClaimedAssignment, SeatAssignment, SeatRevocation, SeatTransfer,
    TransferOutcome,
};

impl State {
    /// Whether the revocation's seat is still as it was read.
    pub(super) fn seat_as_read(&self, r: &SeatRevocation) -> bool {
        self.seats.get(&(r.seat.subscription_id.clone(), r.seat.id.clone())).is_some_and(|current| {
            current.status != SeatStatus::Revoked
                && current.status == r.seat.status
                && current.claim_token_hash == r.seat.claim_token_hash
        })
    }

    pub(super) fn invitation_allowed(&self, a: &SeatAssignment) -> bool {
        self.rate_counters.get(&a.limit.key).is_none_or(|h| *h < a.limit.max)
    }

    /// The assignment's writes, the counter aside.
    pub(super) fn put_assignment(&mut self, a: &SeatAssignment) {
        let sub_id = a.seat.subscription_id.clone();
        *self.rate_counters.entry(a.limit.key.clone()).or_default() += 1;
        self.seat_emails.insert((sub_id.clone(), a.seat.email.clone()), a.seat.id.clone());
        self.claim_tokens.insert(a.token.token_hash.clone(), a.token.clone());
        self.seats.insert((sub_id, a.seat.id.clone()), a.seat.clone());
        self.audit.push(a.audit.clone());
        self.put_invitation(&a.invitation, &a.token.token_hash, a.seat.invited_at.timestamp());
    }

    /// The revocation's writes, the counter aside.
    fn put_revocation(&mut self, r: &SeatRevocation) {
        let key = (r.seat.subscription_id.clone(), r.seat.id.clone());
        if let Some(current) = self.seats.get_mut(&key) {
            current.status = SeatStatus::Revoked;
            current.revoked_at = Some(r.revoked_at);
            current.invitation_expires_at = None;
            if let Some(h) = current.claim_token_hash.take() {
                self.claim_tokens.remove(&h);
            }
        }
        self.seat_emails.remove(&(r.seat.subscription_id.clone(), r.seat.email.clone()));
        if let Some(job) = &r.job {
            self.put_job(job, r.revoked_at.timestamp());
        }
        self.audit.push(r.audit.clone());
    }

    pub(super) fn assign_seat(&mut self, a: &SeatAssignment) -> AssignOutcome {
        let sub_id = a.seat.subscription_id.clone();
        if self.seat_emails.contains_key(&(sub_id.clone(), a.seat.email.clone())) {
            return AssignOutcome::AlreadyAssigned;
        }
        let room = self.subscriptions.get(&sub_id).is_some_and(|sub| {
            sub.status.allows_seat_changes() && sub.seats_assigned < sub.assign_cap.min(sub.seats)
        });
        if !room {
            return AssignOutcome::NoSeats;
        }
        if !self.invitation_allowed(a) {
            return AssignOutcome::RateLimited;
        }
        if let Some(sub) = self.subscriptions.get_mut(&sub_id) {
            sub.seats_assigned += 1;
        }
        self.put_assignment(a);
        AssignOutcome::Assigned
    }

    pub(super) fn assign_claimed_seat(&mut self, a: &ClaimedAssignment) -> ClaimedAssignOutcome {
        let sub_id = a.seat.subscription_id.clone();
        if self.seat_emails.contains_key(&(sub_id.clone(), a.seat.email.clone())) {
            return ClaimedAssignOutcome::AlreadyAssigned;
        }
        let room = self.subscriptions.get(&sub_id).is_some_and(|sub| {
            sub.status.allows_seat_changes() && sub.seats_assigned < sub.assign_cap.min(sub.seats)
        });
        if !room {
            return ClaimedAssignOutcome::NoSeats;
        }
        if let Some(c) = &a.new_customer {
            if self.customer_emails.contains_key(&(c.organization_id.clone(), c.email.clone())) {
                return ClaimedAssignOutcome::HolderExists;
            }
            self.customer_emails.insert((c.organization_id.clone(), c.email.clone()), c.id.clone());
            self.customers.insert(c.id.clone(), c.clone());
        }
        if let Some(sub) = self.subscriptions.get_mut(&sub_id) {
            sub.seats_assigned += 1;
        }
        self.seat_emails.insert((sub_id.clone(), a.seat.email.clone()), a.seat.id.clone());
        self.seats.insert((sub_id, a.seat.id.clone()), a.seat.clone());
        self.audit.push(a.audit.clone());
        self.put_job(&a.grant, a.audit.created_at.timestamp());
        ClaimedAssignOutcome::Assigned
    }

    pub(super) fn revoke_seat(&mut self, r: &SeatRevocation) -> bool {
        if !self.seat_as_read(r) {
            return false;
        }
        // An expired seat left the count when it expired.
        if r.seat.status.holds_a_seat() {
            if let Some(sub) = self.subscriptions.get_mut(&r.seat.subscription_id) {
                sub.seats_assigned -= 1;
            }
        }
        self.put_revocation(r);
        true
    }

    /// One seat out, one in, the counter unmoved.
    pub(super) fn transfer_seat(&mut self, t: &SeatTransfer) -> TransferOutcome {
        let live = self
            .subscriptions
            .get(&t.revocation.seat.subscription_id)
            .is_some_and(|sub| sub.status.allows_seat_changes());
        if !live {
            return TransferOutcome::NotLive;
        }
        if !self.seat_as_read(&t.revocation) {
            return TransferOutcome::SeatChanged;
        }
        let a = &t.assignment;
        if self.seat_emails.contains_key(&(a.seat.subscription_id.clone(), a.seat.email.clone())) {
            return TransferOutcome::AlreadyAssigned;
        }
        if !self.invitation_allowed(a) {
            return TransferOutcome::RateLimited;
        }
        self.put_revocation(&t.revocation);
        self.put_assignment(a);
        TransferOutcome::Transferred
    }
}
