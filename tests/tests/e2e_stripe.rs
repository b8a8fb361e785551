//! Money end to end in Stripe mode: the functions behind `cargo lambda watch` talk to the
//! stateful Stripe simulator (tests/stripe-sim, written from Stripe's documentation), which
//! delivers its signed webhooks before it answers the call that caused them.

use local_stack::moto::sent_emails;
use seats_tests::e2e::{checkout_body, merchant, session, Ctx};
use serde_json::{json, Value};
use stripe_sim::StripeSim;

fn ts(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).expect("time").timestamp()
}

fn ts_or(v: &Value) -> Option<i64> {
    v.as_str().map(ts)
}

fn audit_count(events: &Value, kind: &str) -> usize {
    events["data"].as_array().map(|a| a.iter().filter(|e| e["type"] == json!(kind)).count()).unwrap_or(0)
}

#[tokio::test]
async fn money_against_the_stripe_simulator() {
    let sim = StripeSim::start().await;
    let env = vec![
        ("PAYMENT_GATEWAY".to_string(), "stripe".to_string()),
        ("STRIPE_API_BASE".to_string(), sim.base_url()),
        ("STRIPE_SECRET_KEY".to_string(), StripeSim::SECRET_KEY.to_string()),
    ];
    let c = Ctx::start_with("stripe", env).await;
    sim.set_webhook(&format!("{}/v1/webhooks/stripe", c.stack.api_url), &c.stack.webhook_secret);
    let step = |name: &str| println!("scenario: {name}");

    step("a product's Prices live at Stripe; checkout names one");
    let acme = merchant(&c, "acme").await;
    let product = c.api.get(&format!("/v1/products/{}", acme.product_id), None).await;
    let month_price = product.str("/provider_prices/month");
    assert!(month_price.starts_with("price_"), "{:?}", product.body);
    let chk =
        c.api.post("/v1/checkouts", None, checkout_body(&acme.product_id, 5, "boss@corp.example")).await;
    assert_eq!(chk.status, 201, "{:?}", chk.body);
    let cs = chk.str("/payment_url").rsplit('/').next().map(str::to_string).expect("session id");
    let stripe_sub = sim.complete_checkout(&cs, "pm_card_visa").await.expect("paid at Stripe");
    // The subscription's own events overtook the completion (409, delivered again later).
    sim.redeliver_failed().await;
    let statuses: Vec<_> = sim.deliveries().into_iter().map(|d| (d.event_type, d.status)).collect();
    assert!(statuses.iter().all(|(_, s)| *s < 500), "{statuses:?}");
    let done = c.api.get(&format!("/v1/checkouts/{}", chk.str("/id")), None).await;
    let sub = done.str("/subscription_id");
    let read = c.api.get(&format!("/v1/subscriptions/{sub}"), Some(&acme.key)).await;
    let stripe_item = sim.subscription(&stripe_sub).expect("at Stripe")["items"]["data"][0].clone();
    assert_eq!(
        (ts(&read.str("/current_period_start")), ts(&read.str("/current_period_end"))),
        (
            stripe_item["current_period_start"].as_i64().unwrap_or(0),
            stripe_item["current_period_end"].as_i64().unwrap_or(0)
        ),
        "the first period is Stripe's"
    );
    let boss = session(&c, "acme", "boss@corp.example").await;

    step("an increase: Stripe's events arrive before its answer; the change applies once");
    let now = chrono::Utc::now().timestamp();
    let body = json!({"seats": 8, "proration_date": now});
    let preview =
        c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes/preview"), Some(&boss), body.clone()).await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    let due = preview.body["amount_due_now"].clone();
    let applied = c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes"), Some(&boss), body).await;
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    assert_eq!(
        (applied.body["amount_due_now"].clone(), applied.body["invoice"]["amount_due"].clone()),
        (due.clone(), due)
    );
    assert_eq!(applied.body["invoice"]["status"], json!("paid"));
    assert_eq!(applied.body["subscription"]["seats"], json!(8));
    let at_stripe = sim.subscription(&stripe_sub).expect("at Stripe");
    assert_eq!(at_stripe["items"]["data"][0]["quantity"], json!(8));
    let trail = c.api.get(&format!("/v1/subscriptions/{sub}/events"), Some(&boss)).await;
    assert_eq!(audit_count(&trail.body, "subscription.seats_increased"), 1, "applied once");
    let increase = trail.body["data"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["type"] == json!("subscription.seats_increased")).cloned())
        .expect("increase");
    assert!(
        increase["actor"].as_str().is_some_and(|a| a.starts_with("stripe:evt_")),
        "Stripe's webhook overtook its answer and settled the change: {increase}"
    );

    let customer = at_stripe["customer"].as_str().expect("customer").to_string();
    for (card, seats) in [("pm_card_chargeDeclined", 10), ("pm_card_authenticationRequired", 11)] {
        step(&format!("{card}: 402, nothing changes here, then paid → applied once"));
        sim.set_payment_method(&customer, card);
        let body = json!({"seats": seats, "proration_date": chrono::Utc::now().timestamp()});
        let r = c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes"), Some(&boss), body).await;
        assert_eq!((r.status, r.error_code().as_str()), (402, "payment_required"), "{:?}", r.body);
        let payment_url = r.body["error"]["payment_url"].as_str().unwrap_or_default().to_string();
        assert!(payment_url.starts_with(&sim.base_url()), "{payment_url}");
        let now = c.api.get(&format!("/v1/subscriptions/{sub}"), Some(&boss)).await;
        assert_eq!(
            now.body["seats"],
            json!(seats - 2 + if seats == 11 { 1 } else { 0 }),
            "no seat before payment"
        );
        assert_eq!(now.body["pending_change"]["seats"], json!(seats));
        assert_eq!(now.body["pending_change"]["payment_url"], json!(payment_url));
        let open = sim.invoices_of(&stripe_sub).into_iter().rev().find(|i| i["status"] == json!("open"));
        let invoice_id = open.and_then(|i| i["id"].as_str().map(str::to_string)).expect("open invoice");
        sim.set_payment_method(&customer, "pm_card_visa");
        sim.pay_invoice(&invoice_id, "pm_card_visa").await.expect("paid");
        let paid = c.api.get(&format!("/v1/subscriptions/{sub}"), Some(&boss)).await;
        assert_eq!(
            (paid.body["seats"].clone(), paid.body["pending_change"].clone()),
            (json!(seats), Value::Null)
        );
    }
    let trail = c.api.get(&format!("/v1/subscriptions/{sub}/events"), Some(&boss)).await;
    assert_eq!(audit_count(&trail.body, "subscription.seats_increased"), 3);
    assert_eq!(audit_count(&trail.body, "subscription.change_payment_required"), 2);

    step("a scheduled decrease keeps Stripe's quantity at the paid count; an increase prorates from it");
    let dec =
        c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes"), Some(&boss), json!({"seats": 6})).await;
    assert_eq!((dec.status, dec.body["effective"].clone()), (200, json!("period_end")), "{:?}", dec.body);
    let at_stripe = sim.subscription(&stripe_sub).expect("at Stripe");
    assert_eq!(at_stripe["items"]["data"][0]["quantity"], json!(11));
    assert!(at_stripe["schedule"].is_string(), "the decrease waits in a schedule");
    let body = json!({"seats": 12, "proration_date": chrono::Utc::now().timestamp()});
    let preview =
        c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes/preview"), Some(&boss), body.clone()).await;
    let quantities: Vec<i64> = preview.body["lines"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["quantity"].as_i64()).collect())
        .unwrap_or_default();
    assert!(quantities.contains(&11) && !quantities.contains(&6), "{quantities:?}");
    let up = c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes"), Some(&boss), body).await;
    assert_eq!(up.status, 200, "{:?}", up.body);
    assert_eq!(
        (up.body["subscription"]["seats"].clone(), up.body["subscription"]["scheduled_change"].clone()),
        (json!(12), Value::Null)
    );
    assert_eq!(up.body["invoice"]["amount_due"], preview.body["amount_due_now"]);

    step("monthly → annual at Stripe: a Price, a new period, the preview's amount");
    let body = json!({"interval": "year", "proration_date": chrono::Utc::now().timestamp()});
    let preview = c
        .api
        .post(&format!("/v1/subscriptions/{sub}/interval-change/preview"), Some(&boss), body.clone())
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    let switched = c.api.post(&format!("/v1/subscriptions/{sub}/interval-change"), Some(&boss), body).await;
    assert_eq!(switched.status, 200, "{:?}", switched.body);
    assert_eq!(switched.body["invoice"]["amount_due"], preview.body["amount_due_now"]);
    assert_eq!(switched.body["subscription"]["interval"], json!("year"));
    let at_stripe = sim.subscription(&stripe_sub).expect("at Stripe");
    assert_eq!(at_stripe["items"]["data"][0]["price"]["recurring"]["interval"], json!("year"));

    step("the invoices: Stripe's, page by page through its cursor; the switch's at its preview's amount");
    let mut listed: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/subscriptions/{sub}/invoices?limit=3&cursor={c}"),
            None => format!("/v1/subscriptions/{sub}/invoices?limit=3"),
        };
        let page = c.api.get(&path, Some(&boss)).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        listed.extend(page.body["data"].as_array().cloned().unwrap_or_default());
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let at_stripe_ids: Vec<Value> = sim.invoices_of(&stripe_sub).iter().map(|i| i["id"].clone()).collect();
    assert_eq!(listed.len(), at_stripe_ids.len(), "every invoice of the subscription, once");
    assert!(pages >= 2, "more than one page of 3");
    let the_switch =
        listed.iter().find(|i| i["id"] == switched.body["invoice"]["id"]).expect("the switch's invoice");
    assert_eq!(the_switch["total"], preview.body["amount_due_now"]);
    assert_eq!(the_switch["billing_reason"], json!("subscription_update"));
    assert!(the_switch["number"].is_string() && the_switch["invoice_pdf"].is_string(), "{the_switch}");
    let newest_first: Vec<i64> = listed.iter().filter_map(|i| ts_or(&i["created"])).collect();
    assert!(newest_first.windows(2).all(|w| w[0] >= w[1]), "{newest_first:?}");

    step(
        "annual → monthly waits in a schedule; an increase meanwhile rewrites its phases (from the webhook)",
    );
    let back = c
        .api
        .post(&format!("/v1/subscriptions/{sub}/interval-change"), Some(&boss), json!({"interval": "month"}))
        .await;
    assert_eq!((back.status, back.body["effective"].clone()), (200, json!("period_end")), "{:?}", back.body);
    let schedule_id =
        sim.subscription(&stripe_sub).expect("at Stripe")["schedule"].as_str().map(str::to_string);
    let schedule_id = schedule_id.expect("a schedule carries the switch");
    let body = json!({"seats": 14, "proration_date": chrono::Utc::now().timestamp()});
    let up = c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes"), Some(&boss), body).await;
    assert_eq!(up.status, 200, "{:?}", up.body);
    assert_eq!(up.body["subscription"]["scheduled_change"]["type"], json!("interval_change"));
    let phases = sim
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST" && r.path == format!("/v1/subscription_schedules/{schedule_id}"))
        .expect("the schedule rewritten");
    let quantities: Vec<&str> =
        phases.form.iter().filter(|(k, _)| k.ends_with("[quantity]")).map(|(_, v)| v.as_str()).collect();
    assert_eq!(quantities, vec!["14", "14"], "both phases bill the seats paid for now");

    step("auto-grow: a full subscription's 402 shows Stripe's price of one more seat; confirmed, charged once, assigned");
    let grow_product = c
        .api
        .post(
            "/v1/products",
            Some(&acme.key),
            json!({"name": "Acme Team", "currency": "usd", "prices": {"month": {"unit_amount": 1500}},
                   "when_full": "grow"}),
        )
        .await;
    assert_eq!(
        (grow_product.status, grow_product.str("/when_full")),
        (201, "grow".to_string()),
        "{:?}",
        grow_product.body
    );
    let chk = c
        .api
        .post("/v1/checkouts", None, checkout_body(&grow_product.str("/id"), 1, "lead@corp.example"))
        .await;
    let cs = chk.str("/payment_url").rsplit('/').next().map(str::to_string).expect("session id");
    let team_stripe = sim.complete_checkout(&cs, "pm_card_visa").await.expect("paid at Stripe");
    sim.redeliver_failed().await;
    let team = c.api.get(&format!("/v1/checkouts/{}", chk.str("/id")), None).await.str("/subscription_id");
    let seats_path = format!("/v1/subscriptions/{team}/seats");
    let first = c.api.post(&seats_path, Some(&acme.key), json!({"email": "one@corp.example"})).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let asked = c.api.post(&seats_path, Some(&acme.key), json!({"email": "two@corp.example"})).await;
    assert_eq!(
        (asked.status, asked.error_code().as_str()),
        (402, "seat_increase_required"),
        "{:?}",
        asked.body
    );
    let preview = asked.body["error"]["preview"].clone();
    let due = preview["amount_due_now"].as_i64().expect("amount");
    assert!(due > 0 && due <= 1500, "{preview}");
    let invoices_before = sim.invoices_of(&team_stripe).len();
    let confirm = json!({"email": "two@corp.example", "confirm_charge": true, "proration_date": preview["proration_date"]});
    // A double click: two confirms at once; one buys and assigns, the other is refused.
    let (a, b) = tokio::join!(
        c.api.post(&seats_path, Some(&acme.key), confirm.clone()),
        c.api.post(&seats_path, Some(&acme.key), confirm.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{:?} {:?}", a.body, b.body);
    let invoices: Vec<Value> = sim.invoices_of(&team_stripe).into_iter().skip(invoices_before).collect();
    assert_eq!(invoices.len(), 1, "charged once: {invoices:?}");
    assert_eq!(
        (invoices[0]["amount_due"].as_i64(), invoices[0]["status"].clone()),
        (Some(due), json!("paid")),
        "the preview's amount"
    );
    let grown = c.api.get(&format!("/v1/subscriptions/{team}"), Some(&acme.key)).await;
    assert_eq!((grown.body["seats"].clone(), grown.body["seats_assigned"].clone()), (json!(2), json!(2)));
    assert_eq!(sim.subscription(&team_stripe).expect("at Stripe")["items"]["data"][0]["quantity"], json!(2));

    step("Stripe Tax: the organization turns it on; a new purchase is taxed at Stripe, and a change's preview shows Stripe's tax, then charges it");
    sim.set_tax_registration("DE", 19.0);
    let acme_org = product.str("/organization_id");
    let on = c
        .api
        .patch(&format!("/v1/organizations/{acme_org}"), Some(&acme.key), json!({"automatic_tax": true}))
        .await;
    assert_eq!((on.status, on.body["automatic_tax"].clone()), (200, json!(true)), "{:?}", on.body);
    let chk = c.api.post("/v1/checkouts", None, checkout_body(&acme.product_id, 5, "tax@corp.example")).await;
    assert_eq!((chk.status, chk.body["automatic_tax"].clone()), (201, json!(true)), "{:?}", chk.body);
    let cs = chk.str("/payment_url").rsplit('/').next().map(str::to_string).expect("session id");
    sim.complete_checkout_with_address(&cs, "pm_card_visa", "DE").await.expect("paid");
    sim.redeliver_failed().await;
    let taxed = c.api.get(&format!("/v1/checkouts/{}", chk.str("/id")), None).await.str("/subscription_id");
    let first = c.api.get(&format!("/v1/subscriptions/{taxed}/invoices"), Some(&acme.key)).await;
    assert_eq!(
        (
            first.body["data"][0]["subtotal"].clone(),
            first.body["data"][0]["tax"].clone(),
            first.body["data"][0]["total"].clone()
        ),
        (json!(5000), json!(950), json!(5950)),
        "{:?}",
        first.body
    );
    let body = json!({"seats": 7, "proration_date": chrono::Utc::now().timestamp()});
    let preview = c
        .api
        .post(&format!("/v1/subscriptions/{taxed}/seat-changes/preview"), Some(&acme.key), body.clone())
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    let tax = preview.body["tax"].as_i64().expect("tax");
    assert!(tax > 0, "Stripe's tax in the preview: {:?}", preview.body);
    let applied = c.api.post(&format!("/v1/subscriptions/{taxed}/seat-changes"), Some(&acme.key), body).await;
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    assert_eq!(
        applied.body["invoice"]["amount_due"], preview.body["amount_due_now"],
        "the preview's total, tax in"
    );
    assert_eq!(applied.body["tax"], json!(tax));

    step("cancel at the period's end: a schedule attached is released first; resume; the end lapses it at Stripe's renewal");
    let preview =
        c.api.post(&format!("/v1/subscriptions/{sub}/cancel/preview"), Some(&boss), json!({})).await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert_eq!(preview.body["scheduled_change_dropped"]["type"], json!("interval_change"));
    let annual_end = preview.str("/cancel_at");
    let cancel = json!({"at_period_end": true, "reason": "switched_service", "comment": "Moving to the yearly plan of another vendor"});
    let cancelled = c.api.post(&format!("/v1/subscriptions/{sub}/cancel"), Some(&boss), cancel).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(
        (
            cancelled.body["cancel_at_period_end"].clone(),
            cancelled.str("/cancel_at"),
            cancelled.body["scheduled_change"].clone()
        ),
        (json!(true), annual_end.clone(), Value::Null)
    );
    let at_stripe = sim.subscription(&stripe_sub).expect("at Stripe");
    assert_eq!(
        (at_stripe["cancel_at_period_end"].clone(), at_stripe["schedule"].clone()),
        (json!(true), Value::Null),
        "released, then set to cancel"
    );
    assert_eq!(ts(&annual_end), at_stripe["cancel_at"].as_i64().unwrap_or(0), "Stripe's cancel_at is ours");
    let sent = sim
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST" && r.path == format!("/v1/subscriptions/{stripe_sub}"))
        .expect("the update");
    assert!(
        sent.form.contains(&("cancellation_details[feedback]".to_string(), "switched_service".to_string())),
        "the reason rides in Stripe's cancellation_details: {:?}",
        sent.form
    );
    let fewer =
        c.api.post(&format!("/v1/subscriptions/{sub}/seat-changes"), Some(&boss), json!({"seats": 3})).await;
    assert_eq!((fewer.status, fewer.error_code().as_str()), (409, "invalid_state"));
    // The team subscription: cancelled, then resumed; Stripe renews it as before.
    let team_cancel =
        c.api.post(&format!("/v1/subscriptions/{team}/cancel"), Some(&acme.key), json!({})).await;
    assert_eq!(team_cancel.status, 200, "{:?}", team_cancel.body);
    let resumed = c.api.post(&format!("/v1/subscriptions/{team}/resume"), Some(&acme.key), json!({})).await;
    assert_eq!(
        (resumed.status, resumed.body["cancel_at_period_end"].clone()),
        (200, json!(false)),
        "{:?}",
        resumed.body
    );
    assert_eq!(sim.subscription(&team_stripe).expect("at Stripe")["cancel_at_period_end"], json!(false));
    let team_end = ts(&resumed.str("/current_period_end"));
    // A year and a day at Stripe: the annual one ends, the monthly one renews every month.
    let team_invoices = sim.invoices_of(&team_stripe).len();
    let days = (ts(&annual_end) - chrono::Utc::now().timestamp()) / 86_400 + 1;
    sim.advance(days * 86_400).await;
    sim.redeliver_failed().await;
    let ended = c.api.get(&format!("/v1/subscriptions/{sub}"), Some(&boss)).await;
    assert_eq!(ended.str("/status"), "canceled", "{:?}", ended.body);
    assert!(ended.body["suspended_until"].is_string(), "its seats wait 30 days for a reactivation");
    assert_eq!(sim.subscription(&stripe_sub).expect("at Stripe")["status"], json!("canceled"));
    let renewed = c.api.get(&format!("/v1/subscriptions/{team}"), Some(&acme.key)).await;
    assert_eq!(renewed.str("/status"), "active");
    assert!(ts(&renewed.str("/current_period_end")) > team_end, "renewed: {:?}", renewed.body);
    assert!(sim.invoices_of(&team_stripe).len() > team_invoices, "billed for the renewals");
    let trail = c.api.get(&format!("/v1/subscriptions/{sub}/events"), Some(&acme.key)).await;
    assert_eq!(audit_count(&trail.body, "subscription.cancellation_scheduled"), 1);
    assert_eq!(audit_count(&trail.body, "subscription.lapsed"), 1);

    step("dunning: the renewal's card is declined → past due, one mail with the page to pay, seats kept; paid → active, and said so");
    let team_customer = sim
        .subscription(&team_stripe)
        .and_then(|s| s["customer"].as_str().map(str::to_string))
        .expect("customer");
    sim.set_payment_method(&team_customer, "pm_card_chargeDeclined");
    let mails_to_lead = |all: Vec<local_stack::moto::SentEmail>, needle: &str| {
        all.into_iter()
            .filter(|m| m.to.iter().any(|t| t == "lead@corp.example") && m.subject.contains(needle))
            .count()
    };
    let failed_before =
        mails_to_lead(sent_emails(&c.stack.aws_endpoint).await.expect("mails"), "Payment failed");
    sim.advance(32 * 86_400).await;
    sim.redeliver_failed().await;
    let unpaid = c.api.get(&format!("/v1/subscriptions/{team}"), Some(&acme.key)).await;
    assert_eq!(unpaid.str("/status"), "past_due", "{:?}", unpaid.body);
    let due = unpaid.body["payment_failed"]["amount_due"].as_i64().expect("what is due");
    assert!(due > 0, "{:?}", unpaid.body);
    let pay_page = unpaid.str("/payment_failed/payment_url");
    assert!(pay_page.starts_with(&sim.base_url()), "Stripe's page to pay: {pay_page}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n = mails_to_lead(sent_emails(&c.stack.aws_endpoint).await.expect("mails"), "Payment failed");
        if n > failed_before {
            assert_eq!(n, failed_before + 1, "one mail");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no payment-failed mail");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let open_invoice = sim
        .invoices_of(&team_stripe)
        .into_iter()
        .rev()
        .find(|i| i["status"] == json!("open"))
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .expect("the open renewal invoice");
    sim.pay_invoice(&open_invoice, "pm_card_visa").await.expect("paid");
    sim.redeliver_failed().await;
    let recovered = c.api.get(&format!("/v1/subscriptions/{team}"), Some(&acme.key)).await;
    assert_eq!(recovered.str("/status"), "active", "{:?}", recovered.body);
    assert!(recovered.body.get("payment_failed").is_none(), "the banner's facts are gone");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while mails_to_lead(sent_emails(&c.stack.aws_endpoint).await.expect("mails"), "Payment received") == 0 {
        assert!(std::time::Instant::now() < deadline, "no payment-received mail");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let trail = c.api.get(&format!("/v1/subscriptions/{team}/events"), Some(&acme.key)).await;
    assert_eq!(audit_count(&trail.body, "subscription.payment_failed"), 1);
    assert_eq!(audit_count(&trail.body, "subscription.payment_recovered"), 1);

    step("Stripe's retries run out and it marks the team's subscription unpaid: its seats are suspended; the owner buys again, and the old one is voided and cancelled at Stripe before its seats come back on the new one");
    sim.set_retries_exhausted_action("unpaid");
    sim.set_payment_method(&team_customer, "pm_card_chargeDeclined");
    // The next renewal, then its three retries (3, 5 and 7 days apart), all declined.
    sim.advance(47 * 86_400).await;
    sim.redeliver_failed().await;
    assert_eq!(sim.subscription(&team_stripe).expect("at Stripe")["status"], json!("unpaid"));
    let lapsed = c.api.get(&format!("/v1/subscriptions/{team}"), Some(&acme.key)).await;
    assert_eq!(lapsed.str("/status"), "unpaid", "{:?}", lapsed.body);
    assert!(lapsed.body["suspended_until"].is_string(), "{:?}", lapsed.body);
    let suspended = format!("/v1/subscriptions/{team}/seats?status=suspended");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.api.get(&suspended, Some(&acme.key)).await.body["seats"].as_array().map_or(0, Vec::len) < 2 {
        assert!(std::time::Instant::now() < deadline, "the two seats were not suspended");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let unpaid_invoice = sim
        .invoices_of(&team_stripe)
        .into_iter()
        .rev()
        .find(|i| i["status"] == json!("open"))
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .expect("the unpaid renewal invoice, open and payable by hand");
    let chk = c
        .api
        .post("/v1/checkouts", None, checkout_body(&grow_product.str("/id"), 2, "lead@corp.example"))
        .await;
    assert_eq!(chk.status, 201, "{:?}", chk.body);
    let cs = chk.str("/payment_url").rsplit('/').next().map(str::to_string).expect("session id");
    sim.complete_checkout_with_address(&cs, "pm_card_visa", "DE").await.expect("paid at Stripe");
    sim.redeliver_failed().await;
    let again = c.api.get(&format!("/v1/checkouts/{}", chk.str("/id")), None).await.str("/subscription_id");
    let at_stripe = sim.subscription(&team_stripe).expect("at Stripe");
    assert_eq!(at_stripe["status"], json!("canceled"), "nothing at Stripe charges the old one again");
    assert_eq!(sim.invoice(&unpaid_invoice).expect("invoice")["status"], json!("void"));
    assert!(sim.pay_invoice(&unpaid_invoice, "pm_card_visa").await.is_err(), "a void invoice cannot be paid");
    let restored = c.api.get(&format!("/v1/subscriptions/{again}"), Some(&acme.key)).await;
    assert_eq!(restored.str("/restored_from"), team, "{:?}", restored.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let emails = loop {
        let page = c.api.get(&format!("/v1/subscriptions/{again}/seats"), Some(&acme.key)).await;
        let mut seats: Vec<(String, String)> = page.body["seats"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            s["email"].as_str().unwrap_or("").to_string(),
                            s["status"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        seats.sort();
        if seats.len() == 2 {
            break seats;
        }
        assert!(std::time::Instant::now() < deadline, "the seats did not come back: {seats:?}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(
        emails,
        vec![
            ("one@corp.example".to_string(), "pending".to_string()),
            ("two@corp.example".to_string(), "pending".to_string())
        ]
    );
    let old = c.api.get(&format!("/v1/subscriptions/{team}"), Some(&acme.key)).await;
    assert_eq!(
        (old.str("/status"), old.str("/restored_into"), old.body["seats_assigned"].clone()),
        ("canceled".to_string(), again.clone(), json!(0)),
        "{:?}",
        old.body
    );

    step("events of a subscription another integration made are acknowledged");
    let before = sim.deliveries().len();
    let foreign = reqwest::Client::new()
        .post(format!("{}/v1/subscriptions", sim.base_url()))
        .bearer_auth(StripeSim::SECRET_KEY)
        .form(&[
            ("customer", customer.as_str()),
            ("items[0][price]", month_price.as_str()),
            ("items[0][quantity]", "2"),
        ])
        .send()
        .await
        .expect("foreign subscription");
    assert!(foreign.status().is_success());
    let new: Vec<_> = sim.deliveries().into_iter().skip(before).collect();
    assert!(!new.is_empty());
    assert!(
        new.iter().all(|d| d.status == 200),
        "{:?}",
        new.iter().map(|d| (&d.event_type, d.status)).collect::<Vec<_>>()
    );

    println!("Stripe calls in this run: {}", sim.requests().len());
    c.assert_no_5xx_logged();
    c.assert_aws_requests_allowed();
}
