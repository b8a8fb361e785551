//! What the pages' function reads from its environment, once, failing fast.

use http_kit::config::{optional, required, ConfigError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// The deployment's origin: the pages and the `/v1` API live under it.
    pub public_base_url: String,
    /// Only with the offline gateway: the local test payment page, which signs the
    /// `checkout.session.completed` event as Stripe would. `None` with the real Stripe gateway,
    /// and then the page does not exist.
    pub test_payments: Option<TestPayments>,
    /// The origin the dashboard uploads benefit files to (the presigned S3 PUT), allowed by
    /// the Content-Security-Policy beside the pages' own origin.
    pub upload_origin: Option<String>,
    /// The offline gateway is on: the test payment page needs the webhook's secret.
    pub offline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPayments {
    pub webhook_secret: String,
}

fn origin_of(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url =
        url::Url::parse(raw).map_err(|_| ConfigError::Invalid(name, "must be an absolute URL".into()))?;
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Ok(origin.ascii_serialization()),
        url::Origin::Opaque(_) => Err(ConfigError::Invalid(name, "must be an http(s) URL".into())),
    }
}

impl WebConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let public_base_url = required("PUBLIC_BASE_URL")?;
        origin_of("PUBLIC_BASE_URL", &public_base_url)?;
        let offline = match optional("PAYMENT_GATEWAY").as_deref().unwrap_or("stripe") {
            "stripe" => false,
            "offline" => {
                http_kit::config::require_local_stack(optional("AWS_ENDPOINT_URL").as_deref())?;
                true
            }
            other => {
                return Err(ConfigError::Invalid(
                    "PAYMENT_GATEWAY",
                    format!("{other:?} is neither \"stripe\" nor \"offline\""),
                ))
            }
        };
        // Where presigned S3 URLs point: an explicit origin, the emulator's endpoint, or the
        // bucket's regional S3 host (virtual-hosted or path style, as the presigner signs).
        let upload_origin = if let Some(o) = optional("FILES_UPLOAD_ORIGIN") {
            Some(origin_of("FILES_UPLOAD_ORIGIN", &o)?)
        } else if let Some(e) = optional("AWS_ENDPOINT_URL_S3").or_else(|| optional("AWS_ENDPOINT_URL")) {
            Some(origin_of("AWS_ENDPOINT_URL", &e)?)
        } else {
            match (optional("FILES_BUCKET"), optional("AWS_REGION")) {
                (Some(_), Some(region)) if optional("S3_FORCE_PATH_STYLE").as_deref() == Some("true") => {
                    Some(format!("https://s3.{region}.amazonaws.com"))
                }
                (Some(bucket), Some(region)) => Some(format!("https://{bucket}.s3.{region}.amazonaws.com")),
                _ => None,
            }
        };
        Ok(WebConfig {
            public_base_url: public_base_url.trim_end_matches('/').to_string(),
            test_payments: None,
            upload_origin,
            offline,
        })
    }

    /// Everything, the test payment page's secret included (read from Secrets Manager, and
    /// only with the offline gateway: with Stripe this function holds no secret).
    pub async fn load() -> Result<Self, ConfigError> {
        let mut config = Self::from_env()?;
        if config.offline {
            let webhook_secret = http_kit::bootstrap::secret("STRIPE_WEBHOOK_SECRET_ID").await?;
            config.test_payments = Some(TestPayments { webhook_secret });
        }
        Ok(config)
    }
}
