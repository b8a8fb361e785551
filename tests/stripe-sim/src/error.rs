//! Stripe's error object and statuses.
//!
//! Docs: https://docs.stripe.com/api/errors (types `api_error`, `card_error`,
//! `idempotency_error`, `invalid_request_error`; 400 bad request, 401 unauthorized,
//! 402 request failed, 404 not found) and https://docs.stripe.com/error-codes.

use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub param: Option<String>,
    pub decline_code: Option<String>,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> ApiError {
        ApiError {
            status: 400,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: param.map(str::to_string),
            decline_code: None,
        }
    }

    pub fn invalid_code(code: &str, message: impl Into<String>, param: Option<&str>) -> ApiError {
        let mut e = ApiError::invalid(message, param);
        e.code = Some(code.to_string());
        e
    }

    pub fn missing(kind: &str, id: &str, param: &str) -> ApiError {
        ApiError {
            status: 404,
            kind: "invalid_request_error",
            code: Some("resource_missing".to_string()),
            message: format!("No such {kind}: '{id}'"),
            param: Some(param.to_string()),
            decline_code: None,
        }
    }

    pub fn required(param: &str) -> ApiError {
        ApiError::invalid_code("parameter_missing", format!("Missing required param: {param}."), Some(param))
    }

    pub fn card(code: &str, decline_code: Option<&str>, message: &str) -> ApiError {
        ApiError {
            status: 402,
            kind: "card_error",
            code: Some(code.to_string()),
            message: message.to_string(),
            param: None,
            decline_code: decline_code.map(str::to_string),
        }
    }

    pub fn not_found_url(method: &str, path: &str) -> ApiError {
        ApiError {
            status: 404,
            kind: "invalid_request_error",
            code: None,
            message: format!("Unrecognized request URL ({method}: {path})."),
            param: None,
            decline_code: None,
        }
    }

    pub fn status_only(status: u16) -> ApiError {
        ApiError {
            status,
            kind: "api_error",
            code: None,
            message: format!("The simulator was told to answer {status} (a Stripe outage)."),
            param: None,
            decline_code: None,
        }
    }

    pub fn body(&self) -> Value {
        let mut e = json!({
            "type": self.kind,
            "message": self.message,
        });
        if let Some(c) = &self.code {
            e["code"] = json!(c);
            e["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{c}"));
        }
        if let Some(p) = &self.param {
            e["param"] = json!(p);
        }
        if let Some(d) = &self.decline_code {
            e["decline_code"] = json!(d);
        }
        json!({ "error": e })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
