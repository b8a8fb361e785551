//! The REST API's routes (run under the state lock; webhooks go out after).
//!
//! Docs:
//! - https://docs.stripe.com/api/products/create, https://docs.stripe.com/api/prices/create
//! - https://docs.stripe.com/api/customers/create
//! - https://docs.stripe.com/api/checkout/sessions/create (mode=subscription, line_items,
//!   customer_email, client_reference_id, metadata, subscription_data[metadata],
//!   subscription_data[trial_period_days] | [trial_end]; see trials.rs)
//! - https://docs.stripe.com/api/customers/create#create_customer-invoice_prefix (3–12
//!   uppercase letters or numbers)
//! - https://docs.stripe.com/api/customer_portal (billing_portal.rs), invoices list
//!   (invoices.rs), cancel (cancellation.rs), invoice pay/void/mark_uncollectible
//!   (invoice_actions.rs), price update and lookup keys (prices.rs)
//! - https://docs.stripe.com/api/subscriptions, https://docs.stripe.com/api/invoices
//! - https://docs.stripe.com/api/subscription_schedules, https://docs.stripe.com/api/events
//! - https://docs.stripe.com/api/prices/create#create_price-tax_behavior (also
//!   `price_data[tax_behavior]`; a `price_data` price is created inactive),
//!   https://docs.stripe.com/api/customers/create#create_customer-address, and Checkout's
//!   `automatic_tax`, `tax_id_collection`, `billing_address_collection`, `customer_update`
//!   (tax.rs)

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::form::{field, Params};
use crate::model::{new_id, Price, Product, Session, State};
use crate::trials::parse_trial;

fn list(data: Vec<Value>, url: &str) -> Value {
    json!({ "object": "list", "data": data, "has_more": false, "url": url })
}

impl State {
    pub fn dispatch(&mut self, method: &str, path: &str, p: &Params) -> ApiResult<Value> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let expand = p.expand();
        match (method, segs.as_slice()) {
            ("POST", ["v1", "products"]) => self.create_product(p),
            ("GET", ["v1", "products", id]) => self
                .products
                .get(*id)
                .map(|x| self.product_json(x))
                .ok_or_else(|| ApiError::missing("product", id, "id")),
            ("POST", ["v1", "prices"]) => self.create_price(p),
            ("POST", ["v1", "prices", id]) => self.api_update_price(id, p),
            ("GET", ["v1", "prices", id]) => {
                if self.prices.contains_key(*id) {
                    Ok(self.price_json(id))
                } else {
                    Err(ApiError::missing("price", id, "price"))
                }
            }
            ("POST", ["v1", "customers"]) => {
                let prefix = match p.str("invoice_prefix") {
                    Some(x)
                        if (3..=12).contains(&x.len())
                            && x.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) =>
                    {
                        Some(x.to_string())
                    }
                    Some(_) => {
                        return Err(ApiError::invalid(
                            "Invalid invoice_prefix: must be 3-12 uppercase letters or numbers.",
                            Some("invoice_prefix"),
                        ))
                    }
                    None => None,
                };
                let address = match p.root.get("address") {
                    Some(Value::Object(a)) => {
                        let mut addr = crate::tax::address_json("");
                        for k in ["city", "country", "line1", "line2", "postal_code", "state"] {
                            if let Some(v) = a.get(k).and_then(Value::as_str) {
                                addr[k] =
                                    json!(if k == "country" { v.to_uppercase() } else { v.to_string() });
                            }
                        }
                        Some(addr)
                    }
                    _ => None,
                };
                let id = self.create_customer_with(
                    p.str("email").map(str::to_string),
                    p.metadata().unwrap_or_default(),
                    prefix,
                    address,
                );
                Ok(self.customers.get(&id).map(|c| self.customer_json(c)).unwrap_or(Value::Null))
            }
            ("GET", ["v1", "customers", id]) => self
                .customers
                .get(*id)
                .map(|c| self.customer_json(c))
                .ok_or_else(|| ApiError::missing("customer", id, "id")),
            ("POST", ["v1", "checkout", "sessions"]) => self.create_session(p),
            ("GET", ["v1", "checkout", "sessions", id]) => self
                .sessions
                .get(*id)
                .map(|s| self.session_json(s))
                .ok_or_else(|| ApiError::missing("checkout.session", id, "session")),
            ("POST", ["v1", "subscriptions"]) => self.api_create_subscription(p),
            ("GET", ["v1", "subscriptions"]) => {
                let customer = p.str("customer");
                let data = self
                    .sub_order
                    .iter()
                    .filter_map(|id| self.subs.get(id))
                    .filter(|s| customer.is_none_or(|c| c == s.customer))
                    .map(|s| self.sub_json(s, &[]))
                    .collect();
                Ok(list(data, "/v1/subscriptions"))
            }
            ("GET", ["v1", "subscriptions", id]) => {
                let s = self.sub_ref(id)?;
                Ok(self.sub_json(s, &expand))
            }
            ("POST", ["v1", "subscriptions", id]) => self.api_update_subscription(id, p),
            // Canceling the subscription also ends its schedule.
            ("DELETE", ["v1", "subscriptions", id]) => self.api_cancel_subscription(id, p),
            ("POST", ["v1", "invoices", "create_preview"]) => self.api_create_preview(p),
            ("GET", ["v1", "invoices"]) => self.api_list_invoices(p),
            ("GET", ["v1", "invoices", id]) => self
                .invoices
                .get(*id)
                .map(|i| self.invoice_json(i))
                .ok_or_else(|| ApiError::missing("invoice", id, "invoice")),
            ("POST", ["v1", "invoices", id, "pay"]) => self.api_pay_invoice(id, p.str("payment_method")),
            ("POST", ["v1", "invoices", id, "void"]) => self.api_void_invoice(id),
            ("POST", ["v1", "invoices", id, "mark_uncollectible"]) => self.api_mark_uncollectible(id),
            ("GET", ["v1", "payment_intents", id]) => self
                .intents
                .get(*id)
                .map(|x| self.intent_json(x))
                .ok_or_else(|| ApiError::missing("payment_intent", id, "intent")),
            ("POST", ["v1", "subscription_schedules"]) => self.create_schedule(p),
            ("GET", ["v1", "subscription_schedules", id]) => self
                .schedules
                .get(*id)
                .map(|s| self.schedule_json(s))
                .ok_or_else(|| ApiError::missing("subscription_schedule", id, "schedule")),
            ("POST", ["v1", "subscription_schedules", id]) => self.update_schedule(id, p),
            ("POST", ["v1", "subscription_schedules", id, "release"]) => self.release_schedule(id),
            ("POST", ["v1", "subscription_schedules", id, "cancel"]) => self.cancel_schedule(id),
            ("POST", ["v1", "billing_portal", "configurations"]) => self.api_create_portal_config(p),
            ("GET", ["v1", "billing_portal", "configurations", id]) => self
                .portal_configs
                .get(*id)
                .map(|c| self.portal_config_json(c))
                .ok_or_else(|| ApiError::missing("billing_portal.configuration", id, "configuration")),
            ("POST", ["v1", "billing_portal", "configurations", id]) => self.api_update_portal_config(id, p),
            ("POST", ["v1", "billing_portal", "sessions"]) => self.api_create_portal_session(p),
            ("GET", ["v1", "events", id]) => self
                .events
                .iter()
                .find(|e| e["id"] == *id)
                .cloned()
                .ok_or_else(|| ApiError::missing("event", id, "id")),
            _ => Err(ApiError::not_found_url(method, path)),
        }
    }

    fn create_product(&mut self, p: &Params) -> ApiResult<Value> {
        let name = p.str("name").ok_or_else(|| ApiError::required("name"))?;
        let prod = Product {
            id: p.str("id").map(str::to_string).unwrap_or_else(|| new_id("prod")),
            name: name.to_string(),
            metadata: p.metadata().unwrap_or_default(),
            created: self.now(),
        };
        let v = self.product_json(&prod);
        self.products.insert(prod.id.clone(), prod);
        Ok(v)
    }

    fn create_price(&mut self, p: &Params) -> ApiResult<Value> {
        let product = p.str("product").ok_or_else(|| ApiError::required("product"))?;
        if !self.products.contains_key(product) {
            return Err(ApiError::missing("product", product, "product"));
        }
        let currency = p.str("currency").ok_or_else(|| ApiError::required("currency"))?;
        let ua = p
            .str("unit_amount")
            .ok_or_else(|| ApiError::required("unit_amount"))?
            .parse::<i64>()
            .map_err(|_| {
                ApiError::invalid_code("parameter_invalid_integer", "Invalid integer", Some("unit_amount"))
            })?;
        let recurring = p.root.get("recurring");
        let interval = recurring
            .and_then(|r| field(r, "interval"))
            .ok_or_else(|| ApiError::required("recurring[interval]"))?;
        if !matches!(interval, "day" | "week" | "month" | "year") {
            return Err(ApiError::invalid_code(
                "parameter_invalid_string",
                "Invalid recurring[interval]: must be one of day, week, month, or year",
                Some("recurring[interval]"),
            ));
        }
        let count =
            recurring.and_then(|r| field(r, "interval_count")).and_then(|c| c.parse().ok()).unwrap_or(1);
        let tax_behavior = p.str("tax_behavior").unwrap_or("unspecified");
        if !matches!(tax_behavior, "exclusive" | "inclusive" | "unspecified") {
            return Err(ApiError::invalid_code(
                "parameter_invalid_string",
                "Invalid tax_behavior: must be one of exclusive, inclusive, or unspecified",
                Some("tax_behavior"),
            ));
        }
        let (nickname, lookup_key) = self.price_create_extras(p)?;
        let price = Price {
            id: new_id("price"),
            product: product.to_string(),
            currency: currency.to_lowercase(),
            unit_amount: ua,
            interval: interval.to_string(),
            interval_count: count,
            metadata: p.metadata().unwrap_or_default(),
            created: self.now(),
            active: true,
            tax_behavior: tax_behavior.to_string(),
            nickname,
            lookup_key,
        };
        let id = price.id.clone();
        self.prices.insert(id.clone(), price);
        Ok(self.price_json(&id))
    }

    /// Creates a price from `price_data` (Stripe creates an inactive price for it).
    pub fn price_from_data(&mut self, pd: &Value, param: &str) -> ApiResult<String> {
        let product = pd
            .get("product")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::required(&format!("{param}[product]")))?;
        if !self.products.contains_key(product) {
            return Err(ApiError::missing("product", product, &format!("{param}[product]")));
        }
        let currency = pd.get("currency").and_then(Value::as_str).unwrap_or("usd");
        let ua = pd
            .get("unit_amount")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| ApiError::required(&format!("{param}[unit_amount]")))?;
        let interval = pd.pointer("/recurring/interval").and_then(Value::as_str).unwrap_or("month");
        let tax_behavior = pd.get("tax_behavior").and_then(Value::as_str).unwrap_or("unspecified");
        let id = new_id("price");
        let now = self.now();
        self.prices.insert(
            id.clone(),
            Price {
                id: id.clone(),
                product: product.to_string(),
                currency: currency.to_string(),
                unit_amount: ua,
                interval: interval.to_string(),
                interval_count: 1,
                metadata: Map::new(),
                created: now,
                active: false,
                tax_behavior: tax_behavior.to_string(),
                nickname: None,
                lookup_key: None,
            },
        );
        Ok(id)
    }

    fn create_session(&mut self, p: &Params) -> ApiResult<Value> {
        if p.str("mode") != Some("subscription") {
            return Err(ApiError::invalid(
                "The simulator supports Checkout in `mode=subscription` only.",
                Some("mode"),
            ));
        }
        let mut items = Vec::new();
        for (n, it) in p.list("line_items").into_iter().enumerate() {
            let price = match (field(it, "price"), it.get("price_data")) {
                (Some(pr), _) => {
                    if !self.prices.contains_key(pr) {
                        return Err(ApiError::missing("price", pr, &format!("line_items[{n}][price]")));
                    }
                    pr.to_string()
                }
                (None, Some(pd)) => self.price_from_data(pd, &format!("line_items[{n}][price_data]"))?,
                (None, None) => return Err(ApiError::required(&format!("line_items[{n}][price]"))),
            };
            let q = field(it, "quantity").and_then(|q| q.parse().ok()).unwrap_or(1);
            items.push((price, q));
        }
        if items.is_empty() {
            return Err(ApiError::required("line_items"));
        }
        let customer = p.str("customer").map(str::to_string);
        if let Some(c) = &customer {
            if !self.customers.contains_key(c) {
                return Err(ApiError::missing("customer", c, "customer"));
            }
        }
        let sub_data = p.root.get("subscription_data");
        let sub_meta = sub_data
            .and_then(|d| d.get("metadata"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(Map::new);
        let trial = parse_trial(sub_data, "subscription_data", self.now(), 1, 48 * 3600)?;
        let tax = crate::tax::checkout_params(p)?;
        self.check_checkout_location(customer.as_deref(), &tax)?;
        let s = Session {
            id: new_id("cs_test"),
            line_items: items,
            customer_email: p.str("customer_email").map(str::to_string),
            customer,
            client_reference_id: p.str("client_reference_id").map(str::to_string),
            success_url: p.str("success_url").map(str::to_string),
            cancel_url: p.str("cancel_url").map(str::to_string),
            metadata: p.metadata().unwrap_or_default(),
            sub_metadata: sub_meta,
            status: "open".to_string(),
            subscription: None,
            created: self.now(),
            trial,
            tax,
        };
        let v = self.session_json(&s);
        self.sessions.insert(s.id.clone(), s);
        Ok(v)
    }
}
