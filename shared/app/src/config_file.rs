//! Reading the sync config from a file on disk.
//!
//! The domain parses config text and never touches the file system; this is
//! the one place that reads a settings file, for the local runtime and the
//! CLI. The Lambdas get the text from a parameter instead and call
//! [`SyncConfig::from_yaml_str`] directly.

use crm_sync_domain::config::{ConfigError, SyncConfig};
use std::path::{Path, PathBuf};

/// Why a settings file could not be loaded: not readable, or not a valid
/// config (with the line, the mapping and the fix).
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read the sync config {path}: {source}")]
    Read {
        /// The path as given.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its text is not a valid config.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

impl ConfigFileError {
    /// The 1-based YAML line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigFileError::Read { .. } => None,
            ConfigFileError::Invalid(error) => error.line(),
        }
    }
}

/// Reads and checks a settings file. An empty file is the all-defaults
/// config; errors name the file.
pub fn load_config_file(path: &Path) -> Result<SyncConfig, ConfigFileError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read { path: path.to_owned(), source })?;
    Ok(SyncConfig::from_yaml_source(&text, &path.display().to_string())?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_config_file_is_a_read_error_naming_the_path() {
        let err = load_config_file(Path::new("/nonexistent/crm-sync.yaml")).unwrap_err();
        assert!(matches!(err, ConfigFileError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/crm-sync.yaml"));
        assert_eq!(err.line(), None);
    }

    #[test]
    fn the_example_settings_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/crm-sync.example.yaml");
        let config = load_config_file(&path).unwrap();
        assert!(config.objects.companies);
    }

    #[test]
    fn an_invalid_file_names_the_file_and_keeps_the_line() {
        let dir = std::env::temp_dir().join(format!("crm-sync-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.yaml");
        std::fs::write(&path, "version: 1\nsalesforce_api_cap_per_24h: 0\n").unwrap();
        let err = load_config_file(&path).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(err, ConfigFileError::Invalid(_)));
        assert_eq!(err.line(), Some(2));
        assert!(err.to_string().contains("bad.yaml"), "{err}");
    }
}
