//! [`Credentials`]: the one shape of the CRM credentials, for the local
//! deployment and the deployed functions alike.
//!
//! The same JSON serves both: the Secrets Manager secret the template
//! creates, `CRM_SYNC_CREDENTIALS` in the environment, or a secrets file
//! given to the CLI. This module owns the field names of that JSON and the
//! local ways of reading it; the Secrets Manager read is in the AWS part of
//! the builder.
//!
//! Credentials never come from flags, the settings file or the logs: every
//! secret field is a [`Secret`], so printing [`Credentials`] shows
//! placeholders. Fields are all optional when read (the deployed secret is
//! created with empty placeholders); what a deployment must have filled in is
//! checked by [`Credentials::check_complete`], which the deployed functions
//! call and the local deployment does not (the CRM sandbox accepts anything).

use super::BuildError;
use crm_sync_domain::secret::Secret;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Environment variable holding the credentials JSON (local runs, tests, and
/// the functions when no Secrets Manager secret is named).
pub const CREDENTIALS_ENV: &str = "CRM_SYNC_CREDENTIALS";

/// The credentials of both CRMs. Unfilled fields are empty strings.
///
/// Unknown fields are ignored, so a secret with extra entries still reads.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Credentials {
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

/// The credentials could not be obtained. Messages name where they were
/// looked for, never what they hold.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// `CRM_SYNC_CREDENTIALS` is set but is not the credentials JSON.
    #[error("{CREDENTIALS_ENV} is not the credentials JSON")]
    Env(#[source] serde_json::Error),
    /// The secrets file could not be read.
    #[error("reading the secrets file {}", path.display())]
    ReadFile {
        /// The file given.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The secrets file is not the credentials JSON.
    #[error("the secrets file {} is not the credentials JSON", path.display())]
    FileJson {
        /// The file given.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// JSON from elsewhere (a secret's value) does not have the expected shape.
    #[error("the credentials are not valid JSON of the expected shape")]
    Json(#[source] serde_json::Error),
    /// Secrets Manager refused or failed.
    #[error("reading the credentials secret failed")]
    SecretsManager(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The secret has no string value.
    #[error("the credentials secret has no string value")]
    NotAString,
}

impl Credentials {
    /// Parses the credentials JSON.
    pub fn from_json(json: &str) -> Result<Self, CredentialsError> {
        serde_json::from_str(json).map_err(CredentialsError::Json)
    }

    /// The local deployment's credentials: `CRM_SYNC_CREDENTIALS` when set,
    /// else the secrets file when given, else none at all (which only the
    /// CRM sandbox accepts).
    pub fn load_local(secrets_file: Option<&Path>) -> Result<Self, CredentialsError> {
        if let Ok(json) = std::env::var(CREDENTIALS_ENV)
            && !json.trim().is_empty()
        {
            return serde_json::from_str(&json).map_err(CredentialsError::Env);
        }
        match secrets_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| CredentialsError::ReadFile { path: path.to_owned(), source })?;
                serde_json::from_str(&text)
                    .map_err(|source| CredentialsError::FileJson { path: path.to_owned(), source })
            }
            None => Ok(Credentials::default()),
        }
    }

    /// Checks that what a real deployment needs is filled in, naming the
    /// first missing field: the HubSpot token, the Salesforce consumer key,
    /// and either a private key with its username (JWT bearer) or a consumer
    /// secret (client credentials).
    pub fn check_complete(&self) -> Result<(), BuildError> {
        if self.hubspot_access_token.is_empty() {
            return Err(BuildError::MissingCredential("hubspot_access_token"));
        }
        if self.salesforce_client_id.trim().is_empty() {
            return Err(BuildError::MissingCredential("salesforce_client_id"));
        }
        if !self.salesforce_private_key_pem.is_empty() {
            if self.salesforce_username.trim().is_empty() {
                return Err(BuildError::MissingCredential("salesforce_username"));
            }
        } else if self.salesforce_client_secret.is_empty() {
            return Err(BuildError::MissingCredential("salesforce_private_key_pem or salesforce_client_secret"));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_template_secret_shape_parses_with_unfilled_fields_empty() {
        let json = r#"{"salesforce_client_id": "", "salesforce_username": "",
            "salesforce_private_key_pem": "", "salesforce_client_secret": "",
            "salesforce_instance_url": "", "hubspot_access_token": "pat-na1-123",
            "hubspot_client_secret": ""}"#;
        let creds = Credentials::from_json(json).unwrap();
        assert_eq!(creds.hubspot_access_token.expose(), "pat-na1-123");
        assert!(creds.salesforce_private_key_pem.is_empty());
    }

    #[test]
    fn credentials_never_print_their_secrets() {
        let credentials = Credentials::from_json(
            r#"{"hubspot_access_token":"pat-na1-topsecret","hubspot_client_secret":"client-topsecret",
                "salesforce_private_key_pem":"-----BEGIN PRIVATE KEY-----"}"#,
        )
        .unwrap();
        let printed = format!("{credentials:?}");
        assert!(!printed.contains("topsecret"), "{printed}");
        assert!(!printed.contains("PRIVATE KEY"), "{printed}");
        assert_eq!(credentials.hubspot_access_token.expose(), "pat-na1-topsecret");
    }

    #[test]
    fn malformed_credentials_json_is_an_error_not_a_panic() {
        assert!(matches!(Credentials::from_json("{\"hubspot_access_token\": 5}"), Err(CredentialsError::Json(_))));
    }

    #[test]
    fn extra_fields_in_the_secret_are_ignored() {
        let creds = Credentials::from_json(r#"{"hubspot_access_token":"pat","salesforce_outbound_token":"x"}"#);
        assert_eq!(creds.map(|c| c.hubspot_access_token.expose().to_owned()).ok().as_deref(), Some("pat"));
    }

    #[test]
    fn a_secrets_file_of_the_wrong_shape_is_an_error_naming_the_file() {
        // The environment variable wins when set; this test needs it unset.
        if std::env::var(CREDENTIALS_ENV).is_ok() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("crm-sync-credentials-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secrets.json");
        std::fs::write(&path, r#"{"hubspot_access_token": 5}"#).unwrap();
        let error = Credentials::load_local(Some(&path)).err().map(|e| e.to_string()).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(error.contains("secrets.json"), "{error}");
    }

    #[test]
    fn complete_credentials_need_the_token_the_key_and_one_salesforce_flow() {
        let mut creds = Credentials::default();
        let missing = |c: &Credentials| match c.check_complete() {
            Err(BuildError::MissingCredential(name)) => Some(name),
            _ => None,
        };
        assert_eq!(missing(&creds), Some("hubspot_access_token"));
        creds.hubspot_access_token = Secret::new("pat");
        assert_eq!(missing(&creds), Some("salesforce_client_id"));
        creds.salesforce_client_id = "key".into();
        assert_eq!(missing(&creds), Some("salesforce_private_key_pem or salesforce_client_secret"));
        creds.salesforce_private_key_pem = Secret::new("pem");
        assert_eq!(missing(&creds), Some("salesforce_username"));
        creds.salesforce_username = "sync@example.com".into();
        assert!(creds.check_complete().is_ok());
        let client_credentials = Credentials {
            salesforce_client_secret: Secret::new("s"),
            salesforce_private_key_pem: Secret::default(),
            ..creds
        };
        assert!(client_credentials.check_complete().is_ok());
    }
}
