//! The one mapping from errors to HTTP: `{"error": {"code", "message", "field"?}}`.

use domain::DomainError;
use lambda_http::{Body, Response};
use serde_json::json;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the request body must be at most {0} bytes")]
    PayloadTooLarge(usize),
    #[error("no route {0}")]
    NoRoute(String),
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
}

impl ApiError {
    pub fn invalid(field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError::Domain(DomainError::InvalidRequest {
            message: message.into(),
            field: field.map(str::to_string),
        })
    }

    /// (status, code, message, field). Internal details never leave this function.
    pub fn parts(&self) -> (u16, &'static str, String, Option<String>) {
        match self {
            ApiError::PayloadTooLarge(_) => (413, "payload_too_large", self.to_string(), None),
            ApiError::NoRoute(_) => (404, "not_found", "No such route.".into(), None),
            ApiError::MethodNotAllowed(_) => (405, "method_not_allowed", self.to_string(), None),
            ApiError::IdempotencyMismatch => {
                (422, "idempotency_mismatch", self.to_string(), Some("Idempotency-Key".into()))
            }
            ApiError::Domain(d) => match d {
                DomainError::InvalidRequest { message, field } => {
                    (400, "invalid_request", message.clone(), field.clone())
                }
                DomainError::Unauthorized => {
                    (401, "unauthorized", "Missing or invalid credentials for this route.".into(), None)
                }
                DomainError::NotFound(what) => (404, "not_found", format!("No such {what}."), None),
                DomainError::NoSeatsAvailable | DomainError::NotEnoughSeats { .. } => {
                    (409, "no_seats_available", d.to_string(), None)
                }
                DomainError::SeatAlreadyAssigned => {
                    (409, "seat_already_assigned", d.to_string(), Some("email".into()))
                }
                DomainError::SeatsBelowAssigned { .. } => {
                    (409, "seats_below_assigned", d.to_string(), Some("seats".into()))
                }
                DomainError::InvalidState(m) | DomainError::Conflict(m) => {
                    (409, "invalid_state", m.clone(), None)
                }
                DomainError::Forbidden(m) => (403, "forbidden", m.clone(), None),
                DomainError::ActivationLimitReached { .. } => {
                    (409, "activation_limit_reached", d.to_string(), None)
                }
                DomainError::PaymentRequired { .. } => (402, "payment_required", d.to_string(), None),
                DomainError::SeatIncreaseRequired { .. } => {
                    (402, "seat_increase_required", d.to_string(), None)
                }
                DomainError::RateLimited { .. } => (429, "rate_limited", d.to_string(), None),
                DomainError::Unavailable => {
                    (503, "unavailable", "The service is briefly unavailable; retry later.".into(), None)
                }
                DomainError::Internal(_) => {
                    (500, "internal_error", "Something went wrong on our side.".into(), None)
                }
            },
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let (status, code, message, field) = self.parts();
        if status >= 500 {
            // The detail goes to the log only.
            tracing::error!(error = %self, status, "request failed");
        }
        let mut error = json!({ "code": code, "message": message });
        if let Some(f) = field {
            error["field"] = json!(f);
        }
        if let ApiError::Domain(DomainError::PaymentRequired { payment_url }) = &self {
            error["payment_url"] = json!(payment_url);
        }
        if let ApiError::Domain(DomainError::SeatIncreaseRequired { seats, preview }) = &self {
            error["seats_needed"] = json!(seats);
            error["preview"] = (**preview).clone();
        }
        let mut resp = crate::response::json(status, &json!({ "error": error }));
        if status == 503 {
            resp.headers_mut().insert("retry-after", lambda_http::http::HeaderValue::from_static("1"));
        }
        if let ApiError::Domain(DomainError::RateLimited { retry_after_s }) = &self {
            if let Ok(v) = lambda_http::http::HeaderValue::from_str(&retry_after_s.max(&1).to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_internal() {
        let (status, code, message, _) =
            ApiError::from(DomainError::Internal("table arn:aws:secret".into())).parts();
        assert_eq!((status, code), (500, "internal_error"));
        assert!(!message.contains("arn"));
    }

    #[test]
    fn statuses_follow_the_contract() {
        let cases = [
            (DomainError::invalid("x", "bad"), 400, "invalid_request"),
            (DomainError::Unauthorized, 401, "unauthorized"),
            (DomainError::NotFound("seat"), 404, "not_found"),
            (DomainError::NoSeatsAvailable, 409, "no_seats_available"),
            (DomainError::NotEnoughSeats { needed: 5, free: 2 }, 409, "no_seats_available"),
            (DomainError::SeatAlreadyAssigned, 409, "seat_already_assigned"),
            (DomainError::SeatsBelowAssigned { assigned: 3 }, 409, "seats_below_assigned"),
            (DomainError::InvalidState("x".into()), 409, "invalid_state"),
            (DomainError::Forbidden("x".into()), 403, "forbidden"),
            (DomainError::Unavailable, 503, "unavailable"),
        ];
        for (e, status, code) in cases {
            let (s, c, _, _) = ApiError::from(e).parts();
            assert_eq!((s, c), (status, code));
        }
    }
}
