//! The deployed [`App`] (feature `aws`): DynamoDB store, SQS queues, the CRM
//! credentials from Secrets Manager, and the CRM clients from
//! [`crm_clients`].
//!
//! This module assembles only. Which tables, queues and secret to use comes
//! in as plain values ([`AwsApp`], [`CredentialsSource`]); reading them from
//! the environment is the functions' job (`crm_sync_lambda::settings`), so
//! that tests can point the same builder at emulators.
//!
//! Unlike the local deployment, a deployed App refuses to start on
//! incomplete credentials ([`Credentials::check_complete`]): a function that
//! cannot reach a CRM should fail at its cold start, visibly, not on every
//! message.

use super::SALESFORCE_ORG_ID_ENV;
use super::{BuildError, Credentials, CredentialsError, CrmEndpoints, Crms, crm_clients};
use crate::{App, AppParts, AppSettings, SalesforceOrg, WebhookSecrets};
use crm_sync_aws::{AwsClients, AwsPorts};
use crm_sync_domain::config::SyncConfig;
use crm_sync_store::{Clock, SystemClock};
use std::sync::Arc;

pub use crm_sync_aws::{DynamoStore, QueueUrls, StorageNames, StoredSettings, TableNames};

/// Where the CRM credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    /// A Secrets Manager secret (ARN or name): the deployed case.
    SecretsManager(String),
    /// JSON given directly (`CRM_SYNC_CREDENTIALS`): local runs and tests.
    Inline(String),
}

impl std::fmt::Debug for CredentialsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SecretsManager(arn) => f.debug_tuple("SecretsManager").field(arn).finish(),
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

/// Loads the credentials from where `source` says: one Secrets Manager call
/// in the deployed case, none for inline JSON.
pub async fn load_credentials(
    source: &CredentialsSource,
    aws: &aws_config::SdkConfig,
) -> Result<Credentials, CredentialsError> {
    match source {
        CredentialsSource::Inline(json) => Credentials::from_json(json),
        CredentialsSource::SecretsManager(id) => {
            let client = aws_sdk_secretsmanager::Client::new(aws);
            let out = client
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| CredentialsError::SecretsManager(Box::new(e)))?;
            let json = out.secret_string().ok_or(CredentialsError::NotAString)?;
            Credentials::from_json(json)
        }
    }
}

/// What [`aws_app`] needs besides the credentials and the AWS configuration.
#[derive(Clone)]
pub struct AwsApp {
    /// The sync settings.
    pub config: SyncConfig,
    /// The DynamoDB tables and SQS queues.
    pub storage: StorageNames,
    /// Where the CRMs are.
    pub endpoints: CrmEndpoints,
    /// The Salesforce org id outbound messages must come from; `None`
    /// accepts any org.
    pub salesforce_org_id: Option<String>,
    /// The clock; the system clock when `None` (tests shift it).
    pub clock: Option<Arc<dyn Clock>>,
    /// Tunables.
    pub settings: AppSettings,
}

impl std::fmt::Debug for AwsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsApp")
            .field("storage", &self.storage)
            .field("endpoints", &self.endpoints.salesforce_login_url)
            .field("salesforce_org_id", &self.salesforce_org_id)
            .finish_non_exhaustive()
    }
}

/// The settings a deployment runs with, and which version of the settings
/// pushed to its state table they are.
#[derive(Debug, Clone)]
pub struct DeployedConfig {
    /// The sync settings, with the stack's API cap applied.
    pub config: SyncConfig,
    /// The pushed version they come from; `None`: nothing was pushed yet,
    /// they are the template's first value (or the defaults).
    pub version: Option<u64>,
}

/// The deployment's settings could not be read or do not check.
#[derive(Debug, thiserror::Error)]
pub enum DeployedConfigError {
    /// The state table could not be read.
    #[error("reading the settings from the state table failed")]
    Store(#[from] crm_sync_store::StoreError),
    /// The settings in the state table do not check (pushed by hand, or by
    /// an older version with other rules).
    #[error("the settings version {version} in the state table is invalid")]
    Stored {
        /// The pushed version.
        version: u64,
        /// Why.
        #[source]
        source: crm_sync_domain::config::ConfigError,
    },
    /// The template's `SyncConfig` parameter does not check.
    #[error("the sync config (CRM_SYNC_CONFIG) is invalid")]
    FirstValue(#[source] crm_sync_domain::config::ConfigError),
    /// The API cap is zero.
    #[error("the Salesforce API cap must be at least 1")]
    ZeroApiCap,
}

/// Name under which pushed settings appear in error messages.
pub const PUSHED_SETTINGS_NAME: &str = "the deployment's settings";

/// The settings text as the deployment applies it: parsed and checked as
/// `config check` does, with `api_cap` (the stack's `SalesforceApiCap`
/// parameter, when known) taking precedence over the file's cap. `None`
/// text: the defaults.
pub fn deployed_config_from_text(
    text: Option<&str>,
    source_name: &str,
    api_cap: Option<u64>,
) -> Result<SyncConfig, crm_sync_domain::config::ConfigError> {
    let mut config = match text.filter(|t| !t.trim().is_empty()) {
        Some(text) => SyncConfig::from_yaml_source(text, source_name)?,
        None => SyncConfig::default(),
    };
    if let Some(cap) = api_cap.and_then(std::num::NonZeroU64::new) {
        config.salesforce_api_cap_per_24h = cap;
    }
    Ok(config)
}

/// The settings a deployment runs with: the newest version pushed to its
/// state table (`crm-sync config push`), else `first_value` (the template's
/// `SyncConfig` parameter), else the defaults; `api_cap` as in
/// [`deployed_config_from_text`]. One read of the state table.
pub async fn deployed_config(
    store: &DynamoStore,
    first_value: Option<&str>,
    api_cap: Option<u64>,
) -> Result<DeployedConfig, DeployedConfigError> {
    if api_cap == Some(0) {
        return Err(DeployedConfigError::ZeroApiCap);
    }
    match store.current_settings().await? {
        Some(stored) => {
            let config = deployed_config_from_text(Some(&stored.text), PUSHED_SETTINGS_NAME, api_cap)
                .map_err(|source| DeployedConfigError::Stored { version: stored.version, source })?;
            Ok(DeployedConfig { config, version: Some(stored.version) })
        }
        None => {
            let config = deployed_config_from_text(first_value, "CRM_SYNC_CONFIG", api_cap)
                .map_err(DeployedConfigError::FirstValue)?;
            Ok(DeployedConfig { config, version: None })
        }
    }
}

/// The state table's store alone (settings, or reading the state), with the
/// system clock; no call is made.
pub fn dynamo_store(aws: &aws_config::SdkConfig, tables: &TableNames) -> DynamoStore {
    DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), tables.clone(), Arc::new(SystemClock))
}

/// The store and both queues of a deployment, for the operator commands
/// that need no CRM (sync health, usage, import status, dead letters): the
/// same adapters the functions use.
pub fn aws_ports(aws: &aws_config::SdkConfig, storage: &StorageNames) -> AwsPorts {
    let clients = AwsClients { dynamodb: aws_sdk_dynamodb::Client::new(aws), sqs: aws_sdk_sqs::Client::new(aws) };
    AwsPorts::new(&clients, storage, Arc::new(SystemClock))
}

/// The deployed App as an operator's command uses it (import, resync):
/// the same DynamoDB store, SQS queues and CRM clients as [`aws_app`], for
/// a process that receives no outbound messages (so no org is learned and
/// no credential is required up front: a command that calls a CRM checks
/// the credentials it needs with [`Credentials::check_for`] first). Makes no
/// AWS call.
pub fn operator_app(target: AwsApp, credentials: &Credentials, aws: &aws_config::SdkConfig) -> Result<App, BuildError> {
    let org = SalesforceOrg::Unknown("an operator command receives no outbound messages".to_owned());
    Ok(assemble(wire_parts(target, credentials, aws)?, credentials, org))
}

/// The App over the stack's DynamoDB store and SQS queues and both CRM
/// clients; makes no call.
fn wire_parts(
    target: AwsApp,
    credentials: &Credentials,
    aws: &aws_config::SdkConfig,
) -> Result<(AwsApp, AwsPorts, Crms, Arc<dyn Clock>), BuildError> {
    let clock = target.clock.clone().unwrap_or_else(|| Arc::new(SystemClock));
    let clients = AwsClients { dynamodb: aws_sdk_dynamodb::Client::new(aws), sqs: aws_sdk_sqs::Client::new(aws) };
    let ports = AwsPorts::new(&clients, &target.storage, clock.clone());
    let crms = crm_clients(&target.endpoints, credentials)?;
    Ok((target, ports, crms, clock))
}

/// Assembles the deployed App from its wired parts and the org whose
/// outbound messages it accepts. The Function URL's host is the one HubSpot
/// signs, so no public base URL is set.
fn assemble(
    (target, ports, crms, clock): (AwsApp, AwsPorts, Crms, Arc<dyn Clock>),
    credentials: &Credentials,
    salesforce_org: SalesforceOrg,
) -> App {
    App::new(AppParts {
        config: target.config,
        store: ports.store,
        sync_queue: ports.sync_queue,
        import_queue: ports.chunk_queue,
        salesforce: crms.salesforce,
        hubspot: crms.hubspot,
        clock,
        secrets: WebhookSecrets {
            hubspot_client_secret: credentials.hubspot_client_secret.clone(),
            public_base_url: None,
            salesforce_org,
        },
        settings: target.settings,
    })
}

/// The deployed App: checks the credentials are complete, then wires the
/// DynamoDB store, the SQS queues and both CRM clients. Makes no AWS call
/// (clients connect on first use). Outbound messages are accepted from the
/// configured org only; with none configured, from the integration user's
/// org, asked of Salesforce here (one token request, which the function's
/// first Salesforce call then reuses); when Salesforce cannot say, every
/// outbound message is refused until the next start, and the sweep still
/// brings the changes.
pub async fn aws_app(
    target: AwsApp,
    credentials: &Credentials,
    aws: &aws_config::SdkConfig,
) -> Result<App, BuildError> {
    credentials.check_complete()?;
    let configured = match target.salesforce_org_id.as_deref().filter(|id| !id.trim().is_empty()) {
        Some(id) => Some(
            SalesforceOrg::configured(id)
                .map_err(|reason| BuildError::OrgId { variable: SALESFORCE_ORG_ID_ENV, reason })?,
        ),
        None => None,
    };
    let parts = wire_parts(target, credentials, aws)?;
    let salesforce_org = match configured {
        Some(org) => org,
        None => super::local::learn_org(parts.2.salesforce.as_ref()).await,
    };
    Ok(assemble(parts, credentials, salesforce_org))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn aws() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build()
    }

    fn target() -> AwsApp {
        let queue =
            |name: &str| QueueUrls { url: format!("http://q/{name}"), dead_letter_url: format!("http://q/{name}-dlq") };
        AwsApp {
            config: SyncConfig::default(),
            storage: StorageNames {
                tables: TableNames { state: "state".into(), seen_events: "seen".into() },
                sync_queue: queue("sync"),
                chunk_queue: queue("chunks"),
            },
            endpoints: CrmEndpoints::default(),
            salesforce_org_id: Some("00D000000000001".into()),
            clock: None,
            settings: AppSettings::default(),
        }
    }

    #[tokio::test]
    async fn inline_credentials_load_without_any_aws_call() {
        let source = CredentialsSource::Inline(r#"{"hubspot_access_token":"pat"}"#.into());
        let creds = load_credentials(&source, &aws_config::SdkConfig::builder().build()).await.unwrap();
        assert_eq!(creds.hubspot_access_token.expose(), "pat");
    }

    #[test]
    fn inline_credentials_never_print() {
        let source = CredentialsSource::Inline(r#"{"hubspot_access_token":"pat-secret"}"#.into());
        assert!(!format!("{source:?}").contains("pat-secret"));
    }

    #[tokio::test]
    async fn an_unfilled_secret_names_the_missing_credential() {
        let err = aws_app(target(), &Credentials::default(), &aws()).await.unwrap_err();
        assert!(err.to_string().contains("hubspot_access_token"), "{err}");
    }

    #[tokio::test]
    async fn complete_credentials_build_the_app_with_the_org_check_and_no_public_url() {
        let credentials = Credentials::from_json(
            r#"{"hubspot_access_token":"pat","hubspot_client_secret":"hs","salesforce_client_id":"id",
                "salesforce_client_secret":"sf"}"#,
        )
        .unwrap();
        let app = aws_app(target(), &credentials, &aws()).await.unwrap();
        assert_eq!(app.secrets().salesforce_org, SalesforceOrg::Only("00D000000000001".into()));
        assert_eq!(app.secrets().public_base_url, None);
        assert_eq!(app.secrets().hubspot_client_secret.expose(), "hs");
    }
}
