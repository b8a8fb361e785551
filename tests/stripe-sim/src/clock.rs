//! The simulator's clock (real time plus an offset, like a test clock) and what happens when it
//! moves: pending updates expiring, schedule phases starting, periods renewing.
//!
//! Docs:
//! - https://docs.stripe.com/billing/testing/test-clocks (advancing time runs renewals and sends
//!   their events in order)
//! - https://docs.stripe.com/billing/subscriptions/billing-cycle (monthly anchors keep the day of
//!   month, clamped to the month's last day: an anchor on the 31st bills on the 30th in April, …)
//! - https://docs.stripe.com/billing/subscriptions/pending-updates-reference#expiration
//! - https://docs.stripe.com/billing/subscriptions/subscription-schedules (phase transitions,
//!   `end_behavior`)
//! - https://docs.stripe.com/billing/subscriptions/trials (the end of a trial starts a new
//!   billing cycle and bills it; see trials.rs) and
//!   https://docs.stripe.com/api/subscriptions/object#subscription_object-status (trialing →
//!   active when the trial is over; past_due when that payment fails)
//! - https://docs.stripe.com/billing/revenue-recovery/smart-retries (declined invoices are retried
//!   when the clock reaches their `next_payment_attempt`: see retries.rs)

use chrono::{Datelike, NaiveDate, Timelike};
use serde_json::{json, Value};

use crate::model::State;

/// `anchor` moved by `months` calendar months, keeping the day (clamped) and time of day.
pub fn add_months(anchor: i64, months: i64) -> i64 {
    let Some(dt) = chrono::DateTime::from_timestamp(anchor, 0) else {
        return anchor;
    };
    let total = dt.year() as i64 * 12 + dt.month0() as i64 + months;
    let (y, m0) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u32);
    let mut day = dt.day();
    let date = loop {
        if let Some(d) = NaiveDate::from_ymd_opt(y, m0 + 1, day) {
            break d;
        }
        if day <= 28 {
            return anchor;
        }
        day -= 1;
    };
    date.and_hms_opt(dt.hour(), dt.minute(), dt.second()).map(|n| n.and_utc().timestamp()).unwrap_or(anchor)
}

fn step(anchor: i64, interval: &str, count: i64, k: i64) -> i64 {
    match interval {
        "year" => add_months(anchor, 12 * count * k),
        "week" => anchor + 7 * 86_400 * count * k,
        "day" => anchor + 86_400 * count * k,
        _ => add_months(anchor, count * k),
    }
}

/// The first period boundary of a cycle anchored at `anchor` that lies after `after`.
pub fn period_end_after(anchor: i64, interval: &str, count: i64, after: i64) -> i64 {
    let mut k = 1;
    loop {
        let t = step(anchor, interval, count.max(1), k);
        if t > after || k > 100_000 {
            return t;
        }
        k += 1;
    }
}

/// `start` plus `n` intervals (used for schedule phase lengths).
pub fn add_intervals(start: i64, interval: &str, count: i64) -> i64 {
    step(start, interval, count, 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    PendingExpiry,
    Phase,
    TrialWillEnd,
    Retry,
    Renewal,
    IncompleteExpiry,
}

impl State {
    fn next_due(&self, until: i64) -> Option<(i64, Due, String)> {
        let mut best: Option<(i64, Due, String)> = None;
        let mut consider = |t: i64, d: Due, id: &str| {
            if t <= until && best.as_ref().is_none_or(|b| (t, d) < (b.0, b.1)) {
                best = Some((t, d, id.to_string()));
            }
        };
        // Automatic retries of declined invoices (retries.rs).
        for id in &self.invoice_order {
            if let Some(t) = self.invoices.get(id).and_then(|i| i.retry_at()) {
                consider(t, Due::Retry, id);
            }
        }
        for id in &self.sub_order {
            let Some(s) = self.subs.get(id) else { continue };
            if matches!(s.status.as_str(), "canceled" | "incomplete_expired") {
                continue;
            }
            if let Some(pu) = &s.pending_update {
                consider(pu.expires_at, Due::PendingExpiry, id);
            }
            if let Some(t) = self.trial_warning_due(id) {
                consider(t, Due::TrialWillEnd, id);
            }
            if s.status == "incomplete" {
                // An incomplete subscription expires 23 hours after it was created.
                consider(s.created + 23 * 3600, Due::IncompleteExpiry, id);
            } else {
                consider(s.period().1, Due::Renewal, id);
            }
            if let Some(sched) = s.schedule.as_ref().and_then(|x| self.schedules.get(x)) {
                if let Some(t) = sched.next_boundary(s.period().0) {
                    consider(t, Due::Phase, id);
                }
            }
        }
        best
    }

    /// Moves the clock forward by `secs`, processing everything due on the way, in order.
    pub fn advance(&mut self, secs: i64) {
        let target = self.now() + secs.max(0);
        while let Some((t, due, sub_id)) = self.next_due(target) {
            self.event_time = Some(t);
            match due {
                Due::PendingExpiry => self.discard_pending_update(&sub_id, true),
                Due::Phase => self.phase_transition(&sub_id, t),
                Due::TrialWillEnd => self.trial_will_end(&sub_id),
                Due::Retry => self.retry_invoice(&sub_id),
                Due::Renewal => self.renew(&sub_id),
                Due::IncompleteExpiry => self.expire_incomplete(&sub_id),
            }
        }
        self.event_time = None;
        self.offset += secs.max(0);
    }

    /// The end of the current period: cancel at period end, or a new period and its invoice. At
    /// the end of a trial the subscription becomes active and the cycle is anchored there.
    pub(crate) fn renew(&mut self, sub_id: &str) {
        let Some(sub) = self.subs.get(sub_id).cloned() else {
            return;
        };
        let before = self.sub_value(sub_id);
        let (old_start, old_end) = sub.period();
        if sub.cancel_at_period_end {
            if let Some(s) = self.subs.get_mut(sub_id) {
                s.status = "canceled".to_string();
                s.canceled_at = Some(old_end);
                s.ended_at = Some(old_end);
            }
            let v = self.sub_value(sub_id);
            self.emit("customer.subscription.deleted", v, None);
            self.stop_collection(&sub.customer);
            return;
        }
        let (interval, count) = sub
            .items
            .first()
            .and_then(|i| self.prices.get(&i.price))
            .map(|p| (p.interval.clone(), p.interval_count))
            .unwrap_or(("month".to_string(), 1));
        let trial_over = sub.status == "trialing";
        let anchor = if trial_over { old_end } else { sub.billing_cycle_anchor };
        let new_end = period_end_after(anchor, &interval, count, old_end);
        let mut pending = Vec::new();
        if let Some(s) = self.subs.get_mut(sub_id) {
            for it in s.items.iter_mut() {
                it.period_start = old_end;
                it.period_end = new_end;
            }
            pending = std::mem::take(&mut s.pending_lines);
            if trial_over {
                s.status = "active".to_string();
                s.billing_cycle_anchor = old_end;
            }
        }
        self.emit_sub_updated(sub_id, &before);
        let mut lines = pending;
        let items = self.subs.get(sub_id).map(|s| s.items.clone()).unwrap_or_default();
        for it in &items {
            lines.push(self.full_line(it, old_end, new_end));
        }
        // An unpaid subscription's invoices "stay in a draft state" (retries.rs).
        let unpaid = sub.status == "unpaid";
        let inv = self.make_invoice(sub_id, lines, "subscription_cycle", (old_start, old_end), !unpaid);
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.latest_invoice = Some(inv.clone());
        }
        if !unpaid {
            self.collect_subscription_invoice(sub_id, &inv);
        }
    }

    /// Applies the schedule phase starting at `t` (or ends the schedule after its last phase).
    fn phase_transition(&mut self, sub_id: &str, t: i64) {
        let Some(sched_id) = self.subs.get(sub_id).and_then(|s| s.schedule.clone()) else {
            return;
        };
        let Some(sched) = self.schedules.get(&sched_id).cloned() else {
            return;
        };
        self.schedule_cursor(sub_id, t);
        match sched.phases.iter().find(|p| p.start_date == t) {
            Some(phase) => {
                self.start_phase(sub_id, phase, t);
                let v = self.schedule_value(&sched_id);
                self.emit("subscription_schedule.updated", v, None);
            }
            None => self.end_schedule(&sched_id),
        }
    }

    fn start_phase(&mut self, sub_id: &str, phase: &crate::model::Phase, t: i64) {
        let Some(sub) = self.subs.get(sub_id).cloned() else {
            return;
        };
        let before = self.sub_value(sub_id);
        let (ps, pe) = sub.period();
        let mut nodes: Vec<Value> = Vec::new();
        let mut kept: Vec<&str> = Vec::new();
        for (n, (price, qty)) in phase.items.iter().enumerate() {
            let same = sub.items.iter().find(|i| &i.price == price && !kept.contains(&i.id.as_str()));
            let old = same.or_else(|| {
                sub.items
                    .get(n)
                    .filter(|i| phase.items.len() == sub.items.len() && !kept.contains(&i.id.as_str()))
            });
            match old {
                Some(i) => {
                    kept.push(&i.id);
                    nodes.push(json!({"id": i.id, "price": price, "quantity": qty.to_string()}));
                }
                None => nodes.push(json!({"price": price, "quantity": qty.to_string()})),
            }
        }
        for i in &sub.items {
            if !kept.contains(&i.id.as_str()) {
                nodes.push(json!({"id": i.id, "deleted": "true"}));
            }
        }
        let at_renewal = t >= pe;
        let behavior = if at_renewal { "none" } else { phase.proration_behavior.as_str() };
        let Ok(mut plan) = self.plan_update(sub_id, &nodes, behavior, Some(t.min(pe)), Some("unchanged"), "")
        else {
            return;
        };
        if at_renewal {
            // The renewal at `t` bills the new items; a new interval is anchored at `t`.
            for it in plan.items.iter_mut() {
                it.period_start = ps;
                it.period_end = pe;
            }
            plan.lines.clear();
            plan.invoice_now = false;
            plan.new_anchor = plan.new_anchor.map(|_| t);
        }
        self.apply_plan(sub_id, &plan);
        self.emit_sub_updated(sub_id, &before);
        if plan.invoice_now {
            let inv = self.create_invoice(sub_id, plan.lines.clone(), "subscription_update", (t, t));
            if let Some(s) = self.subs.get_mut(sub_id) {
                s.latest_invoice = Some(inv.clone());
            }
            self.collect_subscription_invoice(sub_id, &inv);
        }
    }

    fn expire_incomplete(&mut self, sub_id: &str) {
        let before = self.sub_value(sub_id);
        if let Some(inv) = self.subs.get(sub_id).and_then(|s| s.latest_invoice.clone()) {
            self.void_invoice(&inv);
        }
        let now = self.event_now();
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.status = "incomplete_expired".to_string();
            s.ended_at = Some(now);
        }
        self.emit_sub_updated(sub_id, &before);
    }
}
