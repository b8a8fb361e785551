//! Which page or file a path gets, with the headers every page carries: a strict
//! Content-Security-Policy (scripts and styles only from this origin, no inline code), no
//! referrer (claim and sign-in links carry secrets in their query), no framing, and cache
//! validators so a repeat visit costs a 304.

use crate::assets::{Asset, Assets};
use crate::config::{TestPayments, WebConfig};
use crate::test_payment;
use http_kit::ApiError;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};

/// One route of the pages, for the local router, the SAM template and their test.
pub const ROUTES: [(&str, &str); 11] = [
    ("GET", "/checkout/{product_id}"),
    ("GET", "/checkout/test-payment"),
    ("POST", "/checkout/test-payment"),
    ("GET", "/checkout/complete"),
    ("GET", "/portal"),
    ("GET", "/portal/sign-in"),
    ("GET", "/portal/subscription"),
    ("GET", "/portal/claim"),
    ("GET", "/portal/benefits"),
    ("GET", "/portal/assets/{name}"),
    ("GET", "/dashboard"),
];

pub struct Site {
    config: WebConfig,
    assets: Assets,
    csp: HeaderValue,
    http: reqwest::Client,
}

/// What a path resolves to.
enum Target<'a> {
    Page(&'static str),
    Asset(&'a str),
    TestPayment,
}

fn resolve(path: &str) -> Option<Target<'_>> {
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    let page = match path {
        "/portal" | "/portal/sign-in" => "portal.html",
        "/portal/subscription" => "subscription.html",
        "/portal/claim" => "claim.html",
        "/portal/benefits" => "benefits.html",
        "/dashboard" => "dashboard.html",
        "/checkout/complete" => "complete.html",
        "/checkout/test-payment" => return Some(Target::TestPayment),
        _ => {
            if let Some(name) = path.strip_prefix("/portal/assets/") {
                return Some(Target::Asset(name));
            }
            let product_id = path.strip_prefix("/checkout/")?;
            if product_id.is_empty() || product_id.contains('/') {
                return None;
            }
            "checkout.html"
        }
    };
    Some(Target::Page(page))
}

impl Site {
    pub fn new(config: WebConfig) -> Result<Self, Error> {
        let connect = match &config.upload_origin {
            Some(origin) => format!("'self' {origin}"),
            None => "'self'".to_string(),
        };
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src {connect}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        Ok(Site {
            csp: HeaderValue::from_str(&csp)?,
            config,
            assets: Assets::embedded(),
            http: reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?,
        })
    }

    pub async fn handle(&self, req: Request) -> Result<Response<Body>, Error> {
        let method = req.method().clone();
        let target = resolve(req.uri().path());
        // What was asked for, without ids or query strings (claim tokens and codes live there).
        let served = match &target {
            Some(Target::Page(name)) => (*name).to_string(),
            Some(Target::Asset(name)) => {
                format!("assets/{}", self.assets.public(name).map_or("?", |a| a.name))
            }
            Some(Target::TestPayment) => "test-payment".to_string(),
            None => "none".to_string(),
        };
        let resp = match (target, &method) {
            (Some(Target::TestPayment), m) => match (&self.config.test_payments, m) {
                // With the real Stripe gateway this page does not exist.
                (None, &Method::POST) => ApiError::NoRoute(req.uri().path().to_string()).into_response(),
                (None, _) => self.not_found(),
                (Some(tp), &Method::POST) => self.pay(tp, &req).await,
                (Some(_), &Method::GET | &Method::HEAD) => self.page("test-payment.html", &req),
                (Some(_), m) => ApiError::MethodNotAllowed(m.to_string()).into_response(),
            },
            (Some(Target::Page(name)), &Method::GET | &Method::HEAD) => self.page(name, &req),
            (Some(Target::Asset(name)), &Method::GET | &Method::HEAD) => match self.assets.public(name) {
                Some(asset) => self.file(asset, &req, "public, max-age=300, must-revalidate"),
                None => self.not_found(),
            },
            (Some(_), m) => ApiError::MethodNotAllowed(m.to_string()).into_response(),
            (None, _) => self.not_found(),
        };
        tracing::info!(served = %served, method = %method, status = resp.status().as_u16(), "request");
        Ok(self.secure(resp, method == Method::HEAD))
    }

    /// The test payment page's button: completes the checkout with a signed event.
    async fn pay(&self, tp: &TestPayments, req: &Request) -> Response<Body> {
        let paid = match test_payment::parse(req.body()) {
            Ok(checkout_id) => {
                test_payment::complete(
                    &self.http,
                    &self.config.public_base_url,
                    &tp.webhook_secret,
                    &checkout_id,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match paid {
            Ok(paid) => http_kit::json(200, &paid),
            Err(e) => e.into_response(),
        }
    }

    fn page(&self, name: &str, req: &Request) -> Response<Body> {
        match self.assets.get(name) {
            // Pages revalidate on every visit so a deploy shows at once.
            Some(asset) => self.file(asset, req, "no-cache"),
            None => self.not_found(),
        }
    }

    fn file(&self, asset: &Asset, req: &Request, cache: &'static str) -> Response<Body> {
        let fresh = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
        let mut resp = if fresh {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            // Every asset is UTF-8 text: sent as text, not base64 (a third smaller through API
            // Gateway's Lambda proxy).
            let body = match std::str::from_utf8(asset.body) {
                Ok(text) => Body::Text(text.to_string()),
                Err(_) => Body::Binary(asset.body.to_vec()),
            };
            let mut r = Response::new(body);
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
            r
        };
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
            h.insert(header::ETAG, etag);
        }
        resp
    }

    fn not_found(&self) -> Response<Body> {
        let body =
            self.assets.get("not-found.html").and_then(|a| std::str::from_utf8(a.body).ok()).unwrap_or("");
        let mut r = Response::new(Body::Text(body.to_string()));
        *r.status_mut() = StatusCode::NOT_FOUND;
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    fn secure(&self, mut resp: Response<Body>, head: bool) -> Response<Body> {
        let h = resp.headers_mut();
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if head {
            *resp.body_mut() = Body::Empty;
        }
        resp
    }
}
