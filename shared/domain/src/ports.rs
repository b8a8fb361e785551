//! The ports: what the use cases need from the outside world. Adapters implement them
//! (DynamoDB, SES, Stripe, S3 in `adapters`; in-memory fakes in [`crate::memory`]).

use crate::error::{PortError, StoreError};
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::ports_payments::*;
pub use crate::ports_suspension::*;
pub use crate::ports_team::*;
pub use crate::ports_webhooks::*;

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

/// One hit on a fixed-window rate counter, made in the write it limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateHit {
    pub key: String,
    pub window_ends_at: i64,
    pub max: u32,
}

/// Assigning a seat: counter + seat + email guard + claim token + audit + the invitation's
/// job in the outbox + a hit on the subscription's invitation limit, all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatAssignment {
    pub seat: Seat,
    pub token: ClaimToken,
    pub audit: AuditEvent,
    /// The `invite` job; the outbox keeps it without its token.
    pub invitation: Job,
    pub limit: RateHit,
}

/// Handing a seat to someone else: the old seat revoked and a new pending one (its link, its
/// invitation) in one transaction, the subscription's counter unmoved, so a full subscription
/// can transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatTransfer {
    pub revocation: SeatRevocation,
    pub assignment: SeatAssignment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    Transferred,
    /// The old seat changed since it was read (revoked, claimed, re-sent): read it again.
    SeatChanged,
    /// The new email holds a live seat on this subscription.
    AlreadyAssigned,
    /// The subscription no longer takes seat changes.
    NotLive,
    RateLimited,
}

/// A seat assigned and claimed at once, with no invitation (the organization's own onboarding,
/// or a billing manager's own seat): the counter, the claimed seat and its email guard, the
/// holder when new (with the one-customer-per-email guard), the audit event and the grant job
/// in the outbox, all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedAssignment {
    pub seat: Seat,
    pub new_customer: Option<Customer>,
    pub audit: AuditEvent,
    pub grant: Job,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimedAssignOutcome {
    Assigned,
    NoSeats,
    AlreadyAssigned,
    /// The person became a customer meanwhile: read them and try again.
    HolderExists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOutcome {
    Assigned,
    /// `seats_assigned` reached the cap (or the subscription cannot take seats).
    NoSeats,
    /// The email holds a live seat on this subscription.
    AlreadyAssigned,
    /// The subscription sent as many invitations as its window allows.
    RateLimited,
}

/// Claiming a seat: the token is consumed, the seat becomes the holder's, the grant job goes
/// to the outbox, the holder's portal session starts — one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatClaim {
    pub token: ClaimToken,
    pub holder: Customer,
    /// Set when the holder is taken to be new to the organization.
    pub new_customer: Option<Customer>,
    pub claimed_at: DateTime<Utc>,
    pub job: Job,
    pub audit: AuditEvent,
    pub session: Session,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// The token was used, expired or revoked meanwhile, or the subscription lapsed.
    Gone,
    /// The holder is a customer already (this id): claim again as them.
    HolderExists(String),
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
    /// The purchase reactivates a suspended subscription: its seats come over.
    pub restore: Option<Restoration>,
    /// The ledger's record of the purchase (a provider that keeps no invoices).
    pub invoice: Option<BillingInvoice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// The event id was seen before: nothing changed.
    Duplicate,
    /// The target was already past this state (completed checkout, newer event, version moved).
    Stale,
}

/// How a change intent ends.
#[derive(Debug, Clone, PartialEq)]
pub enum SettleOutcome {
    /// The change took effect (paid, or scheduled at the provider): the terms from now on.
    Applied(Terms),
    /// Sent, waiting for payment: nothing applies yet.
    PaymentPending(PendingChange),
    /// Nothing took effect (never reached the provider, or its payment expired).
    Dropped,
}

/// What a settled change writes: only the fields the change owns, so that a renewal applied
/// meanwhile (by its own webhook) is never rolled back. `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Terms {
    pub seats: Option<i64>,
    pub assign_cap: Option<AssignCap>,
    pub interval: Option<Interval>,
    pub unit_amount: Option<MinorUnits>,
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// `Some(None)` removes the scheduled change, `Some(Some(c))` sets it.
    pub scheduled_change: Option<Option<ScheduledChange>>,
    /// Sets the end at the period's end (and the sweeper's entry for it) or withdraws it.
    pub cancellation: Option<CancellationWrite>,
}

/// A cancellation set (`Some`: with the sweeper's entry at its end) or withdrawn (`None`), and
/// when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancellationWrite {
    pub cancellation: Option<Cancellation>,
    pub at: i64,
}

/// How a settled change sets the assign cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignCap {
    To(i64),
    /// Back to the paid seats (whatever they are when the write lands).
    Seats,
}

/// Settling intent `intent_id` of a subscription, conditioned on it still being there.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub subscription_id: String,
    pub intent_id: String,
    pub outcome: SettleOutcome,
    /// Restored on `Dropped` (a decrease lowered it when it began).
    pub previous_cap: Option<i64>,
    pub audit: Option<AuditEvent>,
    /// On `Applied`: seats taken for the asker at once, under this reservation (auto-grow).
    pub reserve: Option<SeatHold>,
    /// The ledger's record of the change's invoice, paid or open (a provider that keeps none).
    pub invoice: Option<BillingInvoice>,
}

/// Seats an applied growth takes for whoever asked for it: the counter moves by `seats` and the
/// reservation is recorded, in the settlement's own write (the new seats are free by then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatHold {
    pub reservation_id: String,
    pub seats: i64,
    pub created_at: DateTime<Utc>,
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
    /// The period is the provider's (not an estimate).
    pub period_confirmed: bool,
    pub provider_item_id: Option<String>,
    /// A renewal that applies the scheduled change: the new seats, cap and price.
    pub renewal: Option<RenewalTerms>,
    /// A lapse's `suspend_all` or a reactivation's `restore` job, committed with the status.
    pub seats_job: Option<Job>,
    pub suspension: SuspensionChange,
    /// The provider set or withdrew an end at the period's end (by hand, at Stripe).
    pub cancellation: Option<CancellationWrite>,
    /// Applies only while no change is in flight (the sweeper's end of a cancellation must not
    /// overtake a resume that began).
    pub require_no_change: bool,
    /// A renewal's payment failed (`Some(Some)`: the dunning and the sweeper's entry at its
    /// end), or it is over (`Some(None)`: paid, or lapsed).
    pub dunning: Option<Option<Dunning>>,
    /// The billing managers' mail about it, committed to the outbox with the state.
    pub notice_job: Option<Job>,
    pub audit: Option<AuditEvent>,
    /// The ledger's record of a renewal's invoice (a provider that keeps none).
    pub invoice: Option<BillingInvoice>,
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
pub trait Store: WebhookStore + TeamSeatStore + ManagerStore + SuspensionStore + Send + Sync {
    /// Organization + slug guard + API key hash in one transaction. `Ok(false)`: slug taken.
    async fn create_organization(
        &self,
        org: &Organization,
        key: &ApiKey,
        key_hash: &str,
    ) -> Result<bool, StoreError>;
    async fn organization(&self, id: &str) -> Result<Option<Organization>, StoreError>;
    async fn organization_by_slug(&self, slug: &str) -> Result<Option<Organization>, StoreError>;
    /// The organization's billing settings given (grace days for unpaid renewals, Stripe
    /// Tax); `false` when there is no such organization.
    async fn set_organization_settings(
        &self,
        organization_id: &str,
        grace_days: Option<u32>,
        automatic_tax: Option<bool>,
    ) -> Result<bool, StoreError>;
    /// Keeps the organization's billing portal configuration, unless it has one already
    /// (`false`: another session's made first; read it back).
    async fn set_billing_portal_configuration(
        &self,
        organization_id: &str,
        configuration_id: &str,
    ) -> Result<bool, StoreError>;
    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Gives a key made before keys had ids its id and place in the organization's list (once).
    async fn adopt_api_key(&self, key_hash: &str, key: &ApiKey) -> Result<(), StoreError>;
    /// The organization's keys, live and expiring, oldest first.
    async fn api_keys(&self, organization_id: &str) -> Result<Vec<ApiKey>, StoreError>;
    /// A new key, and every key of the organization that does not expire yet expiring at
    /// `others_expire_at` (or earlier, if it already did), in one transaction.
    async fn rotate_api_key(
        &self,
        key: &ApiKey,
        key_hash: &str,
        others_expire_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

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
    /// Records a change's intent on the subscription (and in the sweeper's list) if its
    /// billing state is still the one read (`version`), no other change is in flight or
    /// waiting for payment, and it takes changes; a decrease also lowers the assign cap, only
    /// while no more seats are assigned than it leaves. `false`: a condition failed.
    async fn begin_change(
        &self,
        read: &Subscription,
        intent: &ChangeIntent,
        cap: Option<i64>,
    ) -> Result<bool, StoreError>;
    /// Settles the intent (or pending change) `intent_id`, once: `false` when it is no longer
    /// there (settled by the other path).
    async fn settle_change(&self, s: &Settlement) -> Result<bool, StoreError>;
    /// Subscriptions whose change intent started before `cutoff` (Unix seconds).
    async fn stale_intents(&self, cutoff: i64, limit: usize) -> Result<Vec<String>, StoreError>;
    /// The ledger's invoices of a subscription (in no order), written with the purchase, the
    /// settlement or the renewal they record.
    async fn ledger_invoices(&self, subscription_id: &str) -> Result<Vec<BillingInvoice>, StoreError>;
    /// Subscriptions set to end at a period's end whose next look is due by `now`:
    /// `(id, cancel_at)`, earliest first (the sweeper's list, written and removed with the
    /// cancellation; its look is at the end, later when postponed).
    async fn cancellations_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
    /// Takes a subscription off that list once its end is dealt with (only the entry for
    /// `cancel_at`: a later cancellation of the same subscription stays).
    async fn forget_cancellation_due(
        &self,
        subscription_id: &str,
        cancel_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Unpaid subscriptions whose grace days ended by `now`: `(id, access_until)`.
    async fn dunning_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
    /// Takes one off that list (only the entry for `access_until`).
    async fn forget_dunning_due(
        &self,
        subscription_id: &str,
        access_until: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Looks again at `next_look` (the provider's own end has not come yet).
    async fn postpone_cancellation_due(
        &self,
        subscription_id: &str,
        cancel_at: DateTime<Utc>,
        next_look: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn put_audit_event(&self, a: &AuditEvent) -> Result<(), StoreError>;
    /// At most `limit` of a subscription's events after the event `after`, oldest first.
    async fn audit_events_after(
        &self,
        subscription_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// At most `limit` of an organization's subscriptions after the subscription `after`.
    async fn subscriptions_of_organization_after(
        &self,
        organization_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>, StoreError>;
    async fn audit_events(&self, subscription_id: &str) -> Result<Vec<AuditEvent>, StoreError>;

    /// Counts one hit on a fixed-window counter that lives until `window_ends_at` (Unix
    /// seconds): `false`, and nothing counted, when it already holds `max` hits.
    async fn count_hit(&self, key: &str, window_ends_at: i64, max: u32) -> Result<bool, StoreError>;
    async fn put_sign_in_code(&self, code: &SignInCode) -> Result<(), StoreError>;
    /// Deletes the code and returns it if it existed and had not expired: single use.
    async fn take_sign_in_code(
        &self,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignInCode>, StoreError>;
    async fn put_session(&self, s: &Session) -> Result<(), StoreError>;
    async fn session(&self, token_hash: &str) -> Result<Option<Session>, StoreError>;
    /// Ends a session (sign-out): its token stops working at once.
    async fn end_session(&self, token_hash: &str) -> Result<(), StoreError>;

    async fn assign_seat(&self, a: &SeatAssignment) -> Result<AssignOutcome, StoreError>;
    async fn assign_claimed_seat(&self, a: &ClaimedAssignment) -> Result<ClaimedAssignOutcome, StoreError>;
    async fn transfer_seat(&self, t: &SeatTransfer) -> Result<TransferOutcome, StoreError>;
    async fn seat(&self, subscription_id: &str, seat_id: &str) -> Result<Option<Seat>, StoreError>;
    /// Seats in creation order, `limit` at a time, optionally of one status.
    async fn seats_page(
        &self,
        subscription_id: &str,
        status: Option<SeatStatus>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<SeatPage, StoreError>;
    /// Swaps a pending seat's claim token and puts the `invite` job that mails the new link.
    /// `false`: the seat is no longer pending with the token it was read with.
    async fn replace_claim_token(
        &self,
        seat: &Seat,
        new: &ClaimToken,
        invitation: &Job,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn claim_token(&self, token_hash: &str) -> Result<Option<ClaimToken>, StoreError>;
    async fn claim_seat(&self, c: &SeatClaim, now: DateTime<Utc>) -> Result<ClaimOutcome, StoreError>;
    /// `false`: the seat changed since it was read (claimed, revoked, re-sent): read again.
    async fn revoke_seat(&self, r: &SeatRevocation) -> Result<bool, StoreError>;

    /// Puts a grant if the seat is still claimed by its holder and no grant exists for
    /// (seat, benefit); a license key also puts its record (under the key's hash, which no
    /// other key may have).
    async fn put_grant(
        &self,
        g: &Grant,
        license: Option<&LicenseKeyRecord>,
        audit: &AuditEvent,
    ) -> Result<GrantOutcome, StoreError>;
    async fn license_key(&self, key_hash: &str) -> Result<Option<LicenseKeyRecord>, StoreError>;
    /// A grant by its key parts.
    async fn grant(
        &self,
        customer_id: &str,
        seat_id: &str,
        benefit_id: &str,
    ) -> Result<Option<Grant>, StoreError>;
    async fn license_activations(&self, key_hash: &str) -> Result<Vec<LicenseActivation>, StoreError>;
    /// Adds an activation if the key has fewer than its limit. `false`: the limit is reached.
    async fn activate_license(&self, a: &LicenseActivation, limit: Option<u32>) -> Result<bool, StoreError>;
    /// Removes an activation. `false`: there was none with that id.
    async fn deactivate_license(&self, key_hash: &str, activation_id: &str) -> Result<bool, StoreError>;
    async fn grants_of_customer(&self, customer_id: &str) -> Result<Vec<Grant>, StoreError>;
    /// Marks a grant revoked. `false`: it already was, or its seat is claimed by its holder
    /// again (restored after a suspension): a late revoke job leaves it.
    async fn revoke_grant(
        &self,
        g: &Grant,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Removes a done job from the outbox.
    async fn finish_job(&self, job: &Job) -> Result<(), StoreError>;
    /// Whether the job's outbox entry is still there (not finished yet).
    async fn job_pending(&self, job: &Job) -> Result<bool, StoreError>;
    /// The invitation an `invite` job is to mail: `None` when the outbox no longer holds the
    /// job for `token_hash` (done already, or a re-send replaced it); else the link, if it is
    /// still there (claimed and revoked seats' links are gone). One read of both.
    async fn pending_invitation(
        &self,
        job: &Job,
        token_hash: &str,
    ) -> Result<Option<Option<ClaimToken>>, StoreError>;
    /// An invitation was mailed: its `invite` job leaves the outbox and the trail records it,
    /// in one write, if the job is still the one for `token_hash` (a re-send replaces it).
    async fn finish_invitation(
        &self,
        job: &Job,
        token_hash: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;
    /// Outbox entries last sent before `cutoff` (Unix seconds), at most `limit`.
    async fn stale_jobs(&self, cutoff: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Records that an outbox entry was sent again at `now`.
    async fn touch_job(&self, job: &Job, now: i64) -> Result<(), StoreError>;
    /// A job that goes on in steps (a lapse's revoke-all) keeps its progress in its outbox
    /// entry: the entry now holds `job` (its cursor), sent at `now`, with no failed re-sends.
    async fn advance_job(&self, job: &Job, now: i64) -> Result<(), StoreError>;
    /// Moves a given-up entry out of the outbox into the dead-letter records, in one write.
    async fn dead_letter_job(&self, dead: &DeadJob) -> Result<(), StoreError>;
    /// The dead-letter records, oldest first, at most `limit`.
    async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, StoreError>;

    async fn begin_idempotent(
        &self,
        scope: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, StoreError>;
    async fn finish_idempotent(&self, scope: &str, response: &StoredResponse) -> Result<(), StoreError>;
    async fn abandon_idempotent(&self, scope: &str) -> Result<(), StoreError>;
}
