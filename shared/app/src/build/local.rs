//! The local deployment's [`App`]: the embedded SQLite store (a file, or
//! memory) with its two queues in the same file, the system clock, and the
//! CRM clients from [`crm_clients`].
//!
//! What runs it is the local runtime (`crate::local`); this module only
//! assembles. The store is opened here and nowhere else, so that the CLI's
//! reading commands ([`open_state_file`]) and the runtime see the same file
//! the same way.

use super::{BuildError, Credentials, CrmEndpoints, Crms, crm_clients};
use crate::ports::{HubspotApi, SalesforceApi};
use crate::{App, AppError, AppParts, AppSettings, SalesforceOrg, WebhookSecrets};
use crm_sync_domain::config::SyncConfig;
use crm_sync_store::sqlite::{SqliteQueue, SqliteStore};
use crm_sync_store::{Clock, QueueName, QueueSettings, StoreError, SystemClock};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{info, warn};

/// Environment variable naming the Salesforce org whose outbound messages
/// are accepted (`00D...`); read by the CLI and the deployed functions.
pub const SALESFORCE_ORG_ID_ENV: &str = "CRM_SYNC_SALESFORCE_ORG_ID";

/// What [`local_app`] needs: the settings, the state file and the CRMs.
#[derive(Debug, Clone)]
pub struct LocalApp {
    /// The sync settings.
    pub config: SyncConfig,
    /// The state file; `None` keeps everything in memory.
    pub state_path: Option<PathBuf>,
    /// Where the CRMs are.
    pub endpoints: CrmEndpoints,
    /// The public base URL HubSpot calls (the signature covers the full
    /// URL); `None`: the URL as received.
    pub public_base_url: Option<String>,
    /// The Salesforce org outbound messages must come from
    /// ([`SALESFORCE_ORG_ID_ENV`]); `None`: [`serving_app`] asks Salesforce.
    pub salesforce_org_id: Option<String>,
}

/// The local deployment's App for commands that receive no outbound
/// messages (import, resync): CRM clients, embedded store and queues, system
/// clock, default tunables. No call is made; the org is the configured one,
/// else unknown.
pub fn local_app(target: LocalApp, credentials: &Credentials) -> Result<App, BuildError> {
    let org = match configured_org(&target)? {
        Some(org) => org,
        None => SalesforceOrg::Unknown("only `crm-sync serve` learns the Salesforce org".to_owned()),
    };
    let crms = crm_clients(&target.endpoints, credentials)?;
    assemble(target, credentials, crms, org)
}

/// The App of `crm-sync serve`, which receives outbound messages: as
/// [`local_app`], with the org they must come from known. The configured org
/// when there is one, else the integration user's org, asked of Salesforce
/// (one token request, which the first sync call then reuses). When that
/// fails, the App still starts, refusing every outbound message; the reason
/// is logged here, at start, and held by the App for each refusal.
pub async fn serving_app(target: LocalApp, credentials: &Credentials) -> Result<App, BuildError> {
    let crms = crm_clients(&target.endpoints, credentials)?;
    let org = match configured_org(&target)? {
        Some(org) => org,
        None => learn_org(crms.salesforce.as_ref()).await,
    };
    assemble(target, credentials, crms, org)
}

/// The configured org id, checked; `None` when none is configured.
fn configured_org(target: &LocalApp) -> Result<Option<SalesforceOrg>, BuildError> {
    let Some(id) = target.salesforce_org_id.as_deref().filter(|id| !id.trim().is_empty()) else {
        return Ok(None);
    };
    SalesforceOrg::configured(id)
        .map(Some)
        .map_err(|reason| BuildError::OrgId { variable: SALESFORCE_ORG_ID_ENV, reason })
}

/// The integration user's org, or the reason it is not known.
pub(super) async fn learn_org(salesforce: &dyn SalesforceApi) -> SalesforceOrg {
    match salesforce.organization_id().await {
        Ok(org) => {
            info!(%org, "SalesforceOrgLearned");
            SalesforceOrg::Only(org)
        }
        Err(error) => {
            let reason = format!(
                "the Salesforce org could not be learned ({error}); outbound messages are refused until \
                 {SALESFORCE_ORG_ID_ENV} is set or Salesforce answers at the next start"
            );
            warn!(%reason, "OutboundMessagesRefused");
            SalesforceOrg::Unknown(reason)
        }
    }
}

/// The local App from its parts.
fn assemble(target: LocalApp, credentials: &Credentials, crms: Crms, org: SalesforceOrg) -> Result<App, BuildError> {
    let app = open_embedded(EmbeddedParts {
        config: target.config,
        state_path: target.state_path,
        salesforce: crms.salesforce,
        hubspot: crms.hubspot,
        clock: Arc::new(SystemClock),
        secrets: WebhookSecrets {
            hubspot_client_secret: credentials.hubspot_client_secret.clone(),
            public_base_url: target.public_base_url,
            salesforce_org: org,
        },
        settings: AppSettings::default(),
    })?;
    Ok(app)
}

/// Opens the state file alone, for commands that only read the state
/// (health, usage, import status); creates it when missing.
pub fn open_state_file(path: &Path) -> Result<SqliteStore, StoreError> {
    SqliteStore::open(path, Arc::new(SystemClock))
}

/// The sync queue of an embedded store, with the receive limit of
/// [`crate::retry::MAX_RECEIVES`] (as the template's sync queue).
pub fn local_sync_queue(store: &SqliteStore) -> SqliteQueue {
    store.queue(QueueName::SyncIntents.as_str(), QueueSettings { max_receive_count: crate::retry::MAX_RECEIVES })
}

/// The import-chunk queue of an embedded store: the same receive limit (as
/// the template's chunk queue), so that a chunk's retries outlast an
/// hour-long outage too.
pub fn local_import_queue(store: &SqliteStore) -> SqliteQueue {
    store.queue(QueueName::ImportChunks.as_str(), QueueSettings { max_receive_count: crate::retry::MAX_RECEIVES })
}

/// What [`embedded_app`] needs besides the embedded store: every part that a
/// test or the demo may want to choose itself (clients, clock, secrets).
pub struct EmbeddedParts {
    /// The sync settings.
    pub config: SyncConfig,
    /// The state file; `None` keeps everything in memory (tests, demo).
    pub state_path: Option<PathBuf>,
    /// The Salesforce port.
    pub salesforce: Arc<dyn SalesforceApi>,
    /// The HubSpot port.
    pub hubspot: Arc<dyn HubspotApi>,
    /// The clock of the store and the use cases.
    pub clock: Arc<dyn Clock>,
    /// What webhook handling checks deliveries with.
    pub secrets: WebhookSecrets,
    /// Tunables.
    pub settings: AppSettings,
}

/// Builds an [`App`] over the embedded SQLite store and its two queues (the
/// local deployment, the demo and the tests).
pub fn embedded_app(parts: EmbeddedParts) -> Result<App, AppError> {
    Ok(open_embedded(parts)?)
}

/// The one place the embedded store and its queues are opened for an App.
fn open_embedded(parts: EmbeddedParts) -> Result<App, StoreError> {
    let store = match &parts.state_path {
        Some(path) => SqliteStore::open(path, parts.clock.clone())?,
        None => SqliteStore::open_in_memory(parts.clock.clone())?,
    };
    let sync_queue = Arc::new(local_sync_queue(&store));
    let import_queue = Arc::new(local_import_queue(&store));
    Ok(App::new(AppParts {
        config: parts.config,
        store: Arc::new(store),
        sync_queue,
        import_queue,
        salesforce: parts.salesforce,
        hubspot: parts.hubspot,
        clock: parts.clock,
        secrets: parts.secrets,
        settings: parts.settings,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crm_sync_domain::secret::Secret;

    fn sandbox_credentials() -> Credentials {
        Credentials {
            salesforce_client_id: "client".into(),
            salesforce_client_secret: Secret::new("secret"),
            hubspot_access_token: Secret::new("token"),
            hubspot_client_secret: Secret::new("hub-secret"),
            ..Credentials::default()
        }
    }

    fn target(state_path: Option<PathBuf>) -> LocalApp {
        LocalApp {
            config: SyncConfig::default(),
            state_path,
            endpoints: CrmEndpoints {
                salesforce_login_url: "http://127.0.0.1:9".into(),
                hubspot_base_url: "http://127.0.0.1:9".into(),
                extra_root_cert_pem: None,
            },
            public_base_url: Some("https://sync.example.com".into()),
            salesforce_org_id: None,
        }
    }

    #[tokio::test]
    async fn the_local_app_uses_the_embedded_queues_and_the_given_webhook_secrets() {
        let app = local_app(target(None), &sandbox_credentials()).unwrap();
        assert_eq!(app.secrets().hubspot_client_secret.expose(), "hub-secret");
        assert_eq!(app.secrets().public_base_url.as_deref(), Some("https://sync.example.com"));
        assert!(matches!(app.secrets().salesforce_org, SalesforceOrg::Unknown(_)), "no call, so no org");
        assert_eq!(app.sync_queue().name(), QueueName::SyncIntents.as_str());
        assert_eq!(app.import_queue().name(), QueueName::ImportChunks.as_str());
        assert_eq!(app.sync_queue().depth().await.unwrap().visible, 0);
    }

    #[tokio::test]
    async fn a_configured_org_is_taken_without_asking_salesforce_and_a_malformed_one_is_refused() {
        let mut configured = target(None);
        configured.salesforce_org_id = Some("00DRO0000000001".into());
        // The endpoints answer nothing: a call would fail and leave the org unknown.
        let app = serving_app(configured.clone(), &sandbox_credentials()).await.unwrap();
        assert_eq!(app.secrets().salesforce_org, SalesforceOrg::Only("00DRO0000000001".into()));
        configured.salesforce_org_id = Some("my-org".into());
        let error = serving_app(configured, &sandbox_credentials()).await.err().unwrap().to_string();
        assert!(error.contains(SALESFORCE_ORG_ID_ENV) && error.contains("my-org"), "{error}");
    }

    #[tokio::test]
    async fn an_org_salesforce_cannot_be_asked_for_is_unknown_and_says_why() {
        let app = serving_app(target(None), &sandbox_credentials()).await.unwrap();
        match &app.secrets().salesforce_org {
            SalesforceOrg::Unknown(reason) => assert!(reason.contains(SALESFORCE_ORG_ID_ENV), "{reason}"),
            other => panic!("expected an unknown org, got {other:?}"),
        }
    }

    #[test]
    fn empty_credentials_still_build_a_local_app() {
        // The CRM sandbox accepts anything; a real CRM refuses on the first call.
        assert!(local_app(target(None), &Credentials::default()).is_ok());
    }

    #[test]
    fn the_state_file_is_created_and_reopened() {
        let dir = std::env::temp_dir().join(format!("crm-sync-build-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.sqlite");
        drop(local_app(target(Some(path.clone())), &sandbox_credentials()).unwrap());
        assert!(path.exists());
        assert!(open_state_file(&path).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
