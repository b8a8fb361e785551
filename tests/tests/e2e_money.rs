//! Money end to end through `cargo lambda watch`: API.md's worked examples printed by the API,
//! Idempotency-Key on a charge, a decrease capped and applied at renewal, out-of-order and
//! duplicated Stripe events, and a lapse that suspends a few hundred seats over the queue, restored
//! by the same buyer's new purchase.

use local_stack::stripe_events;
use seats_tests::e2e::{merchant, session, Ctx};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn ts(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).expect("time").timestamp()
}

fn month(quantity: i64) -> stripe_events::Item<'static> {
    stripe_events::Item { quantity, interval: "month" }
}

/// `n / d` rounded half to even, in integers (n, d ≥ 0).
fn half_even(n: i64, d: i64) -> i64 {
    let (q, r) = (n / d, n % d);
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q % 2),
    }
}

fn amounts(v: &Value) -> Vec<i64> {
    v["lines"].as_array().expect("lines").iter().filter_map(|l| l["amount"].as_i64()).collect()
}

/// Buys `seats` of `product_id` with the checkout completed at `created` (Unix seconds).
async fn buy_at(c: &Ctx, product_id: &str, seats: i64, email: &str, created: i64) -> (String, String) {
    let chk = c
        .api
        .post(
            "/v1/checkouts",
            None,
            json!({"product_id": product_id, "interval": "month", "seats": seats, "customer_email": email,
                   "success_url": "https://corp.example/ok", "cancel_url": "https://corp.example/no"}),
        )
        .await;
    assert_eq!(chk.status, 201, "{:?}", chk.body);
    let stripe_sub = format!("sub_test_{}", uuid::Uuid::new_v4().simple());
    let done = c.event(&stripe_events::checkout_completed(&chk.str("/id"), &stripe_sub, created)).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    let read = c.api.get(&format!("/v1/checkouts/{}", chk.str("/id")), None).await;
    (read.str("/subscription_id"), stripe_sub)
}

#[tokio::test]
async fn money_end_to_end() {
    let c = Ctx::start("money").await;
    let clock = Instant::now();
    let step = |name: &str| println!("[{:>6.1}s] scenario: {name}", clock.elapsed().as_secs_f64());
    let acme = merchant(&c, "acme").await;

    step("the worked examples: 5 → 8 seats, then those 8 seats to annual, at 2025-03-11T00:00Z");
    let march = ts("2025-03-01T00:00:00Z");
    let (sub, _) = buy_at(&c, &acme.product_id, 5, "boss@corp.example", march).await;
    let boss = session(&c, "acme", "boss@corp.example").await;
    let read = c.api.get(&format!("/v1/subscriptions/{sub}"), Some(&boss)).await;
    assert_eq!(
        (read.str("/current_period_start"), read.str("/current_period_end")),
        ("2025-03-01T00:00:00Z".into(), "2025-04-01T00:00:00Z".into())
    );
    let pd = ts("2025-03-11T00:00:00Z");
    let body = json!({"seats": 8, "proration_date": pd});
    let preview =
        c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes/preview"), Some(&boss), body.clone()).await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    println!("  seat-changes/preview → {}", preview.body);
    assert_eq!(
        (amounts(&preview.body), preview.body["amount_due_now"].clone()),
        (vec![-3387, 5419], json!(2032))
    );
    assert_eq!(preview.body["effective"], json!("now"));
    // The apply takes only a recent instant (a preview's): a 2025 proration_date is refused.
    let old = c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes"), Some(&boss), body.clone()).await;
    assert_eq!((old.status, old.body["error"]["field"].clone()), (400, json!("proration_date")));
    let (eight, _) = buy_at(&c, &acme.product_id, 8, "eight@corp.example", march).await;
    let annual = json!({"interval": "year", "proration_date": pd});
    let preview = c
        .api
        .post(&format!("/v1/subscriptions/{eight}/interval-change/preview"), Some(&acme.key), annual.clone())
        .await;
    println!("  interval-change/preview → {}", preview.body);
    assert_eq!(
        (amounts(&preview.body), preview.body["amount_due_now"].clone()),
        (vec![-5419, 80000], json!(74581))
    );

    step("applied now: the charge is API.md's rule at the preview's instant, once, with its invoice");
    let now = chrono::Utc::now().timestamp();
    let (sub, _) = buy_at(&c, &acme.product_id, 5, "boss@corp.example", now - 86_400).await;
    let body = json!({"seats": 8, "proration_date": now});
    let preview =
        c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes/preview"), Some(&boss), body.clone()).await;
    assert_eq!((preview.status, preview.body["proration_date"].clone()), (200, json!(now)));
    let raw = body.to_string().into_bytes();
    let path = format!("/v1/subscriptions/{sub}/seat-changes");
    let applied = c
        .api
        .raw("POST", &path, Some(&boss), Some(raw.clone()), &[("idempotency-key", "more-seats-1")])
        .await;
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    println!("  seat-changes → {}", applied.body);
    // The rule written out here, not the code's function: each line
    // round_half_even(unit × qty × remaining_s / period_s), the credit negative.
    let read = c.api.get(&format!("/v1/subscriptions/{sub}"), Some(&boss)).await;
    let (start, end) = (ts(&read.str("/current_period_start")), ts(&read.str("/current_period_end")));
    let line = |qty: i64| half_even(1000 * qty * (end - now), end - start);
    let expected = vec![-line(5), line(8)];
    assert_eq!(amounts(&preview.body), expected, "the preview follows the rule");
    assert_eq!(amounts(&applied.body), expected, "the charge follows the rule");
    assert_eq!(applied.body["amount_due_now"], json!(line(8) - line(5)));
    assert_eq!(applied.body["invoice"]["amount_due"], json!(line(8) - line(5)));
    assert_eq!(applied.body["invoice"]["status"], json!("paid"));
    assert_eq!(applied.body["subscription"]["seats"], json!(8));
    let replay =
        c.api.raw("POST", &path, Some(&boss), Some(raw), &[("idempotency-key", "more-seats-1")]).await;
    assert_eq!(replay.body, applied.body, "a retried charge replays, it does not charge twice");
    assert_eq!(c.api.get(&format!("/v1/subscriptions/{sub}"), Some(&boss)).await.body["seats"], json!(8));

    let annual = json!({"interval": "year", "proration_date": now});
    let preview = c
        .api
        .post(&format!("/v1/subscriptions/{sub}/interval-change/preview"), Some(&boss), annual.clone())
        .await;
    let switched =
        c.api.post(&format!("/v1/subscriptions/{sub}/interval-change"), Some(&acme.key), annual).await;
    println!("  interval-change → {}", switched.body);
    assert_eq!(
        (switched.status, switched.body["amount_due_now"].clone()),
        (200, preview.body["amount_due_now"].clone())
    );
    assert_eq!(switched.body["subscription"]["interval"], json!("year"));
    assert_eq!(ts(&switched.str("/subscription/current_period_start")), now);

    step("bad changes: out of bounds, outside the period, unknown fields, floats");
    for (body, want) in [
        (json!({"seats": 0}), 400),
        (json!({"seats": 101}), 400),
        (json!({"seats": 9, "proration_date": ts("2024-01-01T00:00:00Z")}), 400),
        (json!({"seats": 9.5}), 400),
        (json!({"seats": 9, "coupon": "X"}), 400),
        (json!({}), 400),
    ] {
        let r = c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes"), Some(&boss), body.clone()).await;
        assert_eq!(r.status, want, "{body}: {:?}", r.body);
        r.error_code();
    }
    let r = c
        .api
        .post(
            &format!("/v1/subscriptions/{sub}/interval-change/preview"),
            Some(&boss),
            json!({"interval": "year"}),
        )
        .await;
    assert_eq!(r.status, 400, "already annual: {:?}", r.body);
    let r = c
        .api
        .post(
            &format!("/v1/subscriptions/{sub}/seat-changes/preview"),
            Some(&acme.key.replace("sk_", "sk_x")),
            json!({"seats": 9}),
        )
        .await;
    assert_eq!(r.status, 401);

    step("a decrease waits for the renewal, caps assigning, and the renewal applies it");
    let (small, stripe_small) = buy_at(&c, &acme.product_id, 5, "small@corp.example", now - 60).await;
    let seats = format!("/v1/subscriptions/{small}/seats");
    for i in 0..2 {
        assert_eq!(
            c.api.post(&seats, Some(&acme.key), json!({"email": format!("s{i}@corp.example")})).await.status,
            201
        );
    }
    let dec = c
        .api
        .post(&format!("/v1/subscriptions/{small}/seat-changes"), Some(&acme.key), json!({"seats": 3}))
        .await;
    assert_eq!(
        (dec.status, dec.body["effective"].clone(), dec.body["amount_due_now"].clone()),
        (200, json!("period_end"), json!(0))
    );
    assert_eq!(dec.body["subscription"]["scheduled_change"]["type"], json!("seat_decrease"));
    assert_eq!(dec.body["subscription"]["seats_available"], json!(1));
    assert_eq!(c.api.post(&seats, Some(&acme.key), json!({"email": "s2@corp.example"})).await.status, 201);
    let full = c.api.post(&seats, Some(&acme.key), json!({"email": "s3@corp.example"})).await;
    assert_eq!((full.status, full.error_code().as_str()), (409, "no_seats_available"));
    let below = c
        .api
        .post(&format!("/v1/subscriptions/{small}/seat-changes"), Some(&acme.key), json!({"seats": 2}))
        .await;
    assert_eq!((below.status, below.error_code().as_str()), (409, "seats_below_assigned"));
    let sub_now = c.api.get(&format!("/v1/subscriptions/{small}"), Some(&acme.key)).await;
    let end = ts(&sub_now.str("/current_period_end"));
    let renewal = stripe_events::subscription_updated(
        &stripe_small,
        "active",
        (end, end + 30 * 86_400),
        month(3),
        now + 10,
    );
    assert_eq!(c.event(&renewal).await.status, 200);
    assert_eq!(c.event(&renewal).await.body["outcome"], json!("duplicate"));
    let older =
        stripe_events::subscription_updated(&stripe_small, "past_due", (now - 60, end), month(5), now + 5);
    assert_eq!(c.event(&older).await.body["outcome"], json!("stale"));
    let after = c.api.get(&format!("/v1/subscriptions/{small}"), Some(&acme.key)).await;
    assert_eq!(
        (after.body["seats"].clone(), after.body["seats_assigned"].clone(), after.body["status"].clone()),
        (json!(3), json!(3), json!("active"))
    );
    assert_eq!(after.body["scheduled_change"], Value::Null);
    assert_eq!(ts(&after.str("/current_period_start")), end, "the period moved forward, never back");

    step("a lapse suspends a few hundred seats over the queue; the same buyer's new purchase restores them");
    let big_product = c
        .api
        .post(
            "/v1/products",
            Some(&acme.key),
            json!({"name": "Acme Teams", "currency": "usd", "prices": {"month": {"unit_amount": 500}}, "max_seats": 1000}),
        )
        .await;
    let (big, stripe_big) = buy_at(&c, &big_product.str("/id"), 400, "teams@corp.example", now - 60).await;
    let big_sub = c.api.get(&format!("/v1/subscriptions/{big}"), Some(&acme.key)).await;
    seats_tests::seed_seats(
        &c.db,
        &c.stack.resources.table,
        &big,
        &big_sub.str("/organization_id"),
        300,
        false,
    )
    .await;
    let started = Instant::now();
    let deleted = stripe_events::subscription_deleted(&stripe_big, now + 20);
    assert_eq!(c.event(&deleted).await.status, 200);
    // Every seat of a status, page by page.
    let seats_of = |sub: String, status: &'static str| {
        let c = &c;
        let key = acme.key.clone();
        async move {
            let mut cursor: Option<String> = None;
            let mut all = Vec::new();
            loop {
                let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
                let page = c
                    .api
                    .get(&format!("/v1/subscriptions/{sub}/seats?limit=100&status={status}{q}"), Some(&key))
                    .await;
                assert_eq!(page.status, 200, "the seat list of {sub}: {:?}", page.body);
                all.extend(page.body["seats"].as_array().cloned().unwrap_or_default());
                match page.body["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_string()),
                    None => return all,
                }
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while seats_of(big.clone(), "suspended").await.len() < 300 {
        assert!(Instant::now() < deadline, "seats still not suspended");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("  300 seats suspended in {:.1}s over the queue", started.elapsed().as_secs_f64());
    let s = c.api.get(&format!("/v1/subscriptions/{big}"), Some(&acme.key)).await;
    assert_eq!((s.body["status"].clone(), s.body["seats_assigned"].clone()), (json!("canceled"), json!(300)));
    assert!(s.body["suspended_until"].is_string(), "{:?}", s.body);
    assert!(seats_of(big.clone(), "pending").await.is_empty());
    // The same billing manager buys 250 seats of the product again: the 250 oldest come over.
    let started = Instant::now();
    let (again, _) = buy_at(&c, &big_product.str("/id"), 250, "teams@corp.example", now + 40).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let old = c.api.get(&format!("/v1/subscriptions/{big}"), Some(&acme.key)).await;
        if old.body["seats_assigned"] == json!(0) {
            break;
        }
        assert!(Instant::now() < deadline, "seats still suspended: {}", old.body["seats_assigned"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "  250 seats restored onto the new subscription (50 revoked) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let new_sub = c.api.get(&format!("/v1/subscriptions/{again}"), Some(&acme.key)).await;
    assert_eq!(
        (new_sub.body["seats_assigned"].clone(), new_sub.body["restored_from"].clone()),
        (json!(250), json!(big))
    );
    let old = c.api.get(&format!("/v1/subscriptions/{big}"), Some(&acme.key)).await;
    assert_eq!(old.body["restored_into"], json!(again));
    assert!(old.body.get("suspended_until").is_none_or(|v| v.is_null()));
    assert_eq!(seats_of(again.clone(), "pending").await.len(), 250);
    // Read until every old seat shows revoked: a CI run once read none here right after the
    // count reached 0 (never reproduced); a wrong end still fails, naming what was seen.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let revoked = seats_of(big.clone(), "revoked").await.len();
        if revoked == 300 {
            break;
        }
        let all = seats_of(big.clone(), "").await;
        let statuses: std::collections::BTreeMap<String, usize> =
            all.iter().fold(Default::default(), |mut m, s| {
                *m.entry(s["status"].as_str().unwrap_or("?").to_string()).or_default() += 1;
                m
            });
        assert!(Instant::now() < deadline, "{revoked} of 300 old seats revoked; the old seats: {statuses:?}");
        println!("  {revoked} of 300 old seats read as revoked; the old seats: {statuses:?}; reading again");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let late = stripe_events::subscription_updated(
        &stripe_big,
        "active",
        (now - 60, now + 86_400),
        month(400),
        now + 15,
    );
    assert_eq!(
        c.event(&late).await.body["outcome"],
        json!("stale"),
        "an older update never restores a canceled plan"
    );
    let r = c
        .api
        .post(&format!("/v1/subscriptions/{big}/seats"), Some(&acme.key), json!({"email": "x@corp.example"}))
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "invalid_state"));

    step("the audit trail has every money event with its lines");
    let trail = c.api.get(&format!("/v1/subscriptions/{sub}/events"), Some(&boss)).await;
    let events = trail.body["data"].as_array().cloned().unwrap_or_default();
    let increased =
        events.iter().find(|e| e["type"] == json!("subscription.seats_increased")).expect("seats_increased");
    assert_eq!(amounts(&increased["data"]), amounts(&applied.body));
    assert!(increased["data"]["invoice_id"].is_string());
    let changed = events
        .iter()
        .find(|e| e["type"] == json!("subscription.interval_changed"))
        .expect("interval_changed");
    assert_eq!(changed["data"]["amount_due_now"], switched.body["amount_due_now"]);
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();
}
