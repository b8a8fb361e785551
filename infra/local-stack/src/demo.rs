//! `local-stack demo`: the whole story against a running `make dev` stack, printed as a person
//! would follow it.

use crate::moto::{link_param, sent_emails};
use crate::stripe_events;
use crate::BoxError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

struct Demo {
    api: String,
    aws: String,
    http: reqwest::Client,
    step: usize,
}

impl Demo {
    fn say(&mut self, what: &str) {
        self.step += 1;
        println!("\n{:>2}. {what}", self.step);
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, BoxError> {
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(m, format!("{}{path}", self.api));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        println!("    {method} {path} → {}", status.as_u16());
        if !status.is_success() {
            return Err(format!("{method} {path} answered {status}: {text}").into());
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The link parameter of the newest mail to `to`; invitations go out from the worker a
    /// moment after the request, so this waits for one (up to 30 s).
    async fn mail_param(&self, to: &str, name: &str) -> Result<String, BoxError> {
        for _ in 0..150 {
            let mails = sent_emails(&self.aws).await?;
            let found = mails
                .iter()
                .rev()
                .find(|m| m.to.iter().any(|t| t == to) && m.body.contains(&format!("{name}=")));
            if let Some(mail) = found {
                println!("    ✉  to {to}: “{}”", mail.subject);
                return link_param(&mail.body, name).ok_or_else(|| "no link in the email".into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Err(format!("no email to {to} with a {name}").into())
    }
}

fn s(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn money(v: &Value) {
    for l in v["lines"].as_array().cloned().unwrap_or_default() {
        println!("       {:>9}  {}", l["amount"], l["description"].as_str().unwrap_or_default());
    }
    println!(
        "       {:>9}  due now ({}; next renewal {})",
        v["amount_due_now"], v["effective"], v["next_renewal_amount"]
    );
}

/// The merchant's catalogue: a file benefit (uploaded through its presigned URL), a license
/// key benefit, and the product "Acme Pro" with both. Returns the product.
async fn catalogue(d: &Demo, key: &str) -> Result<Value, BoxError> {
    let key = key.to_string();
    let file = d
        .call("POST", "/v1/benefits", Some(&key), Some(json!({"type": "file_download", "name": "Installer", "filename": "acme-setup.txt", "content_type": "text/plain"})))
        .await?;
    let put = d
        .http
        .put(s(&file, "/upload_url"))
        .header("content-type", "text/plain")
        .body("Acme Pro installer, version 1.0\n")
        .send()
        .await?;
    println!("    PUT <presigned S3 URL> → {}", put.status().as_u16());
    let license = d
        .call(
            "POST",
            "/v1/benefits",
            Some(&key),
            Some(json!({"type": "license_key", "name": "License key", "prefix": "ACME"})),
        )
        .await?;
    let product = d
        .call(
            "POST",
            "/v1/products",
            Some(&key),
            Some(json!({"name": "Acme Pro", "currency": "usd", "prices": {"month": {"unit_amount": 1000}, "year": {"unit_amount": 10000}},
                        "min_seats": 1, "max_seats": 50, "benefit_ids": [s(&file, "/id"), s(&license, "/id")]})),
        )
        .await?;
    Ok(product)
}

fn setting(env: &HashMap<String, String>, key: &str) -> Result<String, BoxError> {
    env.get(key).cloned().ok_or_else(|| format!("{key} missing in stack.env").into())
}

/// A demo against the stack of `env`, and the operator's admin token.
fn start(env: &HashMap<String, String>) -> Result<(Demo, String), BoxError> {
    let d = Demo {
        api: setting(env, "API_URL")?,
        aws: setting(env, "AWS_ENDPOINT_URL")?,
        http: reqwest::Client::new(),
        step: 0,
    };
    Ok((d, setting(env, "ADMIN_TOKEN")?))
}

pub async fn run(env: &HashMap<String, String>) -> Result<(), BoxError> {
    let (mut d, admin) = start(env)?;
    let webhook_secret = setting(env, "STRIPE_WEBHOOK_SECRET")?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let slug = format!("acme-{tag}");

    d.say("The operator creates the merchant's organization; its API key is shown once.");
    let org = d
        .call("POST", "/v1/organizations", Some(&admin), Some(json!({"name": "Acme Inc", "slug": slug})))
        .await?;
    let key = s(&org, "/api_key");

    d.say("The merchant creates two benefits — a file (uploaded through the presigned URL) and a license key — and a product.");
    let product = catalogue(&d, &key).await?;
    println!("    Acme Pro: 10.00 USD per seat per month, 100.00 per year");

    d.say("A company buys 5 seats (monthly).");
    let boss = format!("boss+{tag}@corp.example");
    let chk = d
        .call(
            "POST",
            "/v1/checkouts",
            None,
            Some(json!({"product_id": s(&product, "/id"), "interval": "month", "seats": 5, "customer_email": boss,
                        "success_url": "https://corp.example/welcome", "cancel_url": "https://corp.example/pricing"})),
        )
        .await?;
    println!("    amount due {} cents; pay at {}", chk["amount_due"], s(&chk, "/payment_url"));

    d.say("Payment completes: Stripe's signed checkout.session.completed arrives at the webhook.");
    let now = chrono::Utc::now().timestamp();
    let stripe_sub = format!("sub_demo_{tag}");
    let (status, _) = stripe_events::post_signed(
        &d.api,
        &webhook_secret,
        &stripe_events::checkout_completed(&s(&chk, "/id"), &stripe_sub, now),
        now,
    )
    .await?;
    println!("    POST /v1/webhooks/stripe → {status}");
    let done = d.call("GET", &format!("/v1/checkouts/{}", s(&chk, "/id")), None, None).await?;
    let sub = s(&done, "/subscription_id");
    println!("    checkout {} → subscription {sub}", s(&done, "/status"));

    d.say("The billing manager signs in with the emailed one-time link.");
    let code = d.mail_param(&boss, "code").await?;
    let session = d.call("POST", "/v1/portal/sessions", None, Some(json!({"code": code}))).await?;
    let bm = s(&session, "/token");

    d.say("The billing manager assigns 3 seats; each person gets an invitation.");
    let mut seat_ids = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let seat = d
            .call(
                "POST",
                &format!("/v1/subscriptions/{sub}/seats"),
                Some(&bm),
                Some(json!({"email": format!("{name}+{tag}@corp.example")})),
            )
            .await?;
        seat_ids.push(s(&seat, "/id"));
    }

    d.say("Ann reads her invitation, previews it, and claims her seat.");
    let ann = format!("ann+{tag}@corp.example");
    let token = d.mail_param(&ann, "token").await?;
    let preview = d.call("GET", &format!("/v1/claims/{token}"), None, None).await?;
    println!("    “{} invites you to {}”", s(&preview, "/organization_name"), s(&preview, "/product_name"));
    let claim = d.call("POST", "/v1/claims", None, Some(json!({"token": token}))).await?;
    let holder = s(&claim, "/session/token");

    d.say("Ann's benefits arrive (granted by the worker over SQS); she downloads the file.");
    let deadline = Instant::now() + Duration::from_secs(30);
    let grants = loop {
        let g = d.call("GET", "/v1/portal/benefits", Some(&holder), None).await?;
        let list = g["data"].as_array().cloned().unwrap_or_default();
        if list.len() == 2 && list.iter().all(|x| x["status"] == json!("granted")) {
            break list;
        }
        if Instant::now() > deadline {
            return Err("benefits did not arrive; is the bridge running (make dev)?".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for g in &grants {
        println!(
            "    {} {}: {}",
            g["benefit"]["type"],
            g["benefit"]["name"],
            g.get("license_key").and_then(Value::as_str).unwrap_or("(file)")
        );
    }
    let file_grant = grants
        .iter()
        .find(|g| g["benefit"]["type"] == json!("file_download"))
        .map(|g| s(g, "/id"))
        .unwrap_or_default();
    let dl =
        d.call("GET", &format!("/v1/portal/benefits/{file_grant}/download"), Some(&holder), None).await?;
    let bytes = d.http.get(s(&dl, "/url")).send().await?.text().await?;
    println!("    downloaded: {:?}", bytes.trim());

    d.say("The billing manager revokes Bob's seat; the seat is free again.");
    d.call("DELETE", &format!("/v1/subscriptions/{sub}/seats/{}", seat_ids[1]), Some(&bm), None).await?;
    let list = d.call("GET", &format!("/v1/subscriptions/{sub}/seats"), Some(&bm), None).await?;
    println!("    seats assigned {}, available {}", list["seats_assigned"], list["seats_available"]);

    d.say("Adding 2 seats: first the preview, then the same change applied.");
    let preview = d
        .call(
            "POST",
            &format!("/v1/subscriptions/{sub}/seat-changes/preview"),
            Some(&bm),
            Some(json!({"seats": 7})),
        )
        .await?;
    money(&preview);
    let applied = d
        .call("POST", &format!("/v1/subscriptions/{sub}/seat-changes"), Some(&bm), Some(json!({"seats": 7, "proration_date": chrono::DateTime::parse_from_rfc3339(&s(&preview, "/effective_at"))?.timestamp()})))
        .await?;
    println!(
        "    charged {} cents; now {} seats",
        applied["amount_due_now"], applied["subscription"]["seats"]
    );

    d.say("Switching to annual billing: preview, then apply.");
    let preview = d
        .call(
            "POST",
            &format!("/v1/subscriptions/{sub}/interval-change/preview"),
            Some(&bm),
            Some(json!({"interval": "year"})),
        )
        .await?;
    money(&preview);
    let applied = d
        .call("POST", &format!("/v1/subscriptions/{sub}/interval-change"), Some(&bm), Some(json!({"interval": "year", "proration_date": chrono::DateTime::parse_from_rfc3339(&s(&preview, "/effective_at"))?.timestamp()})))
        .await?;
    println!(
        "    charged {} cents; billed per {} until {}",
        applied["amount_due_now"],
        applied["subscription"]["interval"],
        s(&applied, "/subscription/current_period_end")
    );

    d.say("Scheduling fewer seats (4) for the next period: nothing due now.");
    let dec = d
        .call("POST", &format!("/v1/subscriptions/{sub}/seat-changes"), Some(&bm), Some(json!({"seats": 4})))
        .await?;
    money(&dec);
    println!("    scheduled: {}", dec["subscription"]["scheduled_change"]);

    d.say("The audit trail, oldest first.");
    let trail = d.call("GET", &format!("/v1/subscriptions/{sub}/events"), Some(&bm), None).await?;
    for e in trail["data"].as_array().cloned().unwrap_or_default() {
        println!("    {}  {:<40} {}", s(&e, "/created_at"), s(&e, "/type"), s(&e, "/actor"));
    }
    println!("\nThe story is done.");
    Ok(())
}

/// `local-stack seed`: a merchant with a product to buy, for clicking through the pages.
pub async fn seed(env: &HashMap<String, String>) -> Result<(), BoxError> {
    let (mut d, admin) = start(env)?;
    d.say("The operator creates the merchant's organization \"Acme Inc\".");
    // `acme` on a fresh stack; a second seed gets a slug of its own.
    let mut org = Value::Null;
    for slug in ["acme".to_string(), format!("acme-{}", &uuid::Uuid::new_v4().simple().to_string()[..6])] {
        let body = json!({"name": "Acme Inc", "slug": slug});
        match d.call("POST", "/v1/organizations", Some(&admin), Some(body)).await {
            Ok(o) => {
                org = o;
                break;
            }
            Err(e) if slug == "acme" => println!("    (acme is taken: {e})"),
            Err(e) => return Err(e),
        }
    }
    let key = s(&org, "/api_key");
    d.say("The merchant creates its benefits and the product Acme Pro.");
    let product = catalogue(&d, &key).await?;
    let api = &d.api;
    println!(
        "\nOpen these in a browser:\n\
         \x20 Buy seats (checkout):      {api}/checkout/{product}\n\
         \x20 Billing manager's portal:  {api}/portal?org={slug}\n\
         \x20 Merchant dashboard:        {api}/dashboard\n\
         \x20   its API key:             {key}\n\
         Sign-in codes and invitations arrive by email: `make emails` prints them.",
        product = s(&product, "/id"),
        slug = s(&org, "/organization/slug"),
    );
    Ok(())
}
