//! The AWS resources of one stack, from one definition: the single table (keys, GSI1, TTL),
//! the job and webhook queues with their dead-letter queues, the files bucket and the SES sender identity.
//! `make dev` and every test suite create their own set with a unique prefix.

use crate::BoxError;
use adapters::keys;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// How many receives before a job goes to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 3;
/// Locally a failed job is retried after a few seconds (30 s or more in AWS).
pub const LOCAL_VISIBILITY_TIMEOUT_S: u32 = 3;
pub const REGION: &str = "us-east-1";

#[derive(Debug, Clone)]
pub struct Resources {
    pub table: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    /// The webhook sender's queue and its dead-letter queue.
    pub webhook_queue_url: String,
    pub webhook_queue_arn: String,
    pub webhook_dlq_url: String,
    pub bucket: String,
    pub mail_from: String,
}

/// An SDK config pointed at the emulator, with throwaway credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "local-stack",
        ))
        .load()
        .await
}

fn attr(name: &str) -> Result<AttributeDefinition, BoxError> {
    Ok(AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()?)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, BoxError> {
    Ok(KeySchemaElement::builder().attribute_name(name).key_type(kind).build()?)
}

/// A global secondary index projecting whole items.
fn index(name: &str, pk: &str, sk: &str) -> Result<GlobalSecondaryIndex, BoxError> {
    Ok(GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash)?)
        .key_schema(key(sk, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()?)
}

pub async fn create_table(db: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), BoxError> {
    db.create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(keys::PK)?)
        .attribute_definitions(attr(keys::SK)?)
        .attribute_definitions(attr(keys::GSI1PK)?)
        .attribute_definitions(attr(keys::GSI1SK)?)
        .attribute_definitions(attr(keys::GSI2PK)?)
        .attribute_definitions(attr(keys::GSI2SK)?)
        .key_schema(key(keys::PK, KeyType::Hash)?)
        .key_schema(key(keys::SK, KeyType::Range)?)
        .global_secondary_indexes(index(keys::GSI1, keys::GSI1PK, keys::GSI1SK)?)
        .global_secondary_indexes(index(keys::GSI2, keys::GSI2PK, keys::GSI2SK)?)
        .send()
        .await?;
    db.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name(keys::TTL).enabled(true).build()?,
        )
        .send()
        .await?;
    Ok(())
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, BoxError> {
    Ok(sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or("no queue arn")?)
}

/// Creates every resource of a stack named `prefix`.
pub async fn provision(sdk: &aws_config::SdkConfig, prefix: &str) -> Result<Resources, BoxError> {
    let table = format!("{prefix}-table");
    create_table(&aws_sdk_dynamodb::Client::new(sdk), &table).await?;

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let (queue_url, queue_arn, dlq_url) = queue_with_dlq(&sqs, &format!("{prefix}-jobs")).await?;
    let (webhook_queue_url, webhook_queue_arn, webhook_dlq_url) =
        queue_with_dlq(&sqs, &format!("{prefix}-webhooks")).await?;

    let bucket = format!("{prefix}-files");
    aws_sdk_s3::Client::new(sdk).create_bucket().bucket(&bucket).send().await?;

    let mail_from = "billing@seats.example.com".to_string();
    aws_sdk_sesv2::Client::new(sdk).create_email_identity().email_identity(&mail_from).send().await?;

    Ok(Resources {
        table,
        queue_url,
        queue_arn,
        dlq_url,
        webhook_queue_url,
        webhook_queue_arn,
        webhook_dlq_url,
        bucket,
        mail_from,
    })
}

/// A queue whose messages go to its dead-letter queue after [`MAX_RECEIVES`]: (url, arn, dlq url).
async fn queue_with_dlq(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String, String), BoxError> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await?
        .queue_url
        .ok_or("no dead-letter queue url")?;
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVES.to_string(),
    })
    .to_string();
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, LOCAL_VISIBILITY_TIMEOUT_S.to_string())
        .send()
        .await?
        .queue_url
        .ok_or("no queue url")?;
    let arn = queue_arn(sqs, &url).await?;
    Ok((url, arn, dlq_url))
}

/// Stores `value` as the secret `name` in Secrets Manager; returns its ARN.
pub async fn put_secret(sdk: &aws_config::SdkConfig, name: &str, value: &str) -> Result<String, BoxError> {
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await?;
    Ok(out.arn.ok_or("no secret arn")?)
}

/// A short unique prefix for a stack (names stay within AWS limits).
pub fn unique_prefix(base: &str) -> String {
    format!("{base}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}
