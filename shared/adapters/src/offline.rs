//! The payment gateway for runs without a Stripe account (the local stack, demos).
//!
//! It answers as Stripe would, with a local payment page's URL; a checkout then completes by
//! a signed `checkout.session.completed` event, exactly as with Stripe.

use async_trait::async_trait;
use domain::error::PortError;
use domain::ports::{
    CheckoutSession, CheckoutSessionRequest, PaymentGateway, ProviderChange, ProviderInvoice,
};

#[derive(Clone)]
pub struct OfflineGateway {
    public_base_url: String,
}

impl OfflineGateway {
    pub fn new(public_base_url: &str) -> Self {
        OfflineGateway { public_base_url: public_base_url.trim_end_matches('/').to_string() }
    }
}

#[async_trait]
impl PaymentGateway for OfflineGateway {
    async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError> {
        Ok(CheckoutSession {
            id: format!("cs_offline_{}", req.checkout_id),
            url: format!("{}/checkout/test-payment?checkout_id={}", self.public_base_url, req.checkout_id),
        })
    }

    /// The amount Stripe would invoice, from the same proration code as the preview.
    async fn invoice_seat_increase(&self, c: &ProviderChange) -> Result<ProviderInvoice, PortError> {
        Ok(ProviderInvoice {
            id: format!("in_offline_{}", c.idempotency_key),
            amount_due: domain::proration::provider_amount_due(c),
        })
    }

    async fn set_renewal_quantity(&self, _c: &ProviderChange) -> Result<(), PortError> {
        Ok(())
    }

    async fn switch_interval_now(&self, c: &ProviderChange) -> Result<ProviderInvoice, PortError> {
        Ok(ProviderInvoice {
            id: format!("in_offline_{}", c.idempotency_key),
            amount_due: domain::proration::provider_amount_due(c),
        })
    }

    async fn schedule_interval_change(&self, c: &ProviderChange) -> Result<String, PortError> {
        Ok(format!("sub_sched_offline_{}", c.provider_subscription_id))
    }

    async fn cancel_scheduled_change(&self, _sub: &str, _schedule: &str) -> Result<(), PortError> {
        Ok(())
    }
}
