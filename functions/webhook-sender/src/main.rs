use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    let (app, _config) = http_kit::bootstrap::app_from_env(http_kit::bootstrap::Stripe::None).await?;
    let poster = adapters::webhook_http::HttpPoster::new()?;
    let (app, poster) = (&app, &poster);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        webhook_sender::handler::handle(app, poster, event.payload)
    }))
    .await
}
