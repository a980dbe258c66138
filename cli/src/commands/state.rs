//! The local deployment's settings and state, opened once per command: the
//! sync settings file and the single SQLite file that holds links, cursors,
//! import jobs, sync health, API usage and the queues.

use crate::args::StateArgs;
use anyhow::Context;
use crm_sync_app::build::open_state_file;
use crm_sync_app::domain::SyncConfig;
use crm_sync_app::store::SqliteStore;
use std::path::Path;

/// The settings and the opened embedded store, for the commands that only
/// read the state (`health`, `usage`, `import status`).
#[derive(Debug)]
pub struct Local {
    pub config: SyncConfig,
    pub store: SqliteStore,
}

/// Loads the settings with the same checks and messages as `config check`.
pub fn load_config(path: &Path) -> anyhow::Result<SyncConfig> {
    crm_sync_app::load_config_file(path)
        .map_err(|error| anyhow::anyhow!("{}", super::config::describe_error(path, &error)))
}

/// Creates the state file's folder on first use, open to its owner only
/// (0700 on unix), as the file itself is; existing folders are left as they
/// are.
pub fn ensure_folder(state: &Path) -> anyhow::Result<()> {
    if let Some(parent) = state.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent).with_context(|| format!("creating the state folder {}", parent.display()))?;
    }
    Ok(())
}

impl Local {
    /// Loads the settings and opens the state file.
    pub fn open(args: &StateArgs) -> anyhow::Result<Self> {
        let config = load_config(&args.config)?;
        ensure_folder(&args.state)?;
        let store =
            open_state_file(&args.state).with_context(|| format!("opening the state file {}", args.state.display()))?;
        Ok(Local { config, store })
    }
}
