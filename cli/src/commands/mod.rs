//! One module per subcommand. Each turns its arguments into calls of the
//! `crm_sync_app` use cases (or the store's and domain's read APIs) and
//! prints the answer; none holds sync logic of its own.

mod config;
mod health;
mod state;
mod usage;

use crate::args::{Cli, Command, ConfigCommand};
use std::process::ExitCode;

/// Runs the parsed command and says how the process should exit.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config(ConfigCommand::Check { file }) => Ok(config::check(&file)),
        Command::Health(args) => {
            let local = state::Local::open(&args.state)?;
            let mut stdout = std::io::stdout().lock();
            health::run(&local.store, args.category.as_deref(), args.format, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Usage(args) => {
            let local = state::Local::open(&args)?;
            let cap = local.config.salesforce_api_cap_per_24h.get();
            let usage = usage::Usage::read(&local.store, cap).await?;
            println!("API calls in the last 24 hours");
            println!("{}", usage.table());
            Ok(ExitCode::SUCCESS)
        }
    }
}
