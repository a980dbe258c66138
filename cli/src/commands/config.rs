//! `crm-sync config check|push|pull`: loads the settings file with the
//! application's loader and reports the outcome for people: the file, the
//! line, the offending text and the loader's message (which names the
//! mapping and the fix). `push` makes a checked file the deployed stack's
//! settings (a new version in its state table); `pull` reads them back.

use crate::backend::{self, BackendArgs};
use anyhow::Context;
use crm_sync_app::domain::{ConfigError, DEFAULT_SALESFORCE_API_CAP, ObjectPair, SyncConfig};
use crm_sync_app::store::StoreError;
use crm_sync_app::{ConfigFileError, load_config_file};
use std::path::Path;
use std::process::ExitCode;

/// Checks `file`; prints a short summary on success, the problem on stderr
/// otherwise. Exit code 0 when the file loads, 1 when it does not.
pub fn check(file: &Path) -> ExitCode {
    match load_config_file(file) {
        Ok(config) => {
            println!("{}: ok", file.display());
            println!("{}", summary(&config));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}", describe_error(file, &error));
            ExitCode::FAILURE
        }
    }
}

/// `config push FILE`: checks the file as `check` does (a file that does
/// not load is refused with the same message, and nothing is pushed), then
/// stores it as the stack's next settings version. Two pushes at once: the
/// second is refused, to pull and push again.
pub async fn push(file: &Path, backend_args: &BackendArgs) -> anyhow::Result<ExitCode> {
    let config = match load_config_file(file) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {}", describe_error(file, &error));
            eprintln!("nothing was pushed");
            return Ok(ExitCode::FAILURE);
        }
    };
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let deployment = backend::resolve(backend_args).await?;
    let store = deployment.settings_store();
    let current = store.current_settings().await.context("reading the stack's settings")?;
    if let Some(current) = current.as_ref().filter(|c| c.text == text) {
        println!("unchanged: the stack's settings are already this file (version {})", current.version);
        return Ok(ExitCode::SUCCESS);
    }
    let expected = current.as_ref().map(|c| c.version);
    let version = match store.push_settings(&text, expected).await {
        Ok(version) => version,
        Err(StoreError::ConditionFailed { .. }) => anyhow::bail!(
            "the stack's settings changed while pushing (someone else pushed); run `crm-sync config pull {}`, \
             merge, and push again",
            deployment.flags()
        ),
        Err(error) => return Err(error).context("pushing the settings"),
    };
    let was = match expected {
        Some(v) => format!("version {v}"),
        None => "the template's SyncConfig parameter".to_owned(),
    };
    println!("{}: ok", file.display());
    println!("{}", summary(&config));
    println!("pushed as version {version} (was {was}); the functions pick it up within a minute");
    if let Some(cap) = deployment.api_cap()?
        && cap != config.salesforce_api_cap_per_24h.get()
        && config.salesforce_api_cap_per_24h.get() != DEFAULT_SALESFORCE_API_CAP
    {
        println!(
            "note: the stack's SalesforceApiCap parameter ({cap}) wins over the file's salesforce_api_cap_per_24h \
             ({}); change the parameter to change the cap",
            config.salesforce_api_cap_per_24h
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `config pull`: the stack's current settings file (or `version`), to
/// stdout or `output`; with `history`, the versions pushed.
pub async fn pull(
    backend_args: &BackendArgs,
    version: Option<u64>,
    output: Option<&Path>,
    history: bool,
) -> anyhow::Result<ExitCode> {
    let deployment = backend::resolve(backend_args).await?;
    let store = deployment.settings_store();
    if history {
        let versions = store.settings_history().await.context("listing the stack's settings versions")?;
        if versions.is_empty() {
            println!("nothing pushed yet: the functions run with the template's SyncConfig parameter");
        }
        for (i, (version, pushed_at)) in versions.iter().enumerate() {
            let current = if i == 0 { "  (current)" } else { "" };
            println!("version {version}  pushed {}{current}", pushed_at.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let text = match version {
        Some(v) => match store.settings_at(v).await.context("reading the stack's settings")? {
            Some(stored) => stored.text,
            None => anyhow::bail!("the stack has no settings version {v}; `config pull --history` lists them"),
        },
        None => match store.current_settings().await.context("reading the stack's settings")? {
            Some(stored) => {
                eprintln!("version {} pushed {}", stored.version, stored.pushed_at.format("%Y-%m-%d %H:%M:%S UTC"));
                stored.text
            }
            None => {
                eprintln!("nothing pushed yet: this is the template's SyncConfig parameter (empty: the defaults)");
                deployment.parameter("SyncConfig").unwrap_or_default().to_owned()
            }
        },
    };
    match output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("written to {}", path.display());
        }
        None => {
            print!("{text}");
            if !text.is_empty() && !text.ends_with('\n') {
                println!();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per object pair: switched on or off, and how many mappings.
fn summary(config: &SyncConfig) -> String {
    let pairs = [
        ("contacts", ObjectPair::Contact, true),
        ("companies", ObjectPair::Company, config.objects.companies),
        ("deals", ObjectPair::Deal, config.objects.deals),
    ];
    let mut lines: Vec<String> = pairs
        .iter()
        .map(|(name, pair, on)| {
            let mappings = config.mappings(*pair);
            let custom = mappings.iter().filter(|m| !m.builtin).count();
            format!("  {name:<10} {:<4} {} mappings ({custom} custom)", if *on { "on" } else { "off" }, mappings.len())
        })
        .collect();
    lines.push(format!("  salesforce API cap: {} calls per 24 hours", config.salesforce_api_cap_per_24h));
    lines.join("\n")
}

/// The error as shown to people: `file:line:column: message`, then the
/// offending line of the file when the loader knows it.
pub fn describe_error(file: &Path, error: &ConfigFileError) -> String {
    match error {
        ConfigFileError::Read { source, .. } => {
            format!("cannot read {}: {source}", file.display())
        }
        ConfigFileError::Invalid(ConfigError::Invalid { line, column, message, .. }) => {
            let place = match (line, column) {
                (Some(line), Some(column)) => format!("{}:{line}:{column}", file.display()),
                (Some(line), None) => format!("{}:{line}", file.display()),
                _ => file.display().to_string(),
            };
            let mut out = format!("{place}: {message}");
            if let Some(text) = line.and_then(|line| source_line(file, line)) {
                out.push_str(&format!("\n  {:>4} | {text}", line.unwrap_or_default()));
            }
            out
        }
    }
}

/// Longest part of the offending line shown (a hostile file's line may be
/// hundreds of kilobytes).
const SHOWN_LINE_CHARS: usize = 160;

fn source_line(file: &Path, line: usize) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().nth(line.checked_sub(1)?)?.trim_end();
    match line.char_indices().nth(SHOWN_LINE_CHARS) {
        Some((cut, _)) => Some(format!("{} …", &line[..cut])),
        None => Some(line.to_owned()),
    }
}
