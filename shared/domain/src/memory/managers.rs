//! Co-managers and ownership offers in memory, with the table's conditions: at most `max`
//! managers, never the owner, one offer per subscription used once by the one it names.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;

#[async_trait]
impl ManagerStore for MemoryStore {
    async fn add_manager(&self, a: &ManagerAddition) -> Result<ManagerAdded, StoreError> {
        self.with(|s| {
            let m = &a.manager;
            if s.subscriptions.get(&m.subscription_id).is_some_and(|sub| sub.customer_id == m.customer_id) {
                return ManagerAdded::IsOwner;
            }
            let key = (m.subscription_id.clone(), m.customer_id.clone());
            if s.managers.contains_key(&key) {
                return ManagerAdded::AlreadyManager;
            }
            let count = s.managers.keys().filter(|(sub, _)| *sub == m.subscription_id).count() as i64;
            if count >= a.max {
                return ManagerAdded::LimitReached;
            }
            if let Some(c) = &a.new_customer {
                if s.customer_emails.contains_key(&(c.organization_id.clone(), c.email.clone())) {
                    return ManagerAdded::CustomerExists;
                }
                s.customer_emails.insert((c.organization_id.clone(), c.email.clone()), c.id.clone());
                s.customers.insert(c.id.clone(), c.clone());
            }
            s.managers.insert(key, m.clone());
            s.audit.push(a.audit.clone());
            ManagerAdded::Added
        })
    }

    async fn remove_manager(
        &self,
        subscription_id: &str,
        customer_id: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let gone = s.managers.remove(&(subscription_id.to_string(), customer_id.to_string())).is_some();
            if gone {
                s.audit.push(audit.clone());
            }
            gone
        })
    }

    async fn manager(&self, subscription_id: &str, customer_id: &str) -> Result<Option<Manager>, StoreError> {
        self.with(|s| s.managers.get(&(subscription_id.to_string(), customer_id.to_string())).cloned())
    }

    async fn managers(&self, subscription_id: &str) -> Result<Vec<Manager>, StoreError> {
        self.with(|s| s.managers.values().filter(|m| m.subscription_id == subscription_id).cloned().collect())
    }

    async fn managed_by(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        self.with(|s| {
            s.managers
                .values()
                .filter(|m| m.customer_id == customer_id)
                .map(|m| m.subscription_id.clone())
                .collect()
        })
    }

    async fn offer_ownership(
        &self,
        offer: &OwnershipOffer,
        new_customer: Option<&Customer>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            if let Some(c) = new_customer {
                if s.customer_emails.contains_key(&(c.organization_id.clone(), c.email.clone())) {
                    return false;
                }
                s.customer_emails.insert((c.organization_id.clone(), c.email.clone()), c.id.clone());
                s.customers.insert(c.id.clone(), c.clone());
            }
            s.ownership_offers.insert(offer.subscription_id.clone(), offer.clone());
            s.audit.push(audit.clone());
            true
        })
    }

    async fn ownership_offer(&self, subscription_id: &str) -> Result<Option<OwnershipOffer>, StoreError> {
        self.with(|s| s.ownership_offers.get(subscription_id).cloned())
    }

    async fn ownership_offers_for(&self, customer_id: &str) -> Result<Vec<OwnershipOffer>, StoreError> {
        self.with(|s| s.ownership_offers.values().filter(|o| o.customer_id == customer_id).cloned().collect())
    }

    async fn change_owner(&self, c: &OwnershipChange) -> Result<bool, StoreError> {
        self.with(|s| {
            let offer_stands = s.ownership_offers.get(&c.subscription_id).is_some_and(|o| {
                o.customer_id == c.offer.customer_id
                    && o.offered_at == c.offer.offered_at
                    && o.expires_at > c.at
            });
            let owner_as_read =
                s.subscriptions.get(&c.subscription_id).is_some_and(|sub| sub.customer_id == c.from);
            let key = (c.subscription_id.clone(), c.offer.customer_id.clone());
            if !offer_stands || !owner_as_read || s.managers.contains_key(&key) != c.was_manager {
                return false;
            }
            s.ownership_offers.remove(&c.subscription_id);
            s.managers.remove(&key);
            if let Some(sub) = s.subscriptions.get_mut(&c.subscription_id) {
                sub.customer_id = c.offer.customer_id.clone();
                sub.version += 1;
            }
            s.audit.push(c.audit.clone());
            true
        })
    }
}
