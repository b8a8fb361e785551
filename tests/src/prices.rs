//! What AWS charges, in one place: us-east-1 (N. Virginia), on-demand, list prices as published
//! on the AWS pricing pages for DynamoDB, Lambda, SQS, SES and API Gateway, checked on
//! PRICES_CHECKED. Free tiers are left out (a merchant at scale is past them). Change these
//! when the prices change; the bench's cost table follows.

pub const PRICES_CHECKED: &str = "2026-11-29";
pub const REGION: &str = "us-east-1";

/// DynamoDB on-demand, per million request units (the November 2024 prices).
pub const DYNAMODB_WRITE_PER_MILLION: f64 = 0.625;
pub const DYNAMODB_READ_PER_MILLION: f64 = 0.125;
/// Lambda, per million requests and per GB-second of duration (1 ms billing granularity).
pub const LAMBDA_REQUESTS_PER_MILLION: f64 = 0.20;
pub const LAMBDA_GB_SECOND_X86: f64 = 0.000_016_666_7;
pub const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
/// SQS standard queue, per million requests (each 64 KB chunk of a payload is one).
pub const SQS_PER_MILLION: f64 = 0.40;
/// SES outbound email, per thousand messages.
pub const SES_PER_THOUSAND: f64 = 0.10;
/// API Gateway HTTP API, per million requests (first 300 million a month).
pub const HTTP_API_PER_MILLION: f64 = 1.00;

/// Every function's memory, as `infra/template.yaml` configures it (a test keeps them equal).
pub const LAMBDA_MEMORY_MB: f64 = 256.0;

/// One flow's bill, in dollars per million runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    pub dynamodb: f64,
    pub queue_and_mail: f64,
    pub requests: f64,
    pub duration_x86: f64,
    pub duration_arm: f64,
}

impl Cost {
    pub fn total_x86(&self) -> f64 {
        self.dynamodb + self.queue_and_mail + self.requests + self.duration_x86
    }
    pub fn total_arm(&self) -> f64 {
        self.dynamodb + self.queue_and_mail + self.requests + self.duration_arm
    }
}

/// What one million runs of a flow cost: `read_units`/`write_units` per run, SQS requests
/// and emails per run, the handler's duration per run, and whether it came through the HTTP
/// API (else from the queue, whose event source receives and deletes each message: two SQS
/// requests, counted here with a batch of one).
pub fn per_million(
    read_units: f64,
    write_units: f64,
    sqs_requests: f64,
    emails: f64,
    duration_ms: f64,
    from_queue: bool,
) -> Cost {
    let billed_s = duration_ms.ceil() / 1000.0;
    let gb_s = billed_s * LAMBDA_MEMORY_MB / 1024.0 * 1e6;
    let sqs = sqs_requests + if from_queue { 2.0 } else { 0.0 };
    Cost {
        dynamodb: read_units * DYNAMODB_READ_PER_MILLION + write_units * DYNAMODB_WRITE_PER_MILLION,
        queue_and_mail: sqs * SQS_PER_MILLION + emails * SES_PER_THOUSAND * 1000.0,
        requests: LAMBDA_REQUESTS_PER_MILLION + if from_queue { 0.0 } else { HTTP_API_PER_MILLION },
        duration_x86: gb_s * LAMBDA_GB_SECOND_X86,
        duration_arm: gb_s * LAMBDA_GB_SECOND_ARM,
    }
}

/// A month of a 1,000-seat subscription, as the cost table's last line prices it: how many
/// times each flow runs. 5 % of the seats change hands (assigned, invited, claimed, granted,
/// revoked), every holder opens their benefits four times, the billing manager looks at the
/// seat list twenty times and adds seats once, and the subscription renews once.
pub const MONTH_OF_1000_SEATS: [(&str, f64); 10] = [
    ("assign", 50.0),
    ("worker: invitation", 50.0),
    ("claim", 50.0),
    ("worker: grant", 50.0),
    ("benefits (holder's page)", 4000.0),
    ("list a page (25)", 20.0),
    ("resize (+1 seat, charged)", 1.0),
    ("revoke", 50.0),
    ("worker: revoke", 50.0),
    ("webhook: renewal", 1.0),
];
