//! The webhook sender's work: fan an announced change out to the endpoints that want it (one
//! delivery each, made once whoever dispatches), attempt a delivery (signed, 10 s), and on a
//! failure schedule the next attempt with backoff until the window closes. The sweeper finds
//! what a lost message or a long wait left behind.

use crate::error::DomainError;
use crate::ports::{PostOutcome, WebhookPoster};
use crate::services::App;
use crate::webhooks::*;
use chrono::{DateTime, Duration, Utc};

/// SQS holds a message back at most this long; longer waits are the sweeper's.
const MAX_QUEUE_DELAY_S: i64 = 900;
/// Work the sweeper re-sends is this stale: a message in flight is never doubled.
pub const SWEEP_STALE_S: i64 = 60;

/// Makes the deliveries of one audit entry's events, then sends them. Safe to run twice.
pub async fn dispatch(app: &App, subscription_id: &str, audit_id: &str) -> Result<usize, DomainError> {
    let Some(entry) = app.store.audit_event_with_outgoing(subscription_id, audit_id).await? else {
        return Ok(0);
    };
    let mut endpoints_of: std::collections::HashMap<String, Vec<WebhookEndpoint>> = Default::default();
    let mut messages = Vec::new();
    for event in &entry.outgoing {
        if !endpoints_of.contains_key(&event.organization_id) {
            let found = app.store.webhook_endpoints(&event.organization_id).await?;
            endpoints_of.insert(event.organization_id.clone(), found);
        }
        let endpoints = endpoints_of.get(&event.organization_id).map(Vec::as_slice).unwrap_or_default();
        for endpoint in endpoints.iter().filter(|e| !e.disabled && e.wants(&event.kind)) {
            let delivery = new_delivery(app, endpoint, event);
            // An existing one was made by an earlier dispatch: its message was sent then, or
            // the sweeper sends it.
            if app.store.put_webhook_delivery(&delivery).await? {
                messages.push(deliver_message(&delivery));
            }
        }
    }
    app.store.mark_events_dispatched(subscription_id, audit_id).await?;
    let made = messages.len();
    if !messages.is_empty() {
        if let Err(e) = app.webhooks.send(&messages, 0).await {
            tracing::warn!(error = %e, "deliveries not sent now; the sweeper sends them");
        }
    }
    Ok(made)
}

pub(super) fn new_delivery(app: &App, endpoint: &WebhookEndpoint, event: &OutgoingEvent) -> WebhookDelivery {
    let now = app.clock.now();
    WebhookDelivery {
        id: delivery_id(&event.id),
        endpoint_id: endpoint.id.clone(),
        organization_id: endpoint.organization_id.clone(),
        event_id: event.id.clone(),
        event_type: event.kind.clone(),
        payload: event.payload(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_response_code: None,
        last_error: None,
        last_attempt_at: None,
        next_attempt_at: Some(now),
        window_started_at: now,
        window_first_failure_at: None,
        delivered_at: None,
        created_at: now,
        revision: 1,
    }
}

pub(super) fn deliver_message(d: &WebhookDelivery) -> WebhookMessage {
    WebhookMessage::Deliver {
        organization_id: d.organization_id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        delivery_id: d.id.clone(),
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    Delivered,
    /// Failed; tried again in this many seconds.
    RetryIn(i64),
    /// Failed for good (the window closed, or the endpoint is gone or disabled).
    GaveUp,
    /// Nothing to do: done already, not due yet (a duplicate message), or recorded by another worker.
    Skipped,
}

/// One attempt of a delivery. `jitter` in [0.75, 1.25] spreads the retries of many failures.
pub async fn attempt(
    app: &App,
    poster: &dyn WebhookPoster,
    organization_id: &str,
    endpoint_id: &str,
    delivery_id: &str,
    jitter: f64,
) -> Result<Attempted, DomainError> {
    let Some(mut d) = app.store.webhook_delivery(endpoint_id, delivery_id).await? else {
        return Ok(Attempted::Skipped);
    };
    let now = app.clock.now();
    let early = d.next_attempt_at.is_some_and(|t| t > now + Duration::seconds(1));
    if d.status != DeliveryStatus::Pending || early || d.organization_id != organization_id {
        return Ok(Attempted::Skipped);
    }
    let endpoint = app.store.webhook_endpoint(organization_id, endpoint_id).await?;
    let endpoint = match endpoint {
        Some(e) if !e.disabled => e,
        gone => {
            let why = if gone.is_some() { "the endpoint is disabled" } else { "the endpoint was deleted" };
            d.status = DeliveryStatus::Failed;
            d.last_error = Some(why.into());
            d.next_attempt_at = None;
            d.revision += 1;
            app.store.replace_webhook_delivery(&d).await?;
            return Ok(Attempted::GaveUp);
        }
    };
    let timestamp = now.timestamp();
    let signature = signature_header(&endpoint.signing_secrets(now), &d.event_id, timestamp, &d.payload);
    let headers = [
        ("content-type", "application/json".to_string()),
        ("webhook-id", d.event_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    let outcome = poster.post(&endpoint.url, &headers, &d.payload).await;
    // The answer came after up to 10 s: the record says when it was known.
    let after = app.clock.now();
    d.attempts += 1;
    d.last_attempt_at = Some(after);
    d.revision += 1;
    let delivered = match &outcome {
        PostOutcome::Answered(code) => {
            d.last_response_code = Some(*code);
            d.last_error = None;
            (200..300).contains(code)
        }
        PostOutcome::NoAnswer(why) => {
            d.last_response_code = None;
            d.last_error = Some(why.chars().take(200).collect());
            false
        }
    };
    if delivered {
        d.status = DeliveryStatus::Succeeded;
        d.delivered_at = Some(after);
        d.next_attempt_at = None;
        if !app.store.replace_webhook_delivery(&d).await? {
            return Ok(Attempted::Skipped);
        }
        if endpoint.failing_since.is_some() {
            app.store.mark_endpoint_healthy(organization_id, endpoint_id).await?;
        }
        tracing::info!(delivery_id = %d.id, endpoint_id, attempts = d.attempts, metric = "webhooks_delivered", "webhook delivered");
        return Ok(Attempted::Delivered);
    }
    d.window_first_failure_at.get_or_insert(after);
    let policy = app.settings.webhook_retry;
    let delay = policy.delay_s(d.attempts, jitter);
    let window_ends = d.window_started_at + Duration::seconds(policy.window_s);
    let next = after + Duration::seconds(delay);
    let result = if next > window_ends {
        d.status = DeliveryStatus::Failed;
        d.next_attempt_at = None;
        Attempted::GaveUp
    } else {
        d.next_attempt_at = Some(next);
        Attempted::RetryIn(delay)
    };
    if !app.store.replace_webhook_delivery(&d).await? {
        return Ok(Attempted::Skipped);
    }
    // Failed for good with no success on the endpoint since it began failing: the endpoint
    // has failed for a whole window.
    let whole_window = matches!(result, Attempted::GaveUp)
        && endpoint.failing_since.zip(d.window_first_failure_at).is_some_and(|(since, first)| since <= first);
    endpoint_failed(app, &endpoint, after, whole_window).await?;
    match result {
        Attempted::GaveUp => {
            tracing::error!(delivery_id = %d.id, endpoint_id, attempts = d.attempts, metric = "webhook_deliveries_failed", "webhook delivery failed for good")
        }
        _ => {
            tracing::warn!(delivery_id = %d.id, endpoint_id, attempts = d.attempts, retry_in_s = delay, "webhook attempt failed")
        }
    }
    if let Attempted::RetryIn(delay) = result {
        if delay <= MAX_QUEUE_DELAY_S {
            if let Err(e) = app.webhooks.send(&[deliver_message(&d)], delay as u32).await {
                tracing::warn!(delivery_id = %d.id, error = %e, "retry not queued; the sweeper sends it");
            }
        }
    }
    Ok(result)
}

/// A failed attempt: the endpoint is failing since now, unless it was already. Failing for a
/// whole window (by the clock, or a delivery that gave up with no success in between) disables
/// it, and the one call that disabled it tells the merchant.
async fn endpoint_failed(
    app: &App,
    endpoint: &WebhookEndpoint,
    now: DateTime<Utc>,
    whole_window: bool,
) -> Result<(), DomainError> {
    let Some(since) = endpoint.failing_since else {
        app.store.mark_endpoint_failing(&endpoint.organization_id, &endpoint.id, now).await?;
        return Ok(());
    };
    if !whole_window && now < since + Duration::seconds(app.settings.webhook_retry.window_s) {
        return Ok(());
    }
    let reason = format!("every attempt failed since {}", since.to_rfc3339());
    if !app.store.disable_webhook_endpoint(&endpoint.organization_id, &endpoint.id, &reason, now).await? {
        return Ok(());
    }
    tracing::error!(endpoint_id = %endpoint.id, organization_id = %endpoint.organization_id, metric = "webhook_endpoints_disabled", "webhook endpoint disabled");
    let org = app.store.organization(&endpoint.organization_id).await?;
    match org.as_ref().and_then(|o| o.email.clone()) {
        Some(to) => {
            let mail = crate::ports::OutgoingEmail {
                to,
                subject: "A webhook endpoint was disabled".into(),
                text: format!(
                    "Hello,\n\nThe webhook endpoint {} ({}) has been disabled: {reason}.\n\n\
                     Fix the receiver, enable the endpoint again (PATCH {{\"disabled\": false}}), \
                     and retry the failed deliveries from the dashboard.\n",
                    endpoint.id, endpoint.url
                ),
            };
            // Told once: a mail that fails is logged, the endpoint stays disabled.
            if let Err(e) = app.mailer.send(&mail).await {
                tracing::error!(endpoint_id = %endpoint.id, error = %e, "the merchant was not told of the disabled endpoint");
            }
        }
        None => tracing::warn!(endpoint_id = %endpoint.id, "the organization has no email to tell"),
    }
    Ok(())
}

/// What the sweeper did for webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookSweep {
    pub dispatched: usize,
    pub resent: usize,
}

/// Dispatches what was announced but never dispatched, and re-sends due deliveries no message
/// carries (a lost send, or a wait longer than the queue holds one).
pub async fn sweep(app: &App, stale_s: i64) -> Result<WebhookSweep, DomainError> {
    let now = app.clock.now();
    let mut out = WebhookSweep::default();
    let dispatches: Vec<WebhookMessage> = app
        .store
        .undispatched_events(now.timestamp() - stale_s, 200)
        .await?
        .into_iter()
        .map(|(subscription_id, audit_id)| WebhookMessage::Dispatch { subscription_id, audit_id })
        .collect();
    // In batches; a send that fails leaves its work where the next sweep finds it again.
    match app.webhooks.send(&dispatches, 0).await {
        Ok(()) => out.dispatched = dispatches.len(),
        Err(e) => tracing::warn!(error = %e, "undispatched events not sent; the next sweep sends them"),
    }
    let mut deliveries = Vec::new();
    for mut d in app.store.due_webhook_deliveries(now.timestamp() - stale_s, 500).await? {
        // Due again (a sweep later) only if this message is lost too.
        d.next_attempt_at = Some(now);
        d.revision += 1;
        if app.store.replace_webhook_delivery(&d).await? {
            deliveries.push(deliver_message(&d));
        }
    }
    match app.webhooks.send(&deliveries, 0).await {
        Ok(()) => out.resent = deliveries.len(),
        Err(e) => tracing::warn!(error = %e, "due deliveries not sent; the next sweep sends them"),
    }
    Ok(out)
}
