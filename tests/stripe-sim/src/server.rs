//! The HTTP server: authentication, idempotency, request checking, routing, and the `/_sim/`
//! control endpoints.
//!
//! Docs:
//! - https://docs.stripe.com/api/authentication (`Authorization: Bearer sk_test_…`, 401 without)
//! - https://docs.stripe.com/api/idempotent_requests (same key + same parameters replays the
//!   saved answer; other parameters → `idempotency_error`; keys kept at least 24 h; answers are
//!   saved only once the endpoint has started executing, so validation errors are not saved)
//! - https://docs.stripe.com/api/errors, https://docs.stripe.com/api/versioning (Stripe-Version)

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::form::Params;
use crate::model::IdemEntry;
use crate::{Inner, Recorded};

type Resp = Response<Full<Bytes>>;

pub async fn serve(listener: tokio::net::TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let inner = inner.clone();
                async move { Ok::<_, Infallible>(handle(inner, req).await) }
            });
            let _ =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn json_resp(status: u16, body: &Value, replayed: bool) -> Resp {
    let mut b = Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("Request-Id", crate::model::new_id("req"))
        .header("Stripe-Version", crate::API_VERSION);
    if replayed {
        b = b.header("Idempotent-Replayed", "true");
    }
    b.body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn html(body: String) -> Resp {
    Response::builder()
        .status(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Text for the simulator's little HTML pages.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn pairs(s: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(s).into_owned().collect()
}

async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Resp {
    let method = req.method().as_str().to_uppercase();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let auth = header("authorization");
    let idem_key = header("idempotency-key");
    let version = header("stripe-version");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if let Some(rest) = path.strip_prefix("/_sim/") {
        return control(&inner, &method, rest, &query).await;
    }
    if let Some(id) = path.strip_prefix("/checkout/") {
        if let Some(id) = id.strip_suffix("/pay").filter(|_| method == "POST") {
            let r = inner.state().complete_checkout(id, "pm_card_visa");
            inner.flush_wait().await;
            return html(match r {
                Ok(sub) => {
                    format!("<html><body><h1>Paid</h1><p>Subscription {}.</p></body></html>", escape(&sub))
                }
                Err(e) => format!("<html><body><h1>Not paid</h1><p>{}</p></body></html>", escape(&e)),
            });
        }
        let id = escape(id);
        return html(format!("<html><body><h1>Stripe simulator checkout</h1><p>Session {id}.</p><form method=\"post\" action=\"/checkout/{id}/pay\"><button>Pay with pm_card_visa</button></form></body></html>"));
    }
    if let Some(id) = path.strip_prefix("/hosted_invoice/") {
        // The page a customer pays a declined or unauthenticated invoice on (with a card that works).
        if let Some(id) = id.strip_suffix("/pay").filter(|_| method == "POST") {
            let r =
                inner.state().api_pay_invoice(id, Some("pm_card_visa")).map(|_| ()).map_err(|e| e.message);
            inner.flush_wait().await;
            return html(match r {
                Ok(()) => "<html><body><h1>Paid</h1><p>Thank you.</p></body></html>".to_string(),
                Err(e) => format!("<html><body><h1>Not paid</h1><p>{}</p></body></html>", escape(&e)),
            });
        }
        let id = escape(id);
        return html(format!("<html><body><h1>Invoice {id}</h1><form method=\"post\" action=\"/hosted_invoice/{id}/pay\"><button>Pay with pm_card_visa</button></form></body></html>"));
    }
    if let Some(id) = path.strip_prefix("/invoice_pdf/") {
        let pdf = inner.state().invoice_pdf(id);
        return match pdf {
            Some(b) => Response::builder()
                .status(200)
                .header("Content-Type", "application/pdf")
                .body(Full::new(Bytes::from(b)))
                .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
            None => json_resp(404, &json!({ "error": "no such finalized invoice" }), false),
        };
    }
    if let Some(id) = path.strip_prefix("/billing_portal/") {
        // A session's `url` (and a configuration's login page) in the browser.
        let page = inner.state().portal_page(id);
        let login = id.strip_prefix("login/").map(|c| {
            format!(
                "<html><body><h1>Billing portal login</h1><p>Configuration {}.</p></body></html>",
                escape(c)
            )
        });
        return match page.or(login) {
            Some(body) => html(body),
            None => json_resp(404, &json!({ "error": "no such portal session" }), false),
        };
    }
    let mut form = pairs(query.as_bytes());
    if method != "GET" {
        form.extend(pairs(&body));
    }
    let (status, value, replayed) = {
        let mut st = inner.state();
        st.request_version = version.clone();
        let (status, value, replayed) = api(&mut st, &method, &path, &form, auth, idem_key.clone());
        st.request_version = None;
        st.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            form: form.clone(),
            idempotency_key: idem_key,
            stripe_version: version,
            status,
        });
        (status, value, replayed)
    };
    // Events go out before the answer.
    inner.flush().await;
    json_resp(status, &value, replayed)
}

fn api(
    st: &mut crate::model::State,
    method: &str,
    path: &str,
    form: &[(String, String)],
    auth: Option<String>,
    idem_key: Option<String>,
) -> (u16, Value, bool) {
    let key_ok = auth
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|k| k.trim().starts_with("sk_test_"));
    if !key_ok {
        let e = ApiError {
            status: 401,
            kind: "invalid_request_error",
            code: None,
            message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').".to_string(),
            param: None,
            decline_code: None,
        };
        return (401, e.body(), false);
    }
    if let Some(i) = st.fail_next.iter().position(|(m, p, _)| m == method && path.starts_with(p.as_str())) {
        let (_, _, status) = st.fail_next.remove(i);
        return (status, ApiError::status_only(status).body(), false);
    }
    let now = st.now();
    st.idem.retain(|_, e| now - e.created < 86_400);
    let idem_key = idem_key.filter(|_| method == "POST");
    if let Some(k) = &idem_key {
        if let Some(e) = st.idem.get(k) {
            if e.method == method && e.path == path && e.form == form {
                return (e.status, e.body.clone(), true);
            }
            let err = ApiError {
                status: 400,
                kind: "idempotency_error",
                code: None,
                message: format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."),
                param: None,
                decline_code: None,
            };
            return (400, err.body(), false);
        }
    }
    if let Err(v) = stripe_openapi::check_request(method, path, form) {
        if let Some(first) = v.first() {
            let code = if first.message.to_lowercase().contains("unknown") {
                "parameter_unknown"
            } else {
                "parameter_invalid_string"
            };
            let e = ApiError::invalid_code(code, first.message.clone(), Some(&first.param));
            return (400, e.body(), false);
        }
    }
    let params = Params::from_pairs(form);
    let (status, body) = match st.dispatch(method, path, &params) {
        Ok(v) => (200, v),
        Err(e) => (e.status, e.body()),
    };
    if let Some(k) = idem_key {
        st.idem.insert(
            k,
            IdemEntry {
                method: method.to_string(),
                path: path.to_string(),
                form: form.to_vec(),
                status,
                body: body.clone(),
                created: now,
            },
        );
    }
    (status, body, false)
}

/// `/_sim/…`: drive the simulator by curl.
async fn control(inner: &Arc<Inner>, method: &str, rest: &str, query: &str) -> Resp {
    let q = pairs(query.as_bytes());
    let arg = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let (status, body) = match (method, segs.as_slice()) {
        ("POST", ["checkout", id, "complete"]) => {
            let pm = arg("payment_method").unwrap_or_else(|| "pm_card_visa".to_string());
            // `country`: the billing address entered (sessions that collect one).
            let r = inner.state().complete_checkout_at(id, &pm, arg("country").as_deref());
            inner.flush_wait().await;
            match r {
                Ok(sub) => (200, json!({ "subscription": sub })),
                Err(e) => (400, json!({ "error": e })),
            }
        }
        ("POST", ["advance"]) => {
            let secs = arg("secs").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
            inner.state().advance(secs);
            inner.flush_wait().await;
            (200, json!({ "now": inner.state().now() }))
        }
        ("POST", ["payment_method"]) => {
            let (Some(c), Some(pm)) = (arg("customer"), arg("payment_method")) else {
                return json_resp(400, &json!({"error": "customer and payment_method required"}), false);
            };
            if let Some(cu) = inner.state().customers.get_mut(&c) {
                cu.payment_method = pm;
            }
            (200, json!({ "ok": true }))
        }
        ("POST", ["redeliver"]) => (200, json!({ "delivered": inner.redeliver_failed().await })),
        ("POST", ["webhook"]) => {
            let (Some(url), Some(secret)) = (arg("url"), arg("secret")) else {
                return json_resp(400, &json!({"error": "url and secret required"}), false);
            };
            inner.set_endpoint(&url, &secret);
            (200, json!({ "url": url }))
        }
        ("GET", ["now"]) => (200, json!({ "now": inner.state().now() })),
        ("GET", ["events"]) => (200, json!({ "data": inner.state().events.clone() })),
        _ => (404, json!({ "error": "unknown control endpoint" })),
    };
    json_resp(status, &body, false)
}
