//! Webhooks in the table: endpoints under their organization (a counter on the organization
//! caps them, in the create transaction), deliveries under their endpoint (time-ordered ids,
//! kept 30 days), and two sparse GSI1 lists for the sweeper: audit entries whose events are not
//! dispatched yet, and pending deliveries by when they are due.

use super::*;
use domain::webhooks::{DeliveryStatus, WebhookDelivery, WebhookEndpoint};

/// Deliveries are kept this long for the merchant to read.
const DELIVERY_DAYS: i64 = 30;
/// The attribute that carries an audit entry's webhook events (JSON).
const OUTGOING: &str = "outgoing";

/// An audit entry's item: with its webhook events, it is on the undispatched list too.
pub(super) fn audit_row(a: &AuditEvent) -> Result<Item, StoreError> {
    let item = row("audit_event", &keys::audit_event(&a.subscription_id, &a.id), a)?;
    if a.outgoing.is_empty() {
        return Ok(item);
    }
    let json = serde_json::to_string(&a.outgoing).map_err(|e| StoreError::Internal(e.to_string()))?;
    let (pk, sk) = keys::undispatched(&a.id, a.created_at.timestamp());
    let mut item = with_gsi(item, pk, sk);
    item.insert(OUTGOING.into(), s(json));
    Ok(item)
}

fn delivery_row(d: &WebhookDelivery) -> Result<Item, StoreError> {
    let item = with_ttl(
        row("webhook_delivery", &keys::webhook_delivery(&d.endpoint_id, &d.id), d)?,
        d.created_at + Duration::days(DELIVERY_DAYS),
    );
    Ok(match (d.status, d.next_attempt_at) {
        (DeliveryStatus::Pending, Some(at)) => {
            let (pk, sk) = keys::webhook_due(&d.id, at.timestamp());
            with_gsi(item, pk, sk)
        }
        _ => item,
    })
}

fn conditional_failed<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    pub(super) fn audit_item(&self, a: &AuditEvent) -> Result<TransactWriteItem, StoreError> {
        self.put_new(audit_row(a)?)
    }

    /// One attribute update conditioned on `condition`; a failed condition is `Ok(false)`.
    async fn update_if(
        &self,
        key: &Key,
        expression: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut b = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression(expression)
            .condition_expression(condition);
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        match b.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
            Err(e) => Err(fault(e)),
        }
    }

    /// A put conditioned on the stored `field` being `previous`; a failed condition is `Ok(false)`.
    async fn replace_if(&self, item: Item, field: &str, previous: i64) -> Result<bool, StoreError> {
        self.put_if(item, "#f = :prev", Some((field, n(previous)))).await
    }

    /// A put under `condition` (naming `#f` and `:prev` when given); a failed condition is `Ok(false)`.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        field: Option<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut b = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if let Some((name, previous)) = field {
            b = b.expression_attribute_names("#f", name).expression_attribute_values(":prev", previous);
        }
        match b.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
            Err(e) => Err(fault(e)),
        }
    }

    /// Items of the sparse GSI1 lists due before `cutoff`, soonest first, over every shard.
    pub(super) async fn due_in_lists(
        &self,
        partition: fn(u32) -> String,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..keys::WEBHOOK_SHARDS {
            let mut start = None;
            while out.len() < limit {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(keys::GSI1)
                    .key_condition_expression("GSI1PK = :pk AND GSI1SK < :upper")
                    .expression_attribute_values(":pk", s(partition(shard)))
                    .expression_attribute_values(":upper", s(keys::time_bound(cutoff)))
                    .set_exclusive_start_key(start)
                    .limit((limit - out.len()).min(1000) as i32)
                    .send()
                    .await
                    .map_err(fault)?;
                out.extend(page.items.unwrap_or_default());
                start = page.last_evaluated_key.filter(|k| !k.is_empty());
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl WebhookStore for DynamoStore {
    async fn create_webhook_endpoint(
        &self,
        e: &WebhookEndpoint,
        max: i64,
    ) -> Result<EndpointCreated, StoreError> {
        let items = vec![
            self.update(
                &keys::organization(&e.organization_id),
                "SET webhook_endpoints = if_not_exists(webhook_endpoints, :zero) + :one",
                Some("attribute_exists(PK) AND (attribute_not_exists(webhook_endpoints) OR webhook_endpoints < :max)"),
                &[],
                vec![(":zero", n(0)), (":one", n(1)), (":max", n(max))],
            )?,
            self.put_new(row("webhook_endpoint", &keys::webhook_endpoint(&e.organization_id, &e.id), e)?)?,
        ];
        Ok(match self.transact(items).await? {
            Txn::Committed => EndpointCreated::Created,
            Txn::ConditionFailed(_) => EndpointCreated::LimitReached,
        })
    }

    async fn webhook_endpoint(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.get_as(&keys::webhook_endpoint(org, id)).await
    }

    async fn webhook_endpoints(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.query_partition(&keys::organization(org).pk, keys::WEBHOOK_ENDPOINT_PREFIX).await
    }

    async fn replace_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<bool, StoreError> {
        let item = row("webhook_endpoint", &keys::webhook_endpoint(&e.organization_id, &e.id), e)?;
        self.replace_if(item, "version", e.version - 1).await
    }

    async fn delete_webhook_endpoint(&self, org: &str, id: &str) -> Result<bool, StoreError> {
        let items = vec![
            self.delete(&keys::webhook_endpoint(org, id), Some("attribute_exists(PK)"), vec![])?,
            self.update(
                &keys::organization(org),
                "SET webhook_endpoints = webhook_endpoints - :one",
                Some("webhook_endpoints > :zero"),
                &[],
                vec![(":zero", n(0)), (":one", n(1))],
            )?,
        ];
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    async fn mark_endpoint_failing(
        &self,
        org: &str,
        id: &str,
        since: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let cond = "attribute_exists(PK) AND (attribute_not_exists(failing_since) OR attribute_type(failing_since, :null))";
        let values = vec![(":t", date(since)?), (":null", s("NULL"))];
        self.update_if(&keys::webhook_endpoint(org, id), "SET failing_since = :t", cond, values).await?;
        Ok(())
    }

    async fn mark_endpoint_healthy(&self, org: &str, id: &str) -> Result<(), StoreError> {
        let key = keys::webhook_endpoint(org, id);
        self.update_if(&key, "REMOVE failing_since", "attribute_exists(PK)", vec![]).await?;
        Ok(())
    }

    async fn disable_webhook_endpoint(
        &self,
        org: &str,
        id: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.update_if(
            &keys::webhook_endpoint(org, id),
            "SET disabled = :yes, disabled_reason = :why, updated_at = :at, version = version + :one",
            "attribute_exists(PK) AND disabled = :no",
            vec![
                (":yes", AttributeValue::Bool(true)),
                (":no", AttributeValue::Bool(false)),
                (":why", s(reason)),
                (":at", date(at)?),
                (":one", n(1)),
            ],
        )
        .await
    }

    async fn undispatched_events(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let items = self.due_in_lists(keys::undispatched_partition, cutoff, limit).await?;
        let mut out: Vec<(String, String, String)> = items
            .into_iter()
            .filter_map(|i| {
                let text = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
                Some((text(keys::GSI1SK)?, text("subscription_id")?, text("id")?))
            })
            .collect();
        out.sort();
        Ok(out.into_iter().take(limit).map(|(_, sub, id)| (sub, id)).collect())
    }

    async fn audit_event_with_outgoing(&self, sub: &str, id: &str) -> Result<Option<AuditEvent>, StoreError> {
        let Some(item) = self.get(&keys::audit_event(sub, id)).await? else { return Ok(None) };
        let outgoing = match item.get(OUTGOING).and_then(|v| v.as_s().ok()) {
            Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Internal(e.to_string()))?,
            None => Vec::new(),
        };
        let mut entry: AuditEvent = parse(item)?;
        entry.outgoing = outgoing;
        Ok(Some(entry))
    }

    async fn mark_events_dispatched(&self, sub: &str, id: &str) -> Result<(), StoreError> {
        let key = keys::audit_event(sub, id);
        self.update_if(&key, "REMOVE GSI1PK, GSI1SK", "attribute_exists(PK)", vec![]).await?;
        Ok(())
    }

    async fn put_webhook_delivery(&self, d: &WebhookDelivery) -> Result<bool, StoreError> {
        self.put_if(delivery_row(d)?, "attribute_not_exists(PK)", None).await
    }

    async fn webhook_delivery(
        &self,
        endpoint: &str,
        id: &str,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        self.get_as(&keys::webhook_delivery(endpoint, id)).await
    }

    async fn webhook_deliveries(
        &self,
        endpoint: &str,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::webhook_delivery(endpoint, "").pk))
            .expression_attribute_values(":prefix", s(keys::DELIVERY_PREFIX))
            .scan_index_forward(false)
            .limit(limit.min(1000) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(fault)?;
        page.items.unwrap_or_default().into_iter().map(parse).collect()
    }

    async fn replace_webhook_delivery(&self, d: &WebhookDelivery) -> Result<bool, StoreError> {
        self.replace_if(delivery_row(d)?, "revision", d.revision - 1).await
    }

    async fn due_webhook_deliveries(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let mut out: Vec<WebhookDelivery> = self
            .due_in_lists(keys::webhook_due_partition, cutoff, limit)
            .await?
            .into_iter()
            .map(parse)
            .collect::<Result<_, _>>()?;
        out.sort_by_key(|d| d.next_attempt_at);
        out.truncate(limit);
        Ok(out)
    }
}
