//! Contract tests of the Stripe gateway: a local HTTP server plays Stripe and checks the exact
//! form-encoded request, headers included.

use adapters::stripe::gateway::STRIPE_VERSION;
use adapters::stripe::StripeGateway;
use domain::error::PortError;
use domain::model::Interval;
use domain::ports::{CheckoutSessionRequest, PaymentGateway};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn request() -> CheckoutSessionRequest {
    CheckoutSessionRequest {
        checkout_id: "chk_1".into(),
        product_name: "Pro & Co".into(),
        currency: "usd".into(),
        unit_amount: 1000,
        interval: Interval::Month,
        seats: 5,
        customer_email: "boss@corp.example".into(),
        success_url: "https://corp.example/ok?x=1".into(),
        cancel_url: "https://corp.example/cancel".into(),
    }
}

/// The body decoded into ordered pairs, so the assertion is on exact parameters.
fn form(req: &Request) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&req.body).expect("a form-encoded body")
}

struct ExactForm(Vec<(&'static str, &'static str)>);

impl wiremock::Match for ExactForm {
    fn matches(&self, req: &Request) -> bool {
        let got = form(req);
        let want: Vec<(String, String)> =
            self.0.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        got == want
    }
}

#[tokio::test]
async fn creates_a_subscription_checkout_session_with_quantity_equal_to_seats() {
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .and(header("authorization", "Bearer sk_test_123"))
        .and(header("idempotency-key", "checkout-chk_1"))
        .and(header("stripe-version", STRIPE_VERSION))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(ExactForm(vec![
            ("mode", "subscription"),
            ("client_reference_id", "chk_1"),
            ("customer_email", "boss@corp.example"),
            ("success_url", "https://corp.example/ok?x=1"),
            ("cancel_url", "https://corp.example/cancel"),
            ("line_items[0][quantity]", "5"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "1000"),
            ("line_items[0][price_data][recurring][interval]", "month"),
            ("line_items[0][price_data][product_data][name]", "Pro & Co"),
            ("metadata[checkout_id]", "chk_1"),
            ("subscription_data[metadata][checkout_id]", "chk_1"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "cs_test_abc", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_abc"
        })))
        .expect(1)
        .mount(&stripe)
        .await;

    let gw = StripeGateway::new(&stripe.uri(), "sk_test_123").expect("client");
    let session = gw.create_checkout_session(&request()).await.expect("session");
    assert_eq!(session.id, "cs_test_abc");
    assert_eq!(session.url, "https://checkout.stripe.com/c/pay/cs_test_abc");
}

#[tokio::test]
async fn stripe_failures_map_to_retryable_or_rejected() {
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": {"message": "bad"}})),
        )
        .mount(&stripe)
        .await;
    let gw = StripeGateway::new(&stripe.uri(), "sk_test_123").expect("client");
    assert!(matches!(gw.create_checkout_session(&request()).await, Err(PortError::Unavailable(..))));
    assert!(matches!(gw.create_checkout_session(&request()).await, Err(PortError::Unavailable(..))));
    assert!(matches!(gw.create_checkout_session(&request()).await, Err(PortError::Rejected(..))));
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let gw = StripeGateway::new(&format!("http://127.0.0.1:{port}"), "sk_test_123").expect("client");
    assert!(matches!(gw.create_checkout_session(&request()).await, Err(PortError::Unavailable(..))));
}
