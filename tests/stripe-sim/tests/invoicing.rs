//! Invoice numbers, PDFs, totals and periods, and `GET /v1/invoices` with its filters and
//! cursor pagination.

mod common;

use common::{Client, Receiver, SECRET};
use serde_json::Value;
use stripe_sim::StripeSim;

/// 2025-03-01T00:00:00Z
const MARCH_1: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

async fn customer(c: &Client, prefix: Option<&str>) -> String {
    let mut form = vec![("email", "a@example.com")];
    if let Some(p) = prefix {
        form.push(("invoice_prefix", p));
    }
    let (s, cu) = c.post("/v1/customers", &form).await;
    assert_eq!(s, 200, "{cu}");
    cu["id"].as_str().unwrap().to_string()
}

async fn subscribe(c: &Client, cus: &str, price: &str) -> String {
    let (s, sub) = c
        .post(
            "/v1/subscriptions",
            &[("customer", cus), ("items[0][price]", price), ("items[0][quantity]", "2")],
        )
        .await;
    assert_eq!(s, 200, "{sub}");
    sub["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn numbers_pdf_totals_and_periods() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1000, "month").await;
    let cus = customer(&c, Some("ACME")).await;
    let sub = subscribe(&c, &cus, &price).await;
    sim.advance(31 * DAY + 5).await;
    let invs = sim.invoices_of(&sub);
    assert_eq!(invs.len(), 2);
    assert_eq!(invs[0]["number"], "ACME-0001");
    assert_eq!(invs[1]["number"], "ACME-0002");
    assert_eq!(sim.customer(&cus).unwrap()["next_invoice_sequence"], 3);

    let first = &invs[0];
    // The first invoice could only take items at the moment it was made.
    assert_eq!(first["period_start"], first["period_end"]);
    assert_eq!(first["billing_reason"], "subscription_create");
    for k in ["subtotal", "subtotal_excluding_tax", "total_excluding_tax", "total", "amount_paid"] {
        assert_eq!(first[k], 2000, "{k}");
    }
    assert_eq!(first["total_taxes"], serde_json::json!([]));
    assert!(first["status_transitions"]["paid_at"].as_i64().unwrap() >= MARCH_1);
    assert!(first["status_transitions"]["finalized_at"].is_i64());

    // A renewal looks back over the period that ended; its line covers the new one.
    let renewal = &invs[1];
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    let line = &renewal["lines"]["data"][0]["period"];
    assert_eq!(renewal["period_end"], line["start"]);
    assert_eq!(renewal["period_start"], first["lines"]["data"][0]["period"]["start"]);
    assert_eq!(line["end"].as_i64().unwrap() - line["start"].as_i64().unwrap(), 30 * DAY);

    // invoice_pdf is a PDF on the simulator.
    let url = renewal["invoice_pdf"].as_str().unwrap();
    assert!(url.starts_with(&sim.base_url()), "{url}");
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let body = r.bytes().await.unwrap();
    assert!(body.starts_with(b"%PDF-"));
    assert!(String::from_utf8_lossy(&body).contains("ACME-0002"));

    // A preview is a draft: no number, no PDF.
    let (s, preview) = c.post("/v1/invoices/create_preview", &[("subscription", &sub)]).await;
    assert_eq!(s, 200, "{preview}");
    assert!(preview["number"].is_null());
    assert!(preview["invoice_pdf"].is_null());
    assert_eq!(preview["period_end"], renewal["lines"]["data"][0]["period"]["end"]);

    // Without an explicit prefix the customer gets one of its own.
    let other = customer(&c, None).await;
    let (_, cu) = c.get(&format!("/v1/customers/{other}")).await;
    let prefix = cu["invoice_prefix"].as_str().unwrap().to_string();
    assert_eq!(prefix.len(), 8);
    let sub2 = subscribe(&c, &other, &price).await;
    assert_eq!(sim.invoices_of(&sub2)[0]["number"], format!("{prefix}-0001").as_str());
    let (s, e) = c.post("/v1/customers", &[("invoice_prefix", "no")]).await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "invoice_prefix");
}

#[tokio::test]
async fn list_filters_and_pages() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1000, "month").await;
    let a = customer(&c, Some("AAA")).await;
    let b = customer(&c, Some("BBB")).await;
    let sub_a = subscribe(&c, &a, &price).await;
    sim.advance(DAY).await;
    let sub_b = subscribe(&c, &b, &price).await;
    sim.set_payment_method(&b, "pm_card_chargeDeclined");
    // Four renewals of A (paid), one of B (declined: open).
    sim.advance(4 * 31 * DAY).await;
    let a_invs: Vec<String> =
        sim.invoices_of(&sub_a).iter().map(|i| i["id"].as_str().unwrap().to_string()).rev().collect();
    assert_eq!(a_invs.len(), 5);

    let (s, page) = c.get(&format!("/v1/invoices?customer={a}&limit=2")).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["object"], "list");
    assert_eq!(page["url"], "/v1/invoices");
    assert_eq!(ids(&page), a_invs[..2].to_vec());
    assert_eq!(page["has_more"], true);
    let (_, page2) = c.get(&format!("/v1/invoices?customer={a}&limit=2&starting_after={}", a_invs[1])).await;
    assert_eq!(ids(&page2), a_invs[2..4].to_vec());
    assert_eq!(page2["has_more"], true);
    let (_, page3) = c.get(&format!("/v1/invoices?customer={a}&limit=2&starting_after={}", a_invs[3])).await;
    assert_eq!(ids(&page3), a_invs[4..].to_vec());
    assert_eq!(page3["has_more"], false);
    let (_, back) = c.get(&format!("/v1/invoices?customer={a}&limit=2&ending_before={}", a_invs[3])).await;
    assert_eq!(ids(&back), a_invs[1..3].to_vec());
    assert_eq!(back["has_more"], true);

    // Default limit 10, newest first across customers.
    let (_, all) = c.get("/v1/invoices").await;
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 10);
    let created: Vec<i64> =
        all["data"].as_array().unwrap().iter().map(|i| i["created"].as_i64().unwrap()).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    let (_, open) = c.get("/v1/invoices?status=open").await;
    assert!(!ids(&open).is_empty());
    assert!(open["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["status"] == "open" && i["customer"] == b.as_str()));
    let (_, by_sub) = c.get(&format!("/v1/invoices?subscription={sub_b}&limit=100")).await;
    assert_eq!(ids(&by_sub).len(), sim.invoices_of(&sub_b).len());
    let since = MARCH_1 + 40 * DAY;
    let (_, recent) = c.get(&format!("/v1/invoices?customer={a}&created[gte]={since}")).await;
    assert!(recent["data"].as_array().unwrap().iter().all(|i| i["created"].as_i64().unwrap() >= since));
    assert_eq!(ids(&recent).len(), 3);

    for (q, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("status=unpaid", "status"),
        ("prefix=x", "prefix"),
        ("starting_after=in_nope", "starting_after"),
    ] {
        let (s, e) = c.get(&format!("/v1/invoices?{q}")).await;
        assert!(s == 400 || s == 404, "{q}: {s} {e}");
        assert_eq!(e["error"]["param"], param, "{q}");
    }
}

/// A declined renewal: invoice.payment_failed with the invoice, the subscription past_due;
/// paying the open invoice (API or control helper) sends invoice.paid and makes it active.
#[tokio::test]
async fn failed_renewal_then_paid() {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1000, "month").await;
    let cus = customer(&c, None).await;
    let sub = subscribe(&c, &cus, &price).await;
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    sim.advance(31 * DAY).await;

    let failed = rx.of_type("invoice.payment_failed");
    assert_eq!(failed.len(), 1);
    let inv = &failed[0]["data"]["object"];
    assert_eq!(inv["billing_reason"], "subscription_cycle");
    assert_eq!(inv["parent"]["subscription_details"]["subscription"], sub.as_str());
    assert_eq!(inv["status"], "open");
    assert_eq!(inv["attempt_count"], 1);
    let inv_id = inv["id"].as_str().unwrap().to_string();
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "past_due");
    let updated = rx.of_type("customer.subscription.updated");
    assert_eq!(updated.last().unwrap()["data"]["previous_attributes"]["status"], "active");

    // Paying again with the declining card fails (402) and changes nothing.
    let (s, e) = c.post(&format!("/v1/invoices/{inv_id}/pay"), &[]).await;
    assert_eq!(s, 402, "{e}");
    let (s, paid) =
        c.post(&format!("/v1/invoices/{inv_id}/pay"), &[("payment_method", "pm_card_visa")]).await;
    assert_eq!(s, 200, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(rx.of_type("invoice.paid").last().unwrap()["data"]["object"]["id"], inv_id.as_str());
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "active");
    assert_eq!(
        rx.of_type("customer.subscription.updated").last().unwrap()["data"]["previous_attributes"]["status"],
        "past_due"
    );

    // Next month the card (now pm_card_visa) works; decline again, then the control helper pays.
    sim.set_payment_method(&cus, "pm_card_chargeDeclined");
    sim.advance(31 * DAY).await;
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "past_due");
    let open = sim.invoices_of(&sub).last().cloned().unwrap();
    assert_eq!(open["status"], "open");
    sim.pay_invoice(open["id"].as_str().unwrap(), "pm_card_visa").await.unwrap();
    assert_eq!(sim.invoice(open["id"].as_str().unwrap()).unwrap()["status"], "paid");
    assert_eq!(sim.subscription(&sub).unwrap()["status"], "active");
    // Declined: the renewal, the first manual attempt, the next renewal.
    assert_eq!(rx.of_type("invoice.payment_failed").len(), 3);
}
