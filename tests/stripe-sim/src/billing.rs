//! Invoices, payments and prorations.
//!
//! Docs:
//! - https://docs.stripe.com/billing/subscriptions/prorations (second-based proration over the
//!   current period, "Unused time on …" credit and "Remaining time on …" debit lines,
//!   `proration_date`, `proration_behavior` create_prorations | always_invoice | none)
//! - https://docs.stripe.com/billing/subscriptions/billing-cycle (`billing_cycle_anchor=now`
//!   resets the period and invoices at once; changing the interval resets the anchor)
//! - https://docs.stripe.com/billing/subscriptions/pending-updates and
//!   https://docs.stripe.com/billing/subscriptions/pending-updates-reference (pending updates,
//!   expiry min(period end, 23 h), applied once the invoice is paid)
//! - https://docs.stripe.com/api/subscriptions/update#update_subscription-payment_behavior
//! - https://docs.stripe.com/testing#declined-payments (pm_card_visa, pm_card_chargeDeclined,
//!   pm_card_authenticationRequired)
//! - https://docs.stripe.com/billing/subscriptions/webhooks (invoice.created, invoice.finalized,
//!   invoice.paid, invoice.payment_succeeded, invoice.payment_failed,
//!   invoice.payment_action_required)
//! - https://docs.stripe.com/billing/subscriptions/overview (payment failures: a failed renewal
//!   leaves the invoice open and the subscription past_due, per
//!   https://docs.stripe.com/api/subscriptions/object#subscription_object-status; paying the
//!   invoice later, e.g. with https://docs.stripe.com/api/invoices/pay, sends invoice.paid and
//!   the subscription is active again)
//! - Simulator assumption (no doc found that states it): changes to a trialing subscription
//!   are not prorated, as the trial is free until it ends.

use serde_json::{json, Map, Value};

use crate::clock::period_end_after;
use crate::error::{ApiError, ApiResult};
use crate::model::{new_id, Invoice, Item, Line, PaymentIntent, State, Subscription};
use crate::retries::Attempt;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PayOutcome {
    Paid,
    Declined,
    ActionRequired,
}

/// `round(num / den)` half away from zero, in integers.
pub fn div_round(num: i128, den: i128) -> i64 {
    if den == 0 {
        return 0;
    }
    let neg = (num < 0) != (den < 0);
    let (n, d) = (num.abs(), den.abs());
    let q = (2 * n + d) / (2 * d);
    (if neg { -q } else { q }) as i64
}

pub fn fmt_date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%d %b %Y").to_string()).unwrap_or_default()
}

fn money(amount: i64, currency: &str) -> String {
    let sym = match currency {
        "usd" => "$",
        "eur" => "€",
        "gbp" => "£",
        _ => "",
    };
    format!("{sym}{}.{:02}", amount / 100, amount % 100)
}

/// The name of parameter `key` (`items[0][price]`) under `prefix` (`subscription_details`).
pub fn pn(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        return key.to_string();
    }
    match key.split_once('[') {
        Some((head, rest)) => format!("{prefix}[{head}][{rest}"),
        None => format!("{prefix}[{key}]"),
    }
}

/// What a subscription update would do, computed without changing the subscription.
#[derive(Debug, Clone)]
pub struct Plan {
    pub items: Vec<Item>,
    pub changed: Vec<String>,
    pub lines: Vec<Line>,
    pub invoice_now: bool,
    pub new_anchor: Option<i64>,
    pub proration_date: i64,
}

impl State {
    pub fn full_line(&self, item: &Item, start: i64, end: i64) -> Line {
        let price = self.prices.get(&item.price);
        let ua = price.map(|p| p.unit_amount).unwrap_or(0);
        let (cur, interval) = price.map(|p| (p.currency.clone(), p.interval.clone())).unwrap_or_default();
        Line {
            id: new_id("il"),
            amount: ua * item.quantity,
            description: format!(
                "{} × {} (at {} / {})",
                item.quantity,
                self.product_name(&item.price),
                money(ua, &cur),
                interval
            ),
            quantity: item.quantity,
            period_start: start,
            period_end: end,
            price: item.price.clone(),
            proration: false,
            subscription_item: Some(item.id.clone()),
            tax: None,
        }
    }

    fn proration_line(&self, item: &Item, at: i64, credit: bool) -> Line {
        let ua = self.prices.get(&item.price).map(|p| p.unit_amount).unwrap_or(0);
        let len = (item.period_end - item.period_start) as i128;
        let left = (item.period_end - at) as i128;
        let amount = div_round(ua as i128 * item.quantity as i128 * left, len);
        let (amount, word) = if credit { (-amount, "Unused") } else { (amount, "Remaining") };
        Line {
            id: new_id("il"),
            amount,
            description: format!(
                "{word} time on {} × {} after {}",
                item.quantity,
                self.product_name(&item.price),
                fmt_date(at)
            ),
            quantity: item.quantity,
            period_start: at,
            period_end: item.period_end,
            price: item.price.clone(),
            proration: true,
            subscription_item: Some(item.id.clone()),
            tax: None,
        }
    }

    /// Plans an update of `sub`'s items. `items` are the `items[n]` nodes.
    pub fn plan_update(
        &mut self,
        sub_id: &str,
        items: &[Value],
        proration_behavior: &str,
        proration_date: Option<i64>,
        anchor: Option<&str>,
        param_prefix: &str,
    ) -> ApiResult<Plan> {
        let sub = self
            .subs
            .get(sub_id)
            .cloned()
            .ok_or_else(|| ApiError::missing("subscription", sub_id, "subscription"))?;
        if !matches!(proration_behavior, "create_prorations" | "always_invoice" | "none") {
            return Err(ApiError::invalid_code(
                "parameter_invalid_string",
                "Invalid proration_behavior: must be one of create_prorations, always_invoice, or none",
                Some(&pn(param_prefix, "proration_behavior")),
            ));
        }
        let now = self.now();
        let (ps, pe) = sub.period();
        let at = proration_date.unwrap_or(now);
        if at < ps || at > pe {
            return Err(ApiError::invalid(
                "Cannot specify proration date outside of current subscription period",
                Some(&pn(param_prefix, "proration_date")),
            ));
        }
        let mut new_items = sub.items.clone();
        let mut changed = Vec::new();
        for (n, node) in items.iter().enumerate() {
            let p = |k: &str| pn(param_prefix, &format!("items[{n}][{k}]"));
            let price = match (node.get("price").and_then(Value::as_str), node.get("price_data")) {
                (Some(pr), _) => {
                    if !self.prices.contains_key(pr) {
                        return Err(ApiError::missing("price", pr, &p("price")));
                    }
                    Some(pr.to_string())
                }
                (None, Some(pd)) => Some(self.price_from_data(pd, &p("price_data"))?),
                (None, None) => None,
            };
            let qty = match node.get("quantity").and_then(Value::as_str) {
                Some(q) => Some(q.parse::<i64>().ok().filter(|q| *q >= 0).ok_or_else(|| {
                    ApiError::invalid_code(
                        "parameter_invalid_integer",
                        "Invalid non-negative integer",
                        Some(&p("quantity")),
                    )
                })?),
                None => None,
            };
            let deleted = node.get("deleted").and_then(Value::as_str) == Some("true");
            match node.get("id").and_then(Value::as_str) {
                Some(id) => {
                    let Some(idx) = new_items.iter().position(|i| i.id == id) else {
                        return Err(ApiError::invalid(
                            format!("Invalid subscription_item id: {id}"),
                            Some(&p("id")),
                        ));
                    };
                    if deleted {
                        new_items.remove(idx);
                        changed.push(id.to_string());
                        continue;
                    }
                    let it = &mut new_items[idx];
                    if let Some(pr) = price {
                        it.price = pr;
                    }
                    if let Some(q) = qty {
                        it.quantity = q;
                    }
                    changed.push(id.to_string());
                }
                None => {
                    let Some(pr) = price else {
                        return Err(ApiError::required(&p("price")));
                    };
                    let item = Item {
                        id: new_id("si"),
                        price: pr,
                        quantity: qty.unwrap_or(1),
                        period_start: ps,
                        period_end: pe,
                        created: now,
                    };
                    changed.push(item.id.clone());
                    new_items.push(item);
                }
            }
        }
        // Changing the billing interval resets the billing cycle (billing-cycle docs).
        let interval_of =
            |s: &State, price: &str| s.prices.get(price).map(|p| (p.interval.clone(), p.interval_count));
        let old_interval = sub.items.first().and_then(|i| interval_of(self, &i.price));
        let interval_change = new_items.iter().any(|i| interval_of(self, &i.price) != old_interval);
        let anchor_now = match anchor {
            Some("now") => true,
            Some("unchanged") | None => interval_change,
            Some(_) => {
                return Err(ApiError::invalid_code(
                    "parameter_invalid_string",
                    "Invalid billing_cycle_anchor: must be one of now or unchanged",
                    Some(&pn(param_prefix, "billing_cycle_anchor")),
                ))
            }
        };
        // A trialing subscription is free until the trial ends: changes during it prorate nothing.
        let prorate = proration_behavior != "none" && sub.status != "trialing";
        let mut lines = Vec::new();
        let mut new_anchor = None;
        if anchor_now {
            let (interval, count) = new_items
                .first()
                .and_then(|i| interval_of(self, &i.price))
                .unwrap_or(("month".to_string(), 1));
            let end = period_end_after(at, &interval, count, at);
            if prorate {
                for old in &sub.items {
                    lines.push(self.proration_line(old, at, true));
                }
            }
            for it in new_items.iter_mut() {
                it.period_start = at;
                it.period_end = end;
            }
            for it in &new_items {
                lines.push(self.full_line(it, at, end));
            }
            new_anchor = Some(at);
        } else if prorate {
            for id in &changed {
                let old = sub.items.iter().find(|i| &i.id == id);
                let new = new_items.iter().find(|i| &i.id == id);
                if old.map(|o| (&o.price, o.quantity)) == new.map(|n| (&n.price, n.quantity)) {
                    continue;
                }
                if let Some(o) = old {
                    lines.push(self.proration_line(o, at, true));
                }
                if let Some(n) = new {
                    lines.push(self.proration_line(n, at, false));
                }
            }
        }
        changed.retain(|id| {
            let old = sub.items.iter().find(|i| &i.id == id);
            let new = new_items.iter().find(|i| &i.id == id);
            old != new || anchor_now
        });
        let invoice_now = anchor_now || (proration_behavior == "always_invoice" && !lines.is_empty());
        Ok(Plan { items: new_items, changed, lines, invoice_now, new_anchor, proration_date: at })
    }

    /// Creates an invoice (invoice.created), finalizes it (invoice.finalized: its number is
    /// assigned then) and returns its id. `period` is the invoice's `period_start`/`period_end`:
    /// the span in which invoice items could join it (a renewal's is the period just ended).
    pub fn create_invoice(
        &mut self,
        sub_id: &str,
        lines: Vec<Line>,
        reason: &str,
        period: (i64, i64),
    ) -> String {
        self.make_invoice(sub_id, lines, reason, period, true)
    }

    /// As [`State::create_invoice`]; `finalize` false leaves it a draft (an unpaid
    /// subscription's renewals, retries.rs).
    pub fn make_invoice(
        &mut self,
        sub_id: &str,
        mut lines: Vec<Line>,
        reason: &str,
        period: (i64, i64),
        finalize: bool,
    ) -> String {
        // Stripe Tax computes the lines' tax as the invoice is finalized (tax.rs); made and
        // finalized at once here, so the draft shows it too.
        let tax_before = self.sub_value(sub_id);
        let automatic_tax = self.tax_subscription_lines(sub_id, &mut lines);
        let sub = self.subs.get(sub_id).cloned();
        let (customer, metadata) = match &sub {
            Some(s) => (s.customer.clone(), s.metadata.clone()),
            None => (String::new(), Map::new()),
        };
        let currency = lines
            .first()
            .and_then(|l| self.prices.get(&l.price))
            .map(|p| p.currency.clone())
            .unwrap_or_else(|| "usd".to_string());
        let now = self.event_now();
        let inv = Invoice {
            id: new_id("in"),
            customer,
            subscription: Some(sub_id.to_string()),
            sub_metadata: metadata,
            status: "draft".to_string(),
            lines,
            billing_reason: reason.to_string(),
            currency,
            created: now,
            amount_paid: 0,
            payment_intent: None,
            attempt_count: 0,
            period_start: period.0,
            period_end: period.1,
            paid_at: None,
            starting_balance: 0,
            number: None,
            finalized_at: None,
            voided_at: None,
            marked_uncollectible_at: None,
            auto_advance: true,
            automatic_tax,
            next_payment_attempt: None,
        };
        let id = inv.id.clone();
        self.invoices.insert(id.clone(), inv);
        self.invoice_order.push(id.clone());
        let v = self.invoice_value(&id);
        self.emit("invoice.created", v, None);
        if !finalize {
            self.emit_sub_updated(sub_id, &tax_before);
            return id;
        }
        // Finalizing applies the customer's credit balance; a negative total becomes credit.
        let customer = self.invoices.get(&id).map(|i| i.customer.clone()).unwrap_or_default();
        let balance = self.customers.get(&customer).map(|c| c.balance).unwrap_or(0);
        let mut ending = balance;
        let number = self.next_invoice_number(&customer);
        if let Some(i) = self.invoices.get_mut(&id) {
            i.status = "open".to_string();
            i.starting_balance = balance;
            i.number = number;
            i.finalized_at = Some(now);
            ending = i.ending_balance();
        }
        if let Some(c) = self.customers.get_mut(&customer) {
            c.balance = ending;
        }
        let v = self.invoice_value(&id);
        self.emit("invoice.finalized", v, None);
        // Finalized without a customer location: automatic tax was turned off on the subscription.
        self.emit_sub_updated(sub_id, &tax_before);
        id
    }

    /// Charges an open invoice with `pm` (or the customer's payment method). Paid invoices apply
    /// their pending update and bring a past_due subscription back to active.
    pub fn attempt_payment(&mut self, inv_id: &str, pm: Option<&str>) -> PayOutcome {
        self.attempt_payment_as(inv_id, pm, Attempt::Single)
    }

    /// As [`State::attempt_payment`], started as `how` says (retries.rs).
    pub fn attempt_payment_as(&mut self, inv_id: &str, pm: Option<&str>, how: Attempt) -> PayOutcome {
        let Some(inv) = self.invoices.get(inv_id).cloned() else {
            return PayOutcome::Declined;
        };
        let pm = pm.map(str::to_string).unwrap_or_else(|| {
            self.customers
                .get(&inv.customer)
                .map(|c| c.payment_method.clone())
                .unwrap_or_else(|| "pm_card_visa".to_string())
        });
        let due = inv.amount_due();
        let now = self.event_now();
        let outcome = if due == 0 {
            PayOutcome::Paid
        } else {
            match pm.as_str() {
                "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined" => PayOutcome::Declined,
                "pm_card_authenticationRequired" | "pm_card_threeDSecureRequired" => {
                    PayOutcome::ActionRequired
                }
                _ => PayOutcome::Paid,
            }
        };
        if due > 0 {
            let pi_id = inv.payment_intent.clone().unwrap_or_else(|| new_id("pi"));
            let (status, err) = match outcome {
                PayOutcome::Paid => ("succeeded", None),
                PayOutcome::Declined => ("requires_payment_method", Some("card_declined")),
                PayOutcome::ActionRequired => ("requires_action", Some("authentication_required")),
            };
            self.intents.insert(
                pi_id.clone(),
                PaymentIntent {
                    id: pi_id.clone(),
                    amount: due,
                    currency: inv.currency.clone(),
                    status: status.to_string(),
                    customer: inv.customer.clone(),
                    payment_method: Some(pm.clone()),
                    last_error: err.map(str::to_string),
                    created: now,
                },
            );
            if let Some(i) = self.invoices.get_mut(inv_id) {
                i.payment_intent = Some(pi_id);
                if how != Attempt::Manual || i.attempt_count == 0 {
                    i.attempt_count += 1;
                }
            }
        }
        match outcome {
            PayOutcome::Paid => {
                if let Some(i) = self.invoices.get_mut(inv_id) {
                    i.status = "paid".to_string();
                    i.amount_paid = due;
                    i.paid_at = Some(now);
                }
                let v = self.invoice_value(inv_id);
                self.emit("invoice.paid", v.clone(), None);
                self.emit("invoice.payment_succeeded", v, None);
                self.after_paid(inv_id);
            }
            PayOutcome::Declined => {
                if how == Attempt::Automatic {
                    self.schedule_next_attempt(inv_id);
                }
                let v = self.invoice_value(inv_id);
                self.emit("invoice.payment_failed", v, None);
            }
            PayOutcome::ActionRequired => {
                let v = self.invoice_value(inv_id);
                self.emit("invoice.payment_action_required", v, None);
            }
        }
        outcome
    }

    fn after_paid(&mut self, inv_id: &str) {
        let Some(sub_id) = self.invoices.get(inv_id).and_then(|i| i.subscription.clone()) else {
            return;
        };
        let Some(sub) = self.subs.get(&sub_id).cloned() else {
            return;
        };
        let prev = self.sub_value(&sub_id);
        let mut previous = Map::new();
        if let Some(pu) = sub.pending_update.clone().filter(|p| p.invoice == inv_id) {
            if let Some(s) = self.subs.get_mut(&sub_id) {
                s.items = pu.items.clone();
                s.pending_update = None;
                if let Some(a) = pu.billing_cycle_anchor {
                    s.billing_cycle_anchor = a;
                }
            }
            previous.insert("items".into(), prev["items"].clone());
            previous.insert("pending_update".into(), prev["pending_update"].clone());
            if let Some(a) = pu.billing_cycle_anchor {
                if a != sub.billing_cycle_anchor {
                    previous.insert("billing_cycle_anchor".into(), json!(sub.billing_cycle_anchor));
                }
            }
            let v = self.sub_value(&sub_id);
            self.emit("customer.subscription.pending_update_applied", v, Some(json!(previous.clone())));
        }
        if sub.latest_invoice.as_deref() == Some(inv_id)
            && matches!(sub.status.as_str(), "past_due" | "incomplete" | "unpaid")
        {
            if let Some(s) = self.subs.get_mut(&sub_id) {
                s.status = "active".to_string();
            }
            previous.insert("status".into(), json!(sub.status));
        }
        if !previous.is_empty() {
            let v = self.sub_value(&sub_id);
            self.emit("customer.subscription.updated", v, Some(Value::Object(previous)));
        }
    }

    /// Voids an open (or uncollectible) invoice: invoice.voided. See invoice_actions.rs.
    pub fn void_invoice(&mut self, inv_id: &str) {
        let now = self.event_now();
        let Some(inv) = self.invoices.get_mut(inv_id) else {
            return;
        };
        if !matches!(inv.status.as_str(), "open" | "draft" | "uncollectible") {
            return;
        }
        inv.status = "void".to_string();
        inv.voided_at = Some(now);
        let v = self.invoice_value(inv_id);
        self.emit("invoice.voided", v, None);
    }

    /// Clears `sub`'s pending update (voiding its invoice) and emits the update event.
    pub fn discard_pending_update(&mut self, sub_id: &str, expired: bool) {
        let Some(pu) = self.subs.get(sub_id).and_then(|s| s.pending_update.clone()) else {
            return;
        };
        self.void_invoice(&pu.invoice);
        let prev = self.sub_value(sub_id);
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.pending_update = None;
        }
        let v = self.sub_value(sub_id);
        let previous = json!({ "pending_update": prev["pending_update"] });
        if expired {
            self.emit("customer.subscription.pending_update_expired", v.clone(), Some(previous.clone()));
        }
        self.emit("customer.subscription.updated", v, Some(previous));
    }

    /// Applies `plan` to the subscription directly (no pending update).
    pub fn apply_plan(&mut self, sub_id: &str, plan: &Plan) {
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.items = plan.items.clone();
            if let Some(a) = plan.new_anchor {
                s.billing_cycle_anchor = a;
            }
            if !plan.invoice_now {
                s.pending_lines.extend(plan.lines.iter().cloned());
            }
        }
    }

    /// The previous_attributes of a subscription.updated event: the top-level fields of `before`
    /// that differ from the subscription now.
    pub fn diff_sub(&self, sub_id: &str, before: &Value) -> Value {
        let after = self.sub_value(sub_id);
        let mut prev = Map::new();
        if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
            for (k, v) in b {
                if a.get(k) != Some(v) {
                    prev.insert(k.clone(), v.clone());
                }
            }
        }
        Value::Object(prev)
    }

    pub fn emit_sub_updated(&mut self, sub_id: &str, before: &Value) {
        let prev = self.diff_sub(sub_id, before);
        if prev.as_object().is_some_and(|m| !m.is_empty()) {
            let v = self.sub_value(sub_id);
            self.emit("customer.subscription.updated", v, Some(prev));
        }
    }

    pub fn sub_ref(&self, id: &str) -> ApiResult<&Subscription> {
        self.subs.get(id).ok_or_else(|| ApiError::missing("subscription", id, "id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        // 5 seats × 1000 over 21 of 31 days = 3387.09…; 8 seats → 5419.35…
        assert_eq!(div_round(5000 * 21 * 86400, 31 * 86400), 3387);
        assert_eq!(div_round(8000 * 21 * 86400, 31 * 86400), 5419);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(5, 2), 3);
    }
}
