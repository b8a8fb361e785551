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

#[async_trait]
impl JobQueue for SqsJobs {
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), PortError> {
        // SQS takes at most 10 messages per batch.
        for chunk in jobs.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, job) in chunk.iter().enumerate() {
                let body = serde_json::to_string(job).map_err(unavailable)?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(unavailable)?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
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
        // SQS holds a message back at most 15 minutes.
        let delay = delay_s.min(900) as i32;
        for chunk in messages.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, message) in chunk.iter().enumerate() {
                let body = serde_json::to_string(message).map_err(unavailable)?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(delay)
                        .build()
                        .map_err(unavailable)?,
                );
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
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
}
