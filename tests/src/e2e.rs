//! What the end-to-end tests share: a stack of their own, and the steps of the story.

use crate::api::{Api, Reply};
use local_stack::moto::{link_param, sent_emails};
use local_stack::stripe_events;
use local_stack::watch::{Options, Stack, WARM_UP_PROBES};
use serde_json::{json, Value};

/// The bytes the merchant uploads as the file benefit.
pub const FILE_BYTES: &[u8] = b"PK\x03\x04 the installer";

pub struct Ctx {
    pub stack: Stack,
    pub api: Api,
    pub db: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub log: std::path::PathBuf,
    /// Every AWS request moto served this stack (see [`crate::iam`]).
    pub aws_requests: std::path::PathBuf,
    /// Declared last: the stack stops before the next test's starts.
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

static STACK_TURN: std::sync::OnceLock<std::sync::Arc<tokio::sync::Mutex<()>>> = std::sync::OnceLock::new();

impl Ctx {
    /// A whole stack of its own (emulator, functions, bridge), warmed up.
    pub async fn start(name: &str) -> Ctx {
        Ctx::start_with(name, vec![]).await
    }

    /// A stack whose functions also get `extra_env` (e.g. Stripe mode against a simulator).
    pub async fn start_with(name: &str, mut extra_env: Vec<(String, String)>) -> Ctx {
        // One stack at a time in a test process: on two cores, two stacks and their browsers
        // run no faster side by side than one after the other (e2e_browser: 46 s together,
        // 43.5 s in turn), and each then has the machine to itself.
        let turn = STACK_TURN
            .get_or_init(|| std::sync::Arc::new(tokio::sync::Mutex::new(())))
            .clone()
            .lock_owned()
            .await;
        // Every request of a test comes from 127.0.0.1: the anonymous per-address limit is
        // lifted unless a test sets it.
        if !extra_env.iter().any(|(k, _)| k == "ANONYMOUS_REQUESTS_PER_MINUTE") {
            extra_env.push(("ANONYMOUS_REQUESTS_PER_MINUTE".into(), "1000000".into()));
        }
        let target = local_stack::root().join("target/e2e");
        let log = target.join(format!("{name}.log"));
        let aws_requests = target.join(format!("{name}.aws-requests.jsonl"));
        let stack = Stack::start(Options {
            prefix: local_stack::resources::unique_prefix(&format!("e2e-{name}")),
            state_dir: target,
            log_file: Some(log.clone()),
            extra_env,
            reload_on_change: false,
            record_aws_requests: Some(aws_requests.clone()),
        })
        .await
        .expect("stack");
        let started = std::time::Instant::now();
        stack.warm_up(WARM_UP_PROBES).await.expect("warm up");
        println!("stack up and warm in {:.1}s", started.elapsed().as_secs_f64());
        let sdk = local_stack::resources::sdk_config(&stack.aws_endpoint).await;
        Ctx {
            api: Api::new(&stack.api_url),
            db: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            stack,
            log,
            aws_requests,
            _turn: turn,
        }
    }

    /// None of `secrets` (keys, session tokens, claim tokens, sign-in codes) reached the log.
    pub fn assert_log_free_of(&self, secrets: &[&str]) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(!log.is_empty(), "the functions' log is captured");
        for secret in secrets {
            assert!(!log.contains(secret), "a secret reached the log; see {}", self.log.display());
        }
    }

    /// Every one-time code and claim token mailed so far.
    pub async fn mailed_secrets(&self) -> Vec<String> {
        let mails = sent_emails(&self.stack.aws_endpoint).await.expect("emails");
        mails
            .iter()
            .flat_map(|m| [link_param(&m.body, "code"), link_param(&m.body, "token")])
            .flatten()
            .collect()
    }

    /// No request of the run was answered with a 5xx (the functions log every status).
    /// Every AWS request a function sent this stack is allowed by that function's IAM policy
    /// in the SAM template (moto checks no IAM; a call without its action would first fail
    /// in AWS).
    pub fn assert_aws_requests_allowed(&self) {
        let recorded = std::fs::read_to_string(&self.aws_requests).unwrap_or_default();
        let check = crate::iam::check(&recorded, &crate::template::read());
        assert!(
            check.checked > 0,
            "no function's AWS request was recorded in {}",
            self.aws_requests.display()
        );
        assert!(
            check.denied.is_empty(),
            "AWS requests the template does not allow (see {}):\n{}",
            self.aws_requests.display(),
            check.denied.iter().cloned().collect::<Vec<_>>().join("\n")
        );
    }

    pub fn assert_no_5xx_logged(&self) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(!log.contains("\"status\":5"), "a request answered 5xx; see {}", self.log.display());
    }

    pub async fn items(&self) -> usize {
        crate::scan(&self.db, &self.stack.resources.table).await.len()
    }

    /// Every item's `PK|SK`, to say which item a step wrote when it should have written none.
    pub async fn item_keys(&self) -> std::collections::BTreeSet<String> {
        let key = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
                   k: &str| {
            i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
        };
        crate::scan(&self.db, &self.stack.resources.table)
            .await
            .iter()
            .map(|i| format!("{}|{}", key(i, "PK"), key(i, "SK")))
            .collect()
    }

    /// The `name=` parameter of the link in the newest email to `email` that has one. Mail
    /// goes out from the worker, after the request that caused it: wait for it a while.
    async fn mailed_link_param(&self, email: &str, name: &str) -> String {
        self.mailed_link_param_other_than(email, name, None).await
    }

    async fn mailed_link_param_other_than(&self, email: &str, name: &str, previous: Option<&str>) -> String {
        let needle = format!("{name}=");
        for _ in 0..150 {
            let mails = sent_emails(&self.stack.aws_endpoint).await.expect("emails");
            let body = mails
                .iter()
                .rev()
                .find(|m| m.to.iter().any(|t| t == email) && m.body.contains(&needle))
                .map(|m| m.body.clone());
            if let Some(value) = body.and_then(|b| link_param(&b, name)) {
                if previous != Some(value.as_str()) {
                    return value;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("no email to {email} with a {name} within 30 s")
    }

    /// The one-time code of the newest sign-in link mailed to `email`.
    pub async fn sign_in_code_for(&self, email: &str) -> String {
        self.mailed_link_param(email, "code").await
    }

    /// The claim token of the newest invitation mailed to `email`.
    pub async fn invitation_token(&self, email: &str) -> String {
        self.mailed_link_param(email, "token").await
    }

    /// The claim token of an invitation to `email` newer than `previous` (after a resend).
    pub async fn invitation_token_after(&self, email: &str, previous: &str) -> String {
        self.mailed_link_param_other_than(email, "token", Some(previous)).await
    }

    pub async fn event(&self, event: &Value) -> Reply {
        let now = chrono::Utc::now().timestamp();
        let (status, body) =
            stripe_events::post_signed(&self.stack.api_url, &self.stack.webhook_secret, event, now)
                .await
                .expect("post event");
        Reply {
            status,
            body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            headers: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Merchant {
    pub key: String,
    pub product_id: String,
    pub file_benefit_id: String,
}

pub async fn merchant(c: &Ctx, slug: &str) -> Merchant {
    let admin = c.stack.admin_token.as_str();
    let org = c
        .api
        .post(
            "/v1/organizations",
            Some(admin),
            json!({"name": "Acme Inc", "slug": slug, "email": format!("ops@{slug}.example")}),
        )
        .await;
    assert_eq!(org.status, 201, "{:?}", org.body);
    let key = org.str("/api_key");
    assert!(key.starts_with("sk_"));

    let file = c
        .api
        .post("/v1/benefits", Some(&key), json!({"type": "file_download", "name": "Installer", "filename": "setup.zip", "content_type": "application/zip"}))
        .await;
    assert_eq!(file.status, 201, "{:?}", file.body);
    // The presigned PUT really uploads to the bucket.
    let upload = reqwest::Client::new()
        .put(file.str("/upload_url"))
        .header("content-type", "application/zip")
        .body(FILE_BYTES.to_vec())
        .send()
        .await
        .expect("upload");
    assert!(upload.status().is_success(), "upload answered {}", upload.status());

    let license = c
        .api
        .post("/v1/benefits", Some(&key), json!({"type": "license_key", "name": "License", "prefix": "ACME"}))
        .await;
    assert_eq!(license.status, 201, "{:?}", license.body);
    let product = c
        .api
        .post(
            "/v1/products",
            Some(&key),
            json!({
                "name": "Acme Pro", "description": "Per-seat plan", "currency": "usd",
                "prices": {"month": {"unit_amount": 1000}, "year": {"unit_amount": 10000}},
                "min_seats": 1, "max_seats": 100,
                "benefit_ids": [file.str("/id"), license.str("/id")]
            }),
        )
        .await;
    assert_eq!(product.status, 201, "{:?}", product.body);
    Merchant { key, product_id: product.str("/id"), file_benefit_id: file.str("/id") }
}

pub fn checkout_body(product_id: &str, seats: i64, email: &str) -> Value {
    json!({
        "product_id": product_id, "interval": "month", "seats": seats, "customer_email": email,
        "success_url": "https://corp.example/welcome", "cancel_url": "https://corp.example/pricing"
    })
}

/// Buys seats and completes the checkout with a signed event; returns (subscription id, Stripe sub id).
pub async fn buy(c: &Ctx, m: &Merchant, seats: i64, email: &str) -> (String, String) {
    let chk = c.api.post("/v1/checkouts", None, checkout_body(&m.product_id, seats, email)).await;
    assert_eq!(chk.status, 201, "{:?}", chk.body);
    assert_eq!(chk.body["amount_due"], json!(1000 * seats));
    let stripe_sub = format!("sub_test_{}", uuid::Uuid::new_v4().simple());
    let done = c
        .event(&stripe_events::checkout_completed(
            &chk.str("/id"),
            &stripe_sub,
            chrono::Utc::now().timestamp(),
        ))
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    let read = c.api.get(&format!("/v1/checkouts/{}", chk.str("/id")), None).await;
    assert_eq!(read.str("/status"), "completed");
    (read.str("/subscription_id"), stripe_sub)
}

pub async fn session(c: &Ctx, slug: &str, email: &str) -> String {
    let r = c.api.post("/v1/portal/sign-in", None, json!({"organization_slug": slug, "email": email})).await;
    assert_eq!(r.status, 202);
    let code = c.sign_in_code_for(email).await;
    let s = c.api.post("/v1/portal/sessions", None, json!({"code": code})).await;
    assert_eq!(s.status, 201, "{:?}", s.body);
    s.str("/token")
}
