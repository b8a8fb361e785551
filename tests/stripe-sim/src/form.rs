//! Stripe's form encoding: bracketed keys (`items[0][quantity]=3`, `expand[]=latest_invoice`)
//! decoded into a tree.
//!
//! Docs: https://docs.stripe.com/api (Requests are form-encoded; nested parameters use brackets)
//! and https://docs.stripe.com/expand (`expand[]=...`).

use serde_json::{Map, Value};

/// A decoded request body (or query string): a JSON object tree where lists are objects whose
/// keys are indexes (`[]` is given the next free index).
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub root: Map<String, Value>,
}

fn split_key(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (head, rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    out.push(head.to_string());
    let mut rest = rest;
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(end) => {
                out.push(stripped[..end].to_string());
                rest = &stripped[end + 1..];
            }
            None => {
                out.push(stripped.to_string());
                break;
            }
        }
    }
    out
}

fn insert(map: &mut Map<String, Value>, segs: &[String], value: &str) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    let key = if first.is_empty() { map.len().to_string() } else { first.clone() };
    if rest.is_empty() {
        map.insert(key, Value::String(value.to_string()));
        return;
    }
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(inner) = entry {
        insert(inner, rest, value);
    }
}

impl Params {
    pub fn from_pairs(pairs: &[(String, String)]) -> Params {
        let mut root = Map::new();
        for (k, v) in pairs {
            insert(&mut root, &split_key(k), v);
        }
        Params { root }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.root.get(key).and_then(Value::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.root.contains_key(key)
    }

    pub fn obj(&self, key: &str) -> Option<&Map<String, Value>> {
        self.root.get(key).and_then(Value::as_object)
    }

    /// The elements of a list parameter, in index order.
    pub fn list(&self, key: &str) -> Vec<&Value> {
        list_of(self.root.get(key))
    }

    /// `expand[]` values.
    pub fn expand(&self) -> Vec<String> {
        self.list("expand").into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
    }

    /// `metadata[k]=v` as a JSON object of strings (empty values delete keys at merge time).
    pub fn metadata(&self) -> Option<Map<String, Value>> {
        self.obj("metadata").cloned()
    }
}

/// Elements of a list-shaped node (object keyed by index), sorted by index.
pub fn list_of(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Object(m)) => {
            let mut items: Vec<(i64, &Value)> =
                m.iter().map(|(k, v)| (k.parse::<i64>().unwrap_or(i64::MAX), v)).collect();
            items.sort_by_key(|(i, _)| *i);
            items.into_iter().map(|(_, v)| v).collect()
        }
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    }
}

/// A string field of a tree node.
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Merge `metadata` as Stripe does: set keys, an empty value removes the key.
pub fn merge_metadata(target: &mut Map<String, Value>, update: &Map<String, Value>) {
    for (k, v) in update {
        match v.as_str() {
            Some("") => {
                target.remove(k);
            }
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_appended() {
        let pairs = vec![
            ("items[0][quantity]".to_string(), "3".to_string()),
            ("items[0][id]".to_string(), "si_1".to_string()),
            ("expand[]".to_string(), "latest_invoice".to_string()),
            ("expand[]".to_string(), "customer".to_string()),
            ("metadata[a]".to_string(), "b".to_string()),
        ];
        let p = Params::from_pairs(&pairs);
        let items = p.list("items");
        assert_eq!(items.len(), 1);
        assert_eq!(field(items[0], "quantity"), Some("3"));
        assert_eq!(p.expand(), vec!["latest_invoice", "customer"]);
        assert_eq!(p.metadata().map(|m| m.len()), Some(1));
    }
}
