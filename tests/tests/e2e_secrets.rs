//! No secret at rest, over HTTP through the functions: a replayed organization creation does
//! not replay its API key, sign-out ends a session on the server, strangers' idempotency keys
//! never meet, one mailbox is one email — and after all of it (and a seat assigned, claimed and
//! re-sent), a scan of the whole table finds none of the secrets the run was given.

use seats_tests::e2e::{buy, checkout_body, merchant, session, Ctx};
use serde_json::{json, Value};

fn strings(v: &aws_sdk_dynamodb::types::AttributeValue, out: &mut Vec<String>) {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match v {
        A::S(s) => out.push(s.clone()),
        A::M(m) => m.values().for_each(|x| strings(x, out)),
        A::L(l) => l.iter().for_each(|x| strings(x, out)),
        A::Ss(l) => out.extend(l.iter().cloned()),
        _ => {}
    }
}

#[tokio::test]
async fn no_secret_is_kept_and_sessions_end_on_sign_out() {
    // The anonymous per-address limit at 80 a minute: this test makes fewer until it floods.
    let c = Ctx::start_with("secrets", vec![("ANONYMOUS_REQUESTS_PER_MINUTE".into(), "80".into())]).await;
    let admin = c.stack.admin_token.clone();
    let mut secrets: Vec<String> = Vec::new();

    // The functions' environment names the webhook's secret; the secret itself is in Secrets
    // Manager (every signed event this suite posts is verified with what the function read).
    let env = &c.stack.function_env;
    assert!(env.iter().all(|(_, v)| !v.contains(&c.stack.webhook_secret)), "a secret in the environment");
    assert!(env
        .iter()
        .any(|(k, v)| k == "STRIPE_WEBHOOK_SECRET_ID" && v.starts_with("arn:aws:secretsmanager:")));
    assert!(env.iter().all(|(k, _)| k != "STRIPE_SECRET_KEY" && k != "STRIPE_WEBHOOK_SECRET"));

    // A replayed organization creation answers the organization, not its key.
    let body = json!({"name": "Globex", "slug": "globex"}).to_string().into_bytes();
    let headers = [("idempotency-key", "org-globex")];
    let first = c.api.raw("POST", "/v1/organizations", Some(&admin), Some(body.clone()), &headers).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let key = first.str("/api_key");
    secrets.push(key.clone());
    let replay = c.api.raw("POST", "/v1/organizations", Some(&admin), Some(body), &headers).await;
    assert_eq!(replay.status, 201);
    let org_id = first.str("/organization/id");
    assert!(org_id.starts_with("org_"));
    assert_eq!(replay.str("/organization/id"), org_id, "the same organization");
    assert_eq!(replay.body["api_key"], Value::Null, "the key is shown once");
    assert_eq!(replay.body["secrets_not_replayed"], json!(["api_key"]));
    assert_eq!(c.api.get("/v1/products", Some(&key)).await.status, 200, "the first answer's key works");

    // Key rotation: the old key works for the grace period chosen, then stops; none is listed
    // with its secret, and a replayed rotation does not show the new key again.
    let keys_path = format!("/v1/organizations/{org_id}/api-keys");
    let rotate = [("idempotency-key", "rotate-1")];
    let body = json!({"grace_period_s": 3600}).to_string().into_bytes();
    let second = c.api.raw("POST", &keys_path, Some(&key), Some(body.clone()), &rotate).await;
    assert_eq!(second.status, 201, "{:?}", second.body);
    let key2 = second.str("/api_key");
    secrets.push(key2.clone());
    let again = c.api.raw("POST", &keys_path, Some(&key), Some(body), &rotate).await;
    assert_eq!((again.status, again.body["api_key"].clone()), (201, Value::Null));
    assert_eq!(c.api.get("/v1/products", Some(&key)).await.status, 200, "the old key, within its grace");
    assert_eq!(c.api.get("/v1/products", Some(&key2)).await.status, 200);
    let listed = c.api.get(&keys_path, Some(&key2)).await;
    assert_eq!(listed.status, 200);
    let rows = listed.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.get("api_key").is_none()), "no secret in the list");
    assert!(rows[0]["expires_at"].is_string() && rows[1]["expires_at"].is_null());
    assert_eq!(rows[1]["last4"], json!(key2[key2.len() - 4..]));
    let third = c.api.post(&keys_path, Some(&key2), json!({"grace_period_s": 0})).await;
    assert_eq!(third.status, 201);
    let key3 = third.str("/api_key");
    secrets.push(key3.clone());
    for old in [&key, &key2] {
        assert_eq!(c.api.get("/v1/products", Some(old)).await.status, 401, "a replaced key stops");
    }
    assert_eq!(c.api.get("/v1/products", Some(&key3)).await.status, 200);
    let acme_keys = c.api.get(&keys_path, Some(&admin)).await;
    assert_eq!(acme_keys.status, 200, "the operator lists them too");

    // Anonymous keys are scoped to the product: two buyers' "order-1" are two checkouts.
    let acme = merchant(&c, "acme").await;
    secrets.push(acme.key.clone());
    let other = c
        .api
        .post(
            "/v1/products",
            Some(&acme.key),
            json!({"name": "Acme Lite", "currency": "usd", "prices": {"month": {"unit_amount": 500}}, "benefit_ids": []}),
        )
        .await;
    assert_eq!(other.status, 201, "{:?}", other.body);
    let idem = [("idempotency-key", "order-1")];
    let a = checkout_body(&acme.product_id, 2, "a@corp.example").to_string().into_bytes();
    let b = checkout_body(&other.str("/id"), 2, "b@corp.example").to_string().into_bytes();
    let (ra, rb) = (
        c.api.raw("POST", "/v1/checkouts", None, Some(a), &idem).await,
        c.api.raw("POST", "/v1/checkouts", None, Some(b), &idem).await,
    );
    assert_eq!((ra.status, rb.status), (201, 201), "{:?} {:?}", ra.body, rb.body);
    assert_ne!(ra.str("/id"), rb.str("/id"));

    // One mailbox is one email: Unicode case and composition agree, an IDN domain is one in
    // either form, invisible characters are refused.
    let (sub_id, _) = buy(&c, &acme, 3, "boss@corp.example").await;
    let boss = session(&c, "acme", "boss@corp.example").await;
    secrets.push(boss.clone());
    let seats = format!("/v1/subscriptions/{sub_id}/seats");
    let elodie = c.api.post(&seats, Some(&boss), json!({"email": "E\u{301}LODIE@Corp.example"})).await;
    assert_eq!(elodie.status, 201, "{:?}", elodie.body);
    assert_eq!(elodie.body["email"], json!("\u{e9}lodie@corp.example"));
    let again = c.api.post(&seats, Some(&boss), json!({"email": "\u{e9}lodie@corp.example"})).await;
    assert_eq!((again.status, again.error_code().as_str()), (409, "seat_already_assigned"));
    let eva = c.api.post(&seats, Some(&boss), json!({"email": "Eva@B\u{fc}cher.example"})).await;
    assert_eq!(eva.status, 201, "{:?}", eva.body);
    assert_eq!(eva.body["email"], json!("eva@xn--bcher-kva.example"));
    let again = c.api.post(&seats, Some(&boss), json!({"email": "EVA@xn--BCHER-kva.example"})).await;
    assert_eq!((again.status, again.error_code().as_str()), (409, "seat_already_assigned"));
    let hidden = c.api.post(&seats, Some(&boss), json!({"email": "ev\u{200B}a@corp.example"})).await;
    assert_eq!((hidden.status, hidden.str("/error/field").as_str()), (400, "email"));

    // A seat claimed (its holder's session: ann takes élodie's place) and another re-sent.
    let revoked = c.api.delete(&format!("{seats}/{}", elodie.str("/id")), Some(&boss)).await;
    assert_eq!(revoked.status, 200);
    let ann = c.api.post(&seats, Some(&boss), json!({"email": "ann@corp.example"})).await;
    assert_eq!(ann.status, 201, "{:?}", ann.body);
    let token = c.invitation_token("ann@corp.example").await;
    let claimed = c.api.post("/v1/claims", None, json!({"token": token})).await;
    assert_eq!(claimed.status, 200, "{:?}", claimed.body);
    secrets.push(token);
    secrets.push(claimed.str("/session/token"));
    let first_link = c.invitation_token("eva@xn--bcher-kva.example").await;
    let resent = c.api.post(&format!("{seats}/{}/resend", eva.str("/id")), Some(&boss), json!({})).await;
    assert_eq!(resent.status, 200);
    secrets.push(first_link.clone());
    secrets.push(c.invitation_token_after("eva@xn--bcher-kva.example", &first_link).await);
    secrets.extend(c.mailed_secrets().await);

    // Limits: a sixth sign-in link within 15 minutes, a sixth re-send of one seat within the
    // hour — 429 with Retry-After, the same for an email nobody has.
    for email in ["boss@corp.example", "nobody@corp.example"] {
        let ask = json!({"organization_slug": "acme", "email": email});
        let mut last = None;
        for _ in 0..6 {
            last = Some(c.api.post("/v1/portal/sign-in", None, ask.clone()).await);
        }
        let last = last.expect("asked");
        assert_eq!((last.status, last.error_code().as_str()), (429, "rate_limited"), "{email}");
        let retry: i64 = last
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!((1..=900).contains(&retry), "Retry-After: {retry}");
    }
    let resend = format!("{seats}/{}/resend", eva.str("/id"));
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(c.api.post(&resend, Some(&boss), json!({})).await.status);
        }
        v
    };
    assert_eq!(statuses, vec![200, 200, 200, 200, 429], "five re-sends an hour (one was sent above)");

    // Sign-out ends the session on the server, not only in the tab.
    let mine = c.api.get("/v1/portal/subscriptions", Some(&boss)).await;
    assert_eq!(mine.status, 200);
    let out = c.api.post("/v1/portal/sessions/current/revoke", Some(&boss), json!({})).await;
    assert_eq!((out.status, out.body.clone()), (200, json!({"revoked": true})));
    assert_eq!(c.api.get("/v1/portal/subscriptions", Some(&boss)).await.status, 401);
    assert_eq!(
        c.api.post("/v1/portal/sessions/current/revoke", Some(&acme.key), json!({})).await.status,
        401
    );

    // One address flooding the anonymous routes is stopped, with Retry-After.
    let product_path = format!("/v1/products/{}", acme.product_id);
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(c.api.get(&product_path, None).await);
    }
    let limited = flood.iter().find(|r| r.status == 429).expect("the flood is limited");
    assert_eq!(limited.error_code(), "rate_limited");
    assert!(limited.headers.get("retry-after").is_some());
    let key_check = json!({"organization_id": org_id, "key": "ACME-00000-00000-00000-00000"});
    let r = c.api.post("/v1/license-keys/validate", None, key_check).await;
    assert_eq!((r.status, r.error_code().as_str()), (429, "rate_limited"), "the license-key routes too");
    assert_eq!(c.api.get("/v1/products", Some(&key3)).await.status, 200, "authenticated calls are not");

    // Nothing kept anywhere holds a secret, plain or as a value shaped like one.
    let items = seats_tests::scan(&c.db, &c.stack.resources.table).await;
    let mut values = Vec::new();
    for item in &items {
        item.values().for_each(|v| strings(v, &mut values));
    }
    assert!(values.len() > 100, "the scan read the table ({} strings)", values.len());
    for s in &secrets {
        assert!(!values.iter().any(|v| v.contains(s.as_str())), "a secret is stored: {}…", &s[..6]);
    }
    let shaped: Vec<&String> = values.iter().filter(|v| domain::secrets::is_secret(v)).collect();
    assert!(shaped.is_empty(), "values shaped like secrets: {}", shaped.len());
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();
}
