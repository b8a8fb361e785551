//! The invoice list with a provider that keeps no invoices (the offline gateway): the ledger
//! written with the purchase, each paid change and each renewal, its amounts those of the
//! previews, newest first, page by page; a declined change's invoice open, then paid.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::error::DomainError;
use domain::events::{ItemState, PaymentEvent, PaymentEventKind, SubscriptionState};
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::services::changes::{self, IntervalChangeRequest, SeatChangeRequest};
use domain::services::invoices::{self, InvoiceQuery};
use domain::services::{billing_events, Principal};
use std::sync::atomic::Ordering;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).single().expect("date")
}

fn page(limit: Option<&str>, cursor: Option<&str>) -> InvoiceQuery {
    InvoiceQuery { limit: limit.map(str::to_string), cursor: cursor.map(str::to_string) }
}

fn event(id: &str, created: DateTime<Utc>, kind: PaymentEventKind) -> PaymentEvent {
    PaymentEvent { id: id.into(), created: created.timestamp(), kind }
}

#[tokio::test]
async fn the_ledger_lists_the_purchase_and_each_paid_change_at_the_previews_amounts() {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { year: Some(10000), ..Default::default() };
    let product = fixtures::product(&f.app, &merchant, &plan).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, 3, "boss@corp.example", t0().timestamp(), "sub_inv")
        .await
        .expect("bought");
    let boss = Principal::Customer {
        customer_id: sub.customer_id.clone(),
        organization_id: sub.organization_id.clone(),
    };

    f.clock.advance(Duration::days(10));
    let more = SeatChangeRequest { seats: 5, proration_date: None };
    let preview = changes::preview_seats(&f.app, &boss, &sub.id, more).await.expect("preview");
    let more = SeatChangeRequest { seats: 5, proration_date: Some(preview.proration_date) };
    changes::apply_seats(&f.app, &boss, &sub.id, more).await.expect("increase");
    f.clock.advance(Duration::days(2));
    let yearly = IntervalChangeRequest { interval: Interval::Year, proration_date: None };
    let switch = changes::preview_interval(&f.app, &boss, &sub.id, yearly).await.expect("preview");
    let yearly =
        IntervalChangeRequest { interval: Interval::Year, proration_date: Some(switch.proration_date) };
    changes::apply_interval(&f.app, &boss, &sub.id, yearly).await.expect("switch");

    let list = invoices::list(&f.app, &boss, &sub.id, page(None, None)).await.expect("invoices");
    let seen: Vec<(i64, &str, Option<&str>)> =
        list.data.iter().map(|i| (i.total, i.status.as_str(), i.billing_reason.as_deref())).collect();
    assert_eq!(
        seen,
        [
            (switch.amount_due_now, "paid", Some("subscription_update")),
            (preview.amount_due_now, "paid", Some("subscription_update")),
            (3000, "paid", Some("subscription_create")),
        ],
        "newest first, each at its preview's amount"
    );
    assert!(preview.amount_due_now > 0 && switch.amount_due_now > 0);
    let prefix = sub.id.trim_start_matches("sub_")[..8].to_uppercase();
    let numbers: Vec<String> = list.data.iter().filter_map(|i| i.number.clone()).collect();
    assert_eq!(numbers, [format!("{prefix}-0003"), format!("{prefix}-0002"), format!("{prefix}-0001")]);
    assert!(list.data.iter().all(|i| i.tax == 0 && i.subtotal == i.total && i.currency == "usd"));
    assert_eq!((list.has_more, list.next_cursor.as_deref()), (false, None));

    // Page by page through the cursor.
    let first = invoices::list(&f.app, &boss, &sub.id, page(Some("2"), None)).await.expect("page 1");
    assert_eq!((first.data.len(), first.has_more), (2, true));
    let cursor = first.next_cursor.clone().expect("cursor");
    assert_eq!(cursor, first.data[1].id);
    let second =
        invoices::list(&f.app, &boss, &sub.id, page(Some("2"), Some(&cursor))).await.expect("page 2");
    assert_eq!((second.data.len(), second.has_more, second.data[0].total), (1, false, 3000));

    // The merchant sees them too; nobody else does; a bad limit or cursor is the caller's mistake.
    assert_eq!(
        invoices::list(&f.app, &merchant, &sub.id, page(None, None)).await.expect("merchant").data.len(),
        3
    );
    let (other, _) = fixtures::merchant(&f.app, "globex").await.expect("other");
    let r = invoices::list(&f.app, &other, &sub.id, page(None, None)).await;
    assert_eq!(r.err(), Some(DomainError::NotFound("subscription")));
    for (limit, cursor, field) in [
        (Some("0"), None, "limit"),
        (Some("101"), None, "limit"),
        (Some("x"), None, "limit"),
        (None, Some("in_nope"), "cursor"),
        (None, Some("sub_1"), "cursor"),
    ] {
        let r = invoices::list(&f.app, &boss, &sub.id, page(limit, cursor)).await;
        assert!(
            matches!(r, Err(DomainError::InvalidRequest { field: Some(ref x), .. }) if x == field),
            "{limit:?} {cursor:?}: {r:?}"
        );
    }
}

#[tokio::test]
async fn a_declined_changes_invoice_is_open_until_paid_and_renewals_follow_their_payment() {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, 2, "boss@corp.example", t0().timestamp(), "sub_decl")
        .await
        .expect("bought");
    f.payments.decline.store(true, Ordering::SeqCst);
    let r = changes::apply_seats(
        &f.app,
        &merchant,
        &sub.id,
        SeatChangeRequest { seats: 4, proration_date: None },
    )
    .await;
    assert!(matches!(r, Err(DomainError::PaymentRequired { .. })), "{r:?}");
    let list = invoices::list(&f.app, &merchant, &sub.id, page(None, None)).await.expect("invoices");
    let open = list.data[0].clone();
    assert_eq!((open.status.as_str(), open.amount_paid), ("open", 0));
    assert!(open.hosted_invoice_url.is_some(), "the page to pay it");
    let paid = event(
        "evt_paid",
        t0() + Duration::minutes(5),
        PaymentEventKind::InvoicePaid {
            provider_subscription_id: "sub_decl".into(),
            checkout_id: None,
            invoice_id: Some(open.id.clone()),
            billing_reason: Some("subscription_update".into()),
        },
    );
    f.clock.advance(Duration::minutes(5));
    billing_events::handle(&f.app, &paid).await.expect("paid");
    let list = invoices::list(&f.app, &merchant, &sub.id, page(None, None)).await.expect("invoices");
    assert_eq!(list.data.len(), 2, "the same invoice, now paid: {:?}", list.data);
    assert_eq!(
        (list.data[0].id.as_str(), list.data[0].status.as_str(), list.data[0].amount_paid),
        (open.id.as_str(), "paid", open.total)
    );

    // The renewal bills 4 seats; its payment fails, then comes.
    let end = sub.current_period_end;
    let next = end + Duration::days(30);
    f.clock.set(end + Duration::minutes(1));
    let renewal = event(
        "evt_renewal",
        end,
        PaymentEventKind::SubscriptionUpdated {
            provider_subscription_id: "sub_decl".into(),
            checkout_id: None,
            state: SubscriptionState {
                status: "active".into(),
                period: Some((end.timestamp(), next.timestamp())),
                item: Some(ItemState {
                    id: Some("si_1".into()),
                    quantity: 4,
                    interval: Some("month".into()),
                }),
                pending_update: false,
                latest_invoice: None,
                cancellation: None,
            },
        },
    );
    billing_events::handle(&f.app, &renewal).await.expect("renewal");
    let failed = event(
        "evt_failed",
        end + Duration::minutes(1),
        PaymentEventKind::InvoicePaymentFailed {
            provider_subscription_id: "sub_decl".into(),
            checkout_id: None,
            billing_reason: Some("subscription_cycle".into()),
            invoice: None,
        },
    );
    billing_events::handle(&f.app, &failed).await.expect("failed");
    let list = invoices::list(&f.app, &merchant, &sub.id, page(None, None)).await.expect("invoices");
    let cycle = &list.data[0];
    assert_eq!(
        (cycle.billing_reason.as_deref(), cycle.total, cycle.status.as_str(), cycle.period_end),
        (Some("subscription_cycle"), 4000, "open", Some(next))
    );
    let paid_later = event(
        "evt_paid_later",
        end + Duration::days(2),
        PaymentEventKind::InvoicePaid {
            provider_subscription_id: "sub_decl".into(),
            checkout_id: None,
            invoice_id: Some("in_whatever".into()),
            billing_reason: Some("subscription_cycle".into()),
        },
    );
    f.clock.advance(Duration::days(2));
    billing_events::handle(&f.app, &paid_later).await.expect("paid later");
    let list = invoices::list(&f.app, &merchant, &sub.id, page(None, None)).await.expect("invoices");
    assert_eq!((list.data.len(), list.data[0].status.as_str(), list.data[0].amount_paid), (3, "paid", 4000));
}
