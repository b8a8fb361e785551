//! Stripe Tax as an organization's setting: checkouts made after it is on collect the address
//! and tax id and add the tax; their subscriptions' changes are taxed too (the amounts are the
//! provider's: see the simulator's tests); checkouts before it, and their subscriptions, not.

use chrono::{TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{fixtures, Fakes};
use domain::services::catalogue::{self, OrganizationSettings};
use domain::services::changes::{self, SeatChangeRequest};
use domain::services::Principal;

#[tokio::test]
async fn automatic_tax_applies_to_checkouts_made_after_it_is_on_and_their_changes() {
    let f = Fakes::at(Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).single().expect("date"));
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let Principal::Merchant { organization_id } = merchant.clone() else { panic!("a merchant") };
    let product = fixtures::product(&f.app, &merchant, &fixtures::Plan::default()).await.expect("product");
    let untaxed = fixtures::buy(&f.app, &product, 2, "old@corp.example", 1_790_000_000, "sub_old")
        .await
        .expect("bought");
    assert!(!untaxed.automatic_tax);

    let org = catalogue::update_organization(
        &f.app,
        &merchant,
        &organization_id,
        OrganizationSettings { grace_days: None, automatic_tax: Some(true) },
    )
    .await
    .expect("on");
    assert!(org.automatic_tax);
    assert_eq!(org.grace_days, None, "only what was sent changes");
    let taxed = fixtures::buy(&f.app, &product, 2, "new@corp.example", 1_790_000_000, "sub_new")
        .await
        .expect("bought");
    assert!(taxed.automatic_tax);
    let sessions = f.payments.sessions.lock().expect("sessions").clone();
    assert_eq!(sessions.iter().map(|s| s.automatic_tax).collect::<Vec<_>>(), [false, true]);

    for (sub, expect) in [(&untaxed, false), (&taxed, true)] {
        changes::apply_seats(
            &f.app,
            &merchant,
            &sub.id,
            SeatChangeRequest { seats: 3, proration_date: None },
        )
        .await
        .expect("more seats");
        let charges = f.payments.charges.lock().expect("charges").clone();
        assert_eq!(charges.last().map(|c| c.automatic_tax), Some(expect), "{}", sub.id);
    }
    // Another merchant cannot turn it on for this organization.
    let (other, _) = fixtures::merchant(&f.app, "globex").await.expect("other");
    let r = catalogue::update_organization(
        &f.app,
        &other,
        &organization_id,
        OrganizationSettings { grace_days: None, automatic_tax: Some(false) },
    )
    .await;
    assert_eq!(r.err(), Some(DomainError::NotFound("organization")));
}
