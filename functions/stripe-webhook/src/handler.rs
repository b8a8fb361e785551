//! `POST /v1/webhooks/stripe`: verify the signature over the raw body first, then let the
//! domain apply the event once, in order.

use adapters::stripe::webhook::{parse_event, verify, TOLERANCE_S};
use domain::events::PaymentEventKind;
use domain::services::{billing_events, App};
use http_kit::response::ok;
use http_kit::router::Access::Signed;
use http_kit::{serve, ApiError, Route};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;

pub struct Webhook {
    pub app: App,
    /// The endpoint's signing secret (`whsec_…`).
    pub secret: String,
}

fn kind_name(k: &PaymentEventKind) -> &str {
    match k {
        PaymentEventKind::CheckoutCompleted { .. } => "checkout.session.completed",
        PaymentEventKind::SubscriptionUpdated { .. } => "customer.subscription.updated",
        PaymentEventKind::SubscriptionDeleted { .. } => "customer.subscription.deleted",
        PaymentEventKind::PendingUpdateExpired { .. } => "customer.subscription.pending_update_expired",
        PaymentEventKind::InvoicePaid { .. } => "invoice.paid",
        PaymentEventKind::InvoicePaymentFailed { .. } => "invoice.payment_failed",
        PaymentEventKind::Ignored { event_type } => event_type,
    }
}

pub async fn handle(state: &Webhook, req: Request) -> Result<Response<Body>, Error> {
    let app = &state.app;
    let routes = [Route::new(Method::POST, "/v1/webhooks/stripe", (), Signed, false)];
    serve(app, req, &routes, |_, ctx| async move {
        let header = ctx.header("stripe-signature").unwrap_or_default();
        if let Err(reason) = verify(&ctx.body, header, &state.secret, app.clock.now().timestamp(), TOLERANCE_S) {
            tracing::warn!(reason = %reason, metric = "webhook_signature_failure", "webhook signature rejected");
            return Err(ApiError::invalid(
                Some("Stripe-Signature"),
                "the webhook signature could not be verified",
            ));
        }
        let event = parse_event(&ctx.body).map_err(|e| ApiError::invalid(None, e.to_string()))?;
        let outcome = billing_events::handle(app, &event).await?;
        tracing::info!(
            event_id = %event.id,
            event_type = kind_name(&event.kind),
            outcome = outcome.as_str(),
            metric = "webhook_events",
            "webhook event"
        );
        ok(&json!({ "received": true, "outcome": outcome.as_str() }))
    })
    .await
}
