//! The SQS event-source mapping, played locally: poll the queue, invoke the worker through
//! cargo lambda's Invoke API with a real `SqsEvent` batch, and delete only the messages the
//! worker did not report in `batchItemFailures`. Failed messages come back after the
//! visibility timeout and go to the dead-letter queue after the redrive policy's receives.

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{json, Value};
use std::time::Duration;

pub struct Bridge {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct BridgeConfig {
    pub queue_url: String,
    pub queue_arn: String,
    /// `http://127.0.0.1:PORT/2015-03-31/functions/benefit-worker/invocations`
    pub invoke_url: String,
    pub batch_size: i32,
}

impl Bridge {
    pub fn spawn(sqs: aws_sdk_sqs::Client, config: BridgeConfig) -> Bridge {
        let task = tokio::spawn(async move {
            let http =
                reqwest::Client::builder().timeout(Duration::from_secs(300)).build().unwrap_or_default();
            loop {
                if let Err(e) = poll_once(&sqs, &http, &config).await {
                    eprintln!("sqs bridge: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        });
        Bridge { task }
    }
}

/// One receive → invoke → delete round. Returns how many messages were handled.
pub async fn poll_once(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    config: &BridgeConfig,
) -> Result<usize, crate::BoxError> {
    let received = sqs
        .receive_message()
        .queue_url(&config.queue_url)
        .max_number_of_messages(config.batch_size)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone()))).collect())
                .unwrap_or_default();
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": config.queue_arn,
                "awsRegion": crate::resources::REGION,
            })
        })
        .collect();
    let event = json!({ "Records": records });
    let reply = http.post(&config.invoke_url).json(&event).send().await;
    // An invocation error fails the whole batch, as Lambda's event-source mapping does.
    let failed: Vec<String> = match reply {
        Ok(r) if r.status().is_success() => {
            let body: Value = r.json().await.unwrap_or(Value::Null);
            match body.get("batchItemFailures").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str).map(str::to_string))
                    .collect(),
                None if body.is_object() => Vec::new(),
                None => messages.iter().filter_map(|m| m.message_id.clone()).collect(),
            }
        }
        _ => messages.iter().filter_map(|m| m.message_id.clone()).collect(),
    };
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.message_id.as_ref().is_some_and(|id| failed.contains(id)))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        sqs.delete_message_batch().queue_url(&config.queue_url).set_entries(Some(done)).send().await?;
    }
    Ok(messages.len())
}
