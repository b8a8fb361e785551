//! Free trials: a subscription that starts `trialing`, its $0 first invoice, the warning three
//! days before the end, and what the end of the trial does.
//!
//! Docs:
//! - https://docs.stripe.com/billing/subscriptions/trials ("When creating a subscription with a
//!   trial period, no payment method is required for the customer. An immediate invoice is still
//!   created, but for $0." "When the trial ends, … we generate an invoice … A new billing cycle
//!   also begins for the customer when the trial ends." `trial_end` is a timestamp or `now` to
//!   end the trial at once; `trial_period_days` counts from the current moment)
//! - https://docs.stripe.com/api/subscriptions/object#subscription_object-status ("A
//!   subscription that is currently in a trial period is `trialing` and moves to `active` when
//!   the trial period is over"; with `charge_automatically` it "becomes `past_due` when payment is
//!   required but cannot be paid"; `incomplete` is only for a failed *initial* payment, and the
//!   initial payment of a trial is the $0 invoice)
//! - https://docs.stripe.com/api/subscriptions/create#create_subscription-trial_end and
//!   …/update#update_subscription-trial_end (the `billing_cycle_anchor` becomes `trial_end`)
//! - https://docs.stripe.com/api/events/types#event_types-customer.subscription.trial_will_end
//!   ("Occurs three days before a subscription's trial period is scheduled to end, or when a
//!   trial is ended immediately (using `trial_end=now`)"; a trial with fewer than three days left
//!   gets it at once)
//! - https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-subscription_data-trial_period_days
//!   (at least 1) and …-subscription_data-trial_end (at least 48 hours in the future)
//! - https://docs.stripe.com/api/checkout/sessions/object#checkout_session_object-payment_status
//!   (`no_payment_required`: "The payment is delayed to a future date")

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::model::{new_id, Item, Line, State};

pub const DAY: i64 = 86_400;
/// `customer.subscription.trial_will_end` goes out this long before the trial ends.
pub const WARNING: i64 = 3 * DAY;
/// Stripe caps trials at two years (730 days).
const MAX_DAYS: i64 = 730;

/// What `trial_end` on a subscription update does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrialChange {
    None,
    EndNow,
    Until(i64),
}

/// A trial asked for when the subscription does not exist yet (Checkout).
#[derive(Debug, Clone, PartialEq)]
pub enum TrialSpec {
    Days(i64),
    Until(i64),
}

impl TrialSpec {
    /// When a trial that starts at `start` ends.
    pub fn end_from(&self, start: i64) -> i64 {
        match self {
            TrialSpec::Days(d) => start + d * DAY,
            TrialSpec::Until(t) => *t,
        }
    }
}

fn int(v: &str, param: &str) -> ApiResult<i64> {
    v.parse::<i64>()
        .map_err(|_| ApiError::invalid_code("parameter_invalid_integer", "Invalid integer", Some(param)))
}

/// `trial_period_days` / `trial_end` of a create request (`node` holds them; `prefix` names the
/// parameters, e.g. `subscription_data`). `min_days`: 1 for Checkout, 0 for the Subscriptions
/// API (0 days, like `trial_end=now`, means no trial). `min_lead`: how far ahead `trial_end`
/// must be.
pub fn parse_trial(
    node: Option<&Value>,
    prefix: &str,
    now: i64,
    min_days: i64,
    min_lead: i64,
) -> ApiResult<Option<TrialSpec>> {
    let name = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}[{k}]") };
    let get = |k: &str| node.and_then(|n| n.get(k)).and_then(Value::as_str);
    let days = match get("trial_period_days") {
        Some(v) => {
            let d = int(v, &name("trial_period_days"))?;
            if d < min_days || d > MAX_DAYS {
                return Err(ApiError::invalid(
                    format!("The trial period must be between {min_days} and {MAX_DAYS} days."),
                    Some(&name("trial_period_days")),
                ));
            }
            Some(d)
        }
        None => None,
    };
    let end = match get("trial_end") {
        Some("now") | None => None,
        Some(v) => {
            let t = int(v, &name("trial_end"))?;
            if t < now + min_lead.max(1) {
                return Err(ApiError::invalid(
                    "Invalid timestamp: `trial_end` must be in the future (Checkout: at least 48 hours).",
                    Some(&name("trial_end")),
                ));
            }
            if t > now + MAX_DAYS * DAY {
                return Err(ApiError::invalid(
                    "`trial_end` can be at most two years away.",
                    Some(&name("trial_end")),
                ));
            }
            Some(t)
        }
    };
    if days.is_some() && get("trial_end").is_some() {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: trial_end, trial_period_days.",
            Some(&name("trial_end")),
        ));
    }
    Ok(match (days, end) {
        (Some(0), _) => None,
        (Some(d), _) => Some(TrialSpec::Days(d)),
        (None, Some(t)) => Some(TrialSpec::Until(t)),
        (None, None) => None,
    })
}

impl State {
    /// The $0 line a trialing item gets on the first invoice.
    pub fn trial_line(&self, item: &Item, start: i64, end: i64) -> Line {
        Line {
            id: new_id("il"),
            amount: 0,
            description: format!("Trial period for {}", self.product_name(&item.price)),
            quantity: item.quantity,
            period_start: start,
            period_end: end,
            price: item.price.clone(),
            proration: false,
            subscription_item: Some(item.id.clone()),
            tax: None,
        }
    }

    /// When the warning of a trialing subscription is due (None: not trialing, or already sent).
    pub fn trial_warning_due(&self, sub_id: &str) -> Option<i64> {
        let s = self.subs.get(sub_id)?;
        if s.status != "trialing" || s.trial_will_end_sent {
            return None;
        }
        s.trial_end.map(|t| t - WARNING)
    }

    /// Sends `customer.subscription.trial_will_end` (once per trial end).
    pub fn trial_will_end(&mut self, sub_id: &str) {
        let Some(s) = self.subs.get_mut(sub_id) else { return };
        if s.trial_will_end_sent {
            return;
        }
        s.trial_will_end_sent = true;
        let v = self.sub_value(sub_id);
        self.emit("customer.subscription.trial_will_end", v, None);
    }

    /// Sends the warning now if the trial has three days or less left.
    pub fn trial_will_end_if_due(&mut self, sub_id: &str) {
        let now = self.event_now();
        if self.trial_warning_due(sub_id).is_some_and(|t| t <= now) {
            self.trial_will_end(sub_id);
        }
    }

    /// Checks `trial_end` of a subscription update: a new end for a trialing subscription, or
    /// `now`, which ends the trial at once (a no-op for a subscription that is not trialing).
    pub fn check_trial_end_update(&self, sub_id: &str, v: &str) -> ApiResult<TrialChange> {
        let trialing = self.subs.get(sub_id).is_some_and(|s| s.status == "trialing");
        if v == "now" {
            return Ok(if trialing { TrialChange::EndNow } else { TrialChange::None });
        }
        let t = int(v, "trial_end")?;
        if t <= self.now() {
            return Err(ApiError::invalid(
                "Invalid timestamp: must be an integer Unix timestamp in the future.",
                Some("trial_end"),
            ));
        }
        if !trialing {
            return Err(ApiError::invalid(
                "The simulator changes `trial_end` only on trialing subscriptions (adding a trial to a paying subscription is not simulated).",
                Some("trial_end"),
            ));
        }
        Ok(TrialChange::Until(t))
    }

    /// Moves the end of a trial: the period and `billing_cycle_anchor` follow it, and the
    /// three-day warning is due again for the new end.
    pub fn move_trial_end(&mut self, sub_id: &str, t: i64) {
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.trial_end = Some(t);
            s.billing_cycle_anchor = t;
            s.trial_will_end_sent = false;
            for it in s.items.iter_mut() {
                it.period_end = t;
            }
        }
    }

    /// Ends a trial at once (`trial_end=now`): the warning, then what the trial's natural end
    /// does (a new cycle anchored now, its invoice, active or past_due).
    pub fn end_trial_now(&mut self, sub_id: &str) {
        let now = self.now();
        self.event_time = Some(now);
        self.trial_will_end(sub_id);
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.trial_end = Some(now);
            for it in s.items.iter_mut() {
                it.period_end = now;
            }
        }
        self.renew(sub_id);
        self.event_time = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_days_and_end() {
        let now = 1_000_000;
        let n = json!({ "trial_period_days": "14" });
        assert_eq!(
            parse_trial(Some(&n), "subscription_data", now, 1, 2 * DAY).unwrap(),
            Some(TrialSpec::Days(14))
        );
        assert_eq!(TrialSpec::Days(14).end_from(now), now + 14 * DAY);
        let zero = json!({ "trial_period_days": "0" });
        let e = parse_trial(Some(&zero), "subscription_data", now, 1, 2 * DAY).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("subscription_data[trial_period_days]"));
        assert_eq!(parse_trial(Some(&zero), "", now, 0, 1).unwrap(), None);
        let soon = json!({ "trial_end": (now + DAY).to_string() });
        assert!(parse_trial(Some(&soon), "subscription_data", now, 1, 2 * DAY).is_err());
        assert_eq!(parse_trial(Some(&soon), "", now, 0, 1).unwrap(), Some(TrialSpec::Until(now + DAY)));
        assert_eq!(parse_trial(Some(&json!({ "trial_end": "now" })), "", now, 0, 1).unwrap(), None);
        let both = json!({ "trial_end": (now + 9 * DAY).to_string(), "trial_period_days": "3" });
        assert!(parse_trial(Some(&both), "", now, 0, 1).is_err());
    }
}
