//! The sweeper: jobs committed to the outbox whose SQS send failed (or whose worker died)
//! are sent again. Runs on a schedule; the worker's idempotence makes a resend harmless.

use super::App;
use crate::error::DomainError;
use crate::services::changes::settle::{self, INTENT_STALE_S};

/// An outbox entry is re-sent when it has not been sent for this long.
pub const STALE_AFTER_S: i64 = 60;
/// After this many re-sends the entry is left alone and logged for a person.
pub const MAX_ATTEMPTS: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sweep {
    pub resent: usize,
    pub given_up: usize,
    /// Money changes left in flight by a function that died, settled from the provider's state.
    pub changes_settled: usize,
}

pub async fn sweep(app: &App, stale_after_s: i64) -> Result<Sweep, DomainError> {
    let now = app.clock.now().timestamp();
    let entries = app.store.stale_jobs(now - stale_after_s, 500).await?;
    let mut out = Sweep::default();
    for e in entries {
        if e.attempts >= MAX_ATTEMPTS {
            tracing::error!(seat_id = %e.job.seat_id, kind = e.job.kind.as_str(), "benefit job keeps failing; left in the outbox");
            out.given_up += 1;
            continue;
        }
        app.jobs.enqueue(std::slice::from_ref(&e.job)).await?;
        app.store.touch_job(&e.job, now).await?;
        out.resent += 1;
    }
    out.changes_settled = settle_stale_changes(app).await?;
    Ok(out)
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
