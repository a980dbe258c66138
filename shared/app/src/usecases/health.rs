//! Reading sync health for people: the entries filtered by category, object
//! and text, their counts by category and object, the record a resync of an
//! entry names, and the CSV export (`crm-sync health --format csv` and the
//! sync-health page write the same file).
//!
//! Reading only; resolving an entry is the sync's job when the record next
//! syncs, and resyncing is [`crate::usecases::resync`].

use crate::AppError;
use crate::codec::category_name;
use crate::usecases::resync::RecordRef;
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::{HubSpotId, ObjectPair, SalesforceId};
use crm_sync_store::{ErrorFilter, SyncHealthError, SyncHealthStore};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// The categories of sync health, as stored, in the order people read them.
pub fn category_names() -> Vec<String> {
    use ErrorCategory as C;
    [C::Duplicates, C::Associations, C::PermissionsOrAccess, C::PropertyValueOrValidation, C::ApiLimit, C::Other]
        .into_iter()
        .map(category_name)
        .collect()
}

/// Which entries to show; every field narrows, `None` lets all through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthFilter {
    /// A stored category name (`duplicates`, `api_limit`, ...).
    pub category: Option<String>,
    pub object: Option<ObjectPair>,
    /// Text found, ignoring case, in the message, either record id or the key.
    pub text: Option<String>,
}

impl HealthFilter {
    /// Whether `entry` passes.
    pub fn admits(&self, entry: &SyncHealthError) -> bool {
        if self.category.as_deref().is_some_and(|c| c != entry.category) {
            return false;
        }
        if self.object.is_some_and(|o| o != entry.pair) {
            return false;
        }
        let Some(text) = self.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            return true;
        };
        let needle = text.to_lowercase();
        [Some(entry.message.as_str()), entry.salesforce_id.as_deref(), entry.hubspot_id.as_deref(), Some(&entry.key)]
            .into_iter()
            .flatten()
            .any(|field| field.to_lowercase().contains(&needle))
    }
}

/// The entries passing `filter`, latest first (the store's order).
pub async fn list_health(store: &dyn SyncHealthStore, filter: &HealthFilter) -> Result<Vec<SyncHealthError>, AppError> {
    let errors = store.list_errors(&ErrorFilter { category: filter.category.clone(), limit: None }).await?;
    Ok(errors.into_iter().filter(|e| filter.admits(e)).collect())
}

/// How many entries there are per category, per object and per both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCounts {
    pub total: u64,
    pub by_category: BTreeMap<String, u64>,
    pub by_object: BTreeMap<ObjectPair, u64>,
    pub by_category_and_object: BTreeMap<(String, ObjectPair), u64>,
}

impl HealthCounts {
    pub fn of(errors: &[SyncHealthError]) -> Self {
        let mut counts = HealthCounts::default();
        for e in errors {
            counts.total += 1;
            *counts.by_category.entry(e.category.clone()).or_default() += 1;
            *counts.by_object.entry(e.pair).or_default() += 1;
            *counts.by_category_and_object.entry((e.category.clone(), e.pair)).or_default() += 1;
        }
        counts
    }

    pub fn get(&self, category: &str, object: ObjectPair) -> u64 {
        self.by_category_and_object.get(&(category.to_owned(), object)).copied().unwrap_or(0)
    }
}

/// The record a resync of `entry` syncs, as a segment resync of sync health
/// does: by its HubSpot id when known, else by its Salesforce id (whose
/// prefix names the object); `None` when neither is usable.
pub fn record_of(entry: &SyncHealthError) -> Option<RecordRef> {
    if let Some(id) = entry.hubspot_id.as_deref().filter(|id| HubSpotId::parse(id).is_ok()) {
        return Some(RecordRef::Hubspot { object: entry.pair, id: id.to_owned() });
    }
    let id = SalesforceId::parse(entry.salesforce_id.as_deref()?).ok()?;
    let object = id.object()?;
    Some(RecordRef::Salesforce { object, id: id.as_str().to_owned() })
}

/// One CSV row per entry; the same columns as the JSON export.
#[derive(Serialize)]
struct CsvRow<'a> {
    key: &'a str,
    category: &'a str,
    object: &'a str,
    salesforce_id: &'a str,
    hubspot_id: &'a str,
    message: &'a str,
    attempts: u32,
    first_seen: String,
    last_seen: String,
    retryable: bool,
}

const CSV_HEADER: [&str; 10] = [
    "key",
    "category",
    "object",
    "salesforce_id",
    "hubspot_id",
    "message",
    "attempts",
    "first_seen",
    "last_seen",
    "retryable",
];

/// Writes `errors` as CSV with a header row (also when there are none).
pub fn write_health_csv(errors: &[SyncHealthError], out: &mut dyn Write) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    for e in errors {
        writer.serialize(CsvRow {
            key: &e.key,
            category: &e.category,
            object: e.pair.as_str(),
            salesforce_id: e.salesforce_id.as_deref().unwrap_or_default(),
            hubspot_id: e.hubspot_id.as_deref().unwrap_or_default(),
            message: &e.message,
            attempts: e.attempts,
            first_seen: e.first_seen.to_rfc3339(),
            last_seen: e.last_seen.to_rfc3339(),
            retryable: e.retryable,
        })?;
    }
    if errors.is_empty() {
        writer.write_record(CSV_HEADER)?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use crm_sync_domain::SfObject;

    fn entry(category: &str, pair: ObjectPair, sf: Option<&str>, hs: Option<&str>, message: &str) -> SyncHealthError {
        let seen = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).single().unwrap();
        SyncHealthError {
            key: format!("{}:{}", pair.as_str(), sf.or(hs).unwrap_or("-")),
            category: category.into(),
            pair,
            salesforce_id: sf.map(str::to_owned),
            hubspot_id: hs.map(str::to_owned),
            message: message.into(),
            attempts: 1,
            first_seen: seen,
            last_seen: seen,
            retryable: false,
        }
    }

    #[test]
    fn the_filter_narrows_by_category_object_and_text_ignoring_case() {
        let a = entry("duplicates", ObjectPair::Contact, Some("00Q000000000001AAA"), None, "Duplicate LEAD found");
        let b = entry("other", ObjectPair::Deal, None, Some("77"), "server error");
        let by_text = HealthFilter { text: Some("duplicate lead".into()), ..HealthFilter::default() };
        assert!(by_text.admits(&a) && !by_text.admits(&b));
        let by_id = HealthFilter { text: Some(" 77 ".into()), ..HealthFilter::default() };
        assert!(!by_id.admits(&a) && by_id.admits(&b));
        let by_object = HealthFilter { object: Some(ObjectPair::Deal), ..HealthFilter::default() };
        assert!(!by_object.admits(&a) && by_object.admits(&b));
        let both = HealthFilter { category: Some("other".into()), object: Some(ObjectPair::Contact), text: None };
        assert!(!both.admits(&a) && !both.admits(&b));
        assert!(HealthFilter::default().admits(&a));
    }

    #[test]
    fn counts_are_kept_per_category_per_object_and_per_both() {
        let errors = [
            entry("duplicates", ObjectPair::Contact, None, Some("1"), "x"),
            entry("duplicates", ObjectPair::Contact, None, Some("2"), "x"),
            entry("duplicates", ObjectPair::Company, None, Some("3"), "x"),
            entry("other", ObjectPair::Contact, None, Some("4"), "x"),
        ];
        let counts = HealthCounts::of(&errors);
        assert_eq!(counts.total, 4);
        assert_eq!(counts.by_category["duplicates"], 3);
        assert_eq!(counts.by_object[&ObjectPair::Contact], 3);
        assert_eq!(counts.get("duplicates", ObjectPair::Contact), 2);
        assert_eq!(counts.get("other", ObjectPair::Deal), 0);
    }

    #[test]
    fn a_resync_names_the_hubspot_record_first_then_the_salesforce_one_by_its_prefix() {
        let both = entry("other", ObjectPair::Contact, Some("003000000000001AAA"), Some("51"), "x");
        assert_eq!(record_of(&both), Some(RecordRef::Hubspot { object: ObjectPair::Contact, id: "51".into() }));
        let lead = entry("other", ObjectPair::Contact, Some("00Q000000000001"), None, "x");
        let id = SalesforceId::parse("00Q000000000001").unwrap().as_str().to_owned();
        assert_eq!(record_of(&lead), Some(RecordRef::Salesforce { object: SfObject::Lead, id }));
        assert_eq!(record_of(&entry("other", ObjectPair::Contact, Some("not an id!"), None, "x")), None);
    }

    #[test]
    fn the_csv_export_has_a_header_and_quotes_messages_with_commas() {
        let mut out = Vec::new();
        let e = entry("validation", ObjectPair::Contact, Some("003000000000001AAA"), None, "bad value, field Rating");
        write_health_csv(&[e], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER.join(",").as_str()));
        let row = lines.next().unwrap_or_default();
        assert!(row.contains("\"bad value, field Rating\""), "{row}");
        assert!(row.contains(",1,2026-11-21T10:00:00+00:00,"), "{row}");
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn an_empty_csv_export_still_has_its_header() {
        let mut out = Vec::new();
        write_health_csv(&[], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().trim_end(), CSV_HEADER.join(","));
    }
}
