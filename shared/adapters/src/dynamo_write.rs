//! Writing: the items of a `TransactWriteItems` (put, put-if-new, update, delete, condition
//! check) and the transaction itself, whose refusal says which conditions failed.

use super::*;

/// The reasons of a cancelled transaction, one per item: its code (`None` for items that
/// passed) and, for items that asked for it, the item as it was.
fn cancellation_reasons(
    e: &SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Option<Vec<(String, Option<Item>)>> {
    match e {
        SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(c) => Some(
                c.cancellation_reasons()
                    .iter()
                    .map(|r| (r.code().unwrap_or("None").to_string(), r.item().cloned()))
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// The outcome of a transaction: committed, or which items' conditions failed.
pub(super) enum Txn {
    Committed,
    /// Indices of the items whose condition failed.
    ConditionFailed(Vec<usize>),
}

impl DynamoStore {
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

    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Txn, StoreError> {
        Ok(match self.transact_returning(items).await? {
            Ok(()) => Txn::Committed,
            Err(failed) => Txn::ConditionFailed(failed.into_iter().map(|(i, _)| i).collect()),
        })
    }

    /// A transaction whose refusal lists each failed item's index with the item as it was
    /// (for the items that asked for it with `ReturnValuesOnConditionCheckFailure`).
    pub(super) async fn transact_returning(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<(usize, Option<Item>)>>, StoreError> {
        // A TransactionConflict (another transaction on the same items) is retried a few times
        // before the caller is told the store is busy.
        for attempt in 0..4 {
            match self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
                Ok(_) => return Ok(Ok(())),
                Err(e) => match cancellation_reasons(&e) {
                    Some(reasons) if reasons.iter().any(|(c, _)| c == "ConditionalCheckFailed") => {
                        return Ok(Err(reasons
                            .into_iter()
                            .enumerate()
                            .filter(|(_, (c, _))| c == "ConditionalCheckFailed")
                            .map(|(i, (_, item))| (i, item))
                            .collect()))
                    }
                    Some(reasons)
                        if reasons.iter().any(|(c, _)| c == "TransactionConflict") && attempt < 3 =>
                    {
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
}
