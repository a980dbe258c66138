//! Builds the use cases' [`App`] once per function instance, at its first
//! event: reads the settings (at the cold start), fetches the CRM
//! credentials, parses the sync config, and hands them to the App builder (`crm_sync_app::build::aws_app`), which wires DynamoDB,
//! SQS and both CRM clients.

use std::sync::Arc;

use crm_sync_app::build::{
    AwsApp, BuildError, CredentialsError, CrmEndpoints, DeployedConfigError, DynamoStore, QueueUrls, StorageNames,
    TableNames,
};
use crm_sync_app::build::{aws_app, deployed_config, deployed_config_from_text, dynamo_store, load_credentials};
use crm_sync_app::domain::SyncConfig;
use crm_sync_app::store::Clock;
use crm_sync_app::{App, AppSettings};
use std::time::Duration;
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
    /// The settings pushed to the state table could not be read.
    #[error("the deployment's settings could not be read")]
    DeployedSettings(#[source] DeployedConfigError),
}

impl From<DeployedConfigError> for StartupError {
    fn from(error: DeployedConfigError) -> Self {
        match error {
            DeployedConfigError::ZeroApiCap => StartupError::ZeroApiCap,
            DeployedConfigError::FirstValue(e) => StartupError::Config(Box::new(e)),
            other @ (DeployedConfigError::Stored { .. } | DeployedConfigError::Store(_)) => {
                StartupError::DeployedSettings(other)
            }
        }
    }
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

/// Reads the environment and the AWS configuration: what each function's
/// `main` calls once. Nothing goes over the network here, so the function
/// is ready for its first event at once; the App is built at that event
/// ([`FunctionApp::current`]). A malformed environment still fails the
/// cold start.
pub async fn build_app_from_env() -> Result<FunctionApp, StartupError> {
    let settings = LambdaSettings::from_env()?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    Ok(FunctionApp { settings, aws, live: tokio::sync::OnceCell::new() })
}

/// A function's App, built at its first event: the CRM credentials and the
/// deployed settings are read then, not during the cold start (Lambda's
/// init phase), and kept for every later event ([`LiveApp`]). A first
/// event that cannot build it fails with the reason, and the next event
/// tries again.
pub struct FunctionApp {
    settings: LambdaSettings,
    aws: aws_config::SdkConfig,
    live: tokio::sync::OnceCell<LiveApp>,
}

impl std::fmt::Debug for FunctionApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionApp").field("built", &self.live.initialized()).finish_non_exhaustive()
    }
}

impl FunctionApp {
    /// The App for the next event, built first if this is the first.
    pub async fn current(&self) -> Result<App, StartupError> {
        let live = self
            .live
            .get_or_try_init(|| async {
                let app = build_live_app(&self.settings, &self.aws, BuildOptions::default()).await?;
                let settings_version = app.version().await;
                tracing::info!(
                    sync_queue = %self.settings.sync_queue_url,
                    chunk_queue = %self.settings.chunk_queue_url,
                    state_table = %self.settings.state_table,
                    settings_version,
                    "AppBuilt"
                );
                Ok::<_, StartupError>(app)
            })
            .await?;
        Ok(live.current().await)
    }
}

/// How often a function asks the state table whether the settings changed
/// (one small read); a push reaches every function within this time of its
/// next event.
pub const SETTINGS_CHECK_EVERY: Duration = Duration::from_secs(60);

/// The App of a running function, with the settings it was built with
/// replaced when a newer version is pushed to the state table
/// (`crm-sync config push`). Each event takes [`LiveApp::current`].
pub struct LiveApp {
    store: DynamoStore,
    api_cap: u64,
    state: tokio::sync::Mutex<LiveState>,
}

struct LiveState {
    app: App,
    version: Option<u64>,
    checked_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for LiveApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveApp").field("store", &self.store).finish_non_exhaustive()
    }
}

impl LiveApp {
    /// The App for the next event. At most once per [`SETTINGS_CHECK_EVERY`]
    /// (by the App's clock) the settings version is read; when it moved on,
    /// the new settings are loaded and the App rebuilt over them
    /// ([`App::with_config`]: same store, queues and clients). Settings that
    /// cannot be read or do not check leave the App as it is, with a
    /// warning; the next push is picked up as usual.
    pub async fn current(&self) -> App {
        let mut state = self.state.lock().await;
        let now = state.app.clock().now();
        let due = now.signed_duration_since(state.checked_at).to_std().map_or(true, |age| age >= SETTINGS_CHECK_EVERY);
        if !due {
            return state.app.clone();
        }
        state.checked_at = now;
        match self.store.settings_version().await {
            Ok(Some(version)) if Some(version) != state.version => {
                match deployed_config(&self.store, None, Some(self.api_cap)).await {
                    Ok(deployed) => {
                        state.app = state.app.with_config(deployed.config);
                        state.version = deployed.version;
                        tracing::info!(settings_version = deployed.version, "SettingsReloaded");
                    }
                    Err(error) => {
                        // Not tried again until the next push.
                        state.version = Some(version);
                        tracing::warn!(settings_version = version, error = %error, "SettingsNotReloaded");
                    }
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "SettingsVersionUnread"),
        }
        state.app.clone()
    }

    /// The pushed settings version the App runs with (`None`: the
    /// template's first value).
    pub async fn version(&self) -> Option<u64> {
        self.state.lock().await.version
    }
}

/// [`build_app`], kept up to date with pushed settings.
pub async fn build_live_app(
    settings: &LambdaSettings,
    aws: &aws_config::SdkConfig,
    options: BuildOptions,
) -> Result<LiveApp, StartupError> {
    let credentials = complete_credentials(settings, aws).await?;
    let store = settings_store(settings, aws);
    let deployed = deployed_config(&store, settings.config_text.as_deref(), Some(settings.salesforce_api_cap)).await?;
    let app = build_with_config(settings, aws, options, &credentials, deployed.config).await?;
    let checked_at = app.clock().now();
    Ok(LiveApp {
        store,
        api_cap: settings.salesforce_api_cap,
        state: tokio::sync::Mutex::new(LiveState { app, version: deployed.version, checked_at }),
    })
}

fn settings_store(settings: &LambdaSettings, aws: &aws_config::SdkConfig) -> DynamoStore {
    dynamo_store(aws, &storage_names(settings).tables)
}

/// Builds the App from settings and an AWS configuration (endpoints,
/// region, credentials), fetching the CRM credentials as the settings say
/// and the sync settings from the state table (else the `SyncConfig`
/// parameter).
pub async fn build_app(
    settings: &LambdaSettings,
    aws: &aws_config::SdkConfig,
    options: BuildOptions,
) -> Result<App, StartupError> {
    let credentials = complete_credentials(settings, aws).await?;
    let store = settings_store(settings, aws);
    let deployed = deployed_config(&store, settings.config_text.as_deref(), Some(settings.salesforce_api_cap)).await?;
    build_with_config(settings, aws, options, &credentials, deployed.config).await
}

/// The CRM credentials, checked complete before anything else is read: a
/// function without them fails its cold start naming the missing one.
async fn complete_credentials(
    settings: &LambdaSettings,
    aws: &aws_config::SdkConfig,
) -> Result<crm_sync_app::Credentials, StartupError> {
    let credentials = load_credentials(&settings.credentials, aws).await?;
    credentials.check_complete()?;
    Ok(credentials)
}

async fn build_with_config(
    settings: &LambdaSettings,
    aws: &aws_config::SdkConfig,
    options: BuildOptions,
    credentials: &crm_sync_app::Credentials,
    config: SyncConfig,
) -> Result<App, StartupError> {
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
    Ok(aws_app(target, credentials, aws).await?)
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

/// The sync config of the parameter's text (or the defaults), with the API
/// cap parameter taking precedence over the file's: the first value, used
/// until settings are pushed to the state table.
pub fn sync_config(settings: &LambdaSettings) -> Result<SyncConfig, StartupError> {
    if settings.salesforce_api_cap == 0 {
        return Err(StartupError::ZeroApiCap);
    }
    deployed_config_from_text(settings.config_text.as_deref(), "CRM_SYNC_CONFIG", Some(settings.salesforce_api_cap))
        .map_err(|e| StartupError::Config(Box::new(e)))
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
