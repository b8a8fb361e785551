//! Routing inside one function: a table of `(method, pattern)` routes, where each route says
//! whether it authenticates and whether it honours `Idempotency-Key`.

use crate::idempotency;
use crate::{ApiError, ApiResult, Ctx};
use domain::services::{auth, limits, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use std::future::Future;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials are read (public reads, sign-in, checkouts, claims): each caller's
    /// address is rate limited.
    Open,
    /// No credentials are read; the body is signed by its sender (Stripe's webhook), whose
    /// bursts come from a few addresses: not rate limited by address.
    Signed,
    /// A bearer token is resolved to a principal; the use case decides what it may do.
    Bearer,
}

#[derive(Debug, Clone)]
pub struct Route<R> {
    pub method: Method,
    pub pattern: &'static str,
    pub id: R,
    pub access: Access,
    /// Creates or charges: `Idempotency-Key` is honoured.
    pub idempotent: bool,
}

impl<R> Route<R> {
    pub const fn new(method: Method, pattern: &'static str, id: R, access: Access, idempotent: bool) -> Self {
        Route { method, pattern, id, access, idempotent }
    }
}

/// Matches `/v1/subscriptions/{id}/seats` against a path, returning the `{…}` segments.
pub fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let p: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let a: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if p.len() != a.len() {
        return None;
    }
    let mut params = Vec::new();
    for (ps, seg) in p.iter().zip(&a) {
        if ps.starts_with('{') && ps.ends_with('}') {
            if seg.is_empty() {
                return None;
            }
            params.push((*seg).to_string());
        } else if ps != seg {
            return None;
        }
    }
    Some(params)
}

/// Serves one request: parse, route, authenticate, idempotency, handler, and the one error
/// mapping. Never returns `Err` for anything a client sent.
pub async fn serve<R, F, Fut>(
    app: &App,
    req: Request,
    routes: &[Route<R>],
    handler: F,
) -> Result<Response<Body>, lambda_http::Error>
where
    R: Copy,
    F: FnOnce(R, Ctx) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let mut pattern = "-";
    let resp = match dispatch(app, req, routes, handler, &mut pattern).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    // The route pattern, never the path: paths can carry claim tokens.
    tracing::info!(route = pattern, status = resp.status().as_u16(), "request");
    Ok(resp)
}

async fn dispatch<R, F, Fut>(
    app: &App,
    req: Request,
    routes: &[Route<R>],
    handler: F,
    matched: &mut &'static str,
) -> ApiResult
where
    R: Copy,
    F: FnOnce(R, Ctx) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let mut ctx = Ctx::from_request(req)?;
    let mut path_matched = false;
    let mut found = None;
    for r in routes {
        if let Some(params) = match_path(r.pattern, &ctx.path) {
            path_matched = true;
            if r.method == ctx.method {
                found = Some((r, params));
                break;
            }
        }
    }
    let Some((route, params)) = found else {
        return Err(if path_matched {
            ApiError::MethodNotAllowed(ctx.method.to_string())
        } else {
            ApiError::NoRoute(ctx.path.clone())
        });
    };
    *matched = route.pattern;
    ctx.params = params;
    match route.access {
        Access::Bearer => ctx.principal = auth::authenticate(app, ctx.bearer()?).await?,
        Access::Open => {
            if let Some(ip) = ctx.source_ip.as_deref() {
                let per_minute = app.settings.anonymous_requests_per_minute;
                limits::check(app, &[limits::anonymous_per_ip(ip, per_minute)]).await?;
            }
        }
        Access::Signed => {}
    }
    match (route.idempotent, ctx.idempotency_key()?.map(str::to_string)) {
        (true, Some(key)) => idempotency::run(app, &key, ctx, |c| handler(route.id, c)).await,
        _ => handler(route.id, ctx).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_patterns() {
        assert_eq!(
            match_path("/v1/subscriptions/{id}/seats", "/v1/subscriptions/sub_1/seats"),
            Some(vec!["sub_1".to_string()])
        );
        assert_eq!(match_path("/v1/products", "/v1/products/"), Some(vec![]));
        assert_eq!(match_path("/v1/products/{id}", "/v1/products"), None);
        assert_eq!(match_path("/v1/products/{id}", "/v1/products//"), None);
        assert_eq!(match_path("/v1/a/{x}/b", "/v1/a/1/c"), None);
    }
}
