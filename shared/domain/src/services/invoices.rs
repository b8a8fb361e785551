//! A subscription's invoices for its billing manager: Stripe's, read page by page through
//! Stripe's own cursor; or, with a provider that keeps none (the offline gateway), this
//! system's ledger, written in the same transaction as the purchase, the paid change or the
//! renewal it records.

use super::{portal, App, Principal};
use crate::error::DomainError;
use crate::model::*;
use crate::views::List;
use chrono::{DateTime, Utc};

/// `?limit=&cursor=` of `GET /v1/subscriptions/{id}/invoices`.
#[derive(Debug, Default, Clone)]
pub struct InvoiceQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn limit(raw: Option<&str>) -> Result<u32, DomainError> {
    match raw {
        None | Some("") => Ok(INVOICES_PER_PAGE),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=INVOICES_PER_PAGE_MAX).contains(&n) => Ok(n),
            _ => Err(DomainError::invalid(
                "limit",
                format!("must be an integer from 1 to {INVOICES_PER_PAGE_MAX}"),
            )),
        },
    }
}

/// An invoice id as Stripe and the ledger make them: `in_`, then letters, digits, `_` and `-`.
fn cursor(raw: Option<&str>) -> Result<Option<&str>, DomainError> {
    match raw {
        None | Some("") => Ok(None),
        Some(c)
            if c.len() <= 255
                && c.starts_with("in_")
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Ok(Some(c))
        }
        Some(_) => Err(DomainError::invalid("cursor", "is not a cursor of this list")),
    }
}

/// `GET /v1/subscriptions/{id}/invoices`: newest first.
pub async fn list(
    app: &App,
    who: &Principal,
    id: &str,
    q: InvoiceQuery,
) -> Result<List<BillingInvoice>, DomainError> {
    let limit = limit(q.limit.as_deref())?;
    let after = cursor(q.cursor.as_deref())?;
    let sub = portal::managed_subscription(app, who, id).await?;
    let page = match app.payments.invoices(&sub.provider_subscription_id, limit, after).await {
        Ok(Some(page)) => page,
        Ok(None) => ledger_page(app, &sub, limit, after).await?,
        // An invoice Stripe does not know (a cursor from elsewhere) is the caller's mistake.
        Err(crate::error::PortError::Rejected(_, m))
            if after.is_some() && (m.contains("HTTP 400") || m.contains("HTTP 404")) =>
        {
            return Err(DomainError::invalid("cursor", "is not a cursor of this list"));
        }
        Err(e) => return Err(e.into()),
    };
    let next_cursor = if page.has_more { page.data.last().map(|i| i.id.clone()) } else { None };
    Ok(List { object: "list", has_more: page.has_more, next_cursor, data: page.data })
}

/// The ledger's page: numbered in the order they were made (`{subscription}-0001`, …).
async fn ledger_page(
    app: &App,
    sub: &Subscription,
    limit: u32,
    after: Option<&str>,
) -> Result<InvoicePage, DomainError> {
    let mut all = app.store.ledger_invoices(&sub.id).await?;
    all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    let prefix = sub.id.trim_start_matches("sub_").chars().take(8).collect::<String>().to_uppercase();
    for (n, invoice) in all.iter_mut().enumerate() {
        invoice.number = Some(format!("{prefix}-{:04}", n + 1));
    }
    all.reverse();
    let start = match after {
        None => 0,
        Some(id) => match all.iter().position(|i| i.id == id) {
            Some(at) => at + 1,
            None => return Err(DomainError::invalid("cursor", "is not a cursor of this list")),
        },
    };
    let rest: Vec<BillingInvoice> = all.into_iter().skip(start).collect();
    let has_more = rest.len() > limit as usize;
    Ok(InvoicePage { data: rest.into_iter().take(limit as usize).collect(), has_more })
}

/// A ledger entry: no tax offline, no pages to pay or download.
#[allow(clippy::too_many_arguments)]
fn record(
    id: String,
    sub: &Subscription,
    created: DateTime<Utc>,
    amount: MinorUnits,
    paid: bool,
    billing_reason: &str,
    hosted_invoice_url: Option<String>,
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> BillingInvoice {
    BillingInvoice {
        id,
        number: None,
        created,
        currency: sub.currency.clone(),
        subtotal: amount,
        tax: 0,
        total: amount,
        amount_due: amount,
        amount_paid: if paid { amount } else { 0 },
        status: if paid { "paid" } else { "open" }.into(),
        billing_reason: Some(billing_reason.into()),
        hosted_invoice_url,
        invoice_pdf: None,
        period_start: period.map(|p| p.0),
        period_end: period.map(|p| p.1),
    }
}

/// The purchase's invoice, paid through the checkout.
pub(crate) fn purchase(app: &App, sub: &Subscription, checkout: &Checkout) -> Option<BillingInvoice> {
    (!app.payments.keeps_invoices()).then(|| {
        record(
            format!("in_local_{}", checkout.id.trim_start_matches("chk_")),
            sub,
            app.clock.now(),
            // A trial's first invoice is free: the first charge comes at its end.
            if checkout.trial_days.is_some() { 0 } else { checkout.amount_due },
            true,
            "subscription_create",
            None,
            Some((sub.current_period_start, sub.current_period_end)),
        )
    })
}

/// A change's invoice, under the provider's id: open while it waits for its payment, paid once
/// applied (the same entry, replaced; made when the change began, so its place and number stay).
pub(crate) fn change(
    app: &App,
    sub: &Subscription,
    made: DateTime<Utc>,
    invoice_id: Option<&str>,
    amount: Option<MinorUnits>,
    paid: bool,
    hosted_invoice_url: Option<String>,
) -> Option<BillingInvoice> {
    match (app.payments.keeps_invoices(), invoice_id, amount) {
        (false, Some(id), Some(amount)) => Some(record(
            id.to_string(),
            sub,
            made,
            amount,
            paid,
            "subscription_update",
            hosted_invoice_url,
            None,
        )),
        _ => None,
    }
}

/// A renewal's invoice for the new period at the terms it bills.
pub(crate) fn renewal(app: &App, after: &Subscription, paid: bool) -> Option<BillingInvoice> {
    (!app.payments.keeps_invoices()).then(|| {
        record(
            format!(
                "in_local_{}_{}",
                after.id.trim_start_matches("sub_"),
                after.current_period_start.timestamp()
            ),
            after,
            app.clock.now(),
            after.seats * after.unit_amount,
            paid,
            "subscription_cycle",
            None,
            Some((after.current_period_start, after.current_period_end)),
        )
    })
}

/// The newest renewal invoice in the ledger, marked paid or open (a renewal's payment failed
/// or came later), when it is not so already.
pub(crate) async fn renewal_payment(
    app: &App,
    sub: &Subscription,
    paid: bool,
) -> Result<Option<BillingInvoice>, DomainError> {
    let newest = newest_renewal(app, sub).await?;
    Ok(newest.filter(|i| (i.status == "paid") != paid).map(|i| BillingInvoice {
        status: if paid { "paid" } else { "open" }.into(),
        amount_paid: if paid { i.total } else { 0 },
        ..i
    }))
}

/// The newest renewal invoice in the ledger, void, when it is still open (an unpaid
/// subscription that lapsed: it can no longer be paid).
pub(crate) async fn renewal_void(
    app: &App,
    sub: &Subscription,
) -> Result<Option<BillingInvoice>, DomainError> {
    let newest = newest_renewal(app, sub).await?;
    Ok(newest.filter(|i| i.status == "open").map(|i| BillingInvoice { status: "void".into(), ..i }))
}

/// The ledger's newest renewal invoice (none with a provider that keeps the invoices).
async fn newest_renewal(app: &App, sub: &Subscription) -> Result<Option<BillingInvoice>, DomainError> {
    if app.payments.keeps_invoices() {
        return Ok(None);
    }
    let ledger = app.store.ledger_invoices(&sub.id).await?;
    Ok(ledger
        .into_iter()
        .filter(|i| i.billing_reason.as_deref() == Some("subscription_cycle"))
        .max_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id))))
}
