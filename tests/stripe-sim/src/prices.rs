//! Updating prices, and price lookup keys.
//!
//! Docs:
//! - https://docs.stripe.com/api/prices/update ("Updates the specified price by setting the values
//!   of the parameters passed. Any parameters not provided are left unchanged."; `active`
//!   "whether the price can be used for new purchases"; `metadata` (an empty value unsets a key,
//!   an empty `metadata` unsets all); `nickname`; `lookup_key` (up to 200 characters);
//!   `transfer_lookup_key` ("If set to true, will atomically remove the lookup key from the
//!   existing price, and assign it to this price"); `tax_behavior`: "Once specified as either
//!   `inclusive` or `exclusive`, it cannot be changed"; returns the price)
//! - https://docs.stripe.com/api/prices/create#create_price-lookup_key (the same `lookup_key`,
//!   `transfer_lookup_key`, `nickname` on create)
//! - https://docs.stripe.com/products-prices/manage-prices ("After you create a price, you can
//!   only update its metadata, nickname, and active fields" — plus, per the API reference, an
//!   unspecified `tax_behavior` and the lookup key)
//! - https://docs.stripe.com/api/events/types (`price.updated`: "Occurs whenever a price is
//!   updated"; `data.previous_attributes` holds the changed fields' old values)
//!
//! Simulator choices (not in the docs): a lookup key held by another price is refused (400,
//! param `lookup_key`) unless `transfer_lookup_key=true`; an empty `lookup_key` or `nickname`
//! unsets it; repeating the current `tax_behavior` is not a change; `currency_options` is
//! refused (the simulator prices in one currency); `price.updated` is sent only when something
//! changed; `active=false` is recorded but not enforced on new checkouts or subscriptions.
//! The wording of the errors is the simulator's own.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::form::{merge_metadata, Params};
use crate::model::State;

/// `lookup_key` of a request: `Some(None)` unsets.
fn lookup_key_input(p: &Params) -> Option<Option<String>> {
    p.str("lookup_key").map(|k| Some(k.to_string()).filter(|k| !k.is_empty()))
}

/// The top-level fields of `before` that differ in `after`, with their old values.
fn changed(before: &Value, after: &Value) -> Map<String, Value> {
    let mut prev = Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, v) in b {
            if a.get(k) != Some(v) {
                prev.insert(k.clone(), v.clone());
            }
        }
    }
    prev
}

impl State {
    /// The price (other than `own`) holding `key`, if any; refused unless `transfer`.
    fn lookup_key_holder(&self, own: &str, key: &str, transfer: bool) -> ApiResult<Option<String>> {
        let holder = self
            .prices
            .values()
            .find(|p| p.id != own && p.lookup_key.as_deref() == Some(key))
            .map(|p| p.id.clone());
        match holder {
            Some(h) if !transfer => Err(ApiError::invalid(
                format!("The price {h} already uses the lookup key '{key}'; pass transfer_lookup_key=true to move it."),
                Some("lookup_key"),
            )),
            h => Ok(h),
        }
    }

    /// Takes the lookup key off `holder` (price.updated).
    fn release_lookup_key(&mut self, holder: &str) {
        let before = self.price_json(holder);
        if let Some(p) = self.prices.get_mut(holder) {
            p.lookup_key = None;
        }
        let after = self.price_json(holder);
        let prev = changed(&before, &after);
        self.emit("price.updated", after, Some(Value::Object(prev)));
    }

    /// `nickname` and `lookup_key` (after `transfer_lookup_key`) for a price being created; call
    /// it once everything else is checked.
    pub fn price_create_extras(&mut self, p: &Params) -> ApiResult<(Option<String>, Option<String>)> {
        let key = lookup_key_input(p).flatten();
        if let Some(k) = &key {
            if let Some(h) = self.lookup_key_holder("", k, p.str("transfer_lookup_key") == Some("true"))? {
                self.release_lookup_key(&h);
            }
        }
        Ok((p.str("nickname").filter(|n| !n.is_empty()).map(str::to_string), key))
    }

    /// `POST /v1/prices/{id}`.
    pub fn api_update_price(&mut self, id: &str, p: &Params) -> ApiResult<Value> {
        let cur = self.prices.get(id).cloned().ok_or_else(|| ApiError::missing("price", id, "price"))?;
        if p.has("currency_options") {
            return Err(ApiError::invalid(
                "The simulator prices in one currency: currency_options is not supported.",
                Some("currency_options"),
            ));
        }
        let tax_behavior = p.str("tax_behavior");
        if let Some(tb) = tax_behavior {
            if tb != cur.tax_behavior && cur.tax_behavior != "unspecified" {
                return Err(ApiError::invalid(
                    format!(
                        "This price's tax_behavior is `{}`; once inclusive or exclusive it cannot be changed.",
                        cur.tax_behavior
                    ),
                    Some("tax_behavior"),
                ));
            }
        }
        let key = lookup_key_input(p);
        let holder = match &key {
            Some(Some(k)) => self.lookup_key_holder(id, k, p.str("transfer_lookup_key") == Some("true"))?,
            _ => None,
        };
        if let Some(h) = holder {
            self.release_lookup_key(&h);
        }
        let before = self.price_json(id);
        if let Some(pr) = self.prices.get_mut(id) {
            if let Some(a) = p.str("active") {
                pr.active = a == "true";
            }
            if let Some(n) = p.str("nickname") {
                pr.nickname = Some(n.to_string()).filter(|n| !n.is_empty());
            }
            if let Some(k) = key {
                pr.lookup_key = k;
            }
            if let Some(tb) = tax_behavior {
                pr.tax_behavior = tb.to_string();
            }
            match p.root.get("metadata") {
                Some(Value::String(s)) if s.is_empty() => pr.metadata.clear(),
                Some(Value::Object(m)) => merge_metadata(&mut pr.metadata, m),
                _ => {}
            }
        }
        let after = self.price_json(id);
        let prev = changed(&before, &after);
        if !prev.is_empty() {
            self.emit("price.updated", after.clone(), Some(Value::Object(prev)));
        }
        Ok(after)
    }
}
