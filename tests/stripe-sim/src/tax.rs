//! Stripe Tax (automatic tax) on Checkout, subscriptions, their invoices and invoice previews.
//!
//! Docs:
//! - https://docs.stripe.com/tax/checkout (`automatic_tax[enabled]`; a new customer's location
//!   is the billing address entered in Checkout, saved to the customer Checkout creates; an
//!   existing customer's saved address is used unless `customer_update[address]=auto` saves the
//!   one entered) and https://docs.stripe.com/payments/checkout/taxes
//! - https://docs.stripe.com/tax/checkout/tax-ids (`tax_id_collection[enabled]`; collected IDs are
//!   at `customer_details.tax_ids`)
//! - https://docs.stripe.com/api/checkout/sessions/create (`billing_address_collection`
//!   auto | required, `customer_update[address|shipping]`) and …/object (`automatic_tax`,
//!   `customer_details.address`, `total_details.amount_tax`)
//! - Checkout with an existing customer that has no address and no `customer_update[address]=auto`
//!   is refused with `customer_tax_location_invalid` ("Automatic tax calculation in Checkout
//!   requires a valid address on the Customer. …"): the error as quoted in public issue threads
//!   (github.com/TryGhost/Ghost/pull/20105, github.com/raystack/frontier/pull/565); no doc page
//!   found that states it.
//! - https://docs.stripe.com/tax/subscriptions and https://docs.stripe.com/billing/taxes/collect-taxes
//!   (`automatic_tax[enabled]` on subscriptions; prorations, trials and renewals are taxed;
//!   preview with `invoices/create_preview` and `automatic_tax[enabled]`, whose
//!   `customer_details[address]` overrides the customer's for the preview)
//! - https://docs.stripe.com/tax/invoicing ("To calculate these for each line item, Stripe
//!   uses: your tax settings, the customer's tax settings and location, the product tax code and
//!   price tax behavior"; tax is computed when the invoice is finalized; outside the US a
//!   country-level address is enough)
//! - https://docs.stripe.com/tax/customer-locations ("Stripe Tax requires your customer's location
//!   … even if you don't have an active registration"; without a recognized location, subscription
//!   invoices "continue to finalize automatically but without calculating taxes": the invoice's
//!   `automatic_tax` becomes enabled=false, disabled_reason=finalization_requires_location_inputs,
//!   the subscription's enabled=false, disabled_reason=requires_location_inputs)
//! - https://docs.stripe.com/tax/zero-tax ("Not registered | not_collecting | You must register
//!   before collecting tax in a jurisdiction": a zero tax amount on a 0 % rate of that country)
//! - https://docs.stripe.com/api/prices/create#create_price-tax_behavior (exclusive | inclusive |
//!   unspecified) and https://docs.stripe.com/api/tax/settings/object (`defaults.tax_behavior`:
//!   "used when the item's price has unspecified tax behavior"; exclusive: "Taxes are calculated
//!   on top of the line item amount", inclusive: "Taxes are included in the line item amount").
//!   The simulator's account default is `exclusive` ([`crate::StripeSim::set_default_tax_behavior`]).
//! - https://docs.stripe.com/changelog/basil/2025-03-31/invoice-tax-configurations (line
//!   `taxes[]` and invoice `total_taxes[]`: amount, tax_behavior, tax_rate_details.tax_rate,
//!   taxability_reason, taxable_amount, type=tax_rate_details) and
//!   https://docs.stripe.com/api/invoices/object (`subtotal` excludes exclusive tax,
//!   `subtotal_excluding_tax`, `total_excluding_tax`, `total` includes it;
//!   `automatic_tax{enabled, disabled_reason, liability, provider, status}`)
//! - Rounding: tax is computed per line and rounded to the currency's minor unit, half away from
//!   zero (0.5 ¢ → 1 ¢; a credit's −0.5 ¢ → −1 ¢), as in Stripe's per-line rounding example at
//!   https://support.stripe.com/questions/rounding-rules-for-stripe-fees ("we round to the
//!   nearest unit … 0.025 → 0.03"; line taxes 0.0645 → 0.06, 0.726 → 0.73, summed). Inclusive:
//!   tax = round(amount × r / (1 + r)), taxable_amount = amount − tax.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::billing::div_round;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::model::{Line, State};

/// Rates are kept in units of 1/10,000 of a percent (Tax Rate percentages have up to four
/// decimal places): 19 % → 190_000.
pub const RATE_UNIT: i64 = 10_000;

#[derive(Debug, Clone)]
pub struct TaxSettings {
    /// Country (ISO 3166-1 alpha-2, upper case) → rate in 1/10,000 %.
    pub registrations: HashMap<String, i64>,
    /// `defaults.tax_behavior` of the tax settings: exclusive | inclusive.
    pub default_behavior: String,
}

impl Default for TaxSettings {
    fn default() -> Self {
        TaxSettings { registrations: HashMap::new(), default_behavior: "exclusive".to_string() }
    }
}

/// One entry of a line's `taxes`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineTax {
    pub amount: i64,
    pub behavior: String,
    pub taxable_amount: i64,
    pub tax_rate: String,
    pub reason: String,
}

/// `automatic_tax` of a subscription or an invoice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AutoTax {
    pub enabled: bool,
    pub status: Option<String>,
    pub disabled_reason: Option<String>,
}

impl AutoTax {
    pub fn on(enabled: bool) -> AutoTax {
        AutoTax { enabled, ..Default::default() }
    }

    /// As an invoice shows it (a subscription shows `enabled`, `disabled_reason`, `liability`).
    pub fn json(&self) -> Value {
        json!({
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "liability": if self.enabled { json!({ "type": "self" }) } else { Value::Null },
            "provider": if self.enabled { json!("stripe") } else { Value::Null },
            "status": self.status,
        })
    }
}

/// What a Checkout Session was created with for tax and addresses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckoutTax {
    pub automatic_tax: bool,
    pub tax_id_collection: bool,
    pub tax_id_required: Option<String>,
    pub billing_address_collection: Option<String>,
    /// `customer_update[address]=auto` or `customer_update[shipping]=auto`.
    pub save_address: bool,
    /// The billing address entered when the session was completed.
    pub address: Option<Value>,
}

impl CheckoutTax {
    /// Whether the Checkout page asks for a billing address.
    pub fn collects_address(&self) -> bool {
        self.automatic_tax || self.billing_address_collection.as_deref() == Some("required")
    }
}

/// A country-level address, as `customer.address` shows it.
pub fn address_json(country: &str) -> Value {
    json!({ "city": null, "country": country.to_uppercase(), "line1": null, "line2": null,
            "postal_code": null, "state": null })
}

/// The id of the Tax Rate Stripe Tax would report for `country` at `rate` (stable, so that a
/// preview and the invoice made after it name the same rate).
pub fn tax_rate_id(country: &str, rate: i64) -> String {
    format!("txr_sim_{}_{rate}", country.to_lowercase())
}

/// `(tax, taxable_amount)` of a line of `amount` at `rate` (1/10,000 %).
pub fn tax_of(amount: i64, rate: i64, inclusive: bool) -> (i64, i64) {
    let (a, r) = (amount as i128, rate as i128);
    if inclusive {
        let tax = div_round(a * r, 100 * RATE_UNIT as i128 + r);
        (tax, amount - tax)
    } else {
        (div_round(a * r, 100 * RATE_UNIT as i128), amount)
    }
}

/// `automatic_tax[enabled]` under `node` (None: not sent).
pub fn enabled_param(node: Option<&Value>, param: &str) -> ApiResult<Option<bool>> {
    let Some(n) = node else { return Ok(None) };
    match n.get("enabled").and_then(Value::as_str) {
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_code(
            "parameter_invalid_boolean",
            "Invalid boolean",
            Some(&format!("{param}[enabled]")),
        )),
        None => Err(ApiError::required(&format!("{param}[enabled]"))),
    }
}

/// The tax-related parameters of `POST /v1/checkout/sessions`.
pub fn checkout_params(p: &Params) -> ApiResult<CheckoutTax> {
    let automatic_tax = enabled_param(p.root.get("automatic_tax"), "automatic_tax")?.unwrap_or(false);
    let tid = p.root.get("tax_id_collection");
    let tax_id_collection = enabled_param(tid, "tax_id_collection")?.unwrap_or(false);
    let cu = p.root.get("customer_update");
    let auto = |k: &str| cu.and_then(|c| c.get(k)).and_then(Value::as_str) == Some("auto");
    Ok(CheckoutTax {
        automatic_tax,
        tax_id_collection,
        tax_id_required: tid.and_then(|t| t.get("required")).and_then(Value::as_str).map(str::to_string),
        billing_address_collection: p.str("billing_address_collection").map(str::to_string),
        save_address: auto("address") || auto("shipping"),
        address: None,
    })
}

impl State {
    /// The country of a customer's address, if it has one.
    pub fn customer_country(&self, customer: &str) -> Option<String> {
        self.customers
            .get(customer)
            .and_then(|c| c.address.as_ref())
            .and_then(|a| a.get("country"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_uppercase)
    }

    /// exclusive or inclusive: the price's `tax_behavior`, or the settings' default.
    pub fn effective_tax_behavior(&self, price: &str) -> String {
        match self.prices.get(price).map(|p| p.tax_behavior.as_str()) {
            Some(b @ ("exclusive" | "inclusive")) => b.to_string(),
            _ => self.tax.default_behavior.clone(),
        }
    }

    /// Computes each line's tax for a customer in `country` (None: no recognized location) and
    /// returns the invoice's `automatic_tax`. With automatic tax off, lines carry no tax.
    pub fn tax_lines(&self, lines: &mut [Line], enabled: bool, country: Option<&str>) -> AutoTax {
        for l in lines.iter_mut() {
            l.tax = None;
        }
        if !enabled {
            return AutoTax::on(false);
        }
        let Some(country) = country.map(str::to_uppercase) else {
            return AutoTax {
                enabled: true,
                status: Some("requires_location_inputs".to_string()),
                disabled_reason: None,
            };
        };
        let rate = self.tax.registrations.get(&country).copied();
        for l in lines.iter_mut() {
            let behavior = self.effective_tax_behavior(&l.price);
            l.tax = Some(match rate {
                Some(r) => {
                    let (amount, taxable) = tax_of(l.amount, r, behavior == "inclusive");
                    LineTax {
                        amount,
                        behavior,
                        taxable_amount: taxable,
                        tax_rate: tax_rate_id(&country, r),
                        reason: "standard_rated".to_string(),
                    }
                }
                None => LineTax {
                    amount: 0,
                    behavior,
                    taxable_amount: 0,
                    tax_rate: tax_rate_id(&country, 0),
                    reason: "not_collecting".to_string(),
                },
            });
        }
        AutoTax { enabled: true, status: Some("complete".to_string()), disabled_reason: None }
    }

    /// Taxes the lines of a subscription's invoice being finalized. Without a recognized customer
    /// location the invoice finalizes untaxed and automatic tax is turned off on it and on the
    /// subscription (the caller reports the subscription change).
    pub fn tax_subscription_lines(&mut self, sub_id: &str, lines: &mut [Line]) -> AutoTax {
        let Some(sub) = self.subs.get(sub_id) else {
            return AutoTax::on(false);
        };
        let country = self.customer_country(&sub.customer);
        let auto = self.tax_lines(lines, sub.automatic_tax.enabled, country.as_deref());
        if auto.status.as_deref() != Some("requires_location_inputs") {
            return auto;
        }
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.automatic_tax = AutoTax {
                enabled: false,
                status: None,
                disabled_reason: Some("requires_location_inputs".to_string()),
            };
        }
        AutoTax {
            enabled: false,
            status: None,
            disabled_reason: Some("finalization_requires_location_inputs".to_string()),
        }
    }

    /// Refuses Checkout with automatic tax for an existing customer Stripe cannot locate.
    pub fn check_checkout_location(&self, customer: Option<&str>, t: &CheckoutTax) -> ApiResult<()> {
        let Some(c) = customer else { return Ok(()) };
        if t.automatic_tax && !t.save_address && self.customer_country(c).is_none() {
            return Err(ApiError::invalid_code(
                "customer_tax_location_invalid",
                "Automatic tax calculation in Checkout requires a valid address on the Customer. Add a valid address to the Customer or set either `customer_update[address]` to 'auto' or `customer_update[shipping]` to 'auto' to save the address entered in Checkout to the Customer.",
                Some("customer"),
            ));
        }
        Ok(())
    }

    /// Saves the address entered in Checkout: on the customer Checkout creates, or on an
    /// existing one with `customer_update[address]=auto` (customer.updated).
    pub fn save_checkout_address(&mut self, customer: &str, existing: bool, t: &CheckoutTax) {
        let Some(addr) = t.address.clone() else { return };
        if existing && !t.save_address {
            return;
        }
        let Some(c) = self.customers.get_mut(customer) else { return };
        let before = c.address.replace(addr);
        if existing {
            let v = self.customers.get(customer).map(|c| self.customer_json(c)).unwrap_or(Value::Null);
            self.emit("customer.updated", v, Some(json!({ "address": before })));
        }
    }

    /// A Checkout Session's `automatic_tax`, `tax_id_collection` and `billing_address_collection`
    /// (merged into the session object).
    pub fn checkout_tax_json(&self, t: &CheckoutTax, customer: Option<&str>) -> Value {
        let located = t.address.is_some() || customer.and_then(|c| self.customer_country(c)).is_some();
        let status = match (t.automatic_tax, located) {
            (false, _) => Value::Null,
            (true, true) => json!("complete"),
            (true, false) => json!("requires_location_inputs"),
        };
        json!({
            "automatic_tax": { "enabled": t.automatic_tax,
                "liability": if t.automatic_tax { json!({ "type": "self" }) } else { Value::Null },
                "provider": if t.automatic_tax { json!("stripe") } else { Value::Null },
                "status": status },
            "tax_id_collection": { "enabled": t.tax_id_collection,
                "required": t.tax_id_required.clone().unwrap_or_else(|| "never".to_string()) },
            "billing_address_collection": t.billing_address_collection,
        })
    }
}

/// `taxes[]` of a line.
pub fn line_taxes_json(l: &Line) -> Value {
    Value::Array(l.tax.iter().map(tax_json).collect())
}

fn tax_json(t: &LineTax) -> Value {
    json!({ "amount": t.amount, "tax_behavior": t.behavior,
            "tax_rate_details": { "tax_rate": t.tax_rate },
            "taxability_reason": t.reason, "taxable_amount": t.taxable_amount,
            "type": "tax_rate_details" })
}

/// `total_taxes[]` of an invoice: the lines' taxes summed per rate, behavior and reason.
pub fn total_taxes_json(lines: &[Line]) -> Value {
    let mut out: Vec<LineTax> = Vec::new();
    for t in lines.iter().filter_map(|l| l.tax.as_ref()) {
        match out
            .iter_mut()
            .find(|o| o.tax_rate == t.tax_rate && o.behavior == t.behavior && o.reason == t.reason)
        {
            Some(o) => {
                o.amount += t.amount;
                o.taxable_amount += t.taxable_amount;
            }
            None => out.push(t.clone()),
        }
    }
    Value::Array(out.iter().map(tax_json).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_and_inclusive_rounding() {
        let de = 19 * RATE_UNIT;
        assert_eq!(tax_of(1000, de, false), (190, 1000));
        // 2999 × 0.19 = 569.81 → 570; 1250 × 0.19 = 237.5 → 238 (half up).
        assert_eq!(tax_of(2999, de, false), (570, 2999));
        assert_eq!(tax_of(1250, de, false), (238, 1250));
        // A credit rounds the same way, mirrored: −237.5 → −238.
        assert_eq!(tax_of(-1250, de, false), (-238, -1250));
        // 1190 incl. 19 % = 1000 + 190.
        assert_eq!(tax_of(1190, de, true), (190, 1000));
        // 1000 incl. 19 % → 159.66… → 160, net 840.
        assert_eq!(tax_of(1000, de, true), (160, 840));
        // The support article's per-line example at 15 %: 0.43 → 0.06, 4.84 → 0.73.
        assert_eq!(tax_of(43, 15 * RATE_UNIT, false).0, 6);
        assert_eq!(tax_of(484, 15 * RATE_UNIT, false).0, 73);
        // Fractional rates: 7.25 % of 1000 = 72.5 → 73.
        assert_eq!(tax_of(1000, 72_500, false).0, 73);
    }
}
