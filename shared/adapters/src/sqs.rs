//! Benefit jobs and webhook work over SQS.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use domain::error::PortError;
use domain::model::Job;
use domain::ports::{JobQueue, WebhookQueue};
use domain::webhooks::WebhookMessage;

#[derive(Clone)]
pub struct SqsJobs {
    client: Client,
    queue_url: String,
}

impl SqsJobs {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsJobs { client, queue_url: queue_url.into() }
    }
}

fn unavailable(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable("sqs", e.to_string())
}

/// Sends the bodies in batches of 10 (SQS's most), each held back `delay_s` (at most 900).
async fn send_all(
    client: &Client,
    queue_url: &str,
    bodies: Vec<String>,
    delay_s: u32,
) -> Result<(), PortError> {
    for chunk in bodies.chunks(10) {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, body) in chunk.iter().enumerate() {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .set_delay_seconds((delay_s > 0).then_some(delay_s.min(900) as i32))
                .build()
                .map_err(unavailable)?;
            entries.push(entry);
        }
        let out = client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        if !out.failed.is_empty() {
            return Err(unavailable(format!("{} messages were not accepted", out.failed.len())));
        }
    }
    Ok(())
}

fn bodies<T: serde::Serialize>(items: &[T]) -> Result<Vec<String>, PortError> {
    items.iter().map(|i| serde_json::to_string(i).map_err(unavailable)).collect()
}

#[async_trait]
impl JobQueue for SqsJobs {
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), PortError> {
        send_all(&self.client, &self.queue_url, bodies(jobs)?, 0).await
    }
}

/// The webhook sender's queue.
#[derive(Clone)]
pub struct SqsWebhooks {
    client: Client,
    queue_url: String,
}

impl SqsWebhooks {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsWebhooks { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl WebhookQueue for SqsWebhooks {
    async fn send(&self, messages: &[WebhookMessage], delay_s: u32) -> Result<(), PortError> {
        send_all(&self.client, &self.queue_url, bodies(messages)?, delay_s).await
    }
}
