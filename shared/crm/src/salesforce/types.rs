//! Shapes of Salesforce answers the client returns, and the few request
//! shapes callers build.
//!
//! Plain data with serde derives, no IO and no decisions. Field names follow
//! Salesforce's JSON (camelCase on the wire); values Salesforce sends as text
//! (dates, states) stay text here and are interpreted by the caller.

use crate::error::CrmError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A record as JSON fields (with `attributes` as Salesforce sends it).
pub type SObject = serde_json::Map<String, serde_json::Value>;

/// The org's daily API usage, from `Sforce-Limit-Info: api-usage=used/max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    /// Calls counted against the org's rolling 24-hour allocation so far.
    pub used: u64,
    /// The org's allocation for that window.
    pub max: u64,
}

impl ApiUsage {
    /// Parses `api-usage=18/5000; per-app-api-usage=...`, ignoring unknown keys.
    pub fn parse(header: &str) -> Option<ApiUsage> {
        header.split(';').find_map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            if key.trim() != "api-usage" {
                return None;
            }
            let (used, max) = value.trim().split_once('/')?;
            Some(ApiUsage { used: used.trim().parse().ok()?, max: max.trim().parse().ok()? })
        })
    }
}

/// One page of a query.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    /// Records the whole query matches (for `SELECT COUNT()`, the count).
    pub total_size: u64,
    /// True on the last page.
    pub done: bool,
    /// Where the next page is, while `done` is false.
    #[serde(default)]
    pub next_records_url: Option<String>,
    /// This page's records.
    pub records: Vec<SObject>,
}

/// A single-record write that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Written {
    /// The record's id (empty for an update answered with 204 and no body).
    pub id: String,
    /// Set by upserts: true when the record was created.
    #[serde(default)]
    pub created: Option<bool>,
}

/// A record to create or update through sObject Collections.
#[derive(Debug, Clone)]
pub struct CollectionRecord {
    /// The sObject type (`Contact`, `Lead`, ...), sent as `attributes.type`.
    pub object: String,
    /// The record id, for updates.
    pub id: Option<String>,
    /// The field values to write, by API name.
    pub fields: SObject,
}

/// The answer of `getUpdated` (crm-api.md A7).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Updated {
    /// Ids changed within the window (at most 600,000).
    pub ids: Vec<String>,
    /// The time up to which changes are complete: the next window's start.
    pub latest_date_covered: String,
}

/// One record of a `getDeleted` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecord {
    /// The deleted record's id.
    pub id: String,
    /// When it was deleted, as Salesforce wrote it.
    pub deleted_date: String,
}

/// The answer of `getDeleted` (crm-api.md A7).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    /// Records deleted within the window.
    pub deleted_records: Vec<DeletedRecord>,
    /// The oldest time deletions are still kept for (about 15 days back).
    pub earliest_date_available: String,
    /// The time up to which deletions are complete.
    pub latest_date_covered: String,
}

/// One value of a picklist field's describe.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    /// The API value, the one written and read.
    pub value: String,
    /// The label shown in Salesforce (deal stages travel as labels).
    #[serde(default)]
    pub label: Option<String>,
    /// Whether the value may still be chosen.
    #[serde(default)]
    pub active: bool,
    /// Whether it is the field's default.
    #[serde(default)]
    pub default_value: bool,
}

/// One field of an object's describe (crm-api.md A8): what the config
/// checks and the formula rule need to know about a field.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescribe {
    /// The API name (`FirstName`, `Score__c`).
    pub name: String,
    /// The label shown in Salesforce.
    #[serde(default)]
    pub label: Option<String>,
    /// The describe type (`string`, `picklist`, `reference`, ...).
    #[serde(rename = "type")]
    pub field_type: String,
    /// True for formula and roll-up summary fields.
    #[serde(default)]
    pub calculated: bool,
    /// The formula's text, for a formula field.
    #[serde(default)]
    pub calculated_formula: Option<String>,
    /// Whether the integration user may set it on create.
    #[serde(default)]
    pub createable: bool,
    /// Whether the integration user may change it.
    #[serde(default)]
    pub updateable: bool,
    /// Whether it may be blank.
    #[serde(default)]
    pub nillable: bool,
    /// Whether it is an External ID field (usable for upserts).
    #[serde(default)]
    pub external_id: bool,
    /// Whether Salesforce keeps its values unique within the object.
    #[serde(default)]
    pub unique: bool,
    /// A text field's maximum length (0 for other types).
    #[serde(default)]
    pub length: u64,
    /// A picklist's values; empty for other types.
    #[serde(default)]
    pub picklist_values: Vec<PicklistValue>,
    /// A reference's target objects (`Account`, `User`, ...).
    #[serde(default)]
    pub reference_to: Vec<String>,
    /// A reference's relationship name (`Account` for `AccountId`).
    #[serde(default)]
    pub relationship_name: Option<String>,
}

/// An object's describe: its name, id prefix and fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDescribe {
    /// The object's API name.
    pub name: String,
    /// The three-character prefix of its record ids (`003` for Contact).
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Whether the integration user may create records of it.
    #[serde(default)]
    pub createable: bool,
    /// Whether the integration user may edit records of it.
    #[serde(default)]
    pub updateable: bool,
    /// Whether the integration user may query it.
    #[serde(default)]
    pub queryable: bool,
    /// Every field the integration user can see.
    pub fields: Vec<FieldDescribe>,
}

impl ObjectDescribe {
    /// Formula (calculated) fields: never sync triggers, never written.
    pub fn formula_fields(&self) -> impl Iterator<Item = &FieldDescribe> {
        self.fields.iter().filter(|f| f.calculated)
    }

    /// A field by API name, case-insensitively (as Salesforce matches them).
    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// One entry of `/limits` (crm-api.md A2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Limit {
    /// The allocation.
    #[serde(rename = "Max")]
    pub max: u64,
    /// What is left of it now.
    #[serde(rename = "Remaining")]
    pub remaining: u64,
}

/// `/limits`, keyed by limit name (`DailyApiRequests`, ...).
pub type Limits = BTreeMap<String, Limit>;

/// A Bulk API 2.0 query job's status.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkJob {
    /// The job id, for polling and results.
    pub id: String,
    /// `UploadComplete`, `InProgress`, `JobComplete`, `Failed` or `Aborted`.
    pub state: String,
    /// The queried object, once Salesforce has parsed the query.
    #[serde(default)]
    pub object: Option<String>,
    /// Records processed so far.
    #[serde(default)]
    pub number_records_processed: Option<u64>,
    /// Why a failed job failed.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// One page of Bulk query results: the header read, the rows kept as the
/// CSV text received and decoded one at a time ([`BulkPage::for_each_row`]),
/// so that a reader that keeps few of a page's rows pays for no copy of the
/// others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkPage {
    /// The CSV header: field names in query order.
    pub columns: Vec<String>,
    /// The locator of the next page; `None` after the last one.
    pub next_locator: Option<String>,
    /// The CSV body as received, header included.
    pub(super) body: Vec<u8>,
    /// The answer's HTTP status, for the error of a malformed row.
    pub(super) status: u16,
}

impl BulkPage {
    /// Hands every row to `each`, in order, as the CSV record read (one
    /// record reused for every row). A malformed row stops the page with an
    /// error.
    pub fn for_each_row(&self, mut each: impl FnMut(&csv::StringRecord)) -> Result<(), CrmError> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(self.body.as_slice());
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => each(&record),
                Ok(false) => return Ok(()),
                Err(e) => return Err(bad_csv(self.status, e)),
            }
        }
    }

    /// Every row, each as long as `columns`; values as text.
    pub fn rows(&self) -> Result<Vec<Vec<String>>, CrmError> {
        let mut rows = Vec::new();
        self.for_each_row(|row| rows.push(row.iter().map(str::to_owned).collect()))?;
        Ok(rows)
    }
}

/// The error of a Bulk result that is not CSV.
pub(super) fn bad_csv(status: u16, e: csv::Error) -> CrmError {
    super::error::unexpected(status, "the Bulk results were not valid CSV", Some(Box::new(e)))
}

/// Every row of a Bulk query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkQueryResult {
    /// The job that produced the rows.
    pub job_id: String,
    /// The CSV header: field names in query order.
    pub columns: Vec<String>,
    /// Every row of every page, in order.
    pub rows: Vec<Vec<String>>,
    /// Result pages fetched.
    pub pages: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_header_is_read_among_other_segments_and_garbage_is_ignored() {
        let parsed = ApiUsage::parse("api-usage=18/5000; per-app-api-usage=17/250(appName=my-app); api-bursts=1/750");
        assert_eq!(parsed, Some(ApiUsage { used: 18, max: 5000 }));
        assert_eq!(ApiUsage::parse("per-app-api-usage=1/2(appName=x)"), None);
        assert_eq!(ApiUsage::parse("api-usage=lots"), None);
    }
}
