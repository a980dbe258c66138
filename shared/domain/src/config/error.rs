//! [`ConfigError`]: why a config text was refused.
//!
//! Owns the error's shape, which is what people see: the YAML line and column
//! when known, and a message that names the place, the mapping and the fix.
//! There is no "cannot read" case here: the domain never reads files, so the
//! application that reads one wraps this error with its own read failure.

use std::fmt;

/// Why a config text could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not a valid config; `message` names the place (YAML path,
    /// line and column), the mapping and the fix.
    #[error("invalid sync config{}: {message}", SourceName(source_name.as_deref()))]
    Invalid {
        /// Where the text came from (a file path, a parameter name), when the
        /// caller gave one; shown in the error's `Display`.
        source_name: Option<String>,
        /// The 1-based line the error points at, when known.
        line: Option<usize>,
        /// The 1-based column, when known.
        column: Option<usize>,
        /// The full message, ending with the line and column when known.
        message: String,
        /// The YAML parser's error (which also carries the checks' messages).
        #[source]
        source: serde_yaml_ng::Error,
    },
}

impl ConfigError {
    /// The 1-based YAML line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => *line,
        }
    }

    /// Where the refused text came from, when the caller named it.
    pub fn source_name(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { source_name, .. } => source_name.as_deref(),
        }
    }
}

/// Formats an optional source name as " <name>", or nothing.
struct SourceName<'a>(Option<&'a str>);

impl fmt::Display for SourceName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, " {name}"),
            None => Ok(()),
        }
    }
}
