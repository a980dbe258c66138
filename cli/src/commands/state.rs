//! The local deployment's settings and state, opened once per command: the
//! sync settings file and the single SQLite file that holds links, cursors,
//! import jobs, sync health, API usage and the queues.

use crate::args::StateArgs;
use anyhow::Context;
use crm_sync_domain::config::SyncConfig;
use crm_sync_store::{SqliteStore, SystemClock};
use std::sync::Arc;

/// The settings and the opened embedded store.
#[derive(Debug)]
pub struct Local {
    pub config: SyncConfig,
    pub store: SqliteStore,
}

impl Local {
    /// Loads the settings (the same checks as `config check`) and opens the
    /// state file, creating it and its folder on first use.
    pub fn open(args: &StateArgs) -> anyhow::Result<Self> {
        let config = SyncConfig::load_file(&args.config).map_err(|error| {
            anyhow::anyhow!("{}", super::config::describe_error(&args.config, &error))
        })?;
        if let Some(parent) = args.state.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the state folder {}", parent.display()))?;
        }
        let store = SqliteStore::open(&args.state, Arc::new(SystemClock))
            .with_context(|| format!("opening the state file {}", args.state.display()))?;
        Ok(Local { config, store })
    }
}
