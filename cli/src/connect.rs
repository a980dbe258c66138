//! Connecting the local deployment: the credentials (from the environment or
//! a secrets file, never from flags, the settings file or the logs), then the
//! App over the embedded state file and the [`LocalRuntime`] that runs it.
//!
//! Building is `crm_sync_app::build`'s job (the same builder the deployed
//! functions use); this module only turns the command line into its inputs.

use crate::args::CrmArgs;
use anyhow::Context;
use crm_sync_app::App;
use crm_sync_app::build::{Credentials, CrmEndpoints, LocalApp, local_app};
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
        salesforce_login_url: crm.salesforce_url.clone(),
        hubspot_base_url: crm.hubspot_url.clone(),
        extra_root_cert_pem: extra_root_cert_pem.map(str::to_owned),
    }
}

/// The App over the embedded state file (`None`: in memory) and the CRMs.
pub fn app(
    config: SyncConfig,
    state_path: Option<PathBuf>,
    endpoints: CrmEndpoints,
    credentials: &Credentials,
) -> anyhow::Result<App> {
    let public_base_url = std::env::var(PUBLIC_URL_ENV).ok().filter(|url| !url.trim().is_empty());
    local_app(LocalApp { config, state_path, endpoints, public_base_url }, credentials)
        .context("connecting to the CRMs and opening the embedded state")
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
    let credentials = Credentials::load_local(secrets_file)?;
    let app = app(config, Some(state_path), endpoints(crm, None), &credentials)?;
    let runtime = LocalRuntime::new(app.clone(), options);
    Ok(Connected { app, runtime })
}
