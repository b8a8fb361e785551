//! The seats side of the store: assigning, claiming and revoking seats (each one transaction
//! whose conditions are the invariants: no oversell, one live seat per email, a claim token
//! used once), the grants that follow claimed seats, and the outbox of benefit jobs.

use super::*;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

/// A claim link's item: it expires with its TTL, and sits on the sweeper's expiry list (GSI1)
/// until it is used, replaced or expired, each of which deletes it.
pub(super) fn claim_token_row(token: &ClaimToken) -> Result<Item, StoreError> {
    let mut item =
        with_ttl(row("claim_token", &keys::claim_token(&token.token_hash), token)?, token.expires_at);
    let (gpk, gsk) = keys::invitation_expiry(&token.token_hash, token.expires_at.timestamp());
    item.insert(keys::GSI1PK.into(), s(gpk));
    item.insert(keys::GSI1SK.into(), s(gsk));
    Ok(item)
}

/// The condition that a seat still has the link it was read with (or none), and its value.
pub(super) fn link_as_read(seat: &Seat) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    match &seat.claim_token_hash {
        Some(h) => ("claim_token_hash = :h", vec![(":h", s(h))]),
        None => ("attribute_not_exists(claim_token_hash)", vec![]),
    }
}

impl DynamoStore {
    /// The counter moves only while there is room and the subscription takes seats.
    pub(super) fn seat_taken_item(&self, sub: &str) -> Result<TransactWriteItem, StoreError> {
        self.update(
            &keys::subscription(sub),
            "SET seats_assigned = seats_assigned + :one",
            Some(&format!("seats_assigned < assign_cap AND seats_assigned < seats AND {TAKES_SEATS}")),
            &[("#status", "status")],
            [vec![(":one", n(1))], takes_seats_values()].concat(),
        )
    }

    /// A new seat and its guard: one live seat per email.
    fn new_seat_items(&self, seat: &Seat) -> Result<[TransactWriteItem; 2], StoreError> {
        Ok([
            self.put_new(self.seat_row(seat)?)?,
            self.put_new(marker(
                "seat_email",
                &keys::seat_email(&seat.subscription_id, &seat.email),
                &[("seat_id", s(&seat.id))],
            ))?,
        ])
    }

    /// A new pending seat's writes, the counter aside: the seat, (1) its email guard, its link,
    /// the audit event, the invitation in the outbox, (5) the subscription's invitation limit.
    pub(super) fn assignment_items(&self, a: &SeatAssignment) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = self.pending_seat_items(a)?;
        items.push(self.rate_item(&a.limit)?);
        Ok(items)
    }

    /// The [`Self::PENDING_SEAT_ITEMS`] writes of a new pending seat: the seat, (1) its email
    /// guard, its link, the audit event and the invitation in the outbox.
    pub(super) fn pending_seat_items(
        &self,
        a: &SeatAssignment,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let seat = &a.seat;
        let mut items = Vec::from(self.new_seat_items(seat)?);
        items.extend([
            self.put_new(claim_token_row(&a.token)?)?,
            self.audit_item(&a.audit)?,
            // The invitation is mailed from the outbox: committed with the seat, never lost.
            self.invitation_item(&a.invitation, &a.token.token_hash, seat.invited_at.timestamp())?,
        ]);
        Ok(items)
    }
    pub(super) const PENDING_SEAT_ITEMS: usize = 5;
    pub(super) const EMAIL_GUARD: usize = 1;
    const INVITATION_LIMIT: usize = 5;

    pub(super) async fn assign_seat_in_table(&self, a: &SeatAssignment) -> Result<AssignOutcome, StoreError> {
        // 0: the counter.
        let mut items = vec![self.seat_taken_item(&a.seat.subscription_id)?];
        items.extend(self.assignment_items(a)?);
        Ok(match self.transact(items).await? {
            Txn::Committed => AssignOutcome::Assigned,
            Txn::ConditionFailed(f) if f.contains(&(1 + Self::EMAIL_GUARD)) => AssignOutcome::AlreadyAssigned,
            Txn::ConditionFailed(f) if f == [1 + Self::INVITATION_LIMIT] => AssignOutcome::RateLimited,
            Txn::ConditionFailed(_) => AssignOutcome::NoSeats,
        })
    }

    /// A seat assigned and claimed at once: (0) the counter, (1) the claimed seat, (2) its email
    /// guard, the audit event, the grant job, and (5, 6) a new holder and their email guard.
    pub(super) async fn assign_claimed_seat_in_table(
        &self,
        a: &ClaimedAssignment,
    ) -> Result<ClaimedAssignOutcome, StoreError> {
        let mut items = vec![self.seat_taken_item(&a.seat.subscription_id)?];
        items.extend(self.new_seat_items(&a.seat)?);
        items.extend([
            self.audit_item(&a.audit)?,
            self.outbox_item(&a.grant, a.audit.created_at.timestamp())?,
        ]);
        if let Some(cus) = &a.new_customer {
            items.extend(self.new_customer_items(cus)?);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => ClaimedAssignOutcome::Assigned,
            Txn::ConditionFailed(f) if f.contains(&2) => ClaimedAssignOutcome::AlreadyAssigned,
            Txn::ConditionFailed(f) if f.contains(&6) => ClaimedAssignOutcome::HolderExists,
            Txn::ConditionFailed(_) => ClaimedAssignOutcome::NoSeats,
        })
    }

    /// One seat out, one in, one transaction; the counter is only checked (the subscription
    /// still takes seats), never moved.
    pub(super) async fn transfer_seat_in_table(
        &self,
        t: &SeatTransfer,
    ) -> Result<TransferOutcome, StoreError> {
        let mut items = vec![
            // 0: the subscription still takes seat changes.
            self.check(
                &keys::subscription(&t.revocation.seat.subscription_id),
                TAKES_SEATS,
                &[("#status", "status")],
                takes_seats_values(),
            )?,
        ];
        // 1: the old seat as it was read.
        let revocation = self.revocation_items(&t.revocation)?;
        let first_new = 1 + revocation.len();
        items.extend(revocation);
        items.extend(self.assignment_items(&t.assignment)?);
        Ok(match self.transact(items).await? {
            Txn::Committed => TransferOutcome::Transferred,
            Txn::ConditionFailed(f) if f.contains(&0) => TransferOutcome::NotLive,
            Txn::ConditionFailed(f) if f.contains(&1) => TransferOutcome::SeatChanged,
            Txn::ConditionFailed(f) if f.contains(&(first_new + Self::EMAIL_GUARD)) => {
                TransferOutcome::AlreadyAssigned
            }
            Txn::ConditionFailed(f) if f.contains(&(first_new + Self::INVITATION_LIMIT)) => {
                TransferOutcome::RateLimited
            }
            Txn::ConditionFailed(_) => TransferOutcome::SeatChanged,
        })
    }

    pub(super) async fn seat_in_table(&self, sub: &str, seat: &str) -> Result<Option<Seat>, StoreError> {
        self.get_as(&keys::seat(sub, seat)).await
    }

    pub(super) async fn seats_page_in_table(
        &self,
        sub: &str,
        status: Option<SeatStatus>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<SeatPage, StoreError> {
        let pk = keys::subscription(sub).pk;
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(keys::SEAT_PREFIX))
            .consistent_read(true)
            .limit(limit);
        if let Some(st) = status {
            q = q
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(st.as_str()));
        }
        if let Some(c) = cursor {
            q = q.set_exclusive_start_key(Some(key_map(&keys::seat(sub, c))));
        }
        let page = q.send().await.map_err(fault)?;
        let seats =
            page.items.unwrap_or_default().into_iter().map(parse).collect::<Result<Vec<Seat>, _>>()?;
        let next_cursor = page
            .last_evaluated_key
            .and_then(|k| k.get(keys::SK).and_then(|v| v.as_s().ok()).cloned())
            .and_then(|sk| sk.strip_prefix(keys::SEAT_PREFIX).map(str::to_string));
        Ok(SeatPage { seats, next_cursor })
    }

    pub(super) async fn replace_claim_token_in_table(
        &self,
        seat: &Seat,
        new: &ClaimToken,
        invitation: &Job,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let Some(old) = &seat.claim_token_hash else {
            return Ok(false);
        };
        let items = vec![
            self.update(
                &keys::seat(&seat.subscription_id, &seat.id),
                "SET claim_token_hash = :new, invitation_expires_at = :exp",
                Some("#status = :pending AND claim_token_hash = :old"),
                &[("#status", "status")],
                vec![
                    (":new", s(&new.token_hash)),
                    (":exp", date(new.expires_at)?),
                    (":pending", s("pending")),
                    (":old", s(old)),
                ],
            )?,
            self.delete(&keys::claim_token(old), None, vec![])?,
            self.put_new(claim_token_row(new)?)?,
            self.audit_item(audit)?,
            self.invitation_item(invitation, &new.token_hash, audit.created_at.timestamp())?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    pub(super) async fn claim_token_in_table(&self, hash: &str) -> Result<Option<ClaimToken>, StoreError> {
        self.get_as(&keys::claim_token(hash)).await
    }

    pub(super) async fn claim_seat_in_table(
        &self,
        c: &SeatClaim,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StoreError> {
        let t = &c.token;
        let mut items = vec![
            // 0: the token is live and is consumed: it works once.
            self.delete(&keys::claim_token(&t.token_hash), Some("attribute_exists(PK)"), vec![])?,
            // 1: the seat is still pending with this token.
            self.update(
                &keys::seat(&t.subscription_id, &t.seat_id),
                "SET #status = :claimed, customer_id = :holder, claimed_at = :at, GSI1PK = :gpk, GSI1SK = :gsk \
                 REMOVE claim_token_hash, invitation_expires_at",
                Some("#status = :pending AND claim_token_hash = :h AND invitation_expires_at > :now"),
                &[("#status", "status")],
                vec![
                    (":claimed", s("claimed")),
                    (":pending", s("pending")),
                    (":holder", s(&c.holder.id)),
                    (":at", date(c.claimed_at)?),
                    (":gpk", s(keys::customer_index(&c.holder.id))),
                    (":gsk", s(keys::seat_index_sk(&t.seat_id))),
                    (":h", s(&t.token_hash)),
                    (":now", date(now)?),
                ],
            )?,
            // 2: the subscription takes seats.
            self.check(
                &keys::subscription(&t.subscription_id),
                TAKES_SEATS,
                &[("#status", "status")],
                takes_seats_values(),
            )?,
            self.outbox_item(&c.job, now.timestamp())?,
            self.audit_item(&c.audit)?,
            self.put_new(with_ttl(
                row("session", &keys::session(&c.session.token_hash), &c.session)?,
                c.session.expires_at,
            ))?,
        ];
        if let Some(cus) = &c.new_customer {
            items.push(self.put_new(row("customer", &keys::customer(&cus.id), cus)?)?);
            // 7: the person is a customer already: the refusal carries this guard, naming them.
            let guard = marker(
                "customer_email",
                &keys::customer_email(&cus.organization_id, &cus.email),
                &[("customer_id", s(&cus.id))],
            );
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(guard))
                .condition_expression("attribute_not_exists(PK)")
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build();
            items.push(TransactWriteItem::builder().put(build(put)?).build());
        }
        Ok(match self.transact_returning(items).await? {
            Ok(()) => ClaimOutcome::Claimed,
            Err(failed) if failed.iter().all(|(i, _)| *i >= 6) => {
                let known = failed.iter().find_map(|(i, item)| {
                    (*i == 7).then(|| item.as_ref()?.get("customer_id")?.as_s().ok().cloned()).flatten()
                });
                match known {
                    Some(id) => ClaimOutcome::HolderExists(id),
                    // The refusal did not carry the guard: read it.
                    None => {
                        let guard = self
                            .get(&keys::customer_email(&c.holder.organization_id, &c.holder.email))
                            .await?;
                        match guard.and_then(|g| g.get("customer_id")?.as_s().ok().cloned()) {
                            Some(id) => ClaimOutcome::HolderExists(id),
                            None => ClaimOutcome::Gone,
                        }
                    }
                }
            }
            Err(_) => ClaimOutcome::Gone,
        })
    }

    /// A seat's revocation, the counter aside: (0) the seat, if still as it was read, its email
    /// guard, the audit event, its link, and for a claimed seat the revoke job.
    fn revocation_items(&self, r: &SeatRevocation) -> Result<Vec<TransactWriteItem>, StoreError> {
        let seat = &r.seat;
        let (token_condition, mut values) = link_as_read(seat);
        values.push((":revoked", s("revoked")));
        values.push((":was", s(seat.status.as_str())));
        values.push((":at", date(r.revoked_at)?));
        let mut items = vec![
            self.update(
                &keys::seat(&seat.subscription_id, &seat.id),
                "SET #status = :revoked, revoked_at = :at REMOVE claim_token_hash, invitation_expires_at",
                Some(&format!("#status = :was AND {token_condition}")),
                &[("#status", "status")],
                values,
            )?,
            self.delete(
                &keys::seat_email(&seat.subscription_id, &seat.email),
                Some("seat_id = :seat"),
                vec![(":seat", s(&seat.id))],
            )?,
            self.audit_item(&r.audit)?,
        ];
        if let Some(h) = &seat.claim_token_hash {
            items.push(self.delete(&keys::claim_token(h), None, vec![])?);
        }
        if let Some(job) = &r.job {
            items.push(self.outbox_item(job, r.revoked_at.timestamp())?);
        }
        Ok(items)
    }

    pub(super) async fn revoke_seat_in_table(&self, r: &SeatRevocation) -> Result<bool, StoreError> {
        let mut items = self.revocation_items(r)?;
        // An expired seat left the count when it expired (the seat's condition checks it is so).
        if !r.seat.status.holds_a_seat() {
            return Ok(matches!(self.transact(items).await?, Txn::Committed));
        }
        items.push(self.update(
            &keys::subscription(&r.seat.subscription_id),
            "SET seats_assigned = seats_assigned - :one",
            Some("seats_assigned > :zero"),
            &[],
            vec![(":one", n(1)), (":zero", n(0))],
        )?);
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    pub(super) async fn put_grant_in_table(
        &self,
        g: &Grant,
        license: Option<&LicenseKeyRecord>,
        audit: &AuditEvent,
    ) -> Result<GrantOutcome, StoreError> {
        let mut items = vec![
            // 0: only while the seat is still claimed by this holder.
            self.check(
                &keys::seat(&g.subscription_id, &g.seat_id),
                "#status = :claimed AND customer_id = :holder",
                &[("#status", "status")],
                vec![(":claimed", s("claimed")), (":holder", s(&g.customer_id))],
            )?,
            // 1: one grant per (seat, benefit).
            self.put_new(row("grant", &keys::grant(&g.customer_id, &g.seat_id, &g.benefit_id), g)?)?,
            self.audit_item(audit)?,
        ];
        if let Some(r) = license {
            // 3: license keys are unique: the record under the key's hash is new.
            items.push(self.license_record_item(r)?);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => GrantOutcome::Granted,
            Txn::ConditionFailed(f) if f.contains(&0) => GrantOutcome::SeatNotClaimed,
            Txn::ConditionFailed(f) if f.contains(&1) => GrantOutcome::Exists,
            Txn::ConditionFailed(_) => GrantOutcome::KeyTaken,
        })
    }

    pub(super) async fn grants_of_customer_in_table(
        &self,
        customer_id: &str,
    ) -> Result<Vec<Grant>, StoreError> {
        self.query_partition(&keys::customer(customer_id).pk, keys::GRANT_PREFIX).await
    }

    pub(super) async fn revoke_grant_in_table(
        &self,
        g: &Grant,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let items = vec![
            self.update(
                &keys::grant(&g.customer_id, &g.seat_id, &g.benefit_id),
                "SET #status = :revoked, revoked_at = :at",
                Some("attribute_exists(PK) AND #status <> :revoked"),
                &[("#status", "status")],
                vec![(":revoked", s("revoked")), (":at", date(at)?)],
            )?,
            // Never while the seat is claimed by this holder: a revoke job arriving after the
            // seat was restored (a suspension reactivated) finds it held again.
            self.check(
                &keys::seat(&g.subscription_id, &g.seat_id),
                "NOT (#status = :claimed AND customer_id = :holder)",
                &[("#status", "status")],
                vec![(":claimed", s("claimed")), (":holder", s(&g.customer_id))],
            )?,
            self.audit_item(audit)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }
}
