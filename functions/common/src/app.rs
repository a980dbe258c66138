//! Builds the use cases' [`App`] once per cold start: reads the settings,
//! fetches the CRM credentials, parses the sync config, and hands them to
//! the App builder (`crm_sync_app::build::aws_app`), which wires DynamoDB,
//! SQS and both CRM clients.

use std::sync::Arc;

use crm_sync_app::build::{AwsApp, BuildError, CredentialsError, CrmEndpoints, QueueUrls, StorageNames, TableNames};
use crm_sync_app::build::{aws_app, load_credentials};
use crm_sync_app::domain::SyncConfig;
use crm_sync_app::store::Clock;
use crm_sync_app::{App, AppSettings};
use thiserror::Error;

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
    /// The sync config parameter does not parse or check.
    #[error("the sync config (CRM_SYNC_CONFIG) is invalid")]
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The API cap parameter is zero.
    #[error("the Salesforce API cap must be at least 1")]
    ZeroApiCap,
    /// A credential is missing or a CRM client could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
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
    let credentials = load_credentials(&settings.credentials, aws).await?;
    let config = sync_config(settings)?;
    let target = AwsApp {
        config,
        storage: storage_names(settings),
        endpoints: CrmEndpoints {
            salesforce_login_url: settings.salesforce_login_url.clone(),
            hubspot_base_url: settings.hubspot_base_url.clone(),
            extra_root_cert_pem: options.extra_root_cert_pem,
        },
        salesforce_org_id: settings.salesforce_org_id.clone(),
        clock: options.clock,
        settings: AppSettings {
            import_chunk_size: settings.import_chunk_size,
            // The sweep function has 300 s (template.yaml); one more bounded
            // listing (250 search calls at HubSpot's search rate) must fit
            // after the budget is spent.
            sweep_time_budget: SWEEP_TIME_BUDGET,
            ..AppSettings::default()
        },
    };
    Ok(aws_app(target, &credentials, aws).await?)
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
