//! `crm-sandbox`: serves the fake Salesforce and HubSpot APIs until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use crm_sandbox::{Sandbox, SandboxOptions, salesforce};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "crm-sandbox", about = "Local stand-in for the Salesforce and HubSpot APIs")]
struct Args {
    /// Address of the fake Salesforce (login host and instance).
    #[arg(long, env = "SANDBOX_SALESFORCE_ADDR", default_value = "127.0.0.1:8701")]
    salesforce_addr: SocketAddr,
    /// Address of the fake HubSpot API.
    #[arg(long, env = "SANDBOX_HUBSPOT_ADDR", default_value = "127.0.0.1:8702")]
    hubspot_addr: SocketAddr,
    /// Serve HTTPS with a generated self-signed certificate.
    #[arg(long)]
    tls: bool,
    /// Where to write the certificate PEM (with --tls), for clients to trust.
    #[arg(long)]
    cert_out: Option<PathBuf>,
    /// Seed number for generated records.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    salesforce: SalesforceArgs,
}

#[derive(Debug, clap::Args)]
struct SalesforceArgs {}

impl SalesforceArgs {
    fn options(&self, _seed: u64) -> salesforce::SalesforceOptions {
        salesforce::SalesforceOptions::default()
    }
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
    let args = Args::parse();
    let options = SandboxOptions {
        salesforce_addr: args.salesforce_addr,
        hubspot_addr: args.hubspot_addr,
        tls: args.tls,
        salesforce: args.salesforce.options(args.seed),
        hubspot: Default::default(),
    };
    let sandbox = Sandbox::start(options).await?;
    if let (Some(path), Some(pem)) = (&args.cert_out, sandbox.cert_pem()) {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("SALESFORCE_URL={}", sandbox.salesforce_url());
    println!("HUBSPOT_URL={}", sandbox.hubspot_url());
    println!("SALESFORCE_CLIENT_ID={}", salesforce::DEFAULT_CLIENT_ID);
    println!("SALESFORCE_CLIENT_SECRET={}", salesforce::DEFAULT_CLIENT_SECRET);
    println!("SALESFORCE_USERNAME={}", salesforce::DEFAULT_USERNAME);
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}
