use lambda_http::{run, service_fn, Error};
use portal_web::{config::WebConfig, handler::Site};

#[tokio::main]
async fn main() -> Result<(), Error> {
    http_kit::telemetry::init();
    let site = Site::new(WebConfig::load().await?)?;
    let site = &site;
    run(service_fn(move |req| site.handle(req))).await
}
