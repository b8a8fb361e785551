//! Benefits follow claimed seats: the worker grants and revokes them from jobs (at least
//! once, in any order), and seat holders list and download theirs.

use super::audit::event;
use super::webhooks::announce;
use super::{App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::GrantOutcome;
use crate::views::{DownloadView, GrantView};
use chrono::Duration;
use rand::Rng;
use serde_json::json;

/// Crockford's base32 without I, L, O, U: easy to read aloud and type.
const KEY_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub fn new_license_key(prefix: Option<&str>) -> String {
    let mut rng = rand::rngs::OsRng;
    let groups: Vec<String> = (0..4)
        .map(|_| (0..5).map(|_| KEY_ALPHABET[rng.gen_range(0..KEY_ALPHABET.len())] as char).collect())
        .collect();
    match prefix {
        Some(p) => format!("{p}-{}", groups.join("-")),
        None => groups.join("-"),
    }
}

/// Does one job. Safe to repeat: a second delivery finds the grants made and changes nothing.
pub async fn process(app: &App, job: &Job) -> Result<(), DomainError> {
    match job.kind {
        JobKind::Grant => grant(app, job).await?,
        JobKind::Revoke => revoke(app, job).await?,
        JobKind::RevokeAll => return next_page(app, job, revoke_all(app, job).await?).await,
        JobKind::SuspendAll => {
            return next_page(app, job, super::suspension::suspend_page(app, job).await?).await
        }
        JobKind::Restore => {
            return next_page(app, job, super::suspension::restore_page(app, job).await?).await
        }
        // It leaves the outbox in the write that records the mail.
        JobKind::Invite => return super::invitations::send(app, job).await,
        // It leaves the outbox once mailed (or found no longer true).
        JobKind::PaymentFailed | JobKind::PaymentRecovered => return super::dunning::mail(app, job).await,
        // Never in the outbox: the queue's message is all there is of it.
        JobKind::SignIn => {
            return match &job.sign_in {
                Some(ask) => super::portal::mail_sign_in(app, ask).await,
                None => Err(DomainError::invalid("sign_in", "is missing from the job")),
            }
        }
    }
    app.store.finish_job(job).await?;
    Ok(())
}

/// A paged job (`revoke_all`, `suspend_all`, `restore`) after one page: the next one, or done.
async fn next_page(app: &App, job: &Job, next: Option<Job>) -> Result<(), DomainError> {
    let Some(next) = next else {
        app.store.finish_job(job).await?;
        return Ok(());
    };
    // The progress is the outbox entry's cursor, written before the next page is sent: a
    // page lost or dead-lettered in the queue is sent again by the sweeper.
    app.store.advance_job(&next, app.clock.now().timestamp()).await?;
    if let Err(e) = app.jobs.enqueue(std::slice::from_ref(&next)).await {
        tracing::warn!(subscription_id = %job.subscription_id, kind = next.kind.as_str(), error = %e, "next page not sent; the sweeper will send it");
    }
    Ok(())
}

async fn grant(app: &App, job: &Job) -> Result<(), DomainError> {
    let seat = app.store.seat(&job.subscription_id, &job.seat_id).await?;
    let held = seat.as_ref().is_some_and(|s| {
        s.status == SeatStatus::Claimed && s.customer_id.as_deref() == Some(job.customer_id.as_str())
    });
    if !held {
        // Revoked (or never claimed by this holder) before the job ran: grant nothing.
        tracing::info!(seat_id = %job.seat_id, "grant job for a seat that is no longer claimed; nothing granted");
        return Ok(());
    }
    let Some(sub) = app.store.subscription(&job.subscription_id).await? else {
        return Ok(());
    };
    let Some(product) = app.store.product(&sub.product_id).await? else {
        return Ok(());
    };
    for benefit_id in &product.benefit_ids {
        let Some(benefit) = app.store.benefit(benefit_id).await? else {
            continue;
        };
        for _ in 0..3 {
            let now = app.clock.now();
            let (kind, license_key, object_key, filename) = match &benefit.kind {
                BenefitKind::LicenseKey { prefix, .. } => {
                    ("license_key", Some(new_license_key(prefix.as_deref())), None, None)
                }
                BenefitKind::FileDownload { object_key, filename, .. } => {
                    ("file_download", None, Some(object_key.clone()), Some(filename.clone()))
                }
            };
            let g = Grant {
                id: ids::new_id(ids::GRANT),
                customer_id: job.customer_id.clone(),
                seat_id: job.seat_id.clone(),
                subscription_id: job.subscription_id.clone(),
                benefit_id: benefit.id.clone(),
                benefit_type: kind.into(),
                benefit_name: benefit.name.clone(),
                status: GrantStatus::Granted,
                granted_at: Some(now),
                revoked_at: None,
                license_key,
                object_key,
                filename,
                reinstatements: 0,
            };
            let audit = event(
                app,
                &job.subscription_id,
                "benefit.granted",
                "system".into(),
                json!({"seat_id": job.seat_id, "customer_id": job.customer_id, "benefit_id": benefit.id, "grant_id": g.id}),
            )
            .announcing(announce::grant(app, "benefit.granted", &sub.organization_id, &g));
            let license = g.license_key.as_deref().map(|k| LicenseKeyRecord {
                key_hash: crate::secrets::hash(k),
                organization_id: sub.organization_id.clone(),
                customer_id: g.customer_id.clone(),
                seat_id: g.seat_id.clone(),
                subscription_id: g.subscription_id.clone(),
                benefit_id: g.benefit_id.clone(),
                grant_id: g.id.clone(),
                activation_limit: match &benefit.kind {
                    BenefitKind::LicenseKey { activation_limit, .. } => *activation_limit,
                    BenefitKind::FileDownload { .. } => None,
                },
                activations: 0,
            });
            match app.store.put_grant(&g, license.as_ref(), &audit).await? {
                GrantOutcome::Granted => {
                    tracing::info!(seat_id = %job.seat_id, grant_id = %g.id, metric = "grants_done", "benefit granted");
                    announce::announce(app, [&audit]).await;
                    break;
                }
                GrantOutcome::Exists => {
                    reinstate(app, job, &sub.organization_id, &benefit.id).await?;
                    break;
                }
                GrantOutcome::SeatNotClaimed => return Ok(()),
                GrantOutcome::KeyTaken => continue,
            }
        }
    }
    Ok(())
}

/// A seat restored in place finds its grant revoked by the suspension: granted again as it
/// was, so the holder's license key works again. A live grant (a repeat delivery) stays.
async fn reinstate(app: &App, job: &Job, organization_id: &str, benefit_id: &str) -> Result<(), DomainError> {
    let grants = app.store.grants_of_customer(&job.customer_id).await?;
    let Some(g) = grants
        .into_iter()
        .find(|g| g.seat_id == job.seat_id && g.benefit_id == benefit_id && g.status == GrantStatus::Revoked)
    else {
        return Ok(());
    };
    let now = app.clock.now();
    let mut granted = g.clone();
    granted.status = GrantStatus::Granted;
    granted.granted_at = Some(now);
    granted.revoked_at = None;
    granted.reinstatements += 1;
    let audit = event(
        app,
        &job.subscription_id,
        "benefit.granted",
        "system".into(),
        json!({"seat_id": job.seat_id, "customer_id": job.customer_id, "benefit_id": g.benefit_id, "grant_id": g.id, "reinstated": true}),
    )
    .announcing(announce::grant(app, "benefit.granted", organization_id, &granted));
    if app.store.reinstate_grant(&g, now, &audit).await? {
        tracing::info!(seat_id = %job.seat_id, grant_id = %g.id, metric = "grants_done", "benefit granted again");
        announce::announce(app, [&audit]).await;
    }
    Ok(())
}

async fn revoke(app: &App, job: &Job) -> Result<(), DomainError> {
    let grants = app.store.grants_of_customer(&job.customer_id).await?;
    let live: Vec<&Grant> =
        grants.iter().filter(|g| g.seat_id == job.seat_id && g.status != GrantStatus::Revoked).collect();
    if live.is_empty() {
        return Ok(());
    }
    let org = match app.store.subscription(&job.subscription_id).await? {
        Some(sub) => sub.organization_id,
        None => return Err(DomainError::Internal("a grant without its subscription".into())),
    };
    for g in live {
        let now = app.clock.now();
        let mut revoked = g.clone();
        revoked.status = GrantStatus::Revoked;
        revoked.revoked_at = Some(now);
        let audit = event(
            app,
            &job.subscription_id,
            "benefit.revoked",
            "system".into(),
            json!({"seat_id": job.seat_id, "customer_id": job.customer_id, "benefit_id": g.benefit_id, "grant_id": g.id}),
        )
        .announcing(announce::grant(app, "benefit.revoked", &org, &revoked));
        if app.store.revoke_grant(g, now, &audit).await? {
            tracing::info!(seat_id = %job.seat_id, grant_id = %g.id, "benefit revoked");
            announce::announce(app, [&audit]).await;
        }
    }
    Ok(())
}

/// Seats revoked per `revoke_all` message: 100 transactions take about a second, so even a
/// 10,000-seat subscription is 100 short invocations, never one long one.
pub const REVOKE_ALL_PAGE: i32 = 100;

/// One page of a lapsed subscription's seats: revoke the live ones and send their benefit
/// revoke jobs. Returns the next page's job, if any (the outbox entry stays until the last).
async fn revoke_all(app: &App, job: &Job) -> Result<Option<Job>, DomainError> {
    let page =
        app.store.seats_page(&job.subscription_id, None, job.cursor.as_deref(), REVOKE_ALL_PAGE).await?;
    let mut benefit_jobs = Vec::new();
    for seat in page.seats.iter().filter(|s| s.status != SeatStatus::Revoked) {
        let mut current = seat.clone();
        for _ in 0..3 {
            match super::seats::revoke_record(app, &current, "system:lapse".into()).await? {
                Some((_, j)) => {
                    benefit_jobs.extend(j);
                    break;
                }
                None => match app.store.seat(&seat.subscription_id, &seat.id).await? {
                    Some(s) if s.status != SeatStatus::Revoked => current = s,
                    _ => break,
                },
            }
        }
    }
    if !benefit_jobs.is_empty() {
        // Sent in batches of ten by the queue; on failure they stay in the outbox.
        if let Err(e) = app.jobs.enqueue(&benefit_jobs).await {
            tracing::warn!(subscription_id = %job.subscription_id, error = %e, "benefit revoke jobs not sent; the sweeper will send them");
        }
    }
    Ok(page.next_cursor.map(|next| Job::revoke_all(&job.subscription_id, Some(next))))
}

pub async fn my_benefits(app: &App, who: &Principal) -> Result<Vec<GrantView>, DomainError> {
    let (customer_id, _) = who.require_customer()?;
    let grants = app.store.grants_of_customer(customer_id).await?;
    Ok(grants.iter().map(GrantView::from).collect())
}

/// A short-lived download URL for one of the caller's granted files; anything else is 404.
/// The caller's own grant `grant_id` (a seat holder's); anyone else's is `not_found`.
pub async fn my_grant(app: &App, who: &Principal, grant_id: &str) -> Result<Grant, DomainError> {
    let (customer_id, _) = who.require_customer()?;
    if !ids::is_valid(ids::GRANT, grant_id) {
        return Err(DomainError::NotFound("grant"));
    }
    let grants = app.store.grants_of_customer(customer_id).await?;
    grants.into_iter().find(|g| g.id == grant_id).ok_or(DomainError::NotFound("grant"))
}

pub async fn download(app: &App, who: &Principal, grant_id: &str) -> Result<DownloadView, DomainError> {
    let g = my_grant(app, who, grant_id).await?;
    let (Some(key), Some(filename), GrantStatus::Granted) = (&g.object_key, &g.filename, g.status) else {
        return Err(DomainError::NotFound("grant"));
    };
    let ttl = app.settings.download_url_ttl_s;
    let url = app.files.presign_download(key, filename, ttl).await?;
    Ok(DownloadView { url, expires_at: app.clock.now() + Duration::seconds(ttl as i64) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_keys_have_the_prefix_and_differ() {
        let a = new_license_key(Some("ACME"));
        let b = new_license_key(Some("ACME"));
        assert!(a.starts_with("ACME-"));
        assert_eq!(a.len(), 4 + 1 + 4 * 5 + 3);
        assert_ne!(a, b);
        assert!(!new_license_key(None).contains("ACME"));
    }
}
