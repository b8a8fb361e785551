//! Suspend and restore, in memory with a moving clock: a lapse suspends the seats (benefits
//! revoked, people kept); Stripe's reactivation of the same subscription restores them in place;
//! a new purchase of the same product by the same billing manager within 30 days restores them
//! onto the new subscription, oldest first, up to its seats; after 30 days the sweeper revokes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::events::{ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::services::claims::{self, ClaimRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{billing_events, sweeper, Principal};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).single().expect("date")
}

struct Team {
    f: Fakes,
    merchant: Principal,
    product: Product,
    sub: Subscription,
    /// Oldest first: (email, holder once claimed).
    people: Vec<(String, Option<String>)>,
}

/// A subscription of `seats` seats with `claimed` seats claimed, then `pending` pending, in
/// that order of assignment, and every grant made.
async fn team(seats: i64, claimed: usize, pending: usize) -> Team {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, seats, "boss@corp.example", t0().timestamp(), "sub_team")
        .await
        .expect("bought");
    f.run_jobs().await.expect("jobs");
    f.queue.take();
    let mut people = Vec::new();
    for i in 0..claimed + pending {
        let email = format!("p{i:02}@corp.example");
        seats::assign(&f.app, &merchant, &sub.id, AssignSeat { email: email.clone(), ..Default::default() })
            .await
            .expect("assign");
        let token = f.queue.take().into_iter().find_map(|j| j.claim_token).expect("link");
        let holder = if i < claimed {
            let c = claims::claim(&f.app, ClaimRequest { token }).await.expect("claim");
            f.run_jobs().await.expect("grant");
            c.seat.customer_id.clone()
        } else {
            None
        };
        people.push((email, holder));
        f.clock.advance(Duration::seconds(1));
    }
    f.run_jobs().await.expect("grants");
    Team { f, merchant, product, sub, people }
}

fn status_event(id: &str, provider_sub: &str, created: i64, status: &str, quantity: i64) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created,
        kind: PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: provider_sub.into(),
            checkout_id: None,
            state: SubscriptionState {
                status: status.into(),
                period: None,
                item: Some(ItemState {
                    id: Some("si_team".into()),
                    quantity,
                    interval: Some("month".into()),
                }),
                pending_update: false,
                latest_invoice: None,
                cancellation: None,
            },
        },
    }
}

fn deleted(id: &str, created: i64) -> PaymentEvent {
    PaymentEvent {
        id: id.into(),
        created,
        kind: PaymentEventKind::SubscriptionDeleted {
            provider_subscription_id: "sub_team".into(),
            checkout_id: None,
        },
    }
}

async fn sub_now(f: &Fakes, id: &str) -> Subscription {
    f.store.subscription(id).await.expect("store").expect("sub")
}

async fn seats_of(f: &Fakes, merchant: &Principal, sub: &str) -> Vec<domain::views::SeatView> {
    seats::list(&f.app, merchant, sub, None, None, Some("100")).await.expect("list").seats
}

async fn live_grants(f: &Fakes, holder: &str) -> usize {
    let grants = f.store.grants_of_customer(holder).await.expect("grants");
    grants.iter().filter(|g| g.status == GrantStatus::Granted).count()
}

fn claim_links(f: &Fakes) -> Vec<String> {
    f.mailer
        .sent()
        .iter()
        .filter_map(|m| {
            m.text.split("token=").nth(1).and_then(|t| t.split_whitespace().next()).map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn a_lapse_suspends_and_stripes_reactivation_restores_in_place() {
    let t = team(5, 3, 2).await;
    let (f, sub) = (&t.f, &t.sub);
    let holders: Vec<String> = t.people.iter().filter_map(|(_, h)| h.clone()).collect();
    for h in &holders {
        assert_eq!(live_grants(f, h).await, 1, "granted before the lapse");
    }
    let now = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &status_event("evt_unpaid", "sub_team", now, "unpaid", 5))
        .await
        .expect("unpaid");
    f.run_jobs().await.expect("suspend");
    let lapsed = sub_now(f, &sub.id).await;
    assert_eq!((lapsed.status, lapsed.seats_assigned), (SubscriptionStatus::Unpaid, 5));
    assert_eq!(lapsed.suspended_until, Some(f.app.clock.now() + Duration::days(30)));
    let list = seats_of(f, &t.merchant, &sub.id).await;
    assert!(list.iter().all(|s| s.status == SeatStatus::Suspended && s.suspended_at.is_some()));
    for h in &holders {
        assert_eq!(live_grants(f, h).await, 0, "benefits revoked while suspended");
    }
    let links_before = claim_links(f).len();

    // Stripe reactivates the same subscription (the customer paid the open invoice).
    f.clock.advance(Duration::days(3));
    let later = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &status_event("evt_active", "sub_team", later, "active", 5))
        .await
        .expect("active");
    f.run_jobs().await.expect("restore");
    let back = sub_now(f, &sub.id).await;
    assert_eq!(
        (back.status, back.seats_assigned, back.suspended_until),
        (SubscriptionStatus::Active, 5, None)
    );
    let list = seats_of(f, &t.merchant, &sub.id).await;
    let statuses: Vec<SeatStatus> = list.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            SeatStatus::Claimed,
            SeatStatus::Claimed,
            SeatStatus::Claimed,
            SeatStatus::Pending,
            SeatStatus::Pending
        ]
    );
    for h in &holders {
        assert_eq!(live_grants(f, h).await, 1, "every claimed seat granted again");
    }
    // The pending seats were invited again with new links, which claim.
    let new_links: Vec<String> = claim_links(f).into_iter().skip(links_before).collect();
    assert_eq!(new_links.len(), 2);
    let c = claims::claim(&f.app, ClaimRequest { token: new_links[0].clone() }).await.expect("claim again");
    assert_eq!(c.seat.email, t.people[3].0);
    let kinds: Vec<String> =
        f.store.audit_events(&sub.id).await.expect("audit").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "seat.suspended").count(), 5);
    assert_eq!(kinds.iter().filter(|k| *k == "seat.restored").count(), 5);
    assert!(kinds.contains(&"subscription.reactivated".to_string()));
    // The window is over for good: the sweeper has nothing to end.
    f.clock.advance(Duration::days(40));
    let swept = sweeper::sweep(&f.app, 60).await.expect("sweep");
    assert_eq!(
        (swept.suspensions_ended, swept.invitations_expired),
        (0, 1),
        "only the unclaimed invitation ran out"
    );
    assert_eq!(sub_now(f, &sub.id).await.seats_assigned, 4);
}

#[tokio::test]
async fn a_new_purchase_within_the_window_restores_the_oldest_seats_onto_it() {
    let t = team(6, 3, 3).await;
    let (f, old) = (&t.f, &t.sub);
    let now = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &deleted("evt_deleted", now)).await.expect("deleted");
    f.run_jobs().await.expect("suspend");
    assert_eq!(sub_now(f, &old.id).await.status, SubscriptionStatus::Canceled);

    // Someone else buying the product restores nothing of it.
    f.clock.advance(Duration::days(10));
    let other = fixtures::buy(
        &f.app,
        &t.product,
        2,
        "someone@else.example",
        f.app.clock.now().timestamp(),
        "sub_other",
    )
    .await
    .expect("other");
    f.run_jobs().await.expect("jobs");
    assert_eq!((sub_now(f, &other.id).await.seats_assigned, other.restored_from.clone()), (0, None));

    // The billing manager buys 4 seats again: the 4 oldest of the 6 come back.
    let new =
        fixtures::buy(&f.app, &t.product, 4, "boss@corp.example", f.app.clock.now().timestamp(), "sub_new")
            .await
            .expect("again");
    f.run_jobs().await.expect("restore");
    let new_now = sub_now(f, &new.id).await;
    assert_eq!((new_now.seats_assigned, new_now.restored_from.as_deref()), (4, Some(old.id.as_str())));
    let old_now = sub_now(f, &old.id).await;
    assert_eq!(
        (old_now.seats_assigned, old_now.restored_into.as_deref(), old_now.suspended_until),
        (0, Some(new.id.as_str()), None)
    );
    let restored = seats_of(f, &t.merchant, &new.id).await;
    let got: Vec<(String, SeatStatus)> = restored.iter().map(|s| (s.email.clone(), s.status)).collect();
    let want: Vec<(String, SeatStatus)> = t.people[..4]
        .iter()
        .enumerate()
        .map(|(i, (e, _))| (e.clone(), if i < 3 { SeatStatus::Claimed } else { SeatStatus::Pending }))
        .collect();
    assert_eq!(got, want, "oldest first, claimed claimed and pending pending");
    assert!(seats_of(f, &t.merchant, &old.id).await.iter().all(|s| s.status == SeatStatus::Revoked));
    // The old subscription's trail says where each seat went (4 moved, 2 with no room left).
    let trail = f.store.audit_events(&old.id).await.expect("audit");
    let revoked: Vec<&AuditEvent> = trail.iter().filter(|e| e.kind == "seat.revoked").collect();
    assert_eq!(revoked.len(), 6);
    assert_eq!(
        revoked.iter().filter(|e| e.data["restored_into"]["subscription_id"] == new.id.as_str()).count(),
        4
    );
    // Each claimed person holds the new seat and its benefit again (exactly one live grant).
    for (i, (_, holder)) in t.people[..3].iter().enumerate() {
        let holder = holder.as_deref().expect("holder");
        assert_eq!(restored[i].customer_id.as_deref(), Some(holder));
        assert_eq!(live_grants(f, holder).await, 1);
    }
    // The restored pending seat's new link claims on the new subscription.
    let link = claim_links(f).into_iter().last().expect("a new invitation");
    let c = claims::claim(&f.app, ClaimRequest { token: link }).await.expect("claim");
    assert_eq!(
        (c.seat.subscription_id.as_str(), c.seat.email.as_str()),
        (new.id.as_str(), t.people[3].0.as_str())
    );
    // A second purchase restores nothing more; nor does the sweeper end anything later.
    let third =
        fixtures::buy(&f.app, &t.product, 2, "boss@corp.example", f.app.clock.now().timestamp(), "sub_third")
            .await
            .expect("third");
    f.run_jobs().await.expect("jobs");
    assert_eq!(sub_now(f, &third.id).await.seats_assigned, 0);
    f.clock.advance(Duration::days(30));
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("sweep").suspensions_ended, 0);
}

#[tokio::test]
async fn after_the_window_the_sweeper_revokes_and_a_purchase_restores_nothing() {
    let t = team(3, 2, 1).await;
    let (f, old) = (&t.f, &t.sub);
    billing_events::handle(&f.app, &deleted("evt_deleted", f.app.clock.now().timestamp()))
        .await
        .expect("deleted");
    f.run_jobs().await.expect("suspend");
    let until = sub_now(f, &old.id).await.suspended_until.expect("suspended");
    // Bought at the very end of the window (the sweeper has not run): too late all the same.
    f.clock.set(until);
    let late = fixtures::buy(&f.app, &t.product, 3, "boss@corp.example", until.timestamp(), "sub_late")
        .await
        .expect("late");
    f.run_jobs().await.expect("jobs");
    assert_eq!(
        (sub_now(f, &late.id).await.seats_assigned, sub_now(f, &late.id).await.restored_from),
        (0, None)
    );
    assert_eq!(sweeper::sweep(&f.app, 60).await.expect("sweep").suspensions_ended, 1);
    f.run_jobs().await.expect("revoke");
    let old_now = sub_now(f, &old.id).await;
    assert_eq!((old_now.seats_assigned, old_now.suspended_until, old_now.restored_into), (0, None, None));
    assert!(seats_of(f, &t.merchant, &old.id).await.iter().all(|s| s.status == SeatStatus::Revoked));
    for (_, h) in &t.people {
        if let Some(h) = h {
            assert_eq!(live_grants(f, h).await, 0);
        }
    }
}

#[tokio::test]
async fn a_suspended_seat_can_be_revoked_and_is_then_not_restored() {
    let t = team(3, 2, 0).await;
    let (f, sub) = (&t.f, &t.sub);
    billing_events::handle(
        &f.app,
        &status_event("evt_unpaid", "sub_team", f.app.clock.now().timestamp(), "unpaid", 3),
    )
    .await
    .expect("unpaid");
    f.run_jobs().await.expect("suspend");
    let first = seats_of(f, &t.merchant, &sub.id).await.remove(0);
    let revoked = seats::revoke(&f.app, &t.merchant, &sub.id, &first.id).await.expect("revoke");
    assert_eq!(revoked.status, SeatStatus::Revoked);
    assert_eq!(sub_now(f, &sub.id).await.seats_assigned, 1, "a suspended seat leaves the count when revoked");
    let transfer = seats::transfer(
        &f.app,
        &t.merchant,
        &sub.id,
        &seats_of(f, &t.merchant, &sub.id).await[1].id,
        seats::TransferSeat { email: "new@corp.example".into(), metadata: None },
    )
    .await;
    assert!(matches!(transfer, Err(domain::error::DomainError::InvalidState(_))));
    f.clock.advance(Duration::hours(1));
    billing_events::handle(
        &f.app,
        &status_event("evt_active", "sub_team", f.app.clock.now().timestamp(), "active", 3),
    )
    .await
    .expect("active");
    f.run_jobs().await.expect("restore");
    let statuses: Vec<SeatStatus> =
        seats_of(f, &t.merchant, &sub.id).await.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [SeatStatus::Revoked, SeatStatus::Claimed]);
    assert_eq!(sub_now(f, &sub.id).await.seats_assigned, 1);
}

/// Runs the queued jobs, keeping aside those of `kind` (as a queue that delivers them late).
async fn run_all_but(f: &Fakes, kind: JobKind) -> Vec<Job> {
    let mut held = Vec::new();
    for _ in 0..50 {
        let jobs = f.queue.take();
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            if job.kind == kind {
                held.push(job);
            } else {
                domain::services::benefits::process(&f.app, &job).await.expect("job");
            }
        }
    }
    held
}

#[tokio::test]
async fn a_revoke_job_delivered_after_the_restore_leaves_the_benefits_granted() {
    let t = team(3, 2, 0).await;
    let (f, sub) = (&t.f, &t.sub);
    let now = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &status_event("evt_unpaid", "sub_team", now, "unpaid", 3))
        .await
        .expect("unpaid");
    // The suspension's benefit revokes are late: the reactivation and its grants come first.
    let late = run_all_but(f, JobKind::Revoke).await;
    assert_eq!(late.len(), 2);
    f.clock.advance(Duration::minutes(2));
    let later = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &status_event("evt_active", "sub_team", later, "active", 3))
        .await
        .expect("active");
    f.run_jobs().await.expect("restore");
    for job in &late {
        domain::services::benefits::process(&f.app, job).await.expect("the late revoke");
    }
    for (_, holder) in t.people.iter() {
        let holder = holder.as_deref().expect("claimed");
        assert_eq!(live_grants(f, holder).await, 1, "the seat is claimed again: its grant stays");
    }
    let statuses: Vec<SeatStatus> =
        seats_of(f, &t.merchant, &sub.id).await.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [SeatStatus::Claimed, SeatStatus::Claimed]);
}

#[tokio::test]
async fn a_purchase_before_the_lapse_reached_every_seat_moves_the_live_ones_too() {
    let t = team(4, 2, 2).await;
    let (f, old) = (&t.f, &t.sub);
    billing_events::handle(&f.app, &deleted("evt_deleted", f.app.clock.now().timestamp()))
        .await
        .expect("deleted");
    // The suspend page's message is lost: no seat is suspended yet when the buyer buys again.
    let lost = run_all_but(f, JobKind::SuspendAll).await;
    assert_eq!(lost.len(), 1);
    assert!(seats_of(f, &t.merchant, &old.id).await.iter().all(|s| s.status != SeatStatus::Suspended));
    f.clock.advance(Duration::hours(1));
    let new =
        fixtures::buy(&f.app, &t.product, 4, "boss@corp.example", f.app.clock.now().timestamp(), "sub_new")
            .await
            .expect("again");
    f.run_jobs().await.expect("restore");
    // The lost page, sent again by the sweeper, finds nothing left to suspend.
    f.clock.advance(Duration::minutes(2));
    sweeper::sweep(&f.app, 60).await.expect("sweep");
    f.run_jobs().await.expect("late suspend page");
    let (new_now, old_now) = (sub_now(f, &new.id).await, sub_now(f, &old.id).await);
    assert_eq!((new_now.seats_assigned, old_now.seats_assigned), (4, 0));
    assert!(seats_of(f, &t.merchant, &old.id).await.iter().all(|s| s.status == SeatStatus::Revoked));
    let moved: Vec<SeatStatus> = seats_of(f, &t.merchant, &new.id).await.iter().map(|s| s.status).collect();
    assert_eq!(moved, [SeatStatus::Claimed, SeatStatus::Claimed, SeatStatus::Pending, SeatStatus::Pending]);
    // Each holder's grant is the new seat's: the old seat's were revoked.
    for seat in seats_of(f, &t.merchant, &new.id).await.iter().filter(|s| s.status == SeatStatus::Claimed) {
        let holder = seat.customer_id.as_deref().expect("holder");
        let grants = f.store.grants_of_customer(holder).await.expect("grants");
        let live: Vec<&Grant> = grants.iter().filter(|g| g.status == GrantStatus::Granted).collect();
        assert_eq!((live.len(), live[0].seat_id.as_str()), (1, seat.id.as_str()));
    }
}

#[tokio::test]
async fn a_lapse_again_before_the_restore_ran_keeps_the_seats_suspended() {
    let t = team(3, 2, 1).await;
    let (f, sub) = (&t.f, &t.sub);
    let now = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &status_event("evt_unpaid", "sub_team", now, "unpaid", 3))
        .await
        .expect("unpaid");
    f.run_jobs().await.expect("suspend");
    billing_events::handle(&f.app, &status_event("evt_active", "sub_team", now + 60, "active", 3))
        .await
        .expect("active");
    let restore = f.queue.take();
    assert!(restore.iter().any(|j| j.kind == JobKind::Restore));
    // Unpaid again before the restore page ran.
    billing_events::handle(&f.app, &status_event("evt_unpaid2", "sub_team", now + 120, "unpaid", 3))
        .await
        .expect("unpaid again");
    for job in &restore {
        domain::services::benefits::process(&f.app, job).await.expect("restore page");
    }
    f.run_jobs().await.expect("jobs");
    let now_sub = sub_now(f, &sub.id).await;
    assert_eq!((now_sub.status, now_sub.seats_assigned), (SubscriptionStatus::Unpaid, 3));
    assert!(now_sub.suspended_until.is_some(), "a new window");
    assert!(seats_of(f, &t.merchant, &sub.id).await.iter().all(|s| s.status == SeatStatus::Suspended));
    for (_, holder) in t.people.iter() {
        if let Some(h) = holder {
            assert_eq!(live_grants(f, h).await, 0, "nothing granted on a lapsed subscription");
        }
    }
}

/// Stripe's word on the team's subscription: `status`, its latest invoice `in_renewal` open.
fn at_stripe(f: &Fakes, status: &str) {
    let state = domain::ports::ProviderSubscription {
        id: "sub_team".into(),
        status: status.into(),
        item_id: "si_team".into(),
        quantity: 3,
        interval: Interval::Month,
        period_start: t0().timestamp(),
        period_end: (t0() + Duration::days(31)).timestamp(),
        pending_update_expires_at: None,
        schedule_id: None,
        latest_invoice: Some(domain::ports::ProviderInvoice {
            id: "in_renewal".into(),
            amount_due: 3000,
            tax: 0,
            status: "open".into(),
            hosted_invoice_url: None,
            lines: vec![],
        }),
        cancel_at_period_end: false,
    };
    f.payments.states.lock().expect("states").insert("sub_team".into(), state);
}

fn taken(v: &std::sync::Mutex<Vec<String>>) -> Vec<String> {
    v.lock().expect("lock").clone()
}

/// A team of 3 seats (2 claimed, 1 pending) that Stripe marked `unpaid` (its retries ran out: the
/// invoice stays open, payable by hand, and a payment would make it active again); 3 days later,
/// while Stripe says `at_stripe_then`, the owner buys 3 seats of the product again.
async fn unpaid_then_bought_again(at_stripe_then: &str) -> (Team, Subscription) {
    let t = team(3, 2, 1).await;
    let f = &t.f;
    let now = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &status_event("evt_unpaid", "sub_team", now, "unpaid", 3))
        .await
        .expect("unpaid");
    f.run_jobs().await.expect("suspend");
    at_stripe(f, at_stripe_then);
    f.clock.advance(Duration::days(3));
    let new =
        fixtures::buy(&f.app, &t.product, 3, "boss@corp.example", f.app.clock.now().timestamp(), "sub_new")
            .await
            .expect("again");
    f.run_jobs().await.expect("jobs");
    (t, new)
}

#[tokio::test]
async fn a_purchase_taking_an_unpaid_subscriptions_seats_ends_it_at_stripe_first() {
    let (t, new) = unpaid_then_bought_again("unpaid").await;
    let (f, old) = (&t.f, &t.sub);
    // Its open invoice can no longer be paid, and nothing at Stripe charges it again.
    assert_eq!(
        (taken(&f.payments.voided), taken(&f.payments.canceled_now)),
        (vec!["in_renewal".to_string()], vec!["sub_team".to_string()])
    );
    let new_now = sub_now(f, &new.id).await;
    assert_eq!((new_now.seats_assigned, new_now.restored_from.as_deref()), (3, Some(old.id.as_str())));
    // Stripe's deletion of the old one then changes nothing but its status.
    at_stripe(f, "canceled");
    let later = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &deleted("evt_deleted", later)).await.expect("deleted");
    f.run_jobs().await.expect("jobs");
    let old_now = sub_now(f, &old.id).await;
    assert_eq!(
        (old_now.status, old_now.seats_assigned, old_now.suspended_until, old_now.restored_into.as_deref()),
        (SubscriptionStatus::Canceled, 0, None, Some(new.id.as_str()))
    );
    assert_eq!(sub_now(f, &new.id).await.seats_assigned, 3);
    for (_, holder) in &t.people {
        if let Some(h) = holder {
            assert_eq!(live_grants(f, h).await, 1, "one live grant, on the new seat");
        }
    }
}

#[tokio::test]
async fn an_unpaid_subscription_paid_at_stripe_meanwhile_keeps_its_seats_for_its_own_return() {
    // Paid by hand at Stripe; its event is not here yet when the owner buys again.
    let (t, new) = unpaid_then_bought_again("active").await;
    let (f, old) = (&t.f, &t.sub);
    assert_eq!((taken(&f.payments.voided), taken(&f.payments.canceled_now)), (vec![], vec![]));
    let new_now = sub_now(f, &new.id).await;
    assert_eq!((new_now.seats_assigned, new_now.restored_from), (0, None), "the purchase takes none");
    // Stripe's event arrives: the seats come back in place.
    let later = f.app.clock.now().timestamp();
    billing_events::handle(&f.app, &status_event("evt_active", "sub_team", later, "active", 3))
        .await
        .expect("active");
    f.run_jobs().await.expect("restore");
    let old_now = sub_now(f, &old.id).await;
    assert_eq!(
        (old_now.status, old_now.seats_assigned, old_now.suspended_until),
        (SubscriptionStatus::Active, 3, None)
    );
    let statuses: Vec<SeatStatus> =
        seats_of(f, &t.merchant, &old.id).await.iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![SeatStatus::Claimed, SeatStatus::Claimed, SeatStatus::Pending]);
}
