//! The webhook sender's HTTP client: one POST per attempt, 10 s at most, no redirects (a
//! receiver that moved says so with a 3xx, which is a failure the merchant sees).
//!
//! Where it may connect is checked on the address it actually connects to, after DNS: deployed,
//! only public addresses (never the Lambda runtime API on 127.0.0.1, the metadata service or a
//! VPC's private ranges, however a merchant's hostname resolves); on a local stack, only this
//! machine's loopback, so nothing a test or a fuzzer registers ever leaves the machine.

use async_trait::async_trait;
use domain::ports::{PostOutcome, WebhookPoster};
use domain::webhooks::ATTEMPT_TIMEOUT_S;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Which addresses receivers may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destinations {
    /// Public internet addresses only (deployed).
    Public,
    /// This machine's loopback only (local stacks); names other than `localhost` are not
    /// even looked up.
    LoopbackOnly,
}

impl Destinations {
    pub fn allows(self, ip: IpAddr) -> bool {
        match self {
            Destinations::LoopbackOnly => ip.is_loopback(),
            Destinations::Public => domain::webhooks::is_public_address(ip),
        }
    }
}

struct CheckedResolver(Destinations);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let destinations = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = match destinations {
                Destinations::LoopbackOnly if host.eq_ignore_ascii_case("localhost") => {
                    vec![SocketAddr::from(([127, 0, 0, 1], 0))]
                }
                Destinations::LoopbackOnly => Vec::new(),
                Destinations::Public => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let allowed: Vec<SocketAddr> =
                found.into_iter().filter(|a| destinations.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} has no address a webhook may be sent to").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

pub struct HttpPoster {
    client: reqwest::Client,
    destinations: Destinations,
}

impl HttpPoster {
    pub fn new(destinations: Destinations) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(ATTEMPT_TIMEOUT_S))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver(destinations)))
            .no_proxy()
            .user_agent("seat-billing-webhooks/1")
            .build()?;
        Ok(HttpPoster { client, destinations })
    }

    /// An address written in the URL is not resolved, so it is checked here.
    fn literal_refused(&self, url: &str) -> bool {
        match url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_owned())) {
            Some(url::Host::Ipv4(ip)) => !self.destinations.allows(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => !self.destinations.allows(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => false,
            None => true,
        }
    }
}

#[async_trait]
impl WebhookPoster for HttpPoster {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> PostOutcome {
        if self.literal_refused(url) {
            return PostOutcome::NoAnswer("the endpoint's address may not receive webhooks".into());
        }
        let mut req = self.client.post(url).body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match req.send().await {
            Ok(resp) => PostOutcome::Answered(resp.status().as_u16()),
            Err(e) if e.is_timeout() => {
                PostOutcome::NoAnswer(format!("no answer within {ATTEMPT_TIMEOUT_S} s"))
            }
            Err(e) if e.is_connect() => PostOutcome::NoAnswer(
                "the connection failed (refused, unreachable, or an address webhooks may not go to)".into(),
            ),
            Err(e) => PostOutcome::NoAnswer(format!("the request failed: {}", e.without_url())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_receive_deployed_and_only_loopback_locally() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!Destinations::Public.allows(ip(private)), "{private}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(Destinations::Public.allows(ip(public)), "{public}");
            assert!(!Destinations::LoopbackOnly.allows(ip(public)), "{public}");
        }
        assert!(Destinations::LoopbackOnly.allows(ip("127.0.0.1")));
    }

    #[tokio::test]
    async fn a_local_stack_never_sends_off_the_machine() {
        let poster = HttpPoster::new(Destinations::LoopbackOnly).expect("client");
        for url in ["https://93.184.216.34/hook", "https://example.com/hook"] {
            let out = poster.post(url, &[], "{}").await;
            assert!(matches!(out, PostOutcome::NoAnswer(_)), "{url}: {out:?}");
        }
    }
}
