//! The seat lifecycle end to end through `cargo lambda watch` and the local SQS bridge: buy,
//! assign, invite, claim, grant, download, revoke, reassign — plus 200 concurrent assigns,
//! cross-tenant access on every seat route, bad input, a poison job and the sample events.

use seats_tests::api::Reply;
use seats_tests::e2e::{buy, merchant, session, Ctx, FILE_BYTES};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Polls `GET /v1/portal/benefits` until `done` holds (the worker runs behind the bridge).
async fn benefits_until(c: &Ctx, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = c.api.get("/v1/portal/benefits", Some(token)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let list = r.body["data"].as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "benefits never reached the expected state: {list:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn assign(email: &str) -> Value {
    json!({ "email": email, "metadata": { "team": "design" } })
}

#[tokio::test]
async fn seat_lifecycle_end_to_end() {
    let c = Ctx::start("seats").await;
    let clock = Instant::now();
    let step = |name: &str| println!("[{:>6.1}s] scenario: {name}", clock.elapsed().as_secs_f64());

    step("buy 3 seats, assign 3, the fourth is refused");
    let acme = merchant(&c, "acme").await;
    let (sub_id, _) = buy(&c, &acme, 3, "boss@corp.example").await;
    let boss = session(&c, "acme", "boss@corp.example").await;
    let seats_path = format!("/v1/subscriptions/{sub_id}/seats");
    let mut seat_ids = Vec::new();
    for (i, who) in [&boss, &boss, &acme.key].iter().enumerate() {
        let r = c.api.post(&seats_path, Some(who.as_str()), assign(&format!("member{i}@corp.example"))).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["status"], json!("pending"));
        assert_eq!(r.body["metadata"]["team"], json!("design"));
        seat_ids.push(r.str("/id"));
    }
    let fourth = c.api.post(&seats_path, Some(&boss), assign("member9@corp.example")).await;
    assert_eq!((fourth.status, fourth.error_code().as_str()), (409, "no_seats_available"));
    let twice = c.api.post(&seats_path, Some(&boss), assign("MEMBER0@corp.example")).await;
    assert_eq!((twice.status, twice.error_code().as_str()), (409, "seat_already_assigned"));
    let list = c.api.get(&seats_path, Some(&boss)).await;
    assert_eq!(
        (list.body["seats_assigned"].clone(), list.body["seats_available"].clone()),
        (json!(3), json!(0))
    );
    let page = c.api.get(&format!("{seats_path}?limit=2"), Some(&boss)).await;
    assert_eq!(page.body["seats"].as_array().map(Vec::len), Some(2));
    let rest =
        c.api.get(&format!("{seats_path}?limit=2&cursor={}", page.str("/next_cursor")), Some(&boss)).await;
    assert_eq!(rest.body["seats"].as_array().map(Vec::len), Some(1));

    step("the invitation is read from SES, previewed and claimed");
    let token = c.invitation_token("member0@corp.example").await;
    for _ in 0..2 {
        let p = c.api.get(&format!("/v1/claims/{token}"), None).await;
        assert_eq!(p.status, 200, "{:?}", p.body);
        assert_eq!(
            (p.str("/organization_name"), p.str("/product_name"), p.str("/email")),
            ("Acme Inc".into(), "Acme Pro".into(), "member0@corp.example".into())
        );
    }
    let claimed = c.api.post("/v1/claims", None, json!({ "token": token })).await;
    assert_eq!(claimed.status, 200, "{:?}", claimed.body);
    assert_eq!(claimed.body["seat"]["status"], json!("claimed"));
    let holder = claimed.str("/session/token");
    let again = c.api.post("/v1/claims", None, json!({ "token": token })).await;
    assert_eq!((again.status, again.error_code().as_str()), (404, "not_found"));

    step("both benefits are granted; the file downloads through the presigned URL");
    let grants =
        benefits_until(&c, &holder, |l| l.len() == 2 && l.iter().all(|g| g["status"] == json!("granted")))
            .await;
    let key = grants.iter().find_map(|g| g["license_key"].as_str()).expect("license key");
    assert!(key.starts_with("ACME-"), "{key}");
    let file = grants.iter().find(|g| g["benefit"]["type"] == json!("file_download")).expect("file grant");
    let file_grant = file["id"].as_str().expect("id").to_string();
    let dl = c.api.get(&format!("/v1/portal/benefits/{file_grant}/download"), Some(&holder)).await;
    assert_eq!(dl.status, 200, "{:?}", dl.body);
    let bytes = reqwest::get(dl.str("/url")).await.expect("download").bytes().await.expect("bytes");
    assert_eq!(&bytes[..], FILE_BYTES);

    step("the merchant's software validates the key and activates it; the holder lists and removes");
    let org_id = c.api.get(&format!("/v1/subscriptions/{sub_id}"), Some(&boss)).await.str("/organization_id");
    let check = json!({"organization_id": org_id, "key": key});
    let v = c.api.post("/v1/license-keys/validate", None, check.clone()).await;
    assert_eq!(
        (v.status, v.body["valid"].clone(), v.body["status"].clone()),
        (200, json!(true), json!("granted"))
    );
    let act = c
        .api
        .post(
            "/v1/license-keys/activate",
            None,
            json!({"organization_id": org_id, "key": key, "label": "laptop"}),
        )
        .await;
    assert_eq!(act.status, 201, "{:?}", act.body);
    let activation = act.str("/id");
    let license_grant =
        grants.iter().find(|g| g["license_key"].is_string()).and_then(|g| g["id"].as_str()).expect("id");
    let mine = c.api.get(&format!("/v1/portal/benefits/{license_grant}/activations"), Some(&holder)).await;
    assert_eq!((mine.status, mine.body["data"][0]["label"].clone()), (200, json!("laptop")));
    let off = c
        .api
        .post(
            "/v1/license-keys/deactivate",
            None,
            json!({"organization_id": org_id, "key": key, "activation_id": activation}),
        )
        .await;
    assert_eq!((off.status, off.body["deactivated"].clone()), (200, json!(true)));
    let wrong = c
        .api
        .post("/v1/license-keys/validate", None, json!({"organization_id": org_id, "key": "ACME-XXXXX"}))
        .await;
    assert_eq!((wrong.status, wrong.error_code().as_str()), (404, "not_found"));

    step("other organizations, seat holders and other billing managers see nothing");
    let globex = merchant(&c, "globex").await;
    buy(&c, &globex, 1, "boss@globex.example").await;
    let other_boss = session(&c, "globex", "boss@globex.example").await;
    let seat0 = &seat_ids[0];
    let seat1 = &seat_ids[1];
    for token in [globex.key.as_str(), holder.as_str(), other_boss.as_str()] {
        let routes: Vec<(&str, String, Option<Value>)> = vec![
            ("POST", seats_path.clone(), Some(assign("intruder@evil.example"))),
            ("GET", seats_path.clone(), None),
            ("POST", format!("{seats_path}/{seat1}/resend"), Some(json!({}))),
            ("DELETE", format!("{seats_path}/{seat1}"), None),
            ("GET", format!("/v1/subscriptions/{sub_id}/events"), None),
            ("GET", format!("/v1/subscriptions/{sub_id}"), None),
        ];
        for (method, path, body) in routes {
            let r =
                c.api.raw(method, &path, Some(token), body.map(|b| b.to_string().into_bytes()), &[]).await;
            assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"), "{method} {path}");
        }
    }
    let r = c.api.get(&format!("/v1/portal/benefits/{file_grant}/download"), Some(&boss)).await;
    assert_eq!(r.status, 404, "a billing manager without a claimed seat cannot download");

    step("resend replaces a pending seat's link; claimed seats cannot be re-invited");
    let old = c.invitation_token("member1@corp.example").await;
    let resent = c.api.post(&format!("{seats_path}/{seat1}/resend"), Some(&boss), json!({})).await;
    assert_eq!(resent.status, 200, "{:?}", resent.body);
    let new = c.invitation_token_after("member1@corp.example", &old).await;
    assert_ne!(old, new);
    assert_eq!(c.api.get(&format!("/v1/claims/{old}"), None).await.status, 404);
    assert_eq!(c.api.get(&format!("/v1/claims/{new}"), None).await.status, 200);
    let r = c.api.post(&format!("{seats_path}/{seat0}/resend"), Some(&boss), json!({})).await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "invalid_state"));

    step("transfer: member1's pending seat goes to member9 on the full subscription, the counter unmoved");
    let before = c.api.get(&seats_path, Some(&boss)).await;
    let moved = c
        .api
        .post(
            &format!("{seats_path}/{seat1}/transfer"),
            Some(&boss),
            json!({"email": "member9@corp.example"}),
        )
        .await;
    assert_eq!((moved.status, moved.body["status"].clone()), (201, json!("pending")), "{:?}", moved.body);
    let after = c.api.get(&seats_path, Some(&boss)).await;
    assert_eq!(after.body["seats_assigned"], before.body["seats_assigned"]);
    assert_eq!(
        c.api.get(&format!("/v1/claims/{new}"), None).await.status,
        404,
        "member1's link died with the seat"
    );
    let invited = c.invitation_token("member9@corp.example").await;
    assert_eq!(c.api.get(&format!("/v1/claims/{invited}"), None).await.status, 200);
    let again = c
        .api
        .post(
            &format!("{seats_path}/{seat1}/transfer"),
            Some(&boss),
            json!({"email": "member8@corp.example"}),
        )
        .await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (409, "invalid_state"),
        "a revoked seat is not transferred"
    );

    step("revoke: idempotent, benefits revoked, download refused, the seat reassignable");
    let revoked = c.api.delete(&format!("{seats_path}/{seat0}"), Some(&boss)).await;
    assert_eq!((revoked.status, revoked.body["status"].clone()), (200, json!("revoked")));
    let again = c.api.delete(&format!("{seats_path}/{seat0}"), Some(&boss)).await;
    assert_eq!((again.status, again.body["status"].clone()), (200, json!("revoked")));
    let grants = benefits_until(&c, &holder, |l| l.iter().all(|g| g["status"] == json!("revoked"))).await;
    assert!(grants.iter().all(|g| g.get("license_key").is_none()), "a revoked key is not shown");
    let v = c.api.post("/v1/license-keys/validate", None, check.clone()).await;
    assert_eq!(
        (v.status, v.body["valid"].clone(), v.body["status"].clone()),
        (200, json!(false), json!("revoked"))
    );
    let r = c.api.get(&format!("/v1/portal/benefits/{file_grant}/download"), Some(&holder)).await;
    assert_eq!(r.status, 404);
    let reassigned = c.api.post(&seats_path, Some(&boss), assign("member0@corp.example")).await;
    assert_eq!(reassigned.status, 201, "{:?}", reassigned.body);
    let trail = c.api.get(&format!("/v1/subscriptions/{sub_id}/events"), Some(&boss)).await;
    let kinds: Vec<&str> =
        trail.body["data"].as_array().expect("events").iter().filter_map(|e| e["type"].as_str()).collect();
    for k in [
        "subscription.created",
        "seat.assigned",
        "seat.invitation_sent",
        "seat.claimed",
        "benefit.granted",
        "seat.invitation_renewed",
        "seat.revoked",
        "benefit.revoked",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "seat.revoked").count(), 1, "revoking twice records once");

    step("seats claimed at once: the billing manager's own, and the key's for its own onboarding");
    let (own, _) = buy(&c, &acme, 2, "boss@corp.example").await;
    let own_seats = format!("/v1/subscriptions/{own}/seats");
    let mine = c
        .api
        .post(&own_seats, Some(&boss), json!({"email": "boss@corp.example", "claim": "immediate"}))
        .await;
    assert_eq!((mine.status, mine.body["status"].clone()), (201, json!("claimed")), "{:?}", mine.body);
    let for_them =
        c.api.post(&own_seats, Some(&boss), json!({"email": "x@corp.example", "claim": "immediate"})).await;
    assert_eq!((for_them.status, for_them.error_code().as_str()), (400, "invalid_request"));
    let onboarded = c
        .api
        .post(
            &own_seats,
            Some(&acme.key),
            json!({"email": "dev@corp.example", "notify": false, "claim": "immediate"}),
        )
        .await;
    assert_eq!(
        (onboarded.status, onboarded.body["status"].clone()),
        (201, json!("claimed")),
        "{:?}",
        onboarded.body
    );
    let full = c
        .api
        .post(&own_seats, Some(&acme.key), json!({"email": "dev2@corp.example", "claim": "immediate"}))
        .await;
    assert_eq!((full.status, full.error_code().as_str()), (409, "no_seats_available"));
    // Both holders' benefits are granted by the worker (the trail says so for the one with no
    // session), and nothing was mailed to the person onboarded by the key.
    let own_seat = mine.str("/id");
    benefits_until(&c, &boss, |l| {
        l.iter().filter(|g| g["seat_id"] == json!(own_seat) && g["status"] == json!("granted")).count() == 2
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let trail = c.api.get(&format!("/v1/subscriptions/{own}/events?limit=100"), Some(&boss)).await;
        let granted = trail.body["data"]
            .as_array()
            .map(|d| d.iter().filter(|e| e["type"] == json!("benefit.granted")).count())
            .unwrap_or(0);
        if granted == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "4 grants never recorded: {:?}", trail.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mails = local_stack::moto::sent_emails(&c.stack.aws_endpoint).await.expect("emails");
    assert!(!mails.iter().any(|m| m.to.iter().any(|t| t == "dev@corp.example")), "no invitation was mailed");
    // A seat claimed at once is revoked like any other, and frees its place.
    let dev_seat = onboarded.str("/id");
    let gone = c.api.delete(&format!("{own_seats}/{dev_seat}"), Some(&acme.key)).await;
    assert_eq!((gone.status, gone.body["status"].clone()), (200, json!("revoked")), "{:?}", gone.body);
    let list = c.api.get(&own_seats, Some(&boss)).await;
    assert_eq!(list.body["seats_available"], json!(1));
    // Its benefits are revoked by the worker: wait for it, so later steps count a quiet table.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let trail = c.api.get(&format!("/v1/subscriptions/{own}/events?limit=100"), Some(&boss)).await;
        let revoked = trail.body["data"]
            .as_array()
            .map(|d| d.iter().filter(|e| e["type"] == json!("benefit.revoked")).count())
            .unwrap_or(0);
        if revoked == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the benefits were never revoked: {:?}", trail.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    step("bad input on seat routes: 4xx in the error shape, nothing written");
    let before = c.item_keys().await;
    let long_token = "x".repeat(600);
    let bad: Vec<(&str, String, Option<Value>, u16)> = vec![
        ("POST", seats_path.clone(), Some(json!({"email": "not-an-email"})), 400),
        ("POST", seats_path.clone(), Some(json!({"email": ""})), 400),
        ("POST", seats_path.clone(), Some(json!({"email": "a@b.example", "metadata": {"n": 5}})), 400),
        ("POST", seats_path.clone(), Some(json!({"email": "a@b.example", "role": "admin"})), 400),
        ("POST", seats_path.clone(), Some(json!({"mail": "a@b.example"})), 400),
        ("POST", seats_path.clone(), Some(json!({"email": "a@b.example", "notify": false})), 400),
        ("POST", seats_path.clone(), Some(json!({"email": "a@b.example", "claim": "later"})), 400),
        ("GET", format!("{seats_path}?status=lost"), None, 400),
        ("POST", format!("{seats_path}/batch"), Some(json!({"seats": []})), 400),
        (
            "POST",
            format!("{seats_path}/batch"),
            Some(json!({"seats": [{"email": "a@b.example"}], "notify": false})),
            400,
        ),
        ("POST", format!("{seats_path}/batch"), Some(json!({"rows": [{"email": "a@b.example"}]})), 400),
        ("POST", format!("{seats_path}/batch/preview"), Some(json!({"seats": "a@b.example"})), 400),
        ("GET", format!("{seats_path}?limit=0"), None, 400),
        ("GET", format!("{seats_path}?cursor=../../x"), None, 400),
        (
            "POST",
            "/v1/subscriptions/sub_00000000000000000000000000000000/seats".into(),
            Some(assign("a@b.example")),
            404,
        ),
        ("POST", "/v1/subscriptions/nonsense/seats".into(), Some(assign("a@b.example")), 404),
        ("DELETE", format!("{seats_path}/seat_00000000000000000000000000000000"), None, 404),
        ("DELETE", format!("{seats_path}/nonsense"), None, 404),
        ("POST", format!("{seats_path}/seat_00000000000000000000000000000000/resend"), Some(json!({})), 404),
        ("GET", "/v1/claims/ct_unknown_token_value".into(), None, 404),
        ("GET", format!("/v1/claims/{long_token}"), None, 404),
        ("POST", "/v1/claims".into(), Some(json!({"token": ""})), 404),
        ("POST", "/v1/claims".into(), Some(json!({"token": long_token})), 404),
        ("POST", "/v1/claims".into(), Some(json!({"token": 42})), 400),
        ("POST", "/v1/claims".into(), Some(json!({})), 400),
        ("GET", "/v1/portal/benefits/grant_00000000000000000000000000000000/download".into(), None, 404),
        ("GET", "/v1/portal/benefits/nonsense/download".into(), None, 404),
    ];
    for (method, path, body, want) in bad {
        let r: Reply =
            c.api.raw(method, &path, Some(&boss), body.map(|b| b.to_string().into_bytes()), &[]).await;
        assert_eq!(r.status, want, "{method} {path}: {:?}", r.body);
        r.error_code();
    }
    // A new minute's rate-limit counter (`RATE#…`) counts bad requests too, on purpose.
    let after = c.item_keys().await;
    assert_eq!(
        after.difference(&before).filter(|k| !k.starts_with("RATE#")).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "bad input wrote nothing"
    );

    step("a batch: previewed, then 100 rows (3 refused) invited at once; a batch too big is refused whole");
    let (team, _) = buy(&c, &acme, 100, "team@corp.example").await;
    let team_seats = format!("/v1/subscriptions/{team}/seats");
    let mut rows: Vec<Value> = (0..97).map(|i| json!({"email": format!("batch{i}@corp.example")})).collect();
    rows.insert(5, json!({"email": "nope"}));
    rows.insert(6, json!({"email": "Batch0@corp.example"}));
    rows.insert(7, json!({"email": "x@corp.example", "role": "admin"}));
    let body = json!({"seats": rows});
    let preview = c.api.post(&format!("{team_seats}/batch/preview"), Some(&acme.key), body.clone()).await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert_eq!(
        (preview.body["will_be_created"].clone(), preview.body["refused"].clone()),
        (json!(97), json!(3))
    );
    let key = [("Idempotency-Key", "batch-e2e-1")];
    let bytes = || Some(body.to_string().into_bytes());
    let done = c.api.raw("POST", &format!("{team_seats}/batch"), Some(&acme.key), bytes(), &key).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!((done.body["created"].clone(), done.body["refused"].clone()), (json!(97), json!(3)));
    let codes: Vec<String> = done.body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["error"]["code"].as_str().map(str::to_string))
        .collect();
    assert_eq!(codes, ["invalid_request", "duplicate_row", "invalid_request"]);
    assert_eq!(
        (done.body["seats_assigned"].clone(), done.body["seats_available"].clone()),
        (json!(97), json!(3))
    );
    let replay = c.api.raw("POST", &format!("{team_seats}/batch"), Some(&acme.key), bytes(), &key).await;
    assert_eq!(
        (replay.status, replay.body["created"].clone()),
        (200, json!(97)),
        "the replay answers the same"
    );
    let listed = c.api.get(&team_seats, Some(&acme.key)).await;
    assert_eq!(listed.body["seats_assigned"], json!(97), "and wrote nothing more");
    let big_batch: Vec<Value> = (0..4).map(|i| json!({"email": format!("more{i}@corp.example")})).collect();
    let whole =
        c.api.post(&format!("{team_seats}/batch"), Some(&acme.key), json!({"seats": big_batch})).await;
    assert_eq!((whole.status, whole.error_code().as_str()), (409, "no_seats_available"), "{:?}", whole.body);
    assert!(whole.str("/error/message").contains("needs 4 seats and 3 are free"), "{:?}", whole.body);
    let after = c.api.get(&team_seats, Some(&acme.key)).await;
    assert_eq!(after.body["seats_assigned"], json!(97), "a batch that does not fit reserves nothing");
    let one = c.api.post(&team_seats, Some(&acme.key), assign("more0@corp.example")).await;
    assert_eq!(one.status, 201, "and writes no seat: {:?}", one.body);
    // Each invitation went out through the outbox; one of them claims.
    let token = c.invitation_token("batch42@corp.example").await;
    let claimed = c.api.post("/v1/claims", None, json!({ "token": token })).await;
    assert_eq!(claimed.status, 200, "{:?}", claimed.body);

    step("billing managers: a co-manager works until the owner removes them; ownership moves on acceptance");
    let team_owner = session(&c, "acme", "team@corp.example").await;
    let managers_path = format!("/v1/subscriptions/{team}/managers");
    let added = c.api.post(&managers_path, Some(&team_owner), json!({"email": "cfo@corp.example"})).await;
    assert_eq!((added.status, added.str("/role")), (201, "manager".to_string()), "{:?}", added.body);
    let cfo = session(&c, "acme", "cfo@corp.example").await;
    let mine = c.api.get("/v1/portal/subscriptions", Some(&cfo)).await;
    assert!(mine.body.to_string().contains(&team), "the co-managed subscription is listed: {:?}", mine.body);
    let seen = c.api.get(&team_seats, Some(&cfo)).await;
    assert_eq!(seen.status, 200, "{:?}", seen.body);
    let ops = c.api.post(&managers_path, Some(&cfo), json!({"email": "ops@corp.example"})).await;
    assert_eq!(ops.status, 201, "a co-manager adds one: {:?}", ops.body);
    let not_theirs = c.api.delete(&format!("{managers_path}/{}", ops.str("/customer_id")), Some(&cfo)).await;
    assert_eq!((not_theirs.status, not_theirs.error_code().as_str()), (403, "forbidden"));
    let offer_refused = c
        .api
        .post(&format!("/v1/subscriptions/{team}/owner"), Some(&cfo), json!({"email": "cfo@corp.example"}))
        .await;
    assert_eq!(offer_refused.status, 403, "{:?}", offer_refused.body);
    // The trail (oldest first, in pages) names the co-manager who acted.
    let (mut actors, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = c
            .api
            .get(&format!("/v1/subscriptions/{team}/events?limit=100&cursor={cursor}"), Some(&team_owner))
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let data = page.body["data"].as_array().cloned().unwrap_or_default();
        actors.extend(data.iter().map(|e| (e["type"].clone(), e["actor"].clone())));
        match data.last() {
            Some(last) if page.body["has_more"] == json!(true) => {
                cursor = last["id"].as_str().unwrap_or_default().to_string()
            }
            _ => break,
        }
    }
    let by_cfo = json!(format!("customer:{}", added.str("/customer_id")));
    assert!(
        actors.contains(&(json!("subscription.manager_added"), by_cfo)),
        "the trail names the co-manager"
    );
    let removed =
        c.api.delete(&format!("{managers_path}/{}", added.str("/customer_id")), Some(&team_owner)).await;
    assert_eq!((removed.status, removed.body["deleted"].clone()), (200, json!(true)), "{:?}", removed.body);
    let refused = c.api.get(&team_seats, Some(&cfo)).await;
    assert_eq!(refused.status, 404, "a removed co-manager's session is refused at once");
    // Ownership: offered to ops, taken by ops signed in; the old owner keeps nothing.
    let offer = c
        .api
        .post(
            &format!("/v1/subscriptions/{team}/owner"),
            Some(&team_owner),
            json!({"email": "ops@corp.example"}),
        )
        .await;
    assert_eq!(offer.status, 201, "{:?}", offer.body);
    let still = c.api.get(&format!("/v1/subscriptions/{team}"), Some(&team_owner)).await;
    assert_eq!(still.status, 200, "nothing moves before the acceptance");
    let ops_session = session(&c, "acme", "ops@corp.example").await;
    let offers = c.api.get("/v1/portal/ownership-offers", Some(&ops_session)).await;
    assert_eq!(offers.body["data"][0]["subscription_id"], json!(team), "{:?}", offers.body);
    let stolen = c.api.post(&format!("/v1/subscriptions/{team}/owner/accept"), Some(&cfo), json!({})).await;
    assert_eq!(stolen.status, 404, "only the person offered accepts");
    let taken =
        c.api.post(&format!("/v1/subscriptions/{team}/owner/accept"), Some(&ops_session), json!({})).await;
    assert_eq!((taken.status, taken.str("/customer_id")), (200, ops.str("/customer_id")), "{:?}", taken.body);
    let gone = c.api.get(&format!("/v1/subscriptions/{team}"), Some(&team_owner)).await;
    assert_eq!(gone.status, 404, "the old owner keeps nothing");
    let list = c.api.get(&managers_path, Some(&ops_session)).await;
    assert_eq!(
        (list.str("/owner/email"), list.body["managers"].as_array().map(Vec::len)),
        ("ops@corp.example".to_string(), Some(0))
    );

    // cargo lambda watch (1.9.2) stalls for good when one function has more than about 120
    // requests waiting (seen here: 100 in flight pass, 130 hang), so the HTTP run keeps 100
    // in flight. The 200-at-once race on the store itself is `seats_store.rs`.
    step("200 concurrent assigns (100 in flight) on a 10-seat subscription");
    let (big, _) = buy(&c, &acme, 10, "big@corp.example").await;
    let big_path = format!("/v1/subscriptions/{big}/seats");
    let started = Instant::now();
    let mut tasks = Vec::new();
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    for i in 0..200 {
        let permit = in_flight.clone().acquire_owned().await.expect("semaphore");
        let api = c.api.clone();
        let path = big_path.clone();
        let key = acme.key.clone();
        tasks.push(tokio::spawn(async move {
            let reply = api.post(&path, Some(&key), assign(&format!("crowd{i}@corp.example"))).await;
            drop(permit);
            reply
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        let r = t.await.expect("join");
        let code = if r.status == 201 { "created".to_string() } else { r.error_code() };
        *statuses.entry((r.status, code)).or_insert(0) += 1;
    }
    println!("  200 assigns in {:.2}s: {statuses:?}", started.elapsed().as_secs_f64());
    let want = std::collections::BTreeMap::from([
        ((201, "created".to_string()), 10),
        ((409, "no_seats_available".to_string()), 190),
    ]);
    assert_eq!(statuses, want);
    let sub = c.api.get(&format!("/v1/subscriptions/{big}"), Some(&acme.key)).await;
    let live = c.api.get(&format!("{big_path}?limit=100"), Some(&acme.key)).await;
    assert_eq!(sub.body["seats_assigned"], json!(10));
    assert_eq!(live.body["seats"].as_array().map(Vec::len), Some(10), "counter = live seats");

    step("a poison message goes to the dead-letter queue after 3 receives");
    c.sqs
        .send_message()
        .queue_url(&c.stack.resources.queue_url)
        .message_body("{this is not a job")
        .send()
        .await
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let dead = c
            .sqs
            .receive_message()
            .queue_url(&c.stack.resources.dlq_url)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
        if dead.iter().any(|m| m.body.as_deref() == Some("{this is not a job")) {
            break;
        }
        assert!(Instant::now() < deadline, "the poison message never reached the dead-letter queue");
    }

    step("every sample event in events/ invokes its function");
    let dir = local_stack::root().join("events");
    let mut names: Vec<_> =
        std::fs::read_dir(&dir).expect("events/").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let function = path.file_stem().and_then(|s| s.to_str()).expect("name").to_string();
        let payload = std::fs::read(&path).expect("read");
        let r = reqwest::Client::new()
            .post(c.stack.invoke_url(&function))
            .body(payload)
            .send()
            .await
            .expect("invoke");
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{function}: {body}");
        assert!(body.get("errorType").is_none(), "{function} failed: {body}");
        if let Some(code) = body.get("statusCode").and_then(Value::as_u64) {
            assert!(code < 500, "{function} answered {code}: {body}");
        }
        println!(
            "  events/{function}.json → {}",
            body.get("statusCode").map(|s| s.to_string()).unwrap_or_else(|| body.to_string())
        );
    }
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();

    step("no key, token, code or claim link reached the functions' logs");
    let mailed = c.mailed_secrets().await;
    assert!(mailed.len() >= 8);
    let mut secrets: Vec<&str> = vec![&acme.key, &globex.key, &boss, &other_boss, &holder];
    secrets.extend(mailed.iter().map(String::as_str));
    c.assert_log_free_of(&secrets);
}
