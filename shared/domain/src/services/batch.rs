//! Bulk assign: up to 500 emails at once. Every row is checked and answered on its own; the free
//! seats for all good rows are reserved first with one conditional counter update, so a batch
//! that does not fit is refused whole before any seat is written; the seats then go in
//! transactions under that reservation, and what was not used is given back.

use super::seats::{metadata, new_assignment};
use super::webhooks::announce::announce;
use super::{portal, App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::ports::{ReservationOutcome, SeatReservation};
use crate::validate;
use crate::views::SeatView;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

pub const MAX_ROWS: usize = 500;
/// A reservation left open this long belongs to a batch that died: the sweeper gives it back
/// (a batch runs for seconds, under the API's 30-second limit).
pub const RESERVATION_STALE_S: i64 = 15 * 60;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBatch {
    /// Rows are read one by one, so that a bad row is answered instead of failing the batch.
    pub seats: Vec<Value>,
    #[serde(default)]
    pub notify: Option<bool>,
    /// On a full subscription whose product grows when full: buy the seats the rows need
    /// beyond the free ones (the 402's preview) and assign them all.
    #[serde(default)]
    pub confirm_charge: Option<bool>,
    #[serde(default)]
    pub proration_date: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchRow {
    pub index: usize,
    /// The email as given (normalized when it is one).
    pub email: String,
    /// `created` (or `will_be_created` in a preview) / `refused`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<SeatView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RowError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchResult {
    pub created: usize,
    pub refused: usize,
    /// Previews only: the good rows, which would be invited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub will_be_created: Option<usize>,
    pub rows: Vec<BatchRow>,
    pub seats_assigned: i64,
    pub seats_available: i64,
}

fn refused(code: &'static str, message: impl Into<String>) -> Option<RowError> {
    Some(RowError { code, message: message.into() })
}

/// A good row: its normalized email and its metadata.
type GoodRow = (String, Map<String, Value>);

/// A row's email (as given, normalized when it is one) and the good row, or why it is refused.
fn read_row(row: &Value) -> (String, Result<GoodRow, RowError>) {
    let Some(obj) = row.as_object() else {
        return (
            String::new(),
            Err(RowError { code: "invalid_request", message: "a row is {email, metadata?}".into() }),
        );
    };
    let given = obj.get("email").and_then(Value::as_str).unwrap_or_default().to_string();
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "email" | "metadata")) {
        return (given, Err(RowError { code: "invalid_request", message: format!("unknown field `{k}`") }));
    }
    let email = match validate::email("email", &given) {
        Ok(e) => e,
        Err(e) => return (given, Err(RowError { code: "invalid_request", message: e.to_string() })),
    };
    let meta = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => {
            return (
                email,
                Err(RowError { code: "invalid_request", message: "metadata must be an object".into() }),
            )
        }
    };
    match metadata(meta) {
        Ok(m) => (email.clone(), Ok((email, m))),
        Err(e) => (email, Err(RowError { code: "invalid_request", message: e.to_string() })),
    }
}

/// Every row checked (format, repeats in the batch, a live seat already), nothing written.
struct Checked {
    rows: Vec<BatchRow>,
    /// (row index, email, metadata) of the good rows.
    good: Vec<(usize, String, Map<String, Value>)>,
}

async fn check(app: &App, sub: &Subscription, input: &AssignBatch) -> Result<Checked, DomainError> {
    if input.seats.is_empty() {
        return Err(DomainError::invalid("seats", "give at least one row"));
    }
    if input.seats.len() > MAX_ROWS {
        return Err(DomainError::invalid("seats", format!("at most {MAX_ROWS} rows per batch")));
    }
    if input.notify == Some(false) {
        return Err(DomainError::invalid(
            "notify",
            "a batch invites by email; to seat someone without a mail, assign them one at a time with claim: \"immediate\"",
        ));
    }
    if !sub.status.allows_seat_changes() {
        return Err(DomainError::InvalidState(format!(
            "seats can be assigned only while the subscription is active or past due (it is {:?})",
            sub.status
        )));
    }
    let mut rows = Vec::with_capacity(input.seats.len());
    let mut good = Vec::new();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    for (index, raw) in input.seats.iter().enumerate() {
        let (email, read) = read_row(raw);
        let error = match read {
            Err(e) => Some(e),
            Ok((email, _)) if first_row.contains_key(&email) => {
                refused("duplicate_row", format!("the same email as the row at index {}", first_row[&email]))
            }
            Ok((email, meta)) => {
                first_row.insert(email.clone(), index);
                good.push((index, email, meta));
                None
            }
        };
        rows.push(BatchRow { index, email, status: "refused", seat: None, error });
    }
    let emails: Vec<String> = good.iter().map(|(_, e, _)| e.clone()).collect();
    let taken = app.store.seat_emails_taken(&sub.id, &emails).await?;
    good.retain(|(index, email, _)| {
        if taken.contains(email) {
            rows[*index].error =
                refused("seat_already_assigned", DomainError::SeatAlreadyAssigned.to_string());
            false
        } else {
            true
        }
    });
    Ok(Checked { rows, good })
}

fn result(rows: Vec<BatchRow>, sub: &Subscription, preview: bool) -> BatchResult {
    let good = rows.iter().filter(|r| r.error.is_none()).count();
    BatchResult {
        created: if preview { 0 } else { good },
        refused: rows.len() - good,
        will_be_created: preview.then_some(good),
        rows,
        seats_assigned: sub.seats_assigned,
        seats_available: sub.seats_available(),
    }
}

/// What the batch would do ("N will be invited, M are refused (why)"), writing nothing. A batch
/// whose good rows do not fit is refused here as it would be.
pub async fn preview(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    input: AssignBatch,
) -> Result<BatchResult, DomainError> {
    let sub = portal::managed_subscription(app, who, subscription_id).await?;
    let mut checked = check(app, &sub, &input).await?;
    let needed = checked.good.len() as i64;
    if needed > sub.seats_available() {
        return Err(DomainError::NotEnoughSeats { needed, free: sub.seats_available() });
    }
    for (index, _, _) in &checked.good {
        checked.rows[*index].status = "will_be_created";
    }
    Ok(result(checked.rows, &sub, true))
}

pub async fn assign(
    app: &App,
    who: &Principal,
    subscription_id: &str,
    input: AssignBatch,
) -> Result<BatchResult, DomainError> {
    let mut sub = portal::managed_subscription(app, who, subscription_id).await?;
    let Checked { mut rows, good } = check(app, &sub, &input).await?;
    if good.is_empty() {
        return Ok(result(rows, &sub, false));
    }
    let needed = good.len() as i64;
    // The seats: one reservation of the free ones, and, on a product that grows when full, the
    // ones bought for the rest (reserved by the write that applies the purchase).
    let mut holds: Vec<(String, usize)> = Vec::new();
    match reserve(app, &mut sub, needed).await? {
        Some(id) => holds.push((id, good.len())),
        None => {
            let free = sub.seats_available();
            if !super::grow::grows(app, &sub).await? {
                if !sub.status.allows_seat_changes() {
                    return Err(DomainError::InvalidState(format!(
                        "seats can be assigned only while the subscription is active or past due (it is {:?})",
                        sub.status
                    )));
                }
                return Err(DomainError::NotEnoughSeats { needed, free });
            }
            let missing = needed - free;
            if input.confirm_charge != Some(true) {
                return Err(super::grow::required(app, who, &sub, missing).await);
            }
            if free > 0 {
                match reserve(app, &mut sub, free).await? {
                    Some(id) => holds.push((id, free as usize)),
                    None => return Err(DomainError::NotEnoughSeats { needed, free: sub.seats_available() }),
                }
            }
            match super::grow::grow(app, who, &sub, missing, input.proration_date).await {
                Ok(id) => holds.push((id, missing as usize)),
                Err(e) => {
                    release(app, &sub.id, &holds).await;
                    return Err(e);
                }
            }
        }
    }
    let assignments: Vec<_> = good
        .iter()
        .map(|(_, email, meta)| new_assignment(app, who, &sub, email.clone(), meta.clone()))
        .collect();
    let mut written = Vec::with_capacity(assignments.len());
    let mut failure = None;
    let mut rest = assignments.as_slice();
    for (id, n) in &holds {
        let (these, after) = rest.split_at((*n).min(rest.len()));
        rest = after;
        match app.store.assign_reserved_seats(id, &sub.id, these).await {
            Ok(w) => written.extend(w),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    // Whatever happened, what was not used goes back now (or, if this fails too, by the sweeper).
    release(app, &sub.id, &holds).await;
    if let Some(e) = failure {
        return Err(e.into());
    }
    let mut invitations = Vec::new();
    let mut audits = Vec::new();
    for ((index, _, _), (a, ok)) in good.iter().zip(assignments.iter().zip(&written)) {
        if *ok {
            rows[*index].status = "created";
            rows[*index].seat = Some(SeatView::from(&a.seat));
            invitations.push(a.invitation.clone());
            audits.push(&a.audit);
        } else {
            // Taken by someone else's assign between the check and the write.
            rows[*index].error =
                refused("seat_already_assigned", DomainError::SeatAlreadyAssigned.to_string());
        }
    }
    tracing::info!(subscription_id = %sub.id, created = invitations.len(), metric = "seats_assigned_in_batch", "batch assigned");
    if let Err(e) = app.jobs.enqueue(&invitations).await {
        tracing::warn!(subscription_id = %sub.id, error = %e, "invitation jobs not sent; the sweeper will send them");
    }
    announce(app, audits).await;
    let after = app.store.subscription(&sub.id).await?.unwrap_or(sub);
    Ok(result(rows, &after, false))
}

/// Reserves `n` free seats with one conditional counter update (re-reading the bound when a
/// resize moved it). `None`: fewer are free (`sub` is then the subscription as it is now).
async fn reserve(app: &App, sub: &mut Subscription, n: i64) -> Result<Option<String>, DomainError> {
    let sub_id = sub.id.clone();
    let limit = super::limits::invitations_per_subscription(&sub_id);
    for _ in 0..3 {
        let r = SeatReservation {
            id: ids::new_id(ids::RESERVATION),
            subscription_id: sub.id.clone(),
            seats: n,
            seats_read: sub.seats,
            assign_cap_read: sub.assign_cap,
            max_assigned_before: sub.assign_cap.min(sub.seats) - n,
            limit: super::limits::hit(app, &limit),
            created_at: app.clock.now(),
        };
        let outcome = app.store.reserve_seats(&r).await?;
        if outcome == ReservationOutcome::RateLimited {
            return Err(super::limits::refused(app, limit.name, &r.limit));
        }
        if outcome == ReservationOutcome::Reserved {
            return Ok(Some(r.id));
        }
        // Full, or a resize or scheduled decrease moved the bound: read it again.
        *sub = app.store.subscription(&sub.id).await?.ok_or(DomainError::NotFound("subscription"))?;
        if outcome == ReservationOutcome::NoSeats {
            return Ok(None);
        }
    }
    Err(DomainError::Unavailable)
}

async fn release(app: &App, subscription_id: &str, holds: &[(String, usize)]) {
    for (id, _) in holds {
        if let Err(e) = app.store.release_reservation(subscription_id, id).await {
            tracing::warn!(reservation_id = %id, error = %e, "reservation not released; the sweeper will");
        }
    }
}

/// Reservations of batches that died half-way, given back (the sweeper).
pub async fn release_stale(app: &App) -> Result<usize, DomainError> {
    let cutoff = app.clock.now() - chrono::Duration::seconds(RESERVATION_STALE_S);
    let open = app.store.stale_reservations(cutoff, 100).await?;
    for r in &open {
        tracing::warn!(subscription_id = %r.subscription_id, reservation_id = %r.id, seats = r.remaining, metric = "seat_reservations_released", "a batch's unused seats given back");
        app.store.release_reservation(&r.subscription_id, &r.id).await?;
    }
    Ok(open.len())
}
