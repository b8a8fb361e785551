//! Contract tests of the Stripe gateway: a local HTTP server plays Stripe and checks the exact
//! form-encoded request, headers included.

use adapters::stripe::gateway::STRIPE_VERSION;
use adapters::stripe::StripeGateway;
use domain::error::PortError;
use domain::model::Interval;
use domain::ports::{
    BillingPortalConfiguration, CancelRequest, ChargeOutcome, ChargeRequest, CheckoutSessionRequest,
    PaymentGateway, RenewalSchedule,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod common;

fn request() -> CheckoutSessionRequest {
    CheckoutSessionRequest {
        checkout_id: "chk_1".into(),
        price_id: "price_1".into(),
        seats: 5,
        customer_email: "boss@corp.example".into(),
        success_url: "https://corp.example/ok?x=1".into(),
        cancel_url: "https://corp.example/cancel".into(),
        trial_days: None,
        automatic_tax: false,
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
            ("line_items[0][price]", "price_1"),
            ("line_items[0][quantity]", "5"),
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
    // Stripe's idempotency_key_in_use: a concurrent call with the key; the outcome is unknown.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(409))
        .up_to_n_times(1)
        .mount(&stripe)
        .await;
    // A 200 we cannot read: Stripe may have done it, so it is no refusal.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
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
    for _ in 0..4 {
        assert!(matches!(gw.create_checkout_session(&request()).await, Err(PortError::Unavailable(..))));
    }
    assert!(matches!(gw.create_checkout_session(&request()).await, Err(PortError::Rejected(..))));
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let gw = StripeGateway::new(&format!("http://127.0.0.1:{port}"), "sk_test_123").expect("client");
    assert!(matches!(gw.create_checkout_session(&request()).await, Err(PortError::Unavailable(..))));
}

fn charge(quantity: i64, interval: Interval, unit_amount: i64) -> ChargeRequest {
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&chrono::Utc);
    ChargeRequest {
        provider_subscription_id: "sub_123".into(),
        item_id: Some("si_1".into()),
        price_id: format!("price_{}", interval.as_str()),
        quantity,
        proration_date: t("2025-03-11T00:00:00Z").timestamp(),
        reset_billing_cycle: interval == Interval::Year,
        idempotency_key: "sub_x-chg_1".into(),
        product_name: "Pro".into(),
        previous_quantity: 5,
        previous_unit_amount: 1000,
        previous_interval: Interval::Month,
        unit_amount,
        interval,
        period_start: t("2025-03-01T00:00:00Z"),
        period_end: t("2025-04-01T00:00:00Z"),
        trialing: false,
        automatic_tax: false,
    }
}

/// The offline gateway prices with the project's own arithmetic: API.md's worked examples.
#[tokio::test]
async fn the_offline_gateway_charges_the_worked_examples_and_can_decline() {
    use adapters::offline::{OfflineGateway, OfflinePayment};
    let gw = OfflineGateway::new("http://127.0.0.1:1", OfflinePayment::Succeed);
    let ChargeOutcome::Applied { invoice, .. } =
        gw.charge(&charge(8, Interval::Month, 1000)).await.expect("charge")
    else {
        panic!("paid")
    };
    assert_eq!(invoice.amount_due, 2032);
    let mut annual = charge(8, Interval::Year, 10000);
    annual.previous_quantity = 8;
    let ChargeOutcome::Applied { invoice, period } = gw.charge(&annual).await.expect("charge") else {
        panic!("paid")
    };
    assert_eq!((invoice.amount_due, period.0), (74581, annual.proration_date));
    let declining = OfflineGateway::new("http://127.0.0.1:1", OfflinePayment::Decline);
    let out = declining.charge(&charge(8, Interval::Month, 1000)).await.expect("charge");
    let ChargeOutcome::PaymentRequired { invoice, .. } = out else { panic!("declined: {out:?}") };
    assert_eq!((invoice.amount_due, invoice.status.as_str()), (2032, "open"));
    assert!(invoice.hosted_invoice_url.is_some_and(|u| u.contains("invoice_id=")));
}

fn portal() -> BillingPortalConfiguration {
    BillingPortalConfiguration {
        organization_id: "org_1".into(),
        business_name: "Acme".into(),
        default_return_url: "https://x.example/portal".into(),
        idempotency_key: "k".into(),
    }
}

fn cancel(cancel: bool) -> CancelRequest {
    CancelRequest {
        provider_subscription_id: "sub_123".into(),
        cancel,
        reason: Some(domain::model::CancellationReason::TooExpensive),
        comment: Some("We moved to a yearly contract elsewhere".into()),
        idempotency_key: "k".into(),
    }
}

/// Every form the gateway sends, checked against Stripe's published OpenAPI description
/// (the pinned, trimmed copy in tests/stripe-openapi): parameter names, types, enum values.
#[test]
fn every_form_the_gateway_sends_is_valid_for_stripes_openapi_description() {
    use adapters::stripe::forms;
    let product = common::product();
    let schedule = RenewalSchedule {
        provider_subscription_id: "sub_1".into(),
        current_period_end: 0,
        schedule_id: None,
        current_price_id: "price_y".into(),
        current_quantity: 5,
        next_price_id: "price_m".into(),
        next_interval: Interval::Month,
        next_quantity: 3,
        idempotency_key: "k".into(),
    };
    let cases: Vec<(&str, &str, adapters::stripe::forms::Form)> = vec![
        ("POST", "/v1/products", forms::product_form(&product)),
        ("POST", "/v1/prices", forms::price_form("prod_s", &product, Interval::Year, 10000)),
        ("POST", "/v1/checkout/sessions", forms::checkout_session_form(&request())),
        (
            "POST",
            "/v1/checkout/sessions",
            forms::checkout_session_form(&CheckoutSessionRequest { trial_days: Some(14), ..request() }),
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            forms::checkout_session_form(&CheckoutSessionRequest { automatic_tax: true, ..request() }),
        ),
        (
            "POST",
            "/v1/invoices/create_preview",
            forms::preview_form(
                "sub_123",
                "si_1",
                &ChargeRequest { automatic_tax: true, ..charge(8, Interval::Month, 1000) },
            ),
        ),
        ("POST", "/v1/subscriptions/sub_123", forms::charge_form("si_1", &charge(8, Interval::Month, 1000))),
        ("POST", "/v1/subscriptions/sub_123", forms::charge_form("si_1", &charge(5, Interval::Year, 10000))),
        (
            "POST",
            "/v1/invoices/create_preview",
            forms::preview_form("sub_123", "si_1", &charge(8, Interval::Month, 1000)),
        ),
        (
            "POST",
            "/v1/invoices/create_preview",
            forms::preview_form("sub_123", "si_1", &charge(5, Interval::Year, 10000)),
        ),
        ("POST", "/v1/subscription_schedules", vec![forms::f("from_subscription", "sub_1")]),
        ("POST", "/v1/subscription_schedules/sub_sched_1", forms::schedule_phases_form(&schedule, 1, 2)),
        ("POST", "/v1/subscription_schedules/sub_sched_1/release", vec![]),
        ("GET", "/v1/subscriptions/sub_1", vec![forms::f("expand[]", "latest_invoice")]),
        ("GET", "/v1/subscription_schedules/sub_sched_1", vec![]),
        ("POST", "/v1/subscriptions/sub_123", forms::cancel_form(&cancel(true))),
        ("POST", "/v1/subscriptions/sub_123", forms::cancel_form(&cancel(false))),
        ("GET", "/v1/invoices", forms::invoices_query("sub_123", 10, Some("in_1"))),
        ("POST", "/v1/invoices/in_1/void", vec![]),
        ("POST", "/v1/prices/price_1", vec![forms::f("tax_behavior", "exclusive")]),
        ("POST", "/v1/billing_portal/configurations", forms::billing_portal_configuration_form(&portal())),
        (
            "POST",
            "/v1/billing_portal/sessions",
            forms::billing_portal_session_form("cus_1", "bpc_1", "https://x.example/back"),
        ),
    ];
    for (method, path, form) in cases {
        if let Err(v) = stripe_openapi::check_request(method, path, &form) {
            panic!("{method} {path}: {v:?}\n{form:?}");
        }
    }
    // The checker can fail: the form the old gateway sent for an annual switch.
    let old = vec![forms::f("items[0][price_data][recurring][interval]", "annually")];
    assert!(stripe_openapi::check_request("POST", "/v1/subscriptions/sub_1", &old).is_err());
}
