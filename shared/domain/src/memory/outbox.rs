//! The in-memory outbox: jobs committed with their cause, an invitation's with its link's hash
//! (never the token), re-sent, advanced (a fan-out's cursor) and dead-lettered as the table does.

use super::State;
use crate::model::*;
use crate::ports::OutboxEntry;

impl State {
    pub(super) fn pending_invitation(&self, job: &Job, hash: &str) -> Option<Option<ClaimToken>> {
        let ours = self.outbox.contains_key(&(JobKind::Invite, job.seat_id.clone()))
            && self.invite_hashes.get(&job.seat_id).map(String::as_str) == Some(hash);
        ours.then(|| self.claim_tokens.get(hash).cloned())
    }

    pub(super) fn finish_invitation(&mut self, job: &Job, hash: &str, audit: Option<&AuditEvent>) -> bool {
        let key = (JobKind::Invite, job.seat_id.clone());
        if !self.outbox.contains_key(&key)
            || self.invite_hashes.get(&job.seat_id).map(String::as_str) != Some(hash)
        {
            return false;
        }
        self.outbox.remove(&key);
        self.invite_hashes.remove(&job.seat_id);
        self.audit.extend(audit.cloned());
        true
    }

    pub(super) fn advance_job(&mut self, job: &Job, now: i64) {
        if let Some(e) = self.outbox.get_mut(&(job.kind, job.seat_id.clone())) {
            e.job = job.for_outbox();
            e.attempts = 0;
            e.enqueued_at = now;
        }
    }

    pub(super) fn dead_letter_job(&mut self, dead: &DeadJob) {
        if self.outbox.remove(&(dead.job.kind, dead.job.seat_id.clone())).is_some() {
            self.dead_jobs.push(dead.clone());
        }
    }

    pub(super) fn touch_job(&mut self, job: &Job, now: i64) {
        if let Some(e) = self.outbox.get_mut(&(job.kind, job.seat_id.clone())) {
            e.attempts += 1;
            e.enqueued_at = now;
        }
    }

    pub(super) fn put_job(&mut self, job: &Job, now: i64) {
        let job = job.for_outbox();
        self.outbox
            .insert((job.kind, job.seat_id.clone()), OutboxEntry { job, attempts: 0, enqueued_at: now });
    }
    pub(super) fn put_invitation(&mut self, job: &Job, token_hash: &str, now: i64) {
        self.put_job(job, now);
        self.invite_hashes.insert(job.seat_id.clone(), token_hash.to_string());
    }
}
