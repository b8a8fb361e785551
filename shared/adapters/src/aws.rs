//! Building the AWS clients once at cold start.

use aws_config::{AppName, BehaviorVersion, SdkConfig};

/// The shared SDK configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` when an emulator stands in for AWS).
///
/// Every request names the function that sent it in its user agent (`app/<function>`, from
/// `AWS_LAMBDA_FUNCTION_NAME`, unless `AWS_SDK_UA_APP_ID` names an app already): CloudTrail
/// shows which function made each call, and the local stack checks each function's calls
/// against its IAM policy by it.
pub async fn sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if std::env::var_os("AWS_SDK_UA_APP_ID").is_none() {
        if let Some(name) = function_app_name(std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok()) {
            loader = loader.app_name(name);
        }
    }
    loader.load().await
}

/// The function's name as an app name, if it is one (a Lambda name always is: letters,
/// digits, `-` and `_`).
fn function_app_name(function: Option<String>) -> Option<AppName> {
    function.and_then(|f| AppName::new(f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lambda_name_is_the_app_name_and_nothing_else_is() {
        let name = function_app_name(Some("seat-billing-AssignFunction-1A2B_3c".into()));
        assert_eq!(name.map(|n| n.to_string()), Some("seat-billing-AssignFunction-1A2B_3c".into()));
        assert_eq!(function_app_name(Some("not a name".into())), None);
        assert_eq!(function_app_name(Some(String::new())), None);
        assert_eq!(function_app_name(None), None);
    }
}
