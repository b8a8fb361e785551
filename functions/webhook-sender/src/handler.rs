//! The SQS batch of webhook work: a `dispatch` makes an announced change's deliveries, a
//! `deliver` attempts one. A receiver's failure is not a message failure (the delivery
//! schedules its own retry); only this system's trouble (the table, the queue) is reported in
//! `batchItemFailures`, so that SQS retries that message alone.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use domain::ports::WebhookPoster;
use domain::services::webhooks::send;
use domain::services::App;
use domain::webhooks::WebhookMessage;
use futures_util::future::join_all;
use lambda_runtime::Error;
use rand::Rng;

pub async fn handle(
    app: &App,
    poster: &dyn WebhookPoster,
    event: SqsEvent,
) -> Result<SqsBatchResponse, Error> {
    // The attempts of one batch go out together: one slow receiver does not hold up the rest.
    let work = event.records.into_iter().map(|record| async move {
        let message_id = record.message_id.clone().unwrap_or_default();
        let outcome = match record.body.as_deref().map(serde_json::from_str::<WebhookMessage>) {
            Some(Ok(message)) => run(app, poster, message).await,
            // A message that is not ours is dropped (logged): retrying it cannot help.
            Some(Err(e)) => {
                tracing::error!(message_id = %message_id, error = %e, "not a webhook message; dropped");
                Ok(())
            }
            None => Ok(()),
        };
        (message_id, outcome)
    });
    let mut response = SqsBatchResponse::default();
    for (message_id, outcome) in join_all(work).await {
        if let Err(error) = outcome {
            tracing::warn!(message_id = %message_id, error = %error, "webhook work failed; SQS retries it");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

async fn run(app: &App, poster: &dyn WebhookPoster, message: WebhookMessage) -> Result<(), String> {
    match message {
        WebhookMessage::Dispatch { subscription_id, audit_id } => {
            send::dispatch(app, &subscription_id, &audit_id).await.map(|_| ()).map_err(|e| e.to_string())
        }
        WebhookMessage::Deliver { organization_id, endpoint_id, delivery_id } => {
            let jitter = rand::thread_rng().gen_range(0.75..=1.25);
            send::attempt(app, poster, &organization_id, &endpoint_id, &delivery_id, jitter)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}
