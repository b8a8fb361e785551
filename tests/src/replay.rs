//! The bare SDK calls of a flow: the operations the meter recorded, sent again on the same
//! table by the SDK alone, without the handler around them. Reads go to the same keys; writes
//! keep their shape and size but cannot change what the flow made (puts go to fresh `BENCH#`
//! keys, updates touch one attribute, condition checks always hold), so a replay can run after
//! every run of the flow.

use crate::meter::attributes;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Get, Put, TransactGetItem, TransactWriteItem, Update};
use serde_json::Value;
use std::collections::HashMap;

pub struct Bare<'a> {
    pub db: &'a aws_sdk_dynamodb::Client,
    pub sqs: &'a aws_sdk_sqs::Client,
    pub ses: &'a aws_sdk_sesv2::Client,
    pub table: &'a str,
    pub queue_url: &'a str,
    pub mail_from: &'a str,
}

fn s(v: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.to_string())
}

fn fresh(
    mut item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    item.insert("PK".into(), s(&format!("BENCH#{}", uuid::Uuid::new_v4().simple())));
    item
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn names(v: &Value) -> Option<HashMap<String, String>> {
    v.get("ExpressionAttributeNames")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
}

impl Bare<'_> {
    /// Sends the recorded calls again, in order. Panics on an error: a replay must succeed.
    pub async fn replay(&self, calls: &[(String, Value)]) {
        for (key, req) in calls {
            match key.as_str() {
                "dynamodb:GetItem" => {
                    self.db
                        .get_item()
                        .table_name(self.table)
                        .set_key(Some(attributes(req.get("Key"))))
                        .set_consistent_read(req.get("ConsistentRead").and_then(Value::as_bool))
                        .send()
                        .await
                        .expect("get");
                }
                "dynamodb:Query" => {
                    let values = attributes(req.get("ExpressionAttributeValues"));
                    let start = req.get("ExclusiveStartKey").map(|k| attributes(Some(k)));
                    self.db
                        .query()
                        .table_name(self.table)
                        .set_index_name(text(req, "IndexName"))
                        .set_key_condition_expression(text(req, "KeyConditionExpression"))
                        .set_filter_expression(text(req, "FilterExpression"))
                        .set_expression_attribute_names(names(req))
                        .set_expression_attribute_values(Some(values).filter(|v| !v.is_empty()))
                        .set_exclusive_start_key(start)
                        .set_limit(req.get("Limit").and_then(Value::as_i64).map(|l| l as i32))
                        .set_scan_index_forward(req.get("ScanIndexForward").and_then(Value::as_bool))
                        .set_consistent_read(req.get("ConsistentRead").and_then(Value::as_bool))
                        .send()
                        .await
                        .expect("query");
                }
                "dynamodb:PutItem" => {
                    let item = fresh(attributes(req.get("Item")));
                    self.db.put_item().table_name(self.table).set_item(Some(item)).send().await.expect("put");
                }
                "dynamodb:UpdateItem" => {
                    self.db
                        .update_item()
                        .table_name(self.table)
                        .set_key(Some(attributes(req.get("Key"))))
                        .update_expression("SET bench_touch = :one")
                        .expression_attribute_values(
                            ":one",
                            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
                        )
                        .send()
                        .await
                        .expect("update");
                }
                "dynamodb:DeleteItem" => {
                    let key = fresh(attributes(req.get("Key")));
                    self.db
                        .delete_item()
                        .table_name(self.table)
                        .set_key(Some(key))
                        .send()
                        .await
                        .expect("delete");
                }
                "dynamodb:TransactWriteItems" => {
                    let all = req.get("TransactItems").and_then(Value::as_array).cloned().unwrap_or_default();
                    let mut items = Vec::new();
                    for entry in &all {
                        let Some((kind, action)) = entry.as_object().and_then(|m| m.iter().next()) else {
                            continue;
                        };
                        let key = || attributes(action.get("Key"));
                        let item = match kind.as_str() {
                            "Put" => TransactWriteItem::builder()
                                .put(
                                    Put::builder()
                                        .table_name(self.table)
                                        .set_item(Some(fresh(attributes(action.get("Item")))))
                                        .build()
                                        .expect("put"),
                                )
                                .build(),
                            "Update" => TransactWriteItem::builder()
                                .update(
                                    Update::builder()
                                        .table_name(self.table)
                                        .set_key(Some(key()))
                                        .update_expression("SET bench_touch = :one")
                                        .expression_attribute_values(
                                            ":one",
                                            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
                                        )
                                        .build()
                                        .expect("update"),
                                )
                                .build(),
                            "Delete" => TransactWriteItem::builder()
                                .delete(
                                    Delete::builder()
                                        .table_name(self.table)
                                        .set_key(Some(fresh(key())))
                                        .build()
                                        .expect("delete"),
                                )
                                .build(),
                            _ => TransactWriteItem::builder()
                                .condition_check(
                                    ConditionCheck::builder()
                                        .table_name(self.table)
                                        .set_key(Some(key()))
                                        .condition_expression(
                                            "attribute_exists(PK) OR attribute_not_exists(PK)",
                                        )
                                        .build()
                                        .expect("check"),
                                )
                                .build(),
                        };
                        items.push(item);
                    }
                    self.db
                        .transact_write_items()
                        .set_transact_items(Some(items))
                        .send()
                        .await
                        .expect("transaction");
                }
                "dynamodb:TransactGetItems" => {
                    let all = req.get("TransactItems").and_then(Value::as_array).cloned().unwrap_or_default();
                    let gets = all
                        .iter()
                        .filter_map(|e| e.get("Get"))
                        .map(|g| {
                            TransactGetItem::builder()
                                .get(
                                    Get::builder()
                                        .table_name(self.table)
                                        .set_key(Some(attributes(g.get("Key"))))
                                        .build()
                                        .expect("get"),
                                )
                                .build()
                        })
                        .collect();
                    self.db.transact_get_items().set_transact_items(Some(gets)).send().await.expect("get");
                }
                "sqs:SendMessage" => {
                    self.sqs
                        .send_message()
                        .queue_url(self.queue_url)
                        .message_body("{}")
                        .send()
                        .await
                        .expect("sqs");
                }
                "sqs:SendMessageBatch" => {
                    let n = req.get("Entries").and_then(Value::as_array).map_or(1, Vec::len);
                    let entries = (0..n)
                        .map(|i| {
                            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                                .id(format!("bare{i}"))
                                .message_body("{}")
                                .build()
                                .expect("entry")
                        })
                        .collect();
                    self.sqs
                        .send_message_batch()
                        .queue_url(self.queue_url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                        .expect("sqs");
                }
                "ses:SendEmail" => {
                    let mailer = adapters::ses::SesMailer::new(self.ses.clone(), self.mail_from);
                    use domain::ports::Mailer;
                    mailer
                        .send(&domain::ports::OutgoingEmail {
                            to: "bare@corp.example".into(),
                            subject: "bench".into(),
                            text: "bench".into(),
                        })
                        .await
                        .expect("ses");
                }
                other => panic!("no bare replay for {other}"),
            }
        }
    }
}
