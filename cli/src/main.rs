//! `crm-sync`: the operator's command.
//!
//! Layout:
//! - [`args`]: the command line (clap): every subcommand and flag.
//! - [`telemetry`]: structured logs on stderr, JSON or human-readable.
//! - [`connect`]: credentials, CRM clients, and the app over the state file.
//! - [`backend`]: `--backend local|aws`: the state file, or a deployed stack
//!   (its tables and queues), opened for the operator commands.
//! - [`commands`]: one module per subcommand; each adapts its arguments to the
//!   use cases of `crm_sync_app` and prints the answer. No sync logic lives
//!   here.
//!
//! Features: `sandbox` (on by default) links the CRM sandbox for the `demo`
//! and `bench` commands; `--no-default-features` builds the command without
//! them, and without the sandbox.
//!
//! Output for people (tables, progress bars, summaries) goes to stdout; logs
//! go to stderr so that `--format csv|json` exports stay clean.

mod args;
mod backend;
mod commands;
mod connect;
mod telemetry;

use clap::Parser;
use std::process::ExitCode;

/// The local runtime makes and drops many small values per record (rows,
/// fingerprints, link states); mimalloc serves them with less work and less
/// fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Threads for blocking work. The embedded store runs each call on one of
/// them, one call at a time (one connection), so more threads would only
/// wait on it, each with memory of its own.
const BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(BLOCKING_THREADS).build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = args::Cli::parse();
    let quiet = cli.command.draws_its_own_output();
    if let Err(error) = telemetry::init(cli.log_format, cli.verbose, quiet) {
        eprintln!("error: {error:#}");
        return ExitCode::from(2);
    }
    match commands::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
