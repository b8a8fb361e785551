//! Typed configuration from environment variables, read once at cold start. A missing or
//! malformed variable stops the function before it serves anything.

use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn parsed<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e: T::Err| ConfigError::Invalid(name, e.to_string())),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayConfig {
    /// The secret key is read from Secrets Manager (`STRIPE_API_KEY_SECRET_ID`), and only by
    /// the functions that call Stripe.
    Stripe { api_base: String },
    /// Local runs without a Stripe account; `OFFLINE_PAYMENT_OUTCOME=decline` makes every
    /// change's payment fail (a test setting for the pay-first path).
    Offline { payment: adapters::offline::OfflinePayment },
}

/// Everything a function of this system reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub public_base_url: String,
    pub admin_token_hash: String,
    pub mail_from: String,
    pub files_bucket: String,
    pub queue_url: String,
    pub s3_force_path_style: bool,
    pub gateway: GatewayConfig,
    pub claim_ttl_hours: i64,
    pub session_ttl_hours: i64,
    pub anonymous_requests_per_minute: u32,
    /// Injected faults (`FAULTS`), local stacks only.
    pub faults: adapters::faults::FaultSettings,
    /// The webhook sender's queue (`WEBHOOK_QUEUE_URL`).
    pub webhook_queue_url: String,
    /// `WEBHOOK_RETRY_BASE_S`, `WEBHOOK_RETRY_CAP_S`, `WEBHOOK_RETRY_WINDOW_S` (5 s, 6 h, 3 days).
    pub webhook_retry: domain::webhooks::RetryPolicy,
    /// `WEBHOOK_ALLOW_LOOPBACK=true`: plain-http endpoints on 127.0.0.1, local stacks only.
    pub webhook_allow_loopback: bool,
}

/// The offline gateway takes no payment: it runs only where AWS itself is an emulator on this
/// machine (`AWS_ENDPOINT_URL` on a loopback address), which no deployed stack can be.
pub fn require_local_stack(endpoint: Option<&str>) -> Result<(), ConfigError> {
    let local = endpoint
        .and_then(|e| url::Url::parse(e).ok())
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]" || h == "::1");
    if local {
        Ok(())
    } else {
        Err(ConfigError::Invalid(
            "PAYMENT_GATEWAY",
            "\"offline\" takes no payment and runs only against a local emulator (AWS_ENDPOINT_URL on 127.0.0.1)".into(),
        ))
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        // The admin token is stored as its SHA-256 (ADMIN_TOKEN_SHA256); ADMIN_TOKEN is
        // accepted for local runs and hashed here, never kept.
        let admin_token_hash = match (optional("ADMIN_TOKEN_SHA256"), optional("ADMIN_TOKEN")) {
            (Some(h), _) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                h.to_ascii_lowercase()
            }
            (Some(_), _) => {
                return Err(ConfigError::Invalid("ADMIN_TOKEN_SHA256", "must be 64 hex digits".into()))
            }
            (None, Some(t)) => hex::encode(Sha256::digest(t.as_bytes())),
            (None, None) => return Err(ConfigError::Missing("ADMIN_TOKEN_SHA256")),
        };
        let gateway = match optional("PAYMENT_GATEWAY").as_deref().unwrap_or("stripe") {
            "stripe" => GatewayConfig::Stripe {
                api_base: optional("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".into()),
            },
            "offline" => {
                require_local_stack(optional("AWS_ENDPOINT_URL").as_deref())?;
                GatewayConfig::Offline {
                    payment: match optional("OFFLINE_PAYMENT_OUTCOME") {
                        None => Default::default(),
                        Some(v) => adapters::offline::OfflinePayment::parse(&v).ok_or_else(|| {
                            ConfigError::Invalid(
                                "OFFLINE_PAYMENT_OUTCOME",
                                format!("{v:?} is neither \"succeed\" nor \"decline\""),
                            )
                        })?,
                    },
                }
            }
            other => {
                return Err(ConfigError::Invalid(
                    "PAYMENT_GATEWAY",
                    format!("{other:?} is neither \"stripe\" nor \"offline\""),
                ))
            }
        };
        let faults = adapters::faults::FaultSettings::parse(&optional("FAULTS").unwrap_or_default())
            .map_err(|e| ConfigError::Invalid("FAULTS", e))?;
        if !faults.is_off() {
            require_local_stack(optional("AWS_ENDPOINT_URL").as_deref()).map_err(|_| {
                ConfigError::Invalid("FAULTS", "injects faults only into a local emulator".into())
            })?;
        }
        let webhook_allow_loopback = parsed("WEBHOOK_ALLOW_LOOPBACK", false)?;
        if webhook_allow_loopback {
            require_local_stack(optional("AWS_ENDPOINT_URL").as_deref()).map_err(|_| {
                ConfigError::Invalid("WEBHOOK_ALLOW_LOOPBACK", "is for local stacks only".into())
            })?;
        }
        let defaults = domain::webhooks::RetryPolicy::default();
        let webhook_retry = domain::webhooks::RetryPolicy {
            base_s: parsed("WEBHOOK_RETRY_BASE_S", defaults.base_s)?.max(1),
            cap_s: parsed("WEBHOOK_RETRY_CAP_S", defaults.cap_s)?.max(1),
            window_s: parsed("WEBHOOK_RETRY_WINDOW_S", defaults.window_s)?.max(1),
        };
        let public_base_url = required("PUBLIC_BASE_URL")?;
        if url::Url::parse(&public_base_url).is_err() {
            return Err(ConfigError::Invalid("PUBLIC_BASE_URL", "must be an absolute URL".into()));
        }
        Ok(Config {
            table_name: required("TABLE_NAME")?,
            public_base_url,
            admin_token_hash,
            mail_from: required("MAIL_FROM")?,
            files_bucket: required("FILES_BUCKET")?,
            queue_url: required("QUEUE_URL")?,
            s3_force_path_style: parsed("S3_FORCE_PATH_STYLE", false)?,
            gateway,
            claim_ttl_hours: parsed("CLAIM_TTL_HOURS", 72)?,
            session_ttl_hours: parsed("SESSION_TTL_HOURS", 12)?,
            anonymous_requests_per_minute: parsed("ANONYMOUS_REQUESTS_PER_MINUTE", 120)?,
            faults,
            webhook_queue_url: required("WEBHOOK_QUEUE_URL")?,
            webhook_retry,
            webhook_allow_loopback,
        })
    }
}

#[cfg(test)]
mod local_stack_tests {
    use super::require_local_stack;

    #[test]
    fn the_offline_gateway_runs_only_against_a_local_emulator() {
        for local in ["http://127.0.0.1:4566", "http://localhost:5000", "http://[::1]:9000"] {
            assert!(require_local_stack(Some(local)).is_ok(), "{local}");
        }
        for deployed in [
            None,
            Some("https://dynamodb.us-east-1.amazonaws.com"),
            Some("http://10.0.0.5:4566"),
            Some("not a url"),
        ] {
            assert!(require_local_stack(deployed).is_err(), "{deployed:?}");
        }
    }
}
