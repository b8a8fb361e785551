//! Auto-grow: on a full subscription whose product says `when_full: "grow"`, assigning answers
//! 402 `seat_increase_required` with the preview of the seats it needs; sent again with
//! `confirm_charge: true`, the seats are charged through the same paid-first path as any
//! increase, and the write that applies the change reserves them for this request, so no other
//! assign takes the seats it paid for. Nothing is charged unless the request can use them.

use super::changes::{self, SeatChangeRequest};
use super::{App, Principal};
use crate::error::DomainError;
use crate::model::{Subscription, WhenFull};

/// Whether assigning past the count offers to grow the subscription.
pub async fn grows(app: &App, sub: &Subscription) -> Result<bool, DomainError> {
    if !sub.status.allows_seat_changes() {
        return Ok(false);
    }
    Ok(app.store.product(&sub.product_id).await?.is_some_and(|p| p.when_full == WhenFull::Grow))
}

/// The 402 that shows what `by` more seats cost now.
pub async fn required(app: &App, who: &Principal, sub: &Subscription, by: i64) -> DomainError {
    let req = SeatChangeRequest { seats: sub.seats + by, proration_date: None };
    match changes::preview_seats(app, who, &sub.id, req).await {
        Ok(view) => DomainError::SeatIncreaseRequired {
            seats: by,
            preview: Box::new(serde_json::to_value(&view).unwrap_or_default()),
        },
        Err(e) => e,
    }
}

/// Charges `by` more seats (from the count `sub` was read with) and answers the reservation the
/// applied change holds them under. A payment that needs the customer (402 `payment_required`)
/// assigns nothing: once paid, the seats are added and free.
pub async fn grow(
    app: &App,
    who: &Principal,
    sub: &Subscription,
    by: i64,
    proration_date: Option<i64>,
) -> Result<String, DomainError> {
    let (_, reservation) = changes::apply::grow(app, who, &sub.id, sub.seats, by, proration_date).await?;
    tracing::info!(subscription_id = %sub.id, seats = by, metric = "seats_grown", "subscription grown to assign");
    Ok(reservation)
}
