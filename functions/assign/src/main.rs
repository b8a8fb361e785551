use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    // Auto-grow previews and buys seats at Stripe when a subscription is full.
    let (app, _config) = http_kit::bootstrap::app_from_env(http_kit::bootstrap::Stripe::Api).await?;
    let app = &app;
    run(service_fn(move |req| assign::handler::handle(app, req))).await
}
