use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    let (app, _config) = http_kit::bootstrap::app_from_env(http_kit::bootstrap::Stripe::Api).await?;
    let stale_after_s = http_kit::config::parsed("SWEEP_STALE_AFTER_S", 60)?;
    let app = &app;
    run(service_fn(move |_: LambdaEvent<serde_json::Value>| sweeper::handler::handle(app, stale_after_s)))
        .await
}
