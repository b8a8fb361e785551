//! What every HTTP function shares: configuration from the environment (fails fast), the AWS
//! clients built once, authentication, body parsing, routing, `Idempotency-Key`, one
//! `ApiError` → response mapping in the API's error shape, and tracing.

pub mod bootstrap;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod request;
pub mod response;
pub mod router;
pub mod telemetry;

pub use error::ApiError;
pub use request::Ctx;
pub use response::{json, ApiResult};
pub use router::{serve, Route};
