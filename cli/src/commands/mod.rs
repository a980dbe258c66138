//! One module per subcommand. Each turns its arguments into calls of the
//! `crm_sync_app` use cases (or the store's read API it re-exports) and
//! prints the answer; none holds sync logic of its own.

#[cfg(feature = "sandbox")]
mod bench;
mod config;
mod dead_letters;
#[cfg(feature = "sandbox")]
mod demo;
mod health;
mod import;
mod org_move;
mod resync;
mod serve;
pub mod state;
mod ui;
mod usage;

use crate::args::{
    Cli, Command, ConfigCommand, CrmArgs, DeadLettersCommand, ImportCommand, RecordLinkArgs, ResyncCommand, StateArgs,
};
use crate::connect::{self, Connected, Role};
use crm_sync_app::local::LocalOptions;
use crm_sync_app::local::ui::RecordLinks;
use std::process::ExitCode;
use std::time::Duration;

/// Where the sync-health page links records to.
fn record_links(args: &RecordLinkArgs) -> RecordLinks {
    let given = |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    RecordLinks {
        salesforce_instance_url: given(&args.salesforce_instance_url),
        hubspot_portal_id: given(&args.hubspot_portal_id),
        ..RecordLinks::default()
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn connected(state: &StateArgs, crm: &CrmArgs, options: LocalOptions, role: Role) -> anyhow::Result<Connected> {
    let config = state::load_config(&state.config)?;
    state::ensure_folder(&state.state)?;
    connect::connect(config, state.state.clone(), crm, state.secrets_file.as_deref(), options, role).await
}

/// Runs the parsed command and says how the process should exit.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config(ConfigCommand::Check { file }) => Ok(config::check(&file)),
        Command::Serve(args) => {
            let options = LocalOptions {
                workers: args.workers.max(1),
                sweep_every: Duration::from_secs(args.sweep_interval.max(1)),
                ..LocalOptions::default()
            };
            let connected = connected(&args.state, &args.crm, options, Role::Server).await?;
            serve::run(connected, args.listen, record_links(&args.links)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ui(args) => {
            let connected = connected(&args.state, &args.crm, LocalOptions::default(), Role::Client).await?;
            ui::run(connected.app, args.listen, record_links(&args.links)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(ImportCommand::Review { state, crm, target }) => {
            let request = import::request(&target)?;
            let connected = connected(&state, &crm, LocalOptions::default(), Role::Client).await?;
            let review = crm_sync_app::import_review(&connected.app, &request).await?;
            println!("{}", import::review_text(&review));
            Ok(exit(review.blocked.is_none()))
        }
        Command::Import(ImportCommand::Start { state, crm, target, detach }) => {
            let request = import::request(&target)?;
            let connected = connected(&state, &crm, LocalOptions::default(), Role::Client).await?;
            let (text, ok) = import::start(&connected.app, &connected.runtime, &request, detach).await?;
            println!("{text}");
            Ok(exit(ok))
        }
        Command::Import(ImportCommand::Resume { state, crm, job, detach }) => {
            let connected = connected(&state, &crm, LocalOptions::default(), Role::Client).await?;
            let (text, ok) = import::resume(&connected.app, &connected.runtime, &job, detach).await?;
            println!("{text}");
            Ok(exit(ok))
        }
        Command::Import(ImportCommand::Status { state, job }) => {
            let local = state::Local::open(&state)?;
            println!("{}", import::status(&local.store, job.as_deref()).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Health(args) => {
            let local = state::Local::open(&args.state)?;
            let mut stdout = std::io::stdout().lock();
            health::run(&local.store, args.category.as_deref(), args.format, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Resync(ResyncCommand::Record { state, crm, system, object, id }) => {
            let record = resync::record_ref(system, &object, &id)?;
            let connected = connected(&state, &crm, LocalOptions::default(), Role::Client).await?;
            Ok(exit(resync::record(&connected.app, &record).await?))
        }
        Command::Resync(ResyncCommand::Segment { state, crm, linked, errors, category, yes }) => {
            let segment = match (linked, errors) {
                (Some(object), _) => crm_sync_app::Segment::Linked { pair: resync::pair(&object)? },
                (None, _) => crm_sync_app::Segment::HealthErrors {
                    category: category.as_deref().map(health::parse_category).transpose()?,
                },
            };
            let connected = connected(&state, &crm, LocalOptions::default(), Role::Client).await?;
            Ok(exit(resync::segment(&connected.app, &connected.runtime, &segment, yes).await?))
        }
        Command::OrgMove(args) => {
            let connected = connected(&args.state, &args.crm, LocalOptions::default(), Role::Client).await?;
            Ok(exit(org_move::run(&connected.app, args.yes).await?))
        }
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => Ok(exit(demo::run(&args).await?)),
        #[cfg(feature = "sandbox")]
        Command::Bench(args) => {
            let figures = bench::run(&args).await?;
            Ok(exit(figures.latency.arrived == figures.latency.changes))
        }
        Command::DeadLetters(DeadLettersCommand::List { state, category }) => {
            let local = state::Local::open(&state)?;
            let mut stdout = std::io::stdout().lock();
            dead_letters::list(&local.store, category.as_deref(), &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DeadLetters(DeadLettersCommand::Replay { state, category }) => {
            let local = state::Local::open(&state)?;
            let mut stdout = std::io::stdout().lock();
            dead_letters::replay(&local.store, category.as_deref(), &mut stdout).await?;
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
