//! The in-memory billing writes, with the table's conditions: a checkout completed once (and a
//! suspended subscription's seats claimed by the owner's purchase, once, within its window), and
//! a provider event's billing state applied once, never older than the last, on the version read.

use super::State;
use crate::model::*;
use crate::ports::*;

/// A cancellation set (with the sweeper's entry, first looked at at its end) or withdrawn.
fn write_cancellation(
    due: &mut std::collections::HashMap<
        String,
        (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    >,
    sub: &mut Subscription,
    w: &CancellationWrite,
) {
    match &w.cancellation {
        Some(c) => {
            due.insert(sub.id.clone(), (c.cancel_at, c.cancel_at));
        }
        None => {
            due.remove(&sub.id);
        }
    }
    sub.cancellation = w.cancellation.clone();
    sub.cancellation_changed_at = w.at;
}

impl State {
    pub(super) fn complete_checkout(&mut self, c: &CheckoutCompletion) -> Applied {
        let s = self;
        if s.events_seen.contains(&c.event_id) {
            return Applied::Duplicate;
        }
        let open = s.checkouts.get(&c.checkout_id).is_some_and(|k| k.status == CheckoutStatus::Open);
        let email_taken = c
            .new_customer
            .as_ref()
            .is_some_and(|n| s.customer_emails.contains_key(&(n.organization_id.clone(), n.email.clone())));
        // A restore needs the suspension still there, not past its end (whole seconds, as
        // the table keeps it), and the subscription still the buyer's.
        let restorable = c.restore.as_ref().is_none_or(|r| {
            s.suspensions.get(&r.from_subscription_id).is_some_and(|x| x.until.timestamp() > r.at.timestamp())
                && s.subscriptions
                    .get(&r.from_subscription_id)
                    .is_some_and(|o| o.customer_id == r.customer_id)
        });
        if !open || email_taken || !restorable {
            return Applied::Stale;
        }
        if let Some(r) = &c.restore {
            s.suspensions.remove(&r.from_subscription_id);
            if let Some(old) = s.subscriptions.get_mut(&r.from_subscription_id) {
                old.suspended_until = None;
                old.restored_into = Some(c.subscription.id.clone());
            }
            s.put_job(&r.job, r.at.timestamp());
        }
        s.events_seen.insert(c.event_id.clone());
        if let Some(k) = s.checkouts.get_mut(&c.checkout_id) {
            k.status = CheckoutStatus::Completed;
            k.subscription_id = Some(c.subscription.id.clone());
        }
        if let Some(n) = &c.new_customer {
            s.customer_emails.insert((n.organization_id.clone(), n.email.clone()), n.id.clone());
            s.customers.insert(n.id.clone(), n.clone());
        }
        s.provider_links.insert(c.subscription.provider_subscription_id.clone(), c.subscription.id.clone());
        s.subscriptions.insert(c.subscription.id.clone(), c.subscription.clone());
        s.audit.push(c.audit.clone());
        if let Some(i) = &c.invoice {
            s.record_invoice(&c.subscription.id, i);
        }
        Applied::Applied
    }

    pub(super) fn apply_billing_update(&mut self, u: &BillingUpdate) -> Applied {
        let s = self;
        if s.events_seen.contains(&u.event_id) {
            return Applied::Duplicate;
        }
        let Some(sub) = s.subscriptions.get_mut(&u.subscription_id) else {
            return Applied::Stale;
        };
        if sub.version != u.expected_version
            || sub.last_event_at > u.event_created
            || (u.require_no_change && sub.change_intent.is_some())
        {
            return Applied::Stale;
        }
        // An end needs the record still there (the sweeper may have ended it first).
        if u.suspension == SuspensionChange::End && !s.suspensions.contains_key(&u.subscription_id) {
            return Applied::Stale;
        }
        sub.status = u.status;
        sub.current_period_start = u.current_period_start;
        sub.current_period_end = u.current_period_end;
        sub.period_confirmed = u.period_confirmed;
        sub.provider_item_id = u.provider_item_id.clone();
        sub.last_event_at = u.event_created;
        sub.version += 1;
        if let Some(r) = &u.renewal {
            sub.seats = r.seats;
            sub.assign_cap = r.assign_cap;
            sub.interval = r.interval;
            sub.unit_amount = r.unit_amount;
            sub.scheduled_change = None;
        }
        match &u.suspension {
            SuspensionChange::None => {}
            SuspensionChange::Begin(x) => {
                sub.suspended_until = Some(x.until);
                s.suspensions.insert(x.subscription_id.clone(), x.clone());
            }
            SuspensionChange::End => {
                s.suspensions.remove(&u.subscription_id);
                sub.suspended_until = None;
            }
        }
        if let Some(w) = &u.cancellation {
            write_cancellation(&mut s.cancellations_due, sub, w);
        }
        match &u.dunning {
            Some(Some(d)) => {
                s.dunning_due.insert(u.subscription_id.clone(), d.access_until);
            }
            Some(None) => {
                s.dunning_due.remove(&u.subscription_id);
            }
            None => {}
        }
        if let Some(d) = &u.dunning {
            sub.dunning = d.clone();
        }
        if let Some(job) = &u.notice_job {
            s.put_job(job, u.event_created);
        }
        if let Some(job) = &u.seats_job {
            s.put_job(job, u.event_created);
        }
        s.events_seen.insert(u.event_id.clone());
        if let Some(a) = &u.audit {
            s.audit.push(a.clone());
        }
        if let Some(i) = &u.invoice {
            s.record_invoice(&u.subscription_id, i);
        }
        Applied::Applied
    }

    /// A change intent settled once, by its id (the table's condition on the intent).
    pub(super) fn settle_change(&mut self, st: &Settlement) -> bool {
        let s = self;
        let Some(sub) = s.subscriptions.get_mut(&st.subscription_id) else { return false };
        let ours = sub.change_intent.as_ref().is_some_and(|i| i.id == st.intent_id)
            || sub.pending_change.as_ref().is_some_and(|p| p.intent.id == st.intent_id);
        if !ours {
            return false;
        }
        let mut pending_until = None;
        match &st.outcome {
            SettleOutcome::Applied(t) => {
                if let Some(seats) = t.seats {
                    sub.seats = seats;
                }
                match t.assign_cap {
                    Some(AssignCap::To(cap)) => sub.assign_cap = cap,
                    Some(AssignCap::Seats) => sub.assign_cap = sub.seats,
                    None => {}
                }
                if let Some(i) = t.interval {
                    sub.interval = i;
                }
                if let Some(u) = t.unit_amount {
                    sub.unit_amount = u;
                }
                if let Some((start, end)) = t.period {
                    sub.current_period_start = start;
                    sub.current_period_end = end;
                }
                if let Some(sc) = &t.scheduled_change {
                    sub.scheduled_change = sc.clone();
                }
                if let Some(w) = &t.cancellation {
                    write_cancellation(&mut s.cancellations_due, sub, w);
                }
                sub.pending_change = None;
                if let Some(hold) = &st.reserve {
                    sub.seats_assigned += hold.seats;
                }
            }
            SettleOutcome::PaymentPending(p) => {
                sub.pending_change = Some(p.clone());
                pending_until = Some(p.expires_at.timestamp());
            }
            SettleOutcome::Dropped => {
                if let Some(cap) = st.previous_cap {
                    sub.assign_cap = cap;
                }
                sub.pending_change = None;
            }
        }
        sub.change_intent = None;
        sub.version += 1;
        match pending_until {
            Some(t) => s.intents.insert(st.subscription_id.clone(), t),
            None => s.intents.remove(&st.subscription_id),
        };
        if let (SettleOutcome::Applied(_), Some(hold)) = (&st.outcome, &st.reserve) {
            let key = (st.subscription_id.clone(), hold.reservation_id.clone());
            s.reservations.insert(key, (hold.seats, hold.created_at));
            s.grow_holds.insert(st.subscription_id.clone(), hold.reservation_id.clone());
        }
        if let Some(a) = &st.audit {
            s.audit.push(a.clone());
        }
        if let Some(i) = &st.invoice {
            s.record_invoice(&st.subscription_id, i);
        }
        true
    }

    /// One ledger entry per invoice id: a later write (an open invoice paid) replaces it.
    fn record_invoice(&mut self, subscription_id: &str, invoice: &BillingInvoice) {
        let ledger = self.ledger.entry(subscription_id.to_string()).or_default();
        ledger.retain(|i| i.id != invoice.id);
        ledger.push(invoice.clone());
    }
}
