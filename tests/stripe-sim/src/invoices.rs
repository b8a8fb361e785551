//! Invoices on the wire (basil shapes), their numbers, the list endpoint with cursor pagination,
//! and the PDF behind `invoice_pdf`.
//!
//! Docs:
//! - https://docs.stripe.com/api/invoices/object (`number`: "a unique, identifying string …
//!   starts with the customer's unique invoice_prefix"; `invoice_pdf` and `hosted_invoice_url`:
//!   null until the invoice is finalized; `period_start`/`period_end`: the earliest/latest
//!   timestamps at which invoice items can be associated with the invoice — a renewal invoice
//!   looks back over the period that just ended, the lines carry the service period;
//!   `subtotal`, `total_excluding_tax`, `total`; `status_transitions`)
//! - https://docs.stripe.com/changelog/basil/2025-03-31/invoice-tax-configurations
//!   (`total_taxes` replaces `total_tax_amounts`; lines carry `taxes`)
//! - https://docs.stripe.com/invoicing/customize#invoice-numbering-schemes (customer-level
//!   numbering: the customer's prefix and a sequence per customer, `TYPGRA-0001`,
//!   `TYPGRA-0002`, …; numbers start at 0001) and https://docs.stripe.com/api/customers/object
//!   (`invoice_prefix`, `next_invoice_sequence`)
//! - https://docs.stripe.com/api/invoices/list (filters `customer`, `subscription`, `status`,
//!   `collection_method`, `created`; "sorted by creation date, with the most recently created
//!   invoices appearing first")
//! - https://docs.stripe.com/api/pagination (`limit` 1–100, default 10; `starting_after` /
//!   `ending_before` are object IDs; `has_more`)

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::form::{field, Params};
use crate::model::{Invoice, Line, State};

/// A page of `ordered` (newest first) for `starting_after` / `ending_before` / `limit`, keeping
/// the ids `keep` accepts. A cursor is any existing id of the listed kind, matching or not.
pub fn paginate<'a>(
    ordered: &[&'a str],
    keep: impl Fn(&str) -> bool,
    p: &Params,
    kind: &str,
) -> ApiResult<(Vec<&'a str>, bool)> {
    let limit = match p.str("limit") {
        None => 10,
        Some(s) => s.parse::<usize>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
            ApiError::invalid_code(
                "parameter_invalid_integer",
                "Invalid limit: must be an integer between 1 and 100.",
                Some("limit"),
            )
        })?,
    };
    let cursor = |param: &str| -> ApiResult<Option<usize>> {
        match p.str(param) {
            None => Ok(None),
            Some(id) => ordered
                .iter()
                .position(|x| *x == id)
                .map(Some)
                .ok_or_else(|| ApiError::missing(kind, id, param)),
        }
    };
    let after = cursor("starting_after")?;
    let before = cursor("ending_before")?;
    if after.is_some() && before.is_some() {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            None,
        ));
    }
    match before {
        // The page right before the cursor (newer objects), still newest first.
        Some(b) => {
            let newer: Vec<&str> = ordered[..b].iter().copied().filter(|id| keep(id)).collect();
            let from = newer.len().saturating_sub(limit);
            Ok((newer[from..].to_vec(), from > 0))
        }
        None => {
            let start = after.map(|a| a + 1).unwrap_or(0);
            let mut page: Vec<&str> = ordered[start.min(ordered.len())..]
                .iter()
                .copied()
                .filter(|id| keep(id))
                .take(limit + 1)
                .collect();
            let more = page.len() > limit;
            page.truncate(limit);
            Ok((page, more))
        }
    }
}

/// `created=…` or `created[gt|gte|lt|lte]=…`.
fn created_ok(p: &Params, created: i64) -> ApiResult<bool> {
    let Some(node) = p.root.get("created") else {
        return Ok(true);
    };
    let int = |s: &str, k: &str| {
        s.parse::<i64>().map_err(|_| {
            ApiError::invalid_code(
                "parameter_invalid_integer",
                "Invalid integer",
                Some(&format!("created{k}")),
            )
        })
    };
    if let Some(s) = node.as_str() {
        return Ok(created == int(s, "")?);
    }
    let mut ok = true;
    for (op, test) in [
        ("gt", (|c: i64, v: i64| c > v) as fn(i64, i64) -> bool),
        ("gte", |c, v| c >= v),
        ("lt", |c, v| c < v),
        ("lte", |c, v| c <= v),
    ] {
        if let Some(v) = field(node, op) {
            ok &= test(created, int(v, &format!("[{op}]"))?);
        }
    }
    Ok(ok)
}

impl State {
    /// Invoice ids, newest first (creation time, then creation order).
    fn invoices_newest_first(&self) -> Vec<&str> {
        let mut ids: Vec<(usize, &str)> = self.invoice_order.iter().map(String::as_str).enumerate().collect();
        ids.sort_by_key(|(n, id)| {
            let created = self.invoices.get(*id).map(|i| i.created).unwrap_or(0);
            (std::cmp::Reverse(created), std::cmp::Reverse(*n))
        });
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// `GET /v1/invoices`.
    pub fn api_list_invoices(&self, p: &Params) -> ApiResult<Value> {
        let (customer, sub, status, method) =
            (p.str("customer"), p.str("subscription"), p.str("status"), p.str("collection_method"));
        created_ok(p, 0)?; // a malformed `created` is refused before listing
        let keep = |id: &str| {
            self.invoices.get(id).is_some_and(|i| {
                customer.is_none_or(|c| c == i.customer)
                    && sub.is_none_or(|s| i.subscription.as_deref() == Some(s))
                    && status.is_none_or(|s| s == i.status)
                    && method.is_none_or(|m| m == "charge_automatically")
                    && created_ok(p, i.created).unwrap_or(false)
            })
        };
        let ordered = self.invoices_newest_first();
        let (page, has_more) = paginate(&ordered, keep, p, "invoice")?;
        let data: Vec<Value> =
            page.iter().filter_map(|id| self.invoices.get(*id)).map(|i| self.invoice_json(i)).collect();
        Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/invoices" }))
    }

    /// The next number in `customer`'s sequence (customer-level numbering), advancing it.
    pub fn next_invoice_number(&mut self, customer: &str) -> Option<String> {
        let c = self.customers.get_mut(customer)?;
        let n = format!("{}-{:04}", c.invoice_prefix, c.next_invoice_sequence);
        c.next_invoice_sequence += 1;
        Some(n)
    }

    pub fn line_json(&self, inv_id: Option<&str>, sub: Option<&str>, l: &Line) -> Value {
        let product = self.prices.get(&l.price).map(|p| p.product.clone()).unwrap_or_default();
        let currency =
            self.prices.get(&l.price).map(|p| p.currency.clone()).unwrap_or_else(|| "usd".to_string());
        let unit = if l.quantity != 0 { l.amount as f64 / l.quantity as f64 } else { 0.0 };
        let unit_dec = if l.quantity != 0 && l.amount % l.quantity == 0 {
            (l.amount / l.quantity).to_string()
        } else {
            format!("{unit:.12}")
        };
        json!({
            "id": l.id, "object": "line_item", "amount": l.amount, "currency": currency,
            "description": l.description, "quantity": l.quantity, "invoice": inv_id,
            "period": { "start": l.period_start, "end": l.period_end },
            "pricing": { "type": "price_details",
                         "price_details": { "price": l.price, "product": product },
                         "unit_amount_decimal": unit_dec },
            "parent": { "type": "subscription_item_details", "invoice_item_details": null,
                        "subscription_item_details": {
                            "subscription": sub, "subscription_item": l.subscription_item,
                            "proration": l.proration, "invoice_item": null,
                            "proration_details": { "credited_items": null } } },
            "discountable": !l.proration, "discount_amounts": [], "metadata": {},
            "livemode": false, "taxes": crate::tax::line_taxes_json(l),
        })
    }

    pub fn invoice_json(&self, i: &Invoice) -> Value {
        let lines: Vec<Value> =
            i.lines.iter().map(|l| self.line_json(Some(&i.id), i.subscription.as_deref(), l)).collect();
        let parent = match &i.subscription {
            Some(s) => json!({ "type": "subscription_details", "quote_details": null,
                               "subscription_details": { "subscription": s,
                                   "metadata": i.sub_metadata } }),
            None => Value::Null,
        };
        let paid = i.status == "paid";
        let draft = i.status == "draft";
        let payments: Vec<Value> = i
            .payment_intent
            .iter()
            .map(|pi| {
                let st = self.intents.get(pi).map(|p| p.status.clone()).unwrap_or_default();
                json!({ "object": "invoice_payment", "is_default": true,
                        "payment": { "type": "payment_intent", "payment_intent": pi },
                        "status": if st == "succeeded" { "paid" } else { "open" } })
            })
            .collect();
        let due = i.amount_due();
        let remaining = if paid || i.status == "void" { 0 } else { due - i.amount_paid };
        // Stripe Tax (tax.rs): `subtotal` holds inclusive tax, `total` adds exclusive tax.
        let subtotal = i.subtotal();
        let (exclusive, inclusive) = (i.tax("exclusive"), i.tax("inclusive"));
        let url = |kind: &str| {
            if draft {
                Value::Null
            } else {
                json!(format!("{}/{kind}/{}", self.base_url, i.id))
            }
        };
        let email = self.customers.get(&i.customer).and_then(|c| c.email.clone());
        let mut v = json!({
            "id": i.id, "object": "invoice", "customer": i.customer, "customer_email": email,
            "status": i.status, "number": i.number,
            "amount_due": due, "amount_paid": i.amount_paid, "amount_remaining": remaining,
            "subtotal": subtotal, "subtotal_excluding_tax": subtotal - inclusive,
            "total_excluding_tax": i.total() - exclusive - inclusive, "total": i.total(),
            "total_taxes": crate::tax::total_taxes_json(&i.lines),
            "starting_balance": i.starting_balance,
            "ending_balance": if draft { Value::Null } else { json!(i.ending_balance()) },
            "currency": i.currency, "created": i.created, "effective_at": i.finalized_at,
            "hosted_invoice_url": url("hosted_invoice"), "invoice_pdf": url("invoice_pdf"),
            "lines": { "object": "list", "data": lines, "has_more": false,
                       "total_count": i.lines.len(), "url": format!("/v1/invoices/{}/lines", i.id) },
            "parent": parent, "billing_reason": i.billing_reason,
            "collection_method": "charge_automatically", "attempt_count": i.attempt_count,
            "attempted": i.attempt_count > 0, "next_payment_attempt": i.retry_at(),
            "livemode": false, "metadata": {},
            "period_start": i.period_start, "period_end": i.period_end,
            "payments": { "object": "list", "data": payments, "has_more": false },
            "status_transitions": { "paid_at": i.paid_at, "finalized_at": i.finalized_at,
                                    "voided_at": i.voided_at,
                                    "marked_uncollectible_at": i.marked_uncollectible_at },
            "auto_advance": i.auto_advance && matches!(i.status.as_str(), "draft" | "open"),
        });
        let more = json!({
            "amount_overpaid": 0, "amount_shipping": 0, "due_date": null, "discounts": [],
            "total_discount_amounts": [], "total_pretax_credit_amounts": [],
            "automatic_tax": i.automatic_tax.json(),
            "issuer": { "type": "self" },
        });
        if let (Some(o), Some(m)) = (v.as_object_mut(), more.as_object()) {
            o.extend(m.clone());
        }
        v
    }

    /// A one-page PDF naming the invoice (what `invoice_pdf` serves), or None for an unknown or
    /// draft invoice.
    pub fn invoice_pdf(&self, id: &str) -> Option<Vec<u8>> {
        let i = self.invoices.get(id).filter(|i| i.status != "draft")?;
        let mut text = vec![
            format!("Invoice {}", i.number.clone().unwrap_or_default()),
            format!("{} ({})", i.id, i.status),
        ];
        for l in &i.lines {
            text.push(format!("{}  {} {}", l.description, l.amount, i.currency));
        }
        let tax = i.tax("exclusive") + i.tax("inclusive");
        if tax != 0 {
            text.push(format!("Tax {} {}", tax, i.currency));
        }
        text.push(format!("Total {} {}", i.total(), i.currency));
        Some(pdf(&text))
    }
}

/// A minimal valid PDF with one line of Helvetica text per entry.
fn pdf(lines: &[String]) -> Vec<u8> {
    let esc = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .collect::<String>()
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)")
    };
    let mut content = String::from("BT /F1 11 Tf 56 790 Td 14 TL\n");
    for l in lines {
        content.push_str(&format!("({}) Tj T*\n", esc(l)));
    }
    content.push_str("ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (n, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", n + 1));
    }
    let xref = out.len();
    out.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1));
    for off in offsets {
        out.push_str(&format!("{off:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Params::from_pairs(&v)
    }

    #[test]
    fn pages_forward_and_back() {
        let ids = ["e", "d", "c", "b", "a"];
        let all = |_: &str| true;
        let (p, more) = paginate(&ids, all, &params(&[("limit", "2")]), "invoice").unwrap();
        assert_eq!((p, more), (vec!["e", "d"], true));
        let (p, more) =
            paginate(&ids, all, &params(&[("limit", "2"), ("starting_after", "d")]), "invoice").unwrap();
        assert_eq!((p, more), (vec!["c", "b"], true));
        let (p, more) =
            paginate(&ids, all, &params(&[("limit", "2"), ("starting_after", "b")]), "invoice").unwrap();
        assert_eq!((p, more), (vec!["a"], false));
        let (p, more) =
            paginate(&ids, all, &params(&[("limit", "2"), ("ending_before", "b")]), "invoice").unwrap();
        assert_eq!((p, more), (vec!["d", "c"], true));
        let (p, more) =
            paginate(&ids, all, &params(&[("limit", "2"), ("ending_before", "d")]), "invoice").unwrap();
        assert_eq!((p, more), (vec!["e"], false));
        let (p, _) = paginate(&ids, |id| id != "c", &params(&[("starting_after", "d")]), "invoice").unwrap();
        assert_eq!(p, vec!["b", "a"]);
        assert_eq!(
            paginate(&ids, all, &params(&[("limit", "0")]), "invoice").unwrap_err().param.as_deref(),
            Some("limit")
        );
        assert_eq!(paginate(&ids, all, &params(&[("limit", "101")]), "invoice").unwrap_err().status, 400);
        assert_eq!(
            paginate(&ids, all, &params(&[("starting_after", "zz")]), "invoice").unwrap_err().status,
            404
        );
    }

    #[test]
    fn pdf_has_valid_xref() {
        let b = pdf(&["Invoice (A)".to_string()]);
        let s = String::from_utf8(b).unwrap();
        assert!(s.starts_with("%PDF-1.4") && s.ends_with("%%EOF\n"));
        let start: usize = s.lines().rev().nth(1).unwrap().parse().unwrap();
        assert!(s[start..].starts_with("xref"));
        assert!(s.contains("(Invoice \\(A\\)) Tj"));
    }
}
