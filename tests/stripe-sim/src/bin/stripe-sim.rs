//! Runs the Stripe simulator until Ctrl-C.
//!
//! Env: `STRIPE_SIM_PORT` (default: a free one), `STRIPE_SIM_WEBHOOK_URL` and
//! `STRIPE_WEBHOOK_SECRET` (webhook endpoint and its secret; or later by
//! `POST /_sim/webhook?url=…&secret=…`).
//! Control: `POST /_sim/checkout/{cs_id}/complete?payment_method=pm_card_visa`,
//! `POST /_sim/advance?secs=86400`, `POST /_sim/payment_method?customer=cus_…&payment_method=…`,
//! `POST /_sim/redeliver`, `GET /_sim/now`, `GET /_sim/events`. A checkout's `url` and an
//! invoice's `hosted_invoice_url` are pages with a button that pays them; an invoice's
//! `invoice_pdf` is a one-page PDF; a portal session's `url` is a page listing the customer's
//! subscriptions and invoices with a link to its `return_url`.

use stripe_sim::StripeSim;

#[tokio::main]
async fn main() {
    let port = std::env::var("STRIPE_SIM_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    let sim = StripeSim::start_on(port).await;
    if let Ok(url) = std::env::var("STRIPE_SIM_WEBHOOK_URL") {
        let secret = std::env::var("STRIPE_WEBHOOK_SECRET").unwrap_or_else(|_| "whsec_sim".to_string());
        sim.set_webhook(&url, &secret);
        eprintln!("stripe-sim: webhooks go to {url}");
    }
    println!("STRIPE_API_BASE={}", sim.base_url());
    eprintln!("stripe-sim: API key {}", StripeSim::SECRET_KEY);
    let _ = tokio::signal::ctrl_c().await;
}
