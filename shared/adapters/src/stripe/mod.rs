//! Stripe: the gateway (a real HTTP client of Stripe's API) and webhook verification.
//!
//! The gateway is written against Stripe's form-encoded REST API with reqwest rather than a
//! generated SDK: it needs a dozen endpoints, and async-stripe's generated crates add minutes
//! to every clean build of every function. Its forms are checked against Stripe's published
//! OpenAPI description (tests/stripe-openapi) and exercised against a stateful simulator.

pub mod events;
pub mod forms;
pub mod gateway;
pub mod objects;
pub mod webhook;

pub use gateway::StripeGateway;
