//! The seat billing domain.
//!
//! Entities, money, the seat rules and the use cases, written against small port traits
//! ([`ports`]) so that the same code runs over DynamoDB/SES/SQS/Stripe in Lambda and over
//! the in-memory fakes in [`memory`] in unit tests. Nothing here knows about AWS or Lambda.

pub mod error;
pub mod events;
pub mod ids;
pub mod memory;
pub mod model;
mod model_invoices;
mod model_seats;
pub mod period;
pub mod ports;
mod ports_payments;
mod ports_suspension;
mod ports_team;
mod ports_webhooks;
pub mod proration;
pub mod secrets;
pub mod services;
pub mod validate;
pub mod views;
pub mod webhooks;

pub use error::{DomainError, StoreError};
