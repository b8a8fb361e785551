//! Voiding invoices, marking them uncollectible, paying what may be paid, and what cancelling a
//! subscription leaves of its open invoices.

mod common;

use common::Client;
use serde_json::{json, Value};
use stripe_sim::StripeSim;

/// 2025-03-01T00:00:00Z
const MARCH_1: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

fn events_of(sim: &StripeSim, kind: &str, id: &str) -> Vec<Value> {
    sim.events().into_iter().filter(|e| e["type"] == kind && e["data"]["object"]["id"] == id).collect()
}

/// A timestamp within a few seconds of `now` (the clock runs in real time).
fn near(t: &Value, now: i64) -> bool {
    t.as_i64().is_some_and(|t| (t - now).abs() <= 5)
}

/// A subscription whose renewal was declined: (customer, subscription, paid first invoice, open
/// renewal invoice).
async fn past_due(sim: &StripeSim, c: &Client) -> (String, String, String, String) {
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (cus, sub) = c.subscription(&price, 2).await;
    let sub = sub["id"].as_str().unwrap().to_string();
    let first = sim.invoices_of(&sub)[0]["id"].as_str().unwrap().to_string();
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    sim.advance(31 * DAY).await;
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "past_due");
    let open = sim.invoices_of(&sub).last().cloned().unwrap();
    assert_eq!(open["status"], "open");
    assert_eq!(open["auto_advance"], true);
    (cus, sub, first, open["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn void_an_open_invoice_and_it_can_no_longer_be_paid() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let (_, _, first, open) = past_due(&sim, &c).await;
    let due = sim.invoice(&open).unwrap()["amount_due"].clone();

    let (s, v) = c.post(&format!("/v1/invoices/{open}/void"), &[]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "void");
    assert_eq!(v["amount_remaining"], 0);
    assert_eq!(v["amount_due"], due);
    assert_eq!(v["auto_advance"], false);
    assert!(near(&v["status_transitions"]["voided_at"], sim.now()), "{v}");
    assert_eq!(events_of(&sim, "invoice.voided", &open).len(), 1);
    assert_eq!(sim.invoice(&open).unwrap()["status"], "void");

    // Void is final: no second void, no marking, no payment (API or control helper).
    let (s, e) = c.post(&format!("/v1/invoices/{open}/void"), &[]).await;
    assert_eq!((s, e["error"]["type"].as_str()), (400, Some("invalid_request_error")), "{e}");
    let (s, _) = c.post(&format!("/v1/invoices/{open}/mark_uncollectible"), &[]).await;
    assert_eq!(s, 400);
    let (s, e) = c.post(&format!("/v1/invoices/{open}/pay"), &[("payment_method", "pm_card_visa")]).await;
    assert_eq!(s, 400, "{e}");
    assert!(sim.pay_invoice(&open, "pm_card_visa").await.is_err());
    assert_eq!(sim.invoice(&open).unwrap()["status"], "void");
    assert!(events_of(&sim, "invoice.paid", &open).is_empty());

    // A paid invoice cannot be voided or marked uncollectible.
    for op in ["void", "mark_uncollectible"] {
        let (s, e) = c.post(&format!("/v1/invoices/{first}/{op}"), &[]).await;
        assert_eq!(s, 400, "{op}: {e}");
    }
    assert_eq!(sim.invoice(&first).unwrap()["status"], "paid");

    // Unknown invoice; a parameter the operation does not have.
    let (s, e) = c.post("/v1/invoices/in_nope/void", &[]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("resource_missing")));
    let (s, e) = c.post(&format!("/v1/invoices/{first}/void"), &[("forgive", "true")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("forgive")), "{e}");
}

#[tokio::test]
async fn uncollectible_invoices_can_still_be_paid_or_voided() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let (cus, sub, _, open) = past_due(&sim, &c).await;
    let due = sim.invoice(&open).unwrap()["amount_due"].clone();

    let (s, u) =
        c.post(&format!("/v1/invoices/{open}/mark_uncollectible"), &[("expand[]", "customer")]).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["status"], "uncollectible");
    assert_eq!(u["amount_remaining"], due);
    assert_eq!(u["auto_advance"], false);
    assert!(near(&u["status_transitions"]["marked_uncollectible_at"], sim.now()), "{u}");
    assert_eq!(events_of(&sim, "invoice.marked_uncollectible", &open).len(), 1);
    let (s, _) = c.post(&format!("/v1/invoices/{open}/mark_uncollectible"), &[]).await;
    assert_eq!(s, 400);

    // A declined attempt leaves it uncollectible; a working card pays it.
    let (s, _) = c.post(&format!("/v1/invoices/{open}/pay"), &[]).await;
    assert_eq!(s, 402);
    assert_eq!(sim.invoice(&open).unwrap()["status"], "uncollectible");
    let (s, paid) = c.post(&format!("/v1/invoices/{open}/pay"), &[("payment_method", "pm_card_visa")]).await;
    assert_eq!(s, 200, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["amount_remaining"], 0);
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "active");

    // Next renewal declined again: uncollectible, then voided.
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    sim.advance(31 * DAY).await;
    let next = sim.invoices_of(&sub).last().unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(sim.invoice(&next).unwrap()["status"], "open");
    let (s, _) = c.post(&format!("/v1/invoices/{next}/mark_uncollectible"), &[]).await;
    assert_eq!(s, 200);
    let (s, v) = c.post(&format!("/v1/invoices/{next}/void"), &[]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "void");
    assert_eq!(v["amount_remaining"], 0);
    assert!(v["status_transitions"]["marked_uncollectible_at"].is_i64());
    assert!(v["status_transitions"]["voided_at"].is_i64());
}

#[tokio::test]
async fn cancelling_leaves_open_invoices_open_without_automatic_collection() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let (cus, sub, _, open) = past_due(&sim, &c).await;
    let failed = sim.events().iter().filter(|e| e["type"] == "invoice.payment_failed").count();

    let (s, gone) = c.delete(&format!("/v1/subscriptions/{sub}"), &[]).await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(gone["status"], "canceled");
    let inv = sim.invoice(&open).unwrap();
    assert_eq!((inv["status"].clone(), inv["auto_advance"].clone()), (json!("open"), json!(false)));
    assert!(events_of(&sim, "invoice.voided", &open).is_empty());
    let updated = events_of(&sim, "invoice.updated", &open);
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["previous_attributes"], json!({ "auto_advance": true }));

    // Time passes: no renewal, no new attempt; the invoice waits, still payable by hand.
    sim.set_payment_method(&cus, "pm_card_visa");
    sim.advance(62 * DAY).await;
    assert_eq!(sim.invoices_of(&sub).len(), 2);
    assert_eq!(sim.events().iter().filter(|e| e["type"] == "invoice.payment_failed").count(), failed);
    assert_eq!(sim.invoice(&open).unwrap()["status"], "open");
    sim.pay_invoice(&open, "pm_card_visa").await.unwrap();
    assert_eq!(sim.invoice(&open).unwrap()["status"], "paid");
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "canceled");

    // Cancelling again: the subscription is as good as deleted.
    let (s, e) = c.delete(&format!("/v1/subscriptions/{sub}"), &[]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("resource_missing")), "{e}");
    let (s, e) = c.delete("/v1/subscriptions/sub_nope", &[]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("resource_missing")), "{e}");
}

#[tokio::test]
async fn cancel_at_period_end_also_stops_collection() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let (_, sub, _, open) = past_due(&sim, &c).await;
    let (s, u) = c.post(&format!("/v1/subscriptions/{sub}"), &[("cancel_at_period_end", "true")]).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(sim.invoice(&open).unwrap()["auto_advance"], true);
    sim.advance(31 * DAY).await;
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "canceled");
    let inv = sim.invoice(&open).unwrap();
    assert_eq!((inv["status"].clone(), inv["auto_advance"].clone()), (json!("open"), json!(false)));
}
