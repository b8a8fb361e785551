//! Stripe: the gateway (a real HTTP client of Stripe's API) and webhook verification.
//!
//! The gateway is written against Stripe's form-encoded REST API with reqwest rather than a
//! generated SDK: it needs four endpoints, and async-stripe's generated crates add minutes
//! to every clean build of every function.

pub mod events;
pub mod gateway;
pub mod webhook;

pub use gateway::StripeGateway;
