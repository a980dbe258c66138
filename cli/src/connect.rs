//! Connecting the local deployment to the two CRMs: the credentials (from the
//! environment or a secrets file, never from flags, the settings file or the
//! logs), the CRM clients, and the [`App`] and [`LocalRuntime`] built over
//! the embedded state file.
//!
//! The credentials use the same JSON shape as the deployed functions' secret
//! (`CRM_SYNC_CREDENTIALS` there and here), so one file serves both.

use crate::args::CrmArgs;
use anyhow::Context;
use crm_sync_app::local::{EmbeddedParts, LocalOptions, LocalRuntime, embedded_app};
use crm_sync_app::ports::{HubspotApi, SalesforceApi};
use crm_sync_app::{App, AppSettings, Secret, WebhookSecrets};
use crm_sync_domain::config::SyncConfig;
use crm_sync_store::SystemClock;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Environment variable holding the credentials JSON.
pub const CREDENTIALS_ENV: &str = "CRM_SYNC_CREDENTIALS";
/// The public base URL HubSpot calls (the signature covers the full URL);
/// unset: the URL as received.
pub const PUBLIC_URL_ENV: &str = "CRM_SYNC_PUBLIC_URL";

/// A credential string that never prints.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_set(&self) -> bool {
        !self.0.trim().is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The CRM credentials (all optional here; each client says what it lacks).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Credentials {
    pub salesforce_client_id: String,
    pub salesforce_username: String,
    pub salesforce_private_key_pem: SecretString,
    pub salesforce_client_secret: SecretString,
    pub salesforce_instance_url: String,
    pub salesforce_outbound_token: SecretString,
    pub hubspot_access_token: SecretString,
    pub hubspot_client_secret: SecretString,
}

impl Credentials {
    /// `CRM_SYNC_CREDENTIALS` when set, else the secrets file when given,
    /// else nothing (which only the sandbox accepts).
    pub fn load(secrets_file: Option<&Path>) -> anyhow::Result<Self> {
        if let Ok(json) = std::env::var(CREDENTIALS_ENV)
            && !json.trim().is_empty()
        {
            return serde_json::from_str(&json)
                .with_context(|| format!("{CREDENTIALS_ENV} is not the credentials JSON"));
        }
        match secrets_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the secrets file {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("the secrets file {} is not the credentials JSON", path.display()))
            }
            None => Ok(Credentials::default()),
        }
    }
}

/// The two CRM clients, behind the ports the use cases call.
pub struct Crms {
    pub salesforce: Arc<dyn SalesforceApi>,
    pub hubspot: Arc<dyn HubspotApi>,
}

/// Builds both clients from the URLs and credentials. `extra_root_cert_pem`
/// trusts one more certificate (the sandbox's, when it runs with TLS).
/// Salesforce uses the JWT bearer flow when a private key is given, else
/// client credentials.
pub fn crms(crm: &CrmArgs, credentials: &Credentials, extra_root_cert_pem: Option<&str>) -> anyhow::Result<Crms> {
    use crm_sync_crm::hubspot::{HubSpotClient, HubSpotConfig};
    use crm_sync_crm::salesforce::{SalesforceAuth, SalesforceClient, SalesforceConfig};

    let mut hubspot_config = HubSpotConfig::new(
        crm.hubspot_url.clone(),
        crm_sync_crm::hubspot::Secret::new(credentials.hubspot_access_token.expose()),
    );
    hubspot_config.extra_root_cert_pem = extra_root_cert_pem.map(str::to_owned);
    if credentials.hubspot_client_secret.is_set() {
        hubspot_config.client_secret =
            Some(crm_sync_crm::hubspot::Secret::new(credentials.hubspot_client_secret.expose()));
    }
    let hubspot = HubSpotClient::new(hubspot_config).context("building the HubSpot client")?;

    let auth = if credentials.salesforce_private_key_pem.is_set() {
        SalesforceAuth::JwtBearer {
            username: credentials.salesforce_username.clone(),
            private_key_pem: crm_sync_crm::salesforce::Secret::new(credentials.salesforce_private_key_pem.expose()),
        }
    } else {
        SalesforceAuth::ClientCredentials {
            client_secret: crm_sync_crm::salesforce::Secret::new(credentials.salesforce_client_secret.expose()),
        }
    };
    let mut salesforce_config =
        SalesforceConfig::new(crm.salesforce_url.clone(), credentials.salesforce_client_id.clone(), auth);
    salesforce_config.extra_root_pem = extra_root_cert_pem.map(str::to_owned);
    if !credentials.salesforce_instance_url.trim().is_empty() {
        salesforce_config.instance_url = Some(credentials.salesforce_instance_url.trim().to_owned());
    }
    let salesforce = SalesforceClient::new(salesforce_config).context("building the Salesforce client")?;
    Ok(Crms { salesforce: Arc::new(salesforce), hubspot: Arc::new(hubspot) })
}

/// The App over the embedded state file (`None`: in memory) and the clients.
pub fn app(
    config: SyncConfig,
    state_path: Option<PathBuf>,
    crms: Crms,
    credentials: &Credentials,
) -> anyhow::Result<App> {
    embedded_app(EmbeddedParts {
        config,
        state_path,
        salesforce: crms.salesforce,
        hubspot: crms.hubspot,
        clock: Arc::new(SystemClock),
        secrets: WebhookSecrets {
            hubspot_client_secret: Secret::new(credentials.hubspot_client_secret.expose()),
            public_base_url: std::env::var(PUBLIC_URL_ENV).ok().filter(|url| !url.trim().is_empty()),
            salesforce_org_id: None,
        },
        settings: AppSettings::default(),
    })
    .context("opening the embedded state")
}

/// Everything a command that talks to the CRMs needs.
pub struct Connected {
    pub app: App,
    pub runtime: LocalRuntime,
}

/// Loads the credentials, connects to both CRMs, opens the state file.
pub fn connect(
    config: SyncConfig,
    state_path: PathBuf,
    crm: &CrmArgs,
    secrets_file: Option<&Path>,
    options: LocalOptions,
) -> anyhow::Result<Connected> {
    let credentials = Credentials::load(secrets_file)?;
    let crms = crms(crm, &credentials, None)?;
    let app = app(config, Some(state_path), crms, &credentials)?;
    let runtime = LocalRuntime::new(app.clone(), options);
    Ok(Connected { app, runtime })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print_their_secrets() {
        let credentials: Credentials = serde_json::from_str(
            r#"{"hubspot_access_token":"pat-na1-topsecret","salesforce_private_key_pem":"-----BEGIN PRIVATE KEY-----"}"#,
        )
        .unwrap();
        let printed = format!("{credentials:?}");
        assert!(!printed.contains("topsecret"), "{printed}");
        assert!(!printed.contains("PRIVATE KEY"), "{printed}");
        assert_eq!(credentials.hubspot_access_token.expose(), "pat-na1-topsecret");
    }

    #[test]
    fn a_secrets_file_of_the_wrong_shape_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, r#"{"hubspot_access_token": 5}"#).unwrap();
        // The environment variable wins when set; this test needs it unset.
        if std::env::var(CREDENTIALS_ENV).is_ok() {
            return;
        }
        let error = Credentials::load(Some(&path)).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(error.contains("secrets.json"), "{error}");
    }
}
