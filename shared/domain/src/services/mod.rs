//! The use cases. Each takes the [`App`] (ports + settings), the authenticated [`Principal`]
//! and a validated input, and returns a view or a [`DomainError`].

pub mod audit;
pub mod auth;
pub mod batch;
pub mod benefits;
pub mod billing_details;
pub mod billing_events;
mod billing_state;
pub mod catalogue;
pub mod changes;
mod checkout_completion;
pub mod claims;
pub mod dunning;
pub mod grow;
pub mod invitations;
pub mod invoices;
pub mod license_keys;
pub mod limits;
pub mod lists;
pub mod managers;
pub mod portal;
pub mod purchase;
pub mod seats;
pub mod suspension;
pub mod sweeper;
pub mod webhooks;

use crate::ports::{Clock, FileStore, JobQueue, Mailer, PaymentGateway, Store, WebhookQueue};
use std::sync::Arc;

pub use auth::Principal;

/// Durations and addresses the use cases need, read from the environment by the HTTP kit.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where people open links from emails (the portal's and claim pages' origin).
    pub public_base_url: String,
    /// SHA-256 of the operator's admin token.
    pub admin_token_hash: String,
    pub session_ttl_s: i64,
    pub sign_in_code_ttl_s: i64,
    pub claim_ttl_s: i64,
    pub checkout_ttl_s: i64,
    pub upload_url_ttl_s: u64,
    pub download_url_ttl_s: u64,
    /// Anonymous requests a minute from one address.
    pub anonymous_requests_per_minute: u32,
    /// How failed webhook attempts are retried (3 days deployed; compressed in tests).
    pub webhook_retry: crate::webhooks::RetryPolicy,
    /// Plain-http webhook endpoints on 127.0.0.1 (local stacks only).
    pub webhook_allow_loopback: bool,
}

impl Settings {
    pub fn with_defaults(public_base_url: &str, admin_token_hash: &str) -> Self {
        Settings {
            public_base_url: public_base_url.trim_end_matches('/').to_string(),
            admin_token_hash: admin_token_hash.to_string(),
            session_ttl_s: 12 * 3600,
            sign_in_code_ttl_s: 15 * 60,
            claim_ttl_s: 72 * 3600,
            checkout_ttl_s: 24 * 3600,
            upload_url_ttl_s: 15 * 60,
            download_url_ttl_s: 5 * 60,
            anonymous_requests_per_minute: 120,
            webhook_retry: crate::webhooks::RetryPolicy::default(),
            webhook_allow_loopback: false,
        }
    }
}

/// The ports a function was wired with. Functions build it once at cold start.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub payments: Arc<dyn PaymentGateway>,
    pub files: Arc<dyn FileStore>,
    pub jobs: Arc<dyn JobQueue>,
    /// The webhook sender's queue.
    pub webhooks: Arc<dyn WebhookQueue>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}
