//! Payment-provider events, in the domain's words. The Stripe adapter turns Stripe's JSON
//! into these after the signature was verified.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEvent {
    pub id: String,
    /// When the provider created the event (Unix seconds): the order of truth.
    pub created: i64,
    pub kind: PaymentEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentEventKind {
    CheckoutCompleted {
        checkout_id: String,
        provider_subscription_id: String,
        provider_customer_id: Option<String>,
    },
    SubscriptionUpdated {
        provider_subscription_id: String,
        status: String,
        /// Unix seconds; absent when the event carries no period.
        period: Option<(i64, i64)>,
    },
    SubscriptionDeleted {
        provider_subscription_id: String,
    },
    InvoicePaid {
        provider_subscription_id: String,
    },
    InvoicePaymentFailed {
        provider_subscription_id: String,
    },
    /// A type this system does not act on (acknowledged with 200).
    Ignored {
        event_type: String,
    },
}
