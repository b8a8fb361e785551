//! Benefit jobs over SQS.

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use domain::error::PortError;
use domain::model::Job;
use domain::ports::JobQueue;

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
