//! The billing side of the store: completed checkouts, the provider's events' billing state,
//! and a money change's intent and its settlement. The intent is an attribute of the
//! subscription (the change lock: one change at a time) plus a marker in the sweeper's list; a
//! settlement is one transaction conditioned on that intent's id, so the apply's answer and the
//! provider's webhook can race and exactly one of them writes.

use super::{codec, date, fault, keys, marker, n, s, DynamoStore, Txn, TAKES_SEATS};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use domain::model::*;
use domain::ports::{Applied, BillingUpdate, CheckoutCompletion, SuspensionChange};
use domain::ports::{AssignCap, CancellationWrite, SettleOutcome, Settlement};
use domain::StoreError;

fn value<T: serde::Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(v).map_err(codec)
}

/// An invoice of the ledger; a later write of the same invoice (paid, void) replaces it.
fn ledger_row(subscription_id: &str, i: &BillingInvoice) -> Result<super::Item, StoreError> {
    super::row("ledger_invoice", &keys::ledger_invoice(subscription_id, &i.id), i)
}

/// The sweeper's entry for an unpaid subscription, at the end of its grace days.
fn dunning_due_row(subscription_id: &str, d: &Dunning) -> super::Item {
    let (gpk, gsk) = keys::dunning_due_entry(subscription_id, d.access_until.timestamp());
    marker(
        "dunning_due",
        &keys::dunning_due(subscription_id),
        &[
            ("subscription_id", s(subscription_id)),
            ("access_until", n(d.access_until.timestamp())),
            (keys::GSI1PK, s(gpk)),
            (keys::GSI1SK, s(gsk)),
        ],
    )
}

/// A cancellation's part of the subscription's update expression.
enum CancellationPart {
    Set(String),
    Remove(&'static str),
}

/// The sweeper's entry for a subscription set to end at its period's end, first looked at then.
fn cancellation_due_row(subscription_id: &str, c: &Cancellation) -> super::Item {
    let (gpk, gsk) = keys::cancellation_due_entry(subscription_id, c.cancel_at.timestamp());
    marker(
        "cancellation_due",
        &keys::cancellation_due(subscription_id),
        &[
            ("subscription_id", s(subscription_id)),
            ("cancel_at", n(c.cancel_at.timestamp())),
            (keys::GSI1PK, s(gpk)),
            (keys::GSI1SK, s(gsk)),
        ],
    )
}

impl DynamoStore {
    /// A cancellation set (with its entry in the sweeper's list) or withdrawn (the entry gone),
    /// and when: the update's part and the entry's write.
    fn cancellation_write(
        &self,
        subscription_id: &str,
        w: &CancellationWrite,
        values: &mut Vec<(&'static str, AttributeValue)>,
    ) -> Result<(CancellationPart, aws_sdk_dynamodb::types::TransactWriteItem), StoreError> {
        values.push((":cat", n(w.at)));
        Ok(match &w.cancellation {
            Some(c) => {
                values.push((":cn", value(c)?));
                (
                    CancellationPart::Set("cancellation = :cn, cancellation_changed_at = :cat".into()),
                    self.put(cancellation_due_row(subscription_id, c), None)?,
                )
            }
            None => (
                CancellationPart::Remove("cancellation"),
                self.delete(&keys::cancellation_due(subscription_id), None, vec![])?,
            ),
        })
    }

    /// A paid checkout: its subscription, the link from the provider's id, the billing manager
    /// (when new) and the audit entry, with the event's id — once.
    pub(super) async fn complete_checkout_txn(&self, c: &CheckoutCompletion) -> Result<Applied, StoreError> {
        let sub = &c.subscription;
        // Index 0 is the event marker: its failure alone means "seen before".
        let mut items = vec![
            self.event_marker(&c.event_id, sub.created_at)?,
            self.update(
                &keys::checkout(&c.checkout_id),
                "SET #status = :completed, subscription_id = :sub",
                Some("#status = :open"),
                &[("#status", "status")],
                vec![(":completed", s("completed")), (":open", s("open")), (":sub", s(&sub.id))],
            )?,
            self.put_new(self.subscription_row(sub)?)?,
            self.put_new(marker(
                "provider_subscription",
                &keys::provider_subscription(&sub.provider_subscription_id),
                &[("subscription_id", s(&sub.id))],
            ))?,
            self.audit_item(&c.audit)?,
        ];
        if let Some(cus) = &c.new_customer {
            items.extend(self.new_customer_items(cus)?);
        }
        if let Some(i) = &c.invoice {
            items.push(self.put(ledger_row(&sub.id, i)?, None)?);
        }
        if let Some(r) = &c.restore {
            // The suspended subscription's seats come over: its suspension, still there and
            // not past its end, is used up (the sweeper's end deletes the same record).
            items.extend([
                self.delete(
                    &keys::suspension(&r.from_subscription_id),
                    Some("attribute_exists(PK) AND ends_at > :now"),
                    vec![(":now", n(r.at.timestamp()))],
                )?,
                // Only its owner's purchase (an ownership handed over meanwhile is not).
                self.update(
                    &keys::subscription(&r.from_subscription_id),
                    "SET restored_into = :new REMOVE suspended_until",
                    Some("customer_id = :buyer"),
                    &[],
                    vec![(":new", s(&sub.id)), (":buyer", s(&r.customer_id))],
                )?,
                self.outbox_item(&r.job, r.at.timestamp())?,
            ]);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => Applied::Applied,
            Txn::ConditionFailed(failed) if failed.contains(&0) => Applied::Duplicate,
            Txn::ConditionFailed(_) => Applied::Stale,
        })
    }

    /// A provider event's billing state: applied with the event's id (once), only if the event
    /// is not older than the last applied and the version read still holds.
    pub(super) async fn apply_billing_update_txn(&self, u: &BillingUpdate) -> Result<Applied, StoreError> {
        let status = serde_dynamo::to_attribute_value(u.status).map_err(codec)?;
        let mut expression = String::from(
            "SET #status = :status, current_period_start = :ps, current_period_end = :pe, \
             last_event_at = :t, period_confirmed = :confirmed, version = version + :one",
        );
        let mut names = vec![("#status", "status")];
        let mut values = vec![
            (":status", status),
            (":ps", date(u.current_period_start)?),
            (":pe", date(u.current_period_end)?),
            (":t", n(u.event_created)),
            (":one", n(1)),
            (":v", n(u.expected_version)),
            (":confirmed", AttributeValue::Bool(u.period_confirmed)),
        ];
        if let Some(item) = &u.provider_item_id {
            expression.push_str(", provider_item_id = :item");
            values.push((":item", s(item)));
        }
        let mut removed = Vec::new();
        if let Some(r) = &u.renewal {
            // The scheduled change takes effect with the new period.
            expression
                .push_str(", seats = :seats, assign_cap = :cap, #interval = :interval, unit_amount = :unit");
            removed.push("scheduled_change");
            names.push(("#interval", "interval"));
            values.push((":seats", n(r.seats)));
            values.push((":cap", n(r.assign_cap)));
            values.push((":interval", s(r.interval.as_str())));
            values.push((":unit", n(r.unit_amount)));
        }
        // 2: a lapse's suspension record; a reactivation's delete of it (it must still exist).
        let suspension = match &u.suspension {
            SuspensionChange::None => None,
            SuspensionChange::Begin(x) => {
                expression.push_str(", suspended_until = :until");
                values.push((":until", date(x.until)?));
                Some(self.put(super::suspension::suspension_row(x), None)?)
            }
            SuspensionChange::End => {
                removed.push("suspended_until");
                Some(self.delete(
                    &keys::suspension(&u.subscription_id),
                    Some("attribute_exists(PK)"),
                    vec![],
                )?)
            }
        };
        let withdrawn = match &u.cancellation {
            Some(w) => {
                let (part, item) = self.cancellation_write(&u.subscription_id, w, &mut values)?;
                match part {
                    CancellationPart::Set(p) => expression.push_str(&format!(", {p}")),
                    CancellationPart::Remove(p) => {
                        expression.push_str(", cancellation_changed_at = :cat");
                        removed.push(p);
                    }
                }
                Some(item)
            }
            None => None,
        };
        // A renewal's unpaid invoice: the dunning, and the sweeper's entry at its grace's end.
        let dunning = match &u.dunning {
            Some(Some(d)) => {
                expression.push_str(", dunning = :dunning");
                values.push((":dunning", value(d)?));
                Some(self.put(dunning_due_row(&u.subscription_id, d), None)?)
            }
            Some(None) => {
                removed.push("dunning");
                Some(self.delete(&keys::dunning_due(&u.subscription_id), None, vec![])?)
            }
            None => None,
        };
        if !removed.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
        }
        let mut items = vec![
            self.event_marker(&u.event_id, Utc::now())?,
            self.update(
                &keys::subscription(&u.subscription_id),
                &expression,
                Some(if u.require_no_change {
                    "version = :v AND last_event_at <= :t AND attribute_not_exists(change_intent)"
                } else {
                    "version = :v AND last_event_at <= :t"
                }),
                &names,
                values,
            )?,
        ];
        items.extend(suspension);
        items.extend(withdrawn);
        items.extend(dunning);
        if let Some(job) = &u.notice_job {
            items.push(self.outbox_item(job, u.event_created)?);
        }
        if let Some(i) = &u.invoice {
            items.push(self.put(ledger_row(&u.subscription_id, i)?, None)?);
        }
        if let Some(a) = &u.audit {
            items.push(self.audit_item(a)?);
        }
        if let Some(job) = &u.seats_job {
            items.push(self.outbox_item(job, u.event_created)?);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => Applied::Applied,
            Txn::ConditionFailed(failed) if failed.contains(&0) => Applied::Duplicate,
            Txn::ConditionFailed(_) => Applied::Stale,
        })
    }

    pub(super) async fn begin_change_txn(
        &self,
        read: &Subscription,
        intent: &ChangeIntent,
        cap: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut expression = String::from("SET change_intent = :intent");
        let mut condition = format!(
            "version = :v AND attribute_not_exists(change_intent) AND attribute_not_exists(pending_change) AND {TAKES_SEATS}"
        );
        let mut values = vec![(":intent", value(intent)?), (":v", n(read.version))];
        values.extend(super::takes_seats_values());
        if let Some(c) = cap {
            // A decrease caps assigning from now on, only while it leaves room for the assigned.
            expression.push_str(", assign_cap = :cap");
            condition.push_str(" AND seats_assigned <= :cap");
            values.push((":cap", n(c)));
        }
        let items = vec![
            self.update(
                &keys::subscription(&read.id),
                &expression,
                Some(&condition),
                &[("#status", "status")],
                values,
            )?,
            self.put(
                marker(
                    "change_intent",
                    &keys::change_intent(&read.id),
                    &[
                        ("subscription_id", s(&read.id)),
                        ("change_id", s(&intent.id)),
                        ("started_at", n(intent.started_at.timestamp())),
                    ],
                ),
                None,
            )?,
            // Seats bought by auto-grow and not yet written: they hold the lock a moment longer.
            self.check(&keys::grow_hold(&read.id), "attribute_not_exists(PK)", &[], vec![])?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    pub(super) async fn settle_change_txn(&self, st: &Settlement) -> Result<bool, StoreError> {
        let mut values = vec![(":iid", s(&st.intent_id)), (":one", n(1))];
        // Attribute names as placeholders: none of them can collide with a reserved word.
        let mut names =
            vec![("#ci", "change_intent"), ("#pc", "pending_change"), ("#in", "intent"), ("#id", "id")];
        let mut marker_item = None;
        let mut cancellation_due = None;
        let expression = match &st.outcome {
            SettleOutcome::Applied(t) => {
                // Only the fields the change owns: a renewal written meanwhile stays.
                let mut set = vec!["version = version + :one".to_string()];
                let mut remove = vec!["#ci", "#pc"];
                if let Some(seats) = t.seats {
                    set.push("seats = :seats".into());
                    values.push((":seats", n(seats)));
                }
                if let Some(hold) = &st.reserve {
                    // The seats just added, taken for the one who grew the subscription.
                    set.push("seats_assigned = seats_assigned + :held".into());
                    values.push((":held", n(hold.seats)));
                }
                match (t.assign_cap, t.seats) {
                    (Some(AssignCap::To(cap)), _) | (Some(AssignCap::Seats), Some(cap)) => {
                        set.push("assign_cap = :cap".into());
                        values.push((":cap", n(cap)));
                    }
                    (Some(AssignCap::Seats), None) => set.push("assign_cap = seats".into()),
                    (None, _) => {}
                }
                if let Some(interval) = t.interval {
                    set.push("#interval = :interval".into());
                    names.push(("#interval", "interval"));
                    values.push((":interval", s(interval.as_str())));
                }
                if let Some(unit) = t.unit_amount {
                    set.push("unit_amount = :unit".into());
                    values.push((":unit", n(unit)));
                }
                if let Some((start, end)) = t.period {
                    set.push("current_period_start = :ps, current_period_end = :pe".into());
                    values.push((":ps", date(start)?));
                    values.push((":pe", date(end)?));
                }
                match &t.scheduled_change {
                    Some(Some(sc)) => {
                        set.push("scheduled_change = :sc".into());
                        values.push((":sc", value(sc)?));
                    }
                    Some(None) => remove.push("scheduled_change"),
                    None => {}
                }
                if let Some(w) = &t.cancellation {
                    let (part, item) = self.cancellation_write(&st.subscription_id, w, &mut values)?;
                    match part {
                        CancellationPart::Set(p) => set.push(p),
                        CancellationPart::Remove(p) => {
                            set.push("cancellation_changed_at = :cat".into());
                            remove.push(p);
                        }
                    }
                    cancellation_due = Some(item);
                }
                format!("SET {} REMOVE {}", set.join(", "), remove.join(", "))
            }
            SettleOutcome::PaymentPending(p) => {
                values.push((":pending", value(p)?));
                // The sweeper looks again once the payment's time is up (an expiry event that
                // never comes must not block the subscription).
                marker_item = Some(self.put(
                    marker(
                        "change_intent",
                        &keys::change_intent(&st.subscription_id),
                        &[
                            ("subscription_id", s(&st.subscription_id)),
                            ("change_id", s(&st.intent_id)),
                            ("started_at", n(p.expires_at.timestamp())),
                        ],
                    ),
                    None,
                )?);
                "SET #pc = :pending, version = version + :one REMOVE #ci".to_string()
            }
            SettleOutcome::Dropped => match st.previous_cap {
                Some(cap) => {
                    values.push((":cap", n(cap)));
                    "SET assign_cap = :cap, version = version + :one REMOVE #ci, #pc".to_string()
                }
                None => "SET version = version + :one REMOVE #ci, #pc".to_string(),
            },
        };
        let mut items = vec![
            self.update(
                &keys::subscription(&st.subscription_id),
                &expression,
                Some("#ci.#id = :iid OR #pc.#in.#id = :iid"),
                &names,
                values,
            )?,
            match marker_item {
                Some(put) => put,
                None => self.delete(&keys::change_intent(&st.subscription_id), None, vec![])?,
            },
        ];
        if let Some(a) = &st.audit {
            items.push(self.audit_item(a)?);
        }
        items.extend(cancellation_due);
        if let Some(i) = &st.invoice {
            items.push(self.put(ledger_row(&st.subscription_id, i)?, None)?);
        }
        if let (SettleOutcome::Applied(_), Some(hold)) = (&st.outcome, &st.reserve) {
            items.push(self.put_new(super::team::hold_row(&st.subscription_id, hold))?);
            items.push(self.put_new(marker(
                "grow_hold",
                &keys::grow_hold(&st.subscription_id),
                &[("reservation_id", s(&hold.reservation_id))],
            ))?);
        }
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    pub(super) async fn stale_intents_query(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .filter_expression("started_at < :cutoff")
            .expression_attribute_values(":pk", s(keys::CHANGE_INTENTS))
            .expression_attribute_values(":cutoff", n(cutoff))
            .consistent_read(true)
            .send()
            .await
            .map_err(fault)?;
        Ok(page
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| item.get("subscription_id").and_then(|v| v.as_s().ok()).cloned())
            .take(limit)
            .collect())
    }
    pub(super) async fn cancellations_due_query(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.due_entries(keys::cancellation_due_partition, "cancel_at", now, limit).await
    }
    pub(super) async fn dunning_due_query(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.due_entries(keys::dunning_due_partition, "access_until", now, limit).await
    }

    /// A sweeper list's entries due by `now`: `(subscription, the time the entry is for)`.
    async fn due_entries(
        &self,
        partition: fn(u32) -> String,
        at_attribute: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let items = self.due_in_lists(partition, now.timestamp(), limit).await?;
        items
            .iter()
            .map(|item| {
                let id = item.get("subscription_id").and_then(|v| v.as_s().ok()).cloned();
                let at = item
                    .get(at_attribute)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .and_then(|t| DateTime::from_timestamp(t, 0));
                match (id, at) {
                    (Some(id), Some(at)) => Ok((id, at)),
                    _ => Err(StoreError::Internal(format!(
                        "a due entry without its subscription or {at_attribute}"
                    ))),
                }
            })
            .collect()
    }

    /// Deletes a sweeper list's entry only if it is still the one for `at` (a later one of the
    /// same subscription stays).
    async fn forget_due_entry(
        &self,
        key: &keys::Key,
        at_attribute: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(super::key_map(key)))
            .condition_expression("#at = :at")
            .expression_attribute_names("#at", at_attribute)
            .expression_attribute_values(":at", n(at.timestamp()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(fault(e)),
        }
    }

    /// Only the entry for this end of the grace days.
    pub(super) async fn forget_dunning_due_write(
        &self,
        subscription_id: &str,
        access_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.forget_due_entry(&keys::dunning_due(subscription_id), "access_until", access_until).await
    }

    /// The entry for this end looked at again at `next_look` (its place in the list moves).
    pub(super) async fn postpone_cancellation_due_write(
        &self,
        subscription_id: &str,
        cancel_at: DateTime<Utc>,
        next_look: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_, gsk) = keys::cancellation_due_entry(subscription_id, next_look.timestamp());
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::key_map(&keys::cancellation_due(subscription_id))))
            .update_expression("SET GSI1SK = :look")
            .condition_expression("cancel_at = :at")
            .expression_attribute_values(":look", s(gsk))
            .expression_attribute_values(":at", n(cancel_at.timestamp()))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(fault(e)),
        }
    }

    /// Only the entry for this end: a cancellation asked for again since has its own.
    pub(super) async fn forget_cancellation_due_write(
        &self,
        subscription_id: &str,
        cancel_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.forget_due_entry(&keys::cancellation_due(subscription_id), "cancel_at", cancel_at).await
    }

    pub(super) async fn ledger_invoices_query(
        &self,
        subscription_id: &str,
    ) -> Result<Vec<BillingInvoice>, StoreError> {
        self.query_partition(&keys::subscription(subscription_id).pk, keys::LEDGER_INVOICE_PREFIX).await
    }
}
