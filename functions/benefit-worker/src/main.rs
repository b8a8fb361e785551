use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    let (app, _config) = http_kit::bootstrap::app_from_env(http_kit::bootstrap::Stripe::None).await?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| benefit_worker::handler::handle(app, event.payload)))
        .await
}
