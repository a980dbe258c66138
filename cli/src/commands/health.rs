//! `crm-sync health`: the sync-health errors kept in the state store, as a
//! table for people or as CSV / JSON for export, optionally one category.
//!
//! `--resolve KEY` marks entries resolved (they leave the list); resyncing
//! them is `crm-sync resync`.

use crate::args::OutputFormat;
use anyhow::Context;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use crm_sync_app::domain::ErrorCategory;
use crm_sync_app::store::{ErrorFilter, StateStore, SyncHealthError};
use std::io::Write;

/// The categories of SPEC section 9, as the domain names them in storage.
pub fn categories() -> Vec<String> {
    use ErrorCategory as C;
    [C::Duplicates, C::Associations, C::PermissionsOrAccess, C::PropertyValueOrValidation, C::ApiLimit, C::Other]
        .into_iter()
        .filter_map(|c| match serde_json::to_value(c) {
            Ok(serde_json::Value::String(name)) => Some(name),
            _ => None,
        })
        .collect()
}

/// Accepts a category as people type it (`api-limit`, `API_LIMIT`, or one
/// word of it such as `validation`) and returns the stored name, or says
/// which names exist.
pub fn parse_category(given: &str) -> anyhow::Result<String> {
    let normal = given.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    let names = categories();
    if names.contains(&normal) {
        return Ok(normal);
    }
    let by_word: Vec<&String> = names.iter().filter(|name| name.split('_').any(|word| word == normal)).collect();
    match by_word.as_slice() {
        [one] => Ok((*one).clone()),
        _ => anyhow::bail!("unknown category `{given}`; use one of {}", names.join(", ")),
    }
}

/// Lists the entries of `category` (all when `None`) and writes them to `out`.
pub async fn run(
    store: &dyn StateStore,
    category: Option<&str>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let filter = ErrorFilter { category: category.map(parse_category).transpose()?, limit: None };
    let errors = store.list_errors(&filter).await.context("listing sync-health errors")?;
    match format {
        OutputFormat::Table => {
            if errors.is_empty() {
                writeln!(out, "no sync-health errors")?;
            } else {
                writeln!(out, "{}", table(&errors))?;
                writeln!(out, "{} error(s)", errors.len())?;
            }
        }
        OutputFormat::Csv => write_csv(&errors, out)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &errors)?;
            writeln!(out)?;
        }
    }
    Ok(errors.len())
}

/// Marks the entries named by `keys` resolved and says, for each, whether
/// it was there. Returns whether every key was.
pub async fn resolve(store: &dyn StateStore, keys: &[String], out: &mut dyn Write) -> anyhow::Result<bool> {
    let mut all = true;
    for key in keys {
        let key = key.trim();
        if store.resolve_error(key).await.context("resolving a sync-health error")? {
            writeln!(out, "resolved {key}")?;
        } else {
            all = false;
            writeln!(out, "no open sync-health error `{key}`")?;
        }
    }
    Ok(all)
}

/// The people's view: one row per entry.
pub fn table(errors: &[SyncHealthError]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header([
        "category",
        "object",
        "salesforce",
        "hubspot",
        "attempts",
        "last seen",
        "retry",
        "message",
    ]);
    for e in errors {
        table.add_row([
            e.category.clone(),
            e.pair.to_string(),
            e.salesforce_id.clone().unwrap_or_else(|| "-".into()),
            e.hubspot_id.clone().unwrap_or_else(|| "-".into()),
            e.attempts.to_string(),
            e.last_seen.format("%Y-%m-%d %H:%M:%S").to_string(),
            if e.retryable { "yes" } else { "no" }.to_owned(),
            e.message.clone(),
        ]);
    }
    table
}

/// The CSV export; the sync-health page's export writes the same file.
fn write_csv(errors: &[SyncHealthError], out: &mut dyn Write) -> anyhow::Result<()> {
    crm_sync_app::usecases::health::write_health_csv(errors, out)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use crm_sync_app::store::ObjectPair;

    fn entry(category: &str, message: &str) -> SyncHealthError {
        let seen = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).single().unwrap_or_default();
        SyncHealthError {
            key: format!("contact:003{category}"),
            category: category.into(),
            pair: ObjectPair::Contact,
            salesforce_id: Some("003000000000001AAA".into()),
            hubspot_id: None,
            message: message.into(),
            attempts: 3,
            first_seen: seen,
            last_seen: seen,
            retryable: false,
        }
    }

    #[test]
    fn categories_are_accepted_as_people_type_them() {
        assert_eq!(parse_category("API-Limit").ok().as_deref(), Some("api_limit"));
        assert_eq!(parse_category("duplicates").ok().as_deref(), Some("duplicates"));
        assert_eq!(parse_category("validation").ok().as_deref(), Some("property_value_or_validation"));
        assert_eq!(parse_category("permissions").ok().as_deref(), Some("permissions_or_access"));
        let error = parse_category("typos").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("associations"), "{error}");
        assert!(parse_category("or").is_err(), "a word of two categories is ambiguous");
    }

    #[test]
    fn the_csv_export_has_a_header_and_quotes_messages_with_commas() {
        let mut out = Vec::new();
        write_csv(&[entry("validation", "bad value, field Rating")], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("key,category,object,salesforce_id,hubspot_id,message,attempts,first_seen,last_seen,retryable")
        );
        let row = lines.next().unwrap_or_default();
        assert!(row.contains("\"bad value, field Rating\""), "{row}");
        assert!(row.contains(",3,2026-11-21T10:00:00+00:00,"), "{row}");
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn an_empty_csv_export_still_has_its_header() {
        let mut out = Vec::new();
        write_csv(&[], &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with("key,category,"));
    }

    #[test]
    fn the_table_shows_every_entry_with_its_retry_verdict() {
        let rendered = table(&[entry("duplicates", "two leads share this email"), entry("other", "boom")]).to_string();
        assert!(rendered.contains("two leads share this email"), "{rendered}");
        assert!(rendered.contains("duplicates"), "{rendered}");
        assert_eq!(rendered.matches(" no ").count(), 2, "{rendered}");
    }
}
