//! The `crm-sandbox` server as a library: its command-line options, and
//! [`serve`], which starts the sandbox, prints its URLs and credentials as
//! `KEY=VALUE` lines and serves until told to stop. The `crm-sandbox`
//! binary is this module behind a `main`; `crm-sync bench
//! --sandbox-process` runs the same server in a child process.

use crate::{Sandbox, SandboxOptions, salesforce};
use anyhow::Context;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Every option of the sandbox server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of the fake Salesforce (login host and instance).
    #[arg(long, env = "SANDBOX_SALESFORCE_ADDR", default_value = "127.0.0.1:8701")]
    pub salesforce_addr: SocketAddr,
    /// Address of the fake HubSpot API.
    #[arg(long, env = "SANDBOX_HUBSPOT_ADDR", default_value = "127.0.0.1:8702")]
    pub hubspot_addr: SocketAddr,
    /// Serve HTTPS with a generated self-signed certificate.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the certificate PEM (with --tls), for clients to trust.
    #[arg(long)]
    pub cert_out: Option<PathBuf>,
    /// Seed number for generated records.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Start with crm-sync's own custom fields and properties
    /// (`HubSpot_Id__c` External IDs in Salesforce, `salesforce_id` and
    /// `salesforce_campaigns` in HubSpot), as `crm-sync setup --apply`
    /// creates them; without it both CRMs start bare, as real ones do.
    #[arg(long)]
    pub seed_crm_sync_fields: bool,
    #[command(flatten)]
    pub salesforce: SalesforceArgs,
    #[command(flatten)]
    pub hubspot: crate::hubspot::HubSpotArgs,
}

/// The options of the fake Salesforce.
#[derive(Debug, Clone, clap::Args)]
pub struct SalesforceArgs {
    /// Salesforce Leads to generate.
    #[arg(long, default_value_t = 0)]
    pub sf_leads: u64,
    /// Salesforce Contacts to generate.
    #[arg(long, default_value_t = 0)]
    pub sf_contacts: u64,
    /// Salesforce Accounts to generate.
    #[arg(long, default_value_t = 0)]
    pub sf_accounts: u64,
    /// Salesforce Opportunities to generate.
    #[arg(long, default_value_t = 0)]
    pub sf_opportunities: u64,
    /// The org's daily API request allocation.
    #[arg(long, default_value_t = 100_000)]
    pub sf_daily_api_limit: u64,
    /// Where to POST outbound messages (SOAP) on create and update.
    #[arg(long, env = "SANDBOX_OUTBOUND_URL")]
    pub outbound_url: Option<String>,
    /// Status polls before a Bulk query job completes.
    #[arg(long, default_value_t = 2)]
    pub sf_bulk_polls: u32,
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

impl ServeArgs {
    /// The sandbox these options describe.
    pub fn options(&self) -> SandboxOptions {
        let options = SandboxOptions {
            salesforce_addr: self.salesforce_addr,
            hubspot_addr: self.hubspot_addr,
            tls: self.tls,
            salesforce: self.salesforce.options(self.seed),
            hubspot: self.hubspot.options(self.seed),
        };
        if self.seed_crm_sync_fields { options.with_crm_sync_fields() } else { options }
    }
}

/// The command-line arguments that make [`ServeArgs::options`] give back
/// `options`, for what the options of the server can say: the addresses,
/// TLS, the seed (one for both APIs: the Salesforce one is used), the
/// records to generate, the daily limits, the outbound and webhook targets,
/// HubSpot's rate limits and crm-sync's own fields. The rest stays at the
/// defaults.
pub fn args_for(options: &SandboxOptions) -> Vec<String> {
    let sf = &options.salesforce;
    let hs = &options.hubspot;
    let mut args = vec![
        format!("--salesforce-addr={}", options.salesforce_addr),
        format!("--hubspot-addr={}", options.hubspot_addr),
        format!("--seed={}", sf.seed),
        format!("--sf-leads={}", sf.leads),
        format!("--sf-contacts={}", sf.contacts),
        format!("--sf-accounts={}", sf.accounts),
        format!("--sf-opportunities={}", sf.opportunities),
        format!("--sf-daily-api-limit={}", sf.daily_api_limit),
        format!("--sf-bulk-polls={}", sf.bulk_polls_to_complete),
        format!("--hs-contacts={}", hs.seed_contacts),
        format!("--hs-companies={}", hs.seed_companies),
        format!("--hs-deals={}", hs.seed_deals),
        format!("--hs-rate-limit={}", hs.rate_limit_per_10s),
        format!("--hs-daily-limit={}", hs.daily_limit),
        format!("--hs-search-rate={}", hs.search_per_second),
    ];
    if options.tls {
        args.push("--tls".into());
    }
    if let Some(url) = &sf.outbound_url {
        args.push(format!("--outbound-url={url}"));
    }
    if let Some(url) = &hs.webhook_url {
        args.push(format!("--hs-webhook-url={url}"));
    }
    if sf.crm_sync_fields && hs.crm_sync_properties {
        args.push("--seed-crm-sync-fields".into());
    }
    args
}

/// The `KEY=VALUE` lines printed once the sandbox listens.
pub fn env_lines(args: &ServeArgs, sandbox: &Sandbox) -> Vec<String> {
    let mut lines = vec![
        format!("SALESFORCE_URL={}", sandbox.salesforce_url()),
        format!("HUBSPOT_URL={}", sandbox.hubspot_url()),
        format!("SALESFORCE_CLIENT_ID={}", salesforce::DEFAULT_CLIENT_ID),
        format!("SALESFORCE_CLIENT_SECRET={}", salesforce::DEFAULT_CLIENT_SECRET),
        format!("SALESFORCE_USERNAME={}", salesforce::DEFAULT_USERNAME),
        "SALESFORCE_JWT_KEY=tests/sandbox/keys/jwt-private.pem".to_owned(),
    ];
    lines.extend(args.hubspot.env_lines());
    lines
}

/// Starts the sandbox on the current tokio runtime, writes the certificate
/// (with `--tls --cert-out`), prints the [`env_lines`] on stdout and serves
/// until `stop` completes.
pub async fn serve(args: &ServeArgs, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(args.options()).await?;
    if let (Some(path), Some(pem)) = (&args.cert_out, sandbox.cert_pem()) {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    {
        let mut stdout = std::io::stdout().lock();
        for line in env_lines(args, &sandbox) {
            writeln!(stdout, "{line}").context("printing the sandbox's addresses")?;
        }
        stdout.flush().context("printing the sandbox's addresses")?;
    }
    stop.await;
    sandbox.shutdown().await;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn the_arguments_for_some_options_give_those_options_back() {
        let mut options = SandboxOptions::default().with_crm_sync_fields();
        options.salesforce.seed = 11;
        options.hubspot.seed = 11;
        options.salesforce.contacts = 5_000;
        options.salesforce.leads = 3;
        options.salesforce.daily_api_limit = 1_000_000;
        options.salesforce.outbound_url = Some("http://127.0.0.1:9/webhooks/salesforce".into());
        options.hubspot.webhook_url = Some("http://127.0.0.1:9/webhooks/hubspot".into());
        options.hubspot.rate_limit_per_10s = 1_000_000;
        options.hubspot.daily_limit = 10_000_000;
        let argv = std::iter::once("sandbox".to_owned()).chain(args_for(&options));
        let parsed = Cli::try_parse_from(argv).unwrap().args.options();
        assert_eq!(format!("{parsed:?}"), format!("{options:?}"));

        // One seed number for both APIs on the command line.
        let mut bare = SandboxOptions::default();
        bare.hubspot.seed = bare.salesforce.seed;
        let argv = std::iter::once("sandbox".to_owned()).chain(args_for(&bare));
        let parsed = Cli::try_parse_from(argv).unwrap().args.options();
        assert_eq!(format!("{parsed:?}"), format!("{bare:?}"));
    }
}
