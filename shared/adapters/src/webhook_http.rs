//! The webhook sender's HTTP client: one POST per attempt, 10 s at most, no redirects (a
//! receiver that moved says so with a 3xx, which is a failure the merchant sees).

use async_trait::async_trait;
use domain::ports::{PostOutcome, WebhookPoster};
use domain::webhooks::ATTEMPT_TIMEOUT_S;
use std::time::Duration;

pub struct HttpPoster {
    client: reqwest::Client,
}

impl HttpPoster {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(ATTEMPT_TIMEOUT_S))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("seat-billing-webhooks/1")
            .build()?;
        Ok(HttpPoster { client })
    }
}

#[async_trait]
impl WebhookPoster for HttpPoster {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> PostOutcome {
        let mut req = self.client.post(url).body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match req.send().await {
            Ok(resp) => PostOutcome::Answered(resp.status().as_u16()),
            Err(e) if e.is_timeout() => {
                PostOutcome::NoAnswer(format!("no answer within {ATTEMPT_TIMEOUT_S} s"))
            }
            Err(e) if e.is_connect() => PostOutcome::NoAnswer("the connection was refused or failed".into()),
            Err(e) => PostOutcome::NoAnswer(format!("the request failed: {}", e.without_url())),
        }
    }
}
