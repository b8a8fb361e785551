//! Automatic retries of declined subscription invoices, and what the subscription becomes when
//! the last retry fails (`past_due`, `unpaid`, `canceled`).

mod common;

use common::{Client, Receiver, SECRET};
use serde_json::{json, Value};
use stripe_sim::StripeSim;

/// 2025-03-01T00:00:00Z
const MARCH_1: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

fn events_of(sim: &StripeSim, kind: &str, id: &str) -> Vec<Value> {
    sim.events().into_iter().filter(|e| e["type"] == kind && e["data"]["object"]["id"] == id).collect()
}

/// A subscription (2 × 1000) whose April renewal was declined: (customer, subscription, open
/// renewal invoice).
async fn declined_renewal(sim: &StripeSim, c: &Client) -> (String, String, Value) {
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (cus, sub) = c.subscription(&price, 2).await;
    let sub = sub["id"].as_str().unwrap().to_string();
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    sim.advance(31 * DAY).await;
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "past_due");
    let inv = sim.invoices_of(&sub).last().cloned().unwrap();
    assert_eq!(inv["billing_reason"], "subscription_cycle");
    assert_eq!(inv["status"], "open");
    (cus, sub, inv)
}

#[tokio::test]
async fn declined_renewal_is_retried_on_schedule_and_paid_after_the_card_changes() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    let (cus, sub, inv) = declined_renewal(&sim, &c).await;
    let id = inv["id"].as_str().unwrap().to_string();
    let t0 = inv["created"].as_i64().unwrap();

    // The first attempt failed: the first retry is 3 days later (default schedule 3, 5, 7).
    assert_eq!(inv["attempt_count"], 1);
    assert_eq!(inv["next_payment_attempt"], t0 + 3 * DAY);
    let failed = rx.of_type("invoice.payment_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["object"]["next_payment_attempt"], t0 + 3 * DAY);
    let (s, got) = c.get(&format!("/v1/invoices/{id}")).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["next_payment_attempt"], t0 + 3 * DAY);

    // Not due yet.
    sim.advance(2 * DAY).await;
    assert_eq!(rx.of_type("invoice.payment_failed").len(), 1);

    // Day 3: the retry fails again; the next one is 5 days after it.
    sim.advance(DAY + 60).await;
    let failed = rx.of_type("invoice.payment_failed");
    assert_eq!(failed.len(), 2);
    let second = &failed[1];
    assert_eq!(second["created"], t0 + 3 * DAY);
    assert_eq!(second["data"]["object"]["attempt_count"], 2);
    assert_eq!(second["data"]["object"]["next_payment_attempt"], t0 + 8 * DAY);
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "past_due");

    // The customer fixes the card: the day-8 retry charges the new default payment method.
    sim.set_payment_method(&cus, "pm_card_visa");
    let updates_before = rx.of_type("customer.subscription.updated").len();
    sim.advance(5 * DAY).await;
    let paid = sim.invoice(&id).unwrap();
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["attempt_count"], 3);
    assert_eq!(paid["next_payment_attempt"], Value::Null);
    assert_eq!(paid["amount_paid"], 2000);
    assert_eq!(paid["status_transitions"]["paid_at"], t0 + 8 * DAY);
    assert_eq!(events_of(&sim, "invoice.paid", &id).len(), 1);
    assert_eq!(events_of(&sim, "invoice.payment_succeeded", &id).len(), 1);
    assert_eq!(rx.of_type("invoice.payment_failed").len(), 2);
    let updates = rx.of_type("customer.subscription.updated");
    assert_eq!(updates.len(), updates_before + 1);
    let last = updates.last().unwrap();
    assert_eq!(last["data"]["object"]["status"], "active");
    assert_eq!(last["data"]["previous_attributes"]["status"], "past_due");
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "active");

    // Nothing more happens to it.
    sim.advance(10 * DAY).await;
    assert_eq!(rx.of_type("invoice.payment_failed").len(), 2);
    assert_eq!(sim.invoice(&id).unwrap()["attempt_count"], 3);
}

#[tokio::test]
async fn all_retries_fail_and_the_subscription_becomes_unpaid() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    sim.set_retries_exhausted_action("unpaid");
    let c = Client::new(&sim);
    let (_, sub, inv) = declined_renewal(&sim, &c).await;
    let id = inv["id"].as_str().unwrap().to_string();
    let t0 = inv["created"].as_i64().unwrap();

    // Retries on days 3, 8 and 15 all fail; the last one has no next attempt.
    sim.advance(15 * DAY + 60).await;
    let failed = rx.of_type("invoice.payment_failed");
    let when: Vec<Value> =
        failed.iter().map(|e| e["data"]["object"]["next_payment_attempt"].clone()).collect();
    assert_eq!(when, vec![json!(t0 + 3 * DAY), json!(t0 + 8 * DAY), json!(t0 + 15 * DAY), Value::Null]);
    let counts: Vec<Value> = failed.iter().map(|e| e["data"]["object"]["attempt_count"].clone()).collect();
    assert_eq!(counts, vec![json!(1), json!(2), json!(3), json!(4)]);
    assert_eq!(failed[3]["created"], t0 + 15 * DAY);

    // The subscription is unpaid (one update event, after the last failure); the invoice open.
    let s = sim.subscription(&sub).unwrap();
    assert_eq!(s["status"], "unpaid");
    let unpaid: Vec<Value> = rx
        .of_type("customer.subscription.updated")
        .into_iter()
        .filter(|e| e["data"]["object"]["status"] == "unpaid")
        .collect();
    assert_eq!(unpaid.len(), 1);
    assert_eq!(unpaid[0]["data"]["previous_attributes"]["status"], "past_due");
    assert_eq!(unpaid[0]["created"], t0 + 15 * DAY);
    let open = sim.invoice(&id).unwrap();
    assert_eq!(open["status"], "open");
    assert_eq!(open["next_payment_attempt"], Value::Null);
    assert_eq!(open["amount_remaining"], 2000);

    // No further automatic attempts.
    sim.advance(5 * DAY).await;
    assert_eq!(rx.of_type("invoice.payment_failed").len(), 4);

    // Paid by hand (a new card): paid, and the subscription is active again. A manual payment
    // after the first attempt does not count in attempt_count.
    let (s, paid) = c.post(&format!("/v1/invoices/{id}/pay"), &[("payment_method", "pm_card_visa")]).await;
    assert_eq!(s, 200, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["attempt_count"], 4);
    assert_eq!(events_of(&sim, "invoice.paid", &id).len(), 1);
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "active");
    let last = rx.of_type("customer.subscription.updated").last().cloned().unwrap();
    assert_eq!(last["data"]["object"]["status"], "active");
    assert_eq!(last["data"]["previous_attributes"]["status"], "unpaid");
}

#[tokio::test]
async fn an_unpaid_subscription_keeps_renewing_into_draft_invoices() {
    let sim = StripeSim::start_at(MARCH_1).await;
    sim.set_retries_exhausted_action("unpaid");
    sim.set_retry_schedule(&[2]);
    let c = Client::new(&sim);
    let (_, sub, inv) = declined_renewal(&sim, &c).await;
    let id = inv["id"].as_str().unwrap().to_string();
    assert_eq!(inv["next_payment_attempt"], inv["created"].as_i64().unwrap() + 2 * DAY);
    sim.advance(3 * DAY).await;
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "unpaid");
    let failed = sim.events().iter().filter(|e| e["type"] == "invoice.payment_failed").count();
    assert_eq!(failed, 2);

    // The May renewal makes an invoice that stays a draft and is not attempted.
    sim.advance(30 * DAY).await;
    let invs = sim.invoices_of(&sub);
    assert_eq!(invs.len(), 3);
    let may = invs.last().unwrap();
    assert_eq!(may["status"], "draft");
    assert_eq!(may["attempt_count"], 0);
    assert_eq!(may["next_payment_attempt"], Value::Null);
    assert_eq!(sim.subscription(&sub).unwrap()["latest_invoice"], may["id"]);
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "unpaid");
    assert_eq!(sim.events().iter().filter(|e| e["type"] == "invoice.payment_failed").count(), failed);
    assert!(events_of(&sim, "invoice.finalized", may["id"].as_str().unwrap()).is_empty());
    assert_eq!(sim.invoice(&id).unwrap()["status"], "open");
}

#[tokio::test]
async fn all_retries_fail_and_the_subscription_is_canceled() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    sim.set_retries_exhausted_action("canceled");
    sim.set_retry_schedule(&[1, 2]);
    let c = Client::new(&sim);
    let (cus, sub, inv) = declined_renewal(&sim, &c).await;
    let id = inv["id"].as_str().unwrap().to_string();
    let t0 = inv["created"].as_i64().unwrap();
    assert_eq!(inv["next_payment_attempt"], t0 + DAY);

    sim.advance(DAY + 60).await;
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "past_due");
    assert!(rx.of_type("customer.subscription.deleted").is_empty());

    // Day 3: the last retry fails, the subscription is canceled.
    sim.advance(2 * DAY).await;
    let failed = rx.of_type("invoice.payment_failed");
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[2]["data"]["object"]["next_payment_attempt"], Value::Null);
    let deleted = rx.of_type("customer.subscription.deleted");
    assert_eq!(deleted.len(), 1);
    let gone = &deleted[0]["data"]["object"];
    assert_eq!(gone["id"], sub.as_str());
    assert_eq!(gone["status"], "canceled");
    assert_eq!(gone["canceled_at"], t0 + 3 * DAY);
    assert_eq!(gone["ended_at"], t0 + 3 * DAY);
    assert_eq!(gone["cancellation_details"]["reason"], "payment_failed");
    let types = rx.types();
    let pos = |t: &str| types.iter().rposition(|x| x == t).unwrap();
    assert!(pos("invoice.payment_failed") < pos("customer.subscription.deleted"));

    // As any cancellation: the open invoice stays open, no longer collected automatically.
    let open = sim.invoice(&id).unwrap();
    assert_eq!((open["status"].clone(), open["auto_advance"].clone()), (json!("open"), json!(false)));
    assert_eq!(open["next_payment_attempt"], Value::Null);
    let updated = events_of(&sim, "invoice.updated", &id);
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["previous_attributes"], json!({ "auto_advance": true }));

    // No more attempts nor renewals; the invoice can still be paid by hand.
    sim.set_payment_method(&cus, "pm_card_visa");
    sim.advance(40 * DAY).await;
    assert_eq!(rx.of_type("invoice.payment_failed").len(), 3);
    assert_eq!(sim.invoices_of(&sub).len(), 2);
    assert_eq!(sim.invoice(&id).unwrap()["status"], "open");
    sim.pay_invoice(&id, "pm_card_visa").await.unwrap();
    assert_eq!(sim.invoice(&id).unwrap()["status"], "paid");
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "canceled");
}

#[tokio::test]
async fn void_paid_and_canceled_invoices_are_not_retried() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let failures =
        |sim: &StripeSim| sim.events().iter().filter(|e| e["type"] == "invoice.payment_failed").count();

    // Voided before its first retry.
    let (cus, sub, inv) = declined_renewal(&sim, &c).await;
    let id = inv["id"].as_str().unwrap().to_string();
    let (s, v) = c.post(&format!("/v1/invoices/{id}/void"), &[]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "void");
    assert_eq!(v["next_payment_attempt"], Value::Null);
    let n = failures(&sim);
    sim.advance(20 * DAY).await;
    assert_eq!(failures(&sim), n);
    assert_eq!(sim.invoice(&id).unwrap()["attempt_count"], 1);
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "past_due");

    // Paid by hand before its first retry: nothing more (the May renewal is charged normally).
    sim.set_payment_method(&cus, "pm_card_visa");
    sim.advance(11 * DAY).await;
    let may = sim.invoices_of(&sub).last().cloned().unwrap();
    assert_eq!(may["status"], "paid");
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    sim.advance(31 * DAY).await;
    let june = sim.invoices_of(&sub).last().cloned().unwrap();
    let june_id = june["id"].as_str().unwrap().to_string();
    assert_eq!(june["status"], "open");
    assert!(june["next_payment_attempt"].is_i64());
    let (s, paid) =
        c.post(&format!("/v1/invoices/{june_id}/pay"), &[("payment_method", "pm_card_visa")]).await;
    assert_eq!(s, 200, "{paid}");
    assert_eq!(paid["next_payment_attempt"], Value::Null);
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    let n = failures(&sim);
    sim.advance(20 * DAY).await;
    assert_eq!(failures(&sim), n);
    assert_eq!(events_of(&sim, "invoice.paid", &june_id).len(), 1);

    // Its subscription canceled before the retry: automatic collection stopped.
    sim.advance(11 * DAY).await;
    let jul = sim.invoices_of(&sub).last().cloned().unwrap();
    let jul_id = jul["id"].as_str().unwrap().to_string();
    assert_eq!(jul["status"], "open");
    assert!(jul["next_payment_attempt"].is_i64());
    let (s, gone) = c.delete(&format!("/v1/subscriptions/{sub}"), &[]).await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(sim.invoice(&jul_id).unwrap()["next_payment_attempt"], Value::Null);
    let n = failures(&sim);
    sim.advance(20 * DAY).await;
    assert_eq!(failures(&sim), n);
    assert_eq!(sim.invoice(&jul_id).unwrap()["status"], "open");
}
