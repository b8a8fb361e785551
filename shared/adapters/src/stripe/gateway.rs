//! The Stripe API client behind the `PaymentGateway` port.

use async_trait::async_trait;
use domain::error::PortError;
use domain::ports::{CheckoutSession, CheckoutSessionRequest, PaymentGateway};
use serde::Deserialize;
use std::time::Duration;

/// The API version this code was written against (event and object shapes).
pub const STRIPE_VERSION: &str = "2025-03-31.basil";

#[derive(Clone)]
pub struct StripeGateway {
    http: reqwest::Client,
    base_url: String,
    secret_key: String,
}

/// Form fields in order, as Stripe's bracketed form encoding wants them.
pub type Form = Vec<(String, String)>;

#[derive(Deserialize)]
struct CreatedSession {
    id: String,
    url: Option<String>,
}

impl StripeGateway {
    /// `base_url` is `https://api.stripe.com` in production, a local server in tests.
    pub fn new(base_url: &str, secret_key: &str) -> Result<Self, PortError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| PortError::Rejected("stripe", e.to_string()))?;
        Ok(StripeGateway {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key: secret_key.to_string(),
        })
    }

    /// POSTs a form with an idempotency key, so a retried Lambda never double-charges.
    pub async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<T, PortError> {
        let body =
            serde_urlencoded::to_string(form).map_err(|e| PortError::Rejected("stripe", e.to_string()))?;
        let resp = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| PortError::Unavailable("stripe", e.without_url().to_string()))?;
        let status = resp.status();
        let text =
            resp.text().await.map_err(|e| PortError::Unavailable("stripe", e.without_url().to_string()))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(PortError::Unavailable("stripe", format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(PortError::Rejected("stripe", format!("HTTP {status}: {text}")));
        }
        serde_json::from_str(&text)
            .map_err(|e| PortError::Rejected("stripe", format!("unexpected response: {e}")))
    }
}

/// The Checkout Session for a seat purchase: subscription mode, one line whose quantity is
/// the seat count, priced inline so the product needs no Stripe-side catalogue.
pub fn checkout_session_form(req: &CheckoutSessionRequest) -> Form {
    let f = |k: &str, v: String| (k.to_string(), v);
    vec![
        f("mode", "subscription".into()),
        f("client_reference_id", req.checkout_id.clone()),
        f("customer_email", req.customer_email.clone()),
        f("success_url", req.success_url.clone()),
        f("cancel_url", req.cancel_url.clone()),
        f("line_items[0][quantity]", req.seats.to_string()),
        f("line_items[0][price_data][currency]", req.currency.clone()),
        f("line_items[0][price_data][unit_amount]", req.unit_amount.to_string()),
        f("line_items[0][price_data][recurring][interval]", req.interval.as_str().into()),
        f("line_items[0][price_data][product_data][name]", req.product_name.clone()),
        f("metadata[checkout_id]", req.checkout_id.clone()),
        f("subscription_data[metadata][checkout_id]", req.checkout_id.clone()),
    ]
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError> {
        let created: CreatedSession = self
            .post(
                "/v1/checkout/sessions",
                &checkout_session_form(req),
                &format!("checkout-{}", req.checkout_id),
            )
            .await?;
        Ok(CheckoutSession {
            url: created.url.ok_or_else(|| PortError::Rejected("stripe", "session without url".into()))?,
            id: created.id,
        })
    }
}
