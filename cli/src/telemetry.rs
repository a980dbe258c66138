//! Tracing set-up for the command: one subscriber on stderr, structured
//! key/value fields, JSON for machines or a readable form for people.
//!
//! The level comes from `RUST_LOG` when set, else from `--verbose`.

use crate::args::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Fails only if one is already installed.
/// `quiet` commands (the demo, the benchmark) print their own story and log
/// only warnings unless asked for more.
pub fn init(format: LogFormat, verbose: u8, quiet: bool) -> anyhow::Result<()> {
    let default_level = match verbose {
        0 if quiet => "warn",
        0 => "warn,crm_sync=info",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Pretty => builder.compact().with_target(false).try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("installing the log subscriber failed: {error}"))
}
