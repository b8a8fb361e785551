//! The outbox: jobs committed with their cause (grant, revoke, revoke-all, invitation), sent to
//! SQS after the commit, re-sent by the sweeper until the worker finishes them. An invitation's
//! entry keeps the hash of the link it mails, never the token.

use super::*;
use aws_sdk_dynamodb::types::{Get, TransactGetItem};

impl DynamoStore {
    /// A job in the outbox, never with a claim token.
    pub(super) fn outbox_item(&self, job: &Job, now: i64) -> Result<TransactWriteItem, StoreError> {
        self.put(self.outbox_row(job, now)?, None)
    }

    /// An `invite` job in the outbox: it keeps the hash of the link it mails, not the token.
    pub(super) fn invitation_item(
        &self,
        job: &Job,
        token_hash: &str,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = self.outbox_row(job, now)?;
        item.insert("token_hash".into(), s(token_hash));
        self.put(item, None)
    }

    fn outbox_row(&self, job: &Job, now: i64) -> Result<Item, StoreError> {
        let mut item = row("outbox", &keys::outbox(job.kind.as_str(), &job.seat_id), &job.for_outbox())?;
        item.insert("attempts".into(), n(0));
        item.insert("enqueued_at".into(), n(now));
        Ok(item)
    }

    pub(super) async fn finish_job_in_table(&self, job: &Job) -> Result<(), StoreError> {
        self.remove(&keys::outbox(job.kind.as_str(), &job.seat_id)).await
    }

    pub(super) async fn pending_invitation_in_table(
        &self,
        job: &Job,
        token_hash: &str,
    ) -> Result<Option<Option<ClaimToken>>, StoreError> {
        let get = |key: &Key| {
            build(Get::builder().table_name(&self.table).set_key(Some(key_map(key))).build())
                .map(|g| TransactGetItem::builder().get(g).build())
        };
        let out = self
            .client
            .transact_get_items()
            .transact_items(get(&keys::outbox(job.kind.as_str(), &job.seat_id))?)
            .transact_items(get(&keys::claim_token(token_hash))?)
            .send()
            .await
            .map_err(fault)?;
        let mut found = out.responses.unwrap_or_default().into_iter().map(|r| r.item);
        let (outbox, link) = (found.next().flatten(), found.next().flatten());
        let ours =
            outbox.as_ref().and_then(|o| o.get("token_hash")?.as_s().ok()).is_some_and(|h| h == token_hash);
        if !ours {
            return Ok(None);
        }
        Ok(Some(link.map(parse).transpose()?))
    }

    pub(super) async fn finish_invitation_in_table(
        &self,
        job: &Job,
        token_hash: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut items = vec![self.delete(
            &keys::outbox(job.kind.as_str(), &job.seat_id),
            Some("token_hash = :h"),
            vec![(":h", s(token_hash))],
        )?];
        if let Some(a) = audit {
            items.push(self.audit_item(a)?);
        }
        Ok(matches!(self.transact(items).await?, Txn::Committed))
    }

    pub(super) async fn stale_jobs_in_table(
        &self,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..keys::OUTBOX_SHARDS {
            // Every page of the shard, not only the first megabyte, until the limit.
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :pk")
                    .filter_expression("enqueued_at < :cutoff")
                    .expression_attribute_values(":pk", s(keys::outbox_partition(shard)))
                    .expression_attribute_values(":cutoff", n(cutoff))
                    .set_exclusive_start_key(start)
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
                start = page.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn touch_job_in_table(&self, job: &Job, now: i64) -> Result<(), StoreError> {
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

    pub(super) async fn advance_job_in_table(&self, job: &Job, now: i64) -> Result<(), StoreError> {
        let (expression, mut values) = match &job.cursor {
            Some(c) => ("SET #cursor = :c, enqueued_at = :now, attempts = :zero", vec![(":c", s(c))]),
            None => ("SET enqueued_at = :now, attempts = :zero REMOVE #cursor", vec![]),
        };
        values.push((":now", n(now)));
        values.push((":zero", n(0)));
        let item = self.update(
            &keys::outbox(job.kind.as_str(), &job.seat_id),
            expression,
            Some("attribute_exists(PK)"),
            &[("#cursor", "cursor")],
            values,
        )?;
        // Done meanwhile (the last page ran elsewhere): nothing to advance.
        self.transact(vec![item]).await?;
        Ok(())
    }

    pub(super) async fn dead_letter_job_in_table(&self, dead: &DeadJob) -> Result<(), StoreError> {
        let job = &dead.job;
        let at = dead.dead_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let items = vec![
            self.delete(
                &keys::outbox(job.kind.as_str(), &job.seat_id),
                Some("attribute_exists(PK)"),
                vec![],
            )?,
            self.put_new(row("dead_job", &keys::dead_job(&at, job.kind.as_str(), &job.seat_id), dead)?)?,
        ];
        // Gone meanwhile (done at last): nothing to move.
        self.transact(items).await?;
        Ok(())
    }

    pub(super) async fn dead_jobs_in_table(&self, limit: usize) -> Result<Vec<DeadJob>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::DEAD_JOBS))
            .limit(limit.min(1000) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(fault)?;
        page.items.unwrap_or_default().into_iter().map(parse).collect()
    }
}
