//! Builds the use cases' [`App`] once per cold start: the DynamoDB store and
//! the SQS queues named by the settings, both CRM clients from the
//! credentials, the sync config from its parameter, the system clock.

use std::sync::Arc;

use crm_sync_app::{App, AppParts, AppSettings, WebhookSecrets};
use crm_sync_aws::{AwsClients, AwsPorts, QueueUrls, StorageNames, TableNames};
use crm_sync_crm::hubspot::{HubSpotClient, HubSpotConfig};
use crm_sync_crm::salesforce::{SalesforceAuth, SalesforceClient, SalesforceConfig};
use crm_sync_domain::config::SyncConfig;
use crm_sync_store::{Clock, SystemClock};
use thiserror::Error;

use crate::credentials::{CredentialsError, CrmCredentials};
use crate::settings::{LambdaSettings, SettingsError};

/// The function cannot start; the message says what to fix.
#[derive(Debug, Error)]
pub enum StartupError {
    /// The environment is incomplete or malformed.
    #[error("the function's environment is not usable")]
    Settings(#[from] SettingsError),
    /// The credentials could not be read.
    #[error("the CRM credentials could not be loaded")]
    Credentials(#[from] CredentialsError),
    /// A credential both CRMs need is empty in the secret.
    #[error("the credentials secret has no {0}; fill it in (docs/deploy.md)")]
    MissingCredential(&'static str),
    /// The sync config parameter does not parse or check.
    #[error("the sync config (CRM_SYNC_CONFIG) is invalid")]
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The API cap parameter is zero.
    #[error("the Salesforce API cap must be at least 1")]
    ZeroApiCap,
    /// A CRM client could not be built.
    #[error("the {system} client could not be built")]
    Client {
        /// Which CRM.
        system: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What a test (or a local run) changes from the deployed set-up.
#[derive(Clone, Default)]
pub struct BuildOptions {
    /// One more trusted root certificate (PEM) for both CRM clients: the CRM
    /// sandbox's self-signed one.
    pub extra_root_cert_pem: Option<String>,
    /// The clock; the system clock when `None`.
    pub clock: Option<Arc<dyn Clock>>,
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("extra_root_cert_pem", &self.extra_root_cert_pem.is_some())
            .field("clock", &self.clock)
            .finish()
    }
}

/// How long a sweep invocation goes on listing before it leaves the rest
/// of a large window to the next one.
pub const SWEEP_TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(150);

/// Reads the environment, loads the AWS configuration and the credentials,
/// and builds the App: what each function's `main` calls once.
pub async fn build_app_from_env() -> Result<App, StartupError> {
    let settings = LambdaSettings::from_env()?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let app = build_app(&settings, &aws, BuildOptions::default()).await?;
    tracing::info!(
        sync_queue = %settings.sync_queue_url,
        chunk_queue = %settings.chunk_queue_url,
        state_table = %settings.state_table,
        "AppBuilt"
    );
    Ok(app)
}

/// Builds the App from settings and an AWS configuration (endpoints,
/// region, credentials), fetching the CRM credentials as the settings say.
pub async fn build_app(
    settings: &LambdaSettings,
    aws: &aws_config::SdkConfig,
    options: BuildOptions,
) -> Result<App, StartupError> {
    let credentials = CrmCredentials::load(&settings.credentials, aws).await?;
    let config = sync_config(settings)?;
    let clock = options.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
    let clients = AwsClients { dynamodb: aws_sdk_dynamodb::Client::new(aws), sqs: aws_sdk_sqs::Client::new(aws) };
    let ports = AwsPorts::new(&clients, &storage_names(settings), clock.clone());
    let hubspot = hubspot_client(settings, &credentials, &options)?;
    let salesforce = salesforce_client(settings, &credentials, &options)?;
    let app_settings = AppSettings {
        import_chunk_size: settings.import_chunk_size,
        // The sweep function has 300 s (template.yaml); one more bounded
        // listing (250 search calls at HubSpot's search rate) must fit after
        // the budget is spent.
        sweep_time_budget: SWEEP_TIME_BUDGET,
        ..AppSettings::default()
    };
    Ok(App::new(AppParts {
        config,
        store: ports.store,
        sync_queue: ports.sync_queue,
        import_queue: ports.chunk_queue,
        salesforce: Arc::new(salesforce),
        hubspot: Arc::new(hubspot),
        clock,
        secrets: WebhookSecrets {
            hubspot_client_secret: crm_sync_app::Secret::new(credentials.hubspot_client_secret.expose()),
            // The Function URL's host is the one HubSpot signs.
            public_base_url: None,
            salesforce_org_id: settings.salesforce_org_id.clone(),
        },
        settings: app_settings,
    }))
}

/// The tables and queues the settings name.
pub fn storage_names(settings: &LambdaSettings) -> StorageNames {
    StorageNames {
        tables: TableNames { state: settings.state_table.clone(), seen_events: settings.seen_events_table.clone() },
        sync_queue: QueueUrls { url: settings.sync_queue_url.clone(), dead_letter_url: settings.sync_dlq_url.clone() },
        chunk_queue: QueueUrls {
            url: settings.chunk_queue_url.clone(),
            dead_letter_url: settings.chunk_dlq_url.clone(),
        },
    }
}

/// The sync config: the parameter's text (or the defaults), with the API
/// cap parameter taking precedence over the file's.
pub fn sync_config(settings: &LambdaSettings) -> Result<SyncConfig, StartupError> {
    let mut config = match &settings.config_text {
        Some(text) => SyncConfig::from_yaml_str(text).map_err(|e| StartupError::Config(Box::new(e)))?,
        None => SyncConfig::default(),
    };
    config.salesforce_api_cap_per_24h =
        std::num::NonZeroU64::new(settings.salesforce_api_cap).ok_or(StartupError::ZeroApiCap)?;
    Ok(config)
}

fn hubspot_client(
    settings: &LambdaSettings,
    credentials: &CrmCredentials,
    options: &BuildOptions,
) -> Result<HubSpotClient, StartupError> {
    use crm_sync_crm::hubspot::Secret;
    if credentials.hubspot_access_token.is_empty() {
        return Err(StartupError::MissingCredential("hubspot_access_token"));
    }
    let mut config =
        HubSpotConfig::new(settings.hubspot_base_url.clone(), Secret::new(credentials.hubspot_access_token.expose()));
    config.extra_root_cert_pem = options.extra_root_cert_pem.clone();
    if !credentials.hubspot_client_secret.is_empty() {
        config.client_secret = Some(Secret::new(credentials.hubspot_client_secret.expose()));
    }
    HubSpotClient::new(config).map_err(|e| StartupError::Client { system: "HubSpot", source: Box::new(e) })
}

/// JWT bearer when a private key is given, else client credentials.
fn salesforce_client(
    settings: &LambdaSettings,
    credentials: &CrmCredentials,
    options: &BuildOptions,
) -> Result<SalesforceClient, StartupError> {
    use crm_sync_crm::salesforce::Secret;
    if credentials.salesforce_client_id.trim().is_empty() {
        return Err(StartupError::MissingCredential("salesforce_client_id"));
    }
    let auth = if !credentials.salesforce_private_key_pem.is_empty() {
        if credentials.salesforce_username.trim().is_empty() {
            return Err(StartupError::MissingCredential("salesforce_username"));
        }
        SalesforceAuth::JwtBearer {
            username: credentials.salesforce_username.clone(),
            private_key_pem: Secret::new(credentials.salesforce_private_key_pem.expose()),
        }
    } else if !credentials.salesforce_client_secret.is_empty() {
        SalesforceAuth::ClientCredentials { client_secret: Secret::new(credentials.salesforce_client_secret.expose()) }
    } else {
        return Err(StartupError::MissingCredential("salesforce_private_key_pem or salesforce_client_secret"));
    };
    let mut config =
        SalesforceConfig::new(settings.salesforce_login_url.clone(), credentials.salesforce_client_id.clone(), auth);
    if !credentials.salesforce_instance_url.trim().is_empty() {
        config.instance_url = Some(credentials.salesforce_instance_url.clone());
    }
    config.extra_root_pem = options.extra_root_cert_pem.clone();
    SalesforceClient::new(config).map_err(|e| StartupError::Client { system: "Salesforce", source: Box::new(e) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> LambdaSettings {
        let base = [
            (crate::settings::STATE_TABLE, "state"),
            (crate::settings::SEEN_EVENTS_TABLE, "seen"),
            (crate::settings::SYNC_QUEUE_URL, "http://q/sync"),
            (crate::settings::SYNC_DLQ_URL, "http://q/sync-dlq"),
            (crate::settings::CHUNK_QUEUE_URL, "http://q/chunks"),
            (crate::settings::CHUNK_DLQ_URL, "http://q/chunks-dlq"),
            (crate::settings::CREDENTIALS_JSON, "{}"),
        ];
        let all: std::collections::HashMap<String, String> =
            base.iter().chain(pairs).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        LambdaSettings::from_lookup(|k| all.get(k).cloned()).unwrap()
    }

    #[test]
    fn the_api_cap_parameter_overrides_the_config_files_cap() {
        let s = settings(&[
            (crate::settings::CONFIG, "salesforce_api_cap_per_24h: 20000\n"),
            (crate::settings::SALESFORCE_API_CAP, "5000"),
        ]);
        assert_eq!(sync_config(&s).unwrap().salesforce_api_cap_per_24h.get(), 5000);
    }

    #[test]
    fn an_invalid_config_parameter_stops_the_start() {
        let s = settings(&[(crate::settings::CONFIG, "objects: [not, a, map]\n")]);
        assert!(matches!(sync_config(&s), Err(StartupError::Config(_))));
    }

    #[test]
    fn a_zero_api_cap_is_refused() {
        let s = settings(&[(crate::settings::SALESFORCE_API_CAP, "0")]);
        assert!(matches!(sync_config(&s), Err(StartupError::ZeroApiCap)));
    }

    #[test]
    fn the_storage_names_are_the_ones_the_template_sets() {
        let names = storage_names(&settings(&[]));
        assert_eq!(names.tables.seen_events, "seen");
        assert_eq!(names.chunk_queue.dead_letter_url, "http://q/chunks-dlq");
    }

    #[tokio::test]
    async fn an_unfilled_secret_names_the_missing_credential() {
        let s = settings(&[]);
        let aws = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let err = build_app(&s, &aws, BuildOptions::default()).await.unwrap_err();
        assert!(err.to_string().contains("hubspot_access_token"), "{err}");
    }
}
