//! The sign-in side of the store: one-time sign-in codes and portal sessions (only their
//! hashes, expiring), and `Idempotency-Key` records (the first answer kept for 24 h, a holder
//! that died taken over after a minute).

use super::*;

impl DynamoStore {
    pub(super) async fn put_sign_in_code_in_table(&self, code: &SignInCode) -> Result<(), StoreError> {
        let item =
            with_ttl(row("sign_in_code", &keys::sign_in_code(&code.code_hash), code)?, code.expires_at);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(fault)?;
        Ok(())
    }

    pub(super) async fn take_sign_in_code_in_table(
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

    pub(super) async fn put_session_in_table(&self, session: &Session) -> Result<(), StoreError> {
        let item =
            with_ttl(row("session", &keys::session(&session.token_hash), session)?, session.expires_at);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(fault)?;
        Ok(())
    }

    pub(super) async fn session_in_table(&self, hash: &str) -> Result<Option<Session>, StoreError> {
        self.get_as(&keys::session(hash)).await
    }

    /// A hit on a rate counter: it moves only while under its `max`, and expires with its
    /// window (a transaction item, so a limited write can count in its own transaction).
    pub(super) fn rate_item(&self, hit: &RateHit) -> Result<TransactWriteItem, StoreError> {
        self.update(
            &keys::rate_counter(&hit.key),
            "SET hits = if_not_exists(hits, :zero) + :one, #ttl = :ttl",
            Some("attribute_not_exists(hits) OR hits < :max"),
            &[("#ttl", keys::TTL)],
            vec![
                (":zero", n(0)),
                (":one", n(1)),
                (":max", n(i64::from(hit.max))),
                (":ttl", n(hit.window_ends_at + 60)),
            ],
        )
    }

    /// One conditional update per check (a plain `UpdateItem`: one write unit, where a
    /// transaction of one would cost two).
    pub(super) async fn count_hit_in_table(
        &self,
        key: &str,
        window_ends_at: i64,
        max: u32,
    ) -> Result<bool, StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&keys::rate_counter(key))))
            .update_expression("SET hits = if_not_exists(hits, :zero) + :one, #ttl = :ttl")
            .condition_expression("attribute_not_exists(hits) OR hits < :max")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(i64::from(max)))
            .expression_attribute_values(":ttl", n(window_ends_at + 60))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(fault(e)),
        }
    }

    pub(super) async fn end_session_in_table(&self, hash: &str) -> Result<(), StoreError> {
        self.remove(&keys::session(hash)).await
    }

    pub(super) async fn begin_idempotent_in_table(
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

    pub(super) async fn finish_idempotent_in_table(
        &self,
        scope: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
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

    pub(super) async fn abandon_idempotent_in_table(&self, scope: &str) -> Result<(), StoreError> {
        self.remove(&keys::idempotency(scope)).await
    }
}
