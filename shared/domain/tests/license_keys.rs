//! License keys as the merchant's software asks about them: validate, activate up to the
//! benefit's limit, deactivate; a revoked seat's key is revoked at once; another
//! organization's id finds nothing; the holder lists and removes activations.

use chrono::{DateTime, TimeZone, Utc};
use domain::error::DomainError;
use domain::memory::{fixtures, Fakes};
use domain::model::*;
use domain::ports::Store;
use domain::services::claims::{self, ClaimRequest};
use domain::services::license_keys::{self, ActivateRequest, DeactivateRequest, ValidateRequest};
use domain::services::seats::{self, AssignSeat};
use domain::services::{benefits, Principal};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single().expect("date")
}

struct Held {
    f: Fakes,
    merchant: Principal,
    sub: Subscription,
    org: String,
    key: String,
    holder: Principal,
    grant_id: String,
    seat_id: String,
}

/// A claimed seat of a product whose license key allows two activations.
async fn held() -> Held {
    let f = Fakes::at(t0());
    let (merchant, _) = fixtures::merchant(&f.app, "acme").await.expect("merchant");
    let plan = fixtures::Plan { activation_limit: Some(2), ..Default::default() };
    let product = fixtures::product(&f.app, &merchant, &plan).await.expect("product");
    let sub = fixtures::buy(&f.app, &product, 3, "boss@corp.example", t0().timestamp(), "sub_l")
        .await
        .expect("bought");
    f.run_jobs().await.expect("jobs");
    let seat = seats::assign(
        &f.app,
        &merchant,
        &sub.id,
        AssignSeat { email: "ann@corp.example".into(), metadata: None, ..Default::default() },
    )
    .await
    .expect("assign");
    let invite = f.queue.take().into_iter().find(|j| j.kind == JobKind::Invite).expect("invite");
    let token = invite.claim_token.clone().expect("token");
    benefits::process(&f.app, &invite).await.expect("mailed");
    let claimed = claims::claim(&f.app, ClaimRequest { token }).await.expect("claim");
    f.run_jobs().await.expect("grants");
    let holder =
        domain::services::auth::authenticate(&f.app, Some(&claimed.session.token)).await.expect("session");
    let grants = benefits::my_benefits(&f.app, &holder).await.expect("benefits");
    let g = grants.iter().find(|g| g.license_key.is_some()).expect("a license grant");
    Held {
        org: sub.organization_id.clone(),
        key: g.license_key.clone().expect("key"),
        grant_id: g.id.clone(),
        seat_id: seat.id.clone(),
        f,
        merchant,
        sub,
        holder,
    }
}

fn ask(h: &Held, activation_id: Option<String>) -> ValidateRequest {
    ValidateRequest { organization_id: h.org.clone(), key: h.key.clone(), activation_id }
}

fn activate(h: &Held, label: &str) -> ActivateRequest {
    ActivateRequest { organization_id: h.org.clone(), key: h.key.clone(), label: label.into() }
}

#[tokio::test]
async fn a_granted_key_validates_and_a_revoked_seats_key_is_revoked_at_once() {
    let h = held().await;
    let v = license_keys::validate(&h.f.app, ask(&h, None)).await.expect("validate");
    assert!(v.valid);
    assert_eq!(
        (v.status, v.seat_id.as_str(), v.subscription_status),
        (GrantStatus::Granted, h.seat_id.as_str(), SubscriptionStatus::Active)
    );
    assert_eq!((v.activations, v.activation_limit, v.expires_at), (0, Some(2), None));

    seats::revoke(&h.f.app, &h.merchant, &h.sub.id, &h.seat_id).await.expect("revoke");
    h.f.run_jobs().await.expect("benefits revoked");
    let v = license_keys::validate(&h.f.app, ask(&h, None)).await.expect("validate");
    assert!(!v.valid);
    assert_eq!(v.status, GrantStatus::Revoked);
    assert!(matches!(
        license_keys::activate(&h.f.app, activate(&h, "laptop")).await,
        Err(DomainError::InvalidState(_))
    ));
}

#[tokio::test]
async fn activations_stop_at_the_limit_and_deactivating_frees_one() {
    let h = held().await;
    let a = license_keys::activate(&h.f.app, activate(&h, "laptop")).await.expect("first");
    let b = license_keys::activate(&h.f.app, activate(&h, " desktop ")).await.expect("second");
    assert_eq!(b.label, "desktop");
    assert_eq!(
        license_keys::activate(&h.f.app, activate(&h, "third")).await,
        Err(DomainError::ActivationLimitReached { limit: 2 })
    );
    let v = license_keys::validate(&h.f.app, ask(&h, Some(a.id.clone()))).await.expect("validate");
    assert_eq!((v.activations, v.activation.map(|x| x.label)), (2, Some("laptop".to_string())));

    let off =
        DeactivateRequest { organization_id: h.org.clone(), key: h.key.clone(), activation_id: a.id.clone() };
    assert!(license_keys::deactivate(&h.f.app, off).await.expect("deactivate").deactivated);
    let again =
        DeactivateRequest { organization_id: h.org.clone(), key: h.key.clone(), activation_id: a.id.clone() };
    assert_eq!(license_keys::deactivate(&h.f.app, again).await, Err(DomainError::NotFound("activation")));
    assert_eq!(
        license_keys::validate(&h.f.app, ask(&h, Some(a.id.clone()))).await.err(),
        Some(DomainError::NotFound("activation"))
    );
    license_keys::activate(&h.f.app, activate(&h, "third")).await.expect("a freed activation is taken");

    // The holder sees their key's activations and removes one; nobody else can.
    let mine = license_keys::my_activations(&h.f.app, &h.holder, &h.grant_id).await.expect("list");
    assert_eq!(mine.len(), 2);
    let removed =
        license_keys::remove_my_activation(&h.f.app, &h.holder, &h.grant_id, &b.id).await.expect("remove");
    assert!(removed.deactivated);
    assert_eq!(license_keys::my_activations(&h.f.app, &h.holder, &h.grant_id).await.expect("list").len(), 1);
    assert!(license_keys::my_activations(&h.f.app, &h.merchant, &h.grant_id).await.is_err());
}

#[tokio::test]
async fn another_organizations_id_a_wrong_key_and_bad_labels_find_nothing_or_are_refused() {
    let h = held().await;
    let (_, _) = fixtures::merchant(&h.f.app, "globex").await.expect("other merchant");
    let other = h.f.store.organization_by_slug("globex").await.expect("store").expect("org").id;
    for (org, key) in [
        (other.as_str(), h.key.as_str()),
        (h.org.as_str(), "ACME-NOPE0-NOPE0-NOPE0-NOPE0"),
        ("org_x", h.key.as_str()),
        (h.org.as_str(), ""),
    ] {
        let r = license_keys::validate(
            &h.f.app,
            ValidateRequest { organization_id: org.into(), key: key.into(), activation_id: None },
        )
        .await;
        assert_eq!(r.err(), Some(DomainError::NotFound("license key")), "{org} {key}");
    }
    for label in ["", "   ", "a\u{7}b", &"x".repeat(101)] {
        assert!(matches!(
            license_keys::activate(&h.f.app, activate(&h, label)).await,
            Err(DomainError::InvalidRequest { field: Some(ref f), .. }) if f == "label"
        ));
    }
    // The table holds the key's hash, not the key, in the record's key.
    assert!(h.f.store.license_key(&h.key).await.expect("store").is_none());
    assert!(h.f.store.license_key(&domain::secrets::hash(&h.key)).await.expect("store").is_some());
}
