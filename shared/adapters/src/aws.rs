//! Building the AWS clients once at cold start.

use aws_config::SdkConfig;

/// The shared SDK configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` when an emulator stands in for AWS).
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_from_env().await
}
