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

use super::{BuildError, CrmEndpoints};
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
    Env(#[source] JsonError),
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
        source: JsonError,
    },
    /// JSON from elsewhere (a secret's value) does not have the expected shape.
    #[error("the credentials are not valid JSON of the expected shape")]
    Json(#[source] JsonError),
    /// Secrets Manager refused or failed.
    #[error("reading the credentials secret failed")]
    SecretsManager(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The secret has no string value.
    #[error("the credentials secret has no string value")]
    NotAString,
}

/// Why a credentials JSON could not be read, told without any of its
/// values: serde's type errors quote the value they refused ("invalid type:
/// integer `5`"), and in this JSON that value is a credential. Syntax errors
/// keep serde's text, which names a position and never the text there.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

impl From<serde_json::Error> for JsonError {
    fn from(error: serde_json::Error) -> Self {
        match error.classify() {
            serde_json::error::Category::Data => JsonError(format!(
                "a value has the wrong type (every credential is a JSON string) at line {} column {}",
                error.line(),
                error.column()
            )),
            _ => JsonError(error.to_string()),
        }
    }
}

/// Parses the credentials JSON; see [`JsonError`].
fn parse(json: &str) -> Result<Credentials, JsonError> {
    Ok(serde_json::from_str(json)?)
}

impl Credentials {
    /// Parses the credentials JSON.
    pub fn from_json(json: &str) -> Result<Self, CredentialsError> {
        parse(json).map_err(CredentialsError::Json)
    }

    /// The local deployment's credentials: `CRM_SYNC_CREDENTIALS` when set,
    /// else the secrets file when given, else none at all (which only the
    /// CRM sandbox accepts).
    pub fn load_local(secrets_file: Option<&Path>) -> Result<Self, CredentialsError> {
        if let Ok(json) = std::env::var(CREDENTIALS_ENV)
            && !json.trim().is_empty()
        {
            return parse(&json).map_err(CredentialsError::Env);
        }
        match secrets_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| CredentialsError::ReadFile { path: path.to_owned(), source })?;
                parse(&text).map_err(|source| CredentialsError::FileJson { path: path.to_owned(), source })
            }
            None => Ok(Credentials::default()),
        }
    }

    /// Checks that what a real deployment needs is filled in, naming the
    /// first missing field: the HubSpot token, the Salesforce consumer key,
    /// and either a private key with its username (JWT bearer) or a consumer
    /// secret (client credentials).
    pub fn check_complete(&self) -> Result<(), BuildError> {
        match self.missing_hubspot(false).into_iter().chain(self.missing_salesforce()).next() {
            Some(name) => Err(BuildError::MissingCredential(name)),
            None => Ok(()),
        }
    }

    /// Checks that the CRMs at `endpoints` can be called, naming every
    /// missing field. A CRM on this machine (a loopback host: the CRM
    /// sandbox) needs none, as the sandbox accepts anything. `webhooks`: the
    /// HubSpot client secret is needed too, to check webhook signatures.
    pub fn check_for(&self, endpoints: &CrmEndpoints, webhooks: bool) -> Result<(), BuildError> {
        let mut missing = Vec::new();
        if !is_loopback(&endpoints.salesforce_login_url) {
            missing.extend(self.missing_salesforce());
        }
        if !is_loopback(&endpoints.hubspot_base_url) {
            missing.extend(self.missing_hubspot(webhooks));
        }
        if missing.is_empty() { Ok(()) } else { Err(BuildError::MissingCredentials(missing)) }
    }

    /// The HubSpot fields that are empty: the token, and the client secret
    /// when webhooks are received.
    fn missing_hubspot(&self, webhooks: bool) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.hubspot_access_token.is_empty() {
            missing.push("hubspot_access_token");
        }
        if webhooks && self.hubspot_client_secret.is_empty() {
            missing.push("hubspot_client_secret");
        }
        missing
    }

    /// The Salesforce fields that are empty: the consumer key, and either a
    /// private key with its username (JWT bearer) or a consumer secret.
    fn missing_salesforce(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.salesforce_client_id.trim().is_empty() {
            missing.push("salesforce_client_id");
        }
        if !self.salesforce_private_key_pem.is_empty() {
            if self.salesforce_username.trim().is_empty() {
                missing.push("salesforce_username");
            }
        } else if self.salesforce_client_secret.is_empty() {
            missing.push("salesforce_private_key_pem or salesforce_client_secret");
        }
        missing
    }
}

/// Whether a URL names this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url.trim()) else { return false };
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
    fn a_credential_of_the_wrong_type_is_refused_without_its_value() {
        for json in [
            r#"{"hubspot_access_token": 987654321}"#,
            r#"{"salesforce_client_secret": 98765.4321}"#,
            r#"{"salesforce_client_id": true, "hubspot_access_token": 987654321}"#,
        ] {
            let error = Credentials::from_json(json).err().unwrap();
            let mut chain = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                chain.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            assert!(!chain.contains("987654321") && !chain.contains("98765.4321"), "{chain}");
            assert!(!chain.contains("true"), "{chain}");
            assert!(chain.contains("line 1 column"), "{chain}");
        }
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
    fn real_crms_need_every_credential_named_and_the_sandbox_on_this_machine_none() {
        let real = CrmEndpoints::default();
        let error = Credentials::default().check_for(&real, true).err().map(|e| e.to_string()).unwrap_or_default();
        for name in
            ["salesforce_client_id", "salesforce_client_secret", "hubspot_access_token", "hubspot_client_secret"]
        {
            assert!(error.contains(name), "{name} not named: {error}");
        }
        let sandbox = CrmEndpoints {
            salesforce_login_url: "http://127.0.0.1:4010".into(),
            hubspot_base_url: "http://localhost:4011".into(),
            extra_root_cert_pem: None,
        };
        assert!(Credentials::default().check_for(&sandbox, true).is_ok());
        let mixed = CrmEndpoints { hubspot_base_url: "https://api.hubapi.com".into(), ..sandbox };
        let only_hubspot =
            Credentials::default().check_for(&mixed, false).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            only_hubspot.contains("hubspot_access_token") && !only_hubspot.contains("salesforce"),
            "{only_hubspot}"
        );
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
