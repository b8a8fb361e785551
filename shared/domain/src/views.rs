//! What the API shows. Entities keep internal fields (object keys, provider ids, versions);
//! these views are the contract's shapes.

use crate::model::*;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A list, as Stripe returns lists.
#[derive(Debug, Clone, Serialize)]
pub struct List<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
    /// Where the next page starts (`?cursor=`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    pub fn of(data: Vec<T>) -> Self {
        List { object: "list", data, has_more: false, next_cursor: None }
    }
}

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last4: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        ApiKeyView {
            id: k.id.clone(),
            created_at: k.created_at,
            last4: k.last4.clone(),
            expires_at: k.expires_at,
        }
    }
}

/// A new key: shown once (a replay of the request has it `null`).
#[derive(Debug, Clone, Serialize)]
pub struct NewApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    pub api_key: String,
    pub previous_keys_expire_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreatedOrganization {
    pub organization: Organization,
    /// Shown once; only its hash is stored.
    pub api_key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenefitView {
    pub id: String,
    pub organization_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// License keys: how many activations one key may have at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_limit: Option<u32>,
    pub created_at: DateTime<Utc>,
}

impl From<&Benefit> for BenefitView {
    fn from(b: &Benefit) -> Self {
        let (kind, filename, content_type, prefix) = match &b.kind {
            BenefitKind::FileDownload { filename, content_type, .. } => {
                ("file_download", Some(filename.clone()), Some(content_type.clone()), None)
            }
            BenefitKind::LicenseKey { prefix, .. } => ("license_key", None, None, prefix.clone()),
        };
        BenefitView {
            id: b.id.clone(),
            organization_id: b.organization_id.clone(),
            kind,
            name: b.name.clone(),
            filename,
            content_type,
            prefix,
            activation_limit: match &b.kind {
                BenefitKind::LicenseKey { activation_limit, .. } => *activation_limit,
                BenefitKind::FileDownload { .. } => None,
            },
            created_at: b.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CreatedBenefit {
    #[serde(flatten)]
    pub benefit: BenefitView,
    /// A presigned S3 PUT for the file (file_download only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckoutView {
    pub id: String,
    pub status: CheckoutStatus,
    pub product_id: String,
    pub interval: Interval,
    pub seats: i64,
    pub currency: String,
    pub unit_amount: MinorUnits,
    pub amount_due: MinorUnits,
    pub customer_email: String,
    pub payment_url: String,
    pub success_url: String,
    pub cancel_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// A free trial first: `amount_due` is billed at its end, nothing now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u32>,
    /// Tax is added at the payment page (Stripe Tax), from the address given there:
    /// `amount_due` is before tax.
    pub automatic_tax: bool,
}

impl CheckoutView {
    /// A checkout past its expiry that never completed reads as `expired`.
    pub fn at(c: &Checkout, now: DateTime<Utc>) -> Self {
        let status = match c.status {
            CheckoutStatus::Open if now >= c.expires_at => CheckoutStatus::Expired,
            s => s,
        };
        CheckoutView {
            id: c.id.clone(),
            status,
            product_id: c.product_id.clone(),
            interval: c.interval,
            seats: c.seats,
            currency: c.currency.clone(),
            unit_amount: c.unit_amount,
            amount_due: c.amount_due,
            customer_email: c.customer_email.clone(),
            payment_url: c.payment_url.clone(),
            success_url: c.success_url.clone(),
            cancel_url: c.cancel_url.clone(),
            subscription_id: c.subscription_id.clone(),
            created_at: c.created_at,
            expires_at: c.expires_at,
            trial_days: c.trial_days,
            automatic_tax: c.automatic_tax,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub organization_id: String,
    pub product_id: String,
    pub customer_id: String,
    pub status: SubscriptionStatus,
    pub interval: Interval,
    pub currency: String,
    pub unit_amount: MinorUnits,
    pub seats: i64,
    pub seats_assigned: i64,
    pub seats_available: i64,
    pub scheduled_change: Option<ScheduledChangeView>,
    /// A change sent to the payment provider and waiting for its payment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_change: Option<PendingChangeView>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Lapsed: its seats are suspended until then (a reactivating purchase before it restores them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_until: Option<DateTime<Utc>>,
    /// The lapsed subscription whose seats this one restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// The subscription that restored this lapsed one's seats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_into: Option<String>,
    /// Set to end at `cancel_at` (the period's end) instead of renewing (Stripe's names).
    pub cancel_at_period_end: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_at: Option<DateTime<Utc>>,
    /// When the cancellation was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canceled_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_details: Option<CancellationDetailsView>,
    /// A renewal's payment failed: what is due, where to pay it, until when seats work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_failed: Option<PaymentFailedView>,
    /// The end of the free trial it started with (the first invoice comes then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<DateTime<Utc>>,
}

/// `payment_failed: {amount_due, payment_url, failed_at, access_until, attempts}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentFailedView {
    pub amount_due: MinorUnits,
    pub payment_url: Option<String>,
    pub failed_at: DateTime<Utc>,
    pub access_until: DateTime<Utc>,
    pub attempts: u32,
}

/// `cancellation_details: {reason, comment}`, as the billing manager gave them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancellationDetailsView {
    pub reason: Option<CancellationReason>,
    pub comment: Option<String>,
}

/// What a cancellation at the period's end would end, and when (nothing is charged or refunded).
#[derive(Debug, Clone, Serialize)]
pub struct CancelPreviewView {
    /// The subscription ends then; seats and benefits work until then.
    pub cancel_at: DateTime<Utc>,
    /// The seats that stop then (all of them), and how many are assigned.
    pub seats: i64,
    pub seats_assigned: i64,
    /// The benefits every seat holder loses then.
    pub benefits: Vec<BenefitView>,
    /// A scheduled change that never takes effect (nothing renews).
    pub scheduled_change_dropped: Option<ScheduledChangeView>,
    pub amount_due_now: MinorUnits,
    /// Seats are suspended, not deleted, after the end: buying the plan again before this
    /// restores them.
    pub restorable_until: DateTime<Utc>,
    pub subscription: SubscriptionView,
}

/// A change waiting for the period's end, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScheduledChangeView {
    SeatDecrease { seats: i64, effective_at: DateTime<Utc> },
    IntervalChange { interval: Interval, unit_amount: MinorUnits, effective_at: DateTime<Utc> },
}

impl From<&ScheduledChange> for ScheduledChangeView {
    fn from(c: &ScheduledChange) -> Self {
        match c {
            ScheduledChange::SeatDecrease { seats, effective_at, .. } => {
                ScheduledChangeView::SeatDecrease { seats: *seats, effective_at: *effective_at }
            }
            ScheduledChange::IntervalChange { interval, unit_amount, effective_at, .. } => {
                ScheduledChangeView::IntervalChange {
                    interval: *interval,
                    unit_amount: *unit_amount,
                    effective_at: *effective_at,
                }
            }
        }
    }
}

/// `pending_change: {seats?, interval?, amount_due, payment_url, expires_at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingChangeView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seats: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    pub amount_due: MinorUnits,
    pub payment_url: String,
    pub expires_at: DateTime<Utc>,
}

impl From<&PendingChange> for PendingChangeView {
    fn from(p: &PendingChange) -> Self {
        let (seats, interval) = match p.intent.kind {
            ChangeKind::IntervalSwitch => (None, Some(p.intent.interval)),
            _ => (Some(p.intent.seats), None),
        };
        PendingChangeView {
            seats,
            interval,
            amount_due: p.amount_due,
            payment_url: p.payment_url.clone(),
            expires_at: p.expires_at,
        }
    }
}

/// The invoice a change made at the payment provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceView {
    pub id: String,
    pub amount_due: MinorUnits,
    pub status: String,
    pub hosted_invoice_url: Option<String>,
}

impl From<&crate::ports::ProviderInvoice> for InvoiceView {
    fn from(i: &crate::ports::ProviderInvoice) -> Self {
        InvoiceView {
            id: i.id.clone(),
            amount_due: i.amount_due,
            status: i.status.clone(),
            hosted_invoice_url: i.hosted_invoice_url.clone(),
        }
    }
}

impl From<&Subscription> for SubscriptionView {
    fn from(s: &Subscription) -> Self {
        SubscriptionView {
            id: s.id.clone(),
            organization_id: s.organization_id.clone(),
            product_id: s.product_id.clone(),
            customer_id: s.customer_id.clone(),
            status: s.status,
            interval: s.interval,
            currency: s.currency.clone(),
            unit_amount: s.unit_amount,
            seats: s.seats,
            seats_assigned: s.seats_assigned,
            seats_available: s.seats_available(),
            scheduled_change: s.scheduled_change.as_ref().map(ScheduledChangeView::from),
            pending_change: s.pending_change.as_ref().map(PendingChangeView::from),
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            created_at: s.created_at,
            suspended_until: s.suspended_until,
            restored_from: s.restored_from.clone(),
            restored_into: s.restored_into.clone(),
            cancel_at_period_end: s.cancellation.is_some(),
            cancel_at: s.cancellation.as_ref().map(|c| c.cancel_at),
            canceled_at: s.cancellation.as_ref().map(|c| c.requested_at),
            cancellation_details: s
                .cancellation
                .as_ref()
                .map(|c| CancellationDetailsView { reason: c.reason, comment: c.comment.clone() }),
            trial_end: s.trial_end,
            payment_failed: s.dunning.as_ref().map(|d| PaymentFailedView {
                amount_due: d.amount_due,
                payment_url: d.payment_url.clone(),
                failed_at: d.failed_at,
                access_until: d.access_until,
                attempts: d.attempts,
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    pub id: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// Shown once; only its hash is stored.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub customer: CustomerView,
}

#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeatView {
    pub id: String,
    pub subscription_id: String,
    pub status: SeatStatus,
    pub email: String,
    pub customer_id: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub invited_at: DateTime<Utc>,
    pub invitation_expires_at: Option<DateTime<Utc>>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Suspended: since when (its subscription lapsed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<DateTime<Utc>>,
}

impl From<&Seat> for SeatView {
    fn from(s: &Seat) -> Self {
        SeatView {
            id: s.id.clone(),
            subscription_id: s.subscription_id.clone(),
            status: s.status,
            email: s.email.clone(),
            customer_id: s.customer_id.clone(),
            metadata: s.metadata.clone(),
            invited_at: s.invited_at,
            invitation_expires_at: match s.status {
                // An expired seat shows when its invitation ran out.
                SeatStatus::Pending | SeatStatus::Expired => s.invitation_expires_at,
                _ => None,
            },
            claimed_at: s.claimed_at,
            revoked_at: s.revoked_at,
            suspended_at: s.suspended_at.filter(|_| s.status == SeatStatus::Suspended),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SeatList {
    pub seats: Vec<SeatView>,
    pub seats_assigned: i64,
    pub seats_available: i64,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenefitRef {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub id: String,
    pub benefit: BenefitRef,
    pub seat_id: String,
    pub subscription_id: String,
    pub status: GrantStatus,
    pub granted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_key: Option<String>,
}

impl From<&Grant> for GrantView {
    fn from(g: &Grant) -> Self {
        GrantView {
            id: g.id.clone(),
            benefit: BenefitRef {
                id: g.benefit_id.clone(),
                kind: g.benefit_type.clone(),
                name: g.benefit_name.clone(),
            },
            seat_id: g.seat_id.clone(),
            subscription_id: g.subscription_id.clone(),
            status: g.status,
            granted_at: g.granted_at,
            revoked_at: g.revoked_at,
            // A revoked key is not shown again.
            license_key: match g.status {
                GrantStatus::Granted => g.license_key.clone(),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DownloadView {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimPreview {
    pub organization_name: String,
    pub product_name: String,
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClaimResult {
    pub seat: SeatView,
    pub session: SessionToken,
}

/// The answer of a seat-count or interval change, preview and apply alike.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeView {
    pub effective: crate::proration::Effective,
    pub effective_at: DateTime<Utc>,
    pub lines: Vec<crate::proration::ProrationLine>,
    pub amount_due_now: MinorUnits,
    /// The tax in `amount_due_now` (Stripe Tax's, from Stripe's preview; 0 without).
    pub tax: MinorUnits,
    pub next_renewal_amount: MinorUnits,
    pub subscription: SubscriptionView,
    /// The applying POSTs: the invoice the provider made for a change that charged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<InvoiceView>,
    /// The instant the money was computed at (Unix seconds): send it back as the apply's
    /// `proration_date` so the charge equals this preview.
    pub proration_date: i64,
}
