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

/// The id prefix of an event the sweeper makes for what the provider did not say (offline, a
/// subscription's end at its period's end): never a provider's id (Stripe's are `evt_…`).
pub const SWEEPER_EVENT_PREFIX: &str = "sweep_";

impl PaymentEvent {
    /// Who the audit trail names for what this event did.
    pub fn actor(&self) -> String {
        if self.id.starts_with(SWEEPER_EVENT_PREFIX) {
            "system:sweeper".into()
        } else {
            format!("stripe:{}", self.id)
        }
    }
}

/// The provider's subscription item: the seats paid for now and the price's interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemState {
    pub id: Option<String>,
    pub quantity: i64,
    /// `month` or `year` (the price's recurring interval).
    pub interval: Option<String>,
}

/// A subscription as the provider's event shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionState {
    pub status: String,
    /// Unix seconds; absent when the event carries no period.
    pub period: Option<(i64, i64)>,
    pub item: Option<ItemState>,
    /// A change waits for its payment (Stripe's `pending_update` is set).
    pub pending_update: bool,
    pub latest_invoice: Option<String>,
    /// What the event says of an end at the period's end (Stripe's `cancel_at_period_end`,
    /// `cancel_at`, `cancellation_details`); `None` when it says nothing.
    #[serde(default)]
    pub cancellation: Option<StateCancellation>,
}

/// The invoice of a failed payment: what is due and where to pay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedInvoice {
    pub id: String,
    pub amount_due: i64,
    pub hosted_invoice_url: Option<String>,
}

/// Stripe's cancellation fields of a subscription, as an event carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCancellation {
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
    pub feedback: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentEventKind {
    CheckoutCompleted {
        checkout_id: String,
        provider_subscription_id: String,
        provider_customer_id: Option<String>,
    },
    /// `customer.subscription.created` and `.updated`.
    SubscriptionUpdated {
        provider_subscription_id: String,
        /// Set on subscriptions this system created (their metadata names our checkout).
        checkout_id: Option<String>,
        state: SubscriptionState,
    },
    SubscriptionDeleted {
        provider_subscription_id: String,
        checkout_id: Option<String>,
    },
    /// A change waiting for its payment expired unpaid at the provider.
    PendingUpdateExpired {
        provider_subscription_id: String,
        checkout_id: Option<String>,
    },
    InvoicePaid {
        provider_subscription_id: String,
        checkout_id: Option<String>,
        /// The invoice's id (`in_…`).
        invoice_id: Option<String>,
        /// `subscription_cycle` (a renewal), `subscription_update` (a change), …
        billing_reason: Option<String>,
    },
    InvoicePaymentFailed {
        provider_subscription_id: String,
        checkout_id: Option<String>,
        billing_reason: Option<String>,
        /// The unpaid invoice, when the event carries it.
        #[serde(default)]
        invoice: Option<FailedInvoice>,
    },
    /// A type this system does not act on (acknowledged with 200).
    Ignored {
        event_type: String,
    },
}
