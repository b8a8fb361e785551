//! End to end through `cargo lambda watch` over HTTP: a merchant sets up a product, a company
//! buys seats, Stripe's signed event completes the purchase, the billing manager signs in —
//! and everything a client can get wrong is refused with the error shape, writing nothing.

use local_stack::moto::{link_param, sent_emails};
use local_stack::stripe_events;
use seats_tests::e2e::{buy, checkout_body, merchant, session, Ctx};
use serde_json::{json, Value};

#[tokio::test]
async fn purchase_flow_end_to_end() {
    let c = Ctx::start("purchase").await;

    let clock = std::time::Instant::now();
    let step = |name: &str| println!("[{:>6.1}s] scenario: {name}", clock.elapsed().as_secs_f64());
    step("a company buys seats and its billing manager signs in");
    let acme = merchant(&c, "acme").await;
    let public = c.api.get(&format!("/v1/products/{}", acme.product_id), None).await;
    assert_eq!(public.status, 200);
    assert_eq!(public.body["prices"]["month"]["unit_amount"], json!(1000));
    let (sub_id, stripe_sub) = buy(&c, &acme, 5, "boss@corp.example").await;
    // The purchase mailed a sign-in link; it opens a session.
    let code = c.sign_in_code_for("boss@corp.example").await;
    let s = c.api.post("/v1/portal/sessions", None, json!({"code": code})).await;
    assert_eq!(s.status, 201, "{:?}", s.body);
    let boss = s.str("/token");
    let mine = c.api.get("/v1/portal/subscriptions", Some(&boss)).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["data"][0]["id"], json!(sub_id));
    for token in [boss.as_str(), acme.key.as_str()] {
        let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(token)).await;
        assert_eq!(sub.status, 200, "{:?}", sub.body);
        assert_eq!(sub.body["status"], json!("active"));
        assert_eq!(sub.body["seats"], json!(5));
        assert_eq!(sub.body["seats_assigned"], json!(0));
        assert_eq!(sub.body["seats_available"], json!(5));
        assert_eq!(sub.body["unit_amount"], json!(1000));
    }

    step("Idempotency-Key on checkouts");
    let body = checkout_body(&acme.product_id, 2, "idem@corp.example").to_string().into_bytes();
    let first = c
        .api
        .raw("POST", "/v1/checkouts", None, Some(body.clone()), &[("idempotency-key", "order-42")])
        .await;
    let second =
        c.api.raw("POST", "/v1/checkouts", None, Some(body), &[("idempotency-key", "order-42")]).await;
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(first.str("/id"), second.str("/id"), "same key and body: the same checkout");
    assert_eq!(second.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap_or("")), Some("true"));
    let other = checkout_body(&acme.product_id, 3, "idem@corp.example").to_string().into_bytes();
    let third =
        c.api.raw("POST", "/v1/checkouts", None, Some(other), &[("idempotency-key", "order-42")]).await;
    assert_eq!((third.status, third.error_code().as_str()), (422, "idempotency_mismatch"));

    step("bad input gets a 4xx in the error shape and writes nothing");
    let before = c.item_keys().await;
    let key = acme.key.as_str();
    let sub_path = format!("/v1/subscriptions/{sub_id}");
    // (method, path, token, body, expected status)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16);
    let bad: Vec<Case> = vec![
        ("POST", "/v1/products", Some(key), b"{not json".to_vec(), 400),
        ("POST", "/v1/products", Some(key), br#"{"name": 5, "currency": "usd", "prices": {"month": {"unit_amount": 1}}}"#.to_vec(), 400),
        ("POST", "/v1/products", Some(key), br#"{"name": "X", "currency": "usd", "prices": {"month": {"unit_amount": 10.5}}}"#.to_vec(), 400),
        ("POST", "/v1/products", Some(key), br#"{"name": "X", "currency": "usd", "prices": {"month": {"unit_amount": 1}}, "colour": "red"}"#.to_vec(), 400),
        ("POST", "/v1/products", Some(key), br#"{"name": "X", "currency": "USD", "prices": {}}"#.to_vec(), 400),
        ("POST", "/v1/products", Some(key), br#"{"name": "X", "currency": "usd", "prices": {"month": {"unit_amount": -1}}}"#.to_vec(), 400),
        ("POST", "/v1/products", Some(key), br#"{"name": "X", "currency": "usd", "prices": {"month": {"unit_amount": 1}}, "min_seats": 5, "max_seats": 2}"#.to_vec(), 400),
        ("POST", "/v1/products", Some(key), br#"[]"#.to_vec(), 400),
        ("POST", "/v1/products", Some(key), vec![], 400),
        ("POST", "/v1/products", Some(key), format!(r#"{{"name": "{}"}}"#, "x".repeat(70 * 1024)).into_bytes(), 413),
        ("POST", "/v1/products", None, br#"{"name": "X", "currency": "usd", "prices": {"month": {"unit_amount": 1}}}"#.to_vec(), 401),
        ("POST", "/v1/products", Some("sk_wrong"), br#"{"name": "X", "currency": "usd", "prices": {"month": {"unit_amount": 1}}}"#.to_vec(), 401),
        ("POST", "/v1/organizations", Some(key), br#"{"name": "Evil", "slug": "evil"}"#.to_vec(), 401),
        ("POST", "/v1/organizations", Some("not-the-admin-token"), br#"{"name": "Evil", "slug": "evil"}"#.to_vec(), 401),
        ("POST", "/v1/organizations", Some(&c.stack.admin_token), br#"{"name": "Acme again", "slug": "acme"}"#.to_vec(), 400),
        ("POST", "/v1/organizations", Some(&c.stack.admin_token), br#"{"name": "Bad", "slug": "Not A Slug"}"#.to_vec(), 400),
        ("POST", "/v1/benefits", Some(key), br#"{"type": "coupon", "name": "X"}"#.to_vec(), 400),
        ("POST", "/v1/benefits", Some(key), br#"{"type": "file_download", "name": "X", "filename": "../../etc/passwd", "content_type": "text/plain"}"#.to_vec(), 400),
        ("POST", "/v1/checkouts", None, checkout_body(&acme.product_id, 0, "a@b.example").to_string().into_bytes(), 400),
        ("POST", "/v1/checkouts", None, checkout_body(&acme.product_id, 101, "a@b.example").to_string().into_bytes(), 400),
        ("POST", "/v1/checkouts", None, checkout_body(&acme.product_id, 2, "not an email").to_string().into_bytes(), 400),
        ("POST", "/v1/checkouts", None, checkout_body("prod_00000000000000000000000000000000", 2, "a@b.example").to_string().into_bytes(), 400),
        ("POST", "/v1/checkouts", None, checkout_body("junk", 2, "a@b.example").to_string().into_bytes(), 400),
        ("POST", "/v1/checkouts", None, br#"{"product_id": "x", "interval": "week", "seats": 1, "customer_email": "a@b.example", "success_url": "https://a.example", "cancel_url": "https://a.example"}"#.to_vec(), 400),
        ("POST", "/v1/checkouts", None, br#"{"seats": "five"}"#.to_vec(), 400),
        ("POST", "/v1/portal/sessions", None, br#"{"code": "sic_forged"}"#.to_vec(), 400),
        ("POST", "/v1/portal/sessions", None, format!(r#"{{"code": "{}"}}"#, "a".repeat(5000)).into_bytes(), 400),
        ("POST", "/v1/portal/sign-in", None, br#"{"organization_slug": "acme", "email": "nope"}"#.to_vec(), 400),
        ("GET", "/v1/portal/subscriptions", Some("cs_expired_or_forged"), vec![], 401),
        ("GET", "/v1/portal/subscriptions", None, vec![], 401),
        ("GET", "/v1/subscriptions/sub_nope", Some(key), vec![], 404),
        ("GET", &sub_path, None, vec![], 401),
        ("GET", "/v1/products/prod_00000000000000000000000000000000", None, vec![], 404),
        ("GET", "/v1/checkouts/chk_00000000000000000000000000000000", None, vec![], 404),
        ("GET", "/v1/benefits", Some("Basic abc"), vec![], 401),
    ];
    for (method, path, token, body, want) in bad {
        let body = (method == "POST").then_some(body);
        let r = c.api.raw(method, path, token, body, &[]).await;
        assert_eq!(r.status, want, "{method} {path}: {:?}", r.body);
        r.error_code();
    }
    let bad_auth = c.api.raw("GET", "/v1/benefits", None, None, &[("authorization", "Basic abc")]).await;
    assert_eq!((bad_auth.status, bad_auth.error_code().as_str()), (401, "unauthorized"));
    // Rate-limit counters (`RATE#ip#…#{minute}`) count bad requests too, on purpose: a new minute
    // while the loop runs starts a new counter. Everything else must be as it was.
    let after = c.item_keys().await;
    let written: Vec<&String> =
        after.symmetric_difference(&before).filter(|k| !k.starts_with("RATE#")).collect();
    assert!(written.is_empty(), "bad input wrote nothing, but these items changed: {written:?}");

    step("another organization sees nothing of this one");
    let globex = merchant(&c, "globex").await;
    let r = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&globex.key)).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    let products = c.api.get("/v1/products", Some(&globex.key)).await;
    let ids: Vec<&Value> = products.body["data"].as_array().expect("list").iter().map(|p| &p["id"]).collect();
    assert_eq!(ids, vec![&json!(globex.product_id)]);
    let benefits = c.api.get("/v1/benefits", Some(&globex.key)).await;
    assert!(benefits.body["data"]
        .as_array()
        .expect("list")
        .iter()
        .all(|b| b["id"] != json!(acme.file_benefit_id)));
    // Globex's billing manager cannot read Acme's subscription either.
    let (_, _) = buy(&c, &globex, 1, "boss@globex.example").await;
    let other_boss = session(&c, "globex", "boss@globex.example").await;
    let r = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&other_boss)).await;
    assert_eq!(r.status, 404);
    let theirs = c.api.get("/v1/portal/subscriptions", Some(&other_boss)).await;
    assert!(theirs.body["data"].as_array().expect("list").iter().all(|s| s["id"] != json!(sub_id)));
    // A merchant lists its own subscriptions only; a billing manager cannot list the merchant's.
    let acme_subs = c.api.get("/v1/subscriptions", Some(&acme.key)).await;
    assert_eq!(acme_subs.status, 200, "{:?}", acme_subs.body);
    assert_eq!(acme_subs.body["data"][0]["id"], json!(sub_id));
    let globex_subs = c.api.get("/v1/subscriptions", Some(&globex.key)).await;
    let globex_ids: Vec<&Value> =
        globex_subs.body["data"].as_array().expect("list").iter().map(|s| &s["id"]).collect();
    assert_eq!(globex_ids.len(), 1);
    assert!(!globex_ids.contains(&&json!(sub_id)));
    assert_eq!(c.api.get("/v1/subscriptions", Some(&boss)).await.status, 401);

    step("forged, tampered and stale webhooks complete nothing");
    let chk =
        c.api.post("/v1/checkouts", None, checkout_body(&acme.product_id, 3, "late@corp.example")).await;
    let chk_id = chk.str("/id");
    let event = stripe_events::checkout_completed(&chk_id, "sub_test_forged", chrono::Utc::now().timestamp());
    let raw = serde_json::to_vec(&event).expect("json");
    let now = chrono::Utc::now().timestamp();
    let wrong_secret = adapters::stripe::webhook::sign(&raw, "whsec_wrong", now);
    let good = adapters::stripe::webhook::sign(&raw, &c.stack.webhook_secret, now);
    let stale = adapters::stripe::webhook::sign(&raw, &c.stack.webhook_secret, now - 360);
    let mut tampered = event.clone();
    tampered["data"]["object"]["subscription"] = json!("sub_test_other");
    let tampered = serde_json::to_vec(&tampered).expect("json");
    for (body, sig) in [
        (raw.clone(), wrong_secret),
        (tampered, good.clone()),
        (raw.clone(), stale),
        (raw.clone(), String::new()),
    ] {
        let r =
            c.api.raw("POST", "/v1/webhooks/stripe", None, Some(body), &[("stripe-signature", &sig)]).await;
        assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_request"), "{:?}", r.body);
    }
    assert_eq!(c.api.get(&format!("/v1/checkouts/{chk_id}"), None).await.str("/status"), "open");
    // The genuine event, delivered twice: one subscription.
    for _ in 0..2 {
        let r = c
            .api
            .raw("POST", "/v1/webhooks/stripe", None, Some(raw.clone()), &[("stripe-signature", &good)])
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let late_boss = session(&c, "acme", "late@corp.example").await;
    let subs = c.api.get("/v1/portal/subscriptions", Some(&late_boss)).await;
    assert_eq!(
        subs.body["data"].as_array().map(Vec::len),
        Some(1),
        "the same event twice created one subscription"
    );

    step("an older subscription update does not roll the period back");
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    let start =
        chrono::DateTime::parse_from_rfc3339(&sub.str("/current_period_start")).expect("time").timestamp();
    let end =
        chrono::DateTime::parse_from_rfc3339(&sub.str("/current_period_end")).expect("time").timestamp();
    let t = chrono::Utc::now().timestamp();
    let renewed = (end, end + 31 * 86_400);
    let newer = stripe_events::subscription_updated(
        &stripe_sub,
        "active",
        renewed,
        stripe_events::Item { quantity: 5, interval: "month" },
        t + 2,
    );
    let older = stripe_events::subscription_updated(
        &stripe_sub,
        "past_due",
        (start, end),
        stripe_events::Item { quantity: 5, interval: "month" },
        t + 1,
    );
    assert_eq!(c.event(&newer).await.status, 200);
    let r = c.event(&older).await;
    assert_eq!((r.status, r.body["outcome"].clone()), (200, json!("stale")));
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    assert_eq!(sub.body["status"], json!("active"));
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&sub.str("/current_period_start")).expect("time").timestamp(),
        renewed.0
    );
    let failed = stripe_events::invoice("invoice.payment_failed", &stripe_sub, t + 3);
    assert_eq!(c.event(&failed).await.status, 200);
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    assert_eq!(sub.body["status"], json!("past_due"));
    let paid = stripe_events::invoice("invoice.paid", &stripe_sub, t + 4);
    assert_eq!(c.event(&paid).await.status, 200);
    let sub = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&acme.key)).await;
    assert_eq!(sub.body["status"], json!("active"));

    step("secrets are stored only as hashes");
    let dump = seats_tests::dump(&seats_tests::scan(&c.db, &c.stack.resources.table).await);
    for secret in [&acme.key, &globex.key, &boss, &other_boss, &late_boss] {
        assert!(!dump.contains(secret.as_str()), "a secret is stored in plain text");
        assert!(dump.contains(&domain::secrets::hash(secret)), "its hash is stored");
    }
    for mail in sent_emails(&c.stack.aws_endpoint).await.expect("emails") {
        if let Some(code) = link_param(&mail.body, "code") {
            assert!(!dump.contains(&code), "a sign-in code is stored in plain text");
        }
    }
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();
}
