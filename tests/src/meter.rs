//! A meter on the AWS clients, for the bench and the cost test: it counts every request by
//! service and operation (retries included), asks DynamoDB for `ReturnConsumedCapacity=TOTAL`
//! on every request and sums what comes back, and computes the read and write request units
//! from the items' sizes by DynamoDB's documented rounding (reads per 4 KB, ×½ eventually
//! consistent, ×2 in a transaction; writes per 1 KB, ×2 in a transaction; one more write per
//! global secondary index the item is in). moto answers constants (0.5 for any GetItem, 1 for
//! any write or Query, nothing for transactions), so the computed units are the ones priced;
//! the reported sum is kept beside them.
//!
//! Sizes: an item's size is its attribute names' and values' bytes. Writes that name an item
//! without carrying it (updates, deletes, condition checks) use the size of that item as the
//! meter last saw it (read, written or returned); an item never seen counts as 1 KB.
//!
//! It also times each SDK call from its start (before the input is serialized) to its end
//! (after the answer is deserialized, retries included): a flow's handler time over the sum
//! is the handler's overhead over the bare SDK calls it makes, measured in the same run.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// What a flow used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// `dynamodb:GetItem`, `sqs:SendMessage`, `ses:SendEmail`, … → requests.
    pub requests: BTreeMap<String, u32>,
    pub read_units: f64,
    pub write_units: f64,
    /// The sum of `ConsumedCapacity` the emulator reported.
    pub reported_units: f64,
    /// Every request, in order.
    pub calls: Vec<Call>,
    /// The time spent inside the SDK's calls, end to end.
    pub sdk_time: std::time::Duration,
}

/// One request as sent, and how long it took on the wire (signing to deserialized answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `service:Operation`.
    pub key: String,
    pub body: Value,
    pub took: std::time::Duration,
}

impl Usage {
    pub fn count(&self, service: &str) -> u32 {
        self.requests.iter().filter(|(k, _)| k.starts_with(&format!("{service}:"))).map(|(_, v)| v).sum()
    }

    /// `1×GetItem + 1×TransactWriteItems` for one service.
    pub fn which(&self, service: &str) -> String {
        self.requests
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&format!("{service}:")).map(|op| format!("{v}×{op}")))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

#[derive(Default)]
struct State {
    usage: Usage,
    /// (PK, SK) → the item as last seen.
    items: HashMap<(String, String), Map<String, Value>>,
    paused: bool,
}

/// Register one `Meter` (cloned) as an interceptor on every client to meter.
#[derive(Clone, Default)]
pub struct Meter(Arc<Mutex<State>>);

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meter")
    }
}

impl Meter {
    /// What was used since the last take; the meter starts again from zero.
    pub fn take(&self) -> Usage {
        self.0.lock().map(|mut s| std::mem::take(&mut s.usage)).unwrap_or_default()
    }

    /// Requests made while paused are not counted (set-up work); item sizes are still learned.
    pub fn pause(&self, paused: bool) {
        if let Ok(mut s) = self.0.lock() {
            s.paused = paused;
        }
    }
}

#[derive(Debug, Clone)]
struct Sent {
    key: String,
    body: Value,
    at: std::time::Instant,
}

impl Storable for Sent {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct Started(std::time::Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// `dynamodb:GetItem` from the target header (JSON protocols) or the path (SES v2 is REST).
fn operation(target: Option<&str>, path: &str) -> String {
    match target.and_then(|t| t.split_once('.')) {
        Some((prefix, op)) if prefix.starts_with("DynamoDB") => format!("dynamodb:{op}"),
        Some((prefix, op)) if prefix.starts_with("AmazonSQS") => format!("sqs:{op}"),
        Some((prefix, op)) => format!("{prefix}:{op}"),
        None if path.contains("/outbound-emails") => "ses:SendEmail".into(),
        None => format!("http:{path}"),
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "meter"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(std::time::Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Started(at)) = cfg.load::<Started>().cloned() else { return Ok(()) };
        if let Ok(mut s) = self.0.lock() {
            if !s.paused {
                s.usage.sdk_time += at.elapsed();
            }
        }
        Ok(())
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request_mut();
        let key = operation(req.headers().get("x-amz-target"), req.uri());
        let mut body: Value =
            req.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        if key.starts_with("dynamodb:") {
            if let Some(m) = body.as_object_mut() {
                m.insert("ReturnConsumedCapacity".into(), Value::String("TOTAL".into()));
                let bytes = serde_json::to_vec(&body)?;
                req.headers_mut().insert("content-length", bytes.len().to_string());
                *req.body_mut() = SdkBody::from(bytes);
            }
        }
        cfg.interceptor_state().store_put(Sent { key, body, at: std::time::Instant::now() });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(sent) = cfg.load::<Sent>().cloned() else { return Ok(()) };
        let answer: Value =
            ctx.response().body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        let committed = ctx.response().status().is_success();
        if let Ok(mut s) = self.0.lock() {
            let (read, write) = match sent.key.strip_prefix("dynamodb:") {
                Some(op) => units(&mut s.items, op, &sent.body, &answer, committed),
                None => (0.0, 0.0),
            };
            if s.paused {
                return Ok(());
            }
            *s.usage.requests.entry(sent.key.clone()).or_default() += 1;
            s.usage.read_units += read;
            s.usage.write_units += write;
            s.usage.reported_units += reported(&answer);
            s.usage.calls.push(Call { key: sent.key, body: sent.body, took: sent.at.elapsed() });
        }
        Ok(())
    }
}

fn reported(answer: &Value) -> f64 {
    let one = |c: &Value| c.get("CapacityUnits").and_then(Value::as_f64).unwrap_or(0.0);
    match answer.get("ConsumedCapacity") {
        Some(Value::Array(all)) => all.iter().map(one).sum(),
        Some(c) => one(c),
        None => 0.0,
    }
}

const READ_UNIT: usize = 4096;
const WRITE_UNIT: usize = 1024;
const INDEX_KEYS: [&str; 2] = ["GSI1PK", "GSI2PK"];

/// DynamoDB's size of one attribute value (in the wire format, `{"S": "…"}`).
fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|m| m.iter().next()) else { return 0 };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => s.len(),
        // Numbers: about one byte per two significant digits, plus one.
        ("N", Value::String(n)) => {
            n.trim_start_matches('-').trim_matches('0').replace('.', "").len().div_ceil(2) + 1
        }
        ("B", Value::String(b)) => b.len() * 3 / 4,
        ("BOOL", _) | ("NULL", _) => 1,
        ("M", Value::Object(m)) => 3 + m.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum::<usize>(),
        ("L", Value::Array(l)) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        ("SS", Value::Array(l)) | ("NS", Value::Array(l)) | ("BS", Value::Array(l)) => {
            l.iter().map(|x| x.as_str().map_or(0, str::len)).sum()
        }
        _ => 0,
    }
}

pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn key_of(m: &Map<String, Value>) -> Option<(String, String)> {
    let s = |k: &str| m.get(k)?.get("S")?.as_str().map(str::to_string);
    Some((s("PK")?, s("SK")?))
}

fn per(size: usize, unit: usize) -> f64 {
    size.div_ceil(unit).max(1) as f64
}

/// One more write per index the item is (or is put) in.
fn index_writes(item: Option<&Map<String, Value>>, expression: &str, size: usize) -> f64 {
    INDEX_KEYS
        .iter()
        .filter(|k| item.is_some_and(|i| i.contains_key(**k)) || expression.contains(**k))
        .count() as f64
        * per(size, WRITE_UNIT)
}

type Items = HashMap<(String, String), Map<String, Value>>;

fn known_size(items: &Items, key: Option<&Map<String, Value>>) -> (usize, Option<Map<String, Value>>) {
    match key.and_then(key_of).and_then(|k| items.get(&k)) {
        Some(item) => (item_size(item), Some(item.clone())),
        None => (WRITE_UNIT, None),
    }
}

fn learn(items: &mut Items, item: &Map<String, Value>) {
    if let Some(k) = key_of(item) {
        items.insert(k, item.clone());
    }
}

/// (read units, write units) of one request.
fn units(items: &mut Items, op: &str, req: &Value, answer: &Value, committed: bool) -> (f64, f64) {
    let obj = |v: &Value, k: &str| v.get(k).and_then(Value::as_object).cloned();
    let consistency =
        |r: &Value| if r.get("ConsistentRead").and_then(Value::as_bool) == Some(true) { 1.0 } else { 0.5 };
    match op {
        "GetItem" => {
            let item = obj(answer, "Item");
            if let Some(i) = &item {
                learn(items, i);
            }
            (per(item.as_ref().map_or(0, item_size), READ_UNIT) * consistency(req), 0.0)
        }
        "Query" | "Scan" => {
            let found: Vec<Map<String, Value>> = answer
                .get("Items")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(|i| i.as_object().cloned()).collect())
                .unwrap_or_default();
            let mut size: usize = found.iter().map(item_size).sum();
            // Items a filter dropped were read too: scale by what was scanned.
            let scanned = answer.get("ScannedCount").and_then(Value::as_u64).unwrap_or(0) as usize;
            if !found.is_empty() && scanned > found.len() {
                size = size * scanned / found.len();
            }
            for i in &found {
                learn(items, i);
            }
            (per(size, READ_UNIT) * consistency(req), 0.0)
        }
        "PutItem" => {
            let Some(new) = obj(req, "Item") else { return (0.0, 0.0) };
            let (old, _) = known_size(items, Some(&new));
            let size = item_size(&new).max(if key_of(&new).is_some_and(|k| items.contains_key(&k)) {
                old
            } else {
                0
            });
            let w = per(size, WRITE_UNIT) + index_writes(Some(&new), "", size);
            if committed {
                learn(items, &new);
            }
            (0.0, w)
        }
        "UpdateItem" | "DeleteItem" => {
            let (size, old) = known_size(items, obj(req, "Key").as_ref());
            let expression = req.get("UpdateExpression").and_then(Value::as_str).unwrap_or("");
            let w = per(size, WRITE_UNIT) + index_writes(old.as_ref(), expression, size);
            if committed && op == "DeleteItem" {
                if let Some(k) = obj(req, "Key").as_ref().and_then(key_of) {
                    items.remove(&k);
                }
            }
            (0.0, w)
        }
        "TransactWriteItems" => {
            let mut read = 0.0;
            let mut write = 0.0;
            let all = req.get("TransactItems").and_then(Value::as_array).cloned().unwrap_or_default();
            for entry in &all {
                let Some((kind, action)) = entry.as_object().and_then(|m| m.iter().next()) else { continue };
                match kind.as_str() {
                    "Put" => {
                        let new = obj(action, "Item").unwrap_or_default();
                        let existing = key_of(&new).and_then(|k| items.get(&k)).map(item_size).unwrap_or(0);
                        let size = item_size(&new).max(existing);
                        write += 2.0 * per(size, WRITE_UNIT) + index_writes(Some(&new), "", size);
                    }
                    "ConditionCheck" => {
                        let (size, _) = known_size(items, obj(action, "Key").as_ref());
                        read += 2.0 * per(size, READ_UNIT);
                    }
                    _ => {
                        let (size, old) = known_size(items, obj(action, "Key").as_ref());
                        let expression = action.get("UpdateExpression").and_then(Value::as_str).unwrap_or("");
                        write += 2.0 * per(size, WRITE_UNIT) + index_writes(old.as_ref(), expression, size);
                    }
                }
            }
            if committed {
                for entry in &all {
                    if let Some(put) = entry.get("Put").and_then(|p| obj(p, "Item")) {
                        learn(items, &put);
                    }
                    if let Some(k) = entry.get("Delete").and_then(|d| obj(d, "Key")).as_ref().and_then(key_of)
                    {
                        items.remove(&k);
                    }
                }
            }
            (read, write)
        }
        "TransactGetItems" => {
            let found = answer.get("Responses").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut read = 0.0;
            for r in &found {
                let item = obj(r, "Item");
                read += 2.0 * per(item.as_ref().map_or(0, item_size), READ_UNIT);
                if let Some(i) = &item {
                    learn(items, i);
                }
            }
            (read, 0.0)
        }
        "BatchWriteItem" => {
            let mut write = 0.0;
            if let Some(tables) = req.get("RequestItems").and_then(Value::as_object) {
                for writes in tables.values().filter_map(Value::as_array) {
                    for w in writes {
                        if let Some(item) = w.get("PutRequest").and_then(|p| obj(p, "Item")) {
                            let size = item_size(&item);
                            write += per(size, WRITE_UNIT) + index_writes(Some(&item), "", size);
                            learn(items, &item);
                        }
                    }
                }
            }
            (0.0, write)
        }
        _ => (0.0, 0.0),
    }
}
