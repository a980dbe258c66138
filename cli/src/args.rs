//! The command line of `crm-sync`: subcommands, flags and their defaults.
//!
//! This module owns names and defaults only; what each command does lives in
//! [`crate::commands`].

use crate::backend::BackendArgs;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The sync settings file used when none is given.
pub const DEFAULT_CONFIG: &str = "config/crm-sync.example.yaml";
/// The embedded state file used when none is given (relative to the working
/// directory).
pub const DEFAULT_STATE: &str = ".crm-sync/state.sqlite";

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
    /// Check the sync settings file; push it to a deployed stack, or pull
    /// the stack's.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the local deployment: webhook endpoints, the 15-minute sweep and
    /// the sync workers, against the CRMs named in the environment.
    Serve(ServeArgs),
    /// Import Salesforce records into HubSpot: review the cost, start, follow.
    #[command(subcommand)]
    Import(ImportCommand),
    /// List sync-health errors, filter them, export them.
    Health(HealthArgs),
    /// Sync one record now, or a whole segment after showing its cost.
    #[command(subcommand)]
    Resync(ResyncCommand),
    /// API calls in the last 24 hours against the cap.
    Usage(UsageArgs),
    /// Sync messages that gave up after their retries: list them with why,
    /// or put them back on the queue once the cause is fixed.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// After changing the Salesforce credentials to a new production org:
    /// re-match contact links by email in it and drop company and deal
    /// links; says what it will do and cost and asks first.
    OrgMove(OrgMoveArgs),
    /// Check that the Salesforce org and the HubSpot account are ready for
    /// the sync, item by item, with how to fix each; `--apply` creates what
    /// the APIs can. Exit status 0 only when ready.
    #[command(visible_alias = "doctor")]
    Setup(SetupArgs),
    /// Serve the sync-health page on its own, over the state file or a
    /// deployed stack (`--backend aws --stack NAME`; a running `serve` has it
    /// under /ui): prints its login address once.
    Ui(UiArgs),
    /// Run the whole product on this machine against the CRM sandbox and show
    /// what synced.
    #[cfg(feature = "sandbox")]
    Demo(DemoArgs),
    /// Measure import throughput, API calls per record, peak memory and
    /// single-change latency against the sandbox (use a release build).
    #[cfg(feature = "sandbox")]
    Bench(BenchArgs),
    /// The CRM sandbox server (as `crm-sandbox`), for `bench
    /// --sandbox-process`; stops on Ctrl-C or when its input closes.
    #[cfg(feature = "sandbox")]
    #[command(name = "sandbox-server", hide = true)]
    SandboxServer(crm_sandbox::serve::ServeArgs),
}

impl Command {
    /// Whether the command draws its own screen (the sandbox commands), so
    /// that logs below warnings would only get in the way.
    pub fn draws_its_own_output(&self) -> bool {
        match self {
            #[cfg(feature = "sandbox")]
            Command::Demo(_) | Command::Bench(_) | Command::SandboxServer(_) => true,
            _ => false,
        }
    }
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
    /// Check the settings file as `check` does, then make it the deployed
    /// stack's settings (a new version; the functions pick it up within a
    /// minute). No redeploy.
    Push {
        /// The settings file.
        file: PathBuf,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Print the deployed stack's settings file (the current version, or
    /// an older one), and list the versions pushed.
    Pull {
        #[command(flatten)]
        backend: BackendArgs,
        /// An older version (`config pull --history` lists them).
        #[arg(long, value_name = "VERSION")]
        at: Option<u64>,
        /// Write it to this file rather than to stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// List the versions pushed, newest first, instead.
        #[arg(long, conflicts_with_all = ["at", "output"])]
        history: bool,
    },
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Where the settings and the embedded state live.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The sync settings file (YAML).
    #[arg(long, default_value = DEFAULT_CONFIG, env = "CRM_SYNC_CONFIG_FILE")]
    pub config: PathBuf,

    /// The embedded state file (SQLite): links, cursors, jobs, sync health,
    /// API usage, queues.
    #[arg(long, default_value = DEFAULT_STATE, env = "CRM_SYNC_STATE")]
    pub state: PathBuf,

    /// A JSON file of credentials, with the keys of `CRM_SYNC_CREDENTIALS`
    /// (which wins over it when set).
    #[arg(long, env = "CRM_SYNC_SECRETS_FILE")]
    pub secrets_file: Option<PathBuf>,
}

/// Where the CRMs are. Credentials are never flags: they come from
/// `CRM_SYNC_CREDENTIALS` (JSON) or the secrets file (or, with `--backend
/// aws`, the stack's secret).
#[derive(Debug, Clone, Args)]
pub struct CrmArgs {
    /// Salesforce login host (production, a sandbox org, or the local CRM
    /// sandbox) [default: https://login.salesforce.com, or the stack's
    /// SalesforceLoginUrl]
    #[arg(long, env = "CRM_SYNC_SALESFORCE_LOGIN_URL")]
    pub salesforce_url: Option<String>,

    /// HubSpot API base URL [default: https://api.hubapi.com, or the
    /// stack's HubSpotApiBaseUrl]
    #[arg(long, env = "CRM_SYNC_HUBSPOT_BASE_URL")]
    pub hubspot_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub state: StateArgs,

    #[command(flatten)]
    pub crm: CrmArgs,

    /// Address of the webhook HTTP server.
    #[arg(long, default_value = "127.0.0.1:8080", env = "CRM_SYNC_LISTEN")]
    pub listen: SocketAddr,

    /// Concurrent sync workers.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,

    /// Seconds between sweeps.
    #[arg(long, default_value_t = 900)]
    pub sweep_interval: u64,

    #[command(flatten)]
    pub links: RecordLinkArgs,
}

/// Where the sync-health page links records to; without them it shows ids.
#[derive(Debug, Clone, Args)]
pub struct RecordLinkArgs {
    /// The Salesforce instance URL (`https://example.my.salesforce.com`),
    /// for links to Salesforce records.
    #[arg(long, env = "CRM_SYNC_SALESFORCE_INSTANCE_URL")]
    pub salesforce_instance_url: Option<String>,

    /// The HubSpot account id, for links to HubSpot records.
    #[arg(long, env = "CRM_SYNC_HUBSPOT_PORTAL_ID")]
    pub hubspot_portal_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct UiArgs {
    #[command(flatten)]
    pub state: StateArgs,

    #[command(flatten)]
    pub backend: BackendArgs,

    #[command(flatten)]
    pub crm: CrmArgs,

    /// Address of the page's server (loopback by default: it is for the
    /// operator's own browser).
    #[arg(long, default_value = "127.0.0.1:8090", env = "CRM_SYNC_UI_LISTEN")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub links: RecordLinkArgs,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The sync settings file (YAML): which objects sync, the mappings, the
    /// inclusion segment.
    #[arg(long, default_value = DEFAULT_CONFIG, env = "CRM_SYNC_CONFIG_FILE")]
    pub config: PathBuf,

    /// A JSON file of credentials, with the keys of `CRM_SYNC_CREDENTIALS`
    /// (which wins over it when set).
    #[arg(long, env = "CRM_SYNC_SECRETS_FILE")]
    pub secrets_file: Option<PathBuf>,

    #[command(flatten)]
    pub crm: CrmArgs,

    /// The public base URL the deployment receives webhooks on (the Function
    /// URL, or `serve`'s), to check where the outbound messages point.
    #[arg(long, env = "CRM_SYNC_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Print what it will create, create it (the External ID fields through
    /// the Tooling API, the HubSpot properties), then check again.
    #[arg(long)]
    pub apply: bool,
}

/// What to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportObject {
    Leads,
    Contacts,
    LeadsAndContacts,
    Accounts,
    Opportunities,
}

#[derive(Debug, Args)]
pub struct ImportTarget {
    /// The Salesforce object(s) to import.
    #[arg(long, value_enum)]
    pub object: ImportObject,

    /// Filter applied in Salesforce: `FIELD OPERATOR VALUE`, e.g.
    /// `"LeadSource = Web"`.
    #[arg(long)]
    pub filter: Option<String>,

    /// Records per chunk (at most 200,000).
    #[arg(long)]
    pub chunk_size: Option<u64>,

    /// Add the imported leads and contacts to the inclusion segment (a
    /// HubSpot list), so that each gets every mapped field.
    #[arg(long)]
    pub add_to_segment: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// The sync queue's dead letters, with the error each gave up on.
    List {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        backend: BackendArgs,
        /// Only those that gave up on an error of this category (duplicates,
        /// associations, permissions, validation, api-limit, other).
        #[arg(long)]
        category: Option<String>,
    },
    /// Put dead letters back on the sync queue (a running or the next
    /// `crm-sync serve`, or the deployed sync-worker, syncs them); each
    /// leaves the dead letters once queued.
    Replay {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        backend: BackendArgs,
        /// Only those that gave up on an error of this category.
        #[arg(long)]
        category: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Count the records and the API calls an import would cost; writes nothing.
    Review {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        crm: CrmArgs,
        #[command(flatten)]
        backend: BackendArgs,
        #[command(flatten)]
        target: ImportTarget,
    },
    /// Start an import and run it here with a progress bar (`--detach` only
    /// queues it for a running `serve`; on AWS it is always queued for the
    /// import function).
    Start {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        crm: CrmArgs,
        #[command(flatten)]
        backend: BackendArgs,
        #[command(flatten)]
        target: ImportTarget,
        /// Queue the import and return; a running `crm-sync serve` does the work.
        #[arg(long)]
        detach: bool,
    },
    /// Take up again an import that failed (once its cause is fixed) or was
    /// left unfinished (a stopped process): each chunk resumes after its
    /// checkpoint.
    Resume {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        crm: CrmArgs,
        #[command(flatten)]
        backend: BackendArgs,
        /// The job id (`crm-sync import status` lists them).
        job: String,
        /// Queue the remaining chunks and return; a running `crm-sync serve` does the work.
        #[arg(long)]
        detach: bool,
    },
    /// Progress and errors of imports.
    Status {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        backend: BackendArgs,
        /// One import job; all jobs when absent.
        job: Option<String>,
    },
}

/// Export format of `health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub state: StateArgs,

    #[command(flatten)]
    pub backend: BackendArgs,

    /// Only errors of this category (duplicates, associations, permissions,
    /// validation, api-limit, other).
    #[arg(long)]
    pub category: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// Mark these entries resolved (their `key`, as the CSV and JSON
    /// exports show it), e.g. after fixing the record by hand; they leave
    /// the list. A record that fails again comes back.
    #[arg(long, value_name = "KEY", conflicts_with = "category")]
    pub resolve: Vec<String>,
}

#[derive(Debug, Args)]
pub struct OrgMoveArgs {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub crm: CrmArgs,
    /// Start without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum ResyncCommand {
    /// Sync one record now (for a company: create the Salesforce account even
    /// when the automatic criteria say no); on AWS, queue it for the
    /// sync-worker function.
    Record {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        crm: CrmArgs,
        #[command(flatten)]
        backend: BackendArgs,
        /// The system the id belongs to.
        #[arg(long, value_enum)]
        system: SystemArg,
        /// HubSpot: contact, company or deal. Salesforce: Lead, Contact,
        /// Account or Opportunity.
        #[arg(long)]
        object: String,
        /// The record id in that system.
        id: String,
    },
    /// Resync a segment: every linked record of an object, or every record
    /// with a sync-health error; says what it costs and asks first. On AWS
    /// the records are queued for the sync-worker function.
    Segment {
        #[command(flatten)]
        state: StateArgs,
        #[command(flatten)]
        crm: CrmArgs,
        #[command(flatten)]
        backend: BackendArgs,
        /// Every linked record of this HubSpot object (contact, company, deal).
        #[arg(long, conflicts_with = "errors", required_unless_present = "errors")]
        linked: Option<String>,
        /// Every record with a sync-health error.
        #[arg(long)]
        errors: bool,
        /// With `--errors`: only this category.
        #[arg(long, requires = "errors")]
        category: Option<String>,
        /// Start without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SystemArg {
    Salesforce,
    Hubspot,
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Salesforce leads and contacts to seed (each; accounts: a quarter).
    #[arg(long, default_value_t = 200)]
    pub records: u64,

    /// Seed of the generated data.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,

    /// Seconds to wait for the scripted changes to arrive.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Salesforce contacts to import.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,

    /// Single changes for the edit-to-write latency.
    #[arg(long, default_value_t = 1_000)]
    pub changes: u64,

    /// Where the figures are written (JSON).
    #[arg(long, default_value = "bench-results/bench.json")]
    pub output: PathBuf,

    /// Give the sandbox HubSpot's real limits (190 requests per 10 s, 5
    /// searches per s) instead of an unthrottled HubSpot, and report the
    /// import's time against the floor they set.
    #[arg(long)]
    pub real_limits: bool,

    /// Run the sandbox in a child process of its own, so that the CPU time
    /// and peak memory reported are crm-sync's alone (the sandbox's are
    /// reported apart).
    #[arg(long)]
    pub sandbox_process: bool,

    /// After the single changes, edit this many linked contacts in
    /// Salesforce at once, as users would, and time until every new value
    /// is in HubSpot (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub burst: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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
        match cli.command {
            Command::Config(ConfigCommand::Check { file }) => {
                assert_eq!(file, PathBuf::from(DEFAULT_CONFIG));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn doctor_is_setup_and_apply_is_a_switch() {
        let cli = Cli::parse_from(["crm-sync", "doctor", "--apply", "--public-url", "https://sync.example"]);
        match cli.command {
            Command::Setup(args) => {
                assert!(args.apply);
                assert_eq!(args.public_url.as_deref(), Some("https://sync.example"));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn ui_listens_on_loopback_unless_told_otherwise() {
        let cli = Cli::parse_from(["crm-sync", "ui", "--hubspot-portal-id", "4455"]);
        match cli.command {
            Command::Ui(args) => {
                assert!(args.listen.ip().is_loopback());
                assert_eq!(args.links.hubspot_portal_id.as_deref(), Some("4455"));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn health_accepts_a_category_and_an_export_format() {
        let cli = Cli::parse_from(["crm-sync", "health", "--category", "duplicates", "--format", "csv"]);
        match cli.command {
            Command::Health(args) => {
                assert_eq!(args.category.as_deref(), Some("duplicates"));
                assert_eq!(args.format, OutputFormat::Csv);
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
