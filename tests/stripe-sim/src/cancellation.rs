//! Cancelling subscriptions and their `cancellation_details`.
//!
//! Docs:
//! - https://docs.stripe.com/api/subscriptions/object#subscription_object-cancellation_details
//!   (`comment`, `feedback`: customer_service | low_quality | missing_features | other |
//!   switched_service | too_complex | too_expensive | unused, `reason`: cancellation_requested |
//!   payment_disputed | payment_failed — "why this subscription was canceled")
//! - https://docs.stripe.com/api/subscriptions/update#update_subscription-cancellation_details
//!   and …/cancel#cancel_subscription-cancellation_details (`comment` and `feedback` are set by
//!   the request; an empty value unsets them)
//! - https://docs.stripe.com/billing/subscriptions/cancel (cancel at period end, and removing a
//!   scheduled cancellation with `cancel_at_period_end=false` before the period ends)
//! - https://docs.stripe.com/api/subscriptions/update (a canceled subscription accepts only
//!   `metadata` and `cancellation_details`; the simulator's wording of that error is its own)
//! - https://docs.stripe.com/api/subscriptions/cancel ("Cancels a customer's subscription
//!   immediately"; Stripe then stops automatic collection of the customer's finalized
//!   invoices: see invoice_actions.rs). Cancelling an already canceled subscription: the docs
//!   give no error; a Stripe maintainer describes it as "akin to being deleted already", answered
//!   "No such subscription" (https://github.com/stripe/stripe-go/issues/1887), i.e. Stripe's
//!   404 `resource_missing` (https://docs.stripe.com/error-codes).

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::form::{merge_metadata, Params};
use crate::model::{Cancellation, State};

/// `cancellation_details[comment|feedback]` of a request: `Some(None)` unsets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetailsInput {
    pub comment: Option<Option<String>>,
    pub feedback: Option<Option<String>>,
}

pub fn details_input(p: &Params) -> ApiResult<DetailsInput> {
    let Some(node) = p.root.get("cancellation_details") else {
        return Ok(DetailsInput::default());
    };
    if node.as_str() == Some("") {
        return Ok(DetailsInput { comment: Some(None), feedback: Some(None) });
    }
    if !node.is_object() {
        return Err(ApiError::invalid("Invalid cancellation_details", Some("cancellation_details")));
    }
    let get =
        |k: &str| node.get(k).and_then(Value::as_str).map(|v| Some(v.to_string()).filter(|v| !v.is_empty()));
    Ok(DetailsInput { comment: get("comment"), feedback: get("feedback") })
}

/// Applies `cancel_at_period_end` and the details: asking for a cancellation records the reason
/// `cancellation_requested`; withdrawing it clears the details.
pub fn apply(c: &mut Cancellation, cancel: Option<bool>, input: &DetailsInput) {
    match cancel {
        Some(true) => c.reason = Some("cancellation_requested".to_string()),
        Some(false) => *c = Cancellation::default(),
        None => {}
    }
    if let Some(v) = &input.comment {
        c.comment = v.clone();
    }
    if let Some(v) = &input.feedback {
        c.feedback = v.clone();
    }
}

impl State {
    /// An update of a canceled subscription: only `metadata` and `cancellation_details`.
    pub fn update_canceled(&mut self, id: &str, p: &Params) -> ApiResult<Value> {
        if let Some(k) =
            p.root.keys().find(|k| !matches!(k.as_str(), "metadata" | "cancellation_details" | "expand"))
        {
            return Err(ApiError::invalid(
                "A canceled subscription can only update its cancellation_details and metadata.",
                Some(k),
            ));
        }
        let input = details_input(p)?;
        let before = self.sub_value(id);
        if let Some(s) = self.subs.get_mut(id) {
            if let Some(m) = p.metadata() {
                merge_metadata(&mut s.metadata, &m);
            }
            apply(&mut s.cancellation, None, &input);
        }
        self.emit_sub_updated(id, &before);
        Ok(self.subs.get(id).map(|s| self.sub_json(s, &p.expand())).unwrap_or(Value::Null))
    }

    /// `DELETE /v1/subscriptions/{id}`: cancels now (a schedule attached ends with it).
    pub fn api_cancel_subscription(&mut self, id: &str, p: &Params) -> ApiResult<Value> {
        // A canceled subscription is "akin to being deleted": cancelling it again answers
        // resource_missing (404), as for an unknown id.
        if self.sub_ref(id)?.status == "canceled" {
            return Err(ApiError::missing("subscription", id, "id"));
        }
        let input = details_input(p)?;
        if let Some(s) = self.subs.get_mut(id) {
            apply(&mut s.cancellation, Some(true), &input);
        }
        match self.subs.get(id).and_then(|s| s.schedule.clone()) {
            Some(sched) => {
                self.cancel_schedule(&sched)?;
            }
            None => self.cancel_subscription_now(id),
        }
        Ok(self.sub_value(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_follows_cancel_at_period_end() {
        let mut c = Cancellation::default();
        let fb =
            DetailsInput { comment: Some(Some("bye".into())), feedback: Some(Some("too_expensive".into())) };
        apply(&mut c, Some(true), &fb);
        assert_eq!(c.reason.as_deref(), Some("cancellation_requested"));
        assert_eq!(c.feedback.as_deref(), Some("too_expensive"));
        apply(&mut c, None, &DetailsInput { comment: Some(None), feedback: None });
        assert_eq!(c.comment, None);
        assert_eq!(c.feedback.as_deref(), Some("too_expensive"));
        apply(&mut c, Some(false), &DetailsInput::default());
        assert_eq!(c, Cancellation::default());
    }
}
