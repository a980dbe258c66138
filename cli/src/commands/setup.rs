//! `crm-sync setup` (alias `doctor`): prints the setup use case's report as
//! a table, and with `--apply` what it will create, the outcome of each
//! creation and the report once more. The checks and the creations are
//! `crm_sync_app::usecases::setup`'s; this module only prints.

use crate::args::SetupArgs;
use crate::commands::state;
use crate::connect;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use crm_sync_app::build::{Credentials, SetupCrms, setup_clients};
use crm_sync_app::domain::SyncConfig;
use crm_sync_app::{SetupReport, SetupStatus, setup_apply, setup_check};
use std::io::Write;

/// Runs the command; `Ok(true)` when the pair is ready.
pub async fn run(args: &SetupArgs) -> anyhow::Result<bool> {
    let config = state::load_config(&args.config)?;
    let credentials = Credentials::load_local(args.secrets_file.as_deref())?;
    let endpoints = connect::endpoints(&args.crm, None);
    credentials.check_for(&endpoints, false)?;
    let crms = setup_clients(&endpoints, &credentials)?;
    let mut stdout = std::io::stdout().lock();
    check_and_apply(&crms, &config, args.public_url.as_deref(), args.apply, &mut stdout).await
}

/// Checks, prints, and with `apply` creates what it can and checks again.
/// `Ok(true)` when the pair is ready at the end.
pub async fn check_and_apply(
    crms: &SetupCrms,
    config: &SyncConfig,
    public_url: Option<&str>,
    apply: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let first = report(crms, config, public_url, !apply, out).await?;
    if apply { apply_and_check(crms, config, public_url, &first, out).await } else { Ok(first.ready()) }
}

/// Checks and prints the report; `would` adds what `--apply` would do.
pub async fn report(
    crms: &SetupCrms,
    config: &SyncConfig,
    public_url: Option<&str>,
    would: bool,
    out: &mut impl Write,
) -> anyhow::Result<SetupReport> {
    let report = setup_check(crms.salesforce.as_ref(), crms.hubspot.as_ref(), config, public_url).await;
    writeln!(out, "{}", table(&report))?;
    if would {
        writeln!(out, "{}", verdict(&report))?;
        let actions = report.actions();
        if !actions.is_empty() {
            writeln!(out, "`crm-sync setup --apply` would:")?;
            for action in &actions {
                writeln!(out, "  - {}", action.describe())?;
            }
        }
    }
    Ok(report)
}

/// Prints what it will create, creates it, checks again and prints that
/// report; `Ok(true)` when the pair is ready then.
pub async fn apply_and_check(
    crms: &SetupCrms,
    config: &SyncConfig,
    public_url: Option<&str>,
    report: &SetupReport,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let actions = report.actions();
    if actions.is_empty() {
        writeln!(out, "nothing to create through the APIs")?;
        writeln!(out, "{}", verdict(report))?;
        return Ok(report.ready());
    }
    writeln!(out, "setup will:")?;
    for action in &actions {
        writeln!(out, "  - {}", action.describe())?;
    }
    let applied = setup_apply(crms.salesforce.as_ref(), crms.hubspot.as_ref(), &actions).await;
    for done in &applied {
        match &done.outcome {
            Ok(()) => writeln!(out, "  done: {}", done.action.describe())?,
            Err(error) => writeln!(out, "  FAILED: {}: {error}", done.action.describe())?,
        }
    }
    writeln!(out, "checking again")?;
    let again = setup_check(crms.salesforce.as_ref(), crms.hubspot.as_ref(), config, public_url).await;
    writeln!(out, "{}", table(&again))?;
    writeln!(out, "{}", verdict(&again))?;
    Ok(again.ready())
}

fn verdict(report: &SetupReport) -> String {
    let count = |status: SetupStatus| report.items.iter().filter(|i| i.status == status).count();
    let manual = count(SetupStatus::Manual);
    let by_hand = if manual > 0 { format!("; {manual} to check by hand (see how to fix)") } else { String::new() };
    if report.ready() {
        format!("ready{by_hand}")
    } else {
        format!("not ready: {} missing, {} wrong{by_hand}", count(SetupStatus::Missing), count(SetupStatus::Wrong))
    }
}

/// The report as a table: CRM, item, status, what was found, how to fix.
pub fn table(report: &SetupReport) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(160)
        .set_header(["CRM", "item", "status", "found", "how to fix"]);
    for item in &report.items {
        table.add_row([
            item.system.label(),
            item.item.as_str(),
            item.status.label(),
            item.detail.as_str(),
            item.fix.as_str(),
        ]);
    }
    table
}
