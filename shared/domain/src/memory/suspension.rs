//! Suspension in memory, with the table's conditions: a seat suspended only while live as read
//! and its subscription suspended, restored only while suspended (onto a new subscription only
//! into a free seat), and the suspension's record deleted once, by whichever comes first.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

impl super::State {
    /// The restored seat written with its link, job and audit event (the conditions checked).
    fn restore(&mut self, r: &SeatRestore) {
        let now = r.audit.created_at;
        self.seats.insert((r.restored.subscription_id.clone(), r.restored.id.clone()), r.restored.clone());
        match &r.token {
            Some(t) => {
                self.claim_tokens.insert(t.token_hash.clone(), t.clone());
                self.put_invitation(&r.job, &t.token_hash, now.timestamp());
            }
            None => self.put_job(&r.job, now.timestamp()),
        }
        self.audit.push(r.audit.clone());
    }
}

#[async_trait]
impl SuspensionStore for MemoryStore {
    async fn suspend_seats(&self, batch: &[SeatSuspension]) -> Result<bool, StoreError> {
        self.with(|s| {
            let unchanged = |x: &SeatSuspension| {
                s.suspensions.contains_key(&x.seat.subscription_id)
                    && s.seats.get(&(x.seat.subscription_id.clone(), x.seat.id.clone())).is_some_and(|c| {
                        c.status == x.seat.status && c.claim_token_hash == x.seat.claim_token_hash
                    })
            };
            if !batch.iter().all(unchanged) {
                return false;
            }
            for x in batch {
                let key = (x.seat.subscription_id.clone(), x.seat.id.clone());
                let Some(current) = s.seats.get_mut(&key) else { continue };
                current.status = SeatStatus::Suspended;
                current.suspended_at = Some(x.at);
                current.suspended_from = Some(x.seat.status);
                if let Some(h) = current.claim_token_hash.take() {
                    s.claim_tokens.remove(&h);
                }
                if let Some(job) = &x.job {
                    s.put_job(job, x.at.timestamp());
                }
                s.audit.push(x.audit.clone());
            }
            true
        })
    }

    async fn restore_in_place(&self, batch: &[SeatRestore]) -> Result<bool, StoreError> {
        self.with(|s| {
            let Some(first) = batch.first() else { return true };
            let sub_id = &first.restored.subscription_id;
            // Only while the subscription takes seats and has not lapsed again meanwhile.
            let live = !s.suspensions.contains_key(sub_id)
                && s.subscriptions.get(sub_id).is_some_and(|sub| sub.status.allows_seat_changes());
            let suspended = batch.iter().all(|r| {
                r.restored.id == r.seat.id
                    && s.seats
                        .get(&(r.seat.subscription_id.clone(), r.seat.id.clone()))
                        .is_some_and(|c| c.status == SeatStatus::Suspended)
            });
            if !live || !suspended {
                return false;
            }
            for r in batch {
                s.restore(r);
            }
            true
        })
    }

    async fn restore_seat(&self, r: &SeatRestore) -> Result<RestoreOutcome, StoreError> {
        if r.restored.id == r.seat.id {
            return Ok(if self.restore_in_place(std::slice::from_ref(r)).await? {
                RestoreOutcome::Restored
            } else {
                RestoreOutcome::Gone
            });
        }
        self.with(|s| {
            let old = (r.seat.subscription_id.clone(), r.seat.id.clone());
            // The old seat as read (suspended, or still live with its link).
            if s.seats
                .get(&old)
                .is_none_or(|c| c.status != r.seat.status || c.claim_token_hash != r.seat.claim_token_hash)
            {
                return Ok(RestoreOutcome::Gone);
            }
            let to = &r.restored.subscription_id;
            let room = s.subscriptions.get(to).is_some_and(|sub| {
                sub.status.allows_seat_changes()
                    && sub.seats_assigned < sub.seats
                    && sub.seats_assigned < sub.assign_cap
            });
            if !room {
                return Ok(RestoreOutcome::Full);
            }
            if s.seat_emails.contains_key(&(to.clone(), r.restored.email.clone())) {
                return Ok(RestoreOutcome::EmailTaken);
            }
            let old_guard = (r.seat.subscription_id.clone(), r.seat.email.clone());
            let old_count = s.subscriptions.get(&r.seat.subscription_id).map_or(0, |sub| sub.seats_assigned);
            if s.seat_emails.get(&old_guard) != Some(&r.seat.id) || old_count < 1 {
                return Err(StoreError::Internal(format!(
                    "moving seat {}: its guard or count is out of step",
                    r.seat.id
                )));
            }
            if let Some(sub) = s.subscriptions.get_mut(to) {
                sub.seats_assigned += 1;
            }
            if let Some(sub) = s.subscriptions.get_mut(&r.seat.subscription_id) {
                sub.seats_assigned -= 1;
            }
            s.seat_emails.remove(&old_guard);
            s.seat_emails.insert((to.clone(), r.restored.email.clone()), r.restored.id.clone());
            let now = r.audit.created_at;
            if let Some(c) = s.seats.get_mut(&old) {
                c.status = SeatStatus::Revoked;
                c.revoked_at = Some(now);
                c.suspended_at = None;
                c.suspended_from = None;
                c.invitation_expires_at = None;
                if let Some(h) = c.claim_token_hash.take() {
                    s.claim_tokens.remove(&h);
                }
            }
            if let Some(job) = &r.old_seat_job {
                s.put_job(job, now.timestamp());
            }
            if let Some(a) = &r.old_audit {
                s.audit.push(a.clone());
            }
            s.restore(r);
            Ok(RestoreOutcome::Restored)
        })?
    }

    async fn reinstate_grant(
        &self,
        g: &Grant,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let held = s.seats.get(&(g.subscription_id.clone(), g.seat_id.clone())).is_some_and(|x| {
                x.status == SeatStatus::Claimed && x.customer_id.as_deref() == Some(g.customer_id.as_str())
            });
            let key = (g.customer_id.clone(), g.seat_id.clone(), g.benefit_id.clone());
            match s.grants.get_mut(&key) {
                Some(current) if held && current.status == GrantStatus::Revoked => {
                    current.status = GrantStatus::Granted;
                    current.granted_at = Some(at);
                    current.revoked_at = None;
                    current.reinstatements += 1;
                    s.audit.push(audit.clone());
                    true
                }
                _ => false,
            }
        })
    }

    async fn suspensions_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Suspension>, StoreError> {
        self.with(|s| {
            let mut due: Vec<Suspension> =
                s.suspensions.values().filter(|x| x.until <= now).cloned().collect();
            due.sort_by(|a, b| (a.until, &a.subscription_id).cmp(&(b.until, &b.subscription_id)));
            due.truncate(limit);
            due
        })
    }

    async fn end_suspension(
        &self,
        x: &Suspension,
        revoke_all: &Job,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            // This suspension, not a later one of the same subscription.
            if s.suspensions.get(&x.subscription_id).is_none_or(|now| now.until != x.until) {
                return false;
            }
            s.suspensions.remove(&x.subscription_id);
            if let Some(sub) = s.subscriptions.get_mut(&x.subscription_id) {
                sub.suspended_until = None;
            }
            s.put_job(revoke_all, audit.created_at.timestamp());
            s.audit.push(audit.clone());
            true
        })
    }
}
