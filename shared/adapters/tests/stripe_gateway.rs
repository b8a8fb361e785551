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

fn change(quantity: i64, interval: Interval, unit_amount: i64) -> domain::ports::ProviderChange {
    use chrono::TimeZone;
    let t = |d| chrono::Utc.with_ymd_and_hms(2025, 3, d, 0, 0, 0).single().expect("date");
    domain::ports::ProviderChange {
        provider_subscription_id: "sub_123".into(),
        product_name: "Pro".into(),
        currency: "usd".into(),
        quantity,
        previous_quantity: 5,
        previous_unit_amount: 1000,
        previous_interval: Interval::Month,
        unit_amount,
        interval,
        period_start: t(1),
        period_end: chrono::Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).single().expect("date"),
        proration_date: t(11).timestamp(),
        idempotency_key: "sub_x-v3-seats-8".into(),
    }
}

/// Stripe's subscription as the gateway reads it: one item with its price and product.
async fn mount_subscription(stripe: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_123"))
        .and(header("authorization", "Bearer sk_test_123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "sub_123", "object": "subscription",
            "items": {"object": "list", "data": [{"id": "si_1", "quantity": 5,
                "price": {"id": "price_month", "product": "prod_S1"}}]}
        })))
        .mount(stripe)
        .await;
}

fn invoice(amount_due: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "id": "sub_123", "object": "subscription",
        "latest_invoice": {"id": "in_1", "object": "invoice", "amount_due": amount_due}
    }))
}

#[tokio::test]
async fn a_seat_increase_is_invoiced_now_with_our_proration_date() {
    let stripe = MockServer::start().await;
    mount_subscription(&stripe).await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_123"))
        .and(header("idempotency-key", "sub_x-v3-seats-8"))
        .and(ExactForm(vec![
            ("items[0][id]", "si_1"),
            ("items[0][quantity]", "8"),
            ("proration_behavior", "always_invoice"),
            ("proration_date", "1741651200"),
            ("payment_behavior", "pending_if_incomplete"),
            ("expand[0]", "latest_invoice"),
        ]))
        .respond_with(invoice(2032))
        .expect(1)
        .mount(&stripe)
        .await;
    let gw = StripeGateway::new(&stripe.uri(), "sk_test_123").expect("client");
    let inv = gw.invoice_seat_increase(&change(8, Interval::Month, 1000)).await.expect("invoice");
    assert_eq!((inv.id.as_str(), inv.amount_due), ("in_1", 2032));
}

#[tokio::test]
async fn a_decrease_sets_the_renewal_quantity_without_proration() {
    let stripe = MockServer::start().await;
    mount_subscription(&stripe).await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_123"))
        .and(ExactForm(vec![
            ("items[0][id]", "si_1"),
            ("items[0][quantity]", "3"),
            ("proration_behavior", "none"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "sub_123"})))
        .expect(1)
        .mount(&stripe)
        .await;
    let gw = StripeGateway::new(&stripe.uri(), "sk_test_123").expect("client");
    gw.set_renewal_quantity(&change(3, Interval::Month, 1000)).await.expect("renewal quantity");
}

#[tokio::test]
async fn monthly_to_annual_swaps_the_price_with_a_new_anchor() {
    let stripe = MockServer::start().await;
    mount_subscription(&stripe).await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_123"))
        .and(ExactForm(vec![
            ("items[0][id]", "si_1"),
            ("items[0][quantity]", "8"),
            ("items[0][price_data][currency]", "usd"),
            ("items[0][price_data][product]", "prod_S1"),
            ("items[0][price_data][unit_amount]", "10000"),
            ("items[0][price_data][recurring][interval]", "year"),
            ("billing_cycle_anchor", "now"),
            ("proration_behavior", "always_invoice"),
            ("proration_date", "1741651200"),
            ("payment_behavior", "pending_if_incomplete"),
            ("expand[0]", "latest_invoice"),
        ]))
        .respond_with(invoice(74581))
        .expect(1)
        .mount(&stripe)
        .await;
    let gw = StripeGateway::new(&stripe.uri(), "sk_test_123").expect("client");
    let mut c = change(8, Interval::Year, 10000);
    c.previous_quantity = 8;
    let inv = gw.switch_interval_now(&c).await.expect("invoice");
    assert_eq!(inv.amount_due, 74581);
}

#[tokio::test]
async fn annual_to_monthly_is_a_two_phase_schedule_that_releases() {
    let stripe = MockServer::start().await;
    mount_subscription(&stripe).await;
    Mock::given(method("POST"))
        .and(path("/v1/subscription_schedules"))
        .and(ExactForm(vec![("from_subscription", "sub_123")]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "sub_sched_1"})))
        .expect(1)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/subscription_schedules/sub_sched_1"))
        .and(ExactForm(vec![
            ("end_behavior", "release"),
            ("proration_behavior", "none"),
            ("phases[0][items][0][price]", "price_month"),
            ("phases[0][items][0][quantity]", "4"),
            ("phases[0][start_date]", "1740787200"),
            ("phases[0][end_date]", "1743465600"),
            ("phases[1][items][0][price_data][currency]", "usd"),
            ("phases[1][items][0][price_data][product]", "prod_S1"),
            ("phases[1][items][0][price_data][unit_amount]", "1000"),
            ("phases[1][items][0][price_data][recurring][interval]", "month"),
            ("phases[1][items][0][quantity]", "4"),
            ("phases[1][iterations]", "1"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "sub_sched_1"})))
        .expect(1)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/subscription_schedules/sub_sched_1/release"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "sub_sched_1"})))
        .expect(1)
        .mount(&stripe)
        .await;
    let gw = StripeGateway::new(&stripe.uri(), "sk_test_123").expect("client");
    let id = gw.schedule_interval_change(&change(4, Interval::Month, 1000)).await.expect("schedule");
    assert_eq!(id, "sub_sched_1");
    gw.cancel_scheduled_change("sub_123", &id).await.expect("release");
}

#[tokio::test]
async fn the_offline_gateway_invoices_what_the_preview_shows() {
    let gw = adapters::offline::OfflineGateway::new("http://127.0.0.1:1");
    assert_eq!(
        gw.invoice_seat_increase(&change(8, Interval::Month, 1000)).await.expect("invoice").amount_due,
        2032
    );
    let mut annual = change(8, Interval::Year, 10000);
    annual.previous_quantity = 8;
    assert_eq!(gw.switch_interval_now(&annual).await.expect("invoice").amount_due, 74581);
}
