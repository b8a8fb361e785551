//! The SQS batch: each record is one job; a failed record is reported in
//! `batchItemFailures` so that only it is retried (and dead-lettered after 3 receives),
//! never the whole batch.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::model::Job;
use domain::services::{benefits, App};
use lambda_runtime::Error;

pub async fn handle(app: &App, event: SqsEvent) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let outcome = match record.body.as_deref().map(serde_json::from_str::<Job>) {
            Some(Ok(job)) => benefits::process(app, &job).await.map(|()| job).map_err(|e| e.to_string()),
            Some(Err(e)) => Err(format!("the message is not a job: {e}")),
            None => Err("the message has no body".to_string()),
        };
        match outcome {
            Ok(job) => tracing::info!(
                message_id = %message_id,
                seat_id = %job.seat_id,
                subscription_id = %job.subscription_id,
                kind = job.kind.as_str(),
                "job done"
            ),
            Err(error) => {
                tracing::warn!(message_id = %message_id, error = %error, metric = "grants_failed", "job failed");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    Ok(response)
}
