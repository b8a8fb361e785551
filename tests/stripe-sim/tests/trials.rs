//! Free trials from Checkout and the Subscriptions API: trialing, the $0 invoice, the warning
//! three days before the end, and the first real invoice (paid → active, declined → past_due).

mod common;

use common::{Client, Receiver, SECRET};
use serde_json::Value;
use stripe_sim::StripeSim;

/// 2025-03-01T00:00:00Z
const MARCH_1: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

async fn setup() -> (StripeSim, Client, Receiver, String) {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1500, "month").await;
    (sim, c, rx, price)
}

async fn trial_checkout(c: &Client, price: &str, days: &str) -> (u16, Value) {
    c.post(
        "/v1/checkout/sessions",
        &[
            ("mode", "subscription"),
            ("line_items[0][price]", price),
            ("line_items[0][quantity]", "3"),
            ("customer_email", "t@example.com"),
            ("success_url", "https://example.com/ok"),
            ("subscription_data[trial_period_days]", days),
        ],
    )
    .await
}

fn types_after(rx: &Receiver, n: usize) -> Vec<String> {
    rx.types()[n..].to_vec()
}

#[tokio::test]
async fn checkout_trial_then_first_invoice_paid() {
    let (sim, c, rx, price) = setup().await;
    let (s, cs) = trial_checkout(&c, &price, "14").await;
    assert_eq!(s, 200, "{cs}");
    assert_eq!(cs["amount_total"], 0);
    let sub_id = sim.complete_checkout(cs["id"].as_str().unwrap(), "pm_card_visa").await.unwrap();

    let sub = sim.subscription(&sub_id).unwrap();
    assert_eq!(sub["status"], "trialing");
    let (start, end) = (sub["trial_start"].as_i64().unwrap(), sub["trial_end"].as_i64().unwrap());
    assert_eq!(end - start, 14 * DAY);
    let item = &sub["items"]["data"][0];
    assert_eq!(
        (item["current_period_start"].as_i64(), item["current_period_end"].as_i64()),
        (Some(start), Some(end))
    );
    assert_eq!(sub["billing_cycle_anchor"].as_i64(), Some(end));

    let invs = sim.invoices_of(&sub_id);
    assert_eq!(invs.len(), 1);
    let first = &invs[0];
    assert_eq!(first["billing_reason"], "subscription_create");
    assert_eq!(first["status"], "paid");
    assert_eq!(first["total"], 0);
    assert_eq!(first["amount_due"], 0);
    assert_eq!(first["lines"]["data"][0]["description"], "Trial period for Seats");
    assert_eq!(first["lines"]["data"][0]["period"]["end"].as_i64(), Some(end));
    let created = rx.of_type("customer.subscription.created");
    assert_eq!(created[0]["data"]["object"]["status"], "trialing");
    assert!(rx.of_type("invoice.paid").iter().any(|e| e["data"]["object"]["id"] == first["id"]));
    let done = rx.of_type("checkout.session.completed");
    assert_eq!(done[0]["data"]["object"]["payment_status"], "no_payment_required");
    assert!(rx.of_type("customer.subscription.trial_will_end").is_empty());

    // Three days before the end: the warning, at that time, and nothing else.
    let n = rx.types().len();
    sim.advance(end - 3 * DAY - sim.now() + 60).await;
    assert_eq!(types_after(&rx, n), vec!["customer.subscription.trial_will_end"]);
    let warn = &rx.of_type("customer.subscription.trial_will_end")[0];
    assert_eq!(warn["created"].as_i64(), Some(end - 3 * DAY));
    assert_eq!(warn["data"]["object"]["status"], "trialing");

    // The end of the trial: active, a new cycle anchored there, the first real invoice paid.
    let n = rx.types().len();
    sim.advance(3 * DAY).await;
    let sub = sim.subscription(&sub_id).unwrap();
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["billing_cycle_anchor"].as_i64(), Some(end));
    assert_eq!(sub["items"]["data"][0]["current_period_start"].as_i64(), Some(end));
    assert_eq!(sub["trial_end"].as_i64(), Some(end));
    let last = sim.invoices_of(&sub_id).last().cloned().unwrap();
    assert_eq!(last["billing_reason"], "subscription_cycle");
    assert_eq!(last["status"], "paid");
    assert_eq!(last["amount_paid"], 4500);
    assert_eq!(last["period_end"].as_i64(), Some(end));
    let after = types_after(&rx, n);
    assert_eq!(after[0], "customer.subscription.updated");
    assert!(after.contains(&"invoice.paid".to_string()), "{after:?}");
    let upd = &rx.of_type("customer.subscription.updated")[0];
    assert_eq!(upd["data"]["previous_attributes"]["status"], "trialing");
    assert_eq!(upd["data"]["object"]["status"], "active");
    assert_eq!(rx.of_type("customer.subscription.trial_will_end").len(), 1);
}

#[tokio::test]
async fn trial_end_payment_declined_goes_past_due_then_paid() {
    let (sim, c, rx, price) = setup().await;
    let (_, cs) = trial_checkout(&c, &price, "7").await;
    // Nothing is charged at Checkout: a card that declines charges is accepted.
    let sub_id = sim.complete_checkout(cs["id"].as_str().unwrap(), "pm_card_chargeDeclined").await.unwrap();
    assert_eq!(sim.subscription(&sub_id).unwrap()["status"], "trialing");
    sim.advance(7 * DAY + 60).await;

    let sub = sim.subscription(&sub_id).unwrap();
    assert_eq!(sub["status"], "past_due");
    let failed = rx.of_type("invoice.payment_failed");
    assert_eq!(failed.len(), 1);
    let inv = &failed[0]["data"]["object"];
    assert_eq!(inv["billing_reason"], "subscription_cycle");
    assert_eq!(inv["parent"]["subscription_details"]["subscription"], sub_id.as_str());
    assert_eq!(inv["amount_due"], 4500);
    let statuses: Vec<Value> = rx
        .of_type("customer.subscription.updated")
        .iter()
        .map(|e| e["data"]["previous_attributes"]["status"].clone())
        .collect();
    assert_eq!(statuses, vec![Value::from("trialing"), Value::from("active")]);

    let inv_id = inv["id"].as_str().unwrap();
    let (s, paid) =
        c.post(&format!("/v1/invoices/{inv_id}/pay"), &[("payment_method", "pm_card_visa")]).await;
    assert_eq!(s, 200, "{paid}");
    assert_eq!(sim.subscription(&sub_id).unwrap()["status"], "active");
    assert!(rx.of_type("invoice.paid").iter().any(|e| e["data"]["object"]["id"] == inv_id));
}

#[tokio::test]
async fn api_trials_short_moved_and_ended_now() {
    let (sim, c, rx, price) = setup().await;
    let (_, cu) = c.post("/v1/customers", &[("email", "x@example.com")]).await;
    let cus = cu["id"].as_str().unwrap().to_string();

    // A 2-day trial has less than three days left: the warning goes out at once.
    let short_end = (sim.now() + 2 * DAY).to_string();
    let (s, short) = c
        .post(
            "/v1/subscriptions",
            &[("customer", &cus), ("items[0][price]", &price), ("trial_end", &short_end)],
        )
        .await;
    assert_eq!(s, 200, "{short}");
    assert_eq!(short["status"], "trialing");
    let warned = rx.of_type("customer.subscription.trial_will_end");
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0]["data"]["object"]["id"], short["id"]);

    let (s, sub) = c
        .post(
            "/v1/subscriptions",
            &[("customer", &cus), ("items[0][price]", &price), ("trial_period_days", "30")],
        )
        .await;
    assert_eq!(s, 200, "{sub}");
    let sub_id = sub["id"].as_str().unwrap().to_string();
    assert_eq!(sub["trial_end"].as_i64().unwrap() - sub["trial_start"].as_i64().unwrap(), 30 * DAY);
    assert!(sub["latest_invoice"].is_string());

    // Moving the end moves the period and the anchor.
    let moved = sub["trial_end"].as_i64().unwrap() + 5 * DAY;
    let (s, upd) = c.post(&format!("/v1/subscriptions/{sub_id}"), &[("trial_end", &moved.to_string())]).await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(upd["trial_end"].as_i64(), Some(moved));
    assert_eq!(upd["items"]["data"][0]["current_period_end"].as_i64(), Some(moved));
    assert_eq!(upd["billing_cycle_anchor"].as_i64(), Some(moved));
    let past = (sim.now() - 10).to_string();
    let (s, e) = c.post(&format!("/v1/subscriptions/{sub_id}"), &[("trial_end", &past)]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("trial_end")));

    // Quantity changes during the trial owe nothing.
    let si = upd["items"]["data"][0]["id"].as_str().unwrap();
    let (s, more) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[("items[0][id]", si), ("items[0][quantity]", "4"), ("proration_behavior", "always_invoice")],
        )
        .await;
    assert_eq!(s, 200, "{more}");
    assert_eq!(sim.invoices_of(&sub_id).len(), 1);

    // trial_end=now ends it at once: the warning, then the first invoice of a cycle from now.
    sim.advance(DAY).await;
    let n = rx.types().len();
    let now = sim.now();
    let (s, ended) = c.post(&format!("/v1/subscriptions/{sub_id}"), &[("trial_end", "now")]).await;
    assert_eq!(s, 200, "{ended}");
    assert_eq!(ended["status"], "active");
    assert!((ended["billing_cycle_anchor"].as_i64().unwrap() - now).abs() <= 2);
    assert!((ended["trial_end"].as_i64().unwrap() - now).abs() <= 2);
    let after = types_after(&rx, n);
    assert_eq!(after[0], "customer.subscription.trial_will_end", "{after:?}");
    let last = sim.invoices_of(&sub_id).last().cloned().unwrap();
    assert_eq!(last["billing_reason"], "subscription_cycle");
    assert_eq!(last["amount_paid"], 6000);

    // Checkout refuses a trial of 0 days; a Subscriptions API trial_end=now means no trial.
    let (s, e) = trial_checkout(&c, &price, "0").await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("subscription_data[trial_period_days]")));
    let (_, none) = c
        .post("/v1/subscriptions", &[("customer", &cus), ("items[0][price]", &price), ("trial_end", "now")])
        .await;
    assert_eq!(none["status"], "active");
    assert!(none["trial_end"].is_null());
}
