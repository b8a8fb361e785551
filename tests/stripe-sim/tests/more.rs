//! Interval switches, credits, and billing_cycle_anchor=now.

mod common;

use common::{Client, Receiver, SECRET};
use serde_json::Value;
use stripe_sim::StripeSim;

const MARCH_1: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

fn amounts(inv: &Value) -> Vec<i64> {
    inv["lines"]["data"].as_array().unwrap().iter().map(|l| l["amount"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn anchor_now_preview_matches_update() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    let (_, monthly) = c.price("Seats", 1000, "month").await;
    let (prod, _) = c.price("Other", 1, "month").await;
    let (_, pr) = c
        .post(
            "/v1/prices",
            &[
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount", "10000"),
                ("recurring[interval]", "year"),
            ],
        )
        .await;
    let yearly = pr["id"].as_str().unwrap().to_string();
    let (_, sub) = c.subscription(&monthly, 5).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let si = sub["items"]["data"][0]["id"].as_str().unwrap().to_string();
    sim.advance(10 * DAY).await;
    let pd = (MARCH_1 + 10 * DAY).to_string();
    let (s, preview) = c
        .post(
            "/v1/invoices/create_preview",
            &[
                ("subscription", &sub_id),
                ("subscription_details[items][0][id]", &si),
                ("subscription_details[items][0][price]", &yearly),
                ("subscription_details[proration_date]", &pd),
                ("subscription_details[billing_cycle_anchor]", "now"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{preview}");
    assert_eq!(amounts(&preview), vec![-3387, 50000]);
    let (s, upd) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &si),
                ("items[0][price]", &yearly),
                ("proration_date", &pd),
                ("billing_cycle_anchor", "now"),
                ("payment_behavior", "pending_if_incomplete"),
                ("expand[0]", "latest_invoice"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(amounts(&upd["latest_invoice"]), amounts(&preview));
    let it = &upd["items"]["data"][0];
    assert_eq!(it["current_period_start"].as_i64(), Some(MARCH_1 + 10 * DAY));
    assert_eq!(it["current_period_end"].as_i64(), Some(MARCH_1 + 10 * DAY + 365 * DAY));
    assert_eq!(upd["billing_cycle_anchor"].as_i64(), Some(MARCH_1 + 10 * DAY));
}

#[tokio::test]
async fn downgrade_credit_and_schedule_interval_switch() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let (prod, monthly) = c.price("Seats", 1000, "month").await;
    let (_, pr) = c
        .post(
            "/v1/prices",
            &[
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount", "10000"),
                ("recurring[interval]", "year"),
            ],
        )
        .await;
    let yearly = pr["id"].as_str().unwrap().to_string();
    let (cus, sub) = c.subscription(&monthly, 5).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let si = sub["items"]["data"][0]["id"].as_str().unwrap().to_string();
    sim.advance(10 * DAY).await;
    let pd = (MARCH_1 + 10 * DAY).to_string();
    let (s, upd) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[
                ("items[0][id]", &si),
                ("items[0][quantity]", "3"),
                ("proration_date", &pd),
                ("proration_behavior", "always_invoice"),
                ("expand[]", "latest_invoice"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let inv = &upd["latest_invoice"];
    assert_eq!(amounts(inv), vec![-3387, 2032]);
    assert_eq!(inv["total"], -1355);
    assert_eq!(inv["amount_due"], 0);
    assert_eq!(inv["status"], "paid");
    let (_, cu) = c.get(&format!("/v1/customers/{cus}")).await;
    assert_eq!(cu["balance"], -1355);

    // Switch to yearly at the period end through a schedule.
    let (_, sched) = c.post("/v1/subscription_schedules", &[("from_subscription", &sub_id)]).await;
    let id = sched["id"].as_str().unwrap();
    let start = sched["phases"][0]["start_date"].as_i64().unwrap().to_string();
    let end = sched["phases"][0]["end_date"].as_i64().unwrap();
    let (s, u) = c
        .post(
            &format!("/v1/subscription_schedules/{id}"),
            &[
                ("phases[0][start_date]", &start),
                ("phases[0][end_date]", &end.to_string()),
                ("phases[0][items][0][price]", &monthly),
                ("phases[0][items][0][quantity]", "3"),
                ("phases[1][items][0][price]", &yearly),
                ("phases[1][items][0][quantity]", "3"),
                ("phases[1][duration][interval]", "year"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{u}");
    sim.advance(22 * DAY).await;
    let now = sim.subscription(&sub_id).unwrap();
    let it = &now["items"]["data"][0];
    assert_eq!(it["price"]["id"], yearly.as_str());
    assert_eq!(it["current_period_start"].as_i64(), Some(end));
    assert_eq!(it["current_period_end"].as_i64(), Some(end + 365 * DAY));
    let last = sim.invoices_of(&sub_id).last().cloned().unwrap();
    assert_eq!(last["total"], 30000);
    assert_eq!(last["amount_due"], 30000 - 1355);
    assert_eq!(last["status"], "paid");
}
