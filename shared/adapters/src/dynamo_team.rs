//! Seats at team scale in the table: invitations expiring (the claim links' sparse expiry list),
//! expired seats invited again, and batches written under one reservation of the counter. The
//! counter's bound is a condition on values read (`seats`, `assign_cap` unchanged and
//! `seats_assigned <= bound - n`), as a DynamoDB condition cannot add.

use super::seats::claim_token_row;
use super::*;
use aws_sdk_dynamodb::types::KeysAndAttributes;

/// Rows per transaction: five items each and the reservation's, well under DynamoDB's 100.
const ROWS_PER_TRANSACTION: usize = 12;

fn reservation_row(r: &SeatReservation) -> Item {
    reservation_item(&r.subscription_id, &r.id, r.seats, r.created_at)
}

/// The reservation an applied growth makes for whoever grew the subscription.
pub(super) fn hold_row(subscription_id: &str, hold: &SeatHold) -> Item {
    let mut item = reservation_item(subscription_id, &hold.reservation_id, hold.seats, hold.created_at);
    // Its release also lifts the subscription's grow hold.
    item.insert("grow".into(), AttributeValue::Bool(true));
    item
}

fn reservation_item(subscription_id: &str, id: &str, seats: i64, created_at: DateTime<Utc>) -> Item {
    let (gpk, gsk) = keys::reservation_index(id, created_at.timestamp());
    marker(
        "seat_reservation",
        &keys::seat_reservation(subscription_id, id),
        &[
            ("reservation_id", s(id)),
            ("subscription_id", s(subscription_id)),
            ("remaining", n(seats)),
            ("created_at", n(created_at.timestamp())),
            (keys::GSI1PK, s(gpk)),
            (keys::GSI1SK, s(gsk)),
        ],
    )
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}
fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

#[async_trait]
impl TeamSeatStore for DynamoStore {
    async fn expired_links(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ClaimToken>, StoreError> {
        let items = self.due_in_lists(keys::invitation_expiry_partition, now.timestamp(), limit).await?;
        items.into_iter().map(parse).collect()
    }

    async fn expire_seat(&self, e: &SeatExpiry) -> Result<bool, StoreError> {
        let seat = &e.seat;
        let Some(hash) = &seat.claim_token_hash else { return Ok(false) };
        let items = vec![
            // 0: still pending with this link, and the link is past its expiry.
            self.update(
                &keys::seat(&seat.subscription_id, &seat.id),
                "SET #status = :expired REMOVE claim_token_hash",
                Some("#status = :pending AND claim_token_hash = :h AND invitation_expires_at <= :now"),
                &[("#status", "status")],
                vec![
                    (":expired", s("expired")),
                    (":pending", s("pending")),
                    (":h", s(hash)),
                    (":now", date(e.at)?),
                ],
            )?,
            // The seat is free again.
            self.update(
                &keys::subscription(&seat.subscription_id),
                "SET seats_assigned = seats_assigned - :one",
                Some("seats_assigned > :zero"),
                &[],
                vec![(":one", n(1)), (":zero", n(0))],
            )?,
            self.delete(&keys::claim_token(hash), None, vec![])?,
            self.audit_item(&e.audit)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn drop_claim_token(&self, token_hash: &str) -> Result<(), StoreError> {
        self.remove(&keys::claim_token(token_hash)).await
    }

    async fn reinvite_seat(&self, r: &SeatReinvitation) -> Result<ReinviteOutcome, StoreError> {
        let seat = &r.seat;
        let items = vec![
            // 0: a free seat, taken.
            self.seat_taken_item(&seat.subscription_id)?,
            // 1: still the expired seat read (its email guard stayed with it).
            self.update(
                &keys::seat(&seat.subscription_id, &seat.id),
                "SET #status = :pending, claim_token_hash = :h, invitation_expires_at = :exp, \
                 reinvitations = if_not_exists(reinvitations, :zero) + :one",
                Some("#status = :expired"),
                &[("#status", "status")],
                vec![
                    (":pending", s("pending")),
                    (":expired", s("expired")),
                    (":h", s(&r.token.token_hash)),
                    (":exp", date(r.token.expires_at)?),
                    (":zero", n(0)),
                    (":one", n(1)),
                ],
            )?,
            self.put_new(claim_token_row(&r.token)?)?,
            self.audit_item(&r.audit)?,
            self.invitation_item(&r.invitation, &r.token.token_hash, r.audit.created_at.timestamp())?,
            // 5: the subscription's invitation limit.
            self.rate_item(&r.limit)?,
        ];
        Ok(match self.transact(items).await? {
            Txn::Committed => ReinviteOutcome::Reinvited,
            Txn::ConditionFailed(f) if f.contains(&1) => ReinviteOutcome::SeatChanged,
            Txn::ConditionFailed(f) if f.contains(&5) => ReinviteOutcome::RateLimited,
            Txn::ConditionFailed(_) => ReinviteOutcome::NoSeats,
        })
    }

    async fn seat_emails_taken(
        &self,
        subscription_id: &str,
        emails: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut taken = std::collections::HashSet::new();
        for chunk in emails.chunks(100) {
            let mut keys: Vec<Item> =
                chunk.iter().map(|e| key_map(&keys::seat_email(subscription_id, e))).collect();
            // BatchGetItem may leave keys unprocessed under load: ask for those again.
            for _ in 0..8 {
                if keys.is_empty() {
                    break;
                }
                let ask = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .projection_expression("SK")
                    .build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ask)
                    .send()
                    .await
                    .map_err(fault)?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    if let Some(email) = string(&item, keys::SK)
                        .and_then(|sk| sk.strip_prefix("SEATEMAIL#").map(str::to_string))
                    {
                        taken.insert(email);
                    }
                }
                keys = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(StoreError::Unavailable("seat emails not read: the table is throttling".into()));
            }
        }
        Ok(taken)
    }

    async fn reserve_seats(&self, r: &SeatReservation) -> Result<ReservationOutcome, StoreError> {
        let room = i64::from(r.limit.max) - r.seats;
        if room < 0 {
            return Ok(ReservationOutcome::RateLimited);
        }
        let items = vec![
            // 0: the counter, by `seats` at once, only under the bound as read.
            self.update(
                &keys::subscription(&r.subscription_id),
                "SET seats_assigned = seats_assigned + :n",
                Some(&format!(
                    "seats = :seats AND assign_cap = :cap AND seats_assigned <= :max AND {TAKES_SEATS}"
                )),
                &[("#status", "status")],
                [
                    vec![
                        (":n", n(r.seats)),
                        (":seats", n(r.seats_read)),
                        (":cap", n(r.assign_cap_read)),
                        (":max", n(r.max_assigned_before)),
                    ],
                    takes_seats_values(),
                ]
                .concat(),
            )?,
            self.put_new(reservation_row(r))?,
            // 2: the batch's invitations on the subscription's limit, all at once.
            self.update(
                &keys::rate_counter(&r.limit.key),
                "SET hits = if_not_exists(hits, :zero) + :n, #ttl = :ttl",
                Some("attribute_not_exists(hits) OR hits <= :room"),
                &[("#ttl", keys::TTL)],
                vec![
                    (":zero", n(0)),
                    (":n", n(r.seats)),
                    (":room", n(room)),
                    (":ttl", n(r.limit.window_ends_at + 60)),
                ],
            )?,
        ];
        Ok(match self.transact(items).await? {
            Txn::Committed => ReservationOutcome::Reserved,
            Txn::ConditionFailed(f) if f.contains(&2) => ReservationOutcome::RateLimited,
            Txn::ConditionFailed(_) => {
                // Only to name the refusal: the write above decided it.
                match self.get_as::<Subscription>(&keys::subscription(&r.subscription_id)).await? {
                    Some(sub) if sub.seats != r.seats_read || sub.assign_cap != r.assign_cap_read => {
                        ReservationOutcome::BoundChanged
                    }
                    _ => ReservationOutcome::NoSeats,
                }
            }
        })
    }

    async fn assign_reserved_seats(
        &self,
        reservation_id: &str,
        subscription_id: &str,
        seats: &[SeatAssignment],
    ) -> Result<Vec<bool>, StoreError> {
        let mut written = vec![false; seats.len()];
        let reservation = keys::seat_reservation(subscription_id, reservation_id);
        for (chunk_no, chunk) in seats.chunks(ROWS_PER_TRANSACTION).enumerate() {
            let mut rows: Vec<usize> = (0..chunk.len()).collect();
            // A row refused (its email taken meanwhile) leaves the group; the rest go again.
            while !rows.is_empty() {
                let mut items = vec![self.update(
                    &reservation,
                    "SET remaining = remaining - :k",
                    Some("remaining >= :k"),
                    &[],
                    vec![(":k", n(rows.len() as i64))],
                )?];
                for &r in &rows {
                    items.extend(self.pending_seat_items(&chunk[r])?);
                }
                match self.transact(items).await? {
                    Txn::Committed => {
                        for &r in &rows {
                            written[chunk_no * ROWS_PER_TRANSACTION + r] = true;
                        }
                        break;
                    }
                    // The reservation is used up or gone: nothing more is written.
                    Txn::ConditionFailed(f) if f.contains(&0) => return Ok(written),
                    Txn::ConditionFailed(f) => {
                        let refused: Vec<usize> =
                            f.iter().map(|i| rows[(i - 1) / Self::PENDING_SEAT_ITEMS]).collect();
                        rows.retain(|r| !refused.contains(r));
                    }
                }
            }
        }
        Ok(written)
    }

    async fn release_reservation(
        &self,
        subscription_id: &str,
        reservation_id: &str,
    ) -> Result<(), StoreError> {
        let key = keys::seat_reservation(subscription_id, reservation_id);
        for _ in 0..5 {
            let Some(item) = self.get(&key).await? else { return Ok(()) };
            let left = number(&item, "remaining").unwrap_or(0);
            let mut items = vec![self.delete(&key, Some("remaining = :left"), vec![(":left", n(left))])?];
            if left > 0 {
                items.push(self.update(
                    &keys::subscription(subscription_id),
                    "SET seats_assigned = seats_assigned - :left",
                    Some("seats_assigned >= :left"),
                    &[],
                    vec![(":left", n(left))],
                )?);
            }
            if item.get("grow").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false) {
                items.push(self.delete(
                    &keys::grow_hold(subscription_id),
                    Some("reservation_id = :rsv"),
                    vec![(":rsv", s(reservation_id))],
                )?);
            }
            if matches!(self.transact(items).await?, Txn::Committed) {
                return Ok(());
            }
            // Used meanwhile (a batch still writing): read what is left again.
        }
        Err(StoreError::Unavailable("seat reservation kept changing".into()))
    }

    async fn stale_reservations(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OpenReservation>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("GSI1PK = :pk AND GSI1SK < :upper")
            .expression_attribute_values(":pk", s(keys::RESERVATIONS))
            .expression_attribute_values(":upper", s(keys::time_bound(cutoff.timestamp())))
            .limit(limit.min(1000) as i32)
            .send()
            .await
            .map_err(fault)?;
        Ok(page
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                Some(OpenReservation {
                    id: string(item, "reservation_id")?,
                    subscription_id: string(item, "subscription_id")?,
                    remaining: number(item, "remaining")?,
                })
            })
            .collect())
    }
}
