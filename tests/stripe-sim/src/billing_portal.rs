//! The customer portal: configurations and sessions.
//!
//! Docs:
//! - https://docs.stripe.com/api/customer_portal/configurations/object (`bpc_…`,
//!   `business_profile`, `default_return_url`, `features.customer_update{allowed_updates,
//!   enabled}`, `invoice_history`, `payment_method_update`, `subscription_cancel{cancellation_reason
//!   {enabled, options}, enabled, mode, proration_behavior}`, `subscription_update{…}`,
//!   `is_default`, `login_page{enabled, url}`, `metadata`, `name`, `updated`; the example object
//!   shows the defaults of features that were not sent)
//! - https://docs.stripe.com/api/customer_portal/configurations/create (`features` required),
//!   …/update (`active`; an empty value unsets `default_return_url`, `name`, `metadata`),
//!   …/retrieve
//! - https://docs.stripe.com/api/customer_portal/sessions/object (`bps_…`, `configuration`,
//!   `customer`, `url`, `return_url`, `created`, `livemode`, `locale`, `on_behalf_of`, `flow`)
//! - https://docs.stripe.com/api/customer_portal/sessions/create (`customer`: an existing
//!   customer; `configuration`: "If not specified, the session uses the default configuration";
//!   `return_url`; `flow_data`)
//! - https://docs.stripe.com/customer-management/configure-portal (the default configuration is
//!   the one saved in the Dashboard; the simulator makes a stand-in on first use, see
//!   [`default_features`])
//! - https://docs.stripe.com/api/events/types (billing_portal.configuration.created | .updated,
//!   billing_portal.session.created)

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::form::{list_of, merge_metadata, Params};
use crate::model::{new_id, State};

#[derive(Debug, Clone)]
pub struct PortalConfig {
    pub id: String,
    pub active: bool,
    pub business_profile: Value,
    pub default_return_url: Option<String>,
    pub features: Value,
    pub is_default: bool,
    pub login_page: bool,
    pub metadata: Map<String, Value>,
    pub name: Option<String>,
    pub created: i64,
    pub updated: i64,
}

#[derive(Debug, Clone)]
pub struct PortalSession {
    pub id: String,
    pub configuration: String,
    pub customer: String,
    pub return_url: Option<String>,
    pub locale: Option<String>,
    pub flow: Value,
    pub created: i64,
}

/// What a configuration has for the features a request does not mention.
fn base_features() -> Value {
    json!({
        "customer_update": { "allowed_updates": [], "enabled": false },
        "invoice_history": { "enabled": false },
        "payment_method_update": { "enabled": false, "payment_method_configuration": null },
        "subscription_cancel": {
            "cancellation_reason": { "enabled": false,
                "options": ["too_expensive", "missing_features", "switched_service", "unused", "other"] },
            "enabled": false, "mode": "at_period_end", "proration_behavior": "none" },
        "subscription_update": {
            "billing_cycle_anchor": null, "default_allowed_updates": [], "enabled": false,
            "products": [], "proration_behavior": "none",
            "schedule_at_period_end": { "conditions": [] }, "trial_update_behavior": "end_trial" },
    })
}

/// The simulator's stand-in for the Dashboard-saved default configuration: invoice history,
/// payment method and customer updates (email, address), and cancel at period end.
pub fn default_features() -> Value {
    let mut f = base_features();
    merge(
        &mut f,
        &json!({
            "customer_update": { "allowed_updates": ["email", "address"], "enabled": true },
            "invoice_history": { "enabled": true },
            "payment_method_update": { "enabled": true },
            "subscription_cancel": { "enabled": true },
        }),
    );
    f
}

const LISTS: &[&str] =
    &["allowed_updates", "options", "default_allowed_updates", "prices", "products", "conditions"];

/// A form tree (strings, index-keyed objects) as the JSON the object shows.
fn typed(key: &str, v: &Value) -> Value {
    if LISTS.contains(&key) {
        return match v {
            Value::String(s) if s.is_empty() => json!([]),
            _ => Value::Array(list_of(Some(v)).into_iter().map(|e| typed("", e)).collect()),
        };
    }
    match v {
        Value::String(s) => match key {
            "enabled" => json!(s == "true"),
            "minimum" | "maximum" => s.parse::<i64>().map(|n| json!(n)).unwrap_or(Value::Null),
            _ if s.is_empty() => Value::Null,
            _ => json!(s),
        },
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), typed(k, x))).collect()),
        other => other.clone(),
    }
}

/// Objects merge key by key; anything else replaces.
fn merge(target: &mut Value, update: &Value) {
    match (target, update) {
        (Value::Object(t), Value::Object(u)) => {
            for (k, v) in u {
                match t.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, u) => *t = u.clone(),
    }
}

/// Runtime rules the schema does not express: on create each feature sent needs `enabled`
/// (and a cancellation reason its `options`); listed products and prices must exist.
fn check_features(st: &State, f: &Value, creating: bool) -> ApiResult<()> {
    let Some(m) = f.as_object() else {
        return Err(ApiError::invalid("Invalid features", Some("features")));
    };
    for (name, node) in m {
        if creating && node.get("enabled").is_none() {
            return Err(ApiError::required(&format!("features[{name}][enabled]")));
        }
    }
    if let Some(cr) = f.pointer("/subscription_cancel/cancellation_reason") {
        let need: &[&str] = if creating { &["enabled", "options"] } else { &["enabled"] };
        for k in need {
            if cr.get(*k).is_none() {
                return Err(ApiError::required(&format!(
                    "features[subscription_cancel][cancellation_reason][{k}]"
                )));
            }
        }
    }
    let products = f.pointer("/subscription_update/products");
    for (n, prod) in list_of(products).into_iter().enumerate() {
        let param = |k: &str| format!("features[subscription_update][products][{n}][{k}]");
        let Some(id) = prod.get("product").and_then(Value::as_str) else {
            return Err(ApiError::required(&param("product")));
        };
        if !st.products.contains_key(id) {
            return Err(ApiError::missing("product", id, &param("product")));
        }
        let prices = list_of(prod.get("prices"));
        if prices.is_empty() {
            return Err(ApiError::required(&param("prices")));
        }
        for pr in prices.into_iter().filter_map(Value::as_str) {
            if st.prices.get(pr).is_none_or(|x| x.product != id) {
                return Err(ApiError::missing("price", pr, &param("prices")));
            }
        }
    }
    Ok(())
}

fn nullable(p: &Params, key: &str) -> Option<Option<String>> {
    p.str(key).map(|s| Some(s.to_string()).filter(|s| !s.is_empty()))
}

impl State {
    pub fn portal_config_json(&self, c: &PortalConfig) -> Value {
        let login_url = if c.login_page {
            json!(format!("{}/billing_portal/login/{}", self.base_url, c.id))
        } else {
            Value::Null
        };
        json!({
            "id": c.id, "object": "billing_portal.configuration", "active": c.active,
            "application": null, "business_profile": c.business_profile, "created": c.created,
            "default_return_url": c.default_return_url, "features": c.features,
            "is_default": c.is_default, "livemode": false,
            "login_page": { "enabled": c.login_page, "url": login_url },
            "metadata": c.metadata, "name": c.name, "updated": c.updated,
        })
    }

    pub fn portal_session_json(&self, s: &PortalSession, expand: &[String]) -> Value {
        let configuration = match self.portal_configs.get(&s.configuration) {
            Some(c) if expand.iter().any(|e| e == "configuration") => self.portal_config_json(c),
            _ => json!(s.configuration),
        };
        json!({
            "id": s.id, "object": "billing_portal.session", "configuration": configuration,
            "created": s.created, "customer": s.customer, "flow": s.flow, "livemode": false,
            "locale": s.locale, "on_behalf_of": null, "return_url": s.return_url,
            "url": format!("{}/billing_portal/{}", self.base_url, s.id),
        })
    }

    fn insert_portal_config(&mut self, c: PortalConfig) -> Value {
        let id = c.id.clone();
        self.portal_configs.insert(id.clone(), c);
        self.portal_config_order.push(id.clone());
        let v = self.portal_configs.get(&id).map(|c| self.portal_config_json(c)).unwrap_or(Value::Null);
        self.emit("billing_portal.configuration.created", v.clone(), None);
        v
    }

    /// `POST /v1/billing_portal/configurations`.
    pub fn api_create_portal_config(&mut self, p: &Params) -> ApiResult<Value> {
        let form = p.root.get("features").ok_or_else(|| ApiError::required("features"))?;
        check_features(self, form, true)?;
        let mut features = base_features();
        merge(&mut features, &typed("features", form));
        let mut business_profile =
            json!({ "headline": null, "privacy_policy_url": null, "terms_of_service_url": null });
        if let Some(bp) = p.root.get("business_profile") {
            merge(&mut business_profile, &typed("business_profile", bp));
        }
        let now = self.now();
        let c = PortalConfig {
            id: new_id("bpc"),
            active: true,
            business_profile,
            default_return_url: nullable(p, "default_return_url").flatten(),
            features,
            is_default: false,
            login_page: p.root.get("login_page").and_then(|l| l.get("enabled")).and_then(Value::as_str)
                == Some("true"),
            metadata: p.metadata().unwrap_or_default(),
            name: nullable(p, "name").flatten(),
            created: now,
            updated: now,
        };
        Ok(self.insert_portal_config(c))
    }

    /// `POST /v1/billing_portal/configurations/{id}`.
    pub fn api_update_portal_config(&mut self, id: &str, p: &Params) -> ApiResult<Value> {
        if !self.portal_configs.contains_key(id) {
            return Err(ApiError::missing("billing_portal.configuration", id, "configuration"));
        }
        if let Some(f) = p.root.get("features") {
            check_features(self, f, false)?;
        }
        let before = self.portal_configs.get(id).map(|c| self.portal_config_json(c)).unwrap_or(Value::Null);
        let now = self.now();
        let Some(c) = self.portal_configs.get_mut(id) else {
            return Err(ApiError::missing("billing_portal.configuration", id, "configuration"));
        };
        if let Some(a) = p.str("active") {
            c.active = a == "true";
        }
        if let Some(f) = p.root.get("features") {
            merge(&mut c.features, &typed("features", f));
        }
        if let Some(bp) = p.root.get("business_profile") {
            merge(&mut c.business_profile, &typed("business_profile", bp));
        }
        if let Some(v) = nullable(p, "default_return_url") {
            c.default_return_url = v;
        }
        if let Some(v) = nullable(p, "name") {
            c.name = v;
        }
        if let Some(e) = p.root.get("login_page").and_then(|l| l.get("enabled")).and_then(Value::as_str) {
            c.login_page = e == "true";
        }
        match p.root.get("metadata") {
            Some(Value::String(s)) if s.is_empty() => c.metadata.clear(),
            Some(Value::Object(m)) => merge_metadata(&mut c.metadata, m),
            _ => {}
        }
        c.updated = now;
        let after = self.portal_configs.get(id).map(|c| self.portal_config_json(c)).unwrap_or(Value::Null);
        let mut previous = Map::new();
        if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
            for (k, v) in b {
                if a.get(k) != Some(v) {
                    previous.insert(k.clone(), v.clone());
                }
            }
        }
        self.emit("billing_portal.configuration.updated", after.clone(), Some(Value::Object(previous)));
        Ok(after)
    }

    /// The default configuration, made on first use.
    fn default_portal_config(&mut self) -> String {
        if let Some(id) = self
            .portal_config_order
            .iter()
            .find(|id| self.portal_configs.get(*id).is_some_and(|c| c.is_default))
        {
            return id.clone();
        }
        let now = self.now();
        let c = PortalConfig {
            id: new_id("bpc"),
            active: true,
            business_profile: json!({ "headline": null, "privacy_policy_url": null, "terms_of_service_url": null }),
            default_return_url: None,
            features: default_features(),
            is_default: true,
            login_page: false,
            metadata: Map::new(),
            name: None,
            created: now,
            updated: now,
        };
        let id = c.id.clone();
        self.insert_portal_config(c);
        id
    }

    /// `POST /v1/billing_portal/sessions`.
    pub fn api_create_portal_session(&mut self, p: &Params) -> ApiResult<Value> {
        let customer = p.str("customer").ok_or_else(|| ApiError::required("customer"))?.to_string();
        if !self.customers.contains_key(&customer) {
            return Err(ApiError::missing("customer", &customer, "customer"));
        }
        let configuration = match p.str("configuration") {
            Some(id) => {
                let c = self
                    .portal_configs
                    .get(id)
                    .ok_or_else(|| ApiError::missing("billing_portal.configuration", id, "configuration"))?;
                if !c.active {
                    return Err(ApiError::invalid(
                        format!("The configuration `{id}` is not active; activate it or use another one."),
                        Some("configuration"),
                    ));
                }
                id.to_string()
            }
            None => self.default_portal_config(),
        };
        let flow = match p.root.get("flow_data") {
            Some(f) => self.portal_flow(f, &customer)?,
            None => Value::Null,
        };
        let return_url = p
            .str("return_url")
            .map(str::to_string)
            .or_else(|| self.portal_configs.get(&configuration).and_then(|c| c.default_return_url.clone()));
        let s = PortalSession {
            id: new_id("bps"),
            configuration,
            customer,
            return_url,
            locale: p.str("locale").map(str::to_string),
            flow,
            created: self.now(),
        };
        let v = self.portal_session_json(&s, &p.expand());
        self.portal_sessions.push(s.clone());
        let plain = self.portal_session_json(&s, &[]);
        self.emit("billing_portal.session.created", plain, None);
        Ok(v)
    }

    /// `flow_data` as the session's `flow`; a subscription it names must be the customer's.
    fn portal_flow(&self, f: &Value, customer: &str) -> ApiResult<Value> {
        let kind =
            f.get("type").and_then(Value::as_str).ok_or_else(|| ApiError::required("flow_data[type]"))?;
        let mut flow = json!({
            "type": kind,
            "after_completion": { "type": "portal_homepage", "hosted_confirmation": null, "redirect": null },
            "subscription_cancel": null, "subscription_update": null, "subscription_update_confirm": null,
        });
        if let Some(ac) = f.get("after_completion") {
            merge(&mut flow["after_completion"], &typed("after_completion", ac));
        }
        if kind != "payment_method_update" {
            let node = f.get(kind).ok_or_else(|| ApiError::required(&format!("flow_data[{kind}]")))?;
            let param = format!("flow_data[{kind}][subscription]");
            let sub =
                node.get("subscription").and_then(Value::as_str).ok_or_else(|| ApiError::required(&param))?;
            if self.subs.get(sub).is_none_or(|s| s.customer != customer) {
                return Err(ApiError::missing("subscription", sub, &param));
            }
            flow[kind] = typed(kind, node);
        }
        Ok(flow)
    }

    /// The little page a session's `url` shows: the customer's subscriptions and invoices, and a
    /// link back to `return_url`.
    pub fn portal_page(&self, id: &str) -> Option<String> {
        let s = self.portal_sessions.iter().find(|s| s.id == id)?;
        let esc = |x: &str| {
            x.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
        };
        let mut body = format!("<h1>Billing portal</h1><p>Customer {}.</p><ul>", esc(&s.customer));
        for sub in self.sub_order.iter().filter_map(|x| self.subs.get(x)).filter(|x| x.customer == s.customer)
        {
            body.push_str(&format!("<li>Subscription {} ({})</li>", esc(&sub.id), esc(&sub.status)));
        }
        body.push_str("</ul><ul>");
        for inv in self
            .invoice_order
            .iter()
            .filter_map(|x| self.invoices.get(x))
            .filter(|x| x.customer == s.customer)
        {
            body.push_str(&format!(
                "<li><a href=\"/invoice_pdf/{}\">{}</a> {}</li>",
                esc(&inv.id),
                esc(inv.number.as_deref().unwrap_or(&inv.id)),
                esc(&inv.status)
            ));
        }
        body.push_str("</ul>");
        if let Some(r) = &s.return_url {
            body.push_str(&format!("<p><a href=\"{}\">Return</a></p>", esc(r)));
        }
        Some(format!("<html><body>{body}</body></html>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_and_merged() {
        let form = json!({ "customer_update": { "enabled": "true", "allowed_updates": { "0": "email", "1": "tax_id" } },
                           "subscription_update": { "products": { "0": { "product": "prod_1", "prices": { "0": "p1" },
                               "adjustable_quantity": { "enabled": "true", "maximum": "9" } } } } });
        let mut f = base_features();
        merge(&mut f, &typed("features", &form));
        assert_eq!(f["customer_update"], json!({ "allowed_updates": ["email", "tax_id"], "enabled": true }));
        assert_eq!(f["invoice_history"]["enabled"], false);
        assert_eq!(f["subscription_update"]["products"][0]["prices"], json!(["p1"]));
        assert_eq!(f["subscription_update"]["products"][0]["adjustable_quantity"]["maximum"], 9);
        merge(&mut f, &typed("features", &json!({ "customer_update": { "allowed_updates": "" } })));
        assert_eq!(f["customer_update"], json!({ "allowed_updates": [], "enabled": true }));
    }
}
