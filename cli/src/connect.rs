//! Connecting the local deployment: the credentials (from the environment or
//! a secrets file, never from flags, the settings file or the logs), then the
//! App over the embedded state file and the [`LocalRuntime`] that runs it.
//!
//! Building is `crm_sync_app::build`'s job (the same builder the deployed
//! functions use); this module only turns the command line into its inputs.

use crate::args::CrmArgs;
use anyhow::Context;
use crm_sync_app::App;
use crm_sync_app::build::{Credentials, CrmEndpoints, LocalApp, SALESFORCE_ORG_ID_ENV, local_app, serving_app};
use crm_sync_app::domain::SyncConfig;
use crm_sync_app::local::{LocalOptions, LocalRuntime};
use std::path::{Path, PathBuf};

/// The public base URL HubSpot calls (the signature covers the full URL);
/// unset: the URL as received.
pub const PUBLIC_URL_ENV: &str = "CRM_SYNC_PUBLIC_URL";

/// Where the CRMs are, from the command line. `extra_root_cert_pem` trusts
/// one more certificate (the sandbox's, when it runs with TLS).
pub fn endpoints(crm: &CrmArgs, extra_root_cert_pem: Option<&str>) -> CrmEndpoints {
    CrmEndpoints {
        salesforce_login_url: crm
            .salesforce_url
            .clone()
            .unwrap_or_else(|| crm_sync_app::build::DEFAULT_SALESFORCE_LOGIN_URL.to_owned()),
        hubspot_base_url: crm
            .hubspot_url
            .clone()
            .unwrap_or_else(|| crm_sync_app::build::DEFAULT_HUBSPOT_BASE_URL.to_owned()),
        extra_root_cert_pem: extra_root_cert_pem.map(str::to_owned),
    }
}

/// What the local App is built from, with the settings read from the
/// environment (the public URL, the Salesforce org).
fn target(config: SyncConfig, state_path: Option<PathBuf>, endpoints: CrmEndpoints) -> LocalApp {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    LocalApp {
        config,
        state_path,
        endpoints,
        public_base_url: env(PUBLIC_URL_ENV),
        salesforce_org_id: env(SALESFORCE_ORG_ID_ENV),
    }
}

/// The App over the embedded state file (`None`: in memory) and the CRMs,
/// for a process that also receives their webhooks (the demo): the
/// Salesforce org is known as `serve` knows it.
pub async fn app(
    config: SyncConfig,
    state_path: Option<PathBuf>,
    endpoints: CrmEndpoints,
    credentials: &Credentials,
) -> anyhow::Result<App> {
    serving_app(target(config, state_path, endpoints), credentials)
        .await
        .context("connecting to the CRMs and opening the embedded state")
}

/// Everything a command that talks to the CRMs needs.
pub struct Connected {
    pub app: App,
    pub runtime: LocalRuntime,
}

/// Whether the command receives webhooks and outbound messages (`serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Calls the CRMs only (import, resync).
    Client,
    /// Also receives their webhooks: needs the HubSpot client secret and
    /// the Salesforce org the outbound messages must come from.
    Server,
}

/// Loads the credentials, refuses to go on when a real CRM's are missing
/// (naming each), connects to both CRMs, opens the state file.
pub async fn connect(
    config: SyncConfig,
    state_path: PathBuf,
    crm: &CrmArgs,
    secrets_file: Option<&Path>,
    options: LocalOptions,
    role: Role,
) -> anyhow::Result<Connected> {
    let credentials = Credentials::load_local(secrets_file)?;
    let endpoints = endpoints(crm, None);
    credentials.check_for(&endpoints, role == Role::Server)?;
    let target = target(config, Some(state_path), endpoints);
    let app = match role {
        Role::Client => local_app(target, &credentials),
        Role::Server => serving_app(target, &credentials).await,
    }
    .context("connecting to the CRMs and opening the embedded state")?;
    let runtime = LocalRuntime::new(app.clone(), options);
    Ok(Connected { app, runtime })
}
