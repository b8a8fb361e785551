//! Outgoing webhooks end to end through `cargo lambda watch`, the SQS bridges and receivers on
//! 127.0.0.1 (wiremock): one story (purchase, assign, claim, revoke, resize) is announced to a
//! merchant's endpoint, every request verified with the endpoint's secret by a Standard
//! Webhooks verifier written here from the specification, payloads equal to the API's answers;
//! a receiver failing three times gets it on the fourth attempt; one that never accepts is
//! given up on after the (compressed) window and its endpoint disabled, the merchant mailed.

use base64::Engine;
use hmac::Mac;
use seats_tests::e2e::{buy, merchant, session, Ctx};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// HMAC-SHA256 keyed with the base64 bytes after `whsec_`, over `{id}.{timestamp}.{body}`;
/// any `v1,` signature of the space-separated list may match; the timestamp is recent.
fn verified(secret: &str, r: &Request) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let header = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (Some(id), Some(ts), Some(sigs)) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
    else {
        return false;
    };
    let fresh = ts.parse::<i64>().is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 300);
    let Some(key) = secret.strip_prefix("whsec_").and_then(|k| b64.decode(k).ok()) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else { return false };
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = b64.encode(mac.finalize().into_bytes());
    fresh && sigs.split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// Waits until the receiver's requests satisfy `done`.
async fn received_until(server: &MockServer, what: &str, done: impl Fn(&[Request]) -> bool) -> Vec<Request> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = server.received_requests().await.unwrap_or_default();
        if done(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never happened; received {:?}",
            got.iter().map(|r| body(r)["type"].clone()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn endpoint(c: &Ctx, key: &str, url: &str, events: Value) -> (String, String) {
    let r = c.api.post("/v1/webhook-endpoints", Some(key), json!({"url": url, "events": events})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (r.str("/id"), r.str("/secret"))
}

async fn deliveries_until(c: &Ctx, key: &str, endpoint: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = c.api.get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"), Some(key)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let list = r.body["data"].as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "deliveries never reached the expected state: {list:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn webhooks_end_to_end() {
    // Time compressed: waits of 1 then 2 s, a 12-second window.
    let env = [("WEBHOOK_RETRY_BASE_S", "1"), ("WEBHOOK_RETRY_CAP_S", "2"), ("WEBHOOK_RETRY_WINDOW_S", "12")];
    let c =
        Ctx::start_with("webhooks", env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).await;
    let clock = Instant::now();
    let step = |name: &str| println!("[{:>6.1}s] scenario: {name}", clock.elapsed().as_secs_f64());

    step("an endpoint for every event; https only, except this machine's loopback locally");
    let acme = merchant(&c, "acme").await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let refused = c
        .api
        .post(
            "/v1/webhook-endpoints",
            Some(&acme.key),
            json!({"url": "http://hooks.example/x", "events": ["*"]}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (400, "invalid_request"),
        "{:?}",
        refused.body
    );
    let (story_endpoint, secret) =
        endpoint(&c, &acme.key, &format!("{}/hooks", receiver.uri()), json!(["*"])).await;
    let listed = c.api.get("/v1/webhook-endpoints", Some(&acme.key)).await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));
    assert!(listed.body["data"][0].get("secret").is_none(), "the secret is shown once");

    step("the story: purchase, assign, claim, revoke, resize");
    let (sub_id, _) = buy(&c, &acme, 3, "boss@corp.example").await;
    let boss = session(&c, "acme", "boss@corp.example").await;
    let seat = c
        .api
        .post(&format!("/v1/subscriptions/{sub_id}/seats"), Some(&boss), json!({"email": "ann@corp.example"}))
        .await;
    assert_eq!(seat.status, 201, "{:?}", seat.body);
    let seat_id = seat.str("/id");
    let token = c.invitation_token("ann@corp.example").await;
    let claimed = c.api.post("/v1/claims", None, json!({ "token": token })).await;
    assert_eq!(claimed.status, 200, "{:?}", claimed.body);
    let granted =
        |reqs: &[Request]| reqs.iter().filter(|r| body(r)["type"] == "benefit.granted").count() == 2;
    received_until(&receiver, "both benefits granted", granted).await;
    let revoked = c.api.delete(&format!("/v1/subscriptions/{sub_id}/seats/{seat_id}"), Some(&boss)).await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    let now = chrono::Utc::now().timestamp();
    let resized = c
        .api
        .post(
            &format!("/v1/subscriptions/{sub_id}/seat-changes"),
            Some(&boss),
            json!({"seats": 5, "proration_date": now}),
        )
        .await;
    assert_eq!(resized.status, 200, "{:?}", resized.body);

    let wanted = [
        "checkout.completed",
        "subscription.created",
        "seat.assigned",
        "seat.invitation_sent",
        "seat.claimed",
        "benefit.granted",
        "seat.revoked",
        "benefit.revoked",
        "subscription.updated",
    ];
    let all_seen = |reqs: &[Request]| {
        let types: Vec<Value> = reqs.iter().map(|r| body(r)["type"].clone()).collect();
        wanted.iter().all(|t| types.contains(&json!(t)))
            && types.iter().filter(|t| **t == json!("benefit.revoked")).count() == 2
    };
    let got = received_until(&receiver, "every event of the story", all_seen).await;
    step("every request verifies with the secret; payloads are the API's objects");
    assert!(got.iter().all(|r| verified(&secret, r)), "a request did not verify");
    assert!(got
        .iter()
        .all(|r| body(r)["id"].as_str() == r.headers.get("webhook-id").and_then(|v| v.to_str().ok())));
    let events: Vec<Value> = got.iter().map(body).collect();
    let of = |t: &str| events.iter().filter(|e| e["type"] == t).cloned().collect::<Vec<_>>();
    assert_eq!(
        of("seat.revoked")[0]["data"]["object"],
        revoked.body,
        "the revoked seat as the API answered it"
    );
    assert_eq!(of("seat.revoked")[0]["data"]["object"]["email"], json!("ann@corp.example"));
    assert_eq!(of("seat.revoked")[0]["data"]["object"]["customer_id"], claimed.body["seat"]["customer_id"]);
    assert_eq!(of("seat.claimed")[0]["data"]["object"], claimed.body["seat"]);
    assert_eq!(of("seat.assigned")[0]["data"]["object"], seat.body);
    let read = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&boss)).await;
    let newest =
        of("subscription.updated").into_iter().max_by_key(|e| e["version"].as_i64()).expect("updated");
    assert_eq!(
        newest["data"]["object"], read.body,
        "the newest subscription.updated is the subscription now"
    );
    assert_eq!(newest["data"]["object"]["seats"], json!(5));
    let checkout = of("checkout.completed")[0]["data"]["object"].clone();
    assert_eq!(
        (checkout["status"].clone(), checkout["subscription_id"].clone()),
        (json!("completed"), json!(sub_id))
    );
    // Each event went out once (a delivery per event and endpoint), all succeeded at once.
    let ids: std::collections::HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), events.len(), "no event was delivered twice");
    let list = deliveries_until(&c, &acme.key, &story_endpoint, |l| l.len() == events.len()).await;
    assert!(list.iter().all(|d| d["status"] == json!("succeeded") && d["attempts"] == json!(1)), "{list:?}");

    step("a receiver failing three times gets it on the fourth attempt; one never accepting is given up on");
    let flaky = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&flaky)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).with_priority(2).mount(&flaky).await;
    let dead = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&dead).await;
    let (flaky_endpoint, flaky_secret) =
        endpoint(&c, &acme.key, &flaky.uri(), json!(["seat.assigned"])).await;
    let (dead_endpoint, _) = endpoint(&c, &acme.key, &dead.uri(), json!(["seat.assigned"])).await;
    let bob = c
        .api
        .post(&format!("/v1/subscriptions/{sub_id}/seats"), Some(&boss), json!({"email": "bob@corp.example"}))
        .await;
    assert_eq!(bob.status, 201, "{:?}", bob.body);
    let delivered = deliveries_until(&c, &acme.key, &flaky_endpoint, |l| {
        l.first().is_some_and(|d| d["status"] == json!("succeeded"))
    })
    .await;
    assert_eq!(
        (delivered[0]["attempts"].clone(), delivered[0]["last_response_code"].clone()),
        (json!(4), json!(200))
    );
    let tries = flaky.received_requests().await.unwrap_or_default();
    assert_eq!(tries.len(), 4);
    assert!(tries.iter().all(|r| verified(&flaky_secret, r) && r.body == tries[0].body));
    let failed = deliveries_until(&c, &acme.key, &dead_endpoint, |l| {
        l.first().is_some_and(|d| d["status"] == json!("failed"))
    })
    .await;
    assert!(failed[0]["attempts"].as_i64().unwrap_or(0) >= 4, "{failed:?}");
    assert_eq!(failed[0]["last_response_code"], json!(500));
    // The endpoint is disabled by the attempt that gave up, and the merchant mailed once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dead_now = c.api.get(&format!("/v1/webhook-endpoints/{dead_endpoint}"), Some(&acme.key)).await;
        let mails = local_stack::moto::sent_emails(&c.stack.aws_endpoint).await.expect("emails");
        let told = mails
            .iter()
            .filter(|m| m.to.iter().any(|t| t == "ops@acme.example") && m.body.contains(&dead_endpoint))
            .count();
        if dead_now.body["disabled"] == json!(true) && told == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not disabled and told once: {:?}, {told} mails", dead_now.body);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    step("enabled again and retried by hand, the failed delivery goes through");
    dead.reset().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&dead).await;
    let retry_path = format!(
        "/v1/webhook-endpoints/{dead_endpoint}/deliveries/{}/retry",
        failed[0]["id"].as_str().unwrap_or("")
    );
    let refused = c.api.post(&retry_path, Some(&acme.key), json!({})).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    let enabled = c
        .api
        .raw(
            "PATCH",
            &format!("/v1/webhook-endpoints/{dead_endpoint}"),
            Some(&acme.key),
            Some(br#"{"disabled": false}"#.to_vec()),
            &[],
        )
        .await;
    assert_eq!((enabled.status, enabled.body["disabled"].clone()), (200, json!(false)), "{:?}", enabled.body);
    assert_eq!(c.api.post(&retry_path, Some(&acme.key), json!({})).await.status, 200);
    deliveries_until(&c, &acme.key, &dead_endpoint, |l| {
        l.first().is_some_and(|d| d["status"] == json!("succeeded"))
    })
    .await;

    step("a test event, another merchant, bad input");
    let test =
        c.api.post(&format!("/v1/webhook-endpoints/{story_endpoint}/test"), Some(&acme.key), json!({})).await;
    assert_eq!((test.status, test.body["event_type"].clone()), (201, json!("webhook_endpoint.test")));
    received_until(&receiver, "the test event", |r| {
        r.iter().any(|r| body(r)["type"] == "webhook_endpoint.test")
    })
    .await;
    let globex = merchant(&c, "globex").await;
    let theirs = c.api.get(&format!("/v1/webhook-endpoints/{story_endpoint}"), Some(&globex.key)).await;
    assert_eq!((theirs.status, theirs.error_code().as_str()), (404, "not_found"));
    let bad = c
        .api
        .post(
            "/v1/webhook-endpoints",
            Some(&acme.key),
            json!({"url": receiver.uri(), "events": ["seat.eaten"]}),
        )
        .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    let gone = c.api.delete(&format!("/v1/webhook-endpoints/{story_endpoint}"), Some(&acme.key)).await;
    assert_eq!((gone.status, gone.body["deleted"].clone()), (200, json!(true)));
    assert_eq!(
        c.api.delete(&format!("/v1/webhook-endpoints/{story_endpoint}"), Some(&acme.key)).await.status,
        404
    );
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();
}
