//! Benefit files in S3: presigned PUTs for merchants, presigned GETs for seat holders.

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use domain::error::PortError;
use domain::ports::FileStore;
use std::time::Duration;

#[derive(Clone)]
pub struct S3Files {
    client: Client,
    bucket: String,
}

impl S3Files {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Files { client, bucket: bucket.into() }
    }

    /// An S3 client from the shared config; `force_path_style` puts the bucket in the path
    /// (what emulators and some networks need), chosen by configuration.
    pub fn client(sdk: &aws_config::SdkConfig, force_path_style: bool) -> Client {
        let conf = aws_sdk_s3::config::Builder::from(sdk).force_path_style(force_path_style).build();
        Client::from_conf(conf)
    }
}

fn presigning(expires_in_s: u64) -> Result<PresigningConfig, PortError> {
    PresigningConfig::expires_in(Duration::from_secs(expires_in_s))
        .map_err(|e| PortError::Rejected("s3", e.to_string()))
}

#[async_trait]
impl FileStore for S3Files {
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        expires_in_s: u64,
    ) -> Result<String, PortError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(presigning(expires_in_s)?)
            .await
            .map_err(|e| PortError::Unavailable("s3", e.to_string()))?;
        Ok(req.uri().to_string())
    }

    async fn presign_download(
        &self,
        key: &str,
        filename: &str,
        expires_in_s: u64,
    ) -> Result<String, PortError> {
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("attachment; filename=\"{filename}\""))
            .presigned(presigning(expires_in_s)?)
            .await
            .map_err(|e| PortError::Unavailable("s3", e.to_string()))?;
        Ok(req.uri().to_string())
    }
}
