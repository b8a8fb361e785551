//! Co-managers and ownership offers in the table. The limit is a counter item beside the
//! subscription (conditioned `< max` in the adding transaction), a manager is never the owner
//! (a condition on the subscription), and an offer is used once, unexpired, by the one it names,
//! in the transaction that hands the subscription over.

use super::*;

fn manager_row(m: &Manager) -> Result<Item, StoreError> {
    Ok(with_gsi(
        row("manager", &keys::manager(&m.subscription_id, &m.customer_id), m)?,
        keys::customer_index(&m.customer_id),
        keys::manages_index_sk(&m.subscription_id),
    ))
}

fn offer_row(o: &OwnershipOffer) -> Result<Item, StoreError> {
    Ok(with_gsi(
        row("ownership_offer", &keys::ownership_offer(&o.subscription_id), o)?,
        keys::customer_index(&o.customer_id),
        keys::offer_index_sk(&o.subscription_id),
    ))
}

impl DynamoStore {
    fn managers_counter_item(
        &self,
        sub: &str,
        by: i64,
        max: Option<i64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, mut values) = match max {
            Some(max) => ("attribute_not_exists(#count) OR #count < :max", vec![(":max", n(max))]),
            None => ("#count >= :by", vec![]),
        };
        values.push((":by", n(by.abs())));
        let expression = if by > 0 {
            "SET #count = if_not_exists(#count, :zero) + :by"
        } else {
            "SET #count = #count - :by"
        };
        if by > 0 {
            values.push((":zero", n(0)));
        }
        self.update(&keys::managers_counter(sub), expression, Some(condition), &[("#count", "count")], values)
    }
}

#[async_trait]
impl ManagerStore for DynamoStore {
    async fn add_manager(&self, a: &ManagerAddition) -> Result<ManagerAdded, StoreError> {
        let m = &a.manager;
        let mut items = vec![
            // 0: never the owner.
            self.check(
                &keys::subscription(&m.subscription_id),
                "customer_id <> :cus",
                &[],
                vec![(":cus", s(&m.customer_id))],
            )?,
            // 1: at most `max`.
            self.managers_counter_item(&m.subscription_id, 1, Some(a.max))?,
            // 2: once.
            self.put_new(manager_row(m)?)?,
            self.audit_item(&a.audit)?,
        ];
        if let Some(c) = &a.new_customer {
            // 4, 5: the new customer and their email guard.
            items.extend(self.new_customer_items(c)?);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => ManagerAdded::Added,
            Txn::ConditionFailed(f) if f.contains(&2) => ManagerAdded::AlreadyManager,
            Txn::ConditionFailed(f) if f.contains(&0) => ManagerAdded::IsOwner,
            Txn::ConditionFailed(f) if f.contains(&5) || f.contains(&4) => ManagerAdded::CustomerExists,
            Txn::ConditionFailed(_) => ManagerAdded::LimitReached,
        })
    }

    async fn remove_manager(
        &self,
        subscription_id: &str,
        customer_id: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let items = vec![
            self.delete(&keys::manager(subscription_id, customer_id), Some("attribute_exists(PK)"), vec![])?,
            self.managers_counter_item(subscription_id, -1, None)?,
            self.audit_item(audit)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn manager(&self, subscription_id: &str, customer_id: &str) -> Result<Option<Manager>, StoreError> {
        self.get_as(&keys::manager(subscription_id, customer_id)).await
    }

    async fn managers(&self, subscription_id: &str) -> Result<Vec<Manager>, StoreError> {
        self.query_partition(&keys::subscription(subscription_id).pk, keys::MANAGER_PREFIX).await
    }

    async fn managed_by(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        let managers: Vec<Manager> =
            self.query_index(&keys::customer_index(customer_id), keys::MANAGES_PREFIX).await?;
        Ok(managers.into_iter().map(|m| m.subscription_id).collect())
    }

    async fn offer_ownership(
        &self,
        offer: &OwnershipOffer,
        new_customer: Option<&Customer>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        // An earlier offer is replaced: one offer stands per subscription.
        let mut items = vec![self.put(offer_row(offer)?, None)?, self.audit_item(audit)?];
        if let Some(c) = new_customer {
            items.extend(self.new_customer_items(c)?);
        }
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn ownership_offer(&self, subscription_id: &str) -> Result<Option<OwnershipOffer>, StoreError> {
        self.get_as(&keys::ownership_offer(subscription_id)).await
    }

    async fn ownership_offers_for(&self, customer_id: &str) -> Result<Vec<OwnershipOffer>, StoreError> {
        self.query_index(&keys::customer_index(customer_id), keys::OFFER_PREFIX).await
    }

    async fn change_owner(&self, c: &OwnershipChange) -> Result<bool, StoreError> {
        let sub = &c.subscription_id;
        let to = &c.offer.customer_id;
        let mut items = vec![
            // The offer, as read, theirs and unexpired, used up.
            self.delete(
                &keys::ownership_offer(sub),
                Some("customer_id = :to AND offered_at = :offered AND expires_at > :now"),
                vec![(":to", s(to)), (":offered", date(c.offer.offered_at)?), (":now", date(c.at)?)],
            )?,
            // The subscription still its old owner's; its index entry moves with it.
            self.update(
                &keys::subscription(sub),
                "SET customer_id = :to, GSI1PK = :gpk, version = version + :one",
                Some("customer_id = :from"),
                &[],
                vec![
                    (":to", s(to)),
                    (":gpk", s(keys::customer_index(to))),
                    (":one", n(1)),
                    (":from", s(&c.from)),
                ],
            )?,
            self.audit_item(&c.audit)?,
        ];
        if c.was_manager {
            items.push(self.delete(&keys::manager(sub, to), Some("attribute_exists(PK)"), vec![])?);
            items.push(self.managers_counter_item(sub, -1, None)?);
        } else {
            items.push(self.check(&keys::manager(sub, to), "attribute_not_exists(PK)", &[], vec![])?);
        }
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }
}
