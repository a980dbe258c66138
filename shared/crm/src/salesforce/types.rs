//! Shapes of Salesforce answers the client returns.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A record as JSON fields (with `attributes` as Salesforce sends it).
pub type SObject = serde_json::Map<String, serde_json::Value>;

/// The org's daily API usage, from `Sforce-Limit-Info: api-usage=used/max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    pub used: u64,
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
    pub total_size: u64,
    pub done: bool,
    #[serde(default)]
    pub next_records_url: Option<String>,
    pub records: Vec<SObject>,
}

/// A single-record write that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Written {
    pub id: String,
    /// Set by upserts: true when the record was created.
    #[serde(default)]
    pub created: Option<bool>,
}

/// A record to create or update through sObject Collections.
#[derive(Debug, Clone)]
pub struct CollectionRecord {
    pub object: String,
    /// The record id, for updates.
    pub id: Option<String>,
    pub fields: SObject,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Updated {
    pub ids: Vec<String>,
    pub latest_date_covered: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecord {
    pub id: String,
    pub deleted_date: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub deleted_records: Vec<DeletedRecord>,
    pub earliest_date_available: String,
    pub latest_date_covered: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    pub value: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub default_value: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescribe {
    pub name: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub field_type: String,
    /// True for formula and roll-up summary fields.
    #[serde(default)]
    pub calculated: bool,
    #[serde(default)]
    pub calculated_formula: Option<String>,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub nillable: bool,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub picklist_values: Vec<PicklistValue>,
    #[serde(default)]
    pub reference_to: Vec<String>,
    #[serde(default)]
    pub relationship_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDescribe {
    pub name: String,
    #[serde(default)]
    pub key_prefix: Option<String>,
    pub fields: Vec<FieldDescribe>,
}

impl ObjectDescribe {
    /// Formula (calculated) fields: never sync triggers, never written.
    pub fn formula_fields(&self) -> impl Iterator<Item = &FieldDescribe> {
        self.fields.iter().filter(|f| f.calculated)
    }

    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Limit {
    #[serde(rename = "Max")]
    pub max: u64,
    #[serde(rename = "Remaining")]
    pub remaining: u64,
}

/// `/limits`, keyed by limit name (`DailyApiRequests`, ...).
pub type Limits = BTreeMap<String, Limit>;

/// A Bulk API 2.0 query job's status.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkJob {
    pub id: String,
    pub state: String,
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub number_records_processed: Option<u64>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// One page of Bulk query results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkPage {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The locator of the next page; `None` after the last one.
    pub next_locator: Option<String>,
}

/// Every row of a Bulk query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkQueryResult {
    pub job_id: String,
    pub columns: Vec<String>,
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
