//! Cold start: configuration, then every client once, shared by all invocations.

use crate::config::{Config, ConfigError, GatewayConfig};
use adapters::sqs::SqsJobs;
use adapters::{
    dynamo::DynamoStore, offline::OfflineGateway, s3::S3Files, ses::SesMailer, stripe::StripeGateway,
};
use domain::ports::{PaymentGateway, SystemClock};
use domain::services::{App, Settings};
use std::sync::Arc;

pub async fn app_from_env() -> Result<(App, Config), ConfigError> {
    let config = Config::from_env()?;
    let sdk = adapters::aws::sdk_config().await;
    let payments: Arc<dyn PaymentGateway> = match &config.gateway {
        GatewayConfig::Stripe { api_base, secret_key } => Arc::new(
            StripeGateway::new(api_base, secret_key)
                .map_err(|e| ConfigError::Invalid("STRIPE_API_BASE", e.to_string()))?,
        ),
        GatewayConfig::Offline { payment } => {
            Arc::new(OfflineGateway::new(&config.public_base_url, *payment))
        }
    };
    let mut settings = Settings::with_defaults(&config.public_base_url, &config.admin_token_hash);
    settings.claim_ttl_s = config.claim_ttl_hours * 3600;
    settings.session_ttl_s = config.session_ttl_hours * 3600;
    settings.anonymous_requests_per_minute = config.anonymous_requests_per_minute;
    // Faults (local stacks only) are an interceptor on the clients that write and send.
    let faults = adapters::faults::FaultInjector::new(config.faults);
    let db = aws_sdk_dynamodb::config::Builder::from(&sdk);
    let ses = aws_sdk_sesv2::config::Builder::from(&sdk);
    let sqs = aws_sdk_sqs::config::Builder::from(&sdk);
    let (db, ses, sqs) = if config.faults.is_off() {
        (db, ses, sqs)
    } else {
        (db.interceptor(faults.clone()), ses.interceptor(faults.clone()), sqs.interceptor(faults))
    };
    let app = App {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(db.build()),
            &config.table_name,
        )),
        mailer: Arc::new(SesMailer::new(aws_sdk_sesv2::Client::from_conf(ses.build()), &config.mail_from)),
        payments,
        files: Arc::new(S3Files::new(
            S3Files::client(&sdk, config.s3_force_path_style),
            &config.files_bucket,
        )),
        jobs: Arc::new(SqsJobs::new(aws_sdk_sqs::Client::from_conf(sqs.build()), &config.queue_url)),
        clock: Arc::new(SystemClock),
        settings,
    };
    Ok((app, config))
}
