//! A stateful Stripe simulator served on 127.0.0.1, written from Stripe's public documentation
//! (API version 2025-03-31.basil shapes) for the billing project's tests.
//!
//! Start it with [`StripeSim::start`], point the code under test at [`StripeSim::base_url`], and
//! drive time and payments with the control methods. Webhooks for the events an API call causes
//! are delivered before that call's HTTP answer.
//!
//! Docs: https://docs.stripe.com/api, https://docs.stripe.com/billing/testing/test-clocks,
//! https://docs.stripe.com/testing, https://docs.stripe.com/webhooks; Stripe Tax:
//! https://docs.stripe.com/tax/checkout, https://docs.stripe.com/tax/subscriptions (see tax.rs).

mod api;
mod billing;
mod billing_portal;
mod cancellation;
mod clock;
mod error;
mod form;
mod invoice_actions;
mod invoices;
mod model;
mod prices;
mod retries;
mod schedules;
mod server;
mod subscriptions;
mod tax;
mod trials;
mod webhooks;

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

pub use webhooks::signature;

pub const API_VERSION: &str = "2025-03-31.basil";

/// One API request the simulator received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub form: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub status: u16,
}

/// One webhook delivery attempt (status 0: the endpoint could not be reached).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub status: u16,
}

pub(crate) struct Inner {
    pub state: Mutex<model::State>,
    pub hooks: Mutex<webhooks::Hooks>,
    pub deliver_lock: tokio::sync::Mutex<()>,
    pub client: reqwest::Client,
}

impl Inner {
    pub fn state(&self) -> MutexGuard<'_, model::State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct StripeSim {
    inner: Arc<Inner>,
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StripeSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StripeSim {
    /// The secret key the simulator accepts (any `sk_test_…` key is accepted too).
    pub const SECRET_KEY: &'static str = "sk_test_sim";

    /// Binds 127.0.0.1 on a free port and serves the API.
    pub async fn start() -> StripeSim {
        Self::start_with_offset(0).await
    }

    /// Like [`StripeSim::start`], with the clock set to the unix time `now` (it then runs on in
    /// real time), so tests can have periods such as 2025-03-01..2025-04-01.
    pub async fn start_at(now: i64) -> StripeSim {
        Self::start_with_offset(now - model::real_now()).await
    }

    /// Binds 127.0.0.1:`port` (0: a free one), for a simulator started before the stack that
    /// names it.
    pub async fn start_on(port: u16) -> StripeSim {
        Self::bind(port, 0).await
    }

    async fn start_with_offset(offset: i64) -> StripeSim {
        Self::bind(0, offset).await
    }

    async fn bind(port: u16, offset: i64) -> StripeSim {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => panic!("stripe-sim: cannot bind 127.0.0.1:{port}: {e}"),
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let base = format!("http://127.0.0.1:{port}");
        let state = model::State { base_url: base.clone(), offset, ..Default::default() };
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            hooks: Mutex::new(Default::default()),
            deliver_lock: tokio::sync::Mutex::new(()),
            client,
        });
        let task = tokio::spawn(server::serve(listener, inner.clone()));
        StripeSim { inner, base, task }
    }

    /// "http://127.0.0.1:PORT"
    pub fn base_url(&self) -> String {
        self.base.clone()
    }

    pub fn set_webhook(&self, url: &str, secret: &str) {
        self.inner.set_endpoint(url, secret);
    }

    /// Completes a Checkout session as a customer paying with `payment_method` would: creates
    /// the customer and subscription, pays the first invoice, sends the events. Returns `sub_…`.
    pub async fn complete_checkout(&self, session_id: &str, payment_method: &str) -> Result<String, String> {
        let r = self.inner.state().complete_checkout(session_id, payment_method);
        self.inner.flush_wait().await;
        r
    }

    /// Completes a Checkout session as [`StripeSim::complete_checkout`] does, with the billing
    /// address the customer entered: a country (ISO 3166-1 alpha-2, e.g. "DE"), the location
    /// Stripe Tax needs outside the US. Only for sessions that collect an address
    /// (`billing_address_collection=required` or `automatic_tax[enabled]=true`); the address
    /// becomes the session's `customer_details.address` and is saved on a customer Checkout
    /// creates (an existing customer's only with `customer_update[address]=auto`).
    pub async fn complete_checkout_with_address(
        &self,
        session_id: &str,
        payment_method: &str,
        country: &str,
    ) -> Result<String, String> {
        let r = self.inner.state().complete_checkout_at(session_id, payment_method, Some(country));
        self.inner.flush_wait().await;
        r
    }

    /// Registers the account for tax in `country` (ISO 3166-1 alpha-2) at `rate_percent` (e.g.
    /// 19.0; up to four decimal places, as Tax Rate percentages; kept as 1/10,000 %). Customers
    /// located there are then taxed at that rate; elsewhere automatic tax yields zero tax with
    /// `taxability_reason=not_collecting`. Registering again replaces the rate.
    pub fn set_tax_registration(&self, country: &str, rate_percent: f64) {
        let rate = (rate_percent * tax::RATE_UNIT as f64).round() as i64;
        self.inner.state().tax.registrations.insert(country.to_uppercase(), rate);
    }

    /// The tax settings' default tax behavior (`exclusive`, the simulator's default, or
    /// `inclusive`), used for prices whose `tax_behavior` is `unspecified`.
    pub fn set_default_tax_behavior(&self, behavior: &str) {
        if matches!(behavior, "exclusive" | "inclusive") {
            self.inner.state().tax.default_behavior = behavior.to_string();
        }
    }

    /// Gives a customer a country-level address (`address.country`), as if it had been saved
    /// before (no event is sent).
    pub fn set_customer_address(&self, customer_id: &str, country: &str) {
        if let Some(c) = self.inner.state().customers.get_mut(customer_id) {
            c.address = Some(tax::address_json(country));
        }
    }

    /// The Checkout session as `GET /v1/checkout/sessions/{id}` would answer.
    pub fn checkout_session(&self, id: &str) -> Option<Value> {
        let st = self.inner.state();
        st.sessions.get(id).map(|s| st.session_json(s))
    }

    /// The payment method future charges of `customer_id` use.
    pub fn set_payment_method(&self, customer_id: &str, payment_method: &str) {
        if let Some(c) = self.inner.state().customers.get_mut(customer_id) {
            c.payment_method = payment_method.to_string();
        }
    }

    /// The automatic retry schedule of declined subscription invoices: one entry per retry, the
    /// days after the previous attempt (Stripe's custom retry schedule; the default is 3, 5, 7).
    /// An empty schedule retries nothing: the first decline is the last attempt.
    pub fn set_retry_schedule(&self, days: &[i64]) {
        self.inner.state().retry.schedule_days = days.to_vec();
    }

    /// What a subscription becomes once the last retry of its invoice failed: `past_due` (left
    /// as it is, the default), `unpaid` or `canceled` (reason `payment_failed`). Other values
    /// are ignored.
    pub fn set_retries_exhausted_action(&self, action: &str) {
        if matches!(action, "past_due" | "unpaid" | "canceled") {
            self.inner.state().retry.exhausted_action = action.to_string();
        }
    }

    /// Pays an open invoice as `POST /v1/invoices/{id}/pay` would (events included).
    pub async fn pay_invoice(&self, invoice_id: &str, payment_method: &str) -> Result<(), String> {
        let r = self
            .inner
            .state()
            .api_pay_invoice(invoice_id, Some(payment_method))
            .map(|_| ())
            .map_err(|e| e.message);
        self.inner.flush_wait().await;
        r
    }

    /// Moves the clock forward, processing expiries, phase changes and renewals on the way.
    pub async fn advance(&self, secs: i64) {
        self.inner.state().advance(secs);
        self.inner.flush_wait().await;
    }

    pub fn now(&self) -> i64 {
        self.inner.state().now()
    }

    /// The subscription as `GET /v1/subscriptions/{id}` would answer.
    pub fn subscription(&self, id: &str) -> Option<Value> {
        let st = self.inner.state();
        st.subs.get(id).map(|s| st.sub_json(s, &[]))
    }

    /// The customer as `GET /v1/customers/{id}` would answer.
    pub fn customer(&self, id: &str) -> Option<Value> {
        let st = self.inner.state();
        st.customers.get(id).map(|c| st.customer_json(c))
    }

    /// The invoice as `GET /v1/invoices/{id}` would answer.
    pub fn invoice(&self, id: &str) -> Option<Value> {
        let st = self.inner.state();
        st.invoices.get(id).map(|i| st.invoice_json(i))
    }

    /// The customer portal configurations created so far (the default one included once a
    /// session has used it), oldest first.
    pub fn billing_portal_configurations(&self) -> Vec<Value> {
        let st = self.inner.state();
        st.portal_config_order
            .iter()
            .filter_map(|id| st.portal_configs.get(id))
            .map(|c| st.portal_config_json(c))
            .collect()
    }

    /// The customer portal sessions created so far, oldest first.
    pub fn billing_portal_sessions(&self) -> Vec<Value> {
        let st = self.inner.state();
        st.portal_sessions.iter().map(|s| st.portal_session_json(s, &[])).collect()
    }

    /// The invoices of a subscription, oldest first.
    pub fn invoices_of(&self, subscription_id: &str) -> Vec<Value> {
        let st = self.inner.state();
        st.invoice_order
            .iter()
            .filter_map(|id| st.invoices.get(id))
            .filter(|i| i.subscription.as_deref() == Some(subscription_id))
            .map(|i| st.invoice_json(i))
            .collect()
    }

    /// Every API request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.state().requests.clone()
    }

    /// Every event created so far, in order.
    pub fn events(&self) -> Vec<Value> {
        self.inner.state().events.clone()
    }

    pub fn hold_webhooks(&self, hold: bool) {
        self.inner.set_hold(hold);
    }

    /// Sends the held events (in order); returns how many were answered 2xx.
    pub async fn deliver_held(&self) -> usize {
        self.inner.deliver_held().await
    }

    /// Sends again the deliveries that failed (in order); returns how many now succeeded.
    pub async fn redeliver_failed(&self) -> usize {
        self.inner.redeliver_failed().await
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.delivery_log()
    }

    /// The next request with this method whose path starts with `path_prefix` answers `status`.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16) {
        self.inner.state().fail_next.push((method.to_uppercase(), path_prefix.to_string(), status));
    }
}
