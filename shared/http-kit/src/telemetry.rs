//! Structured JSON logs, one line per event, with the Lambda request id attached by the
//! runtime's span; and CloudWatch metrics in Embedded Metric Format.
//!
//! The domain marks an event as a metric with a `metric` field (`seats_assigned`,
//! `grants_failed`, …); the [`EmfLayer`] turns each such event into an EMF line, so the domain
//! stays free of CloudWatch while every count reaches it. Secrets never reach a log line:
//! handlers log ids and route patterns, never bodies, headers, tokens or paths.

use serde_json::{json, Map, Value};
use std::io::Write;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

pub const NAMESPACE: &str = "SeatBilling";

/// Fields that become metric dimensions when an event carries them.
const DIMENSIONS: &[&str] = &["event_type", "outcome"];

#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), Value::String(format!("{value:?}")));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), json!(value));
    }
}

/// Prints one EMF document per event that has a `metric` field.
pub struct EmfLayer {
    function: String,
}

impl EmfLayer {
    pub fn new(function: impl Into<String>) -> Self {
        EmfLayer { function: function.into() }
    }

    /// The EMF document for a metric event, or `None` for an ordinary event.
    pub fn document(&self, fields: &Map<String, Value>, timestamp_ms: i64) -> Option<Value> {
        let metric = fields.get("metric")?.as_str()?.to_string();
        let mut dimensions = vec!["Function".to_string()];
        let mut doc = Map::new();
        doc.insert("Function".into(), json!(self.function));
        for d in DIMENSIONS {
            if let Some(v) = fields.get(*d).and_then(Value::as_str) {
                let name = d.split('_').map(capitalize).collect::<String>();
                doc.insert(name.clone(), json!(v));
                dimensions.push(name);
            }
        }
        doc.insert(metric.clone(), json!(1));
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": [{ "Name": metric, "Unit": "Count" }],
                }],
            }),
        );
        Some(Value::Object(doc))
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl<S: Subscriber> Layer<S> for EmfLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        if let Some(doc) = self.document(&fields.0, now) {
            let _ = writeln!(std::io::stdout(), "{doc}");
        }
    }
}

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_target(false);
    let _ = tracing_subscriber::registry().with(filter).with(logs).with(EmfLayer::new(function)).try_init();
}

#[cfg(test)]
#[path = "telemetry_tests.rs"]
mod tests;
