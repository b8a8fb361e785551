use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    let (app, _config) = http_kit::bootstrap::app_from_env(http_kit::bootstrap::Stripe::Api).await?;
    let app = &app;
    run(service_fn(move |req| billing::handler::handle(app, req))).await
}
