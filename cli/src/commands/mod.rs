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
#[cfg(feature = "sandbox")]
mod sandbox_process;
mod serve;
pub mod setup;
pub mod state;
mod ui;
mod usage;

use crate::args::{
    Cli, Command, ConfigCommand, CrmArgs, DeadLettersCommand, ImportCommand, RecordLinkArgs, ResyncCommand, StateArgs,
};
use crate::backend::{self, CrmUse};
use crate::connect::{self, Connected, Role};
use crm_sync_app::local::LocalOptions;
use crm_sync_app::local::ui::RecordLinks;
use std::process::ExitCode;
use std::time::Duration;

/// Completes on Ctrl-C, or when standard input closes (the parent that
/// started the sandbox server went away).
#[cfg(feature = "sandbox")]
async fn stop_signal() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        loop {
            match std::io::Read::read(&mut std::io::stdin(), &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = tx.send(());
    });
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = rx => {}
    }
}

/// An error and its causes on one line (`outer: inner: root`), for errors
/// that are not `anyhow` ones (the AWS SDK's say little on their own).
pub fn describe_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

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
        Command::Config(ConfigCommand::Push { file, backend }) => config::push(&file, &backend).await,
        Command::Config(ConfigCommand::Pull { backend, at, output, history }) => {
            config::pull(&backend, at, output.as_deref(), history).await
        }
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
            // On AWS the page's resyncs and replays go to the stack's queues.
            let opened = backend::open_app(&args.state, &args.crm, &args.backend, CrmUse::QueuesOnly).await?;
            ui::run(opened.app, args.listen, record_links(&args.links)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(ImportCommand::Review { state, crm, backend, target }) => {
            let request = import::request(&target)?;
            let opened = backend::open_app(&state, &crm, &backend, CrmUse::Calls).await?;
            let review = crm_sync_app::import_review(&opened.app, &request).await?;
            println!("{}", import::review_text(&review));
            Ok(exit(review.blocked.is_none()))
        }
        Command::Import(ImportCommand::Start { state, crm, backend, target, detach }) => {
            let request = import::request(&target)?;
            let opened = backend::open_app(&state, &crm, &backend, CrmUse::Calls).await?;
            let (text, ok) = match (&opened.runtime, &opened.deployment) {
                (Some(runtime), _) => import::start(&opened.app, runtime, &request, detach).await?,
                (None, deployment) => {
                    let flags = deployment.as_ref().map(backend::Deployment::flags).unwrap_or_default();
                    import::start_deployed(&opened.app, &flags, &request).await?
                }
            };
            println!("{text}");
            Ok(exit(ok))
        }
        Command::Import(ImportCommand::Resume { state, crm, backend, job, detach }) => {
            let opened = backend::open_app(&state, &crm, &backend, CrmUse::Calls).await?;
            let (text, ok) = match (&opened.runtime, &opened.deployment) {
                (Some(runtime), _) => import::resume(&opened.app, runtime, &job, detach).await?,
                (None, deployment) => {
                    let flags = deployment.as_ref().map(backend::Deployment::flags).unwrap_or_default();
                    import::resume_deployed(&opened.app, &flags, &job).await?
                }
            };
            println!("{text}");
            Ok(exit(ok))
        }
        Command::Import(ImportCommand::Status { state, backend, job }) => {
            let opened = backend::open(&state, &backend).await?;
            println!("{}", import::status(opened.store.as_ref(), job.as_deref()).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Health(args) => {
            let opened = backend::open(&args.state, &args.backend).await?;
            let mut stdout = std::io::stdout().lock();
            if !args.resolve.is_empty() {
                let all = health::resolve(opened.store.as_ref(), &args.resolve, &mut stdout).await?;
                return Ok(exit(all));
            }
            health::run(opened.store.as_ref(), args.category.as_deref(), args.format, &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Resync(ResyncCommand::Record { state, crm, backend, system, object, id }) => {
            let record = resync::record_ref(system, &object, &id)?;
            let opened = backend::open_app(&state, &crm, &backend, CrmUse::QueuesOnly).await?;
            match opened.runtime {
                Some(_) => Ok(exit(resync::record(&opened.app, &record).await?)),
                None => Ok(exit(resync::queue_record(&opened.app, &record).await?)),
            }
        }
        Command::Resync(ResyncCommand::Segment { state, crm, backend, linked, errors, category, yes }) => {
            let segment = match (linked, errors) {
                (Some(object), _) => crm_sync_app::Segment::Linked { pair: resync::pair(&object)? },
                (None, _) => crm_sync_app::Segment::HealthErrors {
                    category: category.as_deref().map(health::parse_category).transpose()?,
                },
            };
            let opened = backend::open_app(&state, &crm, &backend, CrmUse::QueuesOnly).await?;
            Ok(exit(resync::segment(&opened.app, opened.runtime.as_ref(), &segment, yes).await?))
        }
        Command::OrgMove(args) => {
            let connected = connected(&args.state, &args.crm, LocalOptions::default(), Role::Client).await?;
            Ok(exit(org_move::run(&connected.app, args.yes).await?))
        }
        Command::Setup(args) => Ok(exit(setup::run(&args).await?)),
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => Ok(exit(demo::run(&args).await?)),
        #[cfg(feature = "sandbox")]
        Command::Bench(args) => {
            let figures = bench::run(&args).await?;
            let burst_arrived = figures.burst.as_ref().is_none_or(|b| b.arrived == b.changes);
            Ok(exit(figures.latency.arrived == figures.latency.changes && burst_arrived))
        }
        #[cfg(feature = "sandbox")]
        Command::SandboxServer(args) => {
            crm_sandbox::serve::serve(&args, stop_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DeadLetters(DeadLettersCommand::List { state, backend, category }) => {
            let opened = backend::open(&state, &backend).await?;
            let mut stdout = std::io::stdout().lock();
            dead_letters::list(&opened, category.as_deref(), &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DeadLetters(DeadLettersCommand::Replay { state, backend, category }) => {
            let opened = backend::open(&state, &backend).await?;
            let mut stdout = std::io::stdout().lock();
            dead_letters::replay(&opened, category.as_deref(), &mut stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Usage(args) => {
            let opened = backend::open(&args.state, &args.backend).await?;
            let cap = opened.config.salesforce_api_cap_per_24h.get();
            let usage = usage::Usage::read(opened.store.as_ref(), cap).await?;
            println!("API calls in the last 24 hours");
            println!("{}", usage.table());
            Ok(ExitCode::SUCCESS)
        }
    }
}
