//! The customer portal: configurations and sessions.

mod common;

use common::{Client, Receiver, SECRET};
use serde_json::json;
use stripe_sim::StripeSim;

#[tokio::test]
async fn configurations_create_retrieve_update() {
    let sim = StripeSim::start().await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    let (s, cfg) = c
        .post(
            "/v1/billing_portal/configurations",
            &[
                ("features[customer_update][enabled]", "true"),
                ("features[customer_update][allowed_updates][]", "email"),
                ("features[customer_update][allowed_updates][]", "tax_id"),
                ("features[invoice_history][enabled]", "true"),
                ("features[subscription_cancel][enabled]", "true"),
                ("features[subscription_cancel][mode]", "at_period_end"),
                ("features[subscription_cancel][cancellation_reason][enabled]", "true"),
                ("features[subscription_cancel][cancellation_reason][options][]", "too_expensive"),
                ("features[subscription_cancel][cancellation_reason][options][]", "unused"),
                ("business_profile[headline]", "Acme billing"),
                ("default_return_url", "https://example.com/account"),
                ("metadata[env]", "test"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{cfg}");
    let id = cfg["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("bpc_"));
    assert_eq!(cfg["object"], "billing_portal.configuration");
    assert_eq!(cfg["active"], true);
    assert_eq!(cfg["is_default"], false);
    let f = &cfg["features"];
    assert_eq!(f["customer_update"], json!({ "allowed_updates": ["email", "tax_id"], "enabled": true }));
    assert_eq!(f["invoice_history"]["enabled"], true);
    // Features not sent keep their defaults.
    assert_eq!(f["payment_method_update"]["enabled"], false);
    assert_eq!(f["subscription_update"]["enabled"], false);
    assert_eq!(
        f["subscription_cancel"]["cancellation_reason"]["options"],
        json!(["too_expensive", "unused"])
    );
    assert_eq!(f["subscription_cancel"]["proration_behavior"], "none");
    assert_eq!(cfg["business_profile"]["headline"], "Acme billing");
    assert!(cfg["business_profile"]["privacy_policy_url"].is_null());
    assert_eq!(cfg["default_return_url"], "https://example.com/account");
    assert_eq!(cfg["login_page"], json!({ "enabled": false, "url": null }));
    assert_eq!(cfg["metadata"]["env"], "test");

    let (s, got) = c.get(&format!("/v1/billing_portal/configurations/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(got, cfg);
    let (s, e) = c.get("/v1/billing_portal/configurations/bpc_nope").await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "resource_missing");

    let (s, upd) = c
        .post(
            &format!("/v1/billing_portal/configurations/{id}"),
            &[
                ("features[payment_method_update][enabled]", "true"),
                ("features[customer_update][allowed_updates]", ""),
                ("default_return_url", ""),
                ("metadata[env]", ""),
            ],
        )
        .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(upd["features"]["payment_method_update"]["enabled"], true);
    assert_eq!(upd["features"]["customer_update"], json!({ "allowed_updates": [], "enabled": true }));
    assert_eq!(upd["features"]["invoice_history"]["enabled"], true);
    assert!(upd["default_return_url"].is_null());
    assert_eq!(upd["metadata"], json!({}));
    let types = rx.types();
    assert!(types.contains(&"billing_portal.configuration.created".to_string()), "{types:?}");
    let ev = rx.of_type("billing_portal.configuration.updated");
    assert_eq!(ev[0]["data"]["previous_attributes"]["default_return_url"], "https://example.com/account");
    assert_eq!(sim.billing_portal_configurations(), vec![upd]);

    // Schema and runtime checks.
    let (s, e) =
        c.post("/v1/billing_portal/configurations", &[("default_return_url", "https://x.test")]).await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "features");
    let (s, e) = c
        .post(
            "/v1/billing_portal/configurations",
            &[("features[customer_update][allowed_updates][]", "birthday")],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "features[customer_update][allowed_updates][]");
    let (s, e) =
        c.post("/v1/billing_portal/configurations", &[("features[invoice_history][shown]", "true")]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("parameter_unknown")));
    let (s, e) = c
        .post(
            "/v1/billing_portal/configurations",
            &[("features[customer_update][allowed_updates][]", "email")],
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "features[customer_update][enabled]");
}

#[tokio::test]
async fn sessions() {
    let sim = StripeSim::start().await;
    let rx = Receiver::start().await;
    sim.set_webhook(&rx.url, SECRET);
    let c = Client::new(&sim);
    let (_, price) = c.price("Seats", 1000, "month").await;
    let (cus, sub) = c.subscription(&price, 1).await;

    // Without `configuration` the default one is used (made once, then reused).
    let (s, ses) = c.post("/v1/billing_portal/sessions", &[("customer", &cus)]).await;
    assert_eq!(s, 200, "{ses}");
    let id = ses["id"].as_str().unwrap();
    assert!(id.starts_with("bps_"));
    assert_eq!(ses["object"], "billing_portal.session");
    assert_eq!(ses["customer"], cus.as_str());
    assert_eq!(ses["livemode"], false);
    assert!(ses["flow"].is_null());
    assert!(ses["return_url"].is_null());
    assert!(ses["created"].is_i64());
    let url = ses["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/billing_portal/{id}", sim.base_url()));
    let default_id = ses["configuration"].as_str().unwrap().to_string();
    let cfgs = sim.billing_portal_configurations();
    assert_eq!(cfgs.len(), 1);
    assert_eq!(cfgs[0]["id"], default_id.as_str());
    assert_eq!(cfgs[0]["is_default"], true);
    let (_, again) = c
        .post(
            "/v1/billing_portal/sessions",
            &[("customer", &cus), ("return_url", "https://example.com/back")],
        )
        .await;
    assert_eq!(again["configuration"], default_id.as_str());
    assert_eq!(again["return_url"], "https://example.com/back");

    // The session's page lists the customer's subscription and links back.
    let page = reqwest::get(again["url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    assert!(page.contains(sub["id"].as_str().unwrap()), "{page}");
    assert!(page.contains("https://example.com/back"));

    // A configuration's default_return_url is the session's return_url unless one is given;
    // `expand[]=configuration` embeds it.
    let (_, cfg) = c
        .post(
            "/v1/billing_portal/configurations",
            &[
                ("features[invoice_history][enabled]", "true"),
                ("default_return_url", "https://example.com/home"),
            ],
        )
        .await;
    let cfg_id = cfg["id"].as_str().unwrap();
    let (s, ses2) = c
        .post(
            "/v1/billing_portal/sessions",
            &[("customer", &cus), ("configuration", cfg_id), ("expand[]", "configuration")],
        )
        .await;
    assert_eq!(s, 200, "{ses2}");
    assert_eq!(ses2["return_url"], "https://example.com/home");
    assert_eq!(ses2["configuration"]["id"], cfg_id);

    // A deep link into cancelling one of the customer's subscriptions.
    let sub_id = sub["id"].as_str().unwrap();
    let (s, flow) = c
        .post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", &cus),
                ("flow_data[type]", "subscription_cancel"),
                ("flow_data[subscription_cancel][subscription]", sub_id),
            ],
        )
        .await;
    assert_eq!(s, 200, "{flow}");
    assert_eq!(flow["flow"]["type"], "subscription_cancel");
    assert_eq!(flow["flow"]["subscription_cancel"]["subscription"], sub_id);

    let (s, e) = c.post("/v1/billing_portal/sessions", &[("customer", "cus_nope")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (404, Some("customer")));
    let (s, e) = c.post("/v1/billing_portal/sessions", &[("return_url", "https://x.test")]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("parameter_missing")));
    let (s, e) =
        c.post("/v1/billing_portal/sessions", &[("customer", &cus), ("configuration", "bpc_nope")]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (404, Some("configuration")));
    let (s, _) = c.post(&format!("/v1/billing_portal/configurations/{cfg_id}"), &[("active", "false")]).await;
    assert_eq!(s, 200);
    let (s, e) =
        c.post("/v1/billing_portal/sessions", &[("customer", &cus), ("configuration", cfg_id)]).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("configuration")));

    let sessions = sim.billing_portal_sessions();
    assert_eq!(sessions.len(), 4);
    assert_eq!(sessions[0]["id"], ses["id"]);
    assert_eq!(sessions[2]["configuration"], cfg_id);
    assert_eq!(rx.of_type("billing_portal.session.created").len(), 4);
}
