//! The DynamoDB store against moto: the invariants hold because DynamoDB enforces them
//! (conditions, transactions), under concurrency and replays.

use chrono::{Duration, TimeZone, Utc};
use domain::model::*;
use domain::ports::*;
use seats_tests::TestTable;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().expect("date")
}

fn org(slug: &str) -> Organization {
    Organization {
        id: domain::ids::new_id("org"),
        name: "Acme".into(),
        slug: slug.into(),
        email: None,
        created_at: now(),
        billing_portal_configuration_id: None,
        grace_days: None,
        automatic_tax: false,
    }
}

fn checkout(org_id: &str) -> Checkout {
    Checkout {
        id: domain::ids::new_id("chk"),
        organization_id: org_id.into(),
        product_id: domain::ids::new_id("prod"),
        interval: Interval::Month,
        seats: 4,
        currency: "usd".into(),
        unit_amount: 1000,
        amount_due: 4000,
        customer_email: "boss@corp.example".into(),
        success_url: "https://x.example/ok".into(),
        cancel_url: "https://x.example/no".into(),
        status: CheckoutStatus::Open,
        payment_url: "https://pay.example".into(),
        provider_session_id: "cs_1".into(),
        subscription_id: None,
        created_at: now(),
        expires_at: now() + Duration::days(1),
        trial_days: None,
        automatic_tax: false,
    }
}

fn completion(c: &Checkout, event_id: &str, provider_sub: &str) -> CheckoutCompletion {
    let customer = Customer {
        id: domain::ids::new_id("cus"),
        organization_id: c.organization_id.clone(),
        email: c.customer_email.clone(),
        created_at: now(),
    };
    let sub = Subscription {
        id: domain::ids::new_id("sub"),
        organization_id: c.organization_id.clone(),
        product_id: c.product_id.clone(),
        product_name: "Pro".into(),
        organization_name: "Acme".into(),
        customer_id: customer.id.clone(),
        status: SubscriptionStatus::Active,
        interval: c.interval,
        currency: c.currency.clone(),
        unit_amount: c.unit_amount,
        seats: c.seats,
        seats_assigned: 0,
        assign_cap: c.seats,
        scheduled_change: None,
        current_period_start: now(),
        current_period_end: now() + Duration::days(31),
        provider_subscription_id: provider_sub.into(),
        provider_customer_id: None,
        last_event_at: 100,
        version: 1,
        created_at: now(),
        provider_item_id: None,
        period_confirmed: false,
        change_intent: None,
        pending_change: None,
        suspended_until: None,
        restored_from: None,
        restored_into: None,
        cancellation: None,
        cancellation_changed_at: 0,
        dunning: None,
        trial_end: None,
        automatic_tax: false,
    };
    CheckoutCompletion {
        checkout_id: c.id.clone(),
        event_id: event_id.into(),
        audit: AuditEvent {
            id: domain::ids::new_id("evt"),
            subscription_id: sub.id.clone(),
            kind: "subscription.created".into(),
            actor: "test".into(),
            data: serde_json::json!({}),
            created_at: now(),
            outgoing: Vec::new(),
        },
        new_customer: Some(customer),
        subscription: sub,
        restore: None,
        invoice: None,
    }
}

#[tokio::test]
async fn organization_slugs_are_unique_and_keys_resolve_by_hash() {
    let t = TestTable::new("store-org").await;
    let a = org("acme");
    let key = |org: &Organization, id: &str| ApiKey {
        id: id.into(),
        organization_id: org.id.clone(),
        created_at: now(),
        last4: "abcd".into(),
        expires_at: None,
    };
    assert_eq!(t.store.create_organization(&a, &key(&a, "key_a"), "hash-a").await, Ok(true));
    let b = org("acme");
    assert_eq!(t.store.create_organization(&b, &key(&b, "key_b"), "hash-b").await, Ok(false));
    assert_eq!(t.store.api_key("hash-a").await, Ok(Some(key(&a, "key_a"))));
    assert_eq!(t.store.api_key("hash-b").await, Ok(None), "the losing key was not written");
    assert_eq!(t.store.organization_by_slug("acme").await.map(|o| o.map(|o| o.id)), Ok(Some(a.id.clone())));

    // Rotation: the new key, and the old one expiring, in one write; both listed.
    let later = now() + chrono::Duration::hours(1);
    let new = ApiKey { created_at: now(), ..key(&a, "key_c") };
    t.store.rotate_api_key(&new, "hash-c", later).await.expect("rotate");
    assert_eq!(t.store.api_key("hash-a").await.expect("a").and_then(|k| k.expires_at), Some(later));
    assert_eq!(t.store.api_key("hash-c").await.expect("c").and_then(|k| k.expires_at), None);
    let listed: Vec<String> =
        t.store.api_keys(&a.id).await.expect("list").into_iter().map(|k| k.id).collect();
    assert_eq!(listed, vec!["key_a".to_string(), "key_c".to_string()]);
    t.drop_table().await;
}

#[tokio::test]
async fn a_checkout_completes_once_even_when_events_race() {
    let t = TestTable::new("store-checkout").await;
    let c = checkout("org_x");
    t.store.put_checkout(&c).await.expect("put");
    // Ten different events for the same checkout at once (Stripe retries, duplicates).
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = t.store.clone();
        let done = completion(&c, &format!("evt_{i}"), &format!("sub_stripe_{i}"));
        tasks.push(tokio::spawn(async move { store.complete_checkout(&done).await }));
    }
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("join").expect("store") {
            Applied::Applied => applied += 1,
            Applied::Stale | Applied::Duplicate => {}
        }
    }
    assert_eq!(applied, 1);
    let subs = t
        .scan()
        .await
        .into_iter()
        .filter(|i| i.get("entity").and_then(|v| v.as_s().ok()).map(String::as_str) == Some("subscription"))
        .count();
    assert_eq!(subs, 1, "exactly one subscription");
    let stored = t.store.checkout(&c.id).await.expect("get").expect("checkout");
    assert_eq!(stored.status, CheckoutStatus::Completed);
    // The same event again is recognised as a duplicate.
    let replay = completion(&c, "evt_0", "sub_stripe_0");
    let again = t.store.complete_checkout(&replay).await.expect("store");
    assert!(matches!(again, Applied::Duplicate | Applied::Stale));
    t.drop_table().await;
}

#[tokio::test]
async fn billing_updates_apply_in_order_and_once() {
    let t = TestTable::new("store-billing").await;
    let c = checkout("org_x");
    t.store.put_checkout(&c).await.expect("put");
    let done = completion(&c, "evt_c", "sub_stripe_1");
    let sub_id = done.subscription.id.clone();
    assert_eq!(t.store.complete_checkout(&done).await, Ok(Applied::Applied));
    let update = |event: &str, created: i64, version: i64, status| BillingUpdate {
        subscription_id: sub_id.clone(),
        expected_version: version,
        event_id: event.into(),
        event_created: created,
        status,
        current_period_start: now(),
        current_period_end: now() + Duration::days(31),
        period_confirmed: true,
        provider_item_id: Some("si_1".into()),
        renewal: None,
        seats_job: None,
        suspension: Default::default(),
        cancellation: None,
        require_no_change: false,
        dunning: None,
        notice_job: None,
        audit: None,
        invoice: None,
    };
    assert_eq!(
        t.store.apply_billing_update(&update("evt_1", 200, 1, SubscriptionStatus::PastDue)).await,
        Ok(Applied::Applied)
    );
    assert_eq!(
        t.store.apply_billing_update(&update("evt_1", 200, 2, SubscriptionStatus::PastDue)).await,
        Ok(Applied::Duplicate)
    );
    // Older than the last applied event: refused by the condition.
    assert_eq!(
        t.store.apply_billing_update(&update("evt_0", 150, 2, SubscriptionStatus::Active)).await,
        Ok(Applied::Stale)
    );
    // A stale version (a concurrent writer won): refused too.
    assert_eq!(
        t.store.apply_billing_update(&update("evt_2", 300, 1, SubscriptionStatus::Active)).await,
        Ok(Applied::Stale)
    );
    let sub = t.store.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!((sub.status, sub.version, sub.last_event_at), (SubscriptionStatus::PastDue, 2, 200));
    let found = t.store.subscription_by_provider_id("sub_stripe_1").await.expect("get").map(|s| s.id);
    assert_eq!(found, Some(sub_id.clone()));
    let managed = t.store.subscriptions_of_billing_manager(&sub.customer_id).await.expect("query");
    assert_eq!(managed.len(), 1);
    let sold = t.store.subscriptions_of_organization(&sub.organization_id).await.expect("query");
    assert_eq!(sold.iter().map(|s| &s.id).collect::<Vec<_>>(), vec![&sub_id]);
    assert!(t.store.subscriptions_of_organization("org_other").await.expect("query").is_empty());
    assert_eq!((sub.period_confirmed, sub.provider_item_id.as_deref()), (true, Some("si_1")));

    // A change's intent: one at a time, on the version read; settled once, by whichever path
    // comes first; the sweeper's list holds it until then.
    let intent = |id: &str, seats| ChangeIntent {
        id: id.into(),
        kind: ChangeKind::SeatIncrease,
        seats,
        interval: Interval::Month,
        unit_amount: 1000,
        proration_date: 1,
        amount_due: 100,
        previous_cap: sub.assign_cap,
        actor: "test".into(),
        idempotency_key: format!("k-{id}"),
        detail: serde_json::json!({}),
        started_at: now(),
        reserve: None,
        cancellation: None,
    };
    let s = &t.store;
    let mut stale = sub.clone();
    stale.version -= 1;
    assert_eq!(s.begin_change(&stale, &intent("chg_0", 6), None).await, Ok(false), "an old read");
    assert_eq!(s.begin_change(&sub, &intent("chg_1", 6), None).await, Ok(true));
    assert_eq!(s.begin_change(&sub, &intent("chg_2", 7), None).await, Ok(false), "one change at a time");
    let cutoff = now().timestamp() + 1;
    assert_eq!(s.stale_intents(cutoff, 10).await, Ok(vec![sub_id.clone()]));
    // A renewal lands between the intent and its settlement: the settlement keeps it.
    let renewed_end = now() + Duration::days(62);
    let mut renewal = update("evt_3", 400, sub.version, SubscriptionStatus::Active);
    renewal.current_period_start = now() + Duration::days(31);
    renewal.current_period_end = renewed_end;
    assert_eq!(t.store.apply_billing_update(&renewal).await, Ok(Applied::Applied));
    let terms = Terms { seats: Some(6), assign_cap: Some(AssignCap::To(6)), ..Terms::default() };
    let settle = |id: &str, outcome| Settlement {
        subscription_id: sub_id.clone(),
        intent_id: id.into(),
        outcome,
        previous_cap: Some(sub.assign_cap),
        audit: None,
        reserve: None,
        invoice: None,
    };
    assert_eq!(s.settle_change(&settle("chg_2", SettleOutcome::Applied(terms.clone()))).await, Ok(false));
    assert_eq!(s.settle_change(&settle("chg_1", SettleOutcome::Applied(terms.clone()))).await, Ok(true));
    assert_eq!(s.settle_change(&settle("chg_1", SettleOutcome::Applied(terms))).await, Ok(false), "once");
    let after = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!((after.seats, after.assign_cap, after.change_intent.is_none()), (6, 6, true));
    assert_eq!(after.current_period_end, renewed_end, "only the fields the change owns are written");
    assert_eq!(s.stale_intents(cutoff, 10).await, Ok(vec![]));
    // Sent, not paid: pending; a new change waits; the expiry drops it and restores the cap.
    assert_eq!(s.begin_change(&after, &intent("chg_3", 9), None).await, Ok(true));
    let pending = PendingChange {
        intent: intent("chg_3", 9),
        invoice_id: "in_3".into(),
        amount_due: 300,
        payment_url: "https://pay.example/in_3".into(),
        expires_at: now() + Duration::hours(23),
    };
    assert_eq!(s.settle_change(&settle("chg_3", SettleOutcome::PaymentPending(pending))).await, Ok(true));
    // The sweeper looks at it again once its payment's time is up, not before.
    assert_eq!(s.stale_intents(cutoff, 10).await, Ok(vec![]));
    let after_expiry = (now() + Duration::hours(24)).timestamp();
    assert_eq!(s.stale_intents(after_expiry, 10).await, Ok(vec![sub_id.clone()]));
    let waiting = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!(waiting.pending_change.as_ref().map(|p| p.intent.seats), Some(9));
    assert_eq!(s.begin_change(&waiting, &intent("chg_4", 10), None).await, Ok(false));
    assert_eq!(s.settle_change(&settle("chg_3", SettleOutcome::Dropped)).await, Ok(true));
    let dropped = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!((dropped.seats, dropped.pending_change.is_none()), (6, true));
    // A decrease's cap holds only while no more seats are assigned than it leaves.
    let mut decrease = intent("chg_5", 2);
    decrease.kind = ChangeKind::ScheduleDecrease;
    assert_eq!(s.begin_change(&dropped, &decrease, Some(2)).await, Ok(true));
    assert_eq!(s.subscription(&sub_id).await.expect("get").map(|x| x.assign_cap), Some(2));
    // Cancelled: the cap goes back to the paid seats, whatever they are when the write lands.
    let cancel =
        Terms { assign_cap: Some(AssignCap::Seats), scheduled_change: Some(None), ..Terms::default() };
    assert_eq!(s.settle_change(&settle("chg_5", SettleOutcome::Applied(cancel))).await, Ok(true));
    let back = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!((back.assign_cap, back.seats, back.scheduled_change.clone()), (6, 6, None));
    assert_eq!(s.stale_intents(after_expiry, 10).await, Ok(vec![]));
    // Auto-grow: the write that applies the purchase takes the new seat for the asker and holds
    // the lock until it is written: no other change begins until the reservation is released.
    let mut grow = intent("chg_6", 7);
    grow.reserve = Some(1);
    assert_eq!(s.begin_change(&back, &grow, None).await, Ok(true));
    let hold = SeatHold { reservation_id: grow.reservation_id(), seats: 1, created_at: now() };
    let seven = Terms { seats: Some(7), assign_cap: Some(AssignCap::Seats), ..Terms::default() };
    let grown = Settlement { reserve: Some(hold.clone()), ..settle("chg_6", SettleOutcome::Applied(seven)) };
    assert_eq!(s.settle_change(&grown).await, Ok(true));
    let held = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!(
        (held.seats, held.seats_assigned - back.seats_assigned),
        (7, 1),
        "the new seat is taken for the asker"
    );
    assert_eq!(s.begin_change(&held, &intent("chg_7", 8), None).await, Ok(false), "held until written");
    s.release_reservation(&sub_id, &hold.reservation_id).await.expect("released");
    let free = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!(free.seats_assigned, back.seats_assigned, "unused: given back");
    assert_eq!(s.begin_change(&free, &intent("chg_7", 8), None).await, Ok(true), "the lock is free again");
    assert_eq!(s.settle_change(&settle("chg_7", SettleOutcome::Dropped)).await, Ok(true));
    // Cancel at the period's end: the cancellation and the sweeper's entry at its end are
    // written with the settlement; the provider's renewal past the end withdraws both.
    let running = s.subscription(&sub_id).await.expect("get").expect("sub");
    let ending = Cancellation {
        cancel_at: running.current_period_end,
        requested_at: now(),
        reason: Some(CancellationReason::Unused),
        comment: Some("We stopped using it".into()),
        actor: "customer:cus_1".into(),
    };
    let mut cancel_intent = intent("chg_8", running.seats);
    cancel_intent.kind = ChangeKind::CancelAtPeriodEnd;
    assert_eq!(s.begin_change(&running, &cancel_intent, None).await, Ok(true));
    let set = Terms {
        cancellation: Some(CancellationWrite { cancellation: Some(ending.clone()), at: now().timestamp() }),
        ..Terms::default()
    };
    assert_eq!(s.settle_change(&settle("chg_8", SettleOutcome::Applied(set.clone()))).await, Ok(true));
    let set_sub = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!(set_sub.cancellation.as_ref(), Some(&ending));
    let end = ending.cancel_at;
    assert_eq!(s.cancellations_due(end - Duration::seconds(1), 10).await, Ok(vec![]), "not due yet");
    assert_eq!(s.cancellations_due(end, 10).await, Ok(vec![(sub_id.clone(), end)]));
    s.forget_cancellation_due(&sub_id, end - Duration::days(1)).await.expect("another end");
    assert_eq!(s.cancellations_due(end, 10).await, Ok(vec![(sub_id.clone(), end)]), "only its own end");
    // Looked at again later: off the list until then.
    s.postpone_cancellation_due(&sub_id, end, end + Duration::minutes(15)).await.expect("postponed");
    assert_eq!(s.cancellations_due(end + Duration::minutes(14), 10).await, Ok(vec![]));
    assert_eq!(s.cancellations_due(end + Duration::minutes(15), 10).await, Ok(vec![(sub_id.clone(), end)]));
    assert_eq!(set_sub.cancellation_changed_at, now().timestamp());
    let mut renewed = update("evt_5", 500, set_sub.version, SubscriptionStatus::Active);
    (renewed.current_period_start, renewed.current_period_end) = (end, end + Duration::days(30));
    renewed.cancellation = Some(CancellationWrite { cancellation: None, at: 500 });
    assert_eq!(s.apply_billing_update(&renewed).await, Ok(Applied::Applied));
    let resumed = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!((resumed.cancellation.clone(), resumed.current_period_end), (None, end + Duration::days(30)));
    assert_eq!(s.cancellations_due(end + Duration::days(365), 10).await, Ok(vec![]), "the entry went too");
    // Set again, then taken off the list by the sweeper once its end is dealt with.
    let mut again = intent("chg_9", resumed.seats);
    again.kind = ChangeKind::CancelAtPeriodEnd;
    assert_eq!(s.begin_change(&resumed, &again, None).await, Ok(true));
    let later = Cancellation { cancel_at: resumed.current_period_end, ..ending };
    let set = Terms {
        cancellation: Some(CancellationWrite { cancellation: Some(later.clone()), at: now().timestamp() }),
        ..Terms::default()
    };
    assert_eq!(s.settle_change(&settle("chg_9", SettleOutcome::Applied(set))).await, Ok(true));
    assert_eq!(s.cancellations_due(later.cancel_at, 10).await, Ok(vec![(sub_id.clone(), later.cancel_at)]));
    s.forget_cancellation_due(&sub_id, later.cancel_at).await.expect("forgotten");
    assert_eq!(s.cancellations_due(later.cancel_at, 10).await, Ok(vec![]));
    // The sweeper's end of a cancellation waits for a change in flight: its write requires none.
    let current = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!(s.begin_change(&current, &intent("chg_10", current.seats), None).await, Ok(true));
    let mut ending_now = update("evt_6", 600, current.version, SubscriptionStatus::Canceled);
    (ending_now.current_period_start, ending_now.current_period_end) =
        (current.current_period_start, current.current_period_end);
    ending_now.require_no_change = true;
    assert_eq!(s.apply_billing_update(&ending_now).await, Ok(Applied::Stale));
    let still = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!(still.status, SubscriptionStatus::Active);
    // The offline ledger: an invoice written with a settlement; written again (paid), replaced.
    let open = BillingInvoice {
        id: "in_offline_sub-chg_10".into(),
        number: None,
        created: now(),
        currency: "usd".into(),
        subtotal: 700,
        tax: 0,
        total: 700,
        amount_due: 700,
        amount_paid: 0,
        status: "open".into(),
        billing_reason: Some("subscription_update".into()),
        hosted_invoice_url: Some("https://pay.example/in".into()),
        invoice_pdf: None,
        period_start: None,
        period_end: None,
    };
    let with_open = Settlement { invoice: Some(open.clone()), ..settle("chg_10", SettleOutcome::Dropped) };
    assert_eq!(s.settle_change(&with_open).await, Ok(true));
    assert_eq!(s.ledger_invoices(&sub_id).await, Ok(vec![open.clone()]));
    let current = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!(s.begin_change(&current, &intent("chg_11", current.seats), None).await, Ok(true));
    let paid = BillingInvoice { status: "paid".into(), amount_paid: 700, ..open };
    let with_paid = Settlement { invoice: Some(paid.clone()), ..settle("chg_11", SettleOutcome::Dropped) };
    assert_eq!(s.settle_change(&with_paid).await, Ok(true));
    assert_eq!(s.ledger_invoices(&sub_id).await, Ok(vec![paid]), "one entry per invoice");
    // Dunning: written with the event that starts it (its entry in the sweeper's list, its mail
    // in the outbox), gone with the one that ends it.
    let current = s.subscription(&sub_id).await.expect("get").expect("sub");
    let until = now() + Duration::days(14);
    let dunning = Dunning {
        failed_at: now(),
        invoice_id: Some("in_9".into()),
        amount_due: 7000,
        payment_url: Some("https://pay.example/in_9".into()),
        access_until: until,
        attempts: 1,
    };
    let mut failed = update("evt_7", 700, current.version, SubscriptionStatus::PastDue);
    (failed.current_period_start, failed.current_period_end) =
        (current.current_period_start, current.current_period_end);
    failed.dunning = Some(Some(dunning.clone()));
    failed.notice_job = Some(Job::billing_notice(JobKind::PaymentFailed, &sub_id, &current.customer_id));
    let outbox_before = s.stale_jobs(i64::MAX, 100).await.expect("outbox").len();
    assert_eq!(s.apply_billing_update(&failed).await, Ok(Applied::Applied));
    let unpaid = s.subscription(&sub_id).await.expect("get").expect("sub");
    assert_eq!((unpaid.status, unpaid.dunning.clone()), (SubscriptionStatus::PastDue, Some(dunning)));
    assert_eq!(
        s.stale_jobs(i64::MAX, 100).await.expect("outbox").len(),
        outbox_before + 1,
        "the mail, committed"
    );
    assert_eq!(s.dunning_due(until - Duration::seconds(1), 10).await, Ok(vec![]));
    assert_eq!(s.dunning_due(until, 10).await, Ok(vec![(sub_id.clone(), until)]));
    let mut recovered = update("evt_8", 800, unpaid.version, SubscriptionStatus::Active);
    (recovered.current_period_start, recovered.current_period_end) =
        (current.current_period_start, current.current_period_end);
    recovered.dunning = Some(None);
    assert_eq!(s.apply_billing_update(&recovered).await, Ok(Applied::Applied));
    assert_eq!(s.subscription(&sub_id).await.expect("get").and_then(|x| x.dunning), None);
    assert_eq!(s.dunning_due(until, 10).await, Ok(vec![]), "the entry went with it");
    t.drop_table().await;
}

#[tokio::test]
async fn sign_in_codes_are_single_use_and_expire() {
    let t = TestTable::new("store-signin").await;
    let code = |hash: &str, expires| SignInCode {
        code_hash: hash.into(),
        customer_id: "cus_1".into(),
        organization_id: "org_1".into(),
        expires_at: expires,
    };
    t.store.put_sign_in_code(&code("h1", now() + Duration::minutes(15))).await.expect("put");
    let first = t.store.take_sign_in_code("h1", now()).await.expect("take");
    assert_eq!(first.map(|c| c.customer_id), Some("cus_1".into()));
    assert_eq!(t.store.take_sign_in_code("h1", now()).await, Ok(None));
    t.store.put_sign_in_code(&code("h2", now() + Duration::minutes(15))).await.expect("put");
    assert_eq!(t.store.take_sign_in_code("h2", now() + Duration::minutes(16)).await, Ok(None));
    assert_eq!(t.store.take_sign_in_code("never", now()).await, Ok(None));
    t.drop_table().await;
}

#[tokio::test]
async fn idempotency_records_replay_detect_mismatch_and_release() {
    let t = TestTable::new("store-idem").await;
    let s = &t.store;
    assert_eq!(s.begin_idempotent("org:1#k", "h", now()).await, Ok(IdempotencyStart::Started));
    assert_eq!(s.begin_idempotent("org:1#k", "h", now()).await, Ok(IdempotencyStart::InProgress));
    assert_eq!(s.begin_idempotent("org:1#k", "other", now()).await, Ok(IdempotencyStart::Mismatch));
    let resp = StoredResponse { status: 201, body: "{\"id\":1}".into() };
    s.finish_idempotent("org:1#k", &resp).await.expect("finish");
    assert_eq!(s.begin_idempotent("org:1#k", "h", now()).await, Ok(IdempotencyStart::Replay(resp)));
    // Another caller's scope is separate.
    assert_eq!(s.begin_idempotent("org:2#k", "other", now()).await, Ok(IdempotencyStart::Started));
    // A failed first attempt releases the key.
    s.abandon_idempotent("org:2#k").await.expect("abandon");
    assert_eq!(s.begin_idempotent("org:2#k", "h", now()).await, Ok(IdempotencyStart::Started));
    // A holder that died is taken over after a minute.
    assert_eq!(
        s.begin_idempotent("org:2#k", "h", now() + Duration::seconds(61)).await,
        Ok(IdempotencyStart::Started)
    );
    // After 24 h the key is free again.
    assert_eq!(
        s.begin_idempotent("org:1#k", "new", now() + Duration::hours(25)).await,
        Ok(IdempotencyStart::Started)
    );
    t.drop_table().await;
}
