//! Checks a form-encoded Stripe API request against Stripe's published OpenAPI description
//! (a pinned, trimmed copy kept beside this crate).
//!
//! The description is `spec-trimmed.json` (see README.md for where it comes from and what
//! was pruned). Each form pair is checked on its own: its bracketed key (`items[0][price]`,
//! `expand[]`, `metadata[k]`) is split into segments and walked down the request schema,
//! and the value is checked against the schema the walk ends on.

use serde_json::Value;
use std::sync::OnceLock;

/// One thing wrong with a request, named by its bracketed form parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub param: String,
    pub message: String,
}

const SPEC_TEXT: &str = include_str!("../spec-trimmed.json");

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| serde_json::from_str(SPEC_TEXT).expect("spec-trimmed.json is valid JSON"))
}

/// The pinned API version recorded in the trimmed description (`info.version`).
pub fn api_version() -> &'static str {
    spec()["info"]["version"].as_str().unwrap_or("")
}

/// Checks `form` (the request's form body for POST, its query for GET and DELETE, in order)
/// sent as `method` to `path` (a concrete path such as `/v1/subscriptions/sub_123`).
/// `Err` lists every parameter the description does not allow (unknown name, wrong type,
/// value outside an enum), and an unknown operation.
pub fn check_request(method: &str, path: &str, form: &[(String, String)]) -> Result<(), Vec<Violation>> {
    let (bare_path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut pairs: Vec<(String, String)> = form.to_vec();
    if let Some(q) = query {
        pairs.extend(parse_query(q));
    }

    let method_lc = method.to_ascii_lowercase();
    let Some(op) = find_operation(&method_lc, bare_path) else {
        return Err(vec![Violation {
            param: String::new(),
            message: format!(
                "no operation {} {} in the pinned Stripe description ({})",
                method.to_ascii_uppercase(),
                bare_path,
                api_version()
            ),
        }]);
    };
    if op.get("x-not-transcribed").and_then(Value::as_bool) == Some(true) {
        // The operation exists, but its parameters were not transcribed (see README).
        return Ok(());
    }

    let root = operation_schema(op);
    let mut violations = Vec::new();
    for (key, value) in &pairs {
        match split_key(key) {
            Ok(segs) => {
                if let Err(v) = check_value(&root, &segs, 0, value, key) {
                    violations.push(v);
                }
            }
            Err(message) => violations.push(Violation { param: key.clone(), message }),
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

/// The operation object for a method and concrete path; among matching templates the one
/// with the fewest `{placeholders}` wins (`/v1/invoices/create_preview` before
/// `/v1/invoices/{invoice}`).
fn find_operation(method: &str, path: &str) -> Option<&'static Value> {
    let paths = spec()["paths"].as_object()?;
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut best: Option<(usize, &'static Value)> = None;
    for (template, item) in paths {
        let tsegs: Vec<&str> = template.split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut placeholders = 0;
        let matches = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                placeholders += 1;
                !s.is_empty()
            } else {
                t == s
            }
        });
        if !matches {
            continue;
        }
        if let Some(op) = item.get(method) {
            if best.is_none_or(|(n, _)| placeholders < n) {
                best = Some((placeholders, op));
            }
        }
    }
    best.map(|(_, op)| op)
}

/// One object schema for the whole request: the form body's properties plus the query
/// parameters (GET and DELETE carry theirs in the query).
fn operation_schema(op: &Value) -> Value {
    let body = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    let mut props = body["properties"].as_object().cloned().unwrap_or_default();
    if let Some(params) = op["parameters"].as_array() {
        for p in params {
            if p["in"] == "query" {
                if let Some(name) = p["name"].as_str() {
                    props.insert(name.to_string(), p["schema"].clone());
                }
            }
        }
    }
    serde_json::json!({ "type": "object", "properties": props, "additionalProperties": false })
}

/// `items[0][price_data][recurring]` → `["items", "0", "price_data", "recurring"]`;
/// `expand[]` → `["expand", ""]`.
fn split_key(key: &str) -> Result<Vec<String>, String> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err("parameter name is empty".into());
    }
    let mut segs = vec![head.to_string()];
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return Err(format!("malformed brackets in `{key}`"));
        };
        let Some(close) = inner.find(']') else {
            return Err(format!("unclosed bracket in `{key}`"));
        };
        segs.push(inner[..close].to_string());
        rest = &inner[close + 1..];
    }
    Ok(segs)
}

/// The bracketed name of `segs[..=upto]`.
fn key_prefix(segs: &[String], upto: usize) -> String {
    let mut s = segs[0].clone();
    for seg in &segs[1..=upto] {
        s.push('[');
        s.push_str(seg);
        s.push(']');
    }
    s
}

fn branches(schema: &Value) -> Option<&Vec<Value>> {
    schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array)
}

fn type_of(schema: &Value) -> Option<&str> {
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        return Some(t);
    }
    if schema.get("properties").is_some() || schema.get("additionalProperties").is_some() {
        return Some("object");
    }
    None
}

/// Walks `segs[pos..]` down `schema` and checks `value` where the walk ends.
fn check_value(schema: &Value, segs: &[String], pos: usize, value: &str, key: &str) -> Result<(), Violation> {
    if schema.get("x-trimmed").and_then(Value::as_bool) == Some(true) {
        return Ok(()); // subtree pruned from the trimmed copy: not checked
    }
    if let Some(bs) = branches(schema) {
        let mut errors = Vec::new();
        for b in bs {
            match check_value(b, segs, pos, value, key) {
                Ok(()) => return Ok(()),
                Err(v) => errors.push(v),
            }
        }
        // Prefer a branch that got past this level (it names a deeper parameter).
        let deepest = errors.iter().max_by_key(|v| v.param.len()).cloned();
        let mut v = deepest.unwrap_or_else(|| Violation { param: key.to_string(), message: String::new() });
        if errors.iter().all(|e| e.param == v.param) && errors.len() > 1 {
            let msgs: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            v.message = format!("matches no allowed form: {}", msgs.join("; or "));
        }
        return Err(v);
    }

    if pos == segs.len() {
        return check_scalar(schema, value, key);
    }
    let seg = &segs[pos];
    match type_of(schema) {
        Some("array") => {
            if !(seg.is_empty() || seg.chars().all(|c| c.is_ascii_digit())) {
                return Err(Violation {
                    param: key_prefix(segs, pos),
                    message: format!(
                        "`{}` is an array; index it with a number or `[]`",
                        key_prefix(segs, pos - 1)
                    ),
                });
            }
            check_value(&schema["items"], segs, pos + 1, value, key)
        }
        Some("object") => {
            if let Some(sub) = schema.get("properties").and_then(|p| p.get(seg.as_str())) {
                return check_value(sub, segs, pos + 1, value, key);
            }
            match schema.get("additionalProperties") {
                Some(ap) if ap.is_object() => check_value(ap, segs, pos + 1, value, key),
                _ => Err(Violation {
                    param: key_prefix(segs, pos),
                    message: "unknown parameter (Stripe answers `parameter_unknown`)".into(),
                }),
            }
        }
        other => Err(Violation {
            param: key_prefix(segs, pos),
            message: format!(
                "`{}` is a {}, not an object or array",
                key_prefix(segs, pos - 1),
                other.unwrap_or("scalar")
            ),
        }),
    }
}

fn check_scalar(schema: &Value, value: &str, key: &str) -> Result<(), Violation> {
    let fail = |message: String| Err(Violation { param: key.to_string(), message });
    match type_of(schema) {
        Some("string") => {
            if let Some(values) = schema.get("enum").and_then(Value::as_array) {
                let bypass = schema.get("x-stripeBypassValidation").and_then(Value::as_bool) == Some(true);
                if !bypass && !values.iter().any(|e| e.as_str() == Some(value)) {
                    let allowed: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                    return fail(format!("`{value}` is not one of {allowed:?}"));
                }
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
                let n = value.chars().count() as u64;
                if n > max {
                    return fail(format!("{n} characters, more than maxLength {max}"));
                }
            }
            Ok(())
        }
        Some("integer") => match value.parse::<i64>() {
            Ok(_) => Ok(()),
            Err(_) => fail(format!("`{value}` is not an integer")),
        },
        Some("number") => match value.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(()),
            _ => fail(format!("`{value}` is not a number")),
        },
        Some("boolean") => match value {
            "true" | "false" => Ok(()),
            _ => fail(format!("`{value}` is not a boolean (`true` or `false`)")),
        },
        Some("array") => fail("an array: send it as `key[0]=…` or `key[]=…`".into()),
        Some("object") => fail("an object: send its fields as `key[field]=…`".into()),
        _ => Ok(()),
    }
}

/// Splits and percent-decodes a query string (`a%5B%5D=b&c=d`).
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
