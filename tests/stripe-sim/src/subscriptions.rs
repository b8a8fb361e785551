//! Subscriptions: creation (directly and through Checkout), updates, and invoice previews.
//!
//! Docs:
//! - https://docs.stripe.com/api/subscriptions/create and …/update (`payment_behavior`:
//!   allow_incomplete (default) | error_if_incomplete | pending_if_incomplete | default_incomplete)
//! - https://docs.stripe.com/billing/subscriptions/pending-updates-reference (parameters accepted
//!   with pending_if_incomplete; expiry; lifecycle)
//! - https://docs.stripe.com/api/invoices/create_preview (`subscription_details[...]`; with
//!   `proration_date` a preview gives the same amounts as the update made with that date)
//! - https://docs.stripe.com/billing/subscriptions/prorations#preview-proration
//! - https://docs.stripe.com/payments/checkout/build-subscriptions and
//!   https://docs.stripe.com/billing/subscriptions/webhooks#events (events of a Checkout
//!   subscription: customer.created, customer.subscription.created, invoice.*, …,
//!   checkout.session.completed)
//! - https://docs.stripe.com/billing/subscriptions/subscription-schedules (a subscription with a
//!   schedule refuses `cancel_at_period_end`/`cancel_at` changes: update the schedule instead)
//! - Trials (`trial_period_days`, `trial_end`) are in trials.rs, `cancellation_details` and
//!   cancelling in cancellation.rs, `automatic_tax` (Stripe Tax) in tax.rs.
//! - https://docs.stripe.com/api/invoices/create_preview (`automatic_tax[enabled]`;
//!   `customer_details`: "overrides for an existing customer", so `customer_details[address]`
//!   stands in for the customer's address). Simulator assumption: without `automatic_tax` a
//!   subscription's preview follows the subscription's own `automatic_tax`, so that it equals
//!   the invoice the change then makes.

use serde_json::{json, Map, Value};

use crate::billing::{PayOutcome, Plan};
use crate::cancellation;
use crate::clock::period_end_after;
use crate::error::{ApiError, ApiResult};
use crate::form::{field, list_of, merge_metadata, Params};
use crate::invoice_actions::decline_error;
use crate::model::{new_id, Customer, Invoice, Item, PendingUpdate, State, Subscription};
use crate::tax::{enabled_param, AutoTax};
use crate::trials::{parse_trial, TrialChange, TrialSpec};

/// How a new subscription starts: its trial, and whether Stripe Tax computes its invoices' tax.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub trial: Option<TrialSpec>,
    pub automatic_tax: bool,
}

const PENDING_TOP: &[&str] = &[
    "items",
    "payment_behavior",
    "proration_behavior",
    "proration_date",
    "billing_cycle_anchor",
    "trial_end",
    "trial_from_plan",
    "add_invoice_items",
    "metadata",
    "expand",
];
const PENDING_ITEM: &[&str] = &["id", "price", "quantity"];

fn parse_int(v: Option<&str>, param: &str) -> ApiResult<Option<i64>> {
    match v {
        None => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            ApiError::invalid_code("parameter_invalid_integer", format!("Invalid integer: {s}"), Some(param))
        }),
    }
}

fn parse_bool(v: Option<&str>, param: &str) -> ApiResult<Option<bool>> {
    match v {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_code("parameter_invalid_boolean", "Invalid boolean", Some(param))),
    }
}

impl State {
    /// A customer; without `invoice_prefix` one is generated (8 upper-case hex characters).
    pub fn create_customer_with(
        &mut self,
        email: Option<String>,
        meta: Map<String, Value>,
        invoice_prefix: Option<String>,
        address: Option<Value>,
    ) -> String {
        let id = new_id("cus");
        let prefix = invoice_prefix
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_ascii_uppercase());
        let c = Customer {
            id: id.clone(),
            email,
            metadata: meta,
            payment_method: "pm_card_visa".to_string(),
            created: self.event_now(),
            balance: 0,
            invoice_prefix: prefix,
            next_invoice_sequence: 1,
            address,
        };
        self.customers.insert(id.clone(), c);
        let v = self.customers.get(&id).map(|c| self.customer_json(c)).unwrap_or(Value::Null);
        self.emit("customer.created", v, None);
        id
    }

    /// Creates a subscription (status incomplete), its first invoice, and pays it with `pm`
    /// unless `attempt` is false. With a trial (`trial` ends after now) it starts `trialing`,
    /// the trial is its first period, and the first invoice is $0 (paid at once).
    fn new_subscription(
        &mut self,
        customer: &str,
        items: &[(String, i64)],
        metadata: Map<String, Value>,
        pm: Option<&str>,
        attempt: bool,
        start: &Start,
    ) -> (String, PayOutcome) {
        let now = self.event_now();
        let (interval, count) = items
            .first()
            .and_then(|(p, _)| self.prices.get(p))
            .map(|p| (p.interval.clone(), p.interval_count))
            .unwrap_or(("month".to_string(), 1));
        let trial_end = start.trial.as_ref().map(|t| t.end_from(now)).filter(|t| *t > now);
        let end = trial_end.unwrap_or_else(|| period_end_after(now, &interval, count, now));
        let sub = Subscription {
            id: new_id("sub"),
            customer: customer.to_string(),
            status: if trial_end.is_some() { "trialing" } else { "incomplete" }.to_string(),
            metadata,
            items: items
                .iter()
                .map(|(p, q)| Item {
                    id: new_id("si"),
                    price: p.clone(),
                    quantity: *q,
                    period_start: now,
                    period_end: end,
                    created: now,
                })
                .collect(),
            latest_invoice: None,
            pending_update: None,
            schedule: None,
            billing_cycle_anchor: trial_end.unwrap_or(now),
            start_date: now,
            created: now,
            cancel_at_period_end: false,
            canceled_at: None,
            ended_at: None,
            pending_lines: Vec::new(),
            trial_start: trial_end.map(|_| now),
            trial_end,
            trial_will_end_sent: false,
            cancellation: Default::default(),
            automatic_tax: AutoTax::on(start.automatic_tax),
        };
        let id = sub.id.clone();
        self.subs.insert(id.clone(), sub);
        self.sub_order.push(id.clone());
        let v = self.sub_value(&id);
        self.emit("customer.subscription.created", v, None);
        let sub_items = self.subs.get(&id).map(|s| s.items.clone()).unwrap_or_default();
        let lines = sub_items
            .iter()
            .map(|i| match trial_end {
                Some(_) => self.trial_line(i, now, end),
                None => self.full_line(i, now, end),
            })
            .collect();
        let inv = self.create_invoice(&id, lines, "subscription_create", (now, now));
        if let Some(s) = self.subs.get_mut(&id) {
            s.latest_invoice = Some(inv.clone());
        }
        // A trial's $0 invoice needs no payment method: it is paid at once.
        let outcome = if attempt || trial_end.is_some() {
            self.attempt_payment(&inv, pm)
        } else {
            PayOutcome::Declined
        };
        if trial_end.is_some() {
            self.trial_will_end_if_due(&id);
        }
        (id, outcome)
    }

    pub fn complete_checkout(&mut self, session_id: &str, pm: &str) -> Result<String, String> {
        self.complete_checkout_at(session_id, pm, None)
    }

    /// Completes a session; `country` is the billing address entered on the Checkout page (only
    /// for sessions that collect one: `billing_address_collection=required` or automatic tax).
    pub fn complete_checkout_at(
        &mut self,
        session_id: &str,
        pm: &str,
        country: Option<&str>,
    ) -> Result<String, String> {
        let sess = self
            .sessions
            .get(session_id)
            .cloned()
            .ok_or_else(|| format!("no such checkout session {session_id}"))?;
        if sess.status != "open" {
            return Err(format!("checkout session {session_id} is {}", sess.status));
        }
        // With a trial nothing is charged now: the card is saved, and a card that declines
        // charges (pm_card_chargeDeclined) only fails when the trial ends.
        if sess.trial.is_none() && matches!(pm, "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined") {
            return Err("card_declined: Your card was declined.".to_string());
        }
        let mut tax = sess.tax.clone();
        if let Some(cc) = country {
            if !tax.collects_address() {
                return Err(format!("checkout session {session_id} does not collect a billing address (billing_address_collection=required or automatic_tax[enabled]=true)"));
            }
            if cc.len() != 2 || !cc.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(format!("{cc} is not a two-letter country code"));
            }
            tax.address = Some(crate::tax::address_json(cc));
        }
        let now = self.now();
        // The subscription starts a little before Checkout reports the session complete.
        self.event_time = Some(now - 2);
        // A new customer gets the address entered; an existing one only with customer_update.
        let customer = match &sess.customer {
            Some(c) => {
                self.save_checkout_address(c, true, &tax);
                c.clone()
            }
            None => {
                self.create_customer_with(sess.customer_email.clone(), Map::new(), None, tax.address.clone())
            }
        };
        if let Some(c) = self.customers.get_mut(&customer) {
            c.payment_method = pm.to_string();
        }
        // The customer completes any authentication on the Checkout page.
        let (sub_id, outcome) = self.new_subscription(
            &customer,
            &sess.line_items,
            sess.sub_metadata.clone(),
            Some("pm_card_visa"),
            true,
            &Start { trial: sess.trial.clone(), automatic_tax: tax.automatic_tax },
        );
        self.event_time = None;
        if outcome != PayOutcome::Paid {
            return Err("payment failed".to_string());
        }
        if let Some(s) = self.sessions.get_mut(session_id) {
            s.status = "complete".to_string();
            s.tax = tax;
            s.customer = Some(customer);
            s.subscription = Some(sub_id.clone());
        }
        let v = self.sessions.get(session_id).map(|s| self.session_json(s)).unwrap_or(Value::Null);
        self.emit("checkout.session.completed", v, None);
        Ok(sub_id)
    }

    pub fn api_create_subscription(&mut self, p: &Params) -> ApiResult<Value> {
        let customer = p.str("customer").ok_or_else(|| ApiError::required("customer"))?;
        if !self.customers.contains_key(customer) {
            return Err(ApiError::missing("customer", customer, "customer"));
        }
        let mut items = Vec::new();
        for (n, it) in p.list("items").into_iter().enumerate() {
            let price =
                field(it, "price").ok_or_else(|| ApiError::required(&format!("items[{n}][price]")))?;
            if !self.prices.contains_key(price) {
                return Err(ApiError::missing("price", price, &format!("items[{n}][price]")));
            }
            let q = parse_int(field(it, "quantity"), &format!("items[{n}][quantity]"))?.unwrap_or(1);
            items.push((price.to_string(), q));
        }
        if items.is_empty() {
            return Err(ApiError::required("items"));
        }
        let behavior = p.str("payment_behavior").unwrap_or("allow_incomplete");
        let attempt = behavior != "default_incomplete";
        let trial = parse_trial(Some(&Value::Object(p.root.clone())), "", self.now(), 0, 1)?;
        let automatic_tax = enabled_param(p.root.get("automatic_tax"), "automatic_tax")?.unwrap_or(false);
        let (id, outcome) = self.new_subscription(
            customer,
            &items,
            p.metadata().unwrap_or_default(),
            None,
            attempt,
            &Start { trial, automatic_tax },
        );
        if outcome != PayOutcome::Paid && behavior == "error_if_incomplete" {
            if let Some(inv) = self.subs.get(&id).and_then(|s| s.latest_invoice.clone()) {
                self.void_invoice(&inv);
            }
            if let Some(s) = self.subs.get_mut(&id) {
                s.status = "incomplete_expired".to_string();
            }
            return Err(decline_error(outcome));
        }
        Ok(self.subs.get(&id).map(|s| self.sub_json(s, &p.expand())).unwrap_or(Value::Null))
    }

    pub fn api_update_subscription(&mut self, id: &str, p: &Params) -> ApiResult<Value> {
        let sub = self.sub_ref(id)?.clone();
        let behavior = p.str("payment_behavior").unwrap_or("allow_incomplete");
        if !matches!(
            behavior,
            "allow_incomplete" | "error_if_incomplete" | "pending_if_incomplete" | "default_incomplete"
        ) {
            return Err(ApiError::invalid_code(
                "parameter_invalid_string",
                "Invalid payment_behavior",
                Some("payment_behavior"),
            ));
        }
        if behavior == "pending_if_incomplete" {
            // `metadata` joined the accepted parameters in 2026-05-27.dahlia (changelog
            // https://docs.stripe.com/changelog/dahlia/2026-05-27/pending-subscription-update-metadata);
            // before that version Stripe answers an error.
            let metadata_ok = self
                .request_version
                .as_deref()
                .is_some_and(|v| v.get(..10).is_some_and(|d| d >= "2026-05-27"));
            check_pending_params(p, metadata_ok)?;
        }
        if sub.status == "canceled" {
            return self.update_canceled(id, p);
        }
        if let Some(sched) = &sub.schedule {
            for k in ["cancel_at_period_end", "cancel_at"] {
                if p.has(k) {
                    return Err(ApiError::invalid(
                        format!("The subscription is managed by the subscription schedule `{sched}`, and updating any cancelation behavior directly is not allowed. Please update the schedule instead."),
                        Some(k),
                    ));
                }
            }
        }
        let cancel = parse_bool(p.str("cancel_at_period_end"), "cancel_at_period_end")?;
        let automatic_tax = enabled_param(p.root.get("automatic_tax"), "automatic_tax")?;
        let details = cancellation::details_input(p)?;
        let trial = match p.str("trial_end") {
            Some(v) => self.check_trial_end_update(id, v)?,
            None => TrialChange::None,
        };
        let proration_date = parse_int(p.str("proration_date"), "proration_date")?;
        let items = p.list("items").into_iter().cloned().collect::<Vec<Value>>();
        let anchor = p.str("billing_cycle_anchor");
        let pb = p.str("proration_behavior").unwrap_or("create_prorations");
        let plan = if !items.is_empty() || anchor == Some("now") {
            Some(self.plan_update(id, &items, pb, proration_date, anchor, "")?)
        } else {
            None
        };
        if plan.as_ref().is_some_and(|pl| !pl.changed.is_empty() || pl.invoice_now) {
            // A new change replaces a pending update that is waiting for payment.
            self.discard_pending_update(id, false);
        }
        let before = self.sub_value(id);
        if let Some(s) = self.subs.get_mut(id) {
            if let Some(m) = p.metadata() {
                merge_metadata(&mut s.metadata, &m);
            }
            if let Some(c) = cancel {
                s.cancel_at_period_end = c;
            }
            cancellation::apply(&mut s.cancellation, cancel, &details);
            // From now on, this update's own invoice included.
            if let Some(on) = automatic_tax {
                s.automatic_tax = AutoTax::on(on);
            }
        }
        if let TrialChange::Until(t) = trial {
            self.move_trial_end(id, t);
        }
        match plan {
            Some(plan) if plan.invoice_now => self.commit_invoiced(id, plan, behavior, &before)?,
            Some(plan) => {
                self.apply_plan(id, &plan);
                self.emit_sub_updated(id, &before);
            }
            None => self.emit_sub_updated(id, &before),
        }
        match trial {
            TrialChange::EndNow => self.end_trial_now(id),
            TrialChange::Until(_) => self.trial_will_end_if_due(id),
            TrialChange::None => {}
        }
        Ok(self.subs.get(id).map(|s| self.sub_json(s, &p.expand())).unwrap_or(Value::Null))
    }

    fn commit_invoiced(&mut self, id: &str, plan: Plan, behavior: &str, before: &Value) -> ApiResult<()> {
        let now = self.now();
        match behavior {
            "pending_if_incomplete" | "error_if_incomplete" => {
                let inv = self.create_invoice(id, plan.lines.clone(), "subscription_update", (now, now));
                let outcome = self.attempt_payment(&inv, None);
                if outcome == PayOutcome::Paid {
                    self.apply_plan(id, &plan);
                    if let Some(s) = self.subs.get_mut(id) {
                        s.latest_invoice = Some(inv);
                    }
                    self.emit_sub_updated(id, before);
                    return Ok(());
                }
                if behavior == "error_if_incomplete" {
                    self.void_invoice(&inv);
                    return Err(decline_error(outcome));
                }
                let period_end = self.subs.get(id).map(|s| s.period().1).unwrap_or(now);
                if let Some(s) = self.subs.get_mut(id) {
                    s.pending_update = Some(PendingUpdate {
                        expires_at: period_end.min(now + 23 * 3600),
                        invoice: inv.clone(),
                        items: plan.items.clone(),
                        changed: plan.changed.clone(),
                        billing_cycle_anchor: plan.new_anchor,
                    });
                    s.latest_invoice = Some(inv);
                }
                self.emit_sub_updated(id, before);
            }
            _ => {
                self.apply_plan(id, &plan);
                let inv = self.create_invoice(id, plan.lines.clone(), "subscription_update", (now, now));
                if let Some(s) = self.subs.get_mut(id) {
                    s.latest_invoice = Some(inv.clone());
                }
                self.emit_sub_updated(id, before);
                if behavior == "default_incomplete" {
                    let before = self.sub_value(id);
                    if let Some(s) = self.subs.get_mut(id) {
                        s.status = "past_due".to_string();
                    }
                    self.emit_sub_updated(id, &before);
                } else {
                    // Automatic collection: declined, it is retried (retries.rs).
                    self.collect_subscription_invoice(id, &inv);
                }
            }
        }
        Ok(())
    }

    pub fn api_create_preview(&mut self, p: &Params) -> ApiResult<Value> {
        let Some(sub_id) = p.str("subscription") else {
            return Err(ApiError::invalid_code(
                "invoice_upcoming_none",
                "The simulator previews subscription invoices only: pass `subscription`.",
                Some("subscription"),
            ));
        };
        let sub = self
            .subs
            .get(sub_id)
            .cloned()
            .ok_or_else(|| ApiError::missing("subscription", sub_id, "subscription"))?;
        if let Some(c) = p.str("customer") {
            if c != sub.customer {
                return Err(ApiError::invalid(
                    format!("The subscription {sub_id} does not belong to customer {c}."),
                    Some("customer"),
                ));
            }
        }
        let empty = Value::Object(Map::new());
        let details = p.root.get("subscription_details").unwrap_or(&empty);
        let items: Vec<Value> = list_of(details.get("items")).into_iter().cloned().collect();
        let pd = parse_int(field(details, "proration_date"), "subscription_details[proration_date]")?;
        let pb = field(details, "proration_behavior").unwrap_or("create_prorations").to_string();
        let anchor = field(details, "billing_cycle_anchor").map(str::to_string);
        let plan = self.plan_update(sub_id, &items, &pb, pd, anchor.as_deref(), "subscription_details")?;
        let (ps, pe) = sub.period();
        // An invoice's period is when items could join it: now for an immediate one, the
        // current period for the one the next renewal makes (it looks back one period).
        let now = self.now();
        let (lines, reason, period) = if plan.invoice_now {
            (plan.lines.clone(), "subscription_update", (now, now))
        } else {
            let (interval, count) = plan
                .items
                .first()
                .and_then(|i| self.prices.get(&i.price))
                .map(|p| (p.interval.clone(), p.interval_count))
                .unwrap_or(("month".to_string(), 1));
            let next_end = period_end_after(sub.billing_cycle_anchor, &interval, count, pe);
            let mut lines = sub.pending_lines.clone();
            lines.extend(plan.lines.iter().cloned());
            for it in &plan.items {
                lines.push(self.full_line(it, pe, next_end));
            }
            (lines, "upcoming", (ps, pe))
        };
        let currency = lines
            .first()
            .and_then(|l| self.prices.get(&l.price))
            .map(|p| p.currency.clone())
            .unwrap_or_else(|| "usd".to_string());
        // Tax as the invoice would get it: the subscription's setting unless the preview's own.
        let enabled =
            enabled_param(p.root.get("automatic_tax"), "automatic_tax")?.unwrap_or(sub.automatic_tax.enabled);
        let country = match p.root.get("customer_details").and_then(|d| d.get("address")) {
            Some(Value::Object(a)) => a.get("country").and_then(Value::as_str).map(str::to_uppercase),
            Some(_) => None,
            None => self.customer_country(&sub.customer),
        };
        let mut lines = lines;
        let automatic_tax = self.tax_lines(&mut lines, enabled, country.as_deref());
        let inv = Invoice {
            id: format!("upcoming_{}", new_id("in")),
            customer: sub.customer.clone(),
            subscription: Some(sub_id.to_string()),
            sub_metadata: sub.metadata.clone(),
            status: "draft".to_string(),
            lines,
            billing_reason: reason.to_string(),
            currency,
            created: self.now(),
            amount_paid: 0,
            payment_intent: None,
            attempt_count: 0,
            period_start: period.0,
            period_end: period.1,
            paid_at: None,
            starting_balance: self.customers.get(&sub.customer).map(|c| c.balance).unwrap_or(0),
            number: None,
            finalized_at: None,
            voided_at: None,
            marked_uncollectible_at: None,
            auto_advance: false,
            automatic_tax,
            next_payment_attempt: None,
        };
        let mut v = self.invoice_json(&inv);
        v["hosted_invoice_url"] = Value::Null;
        v["subscription_proration_date"] = json!(plan.proration_date);
        Ok(v)
    }
}

fn check_pending_params(p: &Params, metadata_ok: bool) -> ApiResult<()> {
    let msg = "When `payment_behavior` is `pending_if_incomplete`, only these parameters can be used: expand, payment_behavior, proration_behavior, proration_date, billing_cycle_anchor, items (price, quantity), trial_end, trial_from_plan, add_invoice_items, metadata (from 2026-05-27.dahlia).";
    for k in p.root.keys() {
        if !PENDING_TOP.contains(&k.as_str()) || (k == "metadata" && !metadata_ok) {
            return Err(ApiError::invalid(msg, Some(k)));
        }
    }
    for (n, it) in p.list("items").into_iter().enumerate() {
        if let Some(m) = it.as_object() {
            for k in m.keys() {
                if !PENDING_ITEM.contains(&k.as_str()) {
                    return Err(ApiError::invalid(msg, Some(&format!("items[{n}][{k}]"))));
                }
            }
        }
    }
    Ok(())
}
