//! What can be done to a finalized invoice: pay it, void it, mark it uncollectible; and what
//! cancelling a subscription does to the customer's unpaid invoices.
//!
//! Docs:
//! - https://docs.stripe.com/invoicing/integration/workflow-transitions (the transitions:
//!   `open` → pay → `paid` (invoice.paid) or stays `open` (invoice.payment_failed); `open` →
//!   void → `void` (invoice.voided); `open` → mark_uncollectible → `uncollectible`
//!   (invoice.marked_uncollectible); `uncollectible` → pay → `paid`, or stays `uncollectible`
//!   when the payment fails; `uncollectible` → void → `void`. Nothing leaves `paid` or `void`)
//! - https://docs.stripe.com/api/invoices/void ("Mark a finalized invoice as void. This cannot be
//!   undone … it only applies to finalized invoices"; no parameters but `expand`; returns the
//!   voided invoice) and https://docs.stripe.com/api/invoices/mark_uncollectible (returns the
//!   invoice)
//! - https://docs.stripe.com/api/invoices/object (`status_transitions.voided_at`,
//!   `status_transitions.marked_uncollectible_at`; `amount_remaining`)
//! - https://docs.stripe.com/invoicing/integration/automatic-advancement-collection (`auto_advance`
//!   can be toggled on `draft` and `open` invoices; "Invoices that are paid, void, or
//!   uncollectible always have automatic advancement turned off")
//! - https://docs.stripe.com/api/subscriptions/cancel ("By default, upon subscription
//!   cancellation, Stripe stops automatic collection of all finalized invoices for the
//!   customer … you can resume automatic collection of the invoices manually"): the customer's
//!   open invoices stay open and payable by hand, with `auto_advance` false (one
//!   invoice.updated each).
//! - https://docs.stripe.com/billing/subscriptions/pending-updates (voiding the invoice of a
//!   pending update discards the update; see billing.rs)
//!
//! The wording of the refusals (a 400 `invalid_request_error`) is the simulator's own: the docs
//! name the allowed transitions, not the message. `invoice_already_paid` / `invoice_not_open`
//! on pay are the simulator's codes too (kept from before; Stripe's error-code list was not
//! checked for them).

use serde_json::{json, Value};

use crate::billing::PayOutcome;
use crate::error::{ApiError, ApiResult};
use crate::model::State;

/// The error a failed payment attempt answers with.
pub(crate) fn decline_error(outcome: PayOutcome) -> ApiError {
    match outcome {
        PayOutcome::ActionRequired => ApiError::card(
            "invoice_payment_intent_requires_action",
            None,
            "Payment for this subscription requires additional user action before it can be completed successfully.",
        ),
        _ => ApiError::card("card_declined", Some("generic_decline"), "Your card was declined."),
    }
}

impl State {
    fn invoice_status(&self, id: &str) -> ApiResult<String> {
        self.invoices
            .get(id)
            .map(|i| i.status.clone())
            .ok_or_else(|| ApiError::missing("invoice", id, "invoice"))
    }

    /// `POST /v1/invoices/{id}/pay`: open and uncollectible invoices can be paid.
    pub fn api_pay_invoice(&mut self, id: &str, pm: Option<&str>) -> ApiResult<Value> {
        match self.invoice_status(id)?.as_str() {
            "open" | "uncollectible" => {}
            "paid" => {
                return Err(ApiError::invalid_code("invoice_already_paid", "Invoice is already paid", None))
            }
            s => {
                return Err(ApiError::invalid_code(
                    "invoice_not_open",
                    format!("You can only pay an open invoice. This invoice is {s}."),
                    None,
                ))
            }
        }
        let customer = self.invoices.get(id).map(|i| i.customer.clone()).unwrap_or_default();
        if let Some(pm) = pm {
            if let Some(c) = self.customers.get_mut(&customer) {
                c.payment_method = pm.to_string();
            }
        }
        let outcome = self.attempt_payment_as(id, pm, crate::retries::Attempt::Manual);
        if outcome != PayOutcome::Paid {
            return Err(decline_error(outcome));
        }
        Ok(self.invoice_value(id))
    }

    /// `POST /v1/invoices/{id}/void`: open or uncollectible invoices only. The invoice of a
    /// pending update takes the update with it.
    pub fn api_void_invoice(&mut self, id: &str) -> ApiResult<Value> {
        let status = self.invoice_status(id)?;
        if !matches!(status.as_str(), "open" | "uncollectible") {
            return Err(ApiError::invalid(
                format!("You can only void an open or uncollectible invoice. This invoice is {status}."),
                None,
            ));
        }
        let sub = self.invoices.get(id).and_then(|i| i.subscription.clone());
        let holder = sub.filter(|s| {
            self.subs.get(s).and_then(|x| x.pending_update.as_ref()).is_some_and(|pu| pu.invoice == id)
        });
        match holder {
            Some(sub) => self.discard_pending_update(&sub, false),
            None => self.void_invoice(id),
        }
        Ok(self.invoice_value(id))
    }

    /// `POST /v1/invoices/{id}/mark_uncollectible`: open invoices only.
    pub fn api_mark_uncollectible(&mut self, id: &str) -> ApiResult<Value> {
        let status = self.invoice_status(id)?;
        if status != "open" {
            return Err(ApiError::invalid(
                format!("You can only mark an open invoice as uncollectible. This invoice is {status}."),
                None,
            ));
        }
        let now = self.event_now();
        if let Some(i) = self.invoices.get_mut(id) {
            i.status = "uncollectible".to_string();
            i.marked_uncollectible_at = Some(now);
        }
        let v = self.invoice_value(id);
        self.emit("invoice.marked_uncollectible", v.clone(), None);
        Ok(v)
    }

    /// A subscription of `customer` was canceled: automatic collection stops on the customer's
    /// open invoices (they stay open).
    pub fn stop_collection(&mut self, customer: &str) {
        let ids: Vec<String> = self
            .invoice_order
            .iter()
            .filter(|id| {
                self.invoices
                    .get(*id)
                    .is_some_and(|i| i.customer == customer && i.status == "open" && i.auto_advance)
            })
            .cloned()
            .collect();
        for id in ids {
            if let Some(i) = self.invoices.get_mut(&id) {
                i.auto_advance = false;
            }
            let v = self.invoice_value(&id);
            self.emit("invoice.updated", v, Some(json!({ "auto_advance": true })));
        }
    }
}
