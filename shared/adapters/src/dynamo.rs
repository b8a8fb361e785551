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

// The store by aggregate: catalogue, billing (events, changes), seats (with grants), the
// outbox of jobs, sign-in.
#[path = "dynamo_billing.rs"]
mod billing;
#[path = "dynamo_catalogue.rs"]
mod catalogue;
#[path = "dynamo_jobs.rs"]
mod jobs;
#[path = "dynamo_licenses.rs"]
mod licenses;
#[path = "dynamo_managers.rs"]
mod managers;
#[path = "dynamo_read.rs"]
mod read;
#[path = "dynamo_write.rs"]
mod write;
use write::Txn;
#[path = "dynamo_seats.rs"]
mod seats;
#[path = "dynamo_sessions.rs"]
mod sessions;
#[path = "dynamo_suspension.rs"]
mod suspension;
#[path = "dynamo_team.rs"]
mod team;
#[path = "dynamo_webhooks.rs"]
mod webhooks;

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

    fn seat_row(&self, seat: &Seat) -> Result<Item, StoreError> {
        let item = row("seat", &keys::seat(&seat.subscription_id, &seat.id), seat)?;
        Ok(match &seat.customer_id {
            Some(holder) => with_gsi(item, keys::customer_index(holder), keys::seat_index_sk(&seat.id)),
            None => item,
        })
    }

    /// A new customer and its one-per-email guard (the guard's condition makes a concurrent
    /// creation of the same person fail the whole transaction).
    pub(super) fn new_customer_items(&self, cus: &Customer) -> Result<[TransactWriteItem; 2], StoreError> {
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
    async fn create_organization(
        &self,
        org: &Organization,
        key: &ApiKey,
        key_hash: &str,
    ) -> Result<bool, StoreError> {
        self.create_organization_in_table(org, key, key_hash).await
    }

    async fn organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        self.get_as(&keys::organization(id)).await
    }

    async fn set_organization_settings(
        &self,
        organization_id: &str,
        grace_days: Option<u32>,
        automatic_tax: Option<bool>,
    ) -> Result<bool, StoreError> {
        self.set_organization_settings_in_table(organization_id, grace_days, automatic_tax).await
    }
    async fn set_billing_portal_configuration(
        &self,
        organization_id: &str,
        configuration_id: &str,
    ) -> Result<bool, StoreError> {
        self.set_billing_portal_configuration_in_table(organization_id, configuration_id).await
    }

    async fn organization_by_slug(&self, slug: &str) -> Result<Option<Organization>, StoreError> {
        self.organization_by_slug_in_table(slug).await
    }

    async fn api_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        self.get_as(&keys::api_key(key_hash)).await
    }

    async fn adopt_api_key(&self, key_hash: &str, key: &ApiKey) -> Result<(), StoreError> {
        self.adopt_api_key_in_table(key_hash, key).await
    }

    async fn api_keys(&self, org: &str) -> Result<Vec<ApiKey>, StoreError> {
        self.query_index(&keys::organization_index(org), keys::API_KEY_PREFIX).await
    }

    async fn rotate_api_key(
        &self,
        key: &ApiKey,
        key_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.rotate_api_key_in_table(key, key_hash, at).await
    }

    async fn put_benefit(&self, b: &Benefit) -> Result<(), StoreError> {
        self.put_benefit_in_table(b).await
    }

    async fn benefit(&self, id: &str) -> Result<Option<Benefit>, StoreError> {
        self.get_as(&keys::benefit(id)).await
    }

    async fn benefits(&self, org: &str) -> Result<Vec<Benefit>, StoreError> {
        self.query_index(&keys::organization_index(org), keys::BENEFIT_PREFIX).await
    }

    async fn put_product(&self, p: &Product) -> Result<(), StoreError> {
        self.put_product_in_table(p).await
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
        self.complete_checkout_txn(c).await
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
        self.apply_billing_update_txn(u).await
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
    async fn ledger_invoices(&self, subscription_id: &str) -> Result<Vec<BillingInvoice>, StoreError> {
        self.ledger_invoices_query(subscription_id).await
    }
    async fn cancellations_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.cancellations_due_query(now, limit).await
    }
    async fn forget_cancellation_due(
        &self,
        subscription_id: &str,
        cancel_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.forget_cancellation_due_write(subscription_id, cancel_at).await
    }
    async fn dunning_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.dunning_due_query(now, limit).await
    }
    async fn forget_dunning_due(
        &self,
        subscription_id: &str,
        access_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.forget_dunning_due_write(subscription_id, access_until).await
    }
    async fn postpone_cancellation_due(
        &self,
        subscription_id: &str,
        cancel_at: DateTime<Utc>,
        next_look: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.postpone_cancellation_due_write(subscription_id, cancel_at, next_look).await
    }

    async fn record_event(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let item = self.event_marker(event_id, now)?;
        Ok(matches!(self.transact(vec![item]).await?, Txn::Committed))
    }

    async fn put_audit_event(&self, a: &AuditEvent) -> Result<(), StoreError> {
        self.insert(webhooks::audit_row(a)?).await
    }

    async fn transfer_seat(&self, t: &SeatTransfer) -> Result<TransferOutcome, StoreError> {
        self.transfer_seat_in_table(t).await
    }
    async fn assign_claimed_seat(&self, a: &ClaimedAssignment) -> Result<ClaimedAssignOutcome, StoreError> {
        self.assign_claimed_seat_in_table(a).await
    }

    async fn assign_seat(&self, a: &SeatAssignment) -> Result<AssignOutcome, StoreError> {
        self.assign_seat_in_table(a).await
    }

    async fn seat(&self, sub: &str, seat: &str) -> Result<Option<Seat>, StoreError> {
        self.seat_in_table(sub, seat).await
    }

    async fn seats_page(
        &self,
        sub: &str,
        status: Option<SeatStatus>,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<SeatPage, StoreError> {
        self.seats_page_in_table(sub, status, cursor, limit).await
    }

    async fn replace_claim_token(
        &self,
        seat: &Seat,
        new: &ClaimToken,
        invitation: &Job,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.replace_claim_token_in_table(seat, new, invitation, audit).await
    }

    async fn claim_token(&self, hash: &str) -> Result<Option<ClaimToken>, StoreError> {
        self.claim_token_in_table(hash).await
    }

    async fn claim_seat(&self, c: &SeatClaim, now: DateTime<Utc>) -> Result<ClaimOutcome, StoreError> {
        self.claim_seat_in_table(c, now).await
    }

    async fn revoke_seat(&self, r: &SeatRevocation) -> Result<bool, StoreError> {
        self.revoke_seat_in_table(r).await
    }

    async fn put_grant(
        &self,
        g: &Grant,
        license: Option<&LicenseKeyRecord>,
        audit: &AuditEvent,
    ) -> Result<GrantOutcome, StoreError> {
        self.put_grant_in_table(g, license, audit).await
    }

    async fn license_key(&self, key_hash: &str) -> Result<Option<LicenseKeyRecord>, StoreError> {
        self.license_key_in_table(key_hash).await
    }

    async fn grant(
        &self,
        customer_id: &str,
        seat_id: &str,
        benefit_id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        self.grant_in_table(customer_id, seat_id, benefit_id).await
    }

    async fn license_activations(&self, key_hash: &str) -> Result<Vec<LicenseActivation>, StoreError> {
        self.license_activations_in_table(key_hash).await
    }

    async fn activate_license(&self, a: &LicenseActivation, limit: Option<u32>) -> Result<bool, StoreError> {
        self.activate_license_in_table(a, limit).await
    }

    async fn deactivate_license(&self, key_hash: &str, activation_id: &str) -> Result<bool, StoreError> {
        self.deactivate_license_in_table(key_hash, activation_id).await
    }

    async fn grants_of_customer(&self, customer_id: &str) -> Result<Vec<Grant>, StoreError> {
        self.grants_of_customer_in_table(customer_id).await
    }

    async fn revoke_grant(
        &self,
        g: &Grant,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.revoke_grant_in_table(g, at, audit).await
    }

    async fn finish_job(&self, job: &Job) -> Result<(), StoreError> {
        self.finish_job_in_table(job).await
    }

    async fn job_pending(&self, job: &Job) -> Result<bool, StoreError> {
        Ok(self.get(&keys::outbox(job.kind.as_str(), &job.seat_id)).await?.is_some())
    }

    async fn pending_invitation(
        &self,
        job: &Job,
        token_hash: &str,
    ) -> Result<Option<Option<ClaimToken>>, StoreError> {
        self.pending_invitation_in_table(job, token_hash).await
    }

    async fn finish_invitation(
        &self,
        job: &Job,
        token_hash: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.finish_invitation_in_table(job, token_hash, audit).await
    }

    async fn stale_jobs(&self, cutoff: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.stale_jobs_in_table(cutoff, limit).await
    }

    async fn touch_job(&self, job: &Job, now: i64) -> Result<(), StoreError> {
        self.touch_job_in_table(job, now).await
    }

    async fn advance_job(&self, job: &Job, now: i64) -> Result<(), StoreError> {
        self.advance_job_in_table(job, now).await
    }

    async fn dead_letter_job(&self, dead: &DeadJob) -> Result<(), StoreError> {
        self.dead_letter_job_in_table(dead).await
    }

    async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, StoreError> {
        self.dead_jobs_in_table(limit).await
    }

    async fn audit_events_after(
        &self,
        sub: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let start = after.map(|a| key_map(&keys::audit_event(sub, a)));
        let pk = keys::subscription(sub).pk;
        self.query_after(None, "PK = :pk AND begins_with(SK, :prefix)", &pk, keys::AUDIT_PREFIX, start, limit)
            .await
    }

    async fn subscriptions_of_organization_after(
        &self,
        org: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Subscription>, StoreError> {
        // An index's start key names the item's table key and its index key.
        let start = after.map(|a| {
            let mut k = key_map(&keys::subscription(a));
            k.insert(keys::GSI2PK.into(), s(keys::organization_index(org)));
            k.insert(keys::GSI2SK.into(), s(keys::subscription_index_sk(a)));
            k
        });
        let condition = "GSI2PK = :pk AND begins_with(GSI2SK, :prefix)";
        let pk = keys::organization_index(org);
        self.query_after(Some(keys::GSI2), condition, &pk, keys::SUBSCRIPTION_PREFIX, start, limit).await
    }

    async fn audit_events(&self, sub: &str) -> Result<Vec<AuditEvent>, StoreError> {
        self.query_partition(&keys::subscription(sub).pk, keys::AUDIT_PREFIX).await
    }

    async fn count_hit(&self, key: &str, window_ends_at: i64, max: u32) -> Result<bool, StoreError> {
        self.count_hit_in_table(key, window_ends_at, max).await
    }

    async fn put_sign_in_code(&self, code: &SignInCode) -> Result<(), StoreError> {
        self.put_sign_in_code_in_table(code).await
    }

    async fn take_sign_in_code(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignInCode>, StoreError> {
        self.take_sign_in_code_in_table(hash, now).await
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.put_session_in_table(session).await
    }

    async fn session(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        self.session_in_table(hash).await
    }

    async fn end_session(&self, hash: &str) -> Result<(), StoreError> {
        self.end_session_in_table(hash).await
    }

    async fn begin_idempotent(
        &self,
        scope: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyStart, StoreError> {
        self.begin_idempotent_in_table(scope, request_hash, now).await
    }

    async fn finish_idempotent(&self, scope: &str, response: &StoredResponse) -> Result<(), StoreError> {
        self.finish_idempotent_in_table(scope, response).await
    }

    async fn abandon_idempotent(&self, scope: &str) -> Result<(), StoreError> {
        self.abandon_idempotent_in_table(scope).await
    }
}
