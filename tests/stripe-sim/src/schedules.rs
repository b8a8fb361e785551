//! Subscription schedules.
//!
//! Docs:
//! - https://docs.stripe.com/billing/subscriptions/subscription-schedules (phases, `iterations`
//!   and `duration`, end_behavior release | cancel, "you can't change phases in the past" (and
//!   "past phases can be omitted", docs.stripe.com/api/subscription_schedules/update), the
//!   current phase's `start_date` must be passed unchanged when you update)
//! - https://docs.stripe.com/api/subscription_schedules/create (`from_subscription`: one phase
//!   built from the subscription's current period and items; no other parameter with it)
//! - https://docs.stripe.com/api/subscription_schedules/update
//! - https://docs.stripe.com/api/subscription_schedules/release and …/cancel
//! - https://docs.stripe.com/billing/subscriptions/subscription-schedules#managing (a subscription
//!   managed by a schedule refuses direct changes to its cancelation behaviour)

use serde_json::{json, Value};

use crate::clock::add_intervals;
use crate::error::{ApiError, ApiResult};
use crate::form::{field, list_of, Params};
use crate::model::{new_id, Phase, Schedule, State};

impl Schedule {
    /// The next phase boundary (a later phase's start, or the last phase's end) after `cursor`.
    pub fn next_boundary(&self, _period_start: i64) -> Option<i64> {
        if self.status != "active" {
            return None;
        }
        let mut bounds: Vec<i64> = self.phases.iter().skip(1).map(|p| p.start_date).collect();
        if let Some(last) = self.phases.last() {
            bounds.push(last.end_date);
        }
        bounds.into_iter().filter(|t| *t > self.cursor).min()
    }
}

fn parse_ts(v: Option<&str>, now: i64, param: &str) -> ApiResult<Option<i64>> {
    match v {
        None => Ok(None),
        Some("now") => Ok(Some(now)),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            ApiError::invalid_code("parameter_invalid_integer", "Invalid timestamp", Some(param))
        }),
    }
}

impl State {
    pub fn schedule_value(&self, id: &str) -> Value {
        self.schedules.get(id).map(|s| self.schedule_json(s)).unwrap_or(Value::Null)
    }

    pub fn create_schedule(&mut self, p: &Params) -> ApiResult<Value> {
        let Some(sub_id) = p.str("from_subscription") else {
            return Err(ApiError::invalid(
                "The simulator only creates schedules with `from_subscription`.",
                Some("from_subscription"),
            ));
        };
        for k in ["phases", "start_date", "end_behavior", "customer"] {
            if p.has(k) {
                return Err(ApiError::invalid(
                    format!("You cannot set `{k}` if `from_subscription` is set."),
                    Some(k),
                ));
            }
        }
        let sub = self
            .subs
            .get(sub_id)
            .cloned()
            .ok_or_else(|| ApiError::missing("subscription", sub_id, "from_subscription"))?;
        if let Some(existing) = &sub.schedule {
            return Err(ApiError::invalid(
                format!(
                    "You cannot migrate a subscription that is already attached to a schedule: `{existing}`."
                ),
                Some("from_subscription"),
            ));
        }
        if sub.status == "canceled" {
            return Err(ApiError::invalid(
                "You cannot create a schedule from a canceled subscription.",
                Some("from_subscription"),
            ));
        }
        let (ps, pe) = sub.period();
        let now = self.now();
        let sched = Schedule {
            id: new_id("sub_sched"),
            customer: sub.customer.clone(),
            subscription: Some(sub.id.clone()),
            released_subscription: None,
            status: "active".to_string(),
            end_behavior: "release".to_string(),
            phases: vec![Phase {
                start_date: ps,
                end_date: pe,
                items: sub.items.iter().map(|i| (i.price.clone(), i.quantity)).collect(),
                proration_behavior: "create_prorations".to_string(),
            }],
            created: now,
            released_at: None,
            canceled_at: None,
            metadata: p.metadata().unwrap_or_default(),
            cursor: now,
        };
        let id = sched.id.clone();
        self.schedules.insert(id.clone(), sched);
        let v = self.schedule_value(&id);
        self.emit("subscription_schedule.created", v.clone(), None);
        let before = self.sub_value(sub_id);
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.schedule = Some(id.clone());
        }
        self.emit_sub_updated(sub_id, &before);
        Ok(v)
    }

    fn parse_phases(&mut self, sched: &Schedule, nodes: &[&Value]) -> ApiResult<Vec<Phase>> {
        let now = self.now();
        let past: Vec<&Phase> = sched.phases.iter().filter(|p| p.end_date <= now).collect();
        let current = sched.current_phase(now).cloned();
        let mut out: Vec<Phase> = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            let pp = |k: &str| format!("phases[{n}][{k}]");
            let mut items = Vec::new();
            for (m, it) in list_of(node.get("items")).into_iter().enumerate() {
                let price = field(it, "price")
                    .ok_or_else(|| ApiError::required(&format!("phases[{n}][items][{m}][price]")))?;
                if !self.prices.contains_key(price) {
                    return Err(ApiError::missing(
                        "price",
                        price,
                        &format!("phases[{n}][items][{m}][price]"),
                    ));
                }
                let q = match field(it, "quantity") {
                    Some(q) => q.parse::<i64>().map_err(|_| {
                        ApiError::invalid_code(
                            "parameter_invalid_integer",
                            "Invalid integer",
                            Some(&format!("phases[{n}][items][{m}][quantity]")),
                        )
                    })?,
                    None => 1,
                };
                items.push((price.to_string(), q));
            }
            if items.is_empty() {
                return Err(ApiError::required(&pp("items")));
            }
            let prev_end = out.last().map(|p| p.end_date);
            let given_start = parse_ts(field(node, "start_date"), now, &pp("start_date"))?;
            let start = match (n, given_start) {
                (_, Some(s)) => s,
                (0, None) => current
                    .as_ref()
                    .map(|c| c.start_date)
                    .or_else(|| past.first().map(|p| p.start_date))
                    .unwrap_or(now),
                (_, None) => prev_end.unwrap_or(now),
            };
            if let Some(pe) = prev_end {
                if start != pe {
                    return Err(ApiError::invalid(
                        format!("Phase {n} must start when phase {} ends ({pe}).", n - 1),
                        Some(&pp("start_date")),
                    ));
                }
            }
            let (interval, count) = self
                .prices
                .get(&items[0].0)
                .map(|p| (p.interval.clone(), p.interval_count))
                .unwrap_or(("month".to_string(), 1));
            let end = if let Some(e) = parse_ts(field(node, "end_date"), now, &pp("end_date"))? {
                e
            } else if let Some(it) = field(node, "iterations") {
                let k: i64 = it.parse().map_err(|_| {
                    ApiError::invalid_code(
                        "parameter_invalid_integer",
                        "Invalid integer",
                        Some(&pp("iterations")),
                    )
                })?;
                add_intervals(start, &interval, count * k.max(1))
            } else if let Some(d) = node.get("duration") {
                let iv = field(d, "interval").unwrap_or("month");
                let c: i64 = field(d, "interval_count").and_then(|c| c.parse().ok()).unwrap_or(1);
                add_intervals(start, iv, c)
            } else {
                add_intervals(start, &interval, count)
            };
            if end <= start {
                return Err(ApiError::invalid(
                    "The phase's end_date must be after its start_date.",
                    Some(&pp("end_date")),
                ));
            }
            let proration_behavior =
                field(node, "proration_behavior").unwrap_or("create_prorations").to_string();
            out.push(Phase { start_date: start, end_date: end, items, proration_behavior });
        }
        // "Note that past phases can be omitted" (API reference, update a schedule): the phases
        // sent may start with the current phase, or with any past one; those before it are kept.
        let first_start = out.first().map(|p| p.start_date);
        let omitted = if current.as_ref().map(|c| c.start_date) == first_start && first_start.is_some() {
            past.len()
        } else {
            past.iter().position(|p| Some(p.start_date) == first_start).unwrap_or(0)
        };
        for (i, old) in past.iter().skip(omitted).enumerate() {
            let same = out.get(i).is_some_and(|p| {
                p.start_date == old.start_date && p.end_date == old.end_date && p.items == old.items
            });
            if !same {
                return Err(ApiError::invalid(
                    "You can not modify phases that have already ended.",
                    Some(&format!("phases[{i}]")),
                ));
            }
        }
        if let Some(cur) = &current {
            let i = past.len() - omitted;
            match out.get(i) {
                Some(p) if p.start_date != cur.start_date => {
                    return Err(ApiError::invalid(
                        "You can not modify the start date of the current phase.",
                        Some(&format!("phases[{i}][start_date]")),
                    ))
                }
                None => {
                    return Err(ApiError::invalid("You can not remove the current phase.", Some("phases")))
                }
                _ => {}
            }
        }
        let mut phases: Vec<Phase> = past.iter().take(omitted).map(|p| (*p).clone()).collect();
        phases.extend(out);
        Ok(phases)
    }

    pub fn update_schedule(&mut self, id: &str, p: &Params) -> ApiResult<Value> {
        let sched = self
            .schedules
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::missing("subscription_schedule", id, "schedule"))?;
        if sched.status != "active" && sched.status != "not_started" {
            return Err(ApiError::invalid(
                format!(
                    "You cannot update a subscription schedule that is currently in the `{}` status.",
                    sched.status
                ),
                None,
            ));
        }
        let mut next = sched.clone();
        if let Some(eb) = p.str("end_behavior") {
            if !matches!(eb, "release" | "cancel") {
                return Err(ApiError::invalid_code(
                    "parameter_invalid_string",
                    "Invalid end_behavior: must be one of release or cancel",
                    Some("end_behavior"),
                ));
            }
            next.end_behavior = eb.to_string();
        }
        if let Some(m) = p.metadata() {
            crate::form::merge_metadata(&mut next.metadata, &m);
        }
        let nodes = p.list("phases");
        if !nodes.is_empty() {
            next.phases = self.parse_phases(&sched, &nodes)?;
        }
        let now = self.now();
        let old_cur = sched.current_phase(now).map(|c| c.items.clone());
        let new_cur = next.current_phase(now).map(|c| c.items.clone());
        self.schedules.insert(id.to_string(), next.clone());
        // A change to the current phase's items applies to the subscription now.
        if let (Some(sub_id), Some(new_items)) = (next.subscription.clone(), new_cur) {
            if old_cur.as_ref() != Some(&new_items) {
                let behavior = p.str("proration_behavior").unwrap_or("create_prorations").to_string();
                self.apply_phase_items(&sub_id, &new_items, &behavior)?;
            }
        }
        let v = self.schedule_value(id);
        self.emit("subscription_schedule.updated", v.clone(), None);
        Ok(v)
    }

    fn apply_phase_items(&mut self, sub_id: &str, items: &[(String, i64)], behavior: &str) -> ApiResult<()> {
        let sub = self.sub_ref(sub_id)?.clone();
        let mut nodes: Vec<Value> = Vec::new();
        for (n, (price, q)) in items.iter().enumerate() {
            match sub.items.iter().find(|i| &i.price == price).or_else(|| sub.items.get(n)) {
                Some(i) => nodes.push(json!({"id": i.id, "price": price, "quantity": q.to_string()})),
                None => nodes.push(json!({"price": price, "quantity": q.to_string()})),
            }
        }
        let plan = self.plan_update(sub_id, &nodes, behavior, None, None, "")?;
        let before = self.sub_value(sub_id);
        self.apply_plan(sub_id, &plan);
        self.emit_sub_updated(sub_id, &before);
        if plan.invoice_now {
            let now = self.event_now();
            let inv = self.create_invoice(sub_id, plan.lines.clone(), "subscription_update", (now, now));
            if let Some(s) = self.subs.get_mut(sub_id) {
                s.latest_invoice = Some(inv.clone());
            }
            self.attempt_payment(&inv, None);
        }
        Ok(())
    }

    pub fn release_schedule(&mut self, id: &str) -> ApiResult<Value> {
        let sched = self
            .schedules
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::missing("subscription_schedule", id, "schedule"))?;
        if sched.status != "active" && sched.status != "not_started" {
            return Err(ApiError::invalid(
                format!("You cannot release a subscription schedule that is currently in the `{}` status. It must be in one of the following statuses: `not_started`, `active`.", sched.status),
                None,
            ));
        }
        let now = self.event_now();
        if let Some(s) = self.schedules.get_mut(id) {
            s.status = "released".to_string();
            s.released_at = Some(now);
            s.released_subscription = s.subscription.take();
        }
        let v = self.schedule_value(id);
        self.emit("subscription_schedule.released", v.clone(), None);
        if let Some(sub_id) = sched.subscription {
            let before = self.sub_value(&sub_id);
            if let Some(s) = self.subs.get_mut(&sub_id) {
                s.schedule = None;
            }
            self.emit_sub_updated(&sub_id, &before);
        }
        Ok(v)
    }

    pub fn cancel_schedule(&mut self, id: &str) -> ApiResult<Value> {
        let sched = self
            .schedules
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::missing("subscription_schedule", id, "schedule"))?;
        if sched.status != "active" && sched.status != "not_started" {
            return Err(ApiError::invalid(
                format!(
                    "You cannot cancel a subscription schedule that is currently in the `{}` status.",
                    sched.status
                ),
                None,
            ));
        }
        let now = self.event_now();
        if let Some(s) = self.schedules.get_mut(id) {
            s.status = "canceled".to_string();
            s.canceled_at = Some(now);
        }
        if let Some(sub_id) = &sched.subscription {
            self.cancel_subscription_now(sub_id);
        }
        let v = self.schedule_value(id);
        self.emit("subscription_schedule.canceled", v.clone(), None);
        Ok(v)
    }

    pub fn cancel_subscription_now(&mut self, sub_id: &str) {
        let now = self.event_now();
        if let Some(pu) = self.subs.get(sub_id).and_then(|s| s.pending_update.clone()) {
            self.void_invoice(&pu.invoice);
        }
        if let Some(s) = self.subs.get_mut(sub_id) {
            s.status = "canceled".to_string();
            s.canceled_at = Some(now);
            s.ended_at = Some(now);
            s.pending_update = None;
        }
        let v = self.sub_value(sub_id);
        self.emit("customer.subscription.deleted", v, None);
        let customer = self.subs.get(sub_id).map(|s| s.customer.clone()).unwrap_or_default();
        self.stop_collection(&customer);
    }

    /// After the last phase: release or cancel as `end_behavior` says.
    pub fn end_schedule(&mut self, id: &str) {
        let Some(sched) = self.schedules.get(id).cloned() else {
            return;
        };
        if sched.end_behavior == "cancel" {
            let _ = self.cancel_schedule(id);
        } else {
            let _ = self.release_schedule(id);
        }
    }

    /// Marks `t` as processed for the schedule of `sub_id`.
    pub fn schedule_cursor(&mut self, sub_id: &str, t: i64) {
        let sched = self.subs.get(sub_id).and_then(|s| s.schedule.clone());
        if let Some(s) = sched.and_then(|x| self.schedules.get_mut(&x)) {
            s.cursor = t;
        }
    }
}
