//! Adapters: the domain's ports implemented over AWS (DynamoDB, SES, S3, SQS) and Stripe.
//! Clients are built once per cold start from the environment (`AWS_ENDPOINT_URL` points the
//! SDK at an emulator; no code branches on "local").

pub mod aws;
pub mod dynamo;
pub mod faults;
pub mod keys;
pub mod offline;
pub mod s3;
pub mod secrets;
pub mod ses;
pub mod sqs;
pub mod stripe;
pub mod webhook_http;
