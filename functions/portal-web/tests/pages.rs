//! The pages' function without a browser: what each path serves, the headers every response
//! carries, that the pages need nothing the binary lacks, and the test payment (signed like
//! Stripe's event, refused for checkouts that are not open, absent with the Stripe gateway).

use lambda_http::http::{self, header};
use lambda_http::{Body, Request, Response};
use portal_web::assets::Assets;
use portal_web::config::{TestPayments, WebConfig};
use portal_web::handler::{Site, ROUTES};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request as Seen, ResponseTemplate};

const SECRET: &str = "whsec_pages_test";

fn site(api: &str, offline: bool) -> Site {
    Site::new(WebConfig {
        public_base_url: api.to_string(),
        test_payments: offline.then(|| TestPayments { webhook_secret: SECRET.into() }),
        offline,
        upload_origin: Some("http://127.0.0.1:9".into()),
    })
    .expect("site")
}

fn req(m: &str, uri: &str, body: &str, headers: &[(&str, &str)]) -> Request {
    let mut b = http::Request::builder().method(m).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let body = if body.is_empty() { Body::Empty } else { Body::Text(body.into()) };
    b.body(body).expect("request")
}

async fn get(site: &Site, uri: &str) -> Response<Body> {
    site.handle(req("GET", uri, "", &[])).await.expect("response")
}

fn text(r: &Response<Body>) -> String {
    String::from_utf8_lossy(r.body().as_ref()).into_owned()
}

fn header_of(r: &Response<Body>, name: header::HeaderName) -> &str {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn every_page_is_served_with_a_strict_policy_and_validators() {
    let s = site("http://127.0.0.1:1", true);
    let pages = [
        ("/checkout/prod_123", "checkout.js"),
        ("/checkout/test-payment?checkout_id=chk_1", "test-payment.js"),
        ("/checkout/complete", "complete.js"),
        ("/portal", "portal.js"),
        ("/portal/", "portal.js"),
        ("/portal/sign-in?code=abc", "portal.js"),
        ("/portal/subscription?id=sub_1", "subscription.js"),
        ("/portal/claim?token=t", "claim.js"),
        ("/portal/benefits", "benefits.js"),
        ("/dashboard", "dashboard.js"),
    ];
    for (uri, module) in pages {
        let r = get(&s, uri).await;
        assert_eq!(r.status(), 200, "{uri}");
        assert_eq!(header_of(&r, header::CONTENT_TYPE), "text/html; charset=utf-8", "{uri}");
        assert!(text(&r).contains(&format!("/portal/assets/{module}")), "{uri} loads {module}");
        let csp = header_of(&r, header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:9"),
            "uploads may go to the files origin: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"), "{csp}");
        assert_eq!(header_of(&r, header::REFERRER_POLICY), "no-referrer", "tokens in links never leak");
        assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(header_of(&r, header::CACHE_CONTROL), "no-cache");
        // A repeat visit with the validator costs a 304 without a body.
        let etag = header_of(&r, header::ETAG).to_string();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        let again = s.handle(req("GET", uri, "", &[("if-none-match", &etag)])).await.expect("response");
        assert_eq!(again.status(), 304);
        assert!(again.body().is_empty());
    }
    let css = get(&s, "/portal/assets/style.css").await;
    assert_eq!(header_of(&css, header::CONTENT_TYPE), "text/css; charset=utf-8");
    assert_eq!(header_of(&css, header::CACHE_CONTROL), "public, max-age=300, must-revalidate");
    let js = get(&s, "/portal/assets/api.js").await;
    assert_eq!(header_of(&js, header::CONTENT_TYPE), "text/javascript; charset=utf-8");
    let head = s.handle(req("HEAD", "/portal", "", &[])).await.expect("response");
    assert_eq!((head.status().as_u16(), head.body().is_empty()), (200, true));
}

#[tokio::test]
async fn unknown_paths_and_methods_are_refused() {
    let s = site("http://127.0.0.1:1", true);
    for uri in [
        "/portal/nothing",
        "/portal/assets/portal.html",
        "/portal/assets/../Cargo.toml",
        "/checkout/",
        "/checkout/a/b",
        "/",
    ] {
        let r = get(&s, uri).await;
        assert_eq!(r.status(), 404, "{uri}");
        assert!(text(&r).contains("Page not found"), "{uri}");
        assert!(!header_of(&r, header::CONTENT_SECURITY_POLICY).is_empty());
    }
    let r = s.handle(req("DELETE", "/portal", "", &[])).await.expect("response");
    assert_eq!(r.status(), 405);
    let body: Value = serde_json::from_slice(r.body().as_ref()).expect("json");
    assert_eq!(body["error"]["code"], json!("method_not_allowed"));
}

/// Every file a page or module names (`src=`, `href=` under /portal/assets/, `from './x.js'`)
/// is in the binary; no page carries inline script, inline style or an inline handler, which
/// the policy would block.
#[test]
fn pages_reference_only_embedded_files_and_nothing_inline() {
    let assets = Assets::embedded();
    for a in assets.all() {
        let body = String::from_utf8_lossy(a.body);
        for part in body.split("/portal/assets/").skip(1) {
            let name: String =
                part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').collect();
            assert!(assets.public(&name).is_some(), "{} names {name}, which is not embedded", a.name);
        }
        for part in body.split("from './").skip(1) {
            let name: String = part.chars().take_while(|c| *c != '\'').collect();
            assert!(assets.public(&name).is_some(), "{} imports {name}, which is not embedded", a.name);
        }
        if a.name.ends_with(".html") {
            let lower = body.to_lowercase();
            assert!(!lower.contains(" style="), "{}: inline style", a.name);
            assert!(
                !lower.contains(" onclick=") && !lower.contains(" onload="),
                "{}: inline handler",
                a.name
            );
            for script in lower.split("<script").skip(1) {
                assert!(script.split('>').next().unwrap_or("").contains("src="), "{}: inline script", a.name);
            }
            assert!(
                lower.contains("<html lang=\"en\">") && lower.contains("name=\"viewport\""),
                "{}",
                a.name
            );
        }
        if a.name.ends_with(".js") {
            assert!(
                !body.contains("innerHTML") && !body.contains("eval("),
                "{}: builds markup from data",
                a.name
            );
        }
    }
    // Every input, select and textarea of every page has a label or an accessible name.
    for a in assets.all().iter().filter(|a| a.name.ends_with(".html")) {
        let body = String::from_utf8_lossy(a.body);
        for tag in ["<input ", "<select ", "<textarea "] {
            for part in body.split(tag).skip(1) {
                let attrs = part.split('>').next().unwrap_or("");
                if attrs.contains("type=\"hidden\"") {
                    continue;
                }
                let id = attrs.split("id=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
                let labelled = !id.is_empty() && body.contains(&format!("for=\"{id}\""))
                    || attrs.contains("aria-label")
                    || attrs.contains("type=\"radio\"");
                assert!(labelled, "{}: a control without a label: {attrs}", a.name);
            }
        }
    }
}

#[test]
fn the_route_table_covers_every_page() {
    let paths: Vec<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    for p in ["/checkout/{product_id}", "/checkout/test-payment", "/portal", "/portal/claim", "/dashboard"] {
        assert!(paths.contains(&p), "{p}");
    }
}

#[tokio::test]
async fn the_test_payment_page_does_not_exist_with_stripe() {
    let s = site("http://127.0.0.1:1", false);
    assert_eq!(get(&s, "/checkout/test-payment?checkout_id=chk_1").await.status(), 404);
    let r = s
        .handle(req("POST", "/checkout/test-payment", r#"{"checkout_id":"chk_1"}"#, &[]))
        .await
        .expect("response");
    assert_eq!(r.status(), 404);
    let body: Value = serde_json::from_slice(r.body().as_ref()).expect("json");
    assert_eq!(body["error"]["code"], json!("not_found"));
}

async fn mock_checkout(server: &MockServer, id: &str, status: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/checkouts/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "status": status, "success_url": "http://127.0.0.1:1/checkout/complete",
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn paying_posts_a_checkout_completed_event_signed_as_stripe_signs() {
    let api = MockServer::start().await;
    mock_checkout(&api, "chk_open", "open").await;
    mock_checkout(&api, "chk_done", "completed").await;
    Mock::given(method("POST"))
        .and(path("/v1/webhooks/stripe"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"received": true, "outcome": "applied"})),
        )
        .expect(1)
        .mount(&api)
        .await;
    let s = site(&api.uri(), true);
    let pay = |body: &'static str| s.handle(req("POST", "/checkout/test-payment", body, &[]));

    let r = pay(r#"{"checkout_id":"chk_open"}"#).await.expect("response");
    assert_eq!(r.status(), 200, "{}", text(&r));
    let paid: Value = serde_json::from_slice(r.body().as_ref()).expect("json");
    assert_eq!(
        paid,
        json!({"checkout_id": "chk_open", "status": "completed",
                            "success_url": "http://127.0.0.1:1/checkout/complete"})
    );
    let delivered: Vec<Seen> = api
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/webhooks/stripe")
        .collect();
    assert_eq!(delivered.len(), 1);
    let signature = delivered[0].headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    adapters::stripe::webhook::verify(&delivered[0].body, signature, SECRET, now, 300)
        .expect("the endpoint secret verifies the signature");
    let event: Value = serde_json::from_slice(&delivered[0].body).expect("event");
    assert_eq!(event["type"], json!("checkout.session.completed"));
    assert_eq!(event["data"]["object"]["metadata"]["checkout_id"], json!("chk_open"));

    // Nothing more is posted for a paid checkout, an unknown one, or a malformed request.
    let r = pay(r#"{"checkout_id":"chk_done"}"#).await.expect("response");
    assert_eq!(r.status(), 409);
    let r = pay(r#"{"checkout_id":"chk_unknown"}"#).await.expect("response");
    assert_eq!(r.status(), 404);
    for bad in [
        r#"{"checkout_id":"sub_1"}"#,
        r#"{"checkout_id":"chk_<script>"}"#,
        "{}",
        "nope",
        r#"{"checkout_id":"chk_1","x":1}"#,
    ] {
        let r = s.handle(req("POST", "/checkout/test-payment", bad, &[])).await.expect("response");
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = serde_json::from_slice(r.body().as_ref()).expect("json");
        assert_eq!(body["error"]["code"], json!("invalid_request"), "{bad}");
    }
}
