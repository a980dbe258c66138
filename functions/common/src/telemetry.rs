//! Log set-up for the functions: JSON lines on stdout (CloudWatch, with the
//! function's `LogFormat: JSON`), level from `RUST_LOG` (default `info`), no
//! timestamps of our own (Lambda adds them) and no ANSI colours.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once. A second call (tests) is a no-op.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _already_installed = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(true)
        .with_ansi(false)
        .without_time()
        .try_init();
}
