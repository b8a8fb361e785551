use lambda_http::{run, service_fn, Error};
use stripe_webhook::handler::{handle, Webhook};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    let (app, _config) = http_kit::bootstrap::app_from_env(http_kit::bootstrap::Stripe::Api).await?;
    let secret = http_kit::bootstrap::secret("STRIPE_WEBHOOK_SECRET_ID").await?;
    let state = &Webhook { app, secret };
    run(service_fn(move |req| handle(state, req))).await
}
