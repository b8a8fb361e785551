//! Secrets Manager: the functions' secrets (Stripe's API key, the webhook's signing secret),
//! read once at cold start by id. The environment holds only the id, and IAM lets only the
//! functions that use a secret read it.

use aws_sdk_secretsmanager::error::DisplayErrorContext;

/// The secret string stored under `id` (a name or ARN), trimmed; never empty.
pub async fn read(client: &aws_sdk_secretsmanager::Client, id: &str) -> Result<String, String> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| format!("{}", DisplayErrorContext(&e)))?;
    out.secret_string()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "holds no secret string".to_string())
}
