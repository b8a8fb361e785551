//! In-memory fakes of the ports other than the store (mailer, payments, queue, files, clock),
//! and [`Fakes`]: every fake wired into an [`crate::services::App`].

use super::MemoryStore;
use crate::error::PortError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

/// Keeps every mail it is asked to send.
#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<OutgoingEmail>>,
    /// Makes every send fail, like an SES outage.
    pub failing: std::sync::atomic::AtomicBool,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), PortError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PortError::Unavailable("mailer", "failing on purpose".into()));
        }
        self.sent
            .lock()
            .map_err(|_| PortError::Unavailable("mailer", "poisoned".into()))?
            .push(email.clone());
        Ok(())
    }
}

/// A payment gateway that answers locally with our own arithmetic, as the offline gateway
/// does; it can be told to decline (the change then waits for its payment).
#[derive(Default)]
pub struct MemoryPayments {
    pub sessions: Mutex<Vec<CheckoutSessionRequest>>,
    pub charges: Mutex<Vec<ChargeRequest>>,
    pub schedules: Mutex<Vec<RenewalSchedule>>,
    pub released: Mutex<Vec<String>>,
    /// Every invoice voided.
    pub voided: Mutex<Vec<String>>,
    /// Every subscription ended at once (an unpaid one after its grace days).
    pub canceled_now: Mutex<Vec<String>>,
    /// Acts as Stripe does about invoices (keeps them: no ledger here), for measuring what a
    /// flow costs in production; the offline gateway's way (a ledger) otherwise.
    pub keeps_invoices: std::sync::atomic::AtomicBool,
    /// Every billing portal configuration made.
    pub portal_configurations: Mutex<Vec<BillingPortalConfiguration>>,
    /// Every `cancel_at_period_end` call, in order (the last one is the provider's flag).
    pub cancellations: Mutex<Vec<CancelRequest>>,
    pub decline: std::sync::atomic::AtomicBool,
    /// Apply the charge, then lose the answer (a function that dies after the provider
    /// answered): the caller sees a timeout.
    pub lose_answer: std::sync::atomic::AtomicBool,
    /// What a provider with state would say after the last applied charge.
    pub state: Mutex<Option<ProviderSubscription>>,
    /// What a provider with state says of one subscription by its id (before `state`).
    pub states: Mutex<std::collections::HashMap<String, ProviderSubscription>>,
}

fn push<T: Clone>(v: &Mutex<Vec<T>>, x: &T) {
    if let Ok(mut v) = v.lock() {
        v.push(x.clone());
    }
}

#[async_trait]
impl PaymentGateway for MemoryPayments {
    async fn create_prices(&self, product: &Product) -> Result<ProviderPrices, PortError> {
        Ok(ProviderPrices::named("price", product))
    }
    async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError> {
        push(&self.sessions, req);
        Ok(CheckoutSession {
            id: format!("cs_test_{}", req.checkout_id),
            url: format!("https://pay.example/{}", req.checkout_id),
        })
    }
    async fn subscription(&self, id: &str) -> Result<Option<ProviderSubscription>, PortError> {
        if let Some(s) = self.states.lock().ok().and_then(|s| s.get(id).cloned()) {
            return Ok(Some(s));
        }
        Ok(self.state.lock().ok().and_then(|s| s.clone()))
    }
    async fn preview_charge(&self, _c: &ChargeRequest) -> Result<Option<ProviderInvoice>, PortError> {
        Ok(None)
    }
    async fn charge(&self, c: &ChargeRequest) -> Result<ChargeOutcome, PortError> {
        push(&self.charges, c);
        let declined = self.decline.load(std::sync::atomic::Ordering::SeqCst);
        let id = format!("in_{}", c.idempotency_key);
        let page = format!("https://pay.example/invoice/{id}");
        let outcome = crate::proration::offline_outcome(c, id, page, declined)
            .map_err(|e| PortError::Rejected("payments", e.to_string()))?;
        if let ChargeOutcome::Applied { invoice, period } = &outcome {
            if let Ok(mut st) = self.state.lock() {
                *st = Some(ProviderSubscription {
                    id: c.provider_subscription_id.clone(),
                    status: "active".into(),
                    item_id: "si_memory".into(),
                    quantity: c.quantity,
                    interval: c.interval,
                    period_start: period.0,
                    period_end: period.1,
                    pending_update_expires_at: None,
                    schedule_id: None,
                    latest_invoice: Some(invoice.clone()),
                    cancel_at_period_end: self
                        .cancellations
                        .lock()
                        .ok()
                        .and_then(|c| c.last().map(|c| c.cancel))
                        .unwrap_or(false),
                });
            }
        }
        if self.lose_answer.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PortError::Unavailable("payments", "the answer was lost".into()));
        }
        Ok(outcome)
    }
    async fn schedule_renewal(&self, r: &RenewalSchedule) -> Result<ScheduledRenewal, PortError> {
        push(&self.schedules, r);
        Ok(ScheduledRenewal {
            schedule_id: r.schedule_id.clone().unwrap_or_else(|| format!("sub_sched_{}", r.idempotency_key)),
            next_phase_starts_at: r.current_period_end,
        })
    }
    async fn release_schedule(&self, schedule_id: &str, _key: &str) -> Result<(), PortError> {
        push(&self.released, &schedule_id.to_string());
        Ok(())
    }
    fn keeps_invoices(&self) -> bool {
        self.keeps_invoices.load(std::sync::atomic::Ordering::SeqCst)
    }
    async fn make_price_tax_exclusive(&self, _price_id: &str) -> Result<(), PortError> {
        Ok(())
    }
    async fn void_invoice(&self, invoice_id: &str, _key: &str) -> Result<VoidOutcome, PortError> {
        push(&self.voided, &invoice_id.to_string());
        Ok(VoidOutcome::Voided)
    }
    async fn cancel_now(&self, provider_subscription_id: &str, _key: &str) -> Result<(), PortError> {
        push(&self.canceled_now, &provider_subscription_id.to_string());
        Ok(())
    }
    async fn create_billing_portal_configuration(
        &self,
        c: &BillingPortalConfiguration,
    ) -> Result<Option<String>, PortError> {
        push(&self.portal_configurations, c);
        Ok(Some(format!("bpc_{}", c.idempotency_key)))
    }
    async fn billing_portal_session(
        &self,
        customer: &str,
        configuration: &str,
        return_url: &str,
    ) -> Result<String, PortError> {
        Ok(format!("https://billing.example/session?customer={customer}&configuration={configuration}&return={return_url}"))
    }
    async fn invoices(
        &self,
        _id: &str,
        _limit: u32,
        _after: Option<&str>,
    ) -> Result<Option<InvoicePage>, PortError> {
        Ok(None)
    }
    async fn cancel_at_period_end(&self, c: &CancelRequest) -> Result<(), PortError> {
        push(&self.cancellations, c);
        if let Ok(mut st) = self.state.lock() {
            if let Some(st) = st.as_mut() {
                st.cancel_at_period_end = c.cancel;
            }
        }
        Ok(())
    }
}

/// Keeps jobs in memory; can be told to fail, like an SQS outage.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<Job>>,
    pub failing: std::sync::atomic::AtomicBool,
}

impl MemoryQueue {
    pub fn take(&self) -> Vec<Job> {
        self.sent.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), PortError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PortError::Unavailable("queue", "failing on purpose".into()));
        }
        self.sent
            .lock()
            .map_err(|_| PortError::Unavailable("queue", "poisoned".into()))?
            .extend_from_slice(jobs);
        Ok(())
    }
}

/// Presigns nothing: returns recognizable fake URLs.
pub struct MemoryFiles;

#[async_trait]
impl FileStore for MemoryFiles {
    async fn presign_upload(&self, key: &str, _ct: &str, _exp: u64) -> Result<String, PortError> {
        Ok(format!("https://files.example/upload/{key}"))
    }
    async fn presign_download(&self, key: &str, _f: &str, _exp: u64) -> Result<String, PortError> {
        Ok(format!("https://files.example/download/{key}"))
    }
}

/// A clock tests can move.
pub struct FixedClock(pub Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        FixedClock(Mutex::new(t))
    }
    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = to;
        }
    }
    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_else(|_| Utc::now())
    }
}

/// Every fake wired into an [`crate::services::App`], with handles to inspect them.
pub struct Fakes {
    pub app: crate::services::App,
    pub store: std::sync::Arc<MemoryStore>,
    pub mailer: std::sync::Arc<MemoryMailer>,
    pub queue: std::sync::Arc<MemoryQueue>,
    pub webhooks: std::sync::Arc<super::MemoryWebhookQueue>,
    pub payments: std::sync::Arc<MemoryPayments>,
    pub clock: std::sync::Arc<FixedClock>,
}

impl Fakes {
    /// An app at `now` whose operator token is `admin`.
    pub fn at(now: DateTime<Utc>) -> Fakes {
        use std::sync::Arc;
        let store = Arc::new(MemoryStore::new());
        let mailer = Arc::new(MemoryMailer::default());
        let queue = Arc::new(MemoryQueue::default());
        let webhooks = Arc::new(super::MemoryWebhookQueue::default());
        let clock = Arc::new(FixedClock::at(now));
        let payments = Arc::new(MemoryPayments::default());
        let app = crate::services::App {
            store: store.clone(),
            mailer: mailer.clone(),
            payments: payments.clone(),
            files: Arc::new(MemoryFiles),
            jobs: queue.clone(),
            webhooks: webhooks.clone(),
            clock: clock.clone(),
            settings: crate::services::Settings::with_defaults(
                "https://portal.example",
                &crate::secrets::hash("admin"),
            ),
        };
        Fakes { app, store, mailer, queue, webhooks, payments, clock }
    }

    /// Works the queue as the worker would until it is empty (jobs a job sends included).
    pub async fn run_jobs(&self) -> Result<(), crate::error::DomainError> {
        for _ in 0..100 {
            let jobs = self.queue.take();
            if jobs.is_empty() {
                return Ok(());
            }
            for job in jobs {
                crate::services::benefits::process(&self.app, &job).await?;
            }
        }
        Err(crate::error::DomainError::Unavailable)
    }

    /// Works the webhook queue as the sender would until it is empty. A message held back
    /// `delay` seconds moves the clock that far first (time passes while it waits).
    pub async fn run_webhooks(
        &self,
        receiver: &dyn crate::ports::WebhookPoster,
    ) -> Result<Vec<crate::services::webhooks::send::Attempted>, crate::error::DomainError> {
        use crate::services::webhooks::send;
        use crate::webhooks::WebhookMessage;
        let mut attempts = Vec::new();
        for _ in 0..10_000 {
            let messages = self.webhooks.take();
            if messages.is_empty() {
                return Ok(attempts);
            }
            for (message, delay) in messages {
                self.clock.advance(Duration::seconds(i64::from(delay)));
                match message {
                    WebhookMessage::Dispatch { subscription_id, audit_id } => {
                        send::dispatch(&self.app, &subscription_id, &audit_id).await?;
                    }
                    WebhookMessage::Deliver { organization_id, endpoint_id, delivery_id } => {
                        let a = send::attempt(
                            &self.app,
                            receiver,
                            &organization_id,
                            &endpoint_id,
                            &delivery_id,
                            1.0,
                        );
                        attempts.push(a.await?);
                    }
                }
            }
        }
        Err(crate::error::DomainError::Unavailable)
    }
}
