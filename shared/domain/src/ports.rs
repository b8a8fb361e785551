//! The ports: what the use cases need from the outside world. Adapters implement them
//! (DynamoDB, SES, Stripe, S3 in `adapters`; in-memory fakes in [`crate::memory`]).

use crate::error::{PortError, StoreError};
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    /// Now, in whole seconds (the API's timestamps have no fractions).
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), PortError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSessionRequest {
    pub checkout_id: String,
    pub product_name: String,
    pub currency: String,
    pub unit_amount: MinorUnits,
    pub interval: Interval,
    pub seats: i64,
    pub customer_email: String,
    pub success_url: String,
    pub cancel_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// A change invoiced now at the provider, with the same `proration_date` as our quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderChange {
    pub provider_subscription_id: String,
    pub product_name: String,
    pub currency: String,
    /// The seat count after the change.
    pub quantity: i64,
    /// The quantity and price before the change (the offline gateway prorates from them).
    pub previous_quantity: i64,
    pub previous_unit_amount: MinorUnits,
    pub previous_interval: Interval,
    /// The price after the change (equal to the previous one for a seat change).
    pub unit_amount: MinorUnits,
    pub interval: Interval,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Unix seconds, passed to the provider so its proration equals ours.
    pub proration_date: i64,
    /// Makes a retried call charge once.
    pub idempotency_key: String,
}

/// What the provider invoiced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInvoice {
    pub id: String,
    pub amount_due: MinorUnits,
}

/// The payment provider (Stripe). Seats are the subscription item's quantity.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError>;
    /// More seats now: quantity with `proration_behavior=always_invoice`.
    async fn invoice_seat_increase(&self, change: &ProviderChange) -> Result<ProviderInvoice, PortError>;
    /// The quantity the next renewal bills, nothing now (`proration_behavior=none`).
    async fn set_renewal_quantity(&self, change: &ProviderChange) -> Result<(), PortError>;
    /// Monthly → annual now: price swap, `billing_cycle_anchor=now`, invoiced at once.
    async fn switch_interval_now(&self, change: &ProviderChange) -> Result<ProviderInvoice, PortError>;
    /// Annual → monthly at the period's end (a subscription schedule at Stripe); returns its id.
    async fn schedule_interval_change(&self, change: &ProviderChange) -> Result<String, PortError>;
    /// Drops a scheduled interval change (releases the schedule).
    async fn cancel_scheduled_change(
        &self,
        provider_subscription_id: &str,
        schedule_id: &str,
    ) -> Result<(), PortError>;
}

#[async_trait]
pub trait FileStore: Send + Sync {
    /// A presigned PUT for the merchant to upload a benefit's file.
    async fn presign_upload(
        &self,
        object_key: &str,
        content_type: &str,
        expires_in_s: u64,
    ) -> Result<String, PortError>;
    /// A presigned GET for a seat holder to download it.
    async fn presign_download(
        &self,
        object_key: &str,
        filename: &str,
        expires_in_s: u64,
    ) -> Result<String, PortError>;
}

/// The queue that carries benefit jobs to the worker (SQS).
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends the jobs (in batches as the queue allows). A failure leaves them in the outbox,
    /// from where the sweeper sends them again.
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), PortError>;
}

/// Assigning a seat: counter + seat + email guard + claim token + audit, all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatAssignment {
    pub seat: Seat,
    pub token: ClaimToken,
    pub audit: AuditEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOutcome {
    Assigned,
    /// `seats_assigned` reached the cap (or the subscription cannot take seats).
    NoSeats,
    /// The email holds a live seat on this subscription.
    AlreadyAssigned,
}

/// Claiming a seat: the token is consumed, the seat becomes the holder's, the grant job goes
/// to the outbox — one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatClaim {
    pub token: ClaimToken,
    pub holder: Customer,
    /// Set when the holder is new to the organization.
    pub new_customer: Option<Customer>,
    pub claimed_at: DateTime<Utc>,
    pub job: Job,
    pub audit: AuditEvent,
}

/// Revoking a seat as it was read: seat → revoked, counter − 1, guard and token gone, and
/// for a claimed seat the revoke job in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatRevocation {
    pub seat: Seat,
    pub revoked_at: DateTime<Utc>,
    pub job: Option<Job>,
    pub audit: AuditEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// The token was used, expired or revoked meanwhile, or the subscription lapsed.
    Gone,
    /// The holder's customer was created concurrently: read it and try again.
    CustomerRace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantOutcome {
    Granted,
    /// This (seat, benefit) already has a grant: a duplicate delivery.
    Exists,
    /// The seat is no longer claimed by this holder: nothing was granted.
    SeatNotClaimed,
    /// The generated license key exists already: generate another.
    KeyTaken,
}

/// An outbox entry: a job committed with its cause and not yet done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub job: Job,
    pub attempts: i64,
    pub enqueued_at: i64,
}

/// A page of seats.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatPage {
    pub seats: Vec<Seat>,
    pub next_cursor: Option<String>,
}

/// What completing a checkout writes, all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutCompletion {
    pub checkout_id: String,
    pub event_id: String,
    /// Set when the billing manager is new to the organization.
    pub new_customer: Option<Customer>,
    pub subscription: Subscription,
    pub audit: AuditEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// The event id was seen before: nothing changed.
    Duplicate,
    /// The target was already past this state (completed checkout, newer event, version moved).
    Stale,
}

/// A seat-count or interval change written under the version read (and the change lock).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionChange {
    pub subscription_id: String,
    pub expected_version: i64,
    pub seats: i64,
    pub assign_cap: i64,
    /// The change holds only while `seats_assigned` is at most this (a decrease).
    pub max_assigned: Option<i64>,
    pub interval: Interval,
    pub unit_amount: MinorUnits,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub scheduled_change: Option<ScheduledChange>,
    pub audit: AuditEvent,
}

/// The billing state written by a payment-provider event, guarded by the version read.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingUpdate {
    pub subscription_id: String,
    pub expected_version: i64,
    pub event_id: String,
    pub event_created: i64,
    pub status: SubscriptionStatus,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    /// A renewal that applies the scheduled change: the new seats, cap and price.
    pub renewal: Option<RenewalTerms>,
    /// A lapse: the job that revokes every seat, committed with the status.
    pub revoke_all: Option<Job>,
    pub audit: Option<AuditEvent>,
}

/// What a renewal bills from now on, when a scheduled change took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalTerms {
    pub seats: i64,
    pub assign_cap: i64,
    pub interval: Interval,
    pub unit_amount: MinorUnits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// First time: go ahead, then `finish` or `abandon`.
    Started,
    /// The same request was answered before: replay this.
    Replay(StoredResponse),
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// The single table, in the domain's words. Every invariant is enforced by the store itself
/// (conditions and transactions), never by a read followed by a write.
#[async_trait]
pub trait Store: Send + Sync {
    /// Organization + slug guard + API key hash in one transaction. `Ok(false)`: slug taken.
    async fn create_organization(&self, org: &Organization, api_key_hash: &str) -> Result<bool, StoreError>;
    async fn organization(&self, id: &str) -> Result<Option<Organization>, StoreError>;
    async fn organization_by_slug(&self, slug: &str) -> Result<Option<Organization>, StoreError>;
    async fn organization_of_api_key(&self, key_hash: &str) -> Result<Option<String>, StoreError>;

    async fn put_benefit(&self, b: &Benefit) -> Result<(), StoreError>;
    async fn benefit(&self, id: &str) -> Result<Option<Benefit>, StoreError>;
    async fn benefits(&self, organization_id: &str) -> Result<Vec<Benefit>, StoreError>;
    async fn put_product(&self, p: &Product) -> Result<(), StoreError>;
    async fn product(&self, id: &str) -> Result<Option<Product>, StoreError>;
    async fn products(&self, organization_id: &str) -> Result<Vec<Product>, StoreError>;

    async fn put_checkout(&self, c: &Checkout) -> Result<(), StoreError>;
    async fn checkout(&self, id: &str) -> Result<Option<Checkout>, StoreError>;
    /// Checkout open → completed, event recorded, customer (if new), subscription, link and
    /// audit event: one transaction.
    async fn complete_checkout(&self, c: &CheckoutCompletion) -> Result<Applied, StoreError>;

    async fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError>;
    async fn customer_by_email(
        &self,
        organization_id: &str,
        email: &str,
    ) -> Result<Option<Customer>, StoreError>;

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError>;
    async fn subscription_by_provider_id(
        &self,
        provider_subscription_id: &str,
    ) -> Result<Option<Subscription>, StoreError>;
    async fn subscriptions_of_billing_manager(
        &self,
        customer_id: &str,
    ) -> Result<Vec<Subscription>, StoreError>;
    /// A merchant's subscriptions, oldest first.
    async fn subscriptions_of_organization(
        &self,
        organization_id: &str,
    ) -> Result<Vec<Subscription>, StoreError>;
    /// Applies a provider event's billing state if the event is new, not older than the last
    /// one applied, and the version still matches.
    async fn apply_billing_update(&self, u: &BillingUpdate) -> Result<Applied, StoreError>;
    /// Records an event id as handled. `false`: seen before.
    async fn record_event(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Takes the subscription's change lock until `until` (one money change at a time).
    /// `false`: another change holds it.
    async fn lock_subscription(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn unlock_subscription(&self, id: &str) -> Result<(), StoreError>;
    /// Writes the change and releases the lock. `false`: the version moved or, for a
    /// decrease, more seats are assigned than it allows.
    async fn change_subscription(&self, c: &SubscriptionChange) -> Result<bool, StoreError>;
    async fn put_audit_event(&self, a: &AuditEvent) -> Result<(), StoreError>;
    async fn audit_events(&self, subscription_id: &str) -> Result<Vec<AuditEvent>, StoreError>;

    async fn put_sign_in_code(&self, code: &SignInCode) -> Result<(), StoreError>;
    /// Deletes the code and returns it if it existed and had not expired: single use.
    async fn take_sign_in_code(
        &self,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignInCode>, StoreError>;
    async fn put_session(&self, s: &Session) -> Result<(), StoreError>;
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, StoreError>;

    async fn assign_seat(&self, a: &SeatAssignment) -> Result<AssignOutcome, StoreError>;
    async fn seat(&self, subscription_id: &str, seat_id: &str) -> Result<Option<Seat>, StoreError>;
    /// Seats in creation order, `limit` at a time, optionally of one status.
    async fn seats_page(
        &self,
        subscription_id: &str,
        status: Option<SeatStatus>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<SeatPage, StoreError>;
    /// Swaps a pending seat's claim token. `false`: the seat is no longer pending with `old_hash`.
    async fn replace_claim_token(
        &self,
        seat: &Seat,
        new: &ClaimToken,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn claim_token(&self, token_hash: &str) -> Result<Option<ClaimToken>, StoreError>;
    async fn claim_seat(&self, c: &SeatClaim, now: DateTime<Utc>) -> Result<ClaimOutcome, StoreError>;
    /// `false`: the seat changed since it was read (claimed, revoked, re-sent): read again.
    async fn revoke_seat(&self, r: &SeatRevocation) -> Result<bool, StoreError>;

    /// Puts a grant if the seat is still claimed by its holder and no grant exists for
    /// (seat, benefit); a license key also takes its uniqueness guard.
    async fn put_grant(&self, g: &Grant, audit: &AuditEvent) -> Result<GrantOutcome, StoreError>;
    async fn grants_of_customer(&self, customer_id: &str) -> Result<Vec<Grant>, StoreError>;
    /// Marks a grant revoked. `false`: it already was.
    async fn revoke_grant(
        &self,
        g: &Grant,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Removes a done job from the outbox.
    async fn finish_job(&self, job: &Job) -> Result<(), StoreError>;
    /// Outbox entries last sent before `cutoff` (Unix seconds), at most `limit`.
    async fn stale_jobs(&self, cutoff: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Records that an outbox entry was sent again at `now`.
    async fn touch_job(&self, job: &Job, now: i64) -> Result<(), StoreError>;

    async fn begin_idempotent(
        &self,
        scope: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, StoreError>;
    async fn finish_idempotent(&self, scope: &str, response: &StoredResponse) -> Result<(), StoreError>;
    async fn abandon_idempotent(&self, scope: &str) -> Result<(), StoreError>;
}
