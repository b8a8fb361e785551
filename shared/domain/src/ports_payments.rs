//! The payment provider's port (Stripe; the offline gateway locally): Prices, Checkout,
//! payment-first changes, schedules, and what a billing manager does to their own billing.

use crate::error::PortError;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSessionRequest {
    pub checkout_id: String,
    /// The provider's Price for the chosen interval.
    pub price_id: String,
    pub seats: i64,
    pub customer_email: String,
    pub success_url: String,
    pub cancel_url: String,
    /// Days of free trial the subscription starts with.
    pub trial_days: Option<u32>,
    /// Stripe Tax: collect the billing address and tax id, add the tax.
    pub automatic_tax: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// What the provider says about one of our subscriptions: the seats paid for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSubscription {
    pub id: String,
    pub status: String,
    pub item_id: String,
    pub quantity: i64,
    pub interval: Interval,
    pub period_start: i64,
    pub period_end: i64,
    /// When a change waiting for its payment expires (Stripe's `pending_update.expires_at`).
    pub pending_update_expires_at: Option<i64>,
    pub schedule_id: Option<String>,
    pub latest_invoice: Option<ProviderInvoice>,
    /// Set to end at the period's end (Stripe's `cancel_at_period_end`).
    pub cancel_at_period_end: bool,
}

/// An invoice as the provider made it (or, for a preview, would make it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInvoice {
    pub id: String,
    /// What is due, tax included.
    pub amount_due: MinorUnits,
    /// The provider's tax in it (Stripe Tax), 0 without.
    pub tax: MinorUnits,
    /// `draft`, `open`, `paid`, `void`, …
    pub status: String,
    pub hosted_invoice_url: Option<String>,
    pub lines: Vec<crate::proration::ProrationLine>,
}

/// A change that charges now: the subscription item goes to `quantity` at `price_id`,
/// prorated at `proration_date`, invoiced at once and applied only once paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub provider_subscription_id: String,
    /// The item, when known (saves a read at the provider).
    pub item_id: Option<String>,
    pub price_id: String,
    pub quantity: i64,
    /// Unix seconds, the same for the preview and the charge.
    pub proration_date: i64,
    /// Start a new period at the change (monthly → annual).
    pub reset_billing_cycle: bool,
    /// Makes a retried call charge once.
    pub idempotency_key: String,
    /// The terms before and after, for a provider that prorates with our arithmetic (offline).
    pub product_name: String,
    pub previous_quantity: i64,
    pub previous_unit_amount: MinorUnits,
    pub previous_interval: Interval,
    pub unit_amount: MinorUnits,
    pub interval: Interval,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// In a free trial: nothing is prorated (the first invoice comes at its end).
    pub trialing: bool,
    /// Taxed by the provider (Stripe Tax): previews and invoices include it.
    pub automatic_tax: bool,
}

/// What the provider did with a change that charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Paid and applied; the new period (it moves for a monthly → annual switch).
    Applied { invoice: ProviderInvoice, period: (i64, i64) },
    /// Not paid (declined, authentication needed): the provider keeps the change pending
    /// until the invoice is paid or the pending update expires.
    PaymentRequired { invoice: ProviderInvoice, expires_at: i64 },
}

/// The next period's terms, carried by a provider schedule whose current phase stays as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalSchedule {
    pub provider_subscription_id: String,
    /// Our record of the current period's end (a provider without state answers with it).
    pub current_period_end: i64,
    /// The schedule already attached, to rewrite instead of creating one.
    pub schedule_id: Option<String>,
    /// The current phase's terms: the seats paid for now at the current price.
    pub current_price_id: String,
    pub current_quantity: i64,
    /// The next phase's terms.
    pub next_price_id: String,
    /// The next price's interval: the next phase lasts one such period.
    pub next_interval: Interval,
    pub next_quantity: i64,
    pub idempotency_key: String,
}

/// A schedule as the provider keeps it: its id, and when its next phase starts (the end of
/// the current phase: the provider's, whatever our record of the period says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRenewal {
    pub schedule_id: String,
    pub next_phase_starts_at: i64,
}

/// A subscription set to end at its period's end, or (`cancel: false`) to renew again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    pub provider_subscription_id: String,
    pub cancel: bool,
    pub reason: Option<CancellationReason>,
    pub comment: Option<String>,
    pub idempotency_key: String,
}

/// What a billing manager may change in the provider's own billing portal: their card, their
/// invoices, their address and tax ids. Seats and cancellation stay in this system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingPortalConfiguration {
    pub organization_id: String,
    /// Shown on the portal's pages.
    pub business_name: String,
    /// Where the portal's "back" link goes when a session names none.
    pub default_return_url: String,
    pub idempotency_key: String,
}

/// What became of an invoice asked to be voided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoidOutcome {
    Voided,
    /// Paid meanwhile: its `invoice.paid` event follows.
    Paid,
}

/// The payment provider (Stripe). Seats are the subscription item's quantity, which is always
/// the count paid for now; what changes later lives in a schedule's next phase.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The provider's Product and one Price per priced interval.
    async fn create_prices(&self, product: &Product) -> Result<ProviderPrices, PortError>;
    async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError>;
    /// The provider's state of a subscription; `None` when the provider keeps none (offline).
    async fn subscription(
        &self,
        provider_subscription_id: &str,
    ) -> Result<Option<ProviderSubscription>, PortError>;
    /// The invoice the charge would make, from the provider; `None` when the provider has no
    /// previews (offline: our own arithmetic is the answer).
    async fn preview_charge(&self, c: &ChargeRequest) -> Result<Option<ProviderInvoice>, PortError>;
    /// Sends a change that charges with payment first.
    async fn charge(&self, c: &ChargeRequest) -> Result<ChargeOutcome, PortError>;
    /// Writes (or rewrites) the schedule's next phase, on the schedule already attached to the
    /// subscription if there is one.
    async fn schedule_renewal(&self, s: &RenewalSchedule) -> Result<ScheduledRenewal, PortError>;
    /// Detaches a schedule: the subscription renews as it is.
    async fn release_schedule(&self, schedule_id: &str, idempotency_key: &str) -> Result<(), PortError>;
    /// Sets (or clears) the end at the period's end; the provider ends the subscription then
    /// (Stripe: `customer.subscription.deleted`). A schedule attached to the subscription is
    /// released first (the provider refuses the flag on a scheduled subscription).
    async fn cancel_at_period_end(&self, c: &CancelRequest) -> Result<(), PortError>;
    /// Whether the provider keeps the invoices (Stripe). A provider that does not (offline) has
    /// this system keep a ledger of what it charged.
    fn keeps_invoices(&self) -> bool {
        true
    }
    /// Makes a Price tax-exclusive if it says nothing yet (Prices made before Stripe Tax was
    /// turned on); one that says already is left as it is.
    async fn make_price_tax_exclusive(&self, price_id: &str) -> Result<(), PortError>;
    /// Voids an unpaid invoice, so it can no longer be paid (an unpaid subscription that lapses
    /// must not take the money later).
    async fn void_invoice(&self, invoice_id: &str, idempotency_key: &str) -> Result<VoidOutcome, PortError>;
    /// Ends the subscription at the provider now (an unpaid one at the end of its grace days):
    /// no retry charges it after that.
    async fn cancel_now(
        &self,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> Result<(), PortError>;
    /// Makes the billing portal's configuration (once per organization: the caller keeps its
    /// id); `None` when the provider has no portal (offline).
    async fn create_billing_portal_configuration(
        &self,
        c: &BillingPortalConfiguration,
    ) -> Result<Option<String>, PortError>;
    /// A billing portal session of the provider's customer under that configuration: its URL.
    async fn billing_portal_session(
        &self,
        provider_customer_id: &str,
        configuration_id: &str,
        return_url: &str,
    ) -> Result<String, PortError>;
    /// The subscription's invoices, newest first, at most `limit`, after the invoice
    /// `starting_after` (the provider's cursor); `None` when the provider keeps none (offline:
    /// this system's ledger is the answer).
    async fn invoices(
        &self,
        provider_subscription_id: &str,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<Option<InvoicePage>, PortError>;
}
