//! Outgoing webhooks on the in-memory fakes: every change of a story announces its events once,
//! signed the Standard Webhooks way (checked here by a verifier written from the
//! specification, not with the code's own signer), payloads equal to the API's objects; a
//! failing receiver is retried with backoff until it answers or the window closes (then the
//! endpoint is disabled and the merchant told once); a refused change announces nothing; a lost
//! queue send is found by the sweeper.

mod common;

use base64::Engine;
use chrono::Duration;
use common::{at, updated};
use domain::error::DomainError;
use domain::events::PaymentEventKind;
use domain::memory::{fixtures, Fakes, Received, ScriptedReceiver};
use domain::model::*;
use domain::ports::{Clock, PostOutcome, Store, WebhookStore};
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::webhooks::{self, send::Attempted, EndpointPatch, NewEndpoint};
use domain::services::{billing_events, Principal};
use domain::webhooks::DeliveryStatus;
use hmac::Mac;
use serde_json::Value;

/// The receiver's side of Standard Webhooks: HMAC-SHA256 keyed with the base64 bytes after
/// `whsec_`, over `{webhook-id}.{webhook-timestamp}.{body}`; any `v1,` signature may match.
fn verified(secret: &str, r: &Received) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some(key) = secret.strip_prefix("whsec_").and_then(|k| b64.decode(k).ok()) else { return false };
    let (Some(id), Some(ts), Some(sigs)) =
        (r.header("webhook-id"), r.header("webhook-timestamp"), r.header("webhook-signature"))
    else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else { return false };
    mac.update(format!("{id}.{ts}.{}", r.body).as_bytes());
    let expected = b64.encode(mac.finalize().into_bytes());
    sigs.split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

fn ok() -> PostOutcome {
    PostOutcome::Answered(204)
}

struct Story {
    f: Fakes,
    merchant: Principal,
    secret: String,
    endpoint_id: String,
}

async fn with_endpoint(events: &[&str]) -> Story {
    let f = Fakes::at(at(2025, 3, 1));
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let made = webhooks::create(
        &f.app,
        &merchant,
        NewEndpoint {
            url: "https://hooks.acme.example/seats".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            description: Some("CRM".into()),
        },
    )
    .await
    .expect("endpoint");
    assert!(made.secret.starts_with("whsec_"));
    Story { f, merchant, secret: made.secret, endpoint_id: made.endpoint.id }
}

async fn bought(s: &Story) -> Subscription {
    let product =
        fixtures::product(&s.f.app, &s.merchant, &fixtures::Plan::default()).await.expect("product");
    fixtures::buy(&s.f.app, &product, 3, "boss@corp.example", at(2025, 3, 1).timestamp(), "sub_s")
        .await
        .expect("bought")
}

fn bodies(received: &[Received]) -> Vec<Value> {
    received.iter().map(|r| serde_json::from_str(&r.body).expect("json body")).collect()
}

#[tokio::test]
async fn a_story_announces_every_event_once_signed_with_the_objects_as_the_api_shows_them() {
    let s = with_endpoint(&["*"]).await;
    let sub = bought(&s).await;
    s.f.run_jobs().await.expect("jobs");
    let ann = seats::assign(
        &s.f.app,
        &s.merchant,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await
    .expect("assign");
    let invite = s.f.queue.take().into_iter().find(|j| j.kind == JobKind::Invite).expect("invite");
    domain::services::benefits::process(&s.f.app, &invite).await.expect("mailed");
    let claimed = claims::claim(&s.f.app, ClaimRequest { token: invite.claim_token.clone().expect("token") })
        .await
        .expect("claim");
    s.f.run_jobs().await.expect("grants");
    let revoked = seats::revoke(&s.f.app, &s.merchant, &sub.id, &ann.id).await.expect("revoke");
    s.f.run_jobs().await.expect("benefit revocations");
    // Stripe says the card failed at renewal: past due.
    let mut past_due = updated(
        "evt_pd",
        at(2025, 4, 1).timestamp(),
        Some((at(2025, 4, 1).timestamp(), at(2025, 5, 1).timestamp())),
        3,
        "month",
    );
    if let PaymentEventKind::SubscriptionUpdated { state, .. } = &mut past_due.kind {
        state.status = "past_due".into();
    }
    billing_events::handle(&s.f.app, &past_due).await.expect("past due");

    let receiver = ScriptedReceiver::answering(vec![], ok());
    let attempts = s.f.run_webhooks(&receiver).await.expect("sent");
    assert!(attempts.iter().all(|a| *a == Attempted::Delivered), "{attempts:?}");
    let received = receiver.received();
    assert!(received.iter().all(|r| verified(&s.secret, r)), "every signature verifies with the secret");
    assert!(received.iter().all(|r| r.url == "https://hooks.acme.example/seats"));
    let events = bodies(&received);
    let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    for t in [
        "checkout.completed",
        "subscription.created",
        "seat.assigned",
        "seat.invitation_sent",
        "seat.claimed",
        "benefit.granted",
        "seat.revoked",
        "benefit.revoked",
        "subscription.updated",
        "subscription.past_due",
    ] {
        assert_eq!(count(t), 1, "{t} once in {:?}", events.iter().map(|e| &e["type"]).collect::<Vec<_>>());
    }
    // The headers' id is the event's id; each event has its own.
    for (r, e) in received.iter().zip(&events) {
        assert_eq!(r.header("webhook-id"), e["id"].as_str());
    }
    let of = |t: &str| events.iter().find(|e| e["type"] == t).cloned().unwrap_or_default();
    // The revoked seat's payload still names who held it, and equals the API's answer.
    let seat_revoked = of("seat.revoked");
    assert_eq!(seat_revoked["data"]["object"], serde_json::to_value(&revoked).expect("json"));
    assert_eq!(seat_revoked["data"]["object"]["email"], "ann@corp.example");
    assert_eq!(seat_revoked["data"]["object"]["customer_id"], serde_json::json!(claimed.seat.customer_id));
    assert_eq!(of("seat.claimed")["data"]["object"], serde_json::to_value(&claimed.seat).expect("json"));
    assert_eq!(of("seat.assigned")["data"]["object"], serde_json::to_value(&ann).expect("json"));
    // Versions grow along a seat's life, so a receiver can drop what is older than it holds.
    let v = |t: &str| of(t)["version"].as_i64().unwrap_or(0);
    assert!(v("seat.assigned") < v("seat.claimed") && v("seat.claimed") < v("seat.revoked"));
    assert!(v("subscription.created") < v("subscription.updated"));
    let now_sub =
        domain::services::portal::get_subscription(&s.f.app, &s.merchant, &sub.id).await.expect("read");
    assert_eq!(of("subscription.past_due")["data"]["object"], serde_json::to_value(&now_sub).expect("json"));

    // The deliveries are listed, succeeded at the first attempt; nothing is due or undispatched.
    let list =
        webhooks::deliveries(&s.f.app, &s.merchant, &s.endpoint_id, None, Some("100")).await.expect("list");
    assert_eq!(list.data.len(), received.len());
    assert!(list.data.iter().all(|d| d.status == DeliveryStatus::Succeeded && d.attempts == 1));
    let later = s.f.clock.now().timestamp() + 3600;
    assert!(s.f.store.undispatched_events(later, 10).await.expect("store").is_empty());
    assert!(s.f.store.due_webhook_deliveries(later, 10).await.expect("store").is_empty());
}

#[tokio::test]
async fn an_endpoint_gets_only_the_types_it_asked_for() {
    let s = with_endpoint(&["seat.assigned"]).await;
    let sub = bought(&s).await;
    seats::assign(
        &s.f.app,
        &s.merchant,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await
    .expect("assign");
    s.f.run_jobs().await.expect("jobs");
    let receiver = ScriptedReceiver::answering(vec![], ok());
    s.f.run_webhooks(&receiver).await.expect("sent");
    let types: Vec<Value> = bodies(&receiver.received()).into_iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types, vec![serde_json::json!("seat.assigned")]);
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_it_on_the_fourth_attempt_after_backoff() {
    let s = with_endpoint(&["seat.assigned"]).await;
    let sub = bought(&s).await;
    seats::assign(
        &s.f.app,
        &s.merchant,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await
    .expect("assign");
    let receiver = ScriptedReceiver::answering(
        vec![
            PostOutcome::Answered(500),
            PostOutcome::NoAnswer("connection refused".into()),
            PostOutcome::Answered(503),
        ],
        ok(),
    );
    let started = s.f.clock.now();
    let attempts = s.f.run_webhooks(&receiver).await.expect("sent");
    assert_eq!(
        attempts,
        vec![Attempted::RetryIn(5), Attempted::RetryIn(10), Attempted::RetryIn(20), Attempted::Delivered]
    );
    assert_eq!(s.f.clock.now() - started, Duration::seconds(35), "waited 5 + 10 + 20 s");
    let received = receiver.received();
    assert_eq!(received.len(), 4);
    // The same id and body every time; a fresh timestamp, and a signature that fits it.
    assert!(received
        .iter()
        .all(|r| r.body == received[0].body && r.header("webhook-id") == received[0].header("webhook-id")));
    assert_ne!(received[0].header("webhook-timestamp"), received[3].header("webhook-timestamp"));
    assert!(received.iter().all(|r| verified(&s.secret, r)));
    let list = webhooks::deliveries(&s.f.app, &s.merchant, &s.endpoint_id, None, None).await.expect("list");
    let d = &list.data[0];
    assert_eq!((d.status, d.attempts, d.last_response_code), (DeliveryStatus::Succeeded, 4, Some(204)));
    let endpoint = webhooks::get(&s.f.app, &s.merchant, &s.endpoint_id).await.expect("endpoint");
    assert_eq!(endpoint.failing_since, None, "a success clears the failure");
}

#[tokio::test]
async fn a_receiver_that_never_accepts_fails_after_the_window_and_its_endpoint_is_disabled_once() {
    let mut s = with_endpoint(&["seat.assigned"]).await;
    // Time compressed: a 10-minute window, as a setting.
    s.f.app.settings.webhook_retry = domain::webhooks::RetryPolicy { base_s: 5, cap_s: 60, window_s: 600 };
    let sub = bought(&s).await;
    seats::assign(
        &s.f.app,
        &s.merchant,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await
    .expect("assign");
    let mails_before = s.f.mailer.sent().len();
    let receiver = ScriptedReceiver::answering(vec![], PostOutcome::Answered(500));
    let attempts = s.f.run_webhooks(&receiver).await.expect("sent");
    // 5, 10, 20, 40, then 60 s apart: the attempt after the one at 555 s would pass the window.
    assert_eq!(attempts.len(), 13, "{attempts:?}");
    assert_eq!(attempts.last(), Some(&Attempted::GaveUp));
    let list = webhooks::deliveries(&s.f.app, &s.merchant, &s.endpoint_id, Some("failed"), None)
        .await
        .expect("list");
    assert_eq!(list.data.len(), 1);
    assert!(list
        .data
        .iter()
        .all(|d| d.attempts > 5 && d.next_attempt_at.is_none() && d.last_response_code == Some(500)));
    let endpoint = webhooks::get(&s.f.app, &s.merchant, &s.endpoint_id).await.expect("endpoint");
    assert!(endpoint.disabled, "disabled after failing for the window");
    let told: Vec<_> =
        s.f.mailer
            .sent()
            .into_iter()
            .skip(mails_before)
            .filter(|m| m.subject.contains("webhook endpoint"))
            .collect();
    assert_eq!(told.len(), 1, "the merchant is told once");
    assert_eq!(told[0].to, "billing@acme.example");

    // Enabled again, a retry of a failed delivery goes through.
    let d = list.data[0].id.clone();
    let refused = webhooks::retry(&s.f.app, &s.merchant, &s.endpoint_id, &d).await;
    assert!(matches!(refused, Err(DomainError::InvalidState(_))), "a disabled endpoint is enabled first");
    let patch = EndpointPatch { disabled: Some(false), ..Default::default() };
    webhooks::update(&s.f.app, &s.merchant, &s.endpoint_id, patch).await.expect("enabled");
    webhooks::retry(&s.f.app, &s.merchant, &s.endpoint_id, &d).await.expect("retry");
    let fixed = ScriptedReceiver::answering(vec![], ok());
    assert_eq!(s.f.run_webhooks(&fixed).await.expect("sent"), vec![Attempted::Delivered]);
}

#[tokio::test]
async fn a_refused_change_announces_nothing_and_a_lost_send_is_found_by_the_sweeper() {
    let s = with_endpoint(&["*"]).await;
    let sub = bought(&s).await;
    let receiver = ScriptedReceiver::answering(vec![], ok());
    s.f.run_jobs().await.expect("jobs");
    s.f.run_webhooks(&receiver).await.expect("purchase events");
    let before = receiver.received().len();
    // A duplicate email is refused by the store's condition: no entry, no event.
    let assign = |e: &str| AssignSeat { email: e.into(), metadata: None, ..Default::default() };
    seats::assign(&s.f.app, &s.merchant, &sub.id, assign("ann@corp.example")).await.expect("ann");
    s.f.webhooks.take();
    let again = seats::assign(&s.f.app, &s.merchant, &sub.id, assign("ann@corp.example")).await;
    assert!(matches!(again, Err(DomainError::SeatAlreadyAssigned)));
    assert!(s.f.webhooks.take().is_empty(), "nothing announced");

    // The queue is down when bob is assigned: the change is committed, its events wait.
    s.f.webhooks.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    seats::assign(&s.f.app, &s.merchant, &sub.id, assign("bob@corp.example")).await.expect("bob");
    // The sweeper's webhook part fails with the queue; its jobs' part does not.
    s.f.clock.advance(Duration::seconds(120));
    let swept = domain::services::sweeper::sweep(&s.f.app, 60).await.expect("the sweep goes on");
    assert_eq!(swept.webhooks_dispatched, 0);
    s.f.webhooks.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(s.f.webhooks.take().is_empty());
    s.f.clock.advance(Duration::seconds(120));
    let swept = domain::services::webhooks::send::sweep(&s.f.app, 60).await.expect("sweep");
    assert_eq!(swept.dispatched, 2, "ann's (dispatched by nobody yet) and bob's");
    s.f.run_webhooks(&receiver).await.expect("sent");
    let assigned: Vec<Value> = bodies(&receiver.received()[before..])
        .into_iter()
        .filter(|e| e["type"] == "seat.assigned")
        .map(|e| e["data"]["object"]["email"].clone())
        .collect();
    assert_eq!(assigned, vec![serde_json::json!("ann@corp.example"), serde_json::json!("bob@corp.example")]);
    // Dispatching again makes no second delivery.
    let (sub_id, entry) = {
        let trail = s.f.store.audit_events(&sub.id).await.expect("trail");
        let e = trail.into_iter().rfind(|e| e.kind == "seat.assigned").expect("entry");
        (e.subscription_id, e.id)
    };
    assert_eq!(
        domain::services::webhooks::send::dispatch(&s.f.app, &sub_id, &entry).await.expect("again"),
        0
    );
}

#[tokio::test]
async fn endpoints_are_checked_limited_rotated_and_deleted() {
    let s = with_endpoint(&["seat.claimed"]).await;
    let (fakes, m) = (&s.f, &s.merchant);
    let f = &fakes.app;
    let new = |url: &str, events: &[&str]| NewEndpoint {
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        description: None,
    };
    for (url, events) in [
        ("http://hooks.acme.example/x", &["seat.claimed"][..]),
        ("http://127.0.0.1:9/x", &["seat.claimed"][..]),
        ("https://user:pw@hooks.acme.example/x", &["seat.claimed"][..]),
        ("https://10.0.0.7/x", &["seat.claimed"][..]),
        ("https://169.254.169.254/latest/meta-data", &["seat.claimed"][..]),
        ("https://[::1]:9001/2018-06-01/runtime", &["seat.claimed"][..]),
        ("not a url", &["seat.claimed"][..]),
        ("https://hooks.acme.example/x", &["seat.eaten"][..]),
        ("https://hooks.acme.example/x", &[][..]),
    ] {
        let r = webhooks::create(f, m, new(url, events)).await;
        assert!(matches!(r, Err(DomainError::InvalidRequest { .. })), "{url} {events:?}: {r:?}");
    }
    // Plain http to this machine, only where the settings allow it (local stacks).
    let mut local = f.clone();
    local.settings.webhook_allow_loopback = true;
    webhooks::create(&local, m, new("http://127.0.0.1:9/x", &["seat.claimed"])).await.expect("loopback");
    for i in 2..domain::webhooks::MAX_ENDPOINTS {
        webhooks::create(f, m, new(&format!("https://h{i}.example/x"), &["*"]))
            .await
            .expect("under the limit");
    }
    let over = webhooks::create(f, m, new("https://h99.example/x", &["*"])).await;
    assert!(matches!(over, Err(DomainError::Conflict(_))), "{over:?}");
    assert_eq!(webhooks::list(f, m).await.expect("list").data.len() as i64, domain::webhooks::MAX_ENDPOINTS);

    // Another merchant sees none of them.
    let (other, _) = fixtures::merchant(f, "globex").await.expect("other");
    assert!(matches!(webhooks::get(f, &other, &s.endpoint_id).await, Err(DomainError::NotFound(_))));
    assert!(webhooks::list(f, &other).await.expect("list").data.is_empty());

    // A bad patch changes nothing; a good one changes what it names.
    let bad = EndpointPatch { url: Some("ftp://x".into()), ..Default::default() };
    assert!(webhooks::update(f, m, &s.endpoint_id, bad).await.is_err());
    let patch = EndpointPatch { events: Some(vec!["seat.revoked".into()]), ..Default::default() };
    let changed = webhooks::update(f, m, &s.endpoint_id, patch).await.expect("patch");
    assert_eq!(
        (changed.events, changed.url.as_str()),
        (vec!["seat.revoked".to_string()], "https://hooks.acme.example/seats")
    );

    // Rotation: both secrets sign for 24 hours, then only the new one.
    let rotated = webhooks::rotate_secret(f, m, &s.endpoint_id).await.expect("rotate");
    assert_ne!(rotated.secret, s.secret);
    let test = webhooks::send_test(f, m, &s.endpoint_id).await.expect("test event");
    assert_eq!(test.event_type, "webhook_endpoint.test");
    let receiver = ScriptedReceiver::answering(vec![], ok());
    fakes.run_webhooks(&receiver).await.expect("sent");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(verified(&s.secret, &got[0]) && verified(&rotated.secret, &got[0]));
    fakes.clock.advance(Duration::hours(24));
    webhooks::send_test(f, m, &s.endpoint_id).await.expect("test event");
    fakes.run_webhooks(&receiver).await.expect("sent");
    let got = receiver.received();
    assert!(!verified(&s.secret, &got[1]) && verified(&rotated.secret, &got[1]));

    webhooks::delete(f, m, &s.endpoint_id).await.expect("deleted");
    assert!(matches!(webhooks::delete(f, m, &s.endpoint_id).await, Err(DomainError::NotFound(_))));
    webhooks::create(f, m, new("https://h99.example/x", &["*"])).await.expect("room again");
}
