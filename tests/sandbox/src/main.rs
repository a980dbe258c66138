//! `crm-sandbox`: serves the fake Salesforce and HubSpot APIs until Ctrl-C.
//! The server itself is [`crm_sandbox::serve`].

use clap::Parser;
use crm_sandbox::serve::{ServeArgs, serve};

#[derive(Debug, Parser)]
#[command(name = "crm-sandbox", about = "Local stand-in for the Salesforce and HubSpot APIs")]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    serve(&cli.args, async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "waiting for Ctrl-C");
        }
    })
    .await
}
