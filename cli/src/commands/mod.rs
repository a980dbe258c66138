//! One module per subcommand. Each turns its arguments into calls of the
//! `crm_sync_app` use cases (or the domain's loaders) and prints the answer;
//! none holds sync logic of its own.

mod config;

use crate::args::{Cli, Command, ConfigCommand};
use std::process::ExitCode;

/// Runs the parsed command and says how the process should exit.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config(ConfigCommand::Check { file }) => Ok(config::check(&file)),
    }
}
