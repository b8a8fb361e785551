//! In-memory fakes of every port, enforcing the same invariants as the real adapters, so the
//! use cases can be tested without AWS.

use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

mod billing;
mod fakes;
pub mod fixtures;
mod grants;
mod managers;
mod outbox;
mod seats;
mod suspension;
mod team;
mod webhook_fakes;
mod webhooks;

pub use fakes::*;
pub use webhook_fakes::*;

#[derive(Default)]
struct State {
    orgs: HashMap<String, Organization>,
    slugs: HashMap<String, String>,
    api_keys: HashMap<String, ApiKey>,
    benefits: HashMap<String, Benefit>,
    products: HashMap<String, Product>,
    checkouts: HashMap<String, Checkout>,
    customers: HashMap<String, Customer>,
    customer_emails: HashMap<(String, String), String>,
    subscriptions: HashMap<String, Subscription>,
    provider_links: HashMap<String, String>,
    events_seen: HashSet<String>,
    audit: Vec<AuditEvent>,
    sign_in_codes: HashMap<String, SignInCode>,
    sessions: HashMap<String, Session>,
    idempotency: HashMap<String, (String, Option<StoredResponse>)>,
    /// Subscriptions with a change in flight → when it started (the sweeper's list).
    intents: HashMap<String, i64>,
    /// The sweeper's list of cancellations at a period's end: subscription → (its end, the
    /// sweeper's next look).
    cancellations_due: HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
    /// The sweeper's list of unpaid subscriptions: subscription → the end of its grace days.
    dunning_due: HashMap<String, DateTime<Utc>>,
    /// The invoice ledger (a provider that keeps no invoices): subscription → its invoices.
    ledger: HashMap<String, Vec<BillingInvoice>>,
    /// (subscription, seat) → seat, in creation order by id.
    seats: std::collections::BTreeMap<(String, String), Seat>,
    seat_emails: HashMap<(String, String), String>,
    claim_tokens: HashMap<String, ClaimToken>,
    grants: HashMap<(String, String, String), Grant>,
    license_keys: HashMap<String, LicenseKeyRecord>,
    activations: HashMap<(String, String), LicenseActivation>,
    outbox: HashMap<(JobKind, String), OutboxEntry>,
    dead_jobs: Vec<DeadJob>,
    rate_counters: HashMap<String, u32>,
    /// seat → the token hash its `invite` job in the outbox is for.
    invite_hashes: HashMap<String, String>,
    /// (organization, endpoint id) → endpoint.
    webhook_endpoints: std::collections::BTreeMap<(String, String), crate::webhooks::WebhookEndpoint>,
    /// Audit entries whose webhook events were dispatched.
    dispatched: HashSet<String>,
    /// (endpoint, delivery id) → delivery.
    deliveries: std::collections::BTreeMap<(String, String), crate::webhooks::WebhookDelivery>,
    /// (subscription, reservation id) → (seats left to use, made at).
    reservations: HashMap<(String, String), (i64, DateTime<Utc>)>,
    /// (subscription, customer) → co-manager.
    managers: std::collections::BTreeMap<(String, String), Manager>,
    /// subscription → the ownership offer standing.
    ownership_offers: HashMap<String, OwnershipOffer>,
    /// subscription → the reservation of seats just bought, until they are written: no other
    /// change begins meanwhile (a second confirm would buy again).
    grow_holds: HashMap<String, String>,
    /// subscription → its suspension, while its seats wait for a reactivation.
    suspensions: HashMap<String, Suspension>,
}

/// Up to `limit` of `all` (in id order) whose id comes after `after`: a page, as the table's
/// queries from an exclusive start key give it.
fn page_after<T>(all: Vec<T>, id: impl Fn(&T) -> &String, after: Option<&str>, limit: usize) -> Vec<T> {
    all.into_iter().filter(|x| after.is_none_or(|a| id(x).as_str() > a)).take(limit).collect()
}

/// The single table, in memory. One mutex makes each method atomic, like a transaction.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
        let mut guard = self.state.lock().map_err(|_| StoreError::Internal("poisoned".into()))?;
        Ok(f(&mut guard))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_organization(
        &self,
        org: &Organization,
        key: &ApiKey,
        hash: &str,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            if s.slugs.contains_key(&org.slug) {
                return false;
            }
            s.slugs.insert(org.slug.clone(), org.id.clone());
            s.api_keys.insert(hash.to_string(), key.clone());
            s.orgs.insert(org.id.clone(), org.clone());
            true
        })
    }
    async fn organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        self.with(|s| s.orgs.get(id).cloned())
    }
    async fn set_organization_settings(
        &self,
        organization_id: &str,
        grace_days: Option<u32>,
        automatic_tax: Option<bool>,
    ) -> Result<bool, StoreError> {
        self.with(|s| match s.orgs.get_mut(organization_id) {
            Some(org) => {
                if let Some(days) = grace_days {
                    org.grace_days = Some(days);
                }
                if let Some(tax) = automatic_tax {
                    org.automatic_tax = tax;
                }
                true
            }
            None => false,
        })
    }
    async fn set_billing_portal_configuration(
        &self,
        organization_id: &str,
        configuration_id: &str,
    ) -> Result<bool, StoreError> {
        self.with(|s| match s.orgs.get_mut(organization_id) {
            Some(org) if org.billing_portal_configuration_id.is_none() => {
                org.billing_portal_configuration_id = Some(configuration_id.to_string());
                true
            }
            _ => false,
        })
    }
    async fn organization_by_slug(&self, slug: &str) -> Result<Option<Organization>, StoreError> {
        self.with(|s| s.slugs.get(slug).and_then(|id| s.orgs.get(id)).cloned())
    }
    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        self.with(|s| s.api_keys.get(key_hash).cloned())
    }
    async fn adopt_api_key(&self, key_hash: &str, key: &ApiKey) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(k) = s.api_keys.get_mut(key_hash).filter(|k| k.id.is_empty()) {
                *k = key.clone();
            }
        })
    }
    async fn api_keys(&self, org: &str) -> Result<Vec<ApiKey>, StoreError> {
        self.with(|s| {
            let mut v: Vec<ApiKey> = s
                .api_keys
                .values()
                .filter(|k| k.organization_id == org && !k.id.is_empty())
                .cloned()
                .collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        })
    }
    async fn rotate_api_key(&self, key: &ApiKey, hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|s| {
            for k in s.api_keys.values_mut().filter(|k| k.organization_id == key.organization_id) {
                k.expires_at = Some(k.expires_at.map_or(at, |e| e.min(at)));
            }
            s.api_keys.insert(hash.to_string(), key.clone());
        })
    }
    async fn put_benefit(&self, b: &Benefit) -> Result<(), StoreError> {
        self.with(|s| {
            s.benefits.insert(b.id.clone(), b.clone());
        })
    }
    async fn benefit(&self, id: &str) -> Result<Option<Benefit>, StoreError> {
        self.with(|s| s.benefits.get(id).cloned())
    }
    async fn benefits(&self, org: &str) -> Result<Vec<Benefit>, StoreError> {
        self.with(|s| {
            let mut v: Vec<Benefit> =
                s.benefits.values().filter(|b| b.organization_id == org).cloned().collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        })
    }
    async fn put_product(&self, p: &Product) -> Result<(), StoreError> {
        self.with(|s| {
            s.products.insert(p.id.clone(), p.clone());
        })
    }
    async fn product(&self, id: &str) -> Result<Option<Product>, StoreError> {
        self.with(|s| s.products.get(id).cloned())
    }
    async fn products(&self, org: &str) -> Result<Vec<Product>, StoreError> {
        self.with(|s| {
            let mut v: Vec<Product> =
                s.products.values().filter(|p| p.organization_id == org).cloned().collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        })
    }
    async fn put_checkout(&self, c: &Checkout) -> Result<(), StoreError> {
        self.with(|s| {
            s.checkouts.insert(c.id.clone(), c.clone());
        })
    }
    async fn checkout(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        self.with(|s| s.checkouts.get(id).cloned())
    }
    async fn complete_checkout(&self, c: &CheckoutCompletion) -> Result<Applied, StoreError> {
        self.with(|s| s.complete_checkout(c))
    }
    async fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        self.with(|s| s.customers.get(id).cloned())
    }
    async fn customer_by_email(&self, org: &str, email: &str) -> Result<Option<Customer>, StoreError> {
        self.with(|s| {
            s.customer_emails
                .get(&(org.to_string(), email.to_string()))
                .and_then(|id| s.customers.get(id))
                .cloned()
        })
    }
    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.with(|s| s.subscriptions.get(id).cloned())
    }
    async fn subscription_by_provider_id(&self, pid: &str) -> Result<Option<Subscription>, StoreError> {
        self.with(|s| s.provider_links.get(pid).and_then(|id| s.subscriptions.get(id)).cloned())
    }
    async fn subscriptions_of_billing_manager(&self, cid: &str) -> Result<Vec<Subscription>, StoreError> {
        self.with(|s| {
            let mut v: Vec<Subscription> =
                s.subscriptions.values().filter(|x| x.customer_id == cid).cloned().collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        })
    }
    async fn subscriptions_of_organization(&self, org: &str) -> Result<Vec<Subscription>, StoreError> {
        self.with(|s| {
            let mut v: Vec<Subscription> =
                s.subscriptions.values().filter(|x| x.organization_id == org).cloned().collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        })
    }
    async fn apply_billing_update(&self, u: &BillingUpdate) -> Result<Applied, StoreError> {
        self.with(|s| s.apply_billing_update(u))
    }
    async fn record_event(&self, event_id: &str, _now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(|s| s.events_seen.insert(event_id.to_string()))
    }
    async fn begin_change(
        &self,
        read: &Subscription,
        intent: &ChangeIntent,
        cap: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            if s.grow_holds.contains_key(&read.id) {
                return false;
            }
            let Some(sub) = s.subscriptions.get_mut(&read.id) else { return false };
            if sub.version != read.version
                || sub.change_intent.is_some()
                || sub.pending_change.is_some()
                || !sub.status.allows_seat_changes()
                || cap.is_some_and(|c| sub.seats_assigned > c)
            {
                return false;
            }
            sub.change_intent = Some(intent.clone());
            if let Some(c) = cap {
                sub.assign_cap = c;
            }
            s.intents.insert(read.id.clone(), intent.started_at.timestamp());
            true
        })
    }
    async fn settle_change(&self, st: &Settlement) -> Result<bool, StoreError> {
        self.with(|s| s.settle_change(st))
    }
    async fn ledger_invoices(&self, subscription_id: &str) -> Result<Vec<BillingInvoice>, StoreError> {
        self.with(|s| s.ledger.get(subscription_id).cloned().unwrap_or_default())
    }
    async fn cancellations_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.with(|s| {
            let mut due: Vec<(DateTime<Utc>, String, DateTime<Utc>)> = s
                .cancellations_due
                .iter()
                .filter(|(_, (_, look))| *look <= now)
                .map(|(id, (at, look))| (*look, id.clone(), *at))
                .collect();
            due.sort();
            let due: Vec<(String, DateTime<Utc>)> =
                due.into_iter().take(limit).map(|(_, id, at)| (id, at)).collect();
            due
        })
    }
    async fn forget_cancellation_due(
        &self,
        subscription_id: &str,
        cancel_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if s.cancellations_due.get(subscription_id).is_some_and(|x| x.0 == cancel_at) {
                s.cancellations_due.remove(subscription_id);
            }
        })
    }
    async fn dunning_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.with(|s| {
            let mut due: Vec<(DateTime<Utc>, String)> = s
                .dunning_due
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(id, at)| (*at, id.clone()))
                .collect();
            due.sort();
            due.into_iter().take(limit).map(|(at, id)| (id, at)).collect()
        })
    }
    async fn forget_dunning_due(
        &self,
        subscription_id: &str,
        access_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if s.dunning_due.get(subscription_id) == Some(&access_until) {
                s.dunning_due.remove(subscription_id);
            }
        })
    }
    async fn postpone_cancellation_due(
        &self,
        subscription_id: &str,
        cancel_at: DateTime<Utc>,
        next_look: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(x) = s.cancellations_due.get_mut(subscription_id).filter(|x| x.0 == cancel_at) {
                x.1 = next_look;
            }
        })
    }
    async fn stale_intents(&self, cutoff: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.with(|s| {
            let mut ids: Vec<String> =
                s.intents.iter().filter(|(_, t)| **t < cutoff).map(|(id, _)| id.clone()).collect();
            ids.sort();
            ids.truncate(limit);
            ids
        })
    }
    async fn put_audit_event(&self, a: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| s.audit.push(a.clone()))
    }
    async fn audit_events_after(
        &self,
        sub: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(page_after(self.audit_events(sub).await?, |e| &e.id, after, limit))
    }
    async fn subscriptions_of_organization_after(
        &self,
        org: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>, StoreError> {
        Ok(page_after(self.subscriptions_of_organization(org).await?, |s| &s.id, after, limit))
    }
    async fn audit_events(&self, sub: &str) -> Result<Vec<AuditEvent>, StoreError> {
        self.with(|s| {
            let mut v: Vec<AuditEvent> =
                s.audit.iter().filter(|a| a.subscription_id == sub).cloned().collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        })
    }
    async fn count_hit(&self, key: &str, _ends: i64, max: u32) -> Result<bool, StoreError> {
        self.with(|s| {
            let hits = s.rate_counters.entry(key.to_string()).or_default();
            if *hits >= max {
                return false;
            }
            *hits += 1;
            true
        })
    }
    async fn put_sign_in_code(&self, code: &SignInCode) -> Result<(), StoreError> {
        self.with(|s| {
            s.sign_in_codes.insert(code.code_hash.clone(), code.clone());
        })
    }
    async fn take_sign_in_code(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignInCode>, StoreError> {
        self.with(|s| s.sign_in_codes.remove(hash).filter(|c| c.expires_at > now))
    }
    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.with(|s| {
            s.sessions.insert(session.token_hash.clone(), session.clone());
        })
    }
    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        self.with(|s| s.sessions.get(hash).cloned())
    }
    async fn end_session(&self, hash: &str) -> Result<(), StoreError> {
        self.with(|s| {
            s.sessions.remove(hash);
        })
    }
    async fn assign_seat(&self, a: &SeatAssignment) -> Result<AssignOutcome, StoreError> {
        self.with(|s| s.assign_seat(a))
    }
    async fn assign_claimed_seat(&self, a: &ClaimedAssignment) -> Result<ClaimedAssignOutcome, StoreError> {
        self.with(|s| s.assign_claimed_seat(a))
    }
    async fn transfer_seat(&self, t: &SeatTransfer) -> Result<TransferOutcome, StoreError> {
        self.with(|s| s.transfer_seat(t))
    }
    async fn seat(&self, sub: &str, seat: &str) -> Result<Option<Seat>, StoreError> {
        self.with(|s| s.seats.get(&(sub.to_string(), seat.to_string())).cloned())
    }
    async fn seats_page(
        &self,
        sub: &str,
        status: Option<SeatStatus>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<SeatPage, StoreError> {
        self.with(|s| {
            let all: Vec<&Seat> = s
                .seats
                .range((sub.to_string(), String::new())..)
                .take_while(|((x, _), _)| x == sub)
                .map(|(_, v)| v)
                .filter(|v| cursor.is_none_or(|c| v.id.as_str() > c))
                .collect();
            let window: Vec<&Seat> = all.iter().take(limit as usize).copied().collect();
            let next_cursor =
                (all.len() > window.len()).then(|| window.last().map(|v| v.id.clone())).flatten();
            SeatPage {
                seats: window
                    .into_iter()
                    .filter(|v| status.is_none_or(|st| v.status == st))
                    .cloned()
                    .collect(),
                next_cursor,
            }
        })
    }
    async fn replace_claim_token(
        &self,
        seat: &Seat,
        new: &ClaimToken,
        invitation: &Job,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let key = (seat.subscription_id.clone(), seat.id.clone());
            let Some(current) = s.seats.get_mut(&key) else { return false };
            if current.status != SeatStatus::Pending || current.claim_token_hash != seat.claim_token_hash {
                return false;
            }
            if let Some(old) = current.claim_token_hash.take() {
                s.claim_tokens.remove(&old);
            }
            current.claim_token_hash = Some(new.token_hash.clone());
            current.invitation_expires_at = Some(new.expires_at);
            s.claim_tokens.insert(new.token_hash.clone(), new.clone());
            s.audit.push(audit.clone());
            s.put_invitation(invitation, &new.token_hash, audit.created_at.timestamp());
            true
        })
    }
    async fn claim_token(&self, hash: &str) -> Result<Option<ClaimToken>, StoreError> {
        self.with(|s| s.claim_tokens.get(hash).cloned())
    }
    async fn claim_seat(&self, c: &SeatClaim, now: DateTime<Utc>) -> Result<ClaimOutcome, StoreError> {
        self.with(|s| {
            let live = s.claim_tokens.get(&c.token.token_hash).is_some_and(|t| t.expires_at > now);
            let key = (c.token.subscription_id.clone(), c.token.seat_id.clone());
            let seat_ok = s.seats.get(&key).is_some_and(|x| {
                x.status == SeatStatus::Pending
                    && x.claim_token_hash.as_deref() == Some(c.token.token_hash.as_str())
            });
            let sub_ok =
                s.subscriptions.get(&c.token.subscription_id).is_some_and(|x| x.status.allows_seat_changes());
            if !live || !seat_ok || !sub_ok {
                return ClaimOutcome::Gone;
            }
            if let Some(n) = &c.new_customer {
                if let Some(id) = s.customer_emails.get(&(n.organization_id.clone(), n.email.clone())) {
                    return ClaimOutcome::HolderExists(id.clone());
                }
                s.customer_emails.insert((n.organization_id.clone(), n.email.clone()), n.id.clone());
                s.customers.insert(n.id.clone(), n.clone());
            }
            s.claim_tokens.remove(&c.token.token_hash);
            if let Some(seat) = s.seats.get_mut(&key) {
                seat.status = SeatStatus::Claimed;
                seat.customer_id = Some(c.holder.id.clone());
                seat.claimed_at = Some(c.claimed_at);
                seat.claim_token_hash = None;
                seat.invitation_expires_at = None;
            }
            s.put_job(&c.job, now.timestamp());
            s.audit.push(c.audit.clone());
            s.sessions.insert(c.session.token_hash.clone(), c.session.clone());
            ClaimOutcome::Claimed
        })
    }
    async fn revoke_seat(&self, r: &SeatRevocation) -> Result<bool, StoreError> {
        self.with(|s| s.revoke_seat(r))
    }
    async fn put_grant(
        &self,
        g: &Grant,
        license: Option<&LicenseKeyRecord>,
        audit: &AuditEvent,
    ) -> Result<GrantOutcome, StoreError> {
        self.with(|s| s.put_grant(g, license, audit))
    }
    async fn license_key(&self, key_hash: &str) -> Result<Option<LicenseKeyRecord>, StoreError> {
        self.with(|s| s.license_keys.get(key_hash).cloned())
    }
    async fn grant(
        &self,
        customer_id: &str,
        seat_id: &str,
        benefit_id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        self.with(|s| s.grants.get(&(customer_id.into(), seat_id.into(), benefit_id.into())).cloned())
    }
    async fn license_activations(&self, key_hash: &str) -> Result<Vec<LicenseActivation>, StoreError> {
        self.with(|s| s.license_activations(key_hash))
    }
    async fn activate_license(&self, a: &LicenseActivation, limit: Option<u32>) -> Result<bool, StoreError> {
        self.with(|s| s.activate_license(a, limit))
    }
    async fn deactivate_license(&self, key_hash: &str, activation_id: &str) -> Result<bool, StoreError> {
        self.with(|s| s.deactivate_license(key_hash, activation_id))
    }
    async fn grants_of_customer(&self, customer_id: &str) -> Result<Vec<Grant>, StoreError> {
        self.with(|s| {
            let mut v: Vec<Grant> =
                s.grants.values().filter(|g| g.customer_id == customer_id).cloned().collect();
            v.sort_by(|a, b| (&a.seat_id, &a.benefit_id).cmp(&(&b.seat_id, &b.benefit_id)));
            v
        })
    }
    async fn revoke_grant(
        &self,
        g: &Grant,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let held = s.seats.get(&(g.subscription_id.clone(), g.seat_id.clone())).is_some_and(|x| {
                x.status == SeatStatus::Claimed && x.customer_id.as_deref() == Some(g.customer_id.as_str())
            });
            let key = (g.customer_id.clone(), g.seat_id.clone(), g.benefit_id.clone());
            match s.grants.get_mut(&key) {
                Some(x) if x.status != GrantStatus::Revoked && !held => {
                    x.status = GrantStatus::Revoked;
                    x.revoked_at = Some(at);
                    s.audit.push(audit.clone());
                    true
                }
                _ => false,
            }
        })
    }
    async fn finish_job(&self, job: &Job) -> Result<(), StoreError> {
        self.with(|s| {
            s.outbox.remove(&(job.kind, job.seat_id.clone()));
        })
    }
    async fn job_pending(&self, job: &Job) -> Result<bool, StoreError> {
        self.with(|s| s.outbox.contains_key(&(job.kind, job.seat_id.clone())))
    }
    async fn pending_invitation(
        &self,
        job: &Job,
        hash: &str,
    ) -> Result<Option<Option<ClaimToken>>, StoreError> {
        self.with(|s| s.pending_invitation(job, hash))
    }
    async fn finish_invitation(
        &self,
        job: &Job,
        hash: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.with(|s| s.finish_invitation(job, hash, audit))
    }
    async fn stale_jobs(&self, cutoff: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with(|s| s.outbox.values().filter(|e| e.enqueued_at < cutoff).take(limit).cloned().collect())
    }
    async fn advance_job(&self, job: &Job, now: i64) -> Result<(), StoreError> {
        self.with(|s| s.advance_job(job, now))
    }
    async fn dead_letter_job(&self, dead: &DeadJob) -> Result<(), StoreError> {
        self.with(|s| s.dead_letter_job(dead))
    }
    async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, StoreError> {
        self.with(|s| s.dead_jobs.iter().take(limit).cloned().collect())
    }
    async fn touch_job(&self, job: &Job, now: i64) -> Result<(), StoreError> {
        self.with(|s| s.touch_job(job, now))
    }
    async fn begin_idempotent(
        &self,
        scope: &str,
        request_hash: &str,
        _now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, StoreError> {
        self.with(|s| match s.idempotency.get(scope) {
            None => {
                s.idempotency.insert(scope.to_string(), (request_hash.to_string(), None));
                IdempotencyStart::Started
            }
            Some((h, _)) if h != request_hash => IdempotencyStart::Mismatch,
            Some((_, Some(r))) => IdempotencyStart::Replay(r.clone()),
            Some((_, None)) => IdempotencyStart::InProgress,
        })
    }
    async fn finish_idempotent(&self, scope: &str, response: &StoredResponse) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(entry) = s.idempotency.get_mut(scope) {
                entry.1 = Some(response.clone());
            }
        })
    }
    async fn abandon_idempotent(&self, scope: &str) -> Result<(), StoreError> {
        self.with(|s| {
            s.idempotency.remove(scope);
        })
    }
}
