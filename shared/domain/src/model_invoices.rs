//! Invoices as a billing manager sees them: Stripe's (read through the gateway), or, with the
//! offline gateway, this system's own ledger of what it charged.

use super::model::MinorUnits;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One invoice (Stripe's field names). Amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingInvoice {
    pub id: String,
    /// Stripe's number once finalized (`ABCD1234-0001`); the ledger numbers its own.
    pub number: Option<String>,
    pub created: DateTime<Utc>,
    pub currency: String,
    /// Before tax.
    pub subtotal: MinorUnits,
    pub tax: MinorUnits,
    pub total: MinorUnits,
    pub amount_due: MinorUnits,
    pub amount_paid: MinorUnits,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// `subscription_create`, `subscription_update`, `subscription_cycle`, …
    pub billing_reason: Option<String>,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
}

/// A page of invoices, newest first; `has_more` says a next page exists after the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoicePage {
    pub data: Vec<BillingInvoice>,
    pub has_more: bool,
}

/// Invoices per page: Stripe's default and bounds.
pub const INVOICES_PER_PAGE: u32 = 10;
pub const INVOICES_PER_PAGE_MAX: u32 = 100;
