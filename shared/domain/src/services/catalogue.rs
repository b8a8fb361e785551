//! Organizations, benefits and products: what a merchant sells.

use super::{App, Principal};
use crate::error::DomainError;
use crate::ids;
use crate::model::*;
use crate::secrets;
use crate::validate;
use crate::views::{ApiKeyView, BenefitView, CreatedBenefit, CreatedOrganization, NewApiKey};
use chrono::{DateTime, Utc};
use serde::Deserialize;

pub const MAX_UNIT_AMOUNT: MinorUnits = 99_999_999;
pub const MAX_SEATS: i64 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub name: String,
    pub slug: String,
    /// The merchant's contact for operational notices (optional).
    #[serde(default)]
    pub email: Option<String>,
}

pub async fn create_organization(
    app: &App,
    who: &Principal,
    input: NewOrganization,
) -> Result<CreatedOrganization, DomainError> {
    who.require_operator()?;
    let org = Organization {
        id: ids::new_id(ids::ORG),
        name: validate::name("name", &input.name)?,
        slug: validate::slug("slug", &input.slug)?,
        email: input.email.as_deref().map(|e| validate::email("email", e)).transpose()?,
        created_at: app.clock.now(),
        billing_portal_configuration_id: None,
        grace_days: None,
        automatic_tax: false,
    };
    let api_key = secrets::new_secret(secrets::API_KEY_PREFIX);
    let record = key_record(app, &org.id, &api_key, org.created_at);
    if !app.store.create_organization(&org, &record, &secrets::hash(&api_key)).await? {
        return Err(DomainError::invalid("slug", "is already taken"));
    }
    Ok(CreatedOrganization { organization: org, api_key })
}

/// The stored record of a key (never the key).
pub fn key_record(_app: &App, organization_id: &str, key: &str, created_at: DateTime<Utc>) -> ApiKey {
    ApiKey {
        id: ids::new_id(ids::API_KEY),
        organization_id: organization_id.to_string(),
        created_at,
        last4: key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect(),
        expires_at: None,
    }
}

/// How long the replaced keys keep working when nothing is said: a day.
pub const DEFAULT_KEY_GRACE_S: i64 = 24 * 3600;
pub const MAX_KEY_GRACE_S: i64 = 30 * 24 * 3600;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateApiKey {
    /// How long the organization's current keys keep working (0 stops them at once).
    #[serde(default)]
    pub grace_period_s: Option<i64>,
}

fn own_organization<'a>(who: &'a Principal, organization_id: &'a str) -> Result<&'a str, DomainError> {
    match who {
        Principal::Operator => Ok(organization_id),
        Principal::Merchant { organization_id: mine } if mine == organization_id => Ok(organization_id),
        Principal::Merchant { .. } => Err(DomainError::NotFound("organization")),
        _ => Err(DomainError::Unauthorized),
    }
}

/// A new API key for the organization (shown once); its other keys stop working after the
/// grace period.
pub async fn rotate_api_key(
    app: &App,
    who: &Principal,
    organization_id: &str,
    input: RotateApiKey,
) -> Result<NewApiKey, DomainError> {
    let org_id = own_organization(who, organization_id)?;
    let grace = input.grace_period_s.unwrap_or(DEFAULT_KEY_GRACE_S);
    if !(0..=MAX_KEY_GRACE_S).contains(&grace) {
        return Err(DomainError::invalid(
            "grace_period_s",
            format!("must be from 0 to {MAX_KEY_GRACE_S} seconds"),
        ));
    }
    if app.store.organization(org_id).await?.is_none() {
        return Err(DomainError::NotFound("organization"));
    }
    let now = app.clock.now();
    let api_key = secrets::new_secret(secrets::API_KEY_PREFIX);
    let record = key_record(app, org_id, &api_key, now);
    let others_expire_at = now + chrono::Duration::seconds(grace);
    app.store.rotate_api_key(&record, &secrets::hash(&api_key), others_expire_at).await?;
    Ok(NewApiKey { key: ApiKeyView::from(&record), api_key, previous_keys_expire_at: others_expire_at })
}

/// `PATCH /v1/organizations/{id}`: the organization's billing settings. Only the fields sent
/// change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationSettings {
    /// Days an unpaid renewal keeps its seats before the subscription lapses (0–28).
    #[serde(default)]
    pub grace_days: Option<u32>,
    /// Stripe Tax for checkouts from now on (and those subscriptions' changes).
    #[serde(default)]
    pub automatic_tax: Option<bool>,
}

/// Longest free trial (Stripe's own limit: two years).
pub const MAX_TRIAL_DAYS: u32 = 730;

/// Longest grace an unpaid renewal may get: shorter than any period, so one renewal at most is
/// unpaid at a time.
pub const MAX_GRACE_DAYS: u32 = 28;

pub async fn update_organization(
    app: &App,
    who: &Principal,
    organization_id: &str,
    input: OrganizationSettings,
) -> Result<Organization, DomainError> {
    let org_id = own_organization(who, organization_id)?;
    if input.grace_days.is_some_and(|d| d > MAX_GRACE_DAYS) {
        return Err(DomainError::invalid("grace_days", format!("must be from 0 to {MAX_GRACE_DAYS}")));
    }
    if (input.grace_days.is_some() || input.automatic_tax.is_some())
        && !app.store.set_organization_settings(org_id, input.grace_days, input.automatic_tax).await?
    {
        return Err(DomainError::NotFound("organization"));
    }
    if input.automatic_tax == Some(true) {
        // Prices made before say nothing of tax: Stripe Tax needs them to (before tax, as ours are).
        for product in app.store.products(org_id).await? {
            for price in [&product.provider_prices.month, &product.provider_prices.year].into_iter().flatten()
            {
                app.payments.make_price_tax_exclusive(price).await?;
            }
        }
    }
    app.store.organization(org_id).await?.ok_or(DomainError::NotFound("organization"))
}

/// The organization's keys, without their secret.
pub async fn list_api_keys(
    app: &App,
    who: &Principal,
    organization_id: &str,
) -> Result<Vec<ApiKeyView>, DomainError> {
    let org_id = own_organization(who, organization_id)?;
    Ok(app.store.api_keys(org_id).await?.iter().map(ApiKeyView::from).collect())
}

/// One flat shape for every benefit type, so unknown fields are refused and each type's
/// fields are checked with a clear message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBenefit {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    /// License keys: activations one key may have at once (1 to 1,000; none: no limit).
    #[serde(default)]
    pub activation_limit: Option<u32>,
}

fn filename(raw: &str) -> Result<String, DomainError> {
    let ok = !raw.is_empty()
        && raw.len() <= 200
        && raw != "."
        && raw != ".."
        && !raw.chars().any(|c| c.is_control() || c == '/' || c == '\\' || c == '"');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(DomainError::invalid(
            "filename",
            "must be 1-200 characters without '/', '\\', quotes or control characters",
        ))
    }
}

fn content_type(raw: &str) -> Result<String, DomainError> {
    let ok = raw.len() <= 127
        && raw.split_once('/').is_some_and(|(t, s)| {
            !t.is_empty()
                && !s.is_empty()
                && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"/.+-_".contains(&b))
        });
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(DomainError::invalid("content_type", "must be a media type such as \"application/zip\""))
    }
}

fn license_prefix(raw: &str) -> Result<String, DomainError> {
    let ok = (1..=16).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(DomainError::invalid("prefix", "must be 1-16 characters of A-Z, 0-9 and '-'"))
    }
}

pub async fn create_benefit(
    app: &App,
    who: &Principal,
    input: NewBenefit,
) -> Result<CreatedBenefit, DomainError> {
    let org = who.require_merchant()?;
    let id = ids::new_id(ids::BENEFIT);
    let name = validate::name("name", &input.name)?;
    let kind = match input.kind.as_str() {
        "file_download" => {
            if input.prefix.is_some() {
                return Err(DomainError::invalid("prefix", "only license_key benefits take a prefix"));
            }
            if input.activation_limit.is_some() {
                return Err(DomainError::invalid(
                    "activation_limit",
                    "only license_key benefits take an activation limit",
                ));
            }
            let filename = filename(
                input
                    .filename
                    .as_deref()
                    .ok_or_else(|| DomainError::invalid("filename", "is required for file_download"))?,
            )?;
            let content_type = content_type(
                input
                    .content_type
                    .as_deref()
                    .ok_or_else(|| DomainError::invalid("content_type", "is required for file_download"))?,
            )?;
            BenefitKind::FileDownload { object_key: format!("benefits/{org}/{id}"), filename, content_type }
        }
        "license_key" => {
            if input.filename.is_some() || input.content_type.is_some() {
                return Err(DomainError::invalid("filename", "only file_download benefits take a file"));
            }
            if input.activation_limit.is_some_and(|l| !(1..=1000).contains(&l)) {
                return Err(DomainError::invalid("activation_limit", "must be from 1 to 1000"));
            }
            BenefitKind::LicenseKey {
                prefix: input.prefix.as_deref().map(license_prefix).transpose()?,
                activation_limit: input.activation_limit,
            }
        }
        _ => return Err(DomainError::invalid("type", "must be \"file_download\" or \"license_key\"")),
    };
    let benefit = Benefit { id, organization_id: org.to_string(), name, kind, created_at: app.clock.now() };
    let upload_url = match &benefit.kind {
        BenefitKind::FileDownload { object_key, content_type, .. } => {
            Some(app.files.presign_upload(object_key, content_type, app.settings.upload_url_ttl_s).await?)
        }
        BenefitKind::LicenseKey { .. } => None,
    };
    app.store.put_benefit(&benefit).await?;
    Ok(CreatedBenefit { benefit: BenefitView::from(&benefit), upload_url })
}

pub async fn list_benefits(app: &App, who: &Principal) -> Result<Vec<BenefitView>, DomainError> {
    let org = who.require_merchant()?;
    let benefits = app.store.benefits(org).await?;
    Ok(benefits.iter().map(BenefitView::from).collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    pub unit_amount: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrices {
    #[serde(default)]
    pub month: Option<NewPrice>,
    #[serde(default)]
    pub year: Option<NewPrice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub currency: String,
    pub prices: NewPrices,
    #[serde(default)]
    pub min_seats: Option<i64>,
    #[serde(default)]
    pub max_seats: Option<i64>,
    #[serde(default)]
    pub benefit_ids: Vec<String>,
    /// `block` (the default) or `grow`: see [`WhenFull`].
    #[serde(default)]
    pub when_full: Option<WhenFull>,
    /// Days of free trial each purchase starts with (1–730).
    #[serde(default)]
    pub trial_days: Option<u32>,
}

fn price(field: &str, p: Option<NewPrice>) -> Result<Option<Price>, DomainError> {
    match p {
        None => Ok(None),
        Some(NewPrice { unit_amount }) if (0..=MAX_UNIT_AMOUNT).contains(&unit_amount) => {
            Ok(Some(Price { unit_amount }))
        }
        Some(_) => Err(DomainError::invalid(
            field,
            format!("must be an integer from 0 to {MAX_UNIT_AMOUNT} (minor units)"),
        )),
    }
}

pub async fn create_product(app: &App, who: &Principal, input: NewProduct) -> Result<Product, DomainError> {
    let org = who.require_merchant()?;
    let name = validate::name("name", &input.name)?;
    let description = match input.description {
        Some(d) if d.chars().count() > 2000 => {
            return Err(DomainError::invalid("description", "must be at most 2000 characters"))
        }
        d => d,
    };
    let currency = validate::currency("currency", &input.currency)?;
    let prices = Prices {
        month: price("prices.month.unit_amount", input.prices.month)?,
        year: price("prices.year.unit_amount", input.prices.year)?,
    };
    if prices.month.is_none() && prices.year.is_none() {
        return Err(DomainError::invalid("prices", "needs a month or a year price (or both)"));
    }
    let min_seats = input.min_seats.unwrap_or(1);
    let max_seats = input.max_seats.unwrap_or(MAX_SEATS);
    if !(1..=MAX_SEATS).contains(&min_seats) {
        return Err(DomainError::invalid("min_seats", format!("must be from 1 to {MAX_SEATS}")));
    }
    if !(min_seats..=MAX_SEATS).contains(&max_seats) {
        return Err(DomainError::invalid(
            "max_seats",
            format!("must be from min_seats ({min_seats}) to {MAX_SEATS}"),
        ));
    }
    if input.trial_days.is_some_and(|d| !(1..=MAX_TRIAL_DAYS).contains(&d)) {
        return Err(DomainError::invalid("trial_days", format!("must be from 1 to {MAX_TRIAL_DAYS}")));
    }
    if input.benefit_ids.len() > 20 {
        return Err(DomainError::invalid("benefit_ids", "at most 20 benefits"));
    }
    let mut benefit_ids: Vec<String> = Vec::new();
    for (i, id) in input.benefit_ids.iter().enumerate() {
        let field = format!("benefit_ids[{i}]");
        let found = if ids::is_valid(ids::BENEFIT, id) { app.store.benefit(id).await? } else { None };
        match found {
            Some(b) if b.organization_id == org => {
                if !benefit_ids.contains(id) {
                    benefit_ids.push(id.clone())
                }
            }
            _ => return Err(DomainError::invalid(&field, "is not a benefit of this organization")),
        }
    }
    let product = Product {
        id: ids::new_id(ids::PRODUCT),
        organization_id: org.to_string(),
        name,
        description,
        currency,
        prices,
        min_seats,
        max_seats,
        benefit_ids,
        created_at: app.clock.now(),
        provider_prices: Default::default(),
        when_full: input.when_full.unwrap_or_default(),
        trial_days: input.trial_days,
    };
    // The provider's Product and Prices first: every checkout and change names a Price.
    let provider_prices = app.payments.create_prices(&product).await?;
    let product = Product { provider_prices, ..product };
    app.store.put_product(&product).await?;
    Ok(product)
}

pub async fn list_products(app: &App, who: &Principal) -> Result<Vec<Product>, DomainError> {
    let org = who.require_merchant()?;
    Ok(app.store.products(org).await?)
}

/// The public product page: anyone may read a product by id.
pub async fn public_product(app: &App, id: &str) -> Result<Product, DomainError> {
    if !ids::is_valid(ids::PRODUCT, id) {
        return Err(DomainError::NotFound("product"));
    }
    app.store.product(id).await?.ok_or(DomainError::NotFound("product"))
}
