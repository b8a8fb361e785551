//! The single-table DynamoDB store. Every invariant is a condition expression or a
//! `TransactWriteItems`; no method reads in order to decide a write.

use crate::keys::{self, Key};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use domain::model::*;
use domain::ports::*;
use domain::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;

#[path = "dynamo_changes.rs"]
mod changes;

pub type Item = HashMap<String, AttributeValue>;

/// Provider events are remembered a little longer than Stripe retries them (3 days).
const EVENT_MEMORY_DAYS: i64 = 35;
/// Idempotency keys are honoured for 24 h, as at Stripe.
const IDEMPOTENCY_HOURS: i64 = 24;
/// An idempotent request that has been "in progress" this long died; a retry may take over.
const IDEMPOTENCY_STALE_S: i64 = 60;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Maps an SDK failure: throttling, timeouts and 5xx are retryable `Unavailable`; the rest is
/// a bug and stays `Internal` (logged, never shown).
pub fn fault<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e));
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(detail)
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            let retryable = matches!(
                code,
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "LimitExceededException"
            );
            if retryable {
                StoreError::Unavailable(detail)
            } else {
                StoreError::Internal(detail)
            }
        }
        _ => StoreError::Internal(detail),
    }
}

/// The statuses in which a subscription takes seats (`SubscriptionStatus::allows_seat_changes`),
/// as a condition on `#status` and its values.
const TAKES_SEATS: &str = "#status IN (:active, :past_due, :trialing)";

fn takes_seats_values() -> Vec<(&'static str, AttributeValue)> {
    vec![(":active", s("active")), (":past_due", s("past_due")), (":trialing", s("trialing"))]
}

fn codec(e: serde_dynamo::Error) -> StoreError {
    StoreError::Internal(format!("item codec: {e}"))
}

fn build<T>(r: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Internal(format!("request build: {e}")))
}

/// An item: an entity's fields plus its keys.
pub fn row<T: Serialize>(entity: &str, key: &Key, value: &T) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(codec)?;
    item.insert(keys::PK.into(), s(&key.pk));
    item.insert(keys::SK.into(), s(&key.sk));
    item.insert(keys::ENTITY.into(), s(entity));
    Ok(item)
}

/// A bare item with only keys and a few attributes (guards, links, markers).
pub fn marker(entity: &str, key: &Key, attrs: &[(&str, AttributeValue)]) -> Item {
    let mut item: Item = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    item.insert(keys::PK.into(), s(&key.pk));
    item.insert(keys::SK.into(), s(&key.sk));
    item.insert(keys::ENTITY.into(), s(entity));
    item
}

fn with_gsi(mut item: Item, pk: String, sk: String) -> Item {
    item.insert(keys::GSI1PK.into(), s(pk));
    item.insert(keys::GSI1SK.into(), s(sk));
    item
}

fn with_ttl(mut item: Item, at: DateTime<Utc>) -> Item {
    item.insert(keys::TTL.into(), n(at.timestamp()));
    item
}

fn key_map(key: &Key) -> Item {
    HashMap::from([(keys::PK.to_string(), s(&key.pk)), (keys::SK.to_string(), s(&key.sk))])
}

fn date(t: DateTime<Utc>) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(t).map_err(codec)
}

fn parse<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(codec)
}

/// The reason codes of a cancelled transaction, one per item (`None` for items that passed).
fn cancellation_codes(
    e: &SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Option<Vec<String>> {
    match e {
        SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(c) => Some(
                c.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// The outcome of a transaction: committed, or which items' conditions failed.
enum Txn {
    Committed,
    /// Indices of the items whose condition failed.
    ConditionFailed(Vec<usize>),
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .set_condition_expression(condition.map(str::to_string))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub fn put_new(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        self.put(item, Some("attribute_not_exists(PK)"))
    }

    pub fn update(
        &self,
        key: &Key,
        expression: &str,
        condition: Option<&str>,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string));
        for (k, v) in names {
            b = b.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder().update(build(b.build())?).build())
    }

    pub fn delete(
        &self,
        key: &Key,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut b = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .set_condition_expression(condition.map(str::to_string));
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder().delete(build(b.build())?).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Txn, StoreError> {
        // A TransactionConflict (another transaction on the same items) is retried a few times
        // before the caller is told the store is busy.
        for attempt in 0..4 {
            match self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
                Ok(_) => return Ok(Txn::Committed),
                Err(e) => match cancellation_codes(&e) {
                    Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                        return Ok(Txn::ConditionFailed(
                            codes
                                .iter()
                                .enumerate()
                                .filter(|(_, c)| *c == "ConditionalCheckFailed")
                                .map(|(i, _)| i)
                                .collect(),
                        ))
                    }
                    Some(codes) if codes.iter().any(|c| c == "TransactionConflict") && attempt < 3 => {
                        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                        continue;
                    }
                    _ => return Err(fault(e)),
                },
            }
        }
        Err(StoreError::Unavailable("transaction conflicts persisted".into()))
    }

    /// Puts a new item; an existing key is a bug (ids are fresh), not a client error.
    async fn insert(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(fault)?;
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(fault)?;
        Ok(out.item)
    }

    async fn get_as<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.get(key).await?.map(parse).transpose()
    }

    /// Every item of a GSI1 partition whose sort key starts with `prefix`.
    async fn query_index<T: DeserializeOwned>(
        &self,
        partition: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(Some(keys::GSI1), "GSI1PK = :pk AND begins_with(GSI1SK, :prefix)", partition, prefix)
            .await
    }

    /// Every item of a table partition whose sort key starts with `prefix`, in order.
    async fn query_partition<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(None, "PK = :pk AND begins_with(SK, :prefix)", pk, prefix).await
    }

    /// All pages of a query (GSI reads cannot be consistent; table reads are).
    async fn query_all<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        key_condition: &str,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(key_condition)
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(index.is_none())
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(fault)?;
            for item in page.items.unwrap_or_default() {
                out.push(parse(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    pub fn check(
        &self,
        key: &Key,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut b = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .condition_expression(condition);
        for (k, v) in names {
            b = b.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder().condition_check(build(b.build())?).build())
    }

    fn outbox_item(&self, job: &Job, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut item = row("outbox", &keys::outbox(job.kind.as_str(), &job.seat_id), job)?;
        item.insert("attempts".into(), n(0));
        item.insert("enqueued_at".into(), n(now));
        self.put(item, None)
    }

    fn seat_row(&self, seat: &Seat) -> Result<Item, StoreError> {
        let item = row("seat", &keys::seat(&seat.subscription_id, &seat.id), seat)?;
        Ok(match &seat.customer_id {
            Some(holder) => with_gsi(item, keys::customer_index(holder), keys::seat_index_sk(&seat.id)),
            None => item,
        })
    }

    /// A new customer and its one-per-email guard (the guard's condition makes a concurrent
    /// creation of the same person fail the whole transaction).
    fn new_customer_items(&self, cus: &Customer) -> Result<[TransactWriteItem; 2], StoreError> {
        Ok([
            self.put_new(row("customer", &keys::customer(&cus.id), cus)?)?,
            self.put_new(marker(
                "customer_email",
                &keys::customer_email(&cus.organization_id, &cus.email),
                &[("customer_id", s(&cus.id))],
            ))?,
        ])
    }

    fn event_marker(&self, event_id: &str, now: DateTime<Utc>) -> Result<TransactWriteItem, StoreError> {
        let item = with_ttl(
            marker("stripe_event", &keys::stripe_event(event_id), &[("received_at", date(now)?)]),
            now + Duration::days(EVENT_MEMORY_DAYS),
        );
        self.put_new(item)
    }

    fn audit_item(&self, a: &AuditEvent) -> Result<TransactWriteItem, StoreError> {
        self.put_new(row("audit_event", &keys::audit_event(&a.subscription_id, &a.id), a)?)
    }

    fn subscription_row(&self, sub: &Subscription) -> Result<Item, StoreError> {
        let mut item = with_gsi(
            row("subscription", &keys::subscription(&sub.id), sub)?,
            keys::customer_index(&sub.customer_id),
            keys::subscription_index_sk(&sub.id),
        );
        item.insert(keys::GSI2PK.into(), s(keys::organization_index(&sub.organization_id)));
        item.insert(keys::GSI2SK.into(), s(keys::subscription_index_sk(&sub.id)));
        Ok(item)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_organization(&self, org: &Organization, api_key_hash: &str) -> Result<bool, StoreError> {
        let items = vec![
            self.put_new(row("organization", &keys::organization(&org.id), org)?)?,
            self.put_new(marker(
                "organization_slug",
                &keys::organization_slug(&org.slug),
                &[("organization_id", s(&org.id))],
            ))?,
            self.put_new(marker(
                "api_key",
                &keys::api_key(api_key_hash),
                &[("organization_id", s(&org.id)), ("created_at", date(org.created_at)?)],
            ))?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        self.get_as(&keys::organization(id)).await
    }

    async fn organization_by_slug(&self, slug: &str) -> Result<Option<Organization>, StoreError> {
        let Some(guard) = self.get(&keys::organization_slug(slug)).await? else {
            return Ok(None);
        };
        match guard.get("organization_id") {
            Some(AttributeValue::S(id)) => self.organization(id).await,
            _ => Ok(None),
        }
    }

    async fn organization_of_api_key(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(&keys::api_key(key_hash)).await?.and_then(|i| match i.get("organization_id") {
            Some(AttributeValue::S(id)) => Some(id.clone()),
            _ => None,
        }))
    }

    async fn put_benefit(&self, b: &Benefit) -> Result<(), StoreError> {
        let item = with_gsi(
            row("benefit", &keys::benefit(&b.id), b)?,
            keys::organization_index(&b.organization_id),
            format!("{}{}", keys::BENEFIT_PREFIX, b.id),
        );
        self.insert(item).await
    }

    async fn benefit(&self, id: &str) -> Result<Option<Benefit>, StoreError> {
        self.get_as(&keys::benefit(id)).await
    }

    async fn benefits(&self, org: &str) -> Result<Vec<Benefit>, StoreError> {
        self.query_index(&keys::organization_index(org), keys::BENEFIT_PREFIX).await
    }

    async fn put_product(&self, p: &Product) -> Result<(), StoreError> {
        let item = with_gsi(
            row("product", &keys::product(&p.id), p)?,
            keys::organization_index(&p.organization_id),
            format!("{}{}", keys::PRODUCT_PREFIX, p.id),
        );
        self.insert(item).await
    }

    async fn product(&self, id: &str) -> Result<Option<Product>, StoreError> {
        self.get_as(&keys::product(id)).await
    }

    async fn products(&self, org: &str) -> Result<Vec<Product>, StoreError> {
        self.query_index(&keys::organization_index(org), keys::PRODUCT_PREFIX).await
    }

    async fn put_checkout(&self, c: &Checkout) -> Result<(), StoreError> {
        self.insert(row("checkout", &keys::checkout(&c.id), c)?).await
    }

    async fn checkout(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        self.get_as(&keys::checkout(id)).await
    }

    async fn complete_checkout(&self, c: &CheckoutCompletion) -> Result<Applied, StoreError> {
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
        Ok(match self.transact(items).await? {
            Txn::Committed => Applied::Applied,
            Txn::ConditionFailed(failed) if failed.contains(&0) => Applied::Duplicate,
            Txn::ConditionFailed(_) => Applied::Stale,
        })
    }

    async fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        self.get_as(&keys::customer(id)).await
    }

    async fn customer_by_email(&self, org: &str, email: &str) -> Result<Option<Customer>, StoreError> {
        let Some(guard) = self.get(&keys::customer_email(org, email)).await? else {
            return Ok(None);
        };
        match guard.get("customer_id") {
            Some(AttributeValue::S(id)) => self.customer(id).await,
            _ => Ok(None),
        }
    }

    async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.get_as(&keys::subscription(id)).await
    }

    async fn subscription_by_provider_id(&self, pid: &str) -> Result<Option<Subscription>, StoreError> {
        let Some(link) = self.get(&keys::provider_subscription(pid)).await? else {
            return Ok(None);
        };
        match link.get("subscription_id") {
            Some(AttributeValue::S(id)) => self.subscription(id).await,
            _ => Ok(None),
        }
    }

    async fn subscriptions_of_billing_manager(&self, cid: &str) -> Result<Vec<Subscription>, StoreError> {
        self.query_index(&keys::customer_index(cid), keys::SUBSCRIPTION_PREFIX).await
    }

    async fn subscriptions_of_organization(&self, org: &str) -> Result<Vec<Subscription>, StoreError> {
        self.query_all(
            Some(keys::GSI2),
            "GSI2PK = :pk AND begins_with(GSI2SK, :prefix)",
            &keys::organization_index(org),
            keys::SUBSCRIPTION_PREFIX,
        )
        .await
    }

    async fn apply_billing_update(&self, u: &BillingUpdate) -> Result<Applied, StoreError> {
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
        if let Some(r) = &u.renewal {
            // The scheduled change takes effect with the new period.
            expression.push_str(", seats = :seats, assign_cap = :cap, #interval = :interval, unit_amount = :unit REMOVE scheduled_change");
            names.push(("#interval", "interval"));
            values.push((":seats", n(r.seats)));
            values.push((":cap", n(r.assign_cap)));
            values.push((":interval", s(r.interval.as_str())));
            values.push((":unit", n(r.unit_amount)));
        }
        let mut items = vec![
            self.event_marker(&u.event_id, Utc::now())?,
            self.update(
                &keys::subscription(&u.subscription_id),
                &expression,
                Some("version = :v AND last_event_at <= :t"),
                &names,
                values,
            )?,
        ];
        if let Some(a) = &u.audit {
            items.push(self.audit_item(a)?);
        }
        if let Some(job) = &u.revoke_all {
            items.push(self.outbox_item(job, u.event_created)?);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => Applied::Applied,
            Txn::ConditionFailed(failed) if failed.contains(&0) => Applied::Duplicate,
            Txn::ConditionFailed(_) => Applied::Stale,
        })
    }

    async fn begin_change(
        &self,
        read: &Subscription,
        intent: &ChangeIntent,
        cap: Option<i64>,
    ) -> Result<bool, StoreError> {
        self.begin_change_txn(read, intent, cap).await
    }

    async fn settle_change(&self, st: &Settlement) -> Result<bool, StoreError> {
        self.settle_change_txn(st).await
    }

    async fn stale_intents(&self, cutoff: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        self.stale_intents_query(cutoff, limit).await
    }

    async fn record_event(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let item = self.event_marker(event_id, now)?;
        Ok(matches!(self.transact(vec![item]).await?, Txn::Committed))
    }

    async fn put_audit_event(&self, a: &AuditEvent) -> Result<(), StoreError> {
        self.insert(row("audit_event", &keys::audit_event(&a.subscription_id, &a.id), a)?).await
    }

    async fn assign_seat(&self, a: &SeatAssignment) -> Result<AssignOutcome, StoreError> {
        let seat = &a.seat;
        let items = vec![
            // 0: the counter moves only while there is room and the subscription takes seats.
            self.update(
                &keys::subscription(&seat.subscription_id),
                "SET seats_assigned = seats_assigned + :one",
                Some(&format!("seats_assigned < assign_cap AND seats_assigned < seats AND {TAKES_SEATS}")),
                &[("#status", "status")],
                [vec![(":one", n(1))], takes_seats_values()].concat(),
            )?,
            self.put_new(self.seat_row(seat)?)?,
            // 2: one live seat per email.
            self.put_new(marker(
                "seat_email",
                &keys::seat_email(&seat.subscription_id, &seat.email),
                &[("seat_id", s(&seat.id))],
            ))?,
            self.put_new(with_ttl(
                row("claim_token", &keys::claim_token(&a.token.token_hash), &a.token)?,
                a.token.expires_at,
            ))?,
            self.audit_item(&a.audit)?,
        ];
        Ok(match self.transact(items).await? {
            Txn::Committed => AssignOutcome::Assigned,
            Txn::ConditionFailed(f) if f.contains(&2) => AssignOutcome::AlreadyAssigned,
            Txn::ConditionFailed(_) => AssignOutcome::NoSeats,
        })
    }

    async fn seat(&self, sub: &str, seat: &str) -> Result<Option<Seat>, StoreError> {
        self.get_as(&keys::seat(sub, seat)).await
    }

    async fn seats_page(
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

    async fn replace_claim_token(
        &self,
        seat: &Seat,
        new: &ClaimToken,
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
            self.put_new(with_ttl(
                row("claim_token", &keys::claim_token(&new.token_hash), new)?,
                new.expires_at,
            ))?,
            self.audit_item(audit)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn claim_token(&self, hash: &str) -> Result<Option<ClaimToken>, StoreError> {
        self.get_as(&keys::claim_token(hash)).await
    }

    async fn claim_seat(&self, c: &SeatClaim, now: DateTime<Utc>) -> Result<ClaimOutcome, StoreError> {
        let t = &c.token;
        let mut items = vec![
            // 0: the token is live and is consumed: it works once.
            self.delete(&keys::claim_token(&t.token_hash), Some("attribute_exists(PK)"), vec![])?,
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
            self.check(
                &keys::subscription(&t.subscription_id),
                TAKES_SEATS,
                &[("#status", "status")],
                takes_seats_values(),
            )?,
            self.outbox_item(&c.job, now.timestamp())?,
            self.audit_item(&c.audit)?,
        ];
        if let Some(cus) = &c.new_customer {
            items.extend(self.new_customer_items(cus)?);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => ClaimOutcome::Claimed,
            Txn::ConditionFailed(f) if f.iter().all(|i| *i >= 5) => ClaimOutcome::CustomerRace,
            Txn::ConditionFailed(_) => ClaimOutcome::Gone,
        })
    }

    async fn revoke_seat(&self, r: &SeatRevocation) -> Result<bool, StoreError> {
        let seat = &r.seat;
        let (token_condition, mut values) = match &seat.claim_token_hash {
            Some(h) => ("claim_token_hash = :h", vec![(":h", s(h))]),
            None => ("attribute_not_exists(claim_token_hash)", vec![]),
        };
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
            self.update(
                &keys::subscription(&seat.subscription_id),
                "SET seats_assigned = seats_assigned - :one",
                Some("seats_assigned > :zero"),
                &[],
                vec![(":one", n(1)), (":zero", n(0))],
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
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn put_grant(&self, g: &Grant, audit: &AuditEvent) -> Result<GrantOutcome, StoreError> {
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
        if let Some(k) = &g.license_key {
            // 3: license keys are unique.
            items.push(self.put_new(marker(
                "license_key",
                &keys::license_key(k),
                &[("grant_id", s(&g.id))],
            ))?);
        }
        Ok(match self.transact(items).await? {
            Txn::Committed => GrantOutcome::Granted,
            Txn::ConditionFailed(f) if f.contains(&0) => GrantOutcome::SeatNotClaimed,
            Txn::ConditionFailed(f) if f.contains(&1) => GrantOutcome::Exists,
            Txn::ConditionFailed(_) => GrantOutcome::KeyTaken,
        })
    }

    async fn grants_of_customer(&self, customer_id: &str) -> Result<Vec<Grant>, StoreError> {
        self.query_partition(&keys::customer(customer_id).pk, keys::GRANT_PREFIX).await
    }

    async fn revoke_grant(
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
            self.audit_item(audit)?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn finish_job(&self, job: &Job) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::outbox(job.kind.as_str(), &job.seat_id))))
            .send()
            .await
            .map_err(fault)?;
        Ok(())
    }

    async fn stale_jobs(&self, cutoff: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..keys::OUTBOX_SHARDS {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .filter_expression("enqueued_at < :cutoff")
                .expression_attribute_values(":pk", s(keys::outbox_partition(shard)))
                .expression_attribute_values(":cutoff", n(cutoff))
                .consistent_read(true)
                .send()
                .await
                .map_err(fault)?;
            for item in page.items.unwrap_or_default() {
                let num = |k: &str| {
                    item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
                };
                let (attempts, enqueued_at) = (num("attempts"), num("enqueued_at"));
                out.push(OutboxEntry { job: parse(item)?, attempts, enqueued_at });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    async fn touch_job(&self, job: &Job, now: i64) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::outbox(job.kind.as_str(), &job.seat_id))))
            .update_expression("SET enqueued_at = :now ADD attempts :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // Done meanwhile: nothing to touch.
            Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(fault(e)),
        }
    }

    async fn audit_events(&self, sub: &str) -> Result<Vec<AuditEvent>, StoreError> {
        self.query_partition(&keys::subscription(sub).pk, keys::AUDIT_PREFIX).await
    }

    async fn put_sign_in_code(&self, code: &SignInCode) -> Result<(), StoreError> {
        let item =
            with_ttl(row("sign_in_code", &keys::sign_in_code(&code.code_hash), code)?, code.expires_at);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(fault)?;
        Ok(())
    }

    async fn take_sign_in_code(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignInCode>, StoreError> {
        // Delete-if-unexpired, returning the old item: a code can be redeemed exactly once.
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::sign_in_code(hash))))
            .condition_expression("attribute_exists(PK) AND #ttl > :now")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match out {
            Ok(o) => o.attributes.map(parse).transpose(),
            Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {
                Ok(None)
            }
            Err(e) => Err(fault(e)),
        }
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let item =
            with_ttl(row("session", &keys::session(&session.token_hash), session)?, session.expires_at);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(fault)?;
        Ok(())
    }

    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        self.get_as(&keys::session(hash)).await
    }

    async fn begin_idempotent(
        &self,
        scope: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, StoreError> {
        let key = keys::idempotency(scope);
        let item = with_ttl(
            marker(
                "idempotency",
                &key,
                &[
                    ("request_hash", s(request_hash)),
                    ("state", s("started")),
                    ("started_at", n(now.timestamp())),
                ],
            ),
            now + Duration::hours(IDEMPOTENCY_HOURS),
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // New, expired, or abandoned by a request that died while holding it.
            .condition_expression(
                "attribute_not_exists(PK) OR #ttl < :now OR (#state = :started AND started_at < :stale)",
            )
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":started", s("started"))
            .expression_attribute_values(":stale", n(now.timestamp() - IDEMPOTENCY_STALE_S))
            .send()
            .await;
        match put {
            Ok(_) => Ok(IdempotencyStart::Started),
            Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {
                let Some(existing) = self.get(&key).await? else {
                    return Ok(IdempotencyStart::InProgress);
                };
                let text = |k: &str| match existing.get(k) {
                    Some(AttributeValue::S(v)) => Some(v.clone()),
                    _ => None,
                };
                if text("request_hash").as_deref() != Some(request_hash) {
                    return Ok(IdempotencyStart::Mismatch);
                }
                match (existing.get("response_status"), text("response_body")) {
                    (Some(AttributeValue::N(st)), Some(body)) => {
                        Ok(IdempotencyStart::Replay(StoredResponse {
                            status: st.parse().unwrap_or(200),
                            body,
                        }))
                    }
                    _ => Ok(IdempotencyStart::InProgress),
                }
            }
            Err(e) => Err(fault(e)),
        }
    }

    async fn finish_idempotent(&self, scope: &str, response: &StoredResponse) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::idempotency(scope))))
            .update_expression("SET #state = :done, response_status = :st, response_body = :body")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":st", n(i64::from(response.status)))
            .expression_attribute_values(":body", s(&response.body))
            .send()
            .await
            .map_err(fault)?;
        Ok(())
    }

    async fn abandon_idempotent(&self, scope: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::idempotency(scope))))
            .send()
            .await
            .map_err(fault)?;
        Ok(())
    }
}
