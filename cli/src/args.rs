//! The command line of `crm-sync`: subcommands, flags and their defaults.
//!
//! This module owns names and defaults only; what each command does lives in
//! [`crate::commands`].

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The sync settings file used when none is given.
pub const DEFAULT_CONFIG: &str = "config/crm-sync.example.yaml";
/// The embedded state file used when none is given (relative to the working
/// directory).
pub const DEFAULT_STATE: &str = ".crm-sync/state.sqlite";

/// Two-way sync between Salesforce and HubSpot: run it, import, inspect sync
/// health and API usage.
#[derive(Debug, Parser)]
#[command(name = "crm-sync", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty, env = "CRM_SYNC_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// More log output (-v info, -vv debug, -vvv trace); `RUST_LOG` wins when set.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Compact, human-readable lines.
    Pretty,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the sync settings file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List sync-health errors, filter them, export them.
    Health(HealthArgs),
    /// API calls in the last 24 hours against the cap.
    Usage(StateArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load the settings file and report the first problem, naming the line,
    /// the mapping and the fix.
    Check {
        /// The settings file.
        #[arg(default_value = DEFAULT_CONFIG)]
        file: PathBuf,
    },
}

/// Where the settings and the embedded state live.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The sync settings file (YAML).
    #[arg(long, default_value = DEFAULT_CONFIG, env = "CRM_SYNC_CONFIG_FILE")]
    pub config: PathBuf,

    /// The embedded state file (SQLite): links, cursors, jobs, sync health,
    /// API usage, queues.
    #[arg(long, default_value = DEFAULT_STATE, env = "CRM_SYNC_STATE")]
    pub state: PathBuf,

    /// A file of secrets (`KEY=VALUE` lines); the environment wins over it.
    #[arg(long, env = "CRM_SYNC_SECRETS_FILE")]
    pub secrets_file: Option<PathBuf>,
}

/// Export format of `health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub state: StateArgs,

    /// Only errors of this category (duplicates, associations, permissions,
    /// validation, api-limit, other).
    #[arg(long)]
    pub category: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_check_defaults_to_the_example_settings_file() {
        let cli = Cli::parse_from(["crm-sync", "config", "check"]);
        match cli.command {
            Command::Config(ConfigCommand::Check { file }) => {
                assert_eq!(file, PathBuf::from(DEFAULT_CONFIG));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn health_accepts_a_category_and_an_export_format() {
        let cli = Cli::parse_from(["crm-sync", "health", "--category", "duplicates", "--format", "csv"]);
        match cli.command {
            Command::Health(args) => {
                assert_eq!(args.category.as_deref(), Some("duplicates"));
                assert_eq!(args.format, OutputFormat::Csv);
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
