//! The CRM credentials: their JSON shape (the Secrets Manager secret the
//! template creates, or `CRM_SYNC_CREDENTIALS` locally) and how they are
//! fetched once per cold start.
//!
//! This module owns the secret's field names. Values never reach a log: every
//! secret is held in [`Secret`], whose `Debug` prints `<redacted>`.

use serde::Deserialize;
use thiserror::Error;

use crate::settings::CredentialsSource;

/// A secret string that never prints.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (an unfilled field of the secret).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The credentials of both CRMs, as stored in the secret. Unfilled fields are
/// empty strings (the template creates the secret with empty placeholders).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CrmCredentials {
    /// Connected app consumer key (JWT bearer and client-credentials flows).
    pub salesforce_client_id: String,
    /// Integration user's username (JWT bearer flow).
    pub salesforce_username: String,
    /// PEM private key of the connected app's certificate (JWT bearer flow).
    pub salesforce_private_key_pem: Secret,
    /// Consumer secret (client-credentials flow).
    pub salesforce_client_secret: Secret,
    /// The org's My Domain URL (client-credentials flow, or to skip discovery).
    pub salesforce_instance_url: String,
    /// HubSpot private app access token.
    pub hubspot_access_token: Secret,
    /// HubSpot app client secret: the key of webhook signatures.
    pub hubspot_client_secret: Secret,
}

/// The credentials could not be obtained.
#[derive(Debug, Error)]
pub enum CredentialsError {
    /// Secrets Manager refused or failed.
    #[error("reading the credentials secret failed")]
    SecretsManager(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The secret has no string value.
    #[error("the credentials secret has no string value")]
    NotAString,
    /// The JSON does not have the expected shape.
    #[error("the credentials are not valid JSON of the expected shape")]
    Json(#[source] serde_json::Error),
}

impl CrmCredentials {
    /// Parses the secret's JSON.
    pub fn from_json(json: &str) -> Result<Self, CredentialsError> {
        serde_json::from_str(json).map_err(CredentialsError::Json)
    }

    /// Loads the credentials from where the settings say; one Secrets Manager
    /// call in the deployed case.
    pub async fn load(source: &CredentialsSource, aws: &aws_config::SdkConfig) -> Result<Self, CredentialsError> {
        match source {
            CredentialsSource::Inline(json) => Self::from_json(json),
            CredentialsSource::SecretsManager(id) => {
                let client = aws_sdk_secretsmanager::Client::new(aws);
                let out = client
                    .get_secret_value()
                    .secret_id(id)
                    .send()
                    .await
                    .map_err(|e| CredentialsError::SecretsManager(Box::new(e)))?;
                let json = out.secret_string().ok_or(CredentialsError::NotAString)?;
                Self::from_json(json)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_template_secret_shape_parses_with_unfilled_fields_empty() {
        let json = r#"{"salesforce_client_id": "", "salesforce_username": "",
            "salesforce_private_key_pem": "", "salesforce_client_secret": "",
            "salesforce_instance_url": "", "hubspot_access_token": "pat-na1-123",
            "hubspot_client_secret": ""}"#;
        let creds = CrmCredentials::from_json(json).unwrap();
        assert_eq!(creds.hubspot_access_token.expose(), "pat-na1-123");
        assert!(creds.salesforce_private_key_pem.is_empty());
    }

    #[test]
    fn credentials_debug_output_hides_every_secret() {
        let creds = CrmCredentials {
            hubspot_access_token: Secret::new("pat-na1-supersecret"),
            hubspot_client_secret: Secret::new("client-supersecret"),
            salesforce_private_key_pem: Secret::new("-----BEGIN PRIVATE KEY-----"),
            ..CrmCredentials::default()
        };
        let printed = format!("{creds:?}");
        assert!(!printed.contains("supersecret"), "{printed}");
        assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    }

    #[test]
    fn malformed_credentials_json_is_an_error_not_a_panic() {
        assert!(matches!(CrmCredentials::from_json("{\"hubspot_access_token\": 5}"), Err(CredentialsError::Json(_))));
    }

    #[tokio::test]
    async fn inline_credentials_load_without_any_aws_call() {
        let aws = aws_config::SdkConfig::builder().build();
        let source = CredentialsSource::Inline(r#"{"hubspot_access_token":"pat"}"#.into());
        let creds = CrmCredentials::load(&source, &aws).await.unwrap();
        assert_eq!(creds.hubspot_access_token.expose(), "pat");
    }
}
