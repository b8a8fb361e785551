//! The Stripe API client behind the `PaymentGateway` port.

use async_trait::async_trait;
use domain::error::PortError;
use domain::ports::{
    CheckoutSession, CheckoutSessionRequest, PaymentGateway, ProviderChange, ProviderInvoice,
};
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
        read(resp).await
    }
}

/// Stripe's answer: 429 and 5xx are retryable, other errors are refusals, success is JSON.
async fn read<T: for<'de> Deserialize<'de>>(resp: reqwest::Response) -> Result<T, PortError> {
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

/// What the changes need to know of the Stripe subscription: its one item and price.
#[derive(Debug, Deserialize)]
pub struct StripeSubscription {
    pub items: StripeList<StripeItem>,
}

#[derive(Debug, Deserialize)]
pub struct StripeList<T> {
    pub data: Vec<T>,
}

#[derive(Debug, Deserialize)]
pub struct StripeItem {
    pub id: String,
    pub price: StripePrice,
}

#[derive(Debug, Deserialize)]
pub struct StripePrice {
    pub id: String,
    pub product: String,
}

#[derive(Debug, Deserialize)]
struct UpdatedSubscription {
    latest_invoice: Option<StripeInvoice>,
}

#[derive(Debug, Deserialize)]
struct StripeInvoice {
    id: String,
    amount_due: i64,
}

#[derive(Debug, Deserialize)]
struct Created {
    id: String,
}

impl StripeGateway {
    pub async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, PortError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
            .send()
            .await
            .map_err(|e| PortError::Unavailable("stripe", e.without_url().to_string()))?;
        read(resp).await
    }

    async fn item(&self, provider_subscription_id: &str) -> Result<StripeItem, PortError> {
        let sub: StripeSubscription =
            self.get(&format!("/v1/subscriptions/{provider_subscription_id}")).await?;
        sub.items
            .data
            .into_iter()
            .next()
            .ok_or_else(|| PortError::Rejected("stripe", "subscription without items".into()))
    }

    async fn update_subscription(
        &self,
        c: &ProviderChange,
        form: Form,
    ) -> Result<ProviderInvoice, PortError> {
        let updated: UpdatedSubscription = self
            .post(&format!("/v1/subscriptions/{}", c.provider_subscription_id), &form, &c.idempotency_key)
            .await?;
        let invoice = updated
            .latest_invoice
            .ok_or_else(|| PortError::Rejected("stripe", "no invoice for the change".into()))?;
        Ok(ProviderInvoice { id: invoice.id, amount_due: invoice.amount_due })
    }
}

fn f(k: &str, v: impl ToString) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// More seats now, prorated exactly as our preview and invoiced at once.
pub fn seat_increase_form(item_id: &str, c: &ProviderChange) -> Form {
    vec![
        f("items[0][id]", item_id),
        f("items[0][quantity]", c.quantity),
        f("proration_behavior", "always_invoice"),
        f("proration_date", c.proration_date),
        f("payment_behavior", "pending_if_incomplete"),
        f("expand[0]", "latest_invoice"),
    ]
}

/// The quantity the next renewal bills; nothing is credited or charged now.
pub fn renewal_quantity_form(item_id: &str, c: &ProviderChange) -> Form {
    vec![f("items[0][id]", item_id), f("items[0][quantity]", c.quantity), f("proration_behavior", "none")]
}

/// Monthly → annual now: the new price, a new period from now, unused time credited.
pub fn interval_switch_form(item: &StripeItem, c: &ProviderChange) -> Form {
    vec![
        f("items[0][id]", &item.id),
        f("items[0][quantity]", c.quantity),
        f("items[0][price_data][currency]", &c.currency),
        f("items[0][price_data][product]", &item.price.product),
        f("items[0][price_data][unit_amount]", c.unit_amount),
        f("items[0][price_data][recurring][interval]", c.interval.as_str()),
        f("billing_cycle_anchor", "now"),
        f("proration_behavior", "always_invoice"),
        f("proration_date", c.proration_date),
        f("payment_behavior", "pending_if_incomplete"),
        f("expand[0]", "latest_invoice"),
    ]
}

/// Annual → monthly at the period's end: the schedule's current phase keeps the annual price
/// to the end, the next phase bills the monthly price; then the schedule releases.
pub fn schedule_phases_form(item: &StripeItem, c: &ProviderChange) -> Form {
    vec![
        f("end_behavior", "release"),
        f("proration_behavior", "none"),
        f("phases[0][items][0][price]", &item.price.id),
        f("phases[0][items][0][quantity]", c.quantity),
        f("phases[0][start_date]", c.period_start.timestamp()),
        f("phases[0][end_date]", c.period_end.timestamp()),
        f("phases[1][items][0][price_data][currency]", &c.currency),
        f("phases[1][items][0][price_data][product]", &item.price.product),
        f("phases[1][items][0][price_data][unit_amount]", c.unit_amount),
        f("phases[1][items][0][price_data][recurring][interval]", c.interval.as_str()),
        f("phases[1][items][0][quantity]", c.quantity),
        f("phases[1][iterations]", 1),
    ]
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    async fn invoice_seat_increase(&self, c: &ProviderChange) -> Result<ProviderInvoice, PortError> {
        let item = self.item(&c.provider_subscription_id).await?;
        self.update_subscription(c, seat_increase_form(&item.id, c)).await
    }

    async fn set_renewal_quantity(&self, c: &ProviderChange) -> Result<(), PortError> {
        let item = self.item(&c.provider_subscription_id).await?;
        let _: serde_json::Value = self
            .post(
                &format!("/v1/subscriptions/{}", c.provider_subscription_id),
                &renewal_quantity_form(&item.id, c),
                &c.idempotency_key,
            )
            .await?;
        Ok(())
    }

    async fn switch_interval_now(&self, c: &ProviderChange) -> Result<ProviderInvoice, PortError> {
        let item = self.item(&c.provider_subscription_id).await?;
        self.update_subscription(c, interval_switch_form(&item, c)).await
    }

    async fn schedule_interval_change(&self, c: &ProviderChange) -> Result<String, PortError> {
        let item = self.item(&c.provider_subscription_id).await?;
        let schedule: Created = self
            .post(
                "/v1/subscription_schedules",
                &vec![f("from_subscription", &c.provider_subscription_id)],
                &format!("{}-schedule", c.idempotency_key),
            )
            .await?;
        let _: serde_json::Value = self
            .post(
                &format!("/v1/subscription_schedules/{}", schedule.id),
                &schedule_phases_form(&item, c),
                &format!("{}-phases", c.idempotency_key),
            )
            .await?;
        Ok(schedule.id)
    }

    async fn cancel_scheduled_change(&self, _sub: &str, schedule_id: &str) -> Result<(), PortError> {
        let _: serde_json::Value = self
            .post(
                &format!("/v1/subscription_schedules/{schedule_id}/release"),
                &vec![],
                &format!("release-{schedule_id}"),
            )
            .await?;
        Ok(())
    }

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
