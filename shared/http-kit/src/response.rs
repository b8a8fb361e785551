//! JSON responses.

use crate::ApiError;
use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Response};
use serde::Serialize;

pub type ApiResult = Result<Response<Body>, ApiError>;

pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response<Body> {
    // Serializing our own view types cannot fail; an empty object is the safe fallback.
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string());
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = lambda_http::http::StatusCode::from_u16(status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

pub fn ok<T: Serialize + ?Sized>(value: &T) -> ApiResult {
    Ok(json(200, value))
}

pub fn created<T: Serialize + ?Sized>(value: &T) -> ApiResult {
    Ok(json(201, value))
}
