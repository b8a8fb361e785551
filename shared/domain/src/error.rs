//! One error type for the domain layer. The HTTP kit maps each variant to exactly one
//! status and error code of the API contract.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum DomainError {
    #[error("{message}")]
    InvalidRequest { message: String, field: Option<String> },
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("every seat of this subscription is assigned")]
    NoSeatsAvailable,
    /// A batch that does not fit is refused whole (409 `no_seats_available`).
    #[error("this batch needs {needed} seats and {free} are free: nothing was assigned")]
    NotEnoughSeats { needed: i64, free: i64 },
    #[error("this email already holds a seat on this subscription")]
    SeatAlreadyAssigned,
    #[error("{assigned} seats are assigned; revoke seats before going below that")]
    SeatsBelowAssigned { assigned: i64 },
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    Conflict(String),
    /// Known and allowed to see it, but not to do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// A license key has as many activations as its benefit allows (409).
    #[error("this license key has {limit} activations, its limit: deactivate one first")]
    ActivationLimitReached { limit: u32 },
    /// A full subscription whose product grows when full: `seats` more are needed, charged
    /// first; `preview` is the seat change's preview (402 `seat_increase_required`).
    #[error("every seat is taken: {seats} more needed. Send the request again with confirm_charge: true (and the preview's proration_date) to buy them first.")]
    SeatIncreaseRequired { seats: i64, preview: Box<serde_json::Value> },
    /// The provider could not take the payment; the change waits for it (402).
    #[error("The payment for this change did not go through: pay its invoice to apply it.")]
    PaymentRequired { payment_url: String },
    #[error("the service is unavailable, retry later")]
    Unavailable,
    /// Too many requests of this kind in the current window (429, with `Retry-After`).
    #[error("too many requests; retry in {retry_after_s} seconds")]
    RateLimited { retry_after_s: i64 },
    /// Internal faults. The message is logged, never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        DomainError::InvalidRequest { message: message.into(), field: Some(field.to_string()) }
    }
}

/// What a store adapter can fail with, independent of the storage technology.
#[derive(Debug, Error, PartialEq)]
pub enum StoreError {
    /// The storage service is unreachable, throttled or timed out: retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Data that could not be read or written (a bug, never a client's fault).
    #[error("store failure: {0}")]
    Internal(String),
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "store unavailable");
                DomainError::Unavailable
            }
            StoreError::Internal(m) => DomainError::Internal(m),
        }
    }
}

/// A fault of another port (mailer, gateway, queue, files).
#[derive(Debug, Error, PartialEq)]
pub enum PortError {
    #[error("{0} unavailable: {1}")]
    Unavailable(&'static str, String),
    #[error("{0} rejected the request: {1}")]
    Rejected(&'static str, String),
}

impl PortError {
    /// The provider has no such object (HTTP 404): a subscription gone at Stripe.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Rejected(_, m) if m.contains("HTTP 404"))
    }
}

impl From<PortError> for DomainError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Unavailable(p, m) => {
                tracing::warn!(port = p, error = %m, "port unavailable");
                DomainError::Unavailable
            }
            PortError::Rejected(p, m) => DomainError::Internal(format!("{p}: {m}")),
        }
    }
}
