//! The Stripe API client behind the `PaymentGateway` port: Prices for products, Checkout
//! Sessions, payment-first subscription updates, invoice previews and subscription schedules.

use super::forms::{self, f, Form};
use super::objects::{self, Created, CreatedSession, Schedule, Subscription};
use async_trait::async_trait;
use domain::error::PortError;
use domain::model::{Interval, InvoicePage, Product, ProviderPrices};
use domain::ports::{
    BillingPortalConfiguration, CancelRequest, ChargeOutcome, ChargeRequest, CheckoutSession,
    CheckoutSessionRequest, PaymentGateway, ProviderInvoice, ProviderSubscription, RenewalSchedule,
    ScheduledRenewal, VoidOutcome,
};
use serde::Deserialize;
use std::time::Duration;

/// The API version this code was written against (event and object shapes).
pub const STRIPE_VERSION: &str = "2025-03-31.basil";

/// One Stripe call's budget. A change makes at most three calls (read the item, update,
/// rewrite a schedule), which leaves the change functions (29 s) room to write the result;
/// a call that times out leaves the change's intent for the sweeper, never a second charge.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Clone)]
pub struct StripeGateway {
    http: reqwest::Client,
    base_url: String,
    secret_key: String,
}

fn rejected(m: impl Into<String>) -> PortError {
    PortError::Rejected("stripe", m.into())
}

impl StripeGateway {
    /// `base_url` is `https://api.stripe.com` in production, a local server in tests.
    pub fn new(base_url: &str, secret_key: &str) -> Result<Self, PortError> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| rejected(e.to_string()))?;
        Ok(StripeGateway {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret_key: secret_key.to_string(),
        })
    }

    /// POSTs a form; with an idempotency key a retried call replays Stripe's first answer.
    pub async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, PortError> {
        let body = serde_urlencoded::to_string(form).map_err(|e| rejected(e.to_string()))?;
        let mut req = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let resp =
            req.send().await.map_err(|e| PortError::Unavailable("stripe", e.without_url().to_string()))?;
        read(resp).await
    }

    /// DELETEs a resource (with an idempotency key: a retried call replays).
    pub async fn delete<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        idempotency_key: &str,
    ) -> Result<T, PortError> {
        let resp = self
            .http
            .delete(format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .send()
            .await
            .map_err(|e| PortError::Unavailable("stripe", e.without_url().to_string()))?;
        read(resp).await
    }

    pub async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str, query: &Form) -> Result<T, PortError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base_url))
            .query(query)
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
            .send()
            .await
            .map_err(|e| PortError::Unavailable("stripe", e.without_url().to_string()))?;
        read(resp).await
    }

    async fn stripe_subscription(&self, id: &str) -> Result<Subscription, PortError> {
        self.get(&format!("/v1/subscriptions/{id}"), &vec![f("expand[]", "latest_invoice")]).await
    }

    /// The subscription item that carries the seats (known, or read once).
    async fn item_id(&self, c: &ChargeRequest) -> Result<String, PortError> {
        if let Some(id) = &c.item_id {
            return Ok(id.clone());
        }
        let sub = self.stripe_subscription(&c.provider_subscription_id).await?;
        sub.first_item().map(|i| i.id.clone()).ok_or_else(|| rejected("subscription without items"))
    }
}

/// Stripe's answer: 429, 5xx and 409 (the same idempotency key in use by a concurrent call)
/// are retryable; other errors are refusals (nothing happened); success is JSON. A success we
/// cannot read is an unknown outcome, not a refusal: Stripe may have done it.
async fn read<T: for<'de> Deserialize<'de>>(resp: reqwest::Response) -> Result<T, PortError> {
    let status = resp.status();
    let text =
        resp.text().await.map_err(|e| PortError::Unavailable("stripe", e.without_url().to_string()))?;
    if status.is_server_error() || matches!(status.as_u16(), 409 | 429) {
        return Err(PortError::Unavailable("stripe", format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(rejected(format!("HTTP {status}: {text}")));
    }
    serde_json::from_str(&text)
        .map_err(|e| PortError::Unavailable("stripe", format!("an answer that could not be read: {e}")))
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    async fn create_prices(&self, product: &Product) -> Result<ProviderPrices, PortError> {
        let made: Created = self
            .post("/v1/products", &forms::product_form(product), Some(&format!("product-{}", product.id)))
            .await?;
        let mut prices = ProviderPrices::default();
        for interval in [Interval::Month, Interval::Year] {
            let Some(price) = product.prices.for_interval(interval) else { continue };
            let key = format!("price-{}-{}", product.id, interval.as_str());
            let form = forms::price_form(&made.id, product, interval, price.unit_amount);
            let created: Created = self.post("/v1/prices", &form, Some(&key)).await?;
            match interval {
                Interval::Month => prices.month = Some(created.id),
                Interval::Year => prices.year = Some(created.id),
            }
        }
        Ok(prices)
    }

    async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError> {
        let created: CreatedSession = self
            .post(
                "/v1/checkout/sessions",
                &forms::checkout_session_form(req),
                Some(&format!("checkout-{}", req.checkout_id)),
            )
            .await?;
        Ok(CheckoutSession {
            url: created.url.ok_or_else(|| rejected("session without url"))?,
            id: created.id,
        })
    }

    async fn subscription(&self, id: &str) -> Result<Option<ProviderSubscription>, PortError> {
        let sub = self.stripe_subscription(id).await?;
        sub.into_provider().map(Some).ok_or_else(|| rejected("subscription without a recurring item"))
    }

    async fn preview_charge(&self, c: &ChargeRequest) -> Result<Option<ProviderInvoice>, PortError> {
        let item = self.item_id(c).await?;
        let form = forms::preview_form(&c.provider_subscription_id, &item, c);
        // A preview creates nothing: no idempotency key.
        let invoice: objects::Invoice = self.post("/v1/invoices/create_preview", &form, None).await?;
        Ok(Some(invoice.into_provider()))
    }

    async fn charge(&self, c: &ChargeRequest) -> Result<ChargeOutcome, PortError> {
        let item = self.item_id(c).await?;
        let updated: Subscription = self
            .post(
                &format!("/v1/subscriptions/{}", c.provider_subscription_id),
                &forms::charge_form(&item, c),
                Some(&c.idempotency_key),
            )
            .await?;
        // Stripe answered 200: it did something; what we cannot read stays for the sweeper.
        let unreadable = |what: &str| PortError::Unavailable("stripe", what.to_string());
        let invoice = objects::invoice_of(&updated.latest_invoice)
            .ok_or_else(|| unreadable("no invoice for the change"))?;
        if let Some(pending) = &updated.pending_update {
            // Not paid: Stripe keeps the subscription as it was and the change pending.
            return Ok(ChargeOutcome::PaymentRequired { invoice, expires_at: pending.expires_at });
        }
        let first = updated.first_item().ok_or_else(|| unreadable("subscription without items"))?;
        Ok(ChargeOutcome::Applied { period: (first.current_period_start, first.current_period_end), invoice })
    }

    async fn schedule_renewal(&self, s: &RenewalSchedule) -> Result<ScheduledRenewal, PortError> {
        // The schedule attached to the subscription, if any: ours (known), or one that outlived
        // the change it carried (its last phase runs on after the renewal applied it), which
        // Stripe would not let a second one join.
        let attached = match &s.schedule_id {
            Some(id) => Some(id.clone()),
            None => {
                let sub = self.stripe_subscription(&s.provider_subscription_id).await?;
                sub.into_provider().and_then(|p| p.schedule_id)
            }
        };
        let schedule: Schedule = match &attached {
            Some(id) => self.get(&format!("/v1/subscription_schedules/{id}"), &vec![]).await?,
            None => {
                self.post(
                    "/v1/subscription_schedules",
                    &vec![f("from_subscription", &s.provider_subscription_id)],
                    Some(&format!("{}-schedule", s.idempotency_key)),
                )
                .await?
            }
        };
        // The current phase as Stripe has it: its start can never change.
        let current = schedule
            .current_phase
            .or_else(|| schedule.phases.first().copied())
            .ok_or_else(|| rejected("schedule without a current phase"))?;
        let _: serde_json::Value = self
            .post(
                &format!("/v1/subscription_schedules/{}", schedule.id),
                &forms::schedule_phases_form(s, current.start_date, current.end_date),
                Some(&format!("{}-phases", s.idempotency_key)),
            )
            .await?;
        Ok(ScheduledRenewal { schedule_id: schedule.id, next_phase_starts_at: current.end_date })
    }

    async fn release_schedule(&self, schedule_id: &str, idempotency_key: &str) -> Result<(), PortError> {
        let released: Result<serde_json::Value, PortError> = self
            .post(
                &format!("/v1/subscription_schedules/{schedule_id}/release"),
                &vec![],
                Some(&format!("{idempotency_key}-release")),
            )
            .await;
        match released {
            Err(e @ PortError::Rejected(..)) => {
                // Released, canceled or completed already (by hand, or with its subscription):
                // what was asked is so.
                let schedule: Schedule =
                    self.get(&format!("/v1/subscription_schedules/{schedule_id}"), &vec![]).await?;
                match schedule.status.as_deref() {
                    Some("active") | Some("not_started") => Err(e),
                    _ => Ok(()),
                }
            }
            other => other.map(|_| ()),
        }
    }

    async fn cancel_at_period_end(&self, c: &CancelRequest) -> Result<(), PortError> {
        if c.cancel {
            // Stripe refuses `cancel_at_period_end` on a subscription a schedule manages (ours,
            // or one that outlived its change): released first, it renews as it is until the end.
            let sub = self.stripe_subscription(&c.provider_subscription_id).await?;
            if let Some(schedule_id) = sub.into_provider().and_then(|p| p.schedule_id) {
                self.release_schedule(&schedule_id, &c.idempotency_key).await?;
            }
        }
        let _: Subscription = self
            .post(
                &format!("/v1/subscriptions/{}", c.provider_subscription_id),
                &forms::cancel_form(c),
                Some(&format!("{}-cancel", c.idempotency_key)),
            )
            .await?;
        Ok(())
    }

    /// `POST /v1/prices/{id}` with `tax_behavior=exclusive`: Stripe takes it once, while the
    /// Price says nothing; a refusal means it says already (and keeps what it says).
    async fn make_price_tax_exclusive(&self, price_id: &str) -> Result<(), PortError> {
        let updated: Result<serde_json::Value, PortError> = self
            .post(
                &format!("/v1/prices/{price_id}"),
                &vec![forms::f("tax_behavior", "exclusive")],
                Some(&format!("price-tax-{price_id}")),
            )
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(PortError::Rejected(_, m)) => {
                tracing::warn!(price_id, error = %m, "a Price keeps the tax behaviour it has");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /v1/invoices/{id}/void`; refused for an invoice no longer open: read back, a
    /// paid one says so, a void one is what was asked.
    async fn void_invoice(&self, invoice_id: &str, idempotency_key: &str) -> Result<VoidOutcome, PortError> {
        let voided: Result<serde_json::Value, PortError> = self
            .post(
                &format!("/v1/invoices/{invoice_id}/void"),
                &vec![],
                Some(&format!("{idempotency_key}-void")),
            )
            .await;
        match voided {
            Ok(_) => Ok(VoidOutcome::Voided),
            Err(e @ PortError::Rejected(..)) => {
                let invoice: serde_json::Value =
                    self.get(&format!("/v1/invoices/{invoice_id}"), &vec![]).await?;
                match invoice.get("status").and_then(|s| s.as_str()) {
                    Some("paid") => Ok(VoidOutcome::Paid),
                    Some("void") => Ok(VoidOutcome::Voided),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `DELETE /v1/subscriptions/{id}`: canceled now, no proration, no final invoice (its
    /// unpaid invoice is voided first). Refused: done only if Stripe has it canceled already.
    async fn cancel_now(
        &self,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> Result<(), PortError> {
        let deleted: Result<Subscription, PortError> =
            self.delete(&format!("/v1/subscriptions/{provider_subscription_id}"), idempotency_key).await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e @ PortError::Rejected(..)) => {
                match self.stripe_subscription(provider_subscription_id).await {
                    Ok(sub) if sub.status == "canceled" => Ok(()),
                    // Gone at Stripe: nothing can charge it.
                    Err(PortError::Rejected(_, m)) if m.contains("HTTP 404") => Ok(()),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn create_billing_portal_configuration(
        &self,
        c: &BillingPortalConfiguration,
    ) -> Result<Option<String>, PortError> {
        let made: Created = self
            .post(
                "/v1/billing_portal/configurations",
                &forms::billing_portal_configuration_form(c),
                Some(&c.idempotency_key),
            )
            .await?;
        Ok(Some(made.id))
    }

    async fn billing_portal_session(
        &self,
        provider_customer_id: &str,
        configuration_id: &str,
        return_url: &str,
    ) -> Result<String, PortError> {
        // A session is single-use and short-lived: nothing to replay, no idempotency key.
        let session: CreatedSession = self
            .post(
                "/v1/billing_portal/sessions",
                &forms::billing_portal_session_form(provider_customer_id, configuration_id, return_url),
                None,
            )
            .await?;
        session.url.ok_or_else(|| rejected("billing portal session without url"))
    }

    async fn invoices(
        &self,
        provider_subscription_id: &str,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<Option<InvoicePage>, PortError> {
        let list: objects::InvoiceList = self
            .get("/v1/invoices", &forms::invoices_query(provider_subscription_id, limit, starting_after))
            .await?;
        let data = list
            .data
            .into_iter()
            .map(|i| i.into_billing().ok_or_else(|| rejected("an invoice with a bad time")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(InvoicePage { data, has_more: list.has_more }))
    }
}
