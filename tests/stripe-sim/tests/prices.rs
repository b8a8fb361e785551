//! `POST /v1/prices/{id}`: active, nickname, metadata, tax_behavior (settable only while
//! unspecified), lookup keys (unique; transfer_lookup_key), and price.updated.

mod common;

use common::Client;
use serde_json::{json, Value};
use stripe_sim::StripeSim;

fn updates_of(sim: &StripeSim, id: &str) -> Vec<Value> {
    sim.events()
        .into_iter()
        .filter(|e| e["type"] == "price.updated" && e["data"]["object"]["id"] == id)
        .collect()
}

#[tokio::test]
async fn update_fields_and_price_updated() {
    let sim = StripeSim::start().await;
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1000, "month").await;
    let path = format!("/v1/prices/{price}");

    let (s, p) = c
        .post(
            &path,
            &[
                ("active", "false"),
                ("nickname", "Seats 2025"),
                ("metadata[plan]", "team"),
                ("tax_behavior", "exclusive"),
                ("expand[]", "product"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["object"], "price");
    assert_eq!(
        (p["active"].clone(), p["nickname"].clone(), p["metadata"].clone(), p["tax_behavior"].clone()),
        (json!(false), json!("Seats 2025"), json!({ "plan": "team" }), json!("exclusive"))
    );
    assert_eq!(p["unit_amount"], 1000);
    let (_, got) = c.get(&path).await;
    assert_eq!(got, p);
    let ev = updates_of(&sim, &price);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["data"]["object"], p);
    assert_eq!(
        ev[0]["data"]["previous_attributes"],
        json!({ "active": true, "nickname": null, "metadata": {}, "tax_behavior": "unspecified" })
    );

    // Once exclusive, tax_behavior cannot change; repeating it is no change (and no event).
    let (s, e) = c.post(&path, &[("tax_behavior", "inclusive")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("tax_behavior")), "{e}");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    let (s, same) = c.post(&path, &[("tax_behavior", "exclusive")]).await;
    assert_eq!((s, same["tax_behavior"].as_str()), (200, Some("exclusive")));
    assert_eq!(updates_of(&sim, &price).len(), 1);

    // Metadata keys unset one by one, or all at once; an empty nickname unsets it.
    let (_, p) = c.post(&path, &[("metadata[plan]", ""), ("metadata[tier]", "2")]).await;
    assert_eq!(p["metadata"], json!({ "tier": "2" }));
    let (_, p) = c.post(&path, &[("metadata", ""), ("nickname", ""), ("active", "true")]).await;
    assert_eq!(
        (p["metadata"].clone(), p["nickname"].clone(), p["active"].clone()),
        (json!({}), json!(null), json!(true))
    );
    assert_eq!(updates_of(&sim, &price).len(), 3);

    // Unknown price, a parameter the update does not take, a currency the simulator lacks.
    let (s, e) = c.post("/v1/prices/price_nope", &[("active", "false")]).await;
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["param"].as_str()),
        (404, Some("resource_missing"), Some("price"))
    );
    let (s, e) = c.post(&path, &[("unit_amount", "1200")]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("parameter_unknown")), "{e}");
    let (s, e) = c.post(&path, &[("currency_options[eur][unit_amount]", "900")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("currency_options")), "{e}");
}

#[tokio::test]
async fn an_unspecified_tax_behavior_can_be_set_once() {
    let sim = StripeSim::start().await;
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1000, "month").await;
    let path = format!("/v1/prices/{price}");
    let (_, p) = c.post(&path, &[("tax_behavior", "unspecified")]).await;
    assert_eq!(p["tax_behavior"], "unspecified");
    assert!(updates_of(&sim, &price).is_empty());
    let (s, p) = c.post(&path, &[("tax_behavior", "inclusive")]).await;
    assert_eq!((s, p["tax_behavior"].as_str()), (200, Some("inclusive")));
    for tb in ["exclusive", "unspecified"] {
        let (s, _) = c.post(&path, &[("tax_behavior", tb)]).await;
        assert_eq!(s, 400, "{tb}");
    }
    let (s, e) = c.post(&path, &[("tax_behavior", "included")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("tax_behavior")));
}

#[tokio::test]
async fn lookup_keys_are_unique_unless_transferred() {
    let sim = StripeSim::start().await;
    let c = Client::new(&sim);
    let (prod, a) = c.price("Seats", 1000, "month").await;
    let (_, b) = c.price("Seats yearly", 10000, "year").await;

    let (s, p) = c.post(&format!("/v1/prices/{a}"), &[("lookup_key", "seats")]).await;
    assert_eq!((s, p["lookup_key"].as_str()), (200, Some("seats")), "{p}");
    let (s, e) = c.post(&format!("/v1/prices/{b}"), &[("lookup_key", "seats")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("lookup_key")), "{e}");
    let (s, p) =
        c.post(&format!("/v1/prices/{b}"), &[("lookup_key", "seats"), ("transfer_lookup_key", "true")]).await;
    assert_eq!((s, p["lookup_key"].as_str()), (200, Some("seats")), "{p}");
    let (_, old) = c.get(&format!("/v1/prices/{a}")).await;
    assert_eq!(old["lookup_key"], json!(null));
    let moved = updates_of(&sim, &a);
    assert_eq!(moved.last().unwrap()["data"]["previous_attributes"], json!({ "lookup_key": "seats" }));

    // On create too; a key longer than 200 characters is refused by the description.
    let create = |key: &'static str, transfer: bool| {
        let mut f = vec![
            ("product", prod.clone()),
            ("currency", "usd".to_string()),
            ("unit_amount", "500".to_string()),
            ("recurring[interval]", "month".to_string()),
            ("lookup_key", key.to_string()),
            ("nickname", "Cheap".to_string()),
        ];
        if transfer {
            f.push(("transfer_lookup_key", "true".to_string()));
        }
        f
    };
    let f = create("seats", false);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, e) = c.post("/v1/prices", &f).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("lookup_key")), "{e}");
    let f = create("seats", true);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, p) = c.post("/v1/prices", &f).await;
    assert_eq!(
        (s, p["lookup_key"].as_str(), p["nickname"].as_str()),
        (200, Some("seats"), Some("Cheap")),
        "{p}"
    );
    let (_, old) = c.get(&format!("/v1/prices/{b}")).await;
    assert_eq!(old["lookup_key"], json!(null));
    let long = "k".repeat(201);
    let (s, e) = c.post(&format!("/v1/prices/{a}"), &[("lookup_key", long.as_str())]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("lookup_key")), "{e}");
}
