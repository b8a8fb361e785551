//! The web pages of the system, served by one function: the checkout, the local test payment
//! page (offline gateway only), the billing manager's portal, the seat holder's claim and
//! benefits pages, and the merchant dashboard. They are static files and small ES modules
//! compiled into the binary; they call the `/v1` API with `fetch` and hold no billing logic.

pub mod assets;
pub mod config;
pub mod handler;
pub mod test_payment;
