//! The shapes of an import: what is asked (objects, filter, chunk size),
//! what the review answers, what a chunk message and a stored chunk hold.
//!
//! Owns these types and the filter's translation to SOQL, which must reject
//! anything that is not a plain field name and a known operator: the filter
//! comes from an operator's command line and is pasted into a query.

use super::soql_escape;
use crate::AppError;
use crm_sync_domain::SfObject;
use crm_sync_store::ChunkCounts;
use serde::{Deserialize, Serialize};

/// What to import: one Salesforce object, or leads and contacts together
/// (both map to HubSpot contacts, one per email).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportObjects {
    Leads,
    Contacts,
    LeadsAndContacts,
    Accounts,
    Opportunities,
}

impl ImportObjects {
    /// The Salesforce objects read, in import order.
    pub fn objects(self) -> &'static [SfObject] {
        match self {
            ImportObjects::Leads => &[SfObject::Lead],
            ImportObjects::Contacts => &[SfObject::Contact],
            ImportObjects::LeadsAndContacts => &[SfObject::Lead, SfObject::Contact],
            ImportObjects::Accounts => &[SfObject::Account],
            ImportObjects::Opportunities => &[SfObject::Opportunity],
        }
    }
}

/// A filter applied in Salesforce: `field operator value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFilter {
    /// A field API name; letters, digits, `_` and `.` only.
    pub field: String,
    /// One of `=`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`.
    pub operator: String,
    /// `true`, `false`, `null` and numbers are written bare; anything else
    /// as an escaped string literal.
    pub value: String,
}

impl ImportFilter {
    /// The filter as a SOQL condition, or `Invalid` with the reason; the
    /// only place a user's text enters a query, hence the strict checks.
    pub(super) fn soql(&self) -> Result<String, AppError> {
        let field_ok =
            !self.field.is_empty() && self.field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !field_ok {
            return Err(AppError::Invalid(format!("`{}` is not a Salesforce field name", self.field)));
        }
        let op = self.operator.trim().to_ascii_uppercase();
        if !["=", "!=", "<", "<=", ">", ">=", "LIKE"].contains(&op.as_str()) {
            return Err(AppError::Invalid(format!(
                "`{}` is not a filter operator; use =, !=, <, <=, >, >= or LIKE",
                self.operator
            )));
        }
        let value = match self.value.as_str() {
            "true" | "false" | "null" => self.value.clone(),
            v if v.parse::<f64>().is_ok() => v.to_owned(),
            v => format!("'{}'", soql_escape(v)),
        };
        Ok(format!("{} {} {}", self.field, op, value))
    }
}

/// What an operator asks to import (`crm-sync import`); stored with the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub objects: ImportObjects,
    #[serde(default)]
    pub filter: Option<ImportFilter>,
    /// Records per chunk (at most 200,000; the default when `None`).
    #[serde(default)]
    pub chunk_size: Option<u64>,
    /// Add the imported leads and contacts to the inclusion segment (which
    /// must be a HubSpot list).
    #[serde(default)]
    pub add_to_segment: bool,
}

/// One object's share of a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectReview {
    /// The Salesforce object's API name.
    pub object: String,
    pub records: u64,
    pub chunks: u64,
    /// Read with Bulk API 2.0 (above the bulk threshold) rather than SOQL.
    pub bulk: bool,
}

/// What an import would do and cost, before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReview {
    pub objects: Vec<ObjectReview>,
    pub records: u64,
    /// Estimated API calls per system, the review's own count included.
    pub salesforce_calls: u64,
    pub hubspot_calls: u64,
    /// Why the import would create nothing (e.g. company sync is off).
    pub blocked: Option<String>,
    /// Whether the Salesforce budget allows the whole import now.
    pub within_budget: bool,
}

/// What [`super::run_import_chunk`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkReport {
    pub job_id: String,
    pub index: u32,
    /// Rows of the chunk read this run (after the checkpoint).
    pub records: u64,
    /// The chunk's counts so far, earlier runs included.
    pub counts: ChunkCounts,
    /// False when another worker holds or already finished the chunk.
    pub ran: bool,
}

/// The body of an import-chunk queue message: it names the chunk only;
/// the range lives in the store, where a re-delivered message finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMessage {
    pub job_id: String,
    pub index: u32,
    /// How often the chunk has waited out an API limit or another worker's
    /// lease (see `retry::settle_chunk`); absent in a first message.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waits: u32,
    /// How often the chunk was handed on to a fresh copy at its last
    /// receive, so that a worker stopping during that attempt does not send
    /// it to the dead letters (see `retry::run_chunk`); absent in a first
    /// message. A relayed copy's attempts are all past the receive limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub relays: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A chunk's range as stored with it. Stored JSON outlives a deploy:
/// fields are only ever added, with a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ChunkSpec {
    pub(super) object: SfObject,
    /// The request's filter, already checked and in SOQL.
    pub(super) filter: Option<String>,
    /// Inclusive id bounds; none for a single-chunk object.
    pub(super) first: Option<String>,
    pub(super) last: Option<String>,
    pub(super) records: u64,
    pub(super) bulk: bool,
    /// The HubSpot list the chunk's contacts are added to.
    #[serde(default)]
    pub(super) add_to_list: Option<String>,
    /// In a Bulk chunk of leads or contacts: the org's Leads and Contacts
    /// with an email when the import was planned, which the email rule's
    /// Bulk jobs read (for the chunk's cost estimate).
    #[serde(default)]
    pub(super) email_scan: Option<super::plan::ScanRows>,
}
