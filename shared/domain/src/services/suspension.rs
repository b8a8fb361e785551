//! Suspend and restore: a lapse suspends a subscription's seats instead of revoking them (the
//! benefits go, the people stay), a reactivation within [`SUSPENSION_DAYS`] brings them back,
//! and the sweeper revokes what is left when the window closes.
//!
//! Two reactivations restore: Stripe reactivating the same subscription (restored in place,
//! the count unchanged), and a new purchase of the same product by the same billing manager
//! (the seats move onto the new subscription, oldest first, up to its seats; the rest are
//! revoked). Both, and the sweeper's end, delete the suspension's record under the condition
//! that it exists, so exactly one of them happens.

use super::audit::event;
use super::webhooks::announce;
use super::App;
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::{
    RestoreOutcome, SeatRestore, SeatSuspension, Suspension, SuspensionChange, VoidOutcome,
    RESTORE_PER_WRITE, SUSPEND_PER_WRITE,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// How long a lapsed subscription's seats wait for a reactivation.
pub const SUSPENSION_DAYS: i64 = 30;

/// Seats per `suspend_all` / `restore` message, as for `revoke_all`.
pub const PAGE: i32 = 100;

/// What a status change from the provider does to the seats: a lapse begins a suspension
/// (and its `suspend_all` job); a return from a lapse while suspended ends it and restores
/// the seats in place. `canceled` never returns (the caller stops at it).
pub fn on_status_change(
    app: &App,
    sub: &Subscription,
    status: SubscriptionStatus,
) -> (Option<Job>, SuspensionChange) {
    let now = app.clock.now();
    if status.is_lapsed() && !sub.status.is_lapsed() {
        // Whole seconds, as the table keeps the end: "before the end" is the same test everywhere.
        let until = now + Duration::days(SUSPENSION_DAYS);
        let until = DateTime::from_timestamp(until.timestamp(), 0).unwrap_or(until);
        let suspension = Suspension {
            subscription_id: sub.id.clone(),
            customer_id: sub.customer_id.clone(),
            product_id: sub.product_id.clone(),
            lapsed_at: now,
            until,
        };
        return (Some(Job::suspend_all(&sub.id, None)), SuspensionChange::Begin(suspension));
    }
    // Within the window only: after it, the seats are the sweeper's to revoke (it may not have
    // run yet), whatever the provider says.
    if sub.status.is_lapsed() && !status.is_lapsed() && sub.suspended_until.is_some_and(|u| u > now) {
        return (Some(Job::restore(&sub.id, &sub.id, None)), SuspensionChange::End);
    }
    (None, SuspensionChange::None)
}

/// The suspended subscription a purchase of `product_id` by `customer_id` restores: the most
/// recently lapsed one still in its window and not restored already.
pub async fn restorable(
    app: &App,
    customer_id: &str,
    product_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Subscription>, DomainError> {
    let subs = app.store.subscriptions_of_billing_manager(customer_id).await?;
    Ok(subs
        .into_iter()
        .filter(|s| {
            s.product_id == product_id
                && s.customer_id == customer_id
                && s.status.is_lapsed()
                && s.restored_into.is_none()
                && s.suspended_until.is_some_and(|until| until > now)
        })
        .max_by_key(|s| s.suspended_until))
}

/// A purchase that takes a lapsed subscription's seats first ends that subscription at the
/// provider when the provider could still collect it (`unpaid`, `paused`: not final at Stripe).
/// Its open invoice is voided and the subscription cancelled. Otherwise a late payment would
/// bring back a subscription whose seats have moved, and bill the customer twice. Returns the
/// subscription to restore from, or `None` when the provider says it was paid meanwhile: its
/// reactivation restores the seats in place, so the purchase takes none. Idempotent (keyed by
/// the old subscription): a redelivered completion asks again and changes nothing more.
pub async fn end_at_provider(app: &App, old: Subscription) -> Result<Option<Subscription>, DomainError> {
    if !matches!(old.status, SubscriptionStatus::Unpaid | SubscriptionStatus::Paused) {
        return Ok(Some(old));
    }
    let provider = match app.payments.subscription(&old.provider_subscription_id).await {
        Err(e) if e.is_not_found() => return Ok(Some(old)),
        other => other?,
    };
    // Offline, nothing at a provider collects it.
    let Some(provider) = provider else { return Ok(Some(old)) };
    match provider.status.as_str() {
        "canceled" | "incomplete_expired" => return Ok(Some(old)),
        "active" | "trialing" => return Ok(paid_meanwhile(&old)),
        _ => {}
    }
    let key = format!("restore-{}", old.id);
    let mut open: Vec<String> =
        provider.latest_invoice.iter().filter(|i| i.status == "open").map(|i| i.id.clone()).collect();
    open.extend(old.dunning.as_ref().and_then(|d| d.invoice_id.clone()));
    open.dedup();
    for invoice in &open {
        if app.payments.void_invoice(invoice, &format!("{key}-{invoice}")).await? == VoidOutcome::Paid {
            return Ok(paid_meanwhile(&old));
        }
    }
    app.payments.cancel_now(&old.provider_subscription_id, &key).await?;
    Ok(Some(old))
}

fn paid_meanwhile(old: &Subscription) -> Option<Subscription> {
    tracing::warn!(subscription_id = %old.id, metric = "lapse_paid_at_provider", "a lapsed subscription was paid at the provider; its reactivation restores its seats, the new purchase takes none");
    None
}

fn is_live(status: SeatStatus) -> bool {
    matches!(status, SeatStatus::Pending | SeatStatus::Claimed)
}

/// One page of a lapsed subscription's seats suspended. Returns the next page's job.
pub async fn suspend_page(app: &App, job: &Job) -> Result<Option<Job>, DomainError> {
    let sub_id = &job.subscription_id;
    // Reactivated (or its window over) before this page ran: nothing more to suspend.
    if app.store.subscription(sub_id).await?.is_none_or(|s| s.suspended_until.is_none()) {
        return Ok(None);
    }
    let page = app.store.seats_page(sub_id, None, job.cursor.as_deref(), PAGE).await?;
    let live: Vec<&Seat> = page.seats.iter().filter(|s| is_live(s.status)).collect();
    let mut benefit_jobs = Vec::new();
    for chunk in live.chunks(SUSPEND_PER_WRITE) {
        let batch: Vec<SeatSuspension> = chunk.iter().map(|s| seat_suspension(app, s)).collect();
        if app.store.suspend_seats(&batch).await? {
            announce::announce(app, batch.iter().map(|x| &x.audit)).await;
            benefit_jobs.extend(batch.into_iter().filter_map(|x| x.job));
            continue;
        }
        // Reactivated meanwhile: nothing more to suspend. Else a seat changed (claimed,
        // revoked): one by one, each as it is now.
        if app.store.subscription(sub_id).await?.is_none_or(|s| s.suspended_until.is_none()) {
            return Ok(None);
        }
        for seat in chunk {
            let mut current = (*seat).clone();
            for _ in 0..3 {
                let one = seat_suspension(app, &current);
                if app.store.suspend_seats(std::slice::from_ref(&one)).await? {
                    announce::announce(app, [&one.audit]).await;
                    benefit_jobs.extend(one.job);
                    break;
                }
                match app.store.seat(sub_id, &seat.id).await? {
                    Some(s) if is_live(s.status) && s != current => current = s,
                    _ => break,
                }
            }
        }
    }
    if !benefit_jobs.is_empty() {
        // In the outbox already; the queue only makes them quick.
        if let Err(e) = app.jobs.enqueue(&benefit_jobs).await {
            tracing::warn!(subscription_id = %sub_id, error = %e, "benefit revoke jobs not sent; the sweeper will send them");
        }
    }
    Ok(page.next_cursor.map(|next| Job::suspend_all(sub_id, Some(next))))
}

fn seat_suspension(app: &App, seat: &Seat) -> SeatSuspension {
    let now = app.clock.now();
    let job = Job::revoke_benefits(seat);
    let mut after = seat.clone();
    after.status = SeatStatus::Suspended;
    after.suspended_at = Some(now);
    after.suspended_from = Some(seat.status);
    after.claim_token_hash = None;
    let audit = event(
        app,
        &seat.subscription_id,
        "seat.suspended",
        "system:lapse".into(),
        json!({"seat_id": seat.id, "email": seat.email, "was": seat.status}),
    )
    .announcing(announce::seat(app, "seat.suspended", &after));
    SeatSuspension { seat: seat.clone(), at: now, job, audit }
}

/// One page of a suspended subscription's seats restored (`job.seat_id` the suspended
/// subscription, `job.subscription_id` the one they go to). Returns the next page's job.
pub async fn restore_page(app: &App, job: &Job) -> Result<Option<Job>, DomainError> {
    let (from, to) = (&job.seat_id, &job.subscription_id);
    let Some(target) = app.store.subscription(to).await? else {
        return Ok(None);
    };
    // Lapsed again before this page ran: the new suspension keeps the seats (the write below
    // checks the same, for a lapse that comes while it runs).
    if from == to && (target.suspended_until.is_some() || !target.status.allows_seat_changes()) {
        return Ok(None);
    }
    // Onto a new subscription, the live seats come too: a purchase may complete before the
    // lapse's suspend pages reached them (they stop once the suspension is used up).
    let (filter, movable): (Option<SeatStatus>, fn(SeatStatus) -> bool) = if from == to {
        (Some(SeatStatus::Suspended), |s| s == SeatStatus::Suspended)
    } else {
        (None, |s| s == SeatStatus::Suspended || is_live(s))
    };
    let page = app.store.seats_page(from, filter, job.cursor.as_deref(), PAGE).await?;
    let suspended: Vec<&Seat> = page.seats.iter().filter(|s| movable(s.status)).collect();
    let mut jobs = Vec::new();
    let mut one_by_one: Vec<&Seat> = Vec::new();
    if from == to {
        // In place, the count unchanged: many seats a write; a chunk with a seat revoked
        // meanwhile goes one by one.
        for chunk in suspended.chunks(RESTORE_PER_WRITE) {
            let batch: Vec<SeatRestore> = chunk.iter().map(|s| seat_restore(app, s, &target)).collect();
            if app.store.restore_in_place(&batch).await? {
                tracing::info!(subscription_id = %to, seats = batch.len(), metric = "seats_restored", "seats restored");
                announce::announce(app, batch.iter().map(|r| &r.audit)).await;
                jobs.extend(batch.into_iter().map(|r| r.job));
            } else {
                one_by_one.extend(chunk);
            }
        }
    } else {
        one_by_one = suspended;
    }
    let mut full = false;
    for seat in one_by_one {
        if !full {
            let restore = seat_restore(app, seat, &target);
            match app.store.restore_seat(&restore).await? {
                RestoreOutcome::Restored => {
                    tracing::info!(seat_id = %seat.id, metric = "seats_restored", "seat restored");
                    announce::announce(app, std::iter::once(&restore.audit).chain(&restore.old_audit)).await;
                    jobs.extend(restore.old_seat_job);
                    jobs.push(restore.job);
                    continue;
                }
                RestoreOutcome::Gone => continue,
                // The new subscription has fewer seats than were suspended: the older ones
                // came back, the rest are revoked.
                RestoreOutcome::Full => full = true,
                // The person was given a seat of the new subscription already: the old
                // seat has nothing to come back to.
                RestoreOutcome::EmailTaken => {}
            }
        }
        let mut current = seat.clone();
        for _ in 0..3 {
            if super::seats::revoke_record(app, &current, "system:restore".into()).await?.is_some() {
                break;
            }
            match app.store.seat(from, &seat.id).await? {
                Some(s) if movable(s.status) && s != current => current = s,
                _ => break,
            }
        }
    }
    if !jobs.is_empty() {
        if let Err(e) = app.jobs.enqueue(&jobs).await {
            tracing::warn!(subscription_id = %to, error = %e, "restored seats' jobs not sent; the sweeper will send them");
        }
    }
    Ok(page.next_cursor.map(|next| Job::restore(from, to, Some(next))))
}

/// A suspended seat as it comes back: claimed with its grant job, or pending with a new link
/// and its invitation (the old link died with the lapse). Onto a new subscription it is a new
/// seat there, naming the one it replaces.
fn seat_restore(app: &App, seat: &Seat, target: &Subscription) -> SeatRestore {
    let now = app.clock.now();
    let in_place = seat.subscription_id == target.id;
    let mut restored = seat.clone();
    restored.suspended_at = None;
    restored.suspended_from = None;
    if in_place {
        restored.restorations += 1;
    } else {
        restored.id = ids::new_id(ids::SEAT);
        restored.subscription_id = target.id.clone();
        restored.organization_id = target.organization_id.clone();
        restored.reinvitations = 0;
        restored.restorations = 0;
    }
    // A live seat (moved before its suspension reached it) is what it is; a suspended one what
    // it was.
    let was = if seat.status == SeatStatus::Suspended { seat.suspended_from } else { Some(seat.status) };
    let was_claimed = was == Some(SeatStatus::Claimed) && seat.customer_id.is_some();
    let (job, token) = match (&seat.customer_id, was_claimed) {
        (Some(holder), true) => {
            restored.status = SeatStatus::Claimed;
            let grant = Job {
                kind: JobKind::Grant,
                seat_id: restored.id.clone(),
                subscription_id: target.id.clone(),
                customer_id: holder.clone(),
                cursor: None,
                claim_token: None,
                sign_in: None,
            };
            (grant, None)
        }
        _ => {
            restored.status = SeatStatus::Pending;
            restored.customer_id = None;
            restored.claimed_at = None;
            if !in_place {
                restored.invited_at = now;
            }
            let (raw, link) = super::invitations::new_link(app, &restored, target);
            restored.claim_token_hash = Some(link.token_hash.clone());
            restored.invitation_expires_at = Some(link.expires_at);
            (Job::invite(&target.id, &restored.id, Some(raw)), Some(link))
        }
    };
    let audit = event(
        app,
        &target.id,
        "seat.restored",
        "system:reactivation".into(),
        json!({
            "seat_id": restored.id,
            "email": restored.email,
            "status": restored.status,
            "restored_from": {"subscription_id": seat.subscription_id, "seat_id": seat.id},
        }),
    )
    .announcing(announce::seat(app, "seat.restored", &restored));
    // Moved: the old subscription records the seat leaving, and a receiver tracking the old
    // seat by its id hears it revoked.
    let old_audit = (!in_place).then(|| {
        let mut old = seat.clone();
        old.status = SeatStatus::Revoked;
        old.revoked_at = Some(now);
        old.suspended_at = None;
        old.suspended_from = None;
        event(
            app,
            &seat.subscription_id,
            "seat.revoked",
            "system:reactivation".into(),
            json!({"seat_id": seat.id, "email": seat.email, "was": seat.status, "restored_into": {"subscription_id": target.id, "seat_id": restored.id}}),
        )
        .announcing(announce::seat(app, "seat.revoked", &old))
    });
    // A claimed seat moved while live still holds its benefits: they are revoked.
    let old_seat_job = if in_place { None } else { Job::revoke_benefits(seat) };
    SeatRestore { seat: seat.clone(), restored, token, job, old_seat_job, audit, old_audit }
}

/// The sweeper: suspensions whose window closed end, and their seats are revoked (`revoke_all`).
pub async fn end_due(app: &App, limit: usize) -> Result<usize, DomainError> {
    let now = app.clock.now();
    let mut ended = 0;
    for s in app.store.suspensions_due(now, limit).await? {
        let job = Job::revoke_all(&s.subscription_id, None);
        let audit = event(
            app,
            &s.subscription_id,
            "subscription.suspension_ended",
            "system".into(),
            json!({"lapsed_at": s.lapsed_at, "suspended_until": s.until}),
        );
        if app.store.end_suspension(&s, &job, &audit).await? {
            ended += 1;
            tracing::info!(subscription_id = %s.subscription_id, metric = "suspensions_ended", "suspension over; its seats are revoked");
            if let Err(e) = app.jobs.enqueue(std::slice::from_ref(&job)).await {
                tracing::warn!(subscription_id = %s.subscription_id, error = %e, "revoke-all job not sent; the sweeper will send it");
            }
        }
    }
    Ok(ended)
}
