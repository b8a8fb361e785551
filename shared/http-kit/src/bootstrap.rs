//! Cold start: configuration, then every client once, shared by all invocations. Secrets come
//! from Secrets Manager (the environment names them), and a function reads only the ones it
//! uses.

use crate::config::{Config, ConfigError, GatewayConfig};
use adapters::sqs::{SqsJobs, SqsWebhooks};
use adapters::{
    dynamo::DynamoStore, offline::OfflineGateway, s3::S3Files, ses::SesMailer, stripe::StripeGateway,
};
use async_trait::async_trait;
use domain::error::PortError;
use domain::model::{InvoicePage, Product, ProviderPrices};
use domain::ports::*;
use domain::services::{App, Settings};
use std::sync::Arc;

/// What a function does with Stripe: the functions that call its API read the secret key;
/// the others never hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stripe {
    /// Calls Stripe's API: reads the key named by `STRIPE_API_KEY_SECRET_ID`.
    Api,
    /// Never calls Stripe (a call would be a bug: it answers 503 and logs an error).
    None,
}

pub async fn app_from_env(stripe: Stripe) -> Result<(App, Config), ConfigError> {
    let config = Config::from_env()?;
    let sdk = adapters::aws::sdk_config().await;
    let payments: Arc<dyn PaymentGateway> = match (&config.gateway, stripe) {
        (GatewayConfig::Stripe { api_base }, Stripe::Api) => {
            let key = secret_with(&sdk, "STRIPE_API_KEY_SECRET_ID").await?;
            Arc::new(
                StripeGateway::new(api_base, &key)
                    .map_err(|e| ConfigError::Invalid("STRIPE_API_BASE", e.to_string()))?,
            )
        }
        (GatewayConfig::Stripe { .. }, Stripe::None) => Arc::new(NoStripeKey),
        (GatewayConfig::Offline { payment }, _) => {
            Arc::new(OfflineGateway::new(&config.public_base_url, *payment))
        }
    };
    let mut settings = Settings::with_defaults(&config.public_base_url, &config.admin_token_hash);
    settings.claim_ttl_s = config.claim_ttl_hours * 3600;
    settings.session_ttl_s = config.session_ttl_hours * 3600;
    settings.anonymous_requests_per_minute = config.anonymous_requests_per_minute;
    settings.webhook_retry = config.webhook_retry;
    settings.webhook_allow_loopback = config.webhook_allow_loopback;
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
    let sqs_client = aws_sdk_sqs::Client::from_conf(sqs.build());
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
        jobs: Arc::new(SqsJobs::new(sqs_client.clone(), &config.queue_url)),
        webhooks: Arc::new(SqsWebhooks::new(sqs_client, &config.webhook_queue_url)),
        clock: Arc::new(SystemClock),
        settings,
    };
    Ok((app, config))
}

/// The secret named by the environment variable `var` (a Secrets Manager id), read now.
pub async fn secret(var: &'static str) -> Result<String, ConfigError> {
    secret_with(&adapters::aws::sdk_config().await, var).await
}

async fn secret_with(sdk: &aws_config::SdkConfig, var: &'static str) -> Result<String, ConfigError> {
    let id = crate::config::required(var)?;
    adapters::secrets::read(&aws_sdk_secretsmanager::Client::new(sdk), &id)
        .await
        .map_err(|e| ConfigError::Invalid(var, format!("the secret {id:?} could not be read: {e}")))
}

/// The payment gateway of a function that holds no Stripe key.
struct NoStripeKey;

fn no_key() -> PortError {
    tracing::error!("a function without the Stripe key called Stripe");
    PortError::Unavailable("payments", "this function holds no Stripe key".into())
}

#[async_trait]
impl PaymentGateway for NoStripeKey {
    async fn create_prices(&self, _: &Product) -> Result<ProviderPrices, PortError> {
        Err(no_key())
    }
    async fn create_checkout_session(
        &self,
        _: &CheckoutSessionRequest,
    ) -> Result<CheckoutSession, PortError> {
        Err(no_key())
    }
    async fn subscription(&self, _: &str) -> Result<Option<ProviderSubscription>, PortError> {
        Err(no_key())
    }
    async fn preview_charge(&self, _: &ChargeRequest) -> Result<Option<ProviderInvoice>, PortError> {
        Err(no_key())
    }
    async fn charge(&self, _: &ChargeRequest) -> Result<ChargeOutcome, PortError> {
        Err(no_key())
    }
    async fn schedule_renewal(&self, _: &RenewalSchedule) -> Result<ScheduledRenewal, PortError> {
        Err(no_key())
    }
    async fn release_schedule(&self, _: &str, _: &str) -> Result<(), PortError> {
        Err(no_key())
    }
    async fn cancel_at_period_end(&self, _: &CancelRequest) -> Result<(), PortError> {
        Err(no_key())
    }
    async fn invoices(&self, _: &str, _: u32, _: Option<&str>) -> Result<Option<InvoicePage>, PortError> {
        Err(no_key())
    }
    async fn create_billing_portal_configuration(
        &self,
        _: &BillingPortalConfiguration,
    ) -> Result<Option<String>, PortError> {
        Err(no_key())
    }
    async fn cancel_now(&self, _: &str, _: &str) -> Result<(), PortError> {
        Err(no_key())
    }
    async fn void_invoice(&self, _: &str, _: &str) -> Result<VoidOutcome, PortError> {
        Err(no_key())
    }
    async fn make_price_tax_exclusive(&self, _: &str) -> Result<(), PortError> {
        Err(no_key())
    }
    async fn billing_portal_session(&self, _: &str, _: &str, _: &str) -> Result<String, PortError> {
        Err(no_key())
    }
}
