//! The simulator driven over HTTP, with a webhook receiver that checks signatures.

mod common;

use common::{Client, Receiver, SECRET};
use serde_json::Value;
use stripe_sim::StripeSim;

/// 2025-03-01T00:00:00Z
const MARCH_1: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

fn item_id(sub: &Value) -> String {
    sub["items"]["data"][0]["id"].as_str().unwrap().to_string()
}

fn amounts(inv: &Value) -> Vec<i64> {
    inv["lines"]["data"].as_array().unwrap().iter().map(|l| l["amount"].as_i64().unwrap()).collect()
}

async fn setup() -> (StripeSim, Client, Receiver) {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    (sim, c, rx)
}

#[tokio::test]
async fn auth_and_idempotency() {
    let (sim, c, _rx) = setup().await;
    let r =
        c.http.post(format!("{}/v1/products", sim.base_url())).form(&[("name", "x")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let (s1, p1) = c.post_key("/v1/products", &[("name", "Seats")], Some("k1")).await;
    assert_eq!(s1, 200);
    let r = c
        .http
        .post(format!("{}/v1/products", sim.base_url()))
        .bearer_auth(StripeSim::SECRET_KEY)
        .header("Idempotency-Key", "k1")
        .form(&[("name", "Seats")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let p2: Value = r.json().await.unwrap();
    assert_eq!(p1["id"], p2["id"]);
    let (s3, e) = c.post_key("/v1/products", &[("name", "Other")], Some("k1")).await;
    assert_eq!(s3, 400);
    assert_eq!(e["error"]["type"], "idempotency_error");
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[1].idempotency_key.as_deref(), Some("k1"));
    assert_eq!(reqs[1].stripe_version.as_deref(), Some("2025-03-31.basil"));
    let (s, e) = c.get("/v1/prices/price_nope").await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "resource_missing");
}

#[tokio::test]
async fn always_invoice_worked_example_and_preview() {
    let (sim, c, rx) = setup().await;
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (_, sub) = c.subscription(&price, 5).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let it = &sub["items"]["data"][0];
    assert!(it["current_period_start"].as_i64().unwrap() - MARCH_1 <= 1);
    assert_eq!(
        it["current_period_end"].as_i64().unwrap() - it["current_period_start"].as_i64().unwrap(),
        31 * DAY
    );
    sim.advance(10 * DAY).await;
    let pd = (MARCH_1 + 10 * DAY).to_string();
    let si = item_id(&sub);
    let (s, preview) = c
        .post(
            "/v1/invoices/create_preview",
            &[
                ("subscription", &sub_id),
                ("subscription_details[items][0][id]", &si),
                ("subscription_details[items][0][quantity]", "8"),
                ("subscription_details[proration_date]", &pd),
                ("subscription_details[proration_behavior]", "always_invoice"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{preview}");
    assert_eq!(amounts(&preview), vec![-3387, 5419]);
    assert_eq!(preview["amount_due"], 2032);
    let l0 = &preview["lines"]["data"][0];
    assert_eq!(l0["description"], "Unused time on 5 × Seats after 11 Mar 2025");
    assert_eq!(l0["parent"]["subscription_item_details"]["proration"], true);
    assert_eq!(preview["lines"]["data"][1]["description"], "Remaining time on 8 × Seats after 11 Mar 2025");

    let (s, updated) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &si),
                ("items[0][quantity]", "8"),
                ("proration_behavior", "always_invoice"),
                ("proration_date", &pd),
                ("payment_behavior", "pending_if_incomplete"),
                ("expand[]", "latest_invoice"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{updated}");
    // The webhooks arrived before the answer.
    let types = rx.types();
    assert!(types.contains(&"invoice.paid".to_string()), "{types:?}");
    let upd = rx.of_type("customer.subscription.updated");
    let last = upd.last().unwrap();
    assert_eq!(last["data"]["object"]["items"]["data"][0]["quantity"], 8);
    assert_eq!(last["data"]["previous_attributes"]["items"]["data"][0]["quantity"], 5);
    assert_eq!(updated["items"]["data"][0]["quantity"], 8);
    assert!(updated["pending_update"].is_null());
    let inv = &updated["latest_invoice"];
    assert_eq!(inv["status"], "paid");
    assert_eq!(amounts(inv), amounts(&preview));
    assert_eq!(inv["billing_reason"], "subscription_update");
    assert_eq!(sim.invoices_of(&sub_id).len(), 2);

    // A proration date before the period is refused.
    let early = (MARCH_1 - DAY).to_string();
    let (s, e) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[("items[0][id]", &si), ("items[0][quantity]", "9"), ("proration_date", &early)],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "proration_date");
}

#[tokio::test]
async fn pending_update_declined_then_paid() {
    let (sim, c, rx) = setup().await;
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (cus, sub) = c.subscription(&price, 5).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let si = item_id(&sub);
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    let (s, e) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &si),
                ("items[0][price_data][unit_amount]", "2000"),
                ("payment_behavior", "pending_if_incomplete"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "items[0][price_data]");
    // Under 2025-03-31.basil, metadata with pending_if_incomplete is refused (allowed from dahlia).
    let (s, e) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &si),
                ("items[0][quantity]", "6"),
                ("metadata[a]", "b"),
                ("payment_behavior", "pending_if_incomplete"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "metadata");

    let (s, updated) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &si),
                ("items[0][quantity]", "8"),
                ("proration_behavior", "always_invoice"),
                ("payment_behavior", "pending_if_incomplete"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["items"]["data"][0]["quantity"], 5);
    assert_eq!(updated["status"], "active");
    let pu = &updated["pending_update"];
    assert_eq!(pu["subscription_items"][0]["quantity"], 8);
    let exp = pu["expires_at"].as_i64().unwrap();
    assert!(exp <= sim.now() + 23 * 3600 && exp > sim.now() + 22 * 3600);
    let inv_id = updated["latest_invoice"].as_str().unwrap().to_string();
    let (_, inv) = c.get(&format!("/v1/invoices/{inv_id}")).await;
    assert_eq!(inv["status"], "open");
    assert!(rx.types().contains(&"invoice.payment_failed".to_string()));

    let r = c
        .http
        .get(format!("{}/v1/subscriptions/{sub_id}", sim.base_url()))
        .bearer_auth(StripeSim::SECRET_KEY)
        .query(&[("expand[]", "latest_invoice")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["latest_invoice"]["id"], inv_id.as_str());
    assert_eq!(got["latest_invoice"]["status"], "open");

    sim.pay_invoice(&inv_id, "pm_card_visa").await.unwrap();
    let now = sim.subscription(&sub_id).unwrap();
    assert_eq!(now["items"]["data"][0]["quantity"], 8);
    assert!(now["pending_update"].is_null());
    assert_eq!(rx.of_type("customer.subscription.pending_update_applied").len(), 1);
    assert!(sim.pay_invoice(&inv_id, "pm_card_visa").await.is_err());
}

#[tokio::test]
async fn pending_update_expires() {
    let (sim, c, rx) = setup().await;
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (cus, sub) = c.subscription(&price, 2).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    sim.set_payment_method(&cus, "pm_card_authenticationRequired");
    let (s, u) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &item_id(&sub)),
                ("items[0][quantity]", "3"),
                ("proration_behavior", "always_invoice"),
                ("payment_behavior", "pending_if_incomplete"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    assert!(rx.types().contains(&"invoice.payment_action_required".to_string()));
    let inv_id = u["latest_invoice"].as_str().unwrap().to_string();
    sim.advance(DAY).await;
    let now = sim.subscription(&sub_id).unwrap();
    assert!(now["pending_update"].is_null());
    assert_eq!(now["items"]["data"][0]["quantity"], 2);
    assert_eq!(rx.of_type("customer.subscription.pending_update_expired").len(), 1);
    let (_, inv) = c.get(&format!("/v1/invoices/{inv_id}")).await;
    assert_eq!(inv["status"], "void");
}

#[tokio::test]
async fn allow_incomplete_decline_goes_past_due_and_renewal() {
    let (sim, c, _rx) = setup().await;
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (cus, sub) = c.subscription(&price, 1).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    let (s, u) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &item_id(&sub)),
                ("items[0][quantity]", "4"),
                ("proration_behavior", "always_invoice"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(u["items"]["data"][0]["quantity"], 4);
    assert_eq!(u["status"], "past_due");
    let (s, e) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &item_id(&sub)),
                ("items[0][quantity]", "5"),
                ("proration_behavior", "always_invoice"),
                ("payment_behavior", "error_if_incomplete"),
            ],
        )
        .await;
    assert_eq!(s, 402);
    assert_eq!(e["error"]["type"], "card_error");
    sim.set_payment_method(&cus, "pm_card_visa");
    sim.advance(31 * DAY).await;
    let invs = sim.invoices_of(&sub_id);
    let last = invs.last().unwrap();
    assert_eq!(last["billing_reason"], "subscription_cycle");
    assert_eq!(last["status"], "paid");
    assert_eq!(last["amount_due"], 4000);
    let s = sim.subscription(&sub_id).unwrap();
    assert_eq!(s["status"], "active");
    // Monthly anchor from March 1st: the next period is April 1 → May 1.
    assert_eq!(
        s["items"]["data"][0]["current_period_start"].as_i64().unwrap() - MARCH_1 - 31 * DAY,
        s["billing_cycle_anchor"].as_i64().unwrap() - MARCH_1
    );
}

#[tokio::test]
async fn schedules() {
    let (sim, c, rx) = setup().await;
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (_, sub) = c.subscription(&price, 5).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let (s, sched) = c.post("/v1/subscription_schedules", &[("from_subscription", &sub_id)]).await;
    assert_eq!(s, 200, "{sched}");
    let sched_id = sched["id"].as_str().unwrap().to_string();
    assert_eq!(sim.subscription(&sub_id).unwrap()["schedule"], sched_id.as_str());
    let start = sched["phases"][0]["start_date"].as_i64().unwrap();
    let end = sched["phases"][0]["end_date"].as_i64().unwrap();
    let (s, e) = c.post(&format!("/v1/subscriptions/{sub_id}"), &[("cancel_at_period_end", "true")]).await;
    assert_eq!(s, 400, "{e}");

    let path = format!("/v1/subscription_schedules/{sched_id}");
    let moved = (start + 60).to_string();
    let (s, e) = c
        .post(
            &path,
            &[
                ("phases[0][start_date]", &moved),
                ("phases[0][items][0][price]", &price),
                ("phases[0][items][0][quantity]", "5"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "phases[0][start_date]");

    let (start_s, end_s) = (start.to_string(), end.to_string());
    let (s, upd) = c
        .post(
            &path,
            &[
                ("phases[0][start_date]", &start_s),
                ("phases[0][end_date]", &end_s),
                ("phases[0][items][0][price]", &price),
                ("phases[0][items][0][quantity]", "5"),
                ("phases[1][items][0][price]", &price),
                ("phases[1][items][0][quantity]", "2"),
                ("phases[1][duration][interval]", "month"),
                ("phases[1][duration][interval_count]", "1"),
                ("end_behavior", "release"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(upd["phases"][1]["start_date"].as_i64(), Some(end));
    sim.advance(31 * DAY + 10).await;
    let now = sim.subscription(&sub_id).unwrap();
    assert_eq!(now["items"]["data"][0]["quantity"], 2);
    let last = sim.invoices_of(&sub_id).last().cloned().unwrap();
    assert_eq!(last["amount_due"], 2000);
    sim.advance(30 * DAY).await;
    let now = sim.subscription(&sub_id).unwrap();
    assert!(now["schedule"].is_null());
    assert_eq!(rx.of_type("subscription_schedule.released").len(), 1);
}

#[tokio::test]
async fn checkout_then_webhook_retry() {
    let sim = StripeSim::start().await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1500, "month").await;
    let (s, cs) = c
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "3"),
                ("customer_email", "buyer@example.com"),
                ("client_reference_id", "org_1"),
                ("success_url", "https://example.com/ok"),
                ("metadata[org]", "org_1"),
                ("subscription_data[metadata][org]", "org_1"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{cs}");
    let cs_id = cs["id"].as_str().unwrap();
    assert!(cs_id.starts_with("cs_test_"));
    assert_eq!(cs["url"].as_str().unwrap(), format!("{}/checkout/{cs_id}", sim.base_url()));
    rx.answer.store(500, std::sync::atomic::Ordering::SeqCst);
    let sub_id = sim.complete_checkout(cs_id, "pm_card_visa").await.unwrap();
    assert!(rx.types().is_empty());
    assert!(sim.deliveries().iter().all(|d| d.status == 500));
    rx.answer.store(200, std::sync::atomic::Ordering::SeqCst);
    let n = sim.redeliver_failed().await;
    let types = rx.types();
    assert_eq!(n, types.len());
    assert_eq!(types.first().map(String::as_str), Some("customer.created"));
    assert_eq!(types.last().map(String::as_str), Some("checkout.session.completed"));
    let done = rx.of_type("checkout.session.completed");
    assert_eq!(done[0]["data"]["object"]["subscription"], sub_id.as_str());
    let sub = sim.subscription(&sub_id).unwrap();
    assert_eq!(sub["metadata"]["org"], "org_1");
    assert_eq!(sub["status"], "active");
    assert!(sub["created"].as_i64().unwrap() < done[0]["created"].as_i64().unwrap());

    // Held deliveries go out only when asked.
    sim.hold_webhooks(true);
    sim.fail_next("GET", "/v1/subscriptions", 503);
    let (s, _) = c.get(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(s, 503);
    let before = rx.types().len();
    let (_, cus) = c.post("/v1/customers", &[("email", "x@example.com")]).await;
    assert!(cus["id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(rx.types().len(), before);
    assert_eq!(sim.deliver_held().await, 1);
    assert_eq!(rx.types().len(), before + 1);
}
