//! `crm-sync config check`: loads the settings file with the application's
//! loader and reports the outcome for people: the file, the line, the
//! offending text and the loader's message (which names the mapping and the
//! fix).

use crm_sync_app::domain::{ConfigError, ObjectPair, SyncConfig};
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
