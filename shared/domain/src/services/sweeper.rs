//! The sweeper: jobs committed to the outbox whose SQS send failed (or whose worker died)
//! are sent again, and so is webhook work whose message was lost or waits longer than SQS
//! holds one. Runs on a schedule; the worker's idempotence makes a resend harmless.

use super::App;
use crate::error::DomainError;
use crate::model::DeadJob;
use crate::services::changes::settle::{self, INTENT_STALE_S};

/// An outbox entry is re-sent when it has not been sent for this long. Deployed, the sweeper
/// is given the queue's visibility window plus a minute (`SWEEP_STALE_AFTER_S`), so a job is
/// never re-sent while SQS still holds it for a retry of its own.
pub const STALE_AFTER_S: i64 = 60;
/// After this many re-sends the entry leaves the outbox for a dead-letter record.
pub const MAX_ATTEMPTS: i64 = 10;
/// Entries re-sent per sweep (a minute's tick), and pages of the outbox read at most.
const RESEND_PER_SWEEP: usize = 500;
const ROUNDS: usize = 10;
/// Invitations expired per sweep: a minute's tick keeps up with any realistic backlog.
const EXPIRE_PER_SWEEP: usize = 500;
/// Cancellations looked at per sweep (each may ask the provider).
const CANCELLATIONS_PER_SWEEP: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sweep {
    pub resent: usize,
    /// Entries moved to the dead-letter records this sweep.
    pub given_up: usize,
    /// Money changes left in flight by a function that died, settled from the provider's state.
    pub changes_settled: usize,
    /// Announced changes whose webhook dispatch was lost, dispatched now.
    pub webhooks_dispatched: usize,
    /// Webhook deliveries due that no message carried, sent again.
    pub webhook_deliveries_resent: usize,
    /// Pending seats whose invitation ran out, freed.
    pub invitations_expired: usize,
    /// Seats reserved by batches that died half-way, given back.
    pub reservations_released: usize,
    /// Lapsed subscriptions whose suspension window closed: their seats are being revoked.
    pub suspensions_ended: usize,
    /// Subscriptions set to cancel whose period ended, lapsed now (offline, or Stripe's end
    /// event lost).
    pub cancellations_ended: usize,
    /// Unpaid subscriptions whose grace days ended, lapsed now (and cancelled at the provider).
    pub unpaid_lapsed: usize,
}

pub async fn sweep(app: &App, stale_after_s: i64) -> Result<Sweep, DomainError> {
    let now = app.clock.now();
    let cutoff = now.timestamp() - stale_after_s;
    let mut out = Sweep::default();
    // Given-up entries leave the index as they are found, so they never fill a read: each
    // round reads what is left, until enough were re-sent or nothing stale remains.
    for _ in 0..ROUNDS {
        let entries = app.store.stale_jobs(cutoff, RESEND_PER_SWEEP - out.resent).await?;
        if entries.is_empty() {
            break;
        }
        for e in entries {
            if e.attempts >= MAX_ATTEMPTS {
                tracing::error!(seat_id = %e.job.seat_id, kind = e.job.kind.as_str(), metric = "jobs_dead_lettered", "job given up after its re-sends; moved to the dead-letter records");
                let dead = DeadJob {
                    reason: format!("not done after {} re-sends", e.attempts),
                    attempts: e.attempts,
                    job: e.job,
                    dead_at: now,
                };
                app.store.dead_letter_job(&dead).await?;
                out.given_up += 1;
                continue;
            }
            app.jobs.enqueue(std::slice::from_ref(&e.job)).await?;
            app.store.touch_job(&e.job, now.timestamp()).await?;
            out.resent += 1;
        }
        if out.resent >= RESEND_PER_SWEEP {
            break;
        }
    }
    out.changes_settled = settle_stale_changes(app).await?;
    // Expiry and reservations have their own retries (the next tick): never fail the jobs' sweep.
    match super::invitations::expire_due(app, EXPIRE_PER_SWEEP).await {
        Ok(n) => out.invitations_expired = n,
        Err(e) => tracing::warn!(error = %e, "invitations not expired yet; the next sweep tries again"),
    }
    match super::batch::release_stale(app).await {
        Ok(n) => out.reservations_released = n,
        Err(e) => {
            tracing::warn!(error = %e, "seat reservations not released yet; the next sweep tries again")
        }
    }
    match super::suspension::end_due(app, EXPIRE_PER_SWEEP).await {
        Ok(n) => out.suspensions_ended = n,
        Err(e) => tracing::warn!(error = %e, "suspensions not ended yet; the next sweep tries again"),
    }
    // Webhook work is the merchant's, not the seats': its trouble never fails the jobs' sweep.
    match super::webhooks::send::sweep(app, stale_after_s).await {
        Ok(hooks) => {
            (out.webhooks_dispatched, out.webhook_deliveries_resent) = (hooks.dispatched, hooks.resent)
        }
        Err(e) => tracing::warn!(error = %e, "webhook work not swept; the next sweep tries again"),
    }
    match super::dunning::end_due(app, CANCELLATIONS_PER_SWEEP).await {
        Ok(n) => out.unpaid_lapsed = n,
        Err(e) => {
            tracing::warn!(error = %e, "unpaid subscriptions not lapsed yet; the next sweep tries again")
        }
    }
    // Last: it may wait on the provider, within a budget of its own.
    match super::changes::cancel::end_due(app, CANCELLATIONS_PER_SWEEP).await {
        Ok(n) => out.cancellations_ended = n,
        Err(e) => tracing::warn!(error = %e, "cancellations not ended yet; the next sweep tries again"),
    }
    Ok(out)
}

/// The dead-letter records, for an operator.
pub async fn dead_jobs(app: &App, who: &super::Principal, limit: usize) -> Result<Vec<DeadJob>, DomainError> {
    who.require_operator()?;
    Ok(app.store.dead_jobs(limit).await?)
}

/// Settles every change intent older than [`INTENT_STALE_S`] from the provider's state.
pub async fn settle_stale_changes(app: &App) -> Result<usize, DomainError> {
    let cutoff = app.clock.now().timestamp() - INTENT_STALE_S;
    let mut settled = 0;
    for id in app.store.stale_intents(cutoff, 100).await? {
        let Some(sub) = app.store.subscription(&id).await? else { continue };
        let (intent, pending) = (sub.change_intent.is_some(), sub.pending_change.is_some());
        match settle::heal(app, sub).await {
            // Counted when something moved (a pending change the provider still holds stays).
            Ok(after)
                if after.change_intent.is_some() != intent || after.pending_change.is_some() != pending =>
            {
                settled += 1
            }
            Ok(_) => {}
            // One subscription's provider trouble must not stop the others.
            Err(e) => {
                tracing::warn!(subscription_id = %id, error = %e, "change left in flight not settled yet")
            }
        }
    }
    Ok(settled)
}
