//! Faults: the store unreachable or throttled answers 503 `unavailable` (with Retry-After and
//! nothing internal in the body), whatever the route; the handlers never panic or leak.

use domain::memory::{FixedClock, MemoryFiles, MemoryMailer, MemoryPayments, MemoryQueue};
use domain::services::{App, Settings};
use lambda_http::{Body, Request};
use serde_json::Value;
use std::sync::Arc;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn app_with_store_at(endpoint: &str) -> App {
    let sdk = local_stack::resources::sdk_config(endpoint).await;
    App {
        store: Arc::new(adapters::dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "seats")),
        mailer: Arc::new(MemoryMailer::default()),
        payments: Arc::new(MemoryPayments::default()),
        files: Arc::new(MemoryFiles),
        jobs: Arc::new(MemoryQueue::default()),
        webhooks: Arc::new(domain::memory::MemoryWebhookQueue::default()),
        clock: Arc::new(FixedClock::at(chrono::Utc::now())),
        settings: Settings::with_defaults("https://portal.example", &domain::secrets::hash("admin")),
    }
}

fn request(method: &str, path: &str, token: Option<&str>, body: &str) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(if body.is_empty() { Body::Empty } else { Body::Text(body.to_string()) }).expect("request")
}

async fn assert_unavailable(app: &App, endpoint: &str) {
    let sub = "sub_0000000000000000000000000000abcd";
    let cases = vec![
        ("products", request("GET", "/v1/products/prod_0000000000000000000000000000abcd", None, "")),
        (
            "products",
            request(
                "POST",
                "/v1/products",
                Some("sk_live_key"),
                r#"{"name":"X","currency":"usd","prices":{"month":{"unit_amount":1}}}"#,
            ),
        ),
        (
            "assign",
            request(
                "POST",
                &format!("/v1/subscriptions/{sub}/seats"),
                Some("sk_live_key"),
                r#"{"email":"a@b.example"}"#,
            ),
        ),
    ];
    for (function, req) in cases {
        let resp = match function {
            "products" => products::handler::handle(app, req).await,
            _ => assign::handler::handle(app, req).await,
        }
        .expect("a response, never an error");
        assert_eq!(resp.status().as_u16(), 503, "{function}");
        assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        let body: Value = serde_json::from_slice(resp.body().as_ref()).expect("json");
        assert_eq!(body["error"]["code"], Value::String("unavailable".into()));
        let text = body.to_string();
        let host = endpoint.trim_start_matches("http://");
        assert!(
            !text.contains(host) && !text.contains("dispatch") && !text.contains("Throttling"),
            "internal details leaked: {text}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_store_is_503_unavailable() {
    let port = local_stack::free_port().expect("port");
    let endpoint = format!("http://127.0.0.1:{port}");
    let app = app_with_store_at(&endpoint).await;
    assert_unavailable(&app, &endpoint).await;
}

#[tokio::test]
async fn a_throttled_store_is_503_unavailable() {
    let dynamo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"Rate of requests exceeds the allowed throughput."}"#,
            "application/x-amz-json-1.0",
        ))
        .mount(&dynamo)
        .await;
    let app = app_with_store_at(&dynamo.uri()).await;
    assert_unavailable(&app, &dynamo.uri()).await;
    // The SDK retried (standard mode: up to 3 attempts) before the handler gave up.
    assert!(dynamo.received_requests().await.map(|r| r.len()).unwrap_or(0) >= 3);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_400_not_5xx() {
    // Whatever the host does with such bytes (API Gateway base64-encodes them), the handlers
    // see bytes that are not JSON and answer 400 before they touch the (unreachable) store.
    let app =
        app_with_store_at(&format!("http://127.0.0.1:{}", local_stack::free_port().expect("port"))).await;
    let raw = || Body::Binary(vec![0xff, 0xfe, 0x10, 0xc3, 0x28]);
    let post = |path: &str, body: Body| {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .header("stripe-signature", "t=1,v1=00")
            .body(body)
            .expect("request")
    };
    let webhook = stripe_webhook::handler::Webhook { app: app.clone(), secret: "whsec_test".into() };
    let statuses = [
        products::handler::handle(&app, post("/v1/products", raw())).await,
        products::handler::handle(&app, post("/v1/products", Body::Text("\u{fffd}\u{fffd}S".into()))).await,
        purchase::handler::handle(&app, post("/v1/checkouts", raw())).await,
        stripe_webhook::handler::handle(&webhook, post("/v1/webhooks/stripe", raw())).await,
    ];
    for (i, resp) in statuses.into_iter().enumerate() {
        let resp = resp.expect("a response");
        assert_eq!(resp.status().as_u16(), 400, "case {i}");
        let body: Value = serde_json::from_slice(resp.body().as_ref()).expect("json");
        assert_eq!(body["error"]["code"], Value::String("invalid_request".into()), "case {i}");
    }
}
