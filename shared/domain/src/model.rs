//! The entities as they are stored. API shapes live in [`crate::views`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Money in the currency's minor unit (cents). Never a float.
pub type MinorUnits = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

/// An organization's API key as stored: never the key, which only its owner saw once; the
/// table holds its hash as the item's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Empty for a key made before keys had ids (it gets one when next used).
    #[serde(default)]
    pub id: String,
    pub organization_id: String,
    pub created_at: DateTime<Utc>,
    /// The key's last four characters, to tell keys apart in a list.
    #[serde(default)]
    pub last4: String,
    /// Set when a newer key replaced it: it stops working then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn works_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// Where operational notices go (an endpoint disabled after failing for days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The Stripe Billing Portal configuration its billing managers' sessions use (made on the
    /// first session, then kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_portal_configuration_id: Option<String>,
    /// Days a subscription whose renewal is unpaid keeps its seats before it lapses (even if
    /// the provider still retries); [`DEFAULT_GRACE_DAYS`] when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_days: Option<u32>,
    /// Stripe Tax: checkouts collect the address and tax id and add the tax; subscriptions
    /// bought since are taxed on every invoice (previews show it).
    #[serde(default)]
    pub automatic_tax: bool,
}

/// How long an unpaid renewal keeps its seats, unless the organization says otherwise.
pub const DEFAULT_GRACE_DAYS: u32 = 14;

impl Organization {
    pub fn grace_days(&self) -> u32 {
        self.grace_days.unwrap_or(DEFAULT_GRACE_DAYS)
    }
}

/// A renewal whose payment failed, until it is paid or the grace period ends (dunning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dunning {
    /// The first failure of this unpaid invoice.
    pub failed_at: DateTime<Utc>,
    pub invoice_id: Option<String>,
    pub amount_due: MinorUnits,
    /// The provider's page to pay the invoice (Stripe's hosted invoice page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_url: Option<String>,
    /// Seats and benefits work until then; the sweeper lapses the subscription at it.
    pub access_until: DateTime<Utc>,
    /// Failed attempts seen (the provider retries).
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BenefitKind {
    FileDownload {
        filename: String,
        content_type: String,
        /// The object key in the files bucket.
        object_key: String,
    },
    LicenseKey {
        #[serde(default)]
        prefix: Option<String>,
        /// How many activations (installs, machines) one key may have at once; none: no limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activation_limit: Option<u32>,
    },
}

/// A license key's record, kept under the key's hash: whose grant it is and how many
/// activations it has (a counter the activation's condition checks against the limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseKeyRecord {
    pub key_hash: String,
    pub organization_id: String,
    pub customer_id: String,
    pub seat_id: String,
    pub subscription_id: String,
    pub benefit_id: String,
    pub grant_id: String,
    #[serde(default)]
    pub activation_limit: Option<u32>,
    #[serde(default)]
    pub activations: u32,
}

/// One activation of a license key (an install the merchant's software registered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseActivation {
    pub id: String,
    pub key_hash: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benefit {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    #[serde(flatten)]
    pub kind: BenefitKind,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub unit_amount: MinorUnits,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Prices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<Price>,
}

impl Prices {
    pub fn for_interval(&self, interval: Interval) -> Option<Price> {
        match interval {
            Interval::Month => self.month,
            Interval::Year => self.year,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub currency: String,
    pub prices: Prices,
    pub min_seats: i64,
    pub max_seats: i64,
    pub benefit_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The payment provider's Price of each interval (Stripe `price_…` ids), made with the
    /// product or before its first use: every checkout and change names one.
    #[serde(default)]
    pub provider_prices: ProviderPrices,
    /// What assigning on a full subscription does: refuse (`block`, the default) or offer to add
    /// the seats, charged first (`grow`).
    #[serde(default)]
    pub when_full: WhenFull,
    /// Days of free trial a purchase starts with (seats usable, the first invoice at its end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    #[default]
    Block,
    Grow,
}

/// The provider's Price ids of a product, per interval.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProviderPrices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<String>,
}

impl ProviderPrices {
    pub fn for_interval(&self, interval: Interval) -> Option<&str> {
        match interval {
            Interval::Month => self.month.as_deref(),
            Interval::Year => self.year.as_deref(),
        }
    }

    /// The Price ids a provider without state gives `product` (offline, fakes): `{prefix}_{id}_{interval}`.
    pub fn named(prefix: &str, product: &Product) -> Self {
        let id = |i: Interval| format!("{prefix}_{}_{}", product.id, i.as_str());
        ProviderPrices {
            month: product.prices.month.map(|_| id(Interval::Month)),
            year: product.prices.year.map(|_| id(Interval::Year)),
        }
    }

    /// Every priced interval of `prices` has its provider Price.
    pub fn cover(&self, prices: &Prices) -> bool {
        (prices.month.is_none() || self.month.is_some()) && (prices.year.is_none() || self.year.is_some())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStatus {
    Open,
    Completed,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkout {
    pub id: String,
    pub organization_id: String,
    pub product_id: String,
    pub interval: Interval,
    pub seats: i64,
    pub currency: String,
    pub unit_amount: MinorUnits,
    pub amount_due: MinorUnits,
    pub customer_email: String,
    pub success_url: String,
    pub cancel_url: String,
    pub status: CheckoutStatus,
    pub payment_url: String,
    /// The payment provider's checkout session id (`cs_…` at Stripe).
    pub provider_session_id: String,
    #[serde(default)]
    pub subscription_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The product's trial when the checkout was made: nothing is due until it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u32>,
    /// The organization's Stripe Tax setting when the checkout was made.
    #[serde(default)]
    pub automatic_tax: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    PastDue,
    Unpaid,
    Canceled,
    Incomplete,
    IncompleteExpired,
    Trialing,
    Paused,
}

impl SubscriptionStatus {
    /// Stripe's status names map one to one.
    pub fn from_provider(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "unpaid" => Self::Unpaid,
            "canceled" => Self::Canceled,
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "trialing" => Self::Trialing,
            "paused" => Self::Paused,
            _ => return None,
        })
    }

    /// Seats can be assigned and claimed only while the subscription is paid up or in grace.
    pub fn allows_seat_changes(self) -> bool {
        matches!(self, Self::Active | Self::PastDue | Self::Trialing)
    }

    /// The statuses in which no seat keeps its benefits.
    pub fn is_lapsed(self) -> bool {
        matches!(self, Self::Canceled | Self::Unpaid | Self::IncompleteExpired | Self::Paused)
    }
}

/// Why a billing manager cancels: Stripe's `cancellation_details.feedback` values, passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    CustomerService,
    LowQuality,
    MissingFeatures,
    Other,
    SwitchedService,
    TooComplex,
    TooExpensive,
    Unused,
}

impl CancellationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerService => "customer_service",
            Self::LowQuality => "low_quality",
            Self::MissingFeatures => "missing_features",
            Self::Other => "other",
            Self::SwitchedService => "switched_service",
            Self::TooComplex => "too_complex",
            Self::TooExpensive => "too_expensive",
            Self::Unused => "unused",
        }
    }
}

/// A subscription set to end at its period's end (Stripe's `cancel_at_period_end`): it stays
/// as it is until then, and lapses then unless resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// When it ends: the period's end when it was asked for (Stripe's `cancel_at`).
    pub cancel_at: DateTime<Utc>,
    /// When it was asked for (Stripe's `canceled_at`).
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<CancellationReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who asked (`customer:…`, `organization:…`).
    pub actor: String,
}

/// A change that takes effect at the end of the current period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScheduledChange {
    SeatDecrease {
        seats: i64,
        effective_at: DateTime<Utc>,
        /// The provider's schedule whose next phase carries it (a Stripe subscription schedule id).
        #[serde(default)]
        provider_schedule_id: Option<String>,
    },
    IntervalChange {
        interval: Interval,
        unit_amount: MinorUnits,
        effective_at: DateTime<Utc>,
        /// The provider's schedule that carries it (a Stripe subscription schedule id).
        #[serde(default)]
        provider_schedule_id: Option<String>,
        /// The quantity the schedule's next phase bills (kept equal to the seats paid for).
        #[serde(default)]
        seats: Option<i64>,
    },
}

impl ScheduledChange {
    pub fn effective_at(&self) -> DateTime<Utc> {
        match self {
            ScheduledChange::SeatDecrease { effective_at, .. }
            | ScheduledChange::IntervalChange { effective_at, .. } => *effective_at,
        }
    }

    pub fn provider_schedule_id(&self) -> Option<&str> {
        match self {
            ScheduledChange::SeatDecrease { provider_schedule_id, .. }
            | ScheduledChange::IntervalChange { provider_schedule_id, .. } => provider_schedule_id.as_deref(),
        }
    }
}

/// What a money change does, recorded before the provider is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// More seats now, invoiced at once.
    SeatIncrease,
    /// Monthly → annual now, invoiced at once; a new period starts.
    IntervalSwitch,
    /// Fewer seats from the next period (a schedule's next phase).
    ScheduleDecrease,
    /// Annual → monthly from the next period (a schedule's next phase).
    ScheduleInterval,
    /// Back to renewing as now (the schedule released).
    CancelScheduled,
    /// Ends at the period's end (Stripe's `cancel_at_period_end`; a scheduled change dropped).
    CancelAtPeriodEnd,
    /// Renews again: a cancellation at the period's end withdrawn before it.
    Resume,
}

impl ChangeKind {
    /// Changes that charge now go through payment first.
    pub fn charges_now(self) -> bool {
        matches!(self, ChangeKind::SeatIncrease | ChangeKind::IntervalSwitch)
    }
}

/// A money change in flight: written before the provider is called, settled exactly once by
/// the provider's answer or its webhook, whichever comes first (or healed by the sweeper).
/// While it exists no other change starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeIntent {
    pub id: String,
    pub kind: ChangeKind,
    /// The terms after the change.
    pub seats: i64,
    pub interval: Interval,
    pub unit_amount: MinorUnits,
    /// Unix seconds: the instant both the preview and the charge prorate at.
    pub proration_date: i64,
    /// What the preview said is due now (the provider's number in Stripe mode).
    pub amount_due: MinorUnits,
    /// The assign cap to restore when the change is dropped.
    pub previous_cap: i64,
    /// Who asked (`customer:…`, `organization:…`).
    pub actor: String,
    /// The provider's idempotency key for the call this intent makes.
    pub idempotency_key: String,
    /// The quote's lines, due and renewal amounts, kept for the audit entry.
    #[serde(default)]
    pub detail: serde_json::Value,
    pub started_at: DateTime<Utc>,
    /// Seats the asker is growing the subscription for (auto-grow): reserved for them in the
    /// write that applies the change, so nobody else takes the seats they paid for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve: Option<i64>,
    /// The cancellation a `cancel_at_period_end` intent sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
}

impl ChangeIntent {
    /// The reservation its settlement makes (a `rsv_` id from the intent's).
    pub fn reservation_id(&self) -> String {
        format!(
            "{}_{}",
            crate::ids::RESERVATION,
            self.id.split_once('_').map_or(self.id.as_str(), |(_, hex)| hex)
        )
    }
}

/// A change that charges, sent to the provider and waiting for its payment (declined card,
/// authentication required). Nothing of it applies until the provider says it is paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingChange {
    pub intent: ChangeIntent,
    pub invoice_id: String,
    pub amount_due: MinorUnits,
    pub payment_url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub organization_id: String,
    pub product_id: String,
    /// Copied at purchase so that invitations and claim previews need no extra reads.
    #[serde(default)]
    pub product_name: String,
    #[serde(default)]
    pub organization_name: String,
    /// The billing manager.
    pub customer_id: String,
    pub status: SubscriptionStatus,
    pub interval: Interval,
    pub currency: String,
    pub unit_amount: MinorUnits,
    /// Paid seats.
    pub seats: i64,
    /// Pending + claimed seats. Only ever changed by conditional atomic updates.
    pub seats_assigned: i64,
    /// How many seats may be assigned: `seats`, or less while a decrease is scheduled.
    pub assign_cap: i64,
    #[serde(default)]
    pub scheduled_change: Option<ScheduledChange>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub provider_subscription_id: String,
    #[serde(default)]
    pub provider_customer_id: Option<String>,
    /// `created` (Unix seconds) of the newest payment-provider event applied; older ones never roll state back.
    pub last_event_at: i64,
    /// Optimistic-concurrency version of the billing state (status, period, seats, schedule).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    /// The provider's subscription item that carries the seat quantity (`si_…`).
    #[serde(default)]
    pub provider_item_id: Option<String>,
    /// The period was read from the provider (not estimated from the checkout's completion).
    #[serde(default)]
    pub period_confirmed: bool,
    /// The money change in flight, if any. Absent, never null: the store's conditions test
    /// for its absence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_intent: Option<ChangeIntent>,
    /// A change sent to the provider and waiting for its payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_change: Option<PendingChange>,
    /// A lapsed subscription's seats are suspended until then: a reactivation before it
    /// restores them, the sweeper revokes them at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_until: Option<DateTime<Utc>>,
    /// The lapsed subscription whose seats this one's purchase restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// The subscription that took this lapsed one's seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_into: Option<String>,
    /// Set to end at the period's end; kept as a record once it lapsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
    /// When `cancellation` was last set or withdrawn (Unix seconds; our clock for our own
    /// changes, the event's for the provider's): an event older than it says nothing of it.
    #[serde(default)]
    pub cancellation_changed_at: i64,
    /// A renewal's payment failed: the banner, the mail, the grace period's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dunning: Option<Dunning>,
    /// The end of the free trial it started with (while `trialing`, its first period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<DateTime<Utc>>,
    /// Bought with Stripe Tax: its changes are taxed too (the provider keeps the setting).
    #[serde(default)]
    pub automatic_tax: bool,
}

impl Subscription {
    /// The facts proration needs.
    pub fn billing_state(&self) -> crate::proration::BillingState<'_> {
        crate::proration::BillingState {
            product_name: &self.product_name,
            interval: self.interval,
            unit_amount: self.unit_amount,
            seats: self.seats,
            period_start: self.current_period_start,
            period_end: self.current_period_end,
        }
    }

    pub fn seats_available(&self) -> i64 {
        (self.assign_cap.min(self.seats) - self.seats_assigned).max(0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignInCode {
    pub code_hash: String,
    pub customer_id: String,
    pub organization_id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub token_hash: String,
    pub customer_id: String,
    pub organization_id: String,
    pub expires_at: DateTime<Utc>,
}

/// An immutable entry of a subscription's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub subscription_id: String,
    /// `subscription.created`, `seat.assigned`, `seat.claimed`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Who did it: `customer:cus_…`, `organization:org_…`, `stripe:evt_…`, `system`.
    pub actor: String,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// The webhook events this change announces. Not part of the trail the API shows: the
    /// store keeps them beside the entry, in the same write, until they are dispatched.
    #[serde(skip)]
    pub outgoing: Vec<crate::webhooks::OutgoingEvent>,
}

impl AuditEvent {
    pub fn announcing(mut self, event: crate::webhooks::OutgoingEvent) -> Self {
        self.outgoing.push(event);
        self
    }
}

// Seats, their claim links and grants, and the jobs that follow them.
pub use crate::model_invoices::*;
pub use crate::model_seats::*;
