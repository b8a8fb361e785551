//! The simulator's state and how its objects look on the wire (API version 2025-03-31.basil).
//!
//! Docs:
//! - https://docs.stripe.com/api/subscriptions/object (periods live on subscription items since
//!   https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-subscription-current-period-start-and-end)
//! - https://docs.stripe.com/api/subscription_items/object
//! - https://docs.stripe.com/api/invoices/object, https://docs.stripe.com/api/invoice-line-item/object
//!   (`parent`, `pricing` per https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects)
//! - https://docs.stripe.com/api/checkout/sessions/object, https://docs.stripe.com/api/prices/object
//! - https://docs.stripe.com/api/customers/object (`invoice_prefix`, `next_invoice_sequence`)
//! - https://docs.stripe.com/api/subscriptions/object (`trial_start`, `trial_end`,
//!   `trial_settings`, `cancellation_details`); invoices are drawn in invoices.rs
//! - https://docs.stripe.com/api/customers/object (`address`), https://docs.stripe.com/api/prices/object
//!   (`tax_behavior`), https://docs.stripe.com/api/subscriptions/object (`automatic_tax`); Stripe
//!   Tax itself is in tax.rs

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::tax::{AutoTax, CheckoutTax, LineTax, TaxSettings};
use crate::{Recorded, API_VERSION};

pub fn new_id(prefix: &str) -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_1{}", &u[..23])
}

pub fn real_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub metadata: Map<String, Value>,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub product: String,
    pub currency: String,
    pub unit_amount: i64,
    pub interval: String,
    pub interval_count: i64,
    pub metadata: Map<String, Value>,
    pub created: i64,
    pub active: bool,
    /// exclusive | inclusive | unspecified
    pub tax_behavior: String,
    pub nickname: Option<String>,
    /// Unique across prices (see prices.rs).
    pub lookup_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
    pub metadata: Map<String, Value>,
    pub payment_method: String,
    pub created: i64,
    /// Negative: credit applied to the next invoices (from negative invoice totals).
    pub balance: i64,
    /// Customer-level invoice numbering: `{invoice_prefix}-{next_invoice_sequence:04}`.
    pub invoice_prefix: String,
    pub next_invoice_sequence: i64,
    /// `address` (city, country, line1, line2, postal_code, state), if any.
    pub address: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub line_items: Vec<(String, i64)>,
    pub customer_email: Option<String>,
    pub customer: Option<String>,
    pub client_reference_id: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub metadata: Map<String, Value>,
    pub sub_metadata: Map<String, Value>,
    pub status: String,
    pub subscription: Option<String>,
    pub created: i64,
    /// `subscription_data[trial_period_days]` / `subscription_data[trial_end]`.
    pub trial: Option<crate::trials::TrialSpec>,
    /// `automatic_tax`, `tax_id_collection`, `billing_address_collection`, and the address
    /// entered (see tax.rs).
    pub tax: CheckoutTax,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub price: String,
    pub quantity: i64,
    pub period_start: i64,
    pub period_end: i64,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct PendingUpdate {
    pub expires_at: i64,
    pub invoice: String,
    /// The items the subscription will have once the update applies.
    pub items: Vec<Item>,
    /// Ids of the items the update changes or adds (those are listed in `subscription_items`).
    pub changed: Vec<String>,
    pub billing_cycle_anchor: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub metadata: Map<String, Value>,
    pub items: Vec<Item>,
    pub latest_invoice: Option<String>,
    pub pending_update: Option<PendingUpdate>,
    pub schedule: Option<String>,
    pub billing_cycle_anchor: i64,
    pub start_date: i64,
    pub created: i64,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// Proration lines waiting for the next invoice (`create_prorations`).
    pub pending_lines: Vec<Line>,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    /// `customer.subscription.trial_will_end` has been sent for the current `trial_end`.
    pub trial_will_end_sent: bool,
    pub cancellation: Cancellation,
    pub automatic_tax: AutoTax,
}

/// `cancellation_details` of a subscription.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cancellation {
    pub comment: Option<String>,
    pub feedback: Option<String>,
    pub reason: Option<String>,
}

impl Subscription {
    pub fn period(&self) -> (i64, i64) {
        self.items
            .first()
            .map(|i| (i.period_start, i.period_end))
            .unwrap_or((self.start_date, self.start_date))
    }
}

#[derive(Debug, Clone)]
pub struct Line {
    pub id: String,
    pub amount: i64,
    pub description: String,
    pub quantity: i64,
    pub period_start: i64,
    pub period_end: i64,
    pub price: String,
    pub proration: bool,
    pub subscription_item: Option<String>,
    /// Set when the invoice is finalized (or previewed) with automatic tax.
    pub tax: Option<LineTax>,
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    pub sub_metadata: Map<String, Value>,
    pub status: String,
    pub lines: Vec<Line>,
    pub billing_reason: String,
    pub currency: String,
    pub created: i64,
    pub amount_paid: i64,
    pub payment_intent: Option<String>,
    pub attempt_count: i64,
    pub period_start: i64,
    pub period_end: i64,
    pub paid_at: Option<i64>,
    /// The customer's balance when the invoice was finalized.
    pub starting_balance: i64,
    /// Assigned when the invoice is finalized (drafts have none).
    pub number: Option<String>,
    pub finalized_at: Option<i64>,
    pub voided_at: Option<i64>,
    pub marked_uncollectible_at: Option<i64>,
    /// Automatic collection asked for; shown only while draft or open (invoice_actions.rs).
    pub auto_advance: bool,
    pub automatic_tax: AutoTax,
    /// The next automatic retry (retries.rs); shown only while it can happen.
    pub next_payment_attempt: Option<i64>,
}

impl Invoice {
    /// The lines' amounts (inclusive tax included, exclusive tax not).
    pub fn subtotal(&self) -> i64 {
        self.lines.iter().map(|l| l.amount).sum()
    }
    /// The tax of the lines whose tax behavior is `behavior`.
    pub fn tax(&self, behavior: &str) -> i64 {
        self.lines
            .iter()
            .filter_map(|l| l.tax.as_ref())
            .filter(|t| t.behavior == behavior)
            .map(|t| t.amount)
            .sum()
    }
    /// Subtotal plus exclusive tax.
    pub fn total(&self) -> i64 {
        self.subtotal() + self.tax("exclusive")
    }
    pub fn amount_due(&self) -> i64 {
        (self.total() + self.starting_balance).max(0)
    }
    pub fn ending_balance(&self) -> i64 {
        (self.total() + self.starting_balance).min(0)
    }
}

#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub customer: String,
    pub payment_method: Option<String>,
    pub last_error: Option<String>,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub start_date: i64,
    pub end_date: i64,
    pub items: Vec<(String, i64)>,
    pub proration_behavior: String,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub id: String,
    pub customer: String,
    pub subscription: Option<String>,
    pub released_subscription: Option<String>,
    pub status: String,
    pub end_behavior: String,
    pub phases: Vec<Phase>,
    pub created: i64,
    pub released_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub metadata: Map<String, Value>,
    /// Phase boundaries up to this time have been processed.
    pub cursor: i64,
}

impl Schedule {
    pub fn current_phase(&self, now: i64) -> Option<&Phase> {
        if self.status != "active" {
            return None;
        }
        self.phases.iter().find(|p| p.start_date <= now && now < p.end_date)
    }
}

pub struct IdemEntry {
    pub method: String,
    pub path: String,
    pub form: Vec<(String, String)>,
    pub status: u16,
    pub body: Value,
    pub created: i64,
}

#[derive(Default)]
pub struct State {
    pub base_url: String,
    pub offset: i64,
    /// While the clock is being advanced, events carry the time of the step being processed.
    pub event_time: Option<i64>,
    pub products: HashMap<String, Product>,
    pub prices: HashMap<String, Price>,
    pub customers: HashMap<String, Customer>,
    pub sessions: HashMap<String, Session>,
    pub subs: HashMap<String, Subscription>,
    pub sub_order: Vec<String>,
    pub invoices: HashMap<String, Invoice>,
    pub invoice_order: Vec<String>,
    pub intents: HashMap<String, PaymentIntent>,
    pub schedules: HashMap<String, Schedule>,
    pub events: Vec<Value>,
    pub outbox: Vec<Value>,
    pub requests: Vec<Recorded>,
    pub idem: HashMap<String, IdemEntry>,
    pub fail_next: Vec<(String, String, u16)>,
    /// The `Stripe-Version` of the request being handled (None: the account default, basil).
    pub request_version: Option<String>,
    pub portal_configs: HashMap<String, crate::billing_portal::PortalConfig>,
    pub portal_config_order: Vec<String>,
    pub portal_sessions: Vec<crate::billing_portal::PortalSession>,
    /// Stripe Tax registrations and settings.
    pub tax: TaxSettings,
    /// Automatic collection retries (retries.rs).
    pub retry: crate::retries::RetrySettings,
}

impl State {
    pub fn now(&self) -> i64 {
        real_now() + self.offset
    }

    pub fn event_now(&self) -> i64 {
        self.event_time.unwrap_or_else(|| self.now())
    }

    pub fn emit(&mut self, kind: &str, object: Value, previous: Option<Value>) {
        let mut data = json!({ "object": object });
        if let Some(p) = previous {
            data["previous_attributes"] = p;
        }
        let ev = json!({
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.event_now(),
            "type": kind,
            "data": data,
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
        });
        self.events.push(ev.clone());
        self.outbox.push(ev);
    }

    pub fn product_name(&self, price_id: &str) -> String {
        self.prices
            .get(price_id)
            .and_then(|p| self.products.get(&p.product))
            .map(|p| p.name.clone())
            .unwrap_or_else(|| price_id.to_string())
    }

    pub fn product_json(&self, p: &Product) -> Value {
        json!({
            "id": p.id, "object": "product", "active": true, "name": p.name,
            "metadata": p.metadata, "created": p.created, "updated": p.created,
            "livemode": false, "type": "service", "description": null,
        })
    }

    pub fn price_json(&self, id: &str) -> Value {
        match self.prices.get(id) {
            Some(p) => json!({
                "id": p.id, "object": "price", "active": p.active, "currency": p.currency,
                "product": p.product, "unit_amount": p.unit_amount,
                "unit_amount_decimal": p.unit_amount.to_string(),
                "recurring": { "interval": p.interval, "interval_count": p.interval_count,
                               "usage_type": "licensed", "meter": null, "trial_period_days": null },
                "type": "recurring", "billing_scheme": "per_unit", "tax_behavior": p.tax_behavior,
                "metadata": p.metadata, "created": p.created, "livemode": false,
                "lookup_key": p.lookup_key, "nickname": p.nickname,
            }),
            None => Value::String(id.to_string()),
        }
    }

    pub fn customer_json(&self, c: &Customer) -> Value {
        json!({
            "id": c.id, "object": "customer", "email": c.email, "metadata": c.metadata,
            "created": c.created, "livemode": false, "balance": c.balance, "currency": "usd",
            "invoice_prefix": c.invoice_prefix, "next_invoice_sequence": c.next_invoice_sequence,
            "invoice_settings": { "default_payment_method": c.payment_method },
            "address": c.address, "shipping": null, "tax_exempt": "none",
        })
    }

    pub fn item_json(&self, sub_id: &str, i: &Item) -> Value {
        json!({
            "id": i.id, "object": "subscription_item", "price": self.price_json(&i.price),
            "quantity": i.quantity, "subscription": sub_id, "created": i.created,
            "current_period_start": i.period_start, "current_period_end": i.period_end,
            "metadata": {}, "discounts": [], "tax_rates": [],
        })
    }

    pub fn sub_json(&self, s: &Subscription, expand: &[String]) -> Value {
        let items: Vec<Value> = s.items.iter().map(|i| self.item_json(&s.id, i)).collect();
        let pending = s.pending_update.as_ref().map(|p| {
            let changed: Vec<Value> = p
                .items
                .iter()
                .filter(|i| p.changed.contains(&i.id))
                .map(|i| self.item_json(&s.id, i))
                .collect();
            json!({
                "expires_at": p.expires_at,
                "subscription_items": changed,
                "billing_cycle_anchor": p.billing_cycle_anchor,
                "trial_end": null,
                "trial_from_plan": null,
            })
        });
        let latest = match &s.latest_invoice {
            Some(id) if expand.iter().any(|e| e == "latest_invoice") => {
                self.invoices.get(id).map(|i| self.invoice_json(i)).unwrap_or(Value::Null)
            }
            Some(id) => json!(id),
            None => Value::Null,
        };
        let customer = if expand.iter().any(|e| e == "customer") {
            self.customers
                .get(&s.customer)
                .map(|c| self.customer_json(c))
                .unwrap_or_else(|| json!(s.customer))
        } else {
            json!(s.customer)
        };
        let currency = s
            .items
            .first()
            .and_then(|i| self.prices.get(&i.price))
            .map(|p| p.currency.clone())
            .unwrap_or_else(|| "usd".to_string());
        let cancel_at = if s.cancel_at_period_end { json!(s.period().1) } else { Value::Null };
        let c = &s.cancellation;
        json!({
            "id": s.id, "object": "subscription", "customer": customer, "status": s.status,
            "metadata": s.metadata, "currency": currency,
            "items": { "object": "list", "data": items, "has_more": false,
                       "total_count": s.items.len(),
                       "url": format!("/v1/subscription_items?subscription={}", s.id) },
            "latest_invoice": latest, "pending_update": pending, "schedule": s.schedule,
            "billing_cycle_anchor": s.billing_cycle_anchor, "start_date": s.start_date,
            "created": s.created, "cancel_at_period_end": s.cancel_at_period_end,
            "cancel_at": cancel_at, "canceled_at": s.canceled_at, "ended_at": s.ended_at,
            "collection_method": "charge_automatically", "livemode": false,
            "default_payment_method": null, "trial_end": s.trial_end, "trial_start": s.trial_start,
            "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
            "cancellation_details": { "comment": c.comment, "feedback": c.feedback, "reason": c.reason },
            "billing_mode": { "type": "classic" },
            "automatic_tax": { "enabled": s.automatic_tax.enabled,
                               "disabled_reason": s.automatic_tax.disabled_reason,
                               "liability": if s.automatic_tax.enabled { json!({ "type": "self" }) } else { Value::Null } },
        })
    }

    pub fn intent_json(&self, p: &PaymentIntent) -> Value {
        let err = p.last_error.as_ref().map(|c| {
            json!({ "type": "card_error", "code": c,
                    "message": if c == "card_declined" { "Your card was declined." } else { "Authentication required." } })
        });
        json!({
            "id": p.id, "object": "payment_intent", "amount": p.amount, "currency": p.currency,
            "status": p.status, "customer": p.customer, "payment_method": p.payment_method,
            "last_payment_error": err, "created": p.created, "livemode": false,
            "client_secret": format!("{}_secret_sim", p.id),
        })
    }

    pub fn session_json(&self, s: &Session) -> Value {
        let amount: i64 = s
            .line_items
            .iter()
            .map(|(p, q)| self.prices.get(p).map(|p| p.unit_amount).unwrap_or(0) * q)
            .sum();
        let complete = s.status == "complete";
        let invoice = s.subscription.as_ref().and_then(|id| {
            self.invoice_order
                .iter()
                .find(|i| self.invoices.get(*i).and_then(|x| x.subscription.as_ref()) == Some(id))
        });
        // Once paid, the amounts are the first invoice's (tax included); a trial defers the first
        // payment: nothing is due today.
        let (subtotal, total, tax) = match invoice.and_then(|i| self.invoices.get(i)) {
            _ if s.trial.is_some() => (0, 0, 0),
            Some(i) => (i.subtotal(), i.total(), i.tax("exclusive") + i.tax("inclusive")),
            None => (amount, amount, 0),
        };
        let payment_status = match (complete, s.trial.is_some()) {
            (true, true) => "no_payment_required",
            (true, false) => "paid",
            _ => "unpaid",
        };
        let address = s.tax.address.clone().or_else(|| {
            s.customer.as_ref().and_then(|c| self.customers.get(c)).and_then(|c| c.address.clone())
        });
        let details = if complete {
            json!({ "email": s.customer_email, "address": address, "name": null, "phone": null,
                    "tax_exempt": "none", "tax_ids": [] })
        } else {
            Value::Null
        };
        let mut v = json!({
            "id": s.id, "object": "checkout.session", "mode": "subscription", "status": s.status,
            "payment_status": payment_status,
            "url": if complete { Value::Null } else { json!(format!("{}/checkout/{}", self.base_url, s.id)) },
            "customer": s.customer, "customer_email": s.customer_email,
            "customer_details": details,
            "client_reference_id": s.client_reference_id, "subscription": s.subscription,
            "success_url": s.success_url, "cancel_url": s.cancel_url, "metadata": s.metadata,
            "amount_total": total, "amount_subtotal": subtotal, "currency": "usd",
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": tax },
            "created": s.created, "expires_at": s.created + 86_400, "livemode": false,
            "invoice": invoice,
            "payment_intent": null,
        });
        let tax = self.checkout_tax_json(&s.tax, s.customer.as_deref());
        if let (Some(o), Some(m)) = (v.as_object_mut(), tax.as_object()) {
            o.extend(m.clone());
        }
        v
    }

    pub fn schedule_json(&self, s: &Schedule) -> Value {
        let now = self.event_now();
        let phases: Vec<Value> = s
            .phases
            .iter()
            .map(|p| {
                let items: Vec<Value> = p
                    .items
                    .iter()
                    .map(|(price, q)| {
                        json!({ "price": price, "quantity": q, "metadata": {},
                                                "discounts": [], "tax_rates": [], "plan": price })
                    })
                    .collect();
                json!({ "start_date": p.start_date, "end_date": p.end_date, "items": items,
                        "proration_behavior": p.proration_behavior, "metadata": {},
                        "add_invoice_items": [], "billing_cycle_anchor": null,
                        "currency": "usd", "discounts": [], "trial_end": null })
            })
            .collect();
        let current =
            s.current_phase(now).map(|p| json!({ "start_date": p.start_date, "end_date": p.end_date }));
        json!({
            "id": s.id, "object": "subscription_schedule", "customer": s.customer,
            "subscription": s.subscription, "released_subscription": s.released_subscription,
            "status": s.status, "end_behavior": s.end_behavior, "phases": phases,
            "current_phase": current, "created": s.created, "released_at": s.released_at,
            "canceled_at": s.canceled_at, "completed_at": null, "metadata": s.metadata,
            "livemode": false,
            "default_settings": { "billing_cycle_anchor": "automatic",
                                  "collection_method": "charge_automatically" },
        })
    }

    pub fn sub_value(&self, id: &str) -> Value {
        self.subs.get(id).map(|s| self.sub_json(s, &[])).unwrap_or(Value::Null)
    }

    pub fn invoice_value(&self, id: &str) -> Value {
        self.invoices.get(id).map(|i| self.invoice_json(i)).unwrap_or(Value::Null)
    }
}
