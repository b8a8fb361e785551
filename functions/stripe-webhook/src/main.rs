use lambda_http::{run, service_fn, Error};
use stripe_webhook::handler::{handle, Webhook};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    let (app, config) = http_kit::bootstrap::app_from_env().await?;
    let secret = http_kit::config::required("STRIPE_WEBHOOK_SECRET")?;
    let _ = config;
    let state = &Webhook { app, secret };
    run(service_fn(move |req| handle(state, req))).await
}
