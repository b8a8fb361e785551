//! Automatic collection retries of subscription invoices, and what happens when they run out.
//!
//! Docs:
//! - https://docs.stripe.com/billing/revenue-recovery/smart-retries ("Automate payment
//!   retries"): Stripe retries failed subscription invoice payments automatically, with Smart
//!   Retries (timing chosen by a model; "the recommended default is 8 tries within 2 weeks") or a
//!   custom retry schedule (up to three retries, each a number of days after the previous
//!   attempt). Smart Retries' timing is not deterministic, so the simulator runs a custom
//!   schedule. Hard decline codes (the list includes `authentication_required`) are not retried.
//!   Retries use the customer's current default payment method (the "payment method ordering"
//!   list ends with `customer.invoice_settings.default_payment_method`, the simulator's only one).
//!   When all retries fail the account's setting applies: cancel the subscription, mark it
//!   unpaid, or leave it past_due; with `unpaid`, later invoices "continue to be generated and
//!   stay in a draft state".
//! - https://docs.stripe.com/api/invoices/object (`next_payment_attempt`: when the next automatic
//!   attempt will be made, null when none is scheduled; `attempt_count`: "Any payment attempt
//!   counts as the first attempt, and subsequently only automatic retries increment the attempt
//!   count … manual payment attempts after the first attempt do not affect the retry schedule")
//! - https://docs.stripe.com/api/subscriptions/object#subscription_object-status ("Once Stripe
//!   has exhausted all payment retry attempts, the subscription will become canceled or unpaid
//!   (depending on your subscriptions settings)"; unpaid: "no subsequent invoices will be
//!   attempted")
//! - https://docs.stripe.com/api/subscriptions/object#subscription_object-cancellation_details
//!   (`reason`: payment_failed) and https://docs.stripe.com/api/subscriptions/cancel (cancelling
//!   stops automatic collection of the customer's finalized invoices: see invoice_actions.rs)
//! - https://support.stripe.com/questions/retry-schedules-longer-than-a-subscription-s-billing-period
//!   (when the subscription's latest invoice is paid, an older invoice running out of retries
//!   does not change the subscription's status)
//!
//! Simulator assumptions (the docs give no value): the default schedule is 3, 5 and 7 days after
//! the previous attempt (three retries, the custom schedule's maximum, 15 days in all, within a
//! monthly period); the default action when retries run out is to leave the subscription
//! past_due (Stripe's docs name the three choices but not the Dashboard's default; leaving it
//! keeps the simulator's earlier behaviour); the invoice-status setting (mark uncollectible) is
//! not modelled: the invoice stays open.

use crate::billing::PayOutcome;
use crate::model::{Invoice, State};

const DAY: i64 = 86_400;

/// How a payment attempt was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A one-off charge (a subscription's first invoice, an update's invoice): never retried.
    Single,
    /// Automatic collection of a subscription invoice: declines schedule the next retry.
    Automatic,
    /// `POST /v1/invoices/{id}/pay`: counts only as a first attempt; the schedule is unchanged.
    Manual,
}

/// The account's retry settings.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// Days after the previous attempt, one entry per retry.
    pub schedule_days: Vec<i64>,
    /// `past_due` | `unpaid` | `canceled`: the subscription once the last retry failed.
    pub exhausted_action: String,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings { schedule_days: vec![3, 5, 7], exhausted_action: "past_due".to_string() }
    }
}

impl Invoice {
    /// When automatic collection will next try to pay: only open invoices still collected
    /// automatically (void, paid, uncollectible invoices, and those whose subscription was
    /// canceled, have none).
    pub fn retry_at(&self) -> Option<i64> {
        self.next_payment_attempt.filter(|_| self.status == "open" && self.auto_advance)
    }
}

impl State {
    /// After a declined automatic attempt (before invoice.payment_failed is sent): the next
    /// retry per the schedule, or none once the schedule is used up.
    pub(crate) fn schedule_next_attempt(&mut self, inv_id: &str) {
        let now = self.event_now();
        let days = self.retry.schedule_days.clone();
        if let Some(i) = self.invoices.get_mut(inv_id) {
            let done = i.attempt_count.max(1) as usize;
            i.next_payment_attempt = days.get(done - 1).map(|d| now + (*d).max(0) * DAY);
        }
    }

    /// Charges a subscription invoice under automatic collection: when declined the
    /// subscription becomes past_due and the retries are scheduled.
    pub(crate) fn collect_subscription_invoice(&mut self, sub_id: &str, inv_id: &str) -> PayOutcome {
        let before = self.sub_value(sub_id);
        let outcome = self.attempt_payment_as(inv_id, None, Attempt::Automatic);
        if outcome != PayOutcome::Paid {
            if let Some(s) = self.subs.get_mut(sub_id) {
                s.status = "past_due".to_string();
            }
            self.emit_sub_updated(sub_id, &before);
            if outcome == PayOutcome::Declined {
                self.after_last_retry(inv_id);
            }
        }
        outcome
    }

    /// The retry due now for `inv_id` (the clock reached its `next_payment_attempt`).
    pub(crate) fn retry_invoice(&mut self, inv_id: &str) {
        let Some(inv) = self.invoices.get_mut(inv_id) else {
            return;
        };
        let due = inv.retry_at().is_some();
        inv.next_payment_attempt = None;
        let sub_status = inv.subscription.as_ref().and_then(|s| self.subs.get(s)).map(|s| s.status.as_str());
        // A canceled subscription's invoices are not collected automatically any more (its
        // cancellation turned auto_advance off); an unpaid one's are not attempted.
        if !due || !matches!(sub_status, Some("past_due" | "active" | "trialing")) {
            return;
        }
        if self.attempt_payment_as(inv_id, None, Attempt::Automatic) == PayOutcome::Declined {
            self.after_last_retry(inv_id);
        }
    }

    /// When `inv_id` has no retry left: the configured action on its subscription.
    fn after_last_retry(&mut self, inv_id: &str) {
        let Some(inv) = self.invoices.get(inv_id) else {
            return;
        };
        if inv.next_payment_attempt.is_some() || inv.status != "open" {
            return;
        }
        let Some(sub) = inv.subscription.as_ref().and_then(|s| self.subs.get(s)).cloned() else {
            return;
        };
        let latest_paid = sub
            .latest_invoice
            .as_ref()
            .and_then(|l| self.invoices.get(l))
            .is_some_and(|l| l.status == "paid");
        if latest_paid || sub.status != "past_due" {
            return;
        }
        match self.retry.exhausted_action.as_str() {
            "unpaid" => {
                let before = self.sub_value(&sub.id);
                if let Some(s) = self.subs.get_mut(&sub.id) {
                    s.status = "unpaid".to_string();
                }
                self.emit_sub_updated(&sub.id, &before);
            }
            "canceled" => {
                if let Some(s) = self.subs.get_mut(&sub.id) {
                    s.cancellation.reason = Some("payment_failed".to_string());
                }
                match sub.schedule.as_deref() {
                    Some(sched) if self.cancel_schedule(sched).is_ok() => {}
                    _ => self.cancel_subscription_now(&sub.id),
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_at_only_while_collected_automatically() {
        let mut st = State::default();
        st.retry.schedule_days = vec![2];
        let inv = Invoice {
            id: "in_1".into(),
            customer: String::new(),
            subscription: None,
            sub_metadata: Default::default(),
            status: "open".into(),
            lines: vec![],
            billing_reason: "subscription_cycle".into(),
            currency: "usd".into(),
            created: 0,
            amount_paid: 0,
            payment_intent: None,
            attempt_count: 1,
            period_start: 0,
            period_end: 0,
            paid_at: None,
            starting_balance: 0,
            number: None,
            finalized_at: None,
            voided_at: None,
            marked_uncollectible_at: None,
            auto_advance: true,
            automatic_tax: Default::default(),
            next_payment_attempt: None,
        };
        st.invoices.insert("in_1".into(), inv);
        st.event_time = Some(1000);
        st.schedule_next_attempt("in_1");
        assert_eq!(st.invoices["in_1"].retry_at(), Some(1000 + 2 * DAY));
        st.invoices.get_mut("in_1").unwrap().attempt_count = 2;
        st.schedule_next_attempt("in_1");
        assert_eq!(st.invoices["in_1"].next_payment_attempt, None);
        let i = st.invoices.get_mut("in_1").unwrap();
        i.next_payment_attempt = Some(5);
        i.auto_advance = false;
        assert_eq!(i.retry_at(), None);
    }
}
