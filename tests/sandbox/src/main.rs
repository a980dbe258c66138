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
    /// Start with crm-sync's own custom fields and properties
    /// (`HubSpot_Id__c` External IDs in Salesforce, `salesforce_id` and
    /// `salesforce_campaigns` in HubSpot), as `crm-sync setup --apply`
    /// creates them; without it both CRMs start bare, as real ones do.
    #[arg(long)]
    seed_crm_sync_fields: bool,
    #[command(flatten)]
    salesforce: SalesforceArgs,
    #[command(flatten)]
    hubspot: crm_sandbox::hubspot::HubSpotArgs,
}

#[derive(Debug, clap::Args)]
struct SalesforceArgs {
    /// Salesforce Leads to generate.
    #[arg(long, default_value_t = 0)]
    sf_leads: u64,
    /// Salesforce Contacts to generate.
    #[arg(long, default_value_t = 0)]
    sf_contacts: u64,
    /// Salesforce Accounts to generate.
    #[arg(long, default_value_t = 0)]
    sf_accounts: u64,
    /// Salesforce Opportunities to generate.
    #[arg(long, default_value_t = 0)]
    sf_opportunities: u64,
    /// The org's daily API request allocation.
    #[arg(long, default_value_t = 100_000)]
    sf_daily_api_limit: u64,
    /// Where to POST outbound messages (SOAP) on create and update.
    #[arg(long, env = "SANDBOX_OUTBOUND_URL")]
    outbound_url: Option<String>,
    /// Status polls before a Bulk query job completes.
    #[arg(long, default_value_t = 2)]
    sf_bulk_polls: u32,
}

impl SalesforceArgs {
    fn options(&self, seed: u64) -> salesforce::SalesforceOptions {
        salesforce::SalesforceOptions {
            seed,
            leads: self.sf_leads,
            contacts: self.sf_contacts,
            accounts: self.sf_accounts,
            opportunities: self.sf_opportunities,
            daily_api_limit: self.sf_daily_api_limit,
            outbound_url: self.outbound_url.clone(),
            bulk_polls_to_complete: self.sf_bulk_polls,
            ..Default::default()
        }
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
    let mut options = SandboxOptions {
        salesforce_addr: args.salesforce_addr,
        hubspot_addr: args.hubspot_addr,
        tls: args.tls,
        salesforce: args.salesforce.options(args.seed),
        hubspot: args.hubspot.options(args.seed),
    };
    if args.seed_crm_sync_fields {
        options = options.with_crm_sync_fields();
    }
    let sandbox = Sandbox::start(options).await?;
    if let (Some(path), Some(pem)) = (&args.cert_out, sandbox.cert_pem()) {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("SALESFORCE_URL={}", sandbox.salesforce_url());
    println!("HUBSPOT_URL={}", sandbox.hubspot_url());
    println!("SALESFORCE_CLIENT_ID={}", salesforce::DEFAULT_CLIENT_ID);
    println!("SALESFORCE_CLIENT_SECRET={}", salesforce::DEFAULT_CLIENT_SECRET);
    println!("SALESFORCE_USERNAME={}", salesforce::DEFAULT_USERNAME);
    println!("SALESFORCE_JWT_KEY=tests/sandbox/keys/jwt-private.pem");
    for line in args.hubspot.env_lines() {
        println!("{line}");
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}
