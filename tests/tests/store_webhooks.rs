//! The DynamoDB webhook store against moto: the endpoint limit is a counter in the create
//! transaction (20 racing creates past it never make 21), replacements are conditioned on the
//! version or revision read, one delivery per event and endpoint, and the two lists the
//! sweeper reads (undispatched events, due deliveries) hold what they should and drop it.

use chrono::{Duration, TimeZone, Utc};
use domain::model::*;
use domain::ports::*;
use domain::webhooks::*;
use seats_tests::TestTable;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().expect("date")
}

fn endpoint(org: &str, i: usize) -> WebhookEndpoint {
    WebhookEndpoint {
        id: domain::ids::new_id("we"),
        organization_id: org.into(),
        url: format!("https://h{i}.example/hook"),
        events: vec!["*".into()],
        description: None,
        secret: new_secret(),
        previous_secret: None,
        previous_secret_expires_at: None,
        disabled: false,
        disabled_reason: None,
        failing_since: None,
        version: 1,
        created_at: now(),
        updated_at: now(),
    }
}

fn delivery(e: &WebhookEndpoint, event_id: &str, next: i64) -> WebhookDelivery {
    WebhookDelivery {
        id: delivery_id(event_id),
        endpoint_id: e.id.clone(),
        organization_id: e.organization_id.clone(),
        event_id: event_id.into(),
        event_type: "seat.claimed".into(),
        payload: "{}".into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_response_code: None,
        last_error: None,
        last_attempt_at: None,
        next_attempt_at: Some(now() + Duration::seconds(next)),
        window_started_at: now(),
        window_first_failure_at: None,
        delivered_at: None,
        created_at: now(),
        revision: 1,
    }
}

#[tokio::test]
async fn endpoints_are_capped_by_a_counter_and_replaced_only_from_the_version_read() {
    let t = TestTable::new("store-webhooks").await;
    let org = Organization {
        id: domain::ids::new_id("org"),
        name: "Acme".into(),
        slug: "acme".into(),
        email: Some("ops@acme.example".into()),
        created_at: now(),
        billing_portal_configuration_id: None,
        grace_days: None,
        automatic_tax: false,
    };
    let key = ApiKey {
        id: "key_a".into(),
        organization_id: org.id.clone(),
        created_at: now(),
        last4: "abcd".into(),
        expires_at: None,
    };
    assert_eq!(t.store.create_organization(&org, &key, "hash-a").await, Ok(true));
    // 30 creates race for a limit of 20.
    let store = std::sync::Arc::new(t.store.clone());
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (store, org_id) = (store.clone(), org.id.clone());
            tokio::spawn(async move { store.create_webhook_endpoint(&endpoint(&org_id, i), 20).await })
        })
        .collect();
    let mut made = 0;
    for task in tasks {
        if task.await.expect("task").expect("store") == EndpointCreated::Created {
            made += 1;
        }
    }
    let listed = t.store.webhook_endpoints(&org.id).await.expect("list");
    assert_eq!((made, listed.len()), (20, 20), "never past the limit");
    assert_eq!(t.store.organization(&org.id).await.expect("org").map(|o| o.email), Some(org.email.clone()));

    // A replacement from a stale version is refused.
    let mut e = listed[0].clone();
    e.version += 1;
    e.url = "https://moved.example/hook".into();
    assert_eq!(t.store.replace_webhook_endpoint(&e).await, Ok(true));
    assert_eq!(t.store.replace_webhook_endpoint(&e).await, Ok(false), "version 2 is not 3 - 1");
    // Failing since the first failure only; healthy clears it; disabled once.
    let later = now() + Duration::minutes(5);
    t.store.mark_endpoint_failing(&org.id, &e.id, now()).await.expect("failing");
    t.store.mark_endpoint_failing(&org.id, &e.id, later).await.expect("still failing");
    let read = t.store.webhook_endpoint(&org.id, &e.id).await.expect("read").expect("there");
    assert_eq!(read.failing_since, Some(now()));
    assert_eq!(t.store.disable_webhook_endpoint(&org.id, &e.id, "failing", later).await, Ok(true));
    assert_eq!(t.store.disable_webhook_endpoint(&org.id, &e.id, "failing", later).await, Ok(false));
    t.store.mark_endpoint_healthy(&org.id, &e.id).await.expect("healthy");
    let read = t.store.webhook_endpoint(&org.id, &e.id).await.expect("read").expect("there");
    assert!(read.disabled && read.failing_since.is_none() && read.version == 3, "{read:?}");

    // Deleting frees a place under the limit.
    assert_eq!(
        t.store.create_webhook_endpoint(&endpoint(&org.id, 99), 20).await,
        Ok(EndpointCreated::LimitReached)
    );
    assert_eq!(t.store.delete_webhook_endpoint(&org.id, &e.id).await, Ok(true));
    assert_eq!(t.store.delete_webhook_endpoint(&org.id, &e.id).await, Ok(false));
    assert_eq!(
        t.store.create_webhook_endpoint(&endpoint(&org.id, 99), 20).await,
        Ok(EndpointCreated::Created)
    );
    t.drop_table().await;
}

#[tokio::test]
async fn deliveries_are_made_once_and_the_sweepers_lists_hold_what_is_due() {
    let t = TestTable::new("store-deliveries").await;
    let e = endpoint("org_x", 1);
    let (first, second) = (domain::ids::new_id("evt"), domain::ids::new_id("evt"));
    let soon = delivery(&e, &first, 10);
    assert_eq!(t.store.put_webhook_delivery(&soon).await, Ok(true));
    assert_eq!(t.store.put_webhook_delivery(&soon).await, Ok(false), "one per event and endpoint");
    let late = delivery(&e, &second, 3600);
    assert_eq!(t.store.put_webhook_delivery(&late).await, Ok(true));
    let due = |s: i64| {
        let store = t.store.clone();
        async move {
            let ids: Vec<String> = store
                .due_webhook_deliveries((now() + Duration::seconds(s)).timestamp(), 100)
                .await
                .expect("due")
                .into_iter()
                .map(|d| d.id)
                .collect();
            ids
        }
    };
    assert_eq!(due(9).await, Vec::<String>::new());
    assert_eq!(due(10).await, vec![soon.id.clone()]);
    assert_eq!(due(7200).await, vec![soon.id.clone(), late.id.clone()], "soonest first");
    // Newest first in the merchant's list.
    let listed: Vec<String> =
        t.store.webhook_deliveries(&e.id, 10).await.expect("list").into_iter().map(|d| d.id).collect();
    assert_eq!(listed, vec![late.id.clone(), soon.id.clone()]);
    // Recorded by one worker only; a delivery done leaves the due list.
    let mut done = soon.clone();
    (done.status, done.attempts, done.next_attempt_at, done.revision) =
        (DeliveryStatus::Succeeded, 1, None, 2);
    assert_eq!(t.store.replace_webhook_delivery(&done).await, Ok(true));
    assert_eq!(t.store.replace_webhook_delivery(&done).await, Ok(false));
    assert_eq!(due(7200).await, vec![late.id.clone()]);

    // An audit entry announcing events is on the undispatched list until marked.
    let announced = AuditEvent {
        id: domain::ids::new_id("evt"),
        subscription_id: "sub_1".into(),
        kind: "seat.claimed".into(),
        actor: "test".into(),
        data: serde_json::json!({}),
        created_at: now(),
        outgoing: vec![OutgoingEvent {
            id: domain::ids::new_id("evt"),
            organization_id: "org_x".into(),
            kind: "seat.claimed".into(),
            created: now(),
            version: 2,
            object: serde_json::json!({"id": "seat_1", "email": "ann@corp.example"}),
        }],
    };
    let silent = AuditEvent { id: domain::ids::new_id("evt"), outgoing: Vec::new(), ..announced.clone() };
    t.store.put_audit_event(&announced).await.expect("put");
    t.store.put_audit_event(&silent).await.expect("put");
    let cutoff = now().timestamp();
    assert_eq!(
        t.store.undispatched_events(cutoff, 10).await,
        Ok(vec![("sub_1".to_string(), announced.id.clone())])
    );
    assert_eq!(t.store.undispatched_events(cutoff - 1, 10).await, Ok(vec![]), "not stale yet");
    let read = t.store.audit_event_with_outgoing("sub_1", &announced.id).await.expect("read").expect("there");
    assert_eq!(read.outgoing, announced.outgoing, "the events as captured");
    // The trail the API shows is unchanged by what it announces.
    let trail = t.store.audit_events("sub_1").await.expect("trail");
    assert_eq!(trail.len(), 2);
    t.store.mark_events_dispatched("sub_1", &announced.id).await.expect("mark");
    assert_eq!(t.store.undispatched_events(cutoff, 10).await, Ok(vec![]));
    t.drop_table().await;
}
