use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    let (app, config) = http_kit::bootstrap::app_from_env(http_kit::bootstrap::Stripe::None).await?;
    // A local stack's receivers are on this machine, and nothing it sends may leave it.
    let destinations = match config.webhook_allow_loopback {
        true => adapters::webhook_http::Destinations::LoopbackOnly,
        false => adapters::webhook_http::Destinations::Public,
    };
    let poster = adapters::webhook_http::HttpPoster::new(destinations)?;
    let (app, poster) = (&app, &poster);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        webhook_sender::handler::handle(app, poster, event.payload)
    }))
    .await
}
