//! Stripe Tax: automatic tax on Checkout subscriptions, their first, proration and renewal
//! invoices, and previews; exclusive and inclusive prices; no registration, no address.

mod common;

use common::{Client, Receiver, SECRET};
use serde_json::{json, Value};
use stripe_sim::StripeSim;

/// 2025-03-01T00:00:00Z
const MARCH_1: i64 = 1_740_787_200;
const DAY: i64 = 86_400;

async fn setup() -> (StripeSim, Client, Receiver) {
    let sim = StripeSim::start_at(MARCH_1).await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    sim.set_tax_registration("DE", 19.0);
    let c = Client::new(&sim);
    (sim, c, rx)
}

/// A monthly EUR price of `amount`, with `tax_behavior` if given.
async fn price(c: &Client, amount: i64, tax_behavior: Option<&str>) -> String {
    let (_, p) = c.post("/v1/products", &[("name", "Seats")]).await;
    let prod = p["id"].as_str().unwrap().to_string();
    let amount = amount.to_string();
    let mut form = vec![
        ("product", prod.as_str()),
        ("currency", "eur"),
        ("unit_amount", amount.as_str()),
        ("recurring[interval]", "month"),
    ];
    if let Some(b) = tax_behavior {
        form.push(("tax_behavior", b));
    }
    let (s, pr) = c.post("/v1/prices", &form).await;
    assert_eq!(s, 200, "{pr}");
    assert_eq!(pr["tax_behavior"], tax_behavior.unwrap_or("unspecified"));
    pr["id"].as_str().unwrap().to_string()
}

async fn checkout(c: &Client, price: &str, qty: &str, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![
        ("mode", "subscription"),
        ("line_items[0][price]", price),
        ("line_items[0][quantity]", qty),
        ("success_url", "https://example.com/ok"),
    ];
    form.extend_from_slice(extra);
    let (s, cs) = c.post("/v1/checkout/sessions", &form).await;
    assert_eq!(s, 200, "{cs}");
    cs
}

const AUTO_TAX: &[(&str, &str)] = &[
    ("customer_email", "k@example.de"),
    ("automatic_tax[enabled]", "true"),
    ("tax_id_collection[enabled]", "true"),
    ("billing_address_collection", "required"),
];

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The money fields of an invoice (or preview) and each line's amount and taxes.
fn money(inv: &Value) -> Value {
    let lines: Vec<Value> = inv["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({ "amount": l["amount"], "taxes": l["taxes"] }))
        .collect();
    json!({
        "subtotal": inv["subtotal"], "subtotal_excluding_tax": inv["subtotal_excluding_tax"],
        "total_excluding_tax": inv["total_excluding_tax"], "total": inv["total"],
        "amount_due": inv["amount_due"], "total_taxes": inv["total_taxes"], "lines": lines,
    })
}

#[tokio::test]
async fn checkout_with_german_address_taxes_the_first_invoice_and_renewals() {
    let (sim, c, rx) = setup().await;
    let price = price(&c, 2999, None).await;
    let cs = checkout(&c, &price, "3", AUTO_TAX).await;
    assert_eq!(cs["automatic_tax"]["enabled"], true);
    assert_eq!(cs["automatic_tax"]["status"], "requires_location_inputs");
    assert_eq!(cs["tax_id_collection"], json!({ "enabled": true, "required": "never" }));
    assert_eq!(cs["billing_address_collection"], "required");

    let sub_id = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "de").await.unwrap();
    let sub = sim.subscription(&sub_id).unwrap();
    assert_eq!(sub["automatic_tax"]["enabled"], true);
    let cus = sub["customer"].as_str().unwrap();
    assert_eq!(sim.customer(cus).unwrap()["address"]["country"], "DE");
    assert_eq!(rx.of_type("customer.created")[0]["data"]["object"]["address"]["country"], "DE");

    // 3 × 29.99 = 89.97; 19 % of it is 17.0943 → 17.09; 89.97 × 1.19 = 107.0643 → 107.06.
    let inv = &sim.invoices_of(&sub_id)[0];
    assert_eq!(inv["subtotal"], 8997);
    assert_eq!(inv["total"], (8997.0_f64 * 1.19).round() as i64);
    assert_eq!(inv["total"], 10706);
    assert_eq!(inv["total_excluding_tax"], 8997);
    assert_eq!(inv["amount_paid"], 10706);
    assert_eq!(inv["automatic_tax"]["enabled"], true);
    assert_eq!(inv["automatic_tax"]["status"], "complete");
    let taxes = inv["total_taxes"].as_array().unwrap();
    assert_eq!(taxes.len(), 1);
    assert_eq!(taxes[0]["amount"], 1709);
    assert_eq!(taxes[0]["tax_behavior"], "exclusive");
    assert_eq!(taxes[0]["taxable_amount"], 8997);
    assert_eq!(taxes[0]["taxability_reason"], "standard_rated");
    assert_eq!(taxes[0]["type"], "tax_rate_details");
    assert!(taxes[0]["tax_rate_details"]["tax_rate"].as_str().unwrap().starts_with("txr_"));
    assert_eq!(inv["lines"]["data"][0]["taxes"], inv["total_taxes"]);

    let done = &rx.of_type("checkout.session.completed")[0]["data"]["object"];
    assert_eq!(done["customer_details"]["address"]["country"], "DE");
    assert_eq!(done["customer_details"]["tax_ids"], json!([]));
    assert_eq!(done["amount_subtotal"], 8997);
    assert_eq!(done["amount_total"], 10706);
    assert_eq!(done["total_details"]["amount_tax"], 1709);
    assert_eq!(done["automatic_tax"]["status"], "complete");
    assert_eq!(sim.checkout_session(&id(&cs)).unwrap()["amount_total"], 10706);

    // The upcoming invoice previews the renewal exactly.
    let (s, upcoming) = c.post("/v1/invoices/create_preview", &[("subscription", &sub_id)]).await;
    assert_eq!(s, 200, "{upcoming}");
    sim.advance(31 * DAY + 5).await;
    let renewal = sim.invoices_of(&sub_id)[1].clone();
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    assert_eq!(money(&renewal), money(&upcoming));
    assert_eq!(renewal["total"], 10706);
    assert_eq!(renewal["status"], "paid");
}

#[tokio::test]
async fn an_increase_is_taxed_as_previewed() {
    let (sim, c, _rx) = setup().await;
    let price = price(&c, 1000, Some("exclusive")).await;
    let cs = checkout(&c, &price, "5", AUTO_TAX).await;
    let sub_id = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "DE").await.unwrap();
    let sub = sim.subscription(&sub_id).unwrap();
    let si = sub["items"]["data"][0]["id"].as_str().unwrap().to_string();
    sim.advance(10 * DAY).await;
    let pd = (sim.now() - 60).to_string();
    let change = |pb: &'static str| {
        vec![
            ("subscription_details[items][0][id]", si.clone()),
            ("subscription_details[items][0][quantity]", "8".to_string()),
            ("subscription_details[proration_date]", pd.clone()),
            ("subscription_details[proration_behavior]", pb.to_string()),
        ]
    };
    let mut form: Vec<(&str, String)> = vec![("subscription", sub_id.clone())];
    form.extend(change("always_invoice"));
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, preview) = c.post("/v1/invoices/create_preview", &form_ref).await;
    assert_eq!(s, 200, "{preview}");
    // Each proration line is taxed on its own: −(5 × 10 € unused) and +(8 × 10 € remaining).
    let lines = preview["lines"]["data"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    for l in lines {
        let t = &l["taxes"][0];
        let expect = (l["amount"].as_i64().unwrap() as f64 * 0.19).round() as i64;
        assert_eq!(t["amount"].as_i64().unwrap(), expect, "{l}");
        assert_eq!(t["taxable_amount"], l["amount"]);
    }
    let tax: i64 = lines.iter().map(|l| l["taxes"][0]["amount"].as_i64().unwrap()).sum();
    assert_eq!(preview["total_taxes"][0]["amount"], tax);
    assert_eq!(preview["total"].as_i64().unwrap(), preview["subtotal"].as_i64().unwrap() + tax);
    assert!(tax > 0);

    // Without automatic tax the same preview has none.
    let mut off = form_ref.clone();
    off.push(("automatic_tax[enabled]", "false"));
    let (_, untaxed) = c.post("/v1/invoices/create_preview", &off).await;
    assert_eq!(untaxed["total_taxes"], json!([]));
    assert_eq!(untaxed["total"], preview["subtotal"]);
    assert_eq!(untaxed["automatic_tax"]["enabled"], false);

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
    let inv = &updated["latest_invoice"];
    assert_eq!(inv["billing_reason"], "subscription_update");
    assert_eq!(inv["status"], "paid");
    assert_eq!(money(inv), money(&preview));
    assert_eq!(inv["amount_paid"], preview["amount_due"]);

    // Prorations left for the renewal (create_prorations) are taxed there, as previewed.
    let mut form: Vec<(&str, String)> = vec![("subscription", sub_id.clone())];
    let pd2 = sim.now().to_string();
    form.extend(change("create_prorations"));
    for f in form.iter_mut() {
        if f.0 == "subscription_details[items][0][quantity]" {
            f.1 = "6".to_string();
        }
        if f.0 == "subscription_details[proration_date]" {
            f.1 = pd2.clone();
        }
    }
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, upcoming) = c.post("/v1/invoices/create_preview", &form_ref).await;
    let (s, _) = c
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[("items[0][id]", &si), ("items[0][quantity]", "6"), ("proration_date", &pd2)],
        )
        .await;
    assert_eq!(s, 200);
    sim.advance(25 * DAY).await;
    let renewal = sim.invoices_of(&sub_id).last().cloned().unwrap();
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    assert_eq!(renewal["lines"]["data"].as_array().unwrap().len(), 3);
    assert_eq!(money(&renewal), money(&upcoming));
}

#[tokio::test]
async fn no_registration_or_no_address_means_no_tax() {
    let (sim, c, rx) = setup().await;
    let price = price(&c, 1000, None).await;

    // Located where the account is not registered: zero tax, not_collecting.
    let cs = checkout(&c, &price, "2", AUTO_TAX).await;
    let sub_us = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "US").await.unwrap();
    let inv = &sim.invoices_of(&sub_us)[0];
    assert_eq!((inv["subtotal"].as_i64(), inv["total"].as_i64()), (Some(2000), Some(2000)));
    assert_eq!(inv["total_taxes"][0]["amount"], 0);
    assert_eq!(inv["total_taxes"][0]["taxability_reason"], "not_collecting");
    assert_eq!(inv["total_taxes"][0]["taxable_amount"], 0);
    assert_eq!(inv["automatic_tax"]["status"], "complete");

    // No address at all (completed without one): the invoice finalizes untaxed and automatic
    // tax is turned off on it and on the subscription.
    let cs = checkout(&c, &price, "2", AUTO_TAX).await;
    let n = rx.of_type("customer.subscription.updated").len();
    let sub_none = sim.complete_checkout(&id(&cs), "pm_card_visa").await.unwrap();
    let inv = &sim.invoices_of(&sub_none)[0];
    assert_eq!((inv["total"].as_i64(), inv["amount_paid"].as_i64()), (Some(2000), Some(2000)));
    assert_eq!(inv["total_taxes"], json!([]));
    assert_eq!(inv["automatic_tax"]["enabled"], false);
    assert_eq!(inv["automatic_tax"]["disabled_reason"], "finalization_requires_location_inputs");
    let sub = sim.subscription(&sub_none).unwrap();
    assert_eq!(sub["automatic_tax"]["enabled"], false);
    assert_eq!(sub["automatic_tax"]["disabled_reason"], "requires_location_inputs");
    let upd: Vec<Value> = rx.of_type("customer.subscription.updated")[n..]
        .iter()
        .filter(|e| e["data"]["object"]["id"] == sub_none.as_str())
        .filter(|e| e["data"]["previous_attributes"].get("automatic_tax").is_some())
        .cloned()
        .collect();
    assert_eq!(upd.len(), 1);
    assert_eq!(upd[0]["data"]["previous_attributes"]["automatic_tax"]["enabled"], true);
    assert_eq!(upd[0]["data"]["object"]["automatic_tax"]["enabled"], false);

    // An existing customer without an address: Checkout refuses automatic tax unless the
    // address entered is saved to the customer.
    let (_, cu) = c.post("/v1/customers", &[("email", "x@example.com")]).await;
    let cus = id(&cu);
    let (s, e) = c
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", &price),
                ("customer", &cus),
                ("automatic_tax[enabled]", "true"),
            ],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["code"], "customer_tax_location_invalid");
    let cs = checkout(
        &c,
        &price,
        "1",
        &[("customer", &cus), ("automatic_tax[enabled]", "true"), ("customer_update[address]", "auto")],
    )
    .await;
    let sub = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "DE").await.unwrap();
    assert_eq!(sim.invoices_of(&sub)[0]["total"], 1190);
    assert_eq!(sim.customer(&cus).unwrap()["address"]["country"], "DE");
    let cu_upd = rx.of_type("customer.updated");
    assert_eq!(cu_upd.last().unwrap()["data"]["previous_attributes"]["address"], Value::Null);

    // An address needs a session that collects one; collecting it without automatic tax taxes
    // nothing.
    let cs = checkout(&c, &price, "1", &[]).await;
    let e = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "DE").await.unwrap_err();
    assert!(e.contains("does not collect"), "{e}");
    let cs = checkout(&c, &price, "1", &[("billing_address_collection", "required")]).await;
    let sub = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "DE").await.unwrap();
    let inv = &sim.invoices_of(&sub)[0];
    assert_eq!((inv["total"].as_i64(), inv["total_taxes"].clone()), (Some(1000), json!([])));
    assert_eq!(inv["automatic_tax"]["enabled"], false);
    let cus = sim.subscription(&sub).unwrap()["customer"].as_str().unwrap().to_string();
    assert_eq!(sim.customer(&cus).unwrap()["address"]["country"], "DE");
}

#[tokio::test]
async fn api_subscriptions_and_previews_with_addresses() {
    let (sim, c, _rx) = setup().await;
    let price = price(&c, 1000, None).await;
    let (s, cu) = c.post("/v1/customers", &[("email", "a@example.de"), ("address[country]", "DE")]).await;
    assert_eq!(s, 200, "{cu}");
    assert_eq!(cu["address"]["country"], "DE");
    let (s, sub) = c
        .post(
            "/v1/subscriptions",
            &[("customer", &id(&cu)), ("items[0][price]", &price), ("automatic_tax[enabled]", "true")],
        )
        .await;
    assert_eq!(s, 200, "{sub}");
    assert_eq!(sub["automatic_tax"]["enabled"], true);
    assert_eq!(sim.invoices_of(&id(&sub))[0]["total"], 1190);

    // A customer without an address, previewed at a German address; then located and enabled
    // by an update, whose own invoice is taxed.
    let (_, cu2) = c.post("/v1/customers", &[("email", "b@example.de")]).await;
    let (_, sub2) =
        c.post("/v1/subscriptions", &[("customer", &id(&cu2)), ("items[0][price]", &price)]).await;
    let sub2 = id(&sub2);
    assert_eq!(sim.invoices_of(&sub2)[0]["total_taxes"], json!([]));
    let (s, pv) = c
        .post(
            "/v1/invoices/create_preview",
            &[
                ("subscription", &sub2),
                ("automatic_tax[enabled]", "true"),
                ("customer_details[address][country]", "DE"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{pv}");
    assert_eq!(pv["total"], 1190);
    let (_, pv) = c
        .post("/v1/invoices/create_preview", &[("subscription", &sub2), ("automatic_tax[enabled]", "true")])
        .await;
    assert_eq!(pv["automatic_tax"]["status"], "requires_location_inputs");
    assert_eq!(pv["total"], 1000);
    sim.set_customer_address(&id(&cu2), "DE");
    let (s, upd) = c
        .post(
            &format!("/v1/subscriptions/{sub2}"),
            &[
                ("automatic_tax[enabled]", "true"),
                ("billing_cycle_anchor", "now"),
                ("proration_behavior", "none"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(upd["automatic_tax"]["enabled"], true);
    assert_eq!(sim.invoices_of(&sub2).last().unwrap()["total"], 1190);
    let (s, e) = c.post(&format!("/v1/subscriptions/{sub2}"), &[("automatic_tax[enabled]", "maybe")]).await;
    assert_eq!(s, 400, "{e}");
}

#[tokio::test]
async fn inclusive_prices_split_the_amount() {
    let (sim, c, _rx) = setup().await;
    let incl = price(&c, 1190, Some("inclusive")).await;
    let cs = checkout(&c, &incl, "1", AUTO_TAX).await;
    let sub_id = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "DE").await.unwrap();
    let inv = &sim.invoices_of(&sub_id)[0];
    assert_eq!(inv["lines"]["data"][0]["amount"], 1190);
    let t = &inv["total_taxes"][0];
    assert_eq!((t["amount"].as_i64(), t["taxable_amount"].as_i64()), (Some(190), Some(1000)));
    assert_eq!(t["tax_behavior"], "inclusive");
    for (k, v) in [
        ("subtotal", 1190),
        ("subtotal_excluding_tax", 1000),
        ("total_excluding_tax", 1000),
        ("total", 1190),
        ("amount_paid", 1190),
    ] {
        assert_eq!(inv[k], v, "{k}");
    }

    // 10.00 € including 19 %: 1.5966… → 1.60 tax, 8.40 net.
    let ten = price(&c, 1000, Some("inclusive")).await;
    let cs = checkout(&c, &ten, "1", AUTO_TAX).await;
    let sub_id = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "DE").await.unwrap();
    let t = &sim.invoices_of(&sub_id)[0]["total_taxes"][0];
    assert_eq!((t["amount"].as_i64(), t["taxable_amount"].as_i64()), (Some(160), Some(840)));

    // `unspecified` follows the settings' default behavior.
    sim.set_default_tax_behavior("inclusive");
    let unspec = price(&c, 1190, None).await;
    let cs = checkout(&c, &unspec, "1", AUTO_TAX).await;
    let sub_id = sim.complete_checkout_with_address(&id(&cs), "pm_card_visa", "DE").await.unwrap();
    let inv = &sim.invoices_of(&sub_id)[0];
    assert_eq!((inv["total"].as_i64(), inv["total_excluding_tax"].as_i64()), (Some(1190), Some(1000)));

    let (_, p) = c.post("/v1/products", &[("name", "X")]).await;
    let (s, e) = c
        .post(
            "/v1/prices",
            &[
                ("product", p["id"].as_str().unwrap()),
                ("currency", "eur"),
                ("unit_amount", "100"),
                ("recurring[interval]", "month"),
                ("tax_behavior", "sometimes"),
            ],
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["param"], "tax_behavior");
}
