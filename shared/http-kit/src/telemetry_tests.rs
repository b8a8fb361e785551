//! Tests of `telemetry`, kept beside it.

use super::*;

#[test]
fn metric_events_become_emf_documents() {
    let layer = EmfLayer::new("stripe-webhook");
    let mut fields = Map::new();
    fields.insert("metric".into(), json!("webhook_events"));
    fields.insert("event_type".into(), json!("invoice.paid"));
    fields.insert("outcome".into(), json!("applied"));
    let doc = layer.document(&fields, 1_700_000_000_000).expect("a metric");
    assert_eq!(doc["webhook_events"], json!(1));
    assert_eq!(doc["EventType"], json!("invoice.paid"));
    assert_eq!(doc["Outcome"], json!("applied"));
    assert_eq!(doc["Function"], json!("stripe-webhook"));
    let directive = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], json!("SeatBilling"));
    assert_eq!(directive["Dimensions"], json!([["Function", "EventType", "Outcome"]]));
    assert_eq!(directive["Metrics"][0]["Name"], json!("webhook_events"));
    fields.remove("metric");
    assert!(layer.document(&fields, 0).is_none(), "ordinary events are not metrics");
}
