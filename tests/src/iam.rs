//! The IAM actions AWS requests need, and a check of the requests moto recorded for a local
//! stack against each function's policy in the SAM template. moto checks no IAM, so without
//! this a store call added to a function without its action would first fail in AWS.
//!
//! A function names itself in each request's user agent (`app/<function>`, see
//! `adapters::aws::sdk_config`); requests without a name are the tests' and the local stack's
//! own, and are not checked.

use base64::Engine;
use serde_json::Value;
use std::collections::BTreeSet;

/// The IAM actions one request needs. DynamoDB authorizes a transaction by the actions of its
/// parts (there is no `TransactWriteItems` action) and SQS a batch send by `SendMessage`.
pub fn actions(operation: &str, body: &Value) -> Vec<String> {
    match operation {
        "dynamodb:TransactWriteItems" => body["TransactItems"]
            .as_array()
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p.as_object()?.keys().next().cloned())
                    .map(|part| match part.as_str() {
                        "ConditionCheck" => "dynamodb:ConditionCheckItem".to_string(),
                        other => format!("dynamodb:{other}Item"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "dynamodb:TransactGetItems" => vec!["dynamodb:GetItem".into()],
        "sqs:SendMessageBatch" => vec!["sqs:SendMessage".into()],
        "sqs:DeleteMessageBatch" => vec!["sqs:DeleteMessage".into()],
        other => vec![other.to_string()],
    }
}

/// Calls the local stack makes that the deployed stack never does: `(function, action, why)`.
pub const LOCAL_ONLY: [(&str, &str, &str); 1] = [(
    "portal-web",
    "secretsmanager:GetSecretValue",
    "the test payment page signs its events with the webhook secret, with the offline gateway only; \
     the template deploys Stripe mode, where this function holds no secret",
)];

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct Check {
    /// Requests of a named function that were checked.
    pub checked: usize,
    /// `function: action` pairs its policy does not allow.
    pub denied: BTreeSet<String>,
    /// `function: action` pairs seen, allowed or not.
    pub seen: BTreeSet<String>,
}

/// Checks every request of a recording (moto's recorder: one JSON object per line with
/// `headers`, `method`, `url`, `body`, `body_encoded`) against the template's policies.
pub fn check(recording: &str, template: &str) -> Check {
    let mut out = Check::default();
    let mut policies: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for line in recording.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
        let header = |name: &str| {
            entry["headers"].as_object().and_then(|h| {
                h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
            })
        };
        let Some(function) = ["x-amz-user-agent", "user-agent"]
            .iter()
            .filter_map(|h| header(h))
            .flat_map(str::split_whitespace)
            .find_map(|token| token.strip_prefix("app/"))
            .map(str::to_string)
        else {
            continue;
        };
        let body = request_body(&entry);
        let operation = operation(header("x-amz-target"), &entry);
        let allowed = policies.entry(function.clone()).or_insert_with(|| {
            crate::template::allowed_actions(&crate::template::function_block(template, &function))
        });
        out.checked += 1;
        // DynamoDB: on the table, or on the index a Query names.
        let on = match body["IndexName"].as_str() {
            Some(index) => format!("index/{index}"),
            None => "table".to_string(),
        };
        for action in actions(&operation, &body) {
            let action = if action.starts_with("dynamodb:") { format!("{action}@{on}") } else { action };
            let pair = format!("{function}: {action}");
            let local_only = LOCAL_ONLY.iter().any(|(f, a, _)| *f == function && *a == action.as_str());
            if !allowed.contains(&action) && !local_only {
                out.denied.insert(pair.clone());
            }
            out.seen.insert(pair);
        }
    }
    out
}

fn request_body(entry: &Value) -> Value {
    let raw = entry["body"].as_str().unwrap_or_default();
    let bytes = match entry["body_encoded"].as_bool() {
        Some(true) => base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_default(),
        _ => raw.as_bytes().to_vec(),
    };
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// `dynamodb:GetItem`, `sqs:SendMessage`, `ses:SendEmail`, … from the JSON protocols' target
/// header, else from the REST path (SES v2, S3).
fn operation(target: Option<&str>, entry: &Value) -> String {
    if let Some((prefix, op)) = target.and_then(|t| t.split_once('.')) {
        let service = match prefix {
            p if p.starts_with("DynamoDB") => "dynamodb",
            p if p.starts_with("AmazonSQS") => "sqs",
            p => p,
        };
        return format!("{}:{op}", service.to_ascii_lowercase());
    }
    let url = entry["url"].as_str().unwrap_or_default();
    let path = url.split("://").nth(1).and_then(|rest| rest.find('/').map(|i| &rest[i..])).unwrap_or("/");
    let method = entry["method"].as_str().unwrap_or_default();
    match (method, path) {
        (_, p) if p.starts_with("/v2/email/outbound-emails") => "ses:SendEmail".into(),
        ("GET" | "HEAD", _) => "s3:GetObject".into(),
        ("PUT", _) => "s3:PutObject".into(),
        ("DELETE", _) => "s3:DeleteObject".into(),
        (m, p) => format!("unknown:{m} {p}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(function: Option<&str>, target: &str, body: Value) -> String {
        let ua = match function {
            Some(f) => format!("aws-sdk-rust/1.3 os/linux lang/rust/1.90 app/{f}"),
            None => "aws-sdk-rust/1.3 os/linux lang/rust/1.90".to_string(),
        };
        json!({
            "headers": {"X-Amz-Target": target, "X-Amz-User-Agent": ua},
            "method": "POST",
            "url": "http://127.0.0.1:5000/",
            "body": base64::engine::general_purpose::STANDARD.encode(body.to_string()),
            "body_encoded": true,
        })
        .to_string()
    }

    #[test]
    fn requests_are_checked_against_their_functions_statements_by_table_and_index() {
        let template = crate::template::read();
        let recording = [
            line(Some("assign"), "DynamoDB_20120810.GetItem", json!({"TableName": "t"})),
            line(
                Some("claim"),
                "DynamoDB_20120810.TransactWriteItems",
                json!({"TransactItems": [{"Put": {}}, {"Update": {}}, {"ConditionCheck": {}}]}),
            ),
            line(Some("portal"), "DynamoDB_20120810.Query", json!({"IndexName": "GSI1"})),
            line(Some("claim"), "DynamoDB_20120810.Query", json!({"IndexName": "GSI2"})),
            line(Some("license-keys"), "AmazonSQS.SendMessageBatch", json!({})),
            line(Some("claim"), "DynamoDB_20120810.Scan", json!({})),
            // The tests' own requests carry no function's name.
            line(None, "DynamoDB_20120810.Scan", json!({})),
        ]
        .join("\n");
        let check = check(&recording, &template);
        assert_eq!(check.checked, 6);
        assert!(check.seen.contains("claim: dynamodb:ConditionCheckItem@table"), "{:?}", check.seen);
        assert!(check.seen.contains("portal: dynamodb:Query@index/GSI1"), "{:?}", check.seen);
        assert_eq!(
            check.denied.iter().map(String::as_str).collect::<Vec<_>>(),
            vec![
                "claim: dynamodb:Query@index/GSI2",
                "claim: dynamodb:Scan@table",
                "license-keys: sqs:SendMessage"
            ],
        );
    }
}
