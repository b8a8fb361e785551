//! Fault settings: a share of the requests to DynamoDB (writes), SQS (sends) and SES (sends)
//! made to fail, for the soak test and for trying a local stack under faults. Off unless set
//! (`FAULTS=dynamodb_writes=0.02,sqs_sends=0.05,ses_sends=0.05`), and only against a local
//! emulator: the functions refuse the setting anywhere else.
//!
//! A fault is injected as an SDK interceptor, so every call site of an adapter sees it as it
//! would see the network: half of the faults lose the request (nothing happened), half lose
//! the answer (the write or send happened, the caller hears it failed), the case that
//! retries and outboxes exist for.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The shares (0 to 1) of requests that fail, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultSettings {
    pub dynamodb_writes: f64,
    pub sqs_sends: f64,
    pub ses_sends: f64,
}

/// The kinds of request a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    DynamodbWrite,
    SqsSend,
    SesSend,
}

impl FaultSettings {
    /// `dynamodb_writes=0.02,sqs_sends=0.05,ses_sends=0.05` (any subset; empty is none).
    pub fn parse(spec: &str) -> Result<FaultSettings, String> {
        let mut out = FaultSettings::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, share) = part.split_once('=').ok_or_else(|| format!("{part:?} is not name=share"))?;
            let share: f64 = share.trim().parse().map_err(|_| format!("{share:?} is not a number"))?;
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{name}: {share} is not between 0 and 1"));
            }
            match name.trim() {
                "dynamodb_writes" => out.dynamodb_writes = share,
                "sqs_sends" => out.sqs_sends = share,
                "ses_sends" => out.ses_sends = share,
                other => return Err(format!("{other:?} is none of dynamodb_writes, sqs_sends, ses_sends")),
            }
        }
        Ok(out)
    }

    pub fn is_off(&self) -> bool {
        *self == FaultSettings::default()
    }

    fn share(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::DynamodbWrite => self.dynamodb_writes,
            FaultKind::SqsSend => self.sqs_sends,
            FaultKind::SesSend => self.ses_sends,
        }
    }
}

/// How many faults were injected, by kind (shared by every client one injector is on).
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub dynamodb_writes: AtomicU64,
    pub sqs_sends: AtomicU64,
    pub ses_sends: AtomicU64,
    /// Requests of those kinds seen (failed or not).
    pub requests: AtomicU64,
}

impl FaultCounts {
    fn of(&self, kind: FaultKind) -> &AtomicU64 {
        match kind {
            FaultKind::DynamodbWrite => &self.dynamodb_writes,
            FaultKind::SqsSend => &self.sqs_sends,
            FaultKind::SesSend => &self.ses_sends,
        }
    }

    pub fn get(&self, kind: FaultKind) -> u64 {
        self.of(kind).load(Ordering::Relaxed)
    }
}

/// The interceptor: register one (cloned) on the DynamoDB, SQS and SES clients.
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    pub settings: FaultSettings,
    pub counts: Arc<FaultCounts>,
}

/// Marks a request whose answer is to be lost once it has been sent.
#[derive(Debug, Clone)]
struct LoseAnswer(FaultKind);

impl Storable for LoseAnswer {
    type Storer = StoreReplace<Self>;
}

/// The kind of a request, from its target header (DynamoDB's and SQS's JSON protocols) or its
/// path (SES v2 is REST); `None` for what faults never hit (reads, receives, deletes of jobs).
pub fn kind_of(target: Option<&str>, path: &str) -> Option<FaultKind> {
    match target.and_then(|t| t.split_once('.')) {
        Some((prefix, op)) if prefix.starts_with("DynamoDB") => {
            matches!(op, "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem")
                .then_some(FaultKind::DynamodbWrite)
        }
        Some((prefix, op)) if prefix.starts_with("AmazonSQS") => {
            matches!(op, "SendMessage" | "SendMessageBatch").then_some(FaultKind::SqsSend)
        }
        Some(_) => None,
        None => path.contains("/outbound-emails").then_some(FaultKind::SesSend),
    }
}

impl FaultInjector {
    pub fn new(settings: FaultSettings) -> FaultInjector {
        FaultInjector { settings, counts: Arc::default() }
    }

    /// Whether a request of `kind` fails now, and if so whether before it is sent.
    fn draw(&self, kind: FaultKind) -> Option<bool> {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let mut rng = rand::thread_rng();
        if rng.gen::<f64>() >= self.settings.share(kind) {
            return None;
        }
        self.counts.of(kind).fetch_add(1, Ordering::Relaxed);
        Some(rng.gen_bool(0.5))
    }
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "fault-injector"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request();
        let Some(kind) = kind_of(req.headers().get("x-amz-target"), req.uri()) else { return Ok(()) };
        match self.draw(kind) {
            None => Ok(()),
            Some(true) => Err(format!("injected fault: {kind:?} request lost").into()),
            Some(false) => {
                cfg.interceptor_state().store_put(LoseAnswer(kind));
                Ok(())
            }
        }
    }

    fn read_before_deserialization(
        &self,
        _ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<LoseAnswer>() {
            Some(LoseAnswer(kind)) => Err(format!("injected fault: {kind:?} answer lost").into()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_refuse_nonsense() {
        assert_eq!(
            FaultSettings::parse("dynamodb_writes=0.02, sqs_sends=0.05,ses_sends=0.05"),
            Ok(FaultSettings { dynamodb_writes: 0.02, sqs_sends: 0.05, ses_sends: 0.05 })
        );
        assert!(FaultSettings::parse("").is_ok_and(|f| f.is_off()));
        for bad in ["dynamodb_writes", "sqs_sends=2", "s3=0.1", "ses_sends=x"] {
            assert!(FaultSettings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_writes_and_sends_are_hit() {
        assert_eq!(
            kind_of(Some("DynamoDB_20120810.TransactWriteItems"), "/"),
            Some(FaultKind::DynamodbWrite)
        );
        assert_eq!(kind_of(Some("DynamoDB_20120810.GetItem"), "/"), None);
        assert_eq!(kind_of(Some("AmazonSQS.SendMessageBatch"), "/"), Some(FaultKind::SqsSend));
        assert_eq!(kind_of(Some("AmazonSQS.ReceiveMessage"), "/"), None);
        assert_eq!(kind_of(None, "/v2/email/outbound-emails"), Some(FaultKind::SesSend));
        assert_eq!(kind_of(None, "/v2/email/identities"), None);
    }
}
