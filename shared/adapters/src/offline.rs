//! The payment gateway for runs without a Stripe account (the local stack, demos).
//!
//! It answers as Stripe would, with a local payment page's URL; a checkout then completes by
//! a signed `checkout.session.completed` event, exactly as with Stripe. Changes are priced by
//! the project's own arithmetic (the worked examples of the API). It can be told to decline
//! every change's payment, so the pay-first path (402, a pending change, the webhook that
//! applies it once paid) runs locally too.

use async_trait::async_trait;
use domain::error::PortError;
use domain::model::{InvoicePage, Product, ProviderPrices};
use domain::ports::{
    BillingPortalConfiguration, CancelRequest, ChargeOutcome, ChargeRequest, CheckoutSession,
    CheckoutSessionRequest, PaymentGateway, ProviderInvoice, ProviderSubscription, RenewalSchedule,
    ScheduledRenewal, VoidOutcome,
};

/// What the offline gateway does with a change's payment (`OFFLINE_PAYMENT_OUTCOME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfflinePayment {
    /// Paid at once.
    #[default]
    Succeed,
    /// Declined: the change waits for its payment, as with Stripe's `pm_card_chargeDeclined`.
    Decline,
}

impl OfflinePayment {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "succeed" => Some(OfflinePayment::Succeed),
            "decline" => Some(OfflinePayment::Decline),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct OfflineGateway {
    public_base_url: String,
    payment: OfflinePayment,
}

impl OfflineGateway {
    pub fn new(public_base_url: &str, payment: OfflinePayment) -> Self {
        OfflineGateway { public_base_url: public_base_url.trim_end_matches('/').to_string(), payment }
    }
}

fn rejected(e: impl ToString) -> PortError {
    PortError::Rejected("offline payments", e.to_string())
}

#[async_trait]
impl PaymentGateway for OfflineGateway {
    async fn create_prices(&self, product: &Product) -> Result<ProviderPrices, PortError> {
        Ok(ProviderPrices::named("price_offline", product))
    }

    async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError> {
        Ok(CheckoutSession {
            id: format!("cs_offline_{}", req.checkout_id),
            url: format!("{}/checkout/test-payment?checkout_id={}", self.public_base_url, req.checkout_id),
        })
    }

    /// Keeps no state: periods come from the signed events that play Stripe locally.
    async fn subscription(&self, _id: &str) -> Result<Option<ProviderSubscription>, PortError> {
        Ok(None)
    }

    /// No previews: the project's own arithmetic is the offline answer.
    async fn preview_charge(&self, _c: &ChargeRequest) -> Result<Option<ProviderInvoice>, PortError> {
        Ok(None)
    }

    async fn charge(&self, c: &ChargeRequest) -> Result<ChargeOutcome, PortError> {
        let id = format!("in_offline_{}", c.idempotency_key);
        let page = format!("{}/checkout/test-payment?invoice_id={id}", self.public_base_url);
        domain::proration::offline_outcome(c, id, page, self.payment == OfflinePayment::Decline)
            .map_err(rejected)
    }

    async fn schedule_renewal(&self, s: &RenewalSchedule) -> Result<ScheduledRenewal, PortError> {
        Ok(ScheduledRenewal {
            schedule_id: s
                .schedule_id
                .clone()
                .unwrap_or_else(|| format!("sub_sched_offline_{}", s.provider_subscription_id)),
            next_phase_starts_at: s.current_period_end,
        })
    }

    async fn release_schedule(&self, _schedule_id: &str, _key: &str) -> Result<(), PortError> {
        Ok(())
    }

    /// Nothing to tell anyone: the sweeper lapses the subscription at its period's end (the
    /// renewal a stateless gateway never makes).
    async fn cancel_at_period_end(&self, _c: &CancelRequest) -> Result<(), PortError> {
        Ok(())
    }

    /// No tax offline.
    async fn make_price_tax_exclusive(&self, _price_id: &str) -> Result<(), PortError> {
        Ok(())
    }

    /// The ledger's invoice is voided with the lapse; nothing to tell anyone.
    async fn void_invoice(&self, _id: &str, _key: &str) -> Result<VoidOutcome, PortError> {
        Ok(VoidOutcome::Voided)
    }

    /// Nothing to stop offline: no one retries a payment.
    async fn cancel_now(&self, _id: &str, _key: &str) -> Result<(), PortError> {
        Ok(())
    }

    /// No portal offline: there is no card, address or tax id to change.
    async fn create_billing_portal_configuration(
        &self,
        _c: &BillingPortalConfiguration,
    ) -> Result<Option<String>, PortError> {
        Ok(None)
    }

    async fn billing_portal_session(
        &self,
        _customer: &str,
        _configuration: &str,
        _return_url: &str,
    ) -> Result<String, PortError> {
        Err(rejected("the offline gateway has no billing portal"))
    }

    /// No invoices here: this system's ledger keeps what was charged offline.
    fn keeps_invoices(&self) -> bool {
        false
    }

    async fn invoices(
        &self,
        _id: &str,
        _limit: u32,
        _after: Option<&str>,
    ) -> Result<Option<InvoicePage>, PortError> {
        Ok(None)
    }
}
