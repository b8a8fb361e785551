//! In-memory fakes of every port, enforcing the same invariants as the real adapters, so the
//! use cases can be tested without AWS.

use crate::error::{PortError, StoreError};
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Default)]
struct State {
    orgs: HashMap<String, Organization>,
    slugs: HashMap<String, String>,
    api_keys: HashMap<String, String>,
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
        let mut guard = self
            .state
            .lock()
            .map_err(|_| StoreError::Internal("poisoned".into()))?;
        Ok(f(&mut guard))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_organization(&self, org: &Organization, key: &str) -> Result<bool, StoreError> {
        self.with(|s| {
            if s.slugs.contains_key(&org.slug) {
                return false;
            }
            s.slugs.insert(org.slug.clone(), org.id.clone());
            s.api_keys.insert(key.to_string(), org.id.clone());
            s.orgs.insert(org.id.clone(), org.clone());
            true
        })
    }
    async fn organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        self.with(|s| s.orgs.get(id).cloned())
    }
    async fn organization_by_slug(&self, slug: &str) -> Result<Option<Organization>, StoreError> {
        self.with(|s| s.slugs.get(slug).and_then(|id| s.orgs.get(id)).cloned())
    }
    async fn organization_of_api_key(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        self.with(|s| s.api_keys.get(key_hash).cloned())
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
            let mut v: Vec<Benefit> = s
                .benefits
                .values()
                .filter(|b| b.organization_id == org)
                .cloned()
                .collect();
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
            let mut v: Vec<Product> = s
                .products
                .values()
                .filter(|p| p.organization_id == org)
                .cloned()
                .collect();
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
        self.with(|s| {
            if s.events_seen.contains(&c.event_id) {
                return Applied::Duplicate;
            }
            let open = s
                .checkouts
                .get(&c.checkout_id)
                .is_some_and(|k| k.status == CheckoutStatus::Open);
            let email_taken = c.new_customer.as_ref().is_some_and(|n| {
                s.customer_emails
                    .contains_key(&(n.organization_id.clone(), n.email.clone()))
            });
            if !open || email_taken {
                return Applied::Stale;
            }
            s.events_seen.insert(c.event_id.clone());
            if let Some(k) = s.checkouts.get_mut(&c.checkout_id) {
                k.status = CheckoutStatus::Completed;
                k.subscription_id = Some(c.subscription.id.clone());
            }
            if let Some(n) = &c.new_customer {
                s.customer_emails
                    .insert((n.organization_id.clone(), n.email.clone()), n.id.clone());
                s.customers.insert(n.id.clone(), n.clone());
            }
            s.provider_links.insert(
                c.subscription.provider_subscription_id.clone(),
                c.subscription.id.clone(),
            );
            s.subscriptions
                .insert(c.subscription.id.clone(), c.subscription.clone());
            s.audit.push(c.audit.clone());
            Applied::Applied
        })
    }
    async fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        self.with(|s| s.customers.get(id).cloned())
    }
    async fn customer_by_email(
        &self,
        org: &str,
        email: &str,
    ) -> Result<Option<Customer>, StoreError> {
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
    async fn subscription_by_provider_id(
        &self,
        pid: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        self.with(|s| {
            s.provider_links
                .get(pid)
                .and_then(|id| s.subscriptions.get(id))
                .cloned()
        })
    }
    async fn subscriptions_of_billing_manager(
        &self,
        cid: &str,
    ) -> Result<Vec<Subscription>, StoreError> {
        self.with(|s| {
            let mut v: Vec<Subscription> = s
                .subscriptions
                .values()
                .filter(|x| x.customer_id == cid)
                .cloned()
                .collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        })
    }
    async fn apply_billing_update(&self, u: &BillingUpdate) -> Result<Applied, StoreError> {
        self.with(|s| {
            if s.events_seen.contains(&u.event_id) {
                return Applied::Duplicate;
            }
            let Some(sub) = s.subscriptions.get_mut(&u.subscription_id) else {
                return Applied::Stale;
            };
            if sub.version != u.expected_version || sub.last_event_at > u.event_created {
                return Applied::Stale;
            }
            sub.status = u.status;
            sub.current_period_start = u.current_period_start;
            sub.current_period_end = u.current_period_end;
            sub.last_event_at = u.event_created;
            sub.version += 1;
            s.events_seen.insert(u.event_id.clone());
            if let Some(a) = &u.audit {
                s.audit.push(a.clone());
            }
            Applied::Applied
        })
    }
    async fn record_event(&self, event_id: &str, _now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(|s| s.events_seen.insert(event_id.to_string()))
    }
    async fn audit_events(&self, sub: &str) -> Result<Vec<AuditEvent>, StoreError> {
        self.with(|s| {
            let mut v: Vec<AuditEvent> = s
                .audit
                .iter()
                .filter(|a| a.subscription_id == sub)
                .cloned()
                .collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
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
            s.sessions
                .insert(session.token_hash.clone(), session.clone());
        })
    }
    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        self.with(|s| s.sessions.get(hash).cloned())
    }
    async fn begin_idempotent(
        &self,
        scope: &str,
        request_hash: &str,
        _now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, StoreError> {
        self.with(|s| match s.idempotency.get(scope) {
            None => {
                s.idempotency
                    .insert(scope.to_string(), (request_hash.to_string(), None));
                IdempotencyStart::Started
            }
            Some((h, _)) if h != request_hash => IdempotencyStart::Mismatch,
            Some((_, Some(r))) => IdempotencyStart::Replay(r.clone()),
            Some((_, None)) => IdempotencyStart::InProgress,
        })
    }
    async fn finish_idempotent(
        &self,
        scope: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
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

/// Keeps every mail it is asked to send.
#[derive(Default)]
pub struct MemoryMailer {
    pub sent: Mutex<Vec<OutgoingEmail>>,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), PortError> {
        self.sent
            .lock()
            .map_err(|_| PortError::Unavailable("mailer", "poisoned".into()))?
            .push(email.clone());
        Ok(())
    }
}

/// A payment gateway that answers locally, as the offline gateway does.
#[derive(Default)]
pub struct MemoryPayments {
    pub sessions: Mutex<Vec<CheckoutSessionRequest>>,
}

#[async_trait]
impl PaymentGateway for MemoryPayments {
    async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError> {
        if let Ok(mut v) = self.sessions.lock() {
            v.push(req.clone());
        }
        Ok(CheckoutSession {
            id: format!("cs_test_{}", req.checkout_id),
            url: format!("https://pay.example/{}", req.checkout_id),
        })
    }
}

/// Presigns nothing: returns recognizable fake URLs.
pub struct MemoryFiles;

#[async_trait]
impl FileStore for MemoryFiles {
    async fn presign_upload(&self, key: &str, _ct: &str, _exp: u64) -> Result<String, PortError> {
        Ok(format!("https://files.example/upload/{key}"))
    }
    async fn presign_download(&self, key: &str, _f: &str, _exp: u64) -> Result<String, PortError> {
        Ok(format!("https://files.example/download/{key}"))
    }
}

/// A clock tests can move.
pub struct FixedClock(pub Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        FixedClock(Mutex::new(t))
    }
    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_else(|_| Utc::now())
    }
}
