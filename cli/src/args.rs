//! The command line of `crm-sync`: subcommands, flags and their defaults.
//!
//! This module owns names and defaults only; what each command does lives in
//! [`crate::commands`].

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The sync settings file used when none is given.
pub const DEFAULT_CONFIG: &str = "config/crm-sync.example.yaml";

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
        let Command::Config(ConfigCommand::Check { file }) = cli.command;
        assert_eq!(file, PathBuf::from(DEFAULT_CONFIG));
    }
}
