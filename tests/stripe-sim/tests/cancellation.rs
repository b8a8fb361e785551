//! `cancellation_details` on subscription updates and cancels.

mod common;

use common::{Client, Receiver, SECRET};
use serde_json::json;
use stripe_sim::StripeSim;

const MARCH_1: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

#[tokio::test]
async fn details_follow_cancel_at_period_end() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (_, sub) = c.subscription(&price, 1).await;
    let id = sub["id"].as_str().unwrap().to_string();
    assert_eq!(sub["cancellation_details"], json!({ "comment": null, "feedback": null, "reason": null }));

    let (s, u) = c
        .post(
            &format!("/v1/subscriptions/{id}"),
            &[
                ("cancel_at_period_end", "true"),
                ("cancellation_details[feedback]", "too_expensive"),
                ("cancellation_details[comment]", "Budget cut"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(
        u["cancellation_details"],
        json!({ "comment": "Budget cut", "feedback": "too_expensive", "reason": "cancellation_requested" })
    );
    let ev = rx.of_type("customer.subscription.updated");
    let prev = &ev.last().unwrap()["data"]["previous_attributes"];
    assert_eq!(prev["cancel_at_period_end"], false);
    assert_eq!(prev["cancellation_details"]["reason"], json!(null));

    // Resuming clears them.
    let (_, u) = c.post(&format!("/v1/subscriptions/{id}"), &[("cancel_at_period_end", "false")]).await;
    assert_eq!(u["cancellation_details"], json!({ "comment": null, "feedback": null, "reason": null }));
    let (s, e) =
        c.post(&format!("/v1/subscriptions/{id}"), &[("cancellation_details[feedback]", "too_cheap")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("cancellation_details[feedback]")));

    // Cancelled at the period end, the reason stays.
    let (_, u) = c
        .post(
            &format!("/v1/subscriptions/{id}"),
            &[("cancel_at_period_end", "true"), ("cancellation_details[feedback]", "unused")],
        )
        .await;
    assert_eq!(u["cancellation_details"]["reason"], "cancellation_requested");
    sim.advance(31 * DAY).await;
    let deleted = rx.of_type("customer.subscription.deleted");
    assert_eq!(deleted.len(), 1);
    let obj = &deleted[0]["data"]["object"];
    assert_eq!(obj["status"], "canceled");
    assert_eq!(obj["cancellation_details"]["feedback"], "unused");
    assert_eq!(obj["cancellation_details"]["reason"], "cancellation_requested");

    // A canceled subscription still takes a comment (and metadata), nothing else.
    let (s, u) =
        c.post(&format!("/v1/subscriptions/{id}"), &[("cancellation_details[comment]", "late note")]).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["cancellation_details"]["comment"], "late note");
    let (s, e) = c.post(&format!("/v1/subscriptions/{id}"), &[("cancel_at_period_end", "false")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("cancel_at_period_end")));
}

#[tokio::test]
async fn delete_records_details() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (_, sub) = c.subscription(&price, 1).await;
    let id = sub["id"].as_str().unwrap().to_string();
    let (s, gone) = c
        .delete(
            &format!("/v1/subscriptions/{id}"),
            &[("cancellation_details[feedback]", "switched_service"), ("cancellation_details[comment]", "")],
        )
        .await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(gone["status"], "canceled");
    assert_eq!(
        gone["cancellation_details"],
        json!({ "comment": null, "feedback": "switched_service", "reason": "cancellation_requested" })
    );
    assert_eq!(sim.subscription(&id).unwrap()["cancellation_details"], gone["cancellation_details"]);
    // Canceled is terminal, "akin to being deleted": a second cancel finds no such subscription.
    let (s, e) = c.delete(&format!("/v1/subscriptions/{id}"), &[]).await;
    assert_eq!(s, 404, "{e}");
    assert_eq!(e["error"]["code"], "resource_missing");
    assert_eq!(e["error"]["param"], "id");
    assert_eq!(e["error"]["message"], format!("No such subscription: '{id}'"));
    // It can still be read.
    assert_eq!(sim.subscription(&id).unwrap()["status"], "canceled");
}
