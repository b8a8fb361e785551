//! A small HTTP client of the API for the end-to-end tests.

use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body.pointer("/error/code").and_then(Value::as_str).unwrap_or("")
    }
    pub fn str(&self, pointer: &str) -> String {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{pointer} missing in {}", self.body))
            .to_string()
    }
    /// Asserts the API's error shape and returns the code.
    pub fn error_code(&self) -> String {
        let e = self.body.get("error").unwrap_or_else(|| panic!("no error object in {}", self.body));
        assert!(e.get("code").and_then(Value::as_str).is_some(), "error.code in {e}");
        assert!(e.get("message").and_then(Value::as_str).is_some(), "error.message in {e}");
        self.code().to_string()
    }
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .expect("http client"),
        }
    }

    /// Sends a request with an optional bearer token, raw body and extra headers.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, headers }
    }

    /// A GET, asked again once when `cargo lambda watch` itself answered 500 (its problem JSON,
    /// `https://httpstatuses.com/500`, which this API never sends: about one in a thousand
    /// concurrent requests, before the function saw it or after its Runtime API refused the
    /// function's answer; see `browser.rs`). A read changes nothing, so asking again is safe;
    /// writes are never repeated, and the API's own 5xx are never hidden.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let reply = self.raw("GET", path, token, None, &[]).await;
        if reply.status == 500 && reply.body["type"] == "https://httpstatuses.com/500" {
            println!("    (the emulator answered 500 for GET {path}; asking again once)");
            return self.raw("GET", path, token, None, &[]).await;
        }
        reply
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.raw("POST", path, token, Some(body.to_string().into_bytes()), &[]).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.raw("PATCH", path, token, Some(body.to_string().into_bytes()), &[]).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.raw("DELETE", path, token, None, &[]).await
    }
}
