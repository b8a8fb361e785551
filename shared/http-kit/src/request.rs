//! A request, read once: method, path, query, bearer token, and the body with its limit.

use crate::ApiError;
use domain::services::Principal;
use lambda_http::http::{HeaderMap, Method};
use lambda_http::{Request, RequestExt};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// The contract's body limit.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

pub struct Ctx {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Path parameters of the matched route, in order.
    pub params: Vec<String>,
    pub principal: Principal,
    pub request_id: String,
    /// The caller's address as API Gateway saw it (for anonymous routes' rate limit).
    pub source_ip: Option<String>,
}

impl Ctx {
    pub fn from_request(req: Request) -> Result<Self, ApiError> {
        let query =
            req.query_string_parameters().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let source_ip = match req.request_context_ref() {
            Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
            Some(lambda_http::request::RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.clone(),
            _ => None,
        };
        let (parts, body) = req.into_parts();
        let body: &[u8] = body.as_ref();
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
        Ok(Ctx {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query,
            headers: parts.headers,
            body: body.to_vec(),
            params: Vec::new(),
            principal: Principal::Public,
            request_id,
            source_ip,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Authorization: Bearer …` token. A malformed header is a 401, not "public".
    pub fn bearer(&self) -> Result<Option<&str>, ApiError> {
        match self.headers.get("authorization") {
            None => Ok(None),
            Some(v) => {
                let v = v.to_str().map_err(|_| ApiError::Domain(domain::DomainError::Unauthorized))?;
                match v.split_once(' ') {
                    Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
                    _ => Err(ApiError::Domain(domain::DomainError::Unauthorized)),
                }
            }
        }
    }

    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or_default()
    }

    /// The body as `T`: JSON only, unknown fields refused, the failing field named.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::invalid(None, "a JSON body is required"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        let parsed: Result<T, _> = serde_path_to_error::deserialize(de);
        parsed.map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let field = (path != "." && !path.is_empty()).then_some(path);
            let message = match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    format!("the body is not valid JSON: {inner}")
                }
                _ => strip_position(&inner.to_string()),
            };
            ApiError::invalid(field.as_deref(), message)
        })
    }

    /// The body as `T`, or `T::default()` when there is none (a POST whose fields are all optional).
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.body.is_empty() {
            return Ok(T::default());
        }
        self.json()
    }

    pub fn idempotency_key(&self) -> Result<Option<&str>, ApiError> {
        match self.headers.get("idempotency-key") {
            None => Ok(None),
            Some(v) => match v.to_str() {
                Ok(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Ok(Some(k)),
                _ => {
                    Err(ApiError::invalid(Some("Idempotency-Key"), "must be 1-255 visible ASCII characters"))
                }
            },
        }
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

/// serde's messages end in " at line 1 column 42"; the field path says it better.
fn strip_position(m: &str) -> String {
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_string(),
        None => m.to_string(),
    }
}
