//! Test helpers: an HTTP client for the simulator and a webhook receiver that checks signatures.

#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Response;
use serde_json::Value;
use sha2::Sha256;
use stripe_sim::StripeSim;

pub const SECRET: &str = "whsec_test_secret";

#[derive(Clone, Default)]
pub struct Receiver {
    pub events: Arc<Mutex<Vec<Value>>>,
    pub answer: Arc<AtomicU16>,
    pub url: String,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let rx = Receiver {
            events: Arc::default(),
            answer: Arc::new(AtomicU16::new(200)),
            url: format!("http://127.0.0.1:{port}/webhook"),
        };
        let r2 = rx.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let r = r2.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let r = r.clone();
                            async move {
                                let sig = req
                                    .headers()
                                    .get("stripe-signature")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("")
                                    .to_string();
                                let body =
                                    req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                                let text = String::from_utf8_lossy(&body).to_string();
                                assert!(verify(&sig, &text), "bad signature {sig}");
                                let status = r.answer.load(Ordering::SeqCst);
                                if (200..300).contains(&status) {
                                    let v: Value = serde_json::from_str(&text).expect("json");
                                    r.events.lock().unwrap().push(v);
                                }
                                let resp =
                                    Response::builder().status(status).body(Full::new(Bytes::new())).unwrap();
                                Ok::<_, Infallible>(resp)
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        rx
    }

    pub fn types(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().map(|e| e["type"].as_str().unwrap_or("").to_string()).collect()
    }

    pub fn of_type(&self, t: &str) -> Vec<Value> {
        self.events.lock().unwrap().iter().filter(|e| e["type"] == t).cloned().collect()
    }
}

fn verify(header: &str, body: &str) -> bool {
    let mut t = "";
    let mut v1 = "";
    for part in header.split(',') {
        if let Some(x) = part.strip_prefix("t=") {
            t = x;
        }
        if let Some(x) = part.strip_prefix("v1=") {
            v1 = x;
        }
    }
    let Ok(ts) = t.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes()) == v1
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub fn new(sim: &StripeSim) -> Client {
        Client { http: reqwest::Client::new(), base: sim.base_url() }
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.post_key(path, form, None).await
    }

    pub async fn post_key(&self, path: &str, form: &[(&str, &str)], key: Option<&str>) -> (u16, Value) {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(StripeSim::SECRET_KEY)
            .header("Stripe-Version", "2025-03-31.basil")
            .form(form);
        if let Some(k) = key {
            rb = rb.header("Idempotency-Key", k);
        }
        let r = rb.send().await.expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.expect("json"))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(StripeSim::SECRET_KEY)
            .send()
            .await
            .expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.expect("json"))
    }

    pub async fn delete(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(StripeSim::SECRET_KEY)
            .header("Stripe-Version", "2025-03-31.basil")
            .form(form)
            .send()
            .await
            .expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.expect("json"))
    }

    /// A product with a monthly price of `amount`; returns (product, price).
    pub async fn price(&self, name: &str, amount: i64, interval: &str) -> (String, String) {
        let (_, p) = self.post("/v1/products", &[("name", name)]).await;
        let prod = p["id"].as_str().unwrap().to_string();
        let amount = amount.to_string();
        let (_, pr) = self
            .post(
                "/v1/prices",
                &[
                    ("product", &prod),
                    ("currency", "usd"),
                    ("unit_amount", &amount),
                    ("recurring[interval]", interval),
                ],
            )
            .await;
        (prod, pr["id"].as_str().unwrap().to_string())
    }

    /// A customer and a subscription of `qty` × `price` made through the API.
    pub async fn subscription(&self, price: &str, qty: i64) -> (String, Value) {
        let (_, c) = self.post("/v1/customers", &[("email", "a@example.com")]).await;
        let cus = c["id"].as_str().unwrap().to_string();
        let q = qty.to_string();
        let (s, sub) = self
            .post(
                "/v1/subscriptions",
                &[("customer", &cus), ("items[0][price]", price), ("items[0][quantity]", &q)],
            )
            .await;
        assert_eq!(s, 200, "{sub}");
        (cus, sub)
    }
}
