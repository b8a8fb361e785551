//! Rate limits, kept in the table as fixed windows (one conditional update per check, the
//! counter expiring with its window): so that no one can mail an inbox on every call or burn
//! the sender's reputation, which would stop every invitation.

use super::App;
use crate::error::DomainError;
use crate::ports::RateHit;
use crate::secrets;

/// One limit: at most `max` hits per `window_s` seconds for `subject` (hashed into the key,
/// so no email or address is written).
#[derive(Debug, Clone)]
pub struct Limit<'a> {
    pub name: &'static str,
    pub subject: &'a str,
    pub max: u32,
    pub window_s: i64,
}

/// Sign-in links per (organization, email): a person asks a few times, not more.
pub fn sign_in_per_email<'a>(subject: &'a str) -> Limit<'a> {
    Limit { name: "signin-email", subject, max: 5, window_s: 15 * 60 }
}
/// Sign-in links per organization, whoever asks.
pub fn sign_in_per_organization<'a>(subject: &'a str) -> Limit<'a> {
    Limit { name: "signin-org", subject, max: 300, window_s: 3600 }
}
/// Re-sent invitations per seat.
pub fn resend_per_seat<'a>(subject: &'a str) -> Limit<'a> {
    Limit { name: "resend-seat", subject, max: 5, window_s: 3600 }
}
/// Invitations (assigns and re-sends) per subscription.
pub fn invitations_per_subscription<'a>(subject: &'a str) -> Limit<'a> {
    Limit { name: "invite-sub", subject, max: 1000, window_s: 3600 }
}
/// Anonymous requests per source address (sign-in, sessions, claims, checkouts, public reads),
/// `max` a minute (`ANONYMOUS_REQUESTS_PER_MINUTE`, 120 by default).
pub fn anonymous_per_ip(subject: &str, max: u32) -> Limit<'_> {
    Limit { name: "ip", subject, max, window_s: 60 }
}

/// The hit a request makes on `l` now: the counter's key (limit, subject's hash, window) and
/// the window's end.
pub fn hit(app: &App, l: &Limit<'_>) -> RateHit {
    let now = app.clock.now().timestamp();
    let start = now - now.rem_euclid(l.window_s);
    RateHit {
        key: format!("{}#{}#{start}", l.name, &secrets::hash(l.subject)[..32]),
        window_ends_at: start + l.window_s,
        max: l.max,
    }
}

/// The answer to a request over the limit of `hit`.
pub fn refused(app: &App, name: &str, hit: &RateHit) -> DomainError {
    tracing::info!(limit = name, metric = "rate_limited", "rate limited");
    DomainError::RateLimited { retry_after_s: (hit.window_ends_at - app.clock.now().timestamp()).max(1) }
}

/// Counts a hit on each limit, in order; the first one over answers 429 with the seconds to
/// its window's end.
pub async fn check(app: &App, limits: &[Limit<'_>]) -> Result<(), DomainError> {
    for l in limits {
        let h = hit(app, l);
        if !app.store.count_hit(&h.key, h.window_ends_at, h.max).await? {
            return Err(refused(app, l.name, &h));
        }
    }
    Ok(())
}
