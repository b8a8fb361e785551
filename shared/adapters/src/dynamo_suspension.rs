//! Suspension in the table. The suspension's record (`SUB#{id}` / `SUSPENSION`, on the
//! sweeper's sparse list by its end) is what a seat's suspension requires, and what a
//! reactivation (in place or by a new purchase) and the sweeper's end each delete under the
//! condition that it exists: exactly one of them happens.

use super::seats::{claim_token_row, link_as_read};
use super::*;

pub(super) fn suspension_row(x: &Suspension) -> Item {
    let (gpk, gsk) = keys::suspension_due(&x.subscription_id, x.until.timestamp());
    marker(
        "suspension",
        &keys::suspension(&x.subscription_id),
        &[
            ("subscription_id", s(&x.subscription_id)),
            ("customer_id", s(&x.customer_id)),
            ("product_id", s(&x.product_id)),
            ("lapsed_at", n(x.lapsed_at.timestamp())),
            ("ends_at", n(x.until.timestamp())),
            (keys::GSI1PK, s(gpk)),
            (keys::GSI1SK, s(gsk)),
        ],
    )
}

fn parse_suspension(item: &Item) -> Result<Suspension, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let time = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0))
    };
    match (
        text("subscription_id"),
        text("customer_id"),
        text("product_id"),
        time("lapsed_at"),
        time("ends_at"),
    ) {
        (Some(subscription_id), Some(customer_id), Some(product_id), Some(lapsed_at), Some(until)) => {
            Ok(Suspension { subscription_id, customer_id, product_id, lapsed_at, until })
        }
        _ => Err(StoreError::Internal("a suspension item without its fields".into())),
    }
}

impl DynamoStore {
    /// The restore job's outbox entry: an invitation keeps its link's hash.
    fn restored_job_item(&self, r: &SeatRestore) -> Result<TransactWriteItem, StoreError> {
        let at = r.audit.created_at.timestamp();
        match &r.token {
            Some(t) => self.invitation_item(&r.job, &t.token_hash, at),
            None => self.outbox_item(&r.job, at),
        }
    }

    /// A suspended seat back in place, pending (with its new link) or claimed; the count never
    /// left it: the seat (conditioned still suspended), its link, its audit event, its job.
    fn in_place_items(&self, r: &SeatRestore) -> Result<Vec<TransactWriteItem>, StoreError> {
        let seat = &r.restored;
        let mut set =
            String::from("SET #status = :to, restorations = if_not_exists(restorations, :zero) + :one");
        let mut values = vec![
            (":to", s(seat.status.as_str())),
            (":suspended", s("suspended")),
            (":zero", n(0)),
            (":one", n(1)),
        ];
        if let Some(t) = &r.token {
            set.push_str(", claim_token_hash = :h, invitation_expires_at = :exp");
            values.push((":h", s(&t.token_hash)));
            values.push((":exp", date(t.expires_at)?));
        }
        set.push_str(" REMOVE suspended_at, suspended_from");
        let mut items = vec![self.update(
            &keys::seat(&seat.subscription_id, &seat.id),
            &set,
            Some("#status = :suspended"),
            &[("#status", "status")],
            values,
        )?];
        if let Some(t) = &r.token {
            items.push(self.put_new(claim_token_row(t)?)?);
        }
        items.push(self.audit_item(&r.audit)?);
        items.push(self.restored_job_item(r)?);
        Ok(items)
    }

    /// A live seat as read suspended: (0) the seat, its audit event, its link's delete, its job.
    fn suspension_items(&self, x: &SeatSuspension) -> Result<Vec<TransactWriteItem>, StoreError> {
        let seat = &x.seat;
        let (token_condition, mut values) = link_as_read(seat);
        values.extend([
            (":suspended", s("suspended")),
            (":was", s(seat.status.as_str())),
            (":at", date(x.at)?),
        ]);
        let mut items = vec![
            self.update(
                &keys::seat(&seat.subscription_id, &seat.id),
                "SET #status = :suspended, suspended_at = :at, suspended_from = :was REMOVE claim_token_hash",
                Some(&format!("#status = :was AND {token_condition}")),
                &[("#status", "status")],
                values,
            )?,
            self.audit_item(&x.audit)?,
        ];
        if let Some(h) = &seat.claim_token_hash {
            // The link dies with the lapse; a restore mails a new one.
            items.push(self.delete(&keys::claim_token(h), None, vec![])?);
        }
        if let Some(job) = &x.job {
            items.push(self.outbox_item(job, x.at.timestamp())?);
        }
        Ok(items)
    }

    /// A suspended seat onto the new subscription: it takes one of its free seats (0), the old
    /// seat is revoked (1) and leaves its guard and the old count, the new seat (4) and its
    /// guard (5) are written with its link, the audit event and its job.
    async fn restore_onto(&self, r: &SeatRestore) -> Result<RestoreOutcome, StoreError> {
        let (old, new) = (&r.seat, &r.restored);
        // The old seat as read: suspended, or still live (its link then goes with it).
        let (token_condition, mut values) = link_as_read(old);
        values.extend([
            (":revoked", s("revoked")),
            (":was", s(old.status.as_str())),
            (":at", date(r.audit.created_at)?),
        ]);
        let mut items = vec![
            self.seat_taken_item(&new.subscription_id)?,
            self.update(
                &keys::seat(&old.subscription_id, &old.id),
                "SET #status = :revoked, revoked_at = :at \
                 REMOVE suspended_at, suspended_from, claim_token_hash, invitation_expires_at",
                Some(&format!("#status = :was AND {token_condition}")),
                &[("#status", "status")],
                values,
            )?,
            self.delete(
                &keys::seat_email(&old.subscription_id, &old.email),
                Some("seat_id = :seat"),
                vec![(":seat", s(&old.id))],
            )?,
            self.update(
                &keys::subscription(&old.subscription_id),
                "SET seats_assigned = seats_assigned - :one",
                Some("seats_assigned > :zero"),
                &[],
                vec![(":one", n(1)), (":zero", n(0))],
            )?,
            self.put_new(self.seat_row(new)?)?,
            self.put_new(marker(
                "seat_email",
                &keys::seat_email(&new.subscription_id, &new.email),
                &[("seat_id", s(&new.id))],
            ))?,
        ];
        if let Some(t) = &r.token {
            items.push(self.put_new(claim_token_row(t)?)?);
        }
        items.push(self.audit_item(&r.audit)?);
        items.push(self.restored_job_item(r)?);
        if let Some(h) = &old.claim_token_hash {
            items.push(self.delete(&keys::claim_token(h), None, vec![])?);
        }
        if let Some(job) = &r.old_seat_job {
            items.push(self.outbox_item(job, r.audit.created_at.timestamp())?);
        }
        if let Some(a) = &r.old_audit {
            items.push(self.audit_item(a)?);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => RestoreOutcome::Restored,
            Txn::ConditionFailed(f) if f.contains(&1) => RestoreOutcome::Gone,
            Txn::ConditionFailed(f) if f.contains(&5) => RestoreOutcome::EmailTaken,
            Txn::ConditionFailed(f) if f == [0] => RestoreOutcome::Full,
            // The old seat's guard or count out of step with it: not a state to skip past.
            Txn::ConditionFailed(f) => {
                return Err(StoreError::Internal(format!("moving seat {} failed on items {f:?}", old.id)))
            }
        })
    }
}

#[async_trait]
impl SuspensionStore for DynamoStore {
    async fn suspend_seats(&self, batch: &[SeatSuspension]) -> Result<bool, StoreError> {
        let Some(first) = batch.first() else { return Ok(true) };
        // Only while the subscription is suspended (a reactivation may have come first).
        let mut items = vec![self.check(
            &keys::suspension(&first.seat.subscription_id),
            "attribute_exists(PK)",
            &[],
            vec![],
        )?];
        for x in batch {
            items.extend(self.suspension_items(x)?);
        }
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn restore_in_place(&self, batch: &[SeatRestore]) -> Result<bool, StoreError> {
        let Some(first) = batch.first() else { return Ok(true) };
        let sub = &first.restored.subscription_id;
        // Only while the subscription takes seats and has not lapsed again meanwhile.
        let mut items = vec![
            self.check(&keys::suspension(sub), "attribute_not_exists(PK)", &[], vec![])?,
            self.check(
                &keys::subscription(sub),
                TAKES_SEATS,
                &[("#status", "status")],
                takes_seats_values(),
            )?,
        ];
        for r in batch {
            items.extend(self.in_place_items(r)?);
        }
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn restore_seat(&self, r: &SeatRestore) -> Result<RestoreOutcome, StoreError> {
        if r.restored.id == r.seat.id {
            return Ok(if self.restore_in_place(std::slice::from_ref(r)).await? {
                RestoreOutcome::Restored
            } else {
                RestoreOutcome::Gone
            });
        }
        self.restore_onto(r).await
    }

    async fn reinstate_grant(
        &self,
        g: &Grant,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let items = vec![
            self.check(
                &keys::seat(&g.subscription_id, &g.seat_id),
                "#status = :claimed AND customer_id = :holder",
                &[("#status", "status")],
                vec![(":claimed", s("claimed")), (":holder", s(&g.customer_id))],
            )?,
            self.update(
                &keys::grant(&g.customer_id, &g.seat_id, &g.benefit_id),
                "SET #status = :granted, granted_at = :at, \
                 reinstatements = if_not_exists(reinstatements, :zero) + :one REMOVE revoked_at",
                Some("#status = :revoked"),
                &[("#status", "status")],
                vec![
                    (":granted", s("granted")),
                    (":revoked", s("revoked")),
                    (":at", date(at)?),
                    (":zero", n(0)),
                    (":one", n(1)),
                ],
            )?,
            self.audit_item(audit)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn suspensions_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Suspension>, StoreError> {
        let items = self.due_in_lists(keys::suspension_due_partition, now.timestamp(), limit).await?;
        items.iter().map(parse_suspension).collect()
    }

    async fn end_suspension(
        &self,
        x: &Suspension,
        revoke_all: &Job,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let items = vec![
            // This suspension, not a later one of the same subscription (reactivated and
            // lapsed again since the sweeper listed it).
            self.delete(
                &keys::suspension(&x.subscription_id),
                Some("ends_at = :until"),
                vec![(":until", n(x.until.timestamp()))],
            )?,
            self.update(
                &keys::subscription(&x.subscription_id),
                "REMOVE suspended_until",
                None,
                &[],
                vec![],
            )?,
            self.outbox_item(revoke_all, audit.created_at.timestamp())?,
            self.audit_item(audit)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }
}
