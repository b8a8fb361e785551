//! What the gateway reads of Stripe's answers (API version 2025-03-31: periods on the items,
//! invoice line prices under `pricing`).

use domain::model::Interval;
use domain::ports::{ProviderInvoice, ProviderSubscription};
use domain::proration::ProrationLine;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct Created {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct CreatedSession {
    pub id: String,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub items: List<Item>,
    #[serde(default)]
    pub latest_invoice: Option<Value>,
    #[serde(default)]
    pub pending_update: Option<PendingUpdate>,
    #[serde(default)]
    pub schedule: Option<Value>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
}

#[derive(Debug, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[derive(Debug, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(default)]
    pub quantity: Option<i64>,
    pub price: Price,
    pub current_period_start: i64,
    pub current_period_end: i64,
}

#[derive(Debug, Deserialize)]
pub struct Price {
    #[serde(default)]
    pub recurring: Option<Recurring>,
}

#[derive(Debug, Deserialize)]
pub struct Recurring {
    pub interval: String,
}

#[derive(Debug, Deserialize)]
pub struct PendingUpdate {
    pub expires_at: i64,
}

#[derive(Debug, Deserialize)]
pub struct Invoice {
    pub id: Option<String>,
    pub amount_due: i64,
    /// API 2025-03-31 (basil): the invoice's taxes, aggregated.
    #[serde(default)]
    pub total_taxes: Option<Vec<TaxAmount>>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    #[serde(default)]
    pub lines: Option<List<Line>>,
}

#[derive(Debug, Deserialize)]
pub struct Line {
    pub amount: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub quantity: Option<i64>,
    pub period: LinePeriod,
    #[serde(default)]
    pub pricing: Option<Value>,
    #[serde(default)]
    pub price: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct LinePeriod {
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Deserialize)]
pub struct Schedule {
    pub id: String,
    /// `not_started`, `active`, `completed`, `released`, `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub current_phase: Option<PhaseBounds>,
    #[serde(default)]
    pub phases: Vec<PhaseBounds>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
pub struct PhaseBounds {
    pub start_date: i64,
    pub end_date: i64,
}

fn interval(s: &str) -> Option<Interval> {
    match s {
        "month" => Some(Interval::Month),
        "year" => Some(Interval::Year),
        _ => None,
    }
}

/// A line's unit amount: `pricing.unit_amount_decimal` (a decimal string) since 2025-03-31,
/// `price.unit_amount` before.
fn unit_amount(line: &Line) -> i64 {
    let decimal = line
        .pricing
        .as_ref()
        .and_then(|p| p.get("unit_amount_decimal"))
        .and_then(Value::as_str)
        .and_then(|d| d.parse::<rust_decimal::Decimal>().ok())
        .and_then(|d| i64::try_from(d.round().mantissa()).ok());
    decimal
        .or_else(|| line.price.as_ref().and_then(|p| p.get("unit_amount")).and_then(Value::as_i64))
        .unwrap_or_default()
}

fn time(t: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t, 0).unwrap_or_default()
}

impl Invoice {
    pub fn into_provider(self) -> ProviderInvoice {
        ProviderInvoice {
            id: self.id.unwrap_or_default(),
            amount_due: self.amount_due,
            tax: self.total_taxes.as_ref().map_or(0, |t| t.iter().map(|t| t.amount).sum()),
            status: self.status.unwrap_or_default(),
            hosted_invoice_url: self.hosted_invoice_url,
            lines: self
                .lines
                .map(|l| l.data)
                .unwrap_or_default()
                .iter()
                .map(|l| ProrationLine {
                    description: l.description.clone().unwrap_or_default(),
                    quantity: l.quantity.unwrap_or_default(),
                    unit_amount: unit_amount(l),
                    amount: l.amount,
                    period_start: time(l.period.start),
                    period_end: time(l.period.end),
                })
                .collect(),
        }
    }
}

/// `latest_invoice`, expanded (an object) or not (an id).
pub fn invoice_of(v: &Option<Value>) -> Option<ProviderInvoice> {
    match v {
        Some(Value::String(id)) => Some(ProviderInvoice {
            id: id.clone(),
            amount_due: 0,
            tax: 0,
            status: String::new(),
            hosted_invoice_url: None,
            lines: vec![],
        }),
        Some(obj @ Value::Object(_)) => {
            serde_json::from_value::<Invoice>(obj.clone()).ok().map(Invoice::into_provider)
        }
        _ => None,
    }
}

impl Subscription {
    pub fn first_item(&self) -> Option<&Item> {
        self.items.data.first()
    }

    pub fn into_provider(self) -> Option<ProviderSubscription> {
        let item = self.items.data.first()?;
        Some(ProviderSubscription {
            id: self.id.clone(),
            status: self.status.clone(),
            item_id: item.id.clone(),
            quantity: item.quantity.unwrap_or(1),
            interval: interval(&item.price.recurring.as_ref()?.interval)?,
            period_start: item.current_period_start,
            period_end: item.current_period_end,
            pending_update_expires_at: self.pending_update.as_ref().map(|p| p.expires_at),
            schedule_id: self.schedule.as_ref().and_then(|s| {
                s.as_str()
                    .map(str::to_string)
                    .or_else(|| s.get("id").and_then(Value::as_str).map(str::to_string))
            }),
            latest_invoice: invoice_of(&self.latest_invoice),
            cancel_at_period_end: self.cancel_at_period_end,
        })
    }
}

/// `GET /v1/invoices`: a page of Stripe's list.
#[derive(Debug, Deserialize)]
pub struct InvoiceList {
    pub data: Vec<ListedInvoice>,
    #[serde(default)]
    pub has_more: bool,
}

/// An invoice as listed. API 2025-03-31 (basil) aggregates tax in `total_taxes`.
#[derive(Debug, Deserialize)]
pub struct ListedInvoice {
    pub id: String,
    #[serde(default)]
    pub number: Option<String>,
    pub created: i64,
    pub currency: String,
    #[serde(default)]
    pub subtotal: i64,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub total_excluding_tax: Option<i64>,
    #[serde(default)]
    pub total_taxes: Option<Vec<TaxAmount>>,
    #[serde(default)]
    pub amount_due: i64,
    #[serde(default)]
    pub amount_paid: i64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub billing_reason: Option<String>,
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    #[serde(default)]
    pub invoice_pdf: Option<String>,
    /// Its lines' periods are what it bills (the invoice's own `period_*` look back a period
    /// for subscription invoices).
    #[serde(default)]
    pub lines: Option<List<LinePeriodOnly>>,
}

#[derive(Debug, Deserialize)]
pub struct LinePeriodOnly {
    pub period: LinePeriod,
}

#[derive(Debug, Deserialize)]
pub struct TaxAmount {
    pub amount: i64,
}

impl ListedInvoice {
    pub fn into_billing(self) -> Option<domain::model::BillingInvoice> {
        let at = |t: i64| chrono::DateTime::from_timestamp(t, 0);
        let tax = match (&self.total_taxes, self.total_excluding_tax) {
            (Some(taxes), _) => taxes.iter().map(|t| t.amount).sum(),
            (None, Some(excluding)) => self.total - excluding,
            (None, None) => 0,
        };
        let periods: Vec<&LinePeriod> =
            self.lines.iter().flat_map(|l| l.data.iter().map(|x| &x.period)).collect();
        let billed = periods.iter().map(|p| p.start).min().zip(periods.iter().map(|p| p.end).max());
        Some(domain::model::BillingInvoice {
            created: at(self.created)?,
            period_start: billed.and_then(|(start, _)| at(start)),
            period_end: billed.and_then(|(_, end)| at(end)),
            id: self.id,
            number: self.number,
            currency: self.currency,
            subtotal: self.subtotal,
            tax,
            total: self.total,
            amount_due: self.amount_due,
            amount_paid: self.amount_paid,
            status: self.status.unwrap_or_else(|| "draft".into()),
            billing_reason: self.billing_reason,
            hosted_invoice_url: self.hosted_invoice_url,
            invoice_pdf: self.invoice_pdf,
        })
    }
}
