//! Planning an import before anything is written: which list to add to,
//! why an import would create nothing, the WHERE clause, the chunk size, and
//! the API cost estimate the review shows and the budget check uses.
//!
//! The estimate must stay in step with what [`super::run_import_chunk`] and
//! [`super::import_start`] really call: the review promises a cost up front.

use super::ChunkSize;
use super::request::{ImportObjects, ImportRequest};
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH};
use crate::{App, AppError};
use crm_sync_domain::SfObject;
use crm_sync_domain::config::InclusionSegment;
use crm_sync_domain::decision::SALESFORCE_EMAIL_FIELD;
use serde::{Deserialize, Serialize};

/// Rows per Bulk API result page, for the cost estimate.
const BULK_ROWS_PER_PAGE: u64 = 50_000;
/// Rows per SOQL query page.
const QUERY_ROWS_PER_PAGE: u64 = 2_000;

/// The list `add_to_segment` adds to, or why it cannot: only lead and
/// contact imports, and only when the inclusion segment is a HubSpot list
/// (a property filter cannot be joined by writing to a list).
pub(super) fn segment_list(app: &App, request: &ImportRequest) -> Result<Option<String>, AppError> {
    if !request.add_to_segment {
        return Ok(None);
    }
    if !matches!(request.objects, ImportObjects::Leads | ImportObjects::Contacts | ImportObjects::LeadsAndContacts) {
        return Err(AppError::Invalid(
            "adding to the inclusion segment applies to lead and contact imports only; drop the option".into(),
        ));
    }
    match &app.config().inclusion_segment {
        Some(InclusionSegment::HubspotList(list)) => Ok(Some(list.clone())),
        Some(InclusionSegment::PropertyFilter { property, .. }) => Err(AppError::Invalid(format!(
            "the inclusion segment is a property filter on `{property}`, which an import cannot join; give the segment as a HubSpot list (`inclusion_segment.hubspot_list`) or drop the option"
        ))),
        None => Err(AppError::Invalid(
            "the sync config has no inclusion segment, so every contact already gets every field; drop the option"
                .into(),
        )),
    }
}

/// Why an import would create nothing: accounts or opportunities while
/// their pair does not sync. Leads and contacts always sync.
pub(super) fn blocked_reason(app: &App, objects: ImportObjects) -> Option<String> {
    let config = app.config();
    match objects {
        ImportObjects::Accounts if !config.objects.companies => Some(
            "company sync is off: an account import creates nothing. Turn on `objects.companies` in the sync config first"
                .into(),
        ),
        ImportObjects::Opportunities if !config.objects.deals => Some(
            "deal sync is off: an opportunity import creates nothing. Turn on `objects.deals` in the sync config first"
                .into(),
        ),
        _ => None,
    }
}

/// ` WHERE <filter>`, or nothing.
pub(super) fn where_clause(filter: Option<&str>) -> String {
    match filter {
        Some(f) => format!(" WHERE {f}"),
        None => String::new(),
    }
}

/// The request's chunk size, else the configured one; `Invalid` outside
/// 1..=200,000.
pub(super) fn chunk_size(app: &App, request: &ImportRequest) -> Result<ChunkSize, AppError> {
    let size = request.chunk_size.unwrap_or(app.settings().import_chunk_size);
    ChunkSize::new(size).map_err(|e| AppError::Invalid(e.to_string()))
}

/// HubSpot calls to add `records` to the segment list.
pub(super) fn list_add_calls(records: u64, list: Option<&String>) -> u64 {
    if list.is_some() { records.div_ceil(crm_sync_crm::hubspot::LIST_ADD_BATCH as u64) } else { 0 }
}

/// Whether `records` are read with Bulk API 2.0, and the (Salesforce,
/// HubSpot) calls to import them in `chunks` chunks. HubSpot: one upsert
/// per 100 records; list additions are counted by the caller.
pub(super) fn estimate(app: &App, records: u64, chunks: u64) -> (bool, u64, u64) {
    let bulk = records > app.settings().bulk_threshold;
    let salesforce = if records == 0 {
        1
    } else if bulk {
        // count; the id scan when chunked; per chunk: create, poll, pages.
        let scan = if chunks > 1 { 2 + records.div_ceil(BULK_ROWS_PER_PAGE) } else { 0 };
        // Each chunk's job reads the whole filtered object and keeps its range.
        1 + scan + chunks * (2 + records.div_ceil(BULK_ROWS_PER_PAGE))
    } else {
        1 + records.div_ceil(QUERY_ROWS_PER_PAGE)
    };
    (bulk, salesforce, records.div_ceil(HUBSPOT_BATCH as u64))
}

/// The org's Leads and Contacts that have an email: the rows the email
/// rule's Bulk jobs read per chunk of a Bulk lead or contact import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ScanRows {
    pub(crate) leads: u64,
    pub(crate) contacts: u64,
}

/// Counts [`ScanRows`]: two `COUNT()` queries ([`SCAN_COUNT_CALLS`]).
pub(super) async fn scan_rows(app: &App) -> Result<ScanRows, AppError> {
    let count =
        |object: SfObject| format!("SELECT COUNT() FROM {} WHERE {SALESFORCE_EMAIL_FIELD} != null", object.api_name());
    Ok(ScanRows {
        leads: app.salesforce().count(&count(SfObject::Lead)).await?,
        contacts: app.salesforce().count(&count(SfObject::Contact)).await?,
    })
}

/// Calls [`scan_rows`] makes.
pub(super) const SCAN_COUNT_CALLS: u64 = 2;

/// Whether the email rule of an import of `object` is resolved with Bulk
/// scans: leads and contacts read with Bulk API.
pub(super) fn scans_emails(object: SfObject, bulk: bool) -> bool {
    bulk && matches!(object, SfObject::Lead | SfObject::Contact)
}

/// Salesforce calls the email rule makes to import `records` leads or
/// contacts in `chunks` chunks (none for other objects).
///
/// Read with SOQL (`scan` is `None`): two queries (Lead and Contact) per 200
/// emails of a page. A page holds a multiple of 200 rows, so a chunk costs
/// two per 200 of its records rounded up, and splitting the records into
/// chunks adds at most one round per chunk after the first.
///
/// Read with Bulk API (`scan` given): per chunk, one job per object over
/// every Lead and Contact with an email (create, poll, a result page per
/// 50,000 rows), none for an object with no such record; an upper bound,
/// as a contact chunk that read its whole object needs no job for it, only
/// a query per 200 of its emails also met outside its range, and never more
/// calls than the job would take.
pub(super) fn email_rule_calls(object: SfObject, records: u64, chunks: u64, scan: Option<ScanRows>) -> u64 {
    if !matches!(object, SfObject::Lead | SfObject::Contact) || records == 0 {
        return 0;
    }
    match scan {
        None => 2 * (records.div_ceil(SALESFORCE_BATCH as u64) + chunks.saturating_sub(1)),
        Some(rows) => chunks * (bulk_job_calls(rows.leads) + bulk_job_calls(rows.contacts)),
    }
}

/// Create, poll and the result pages of one Bulk job reading `rows`; no
/// job for no rows.
pub(super) fn bulk_job_calls(rows: u64) -> u64 {
    if rows == 0 { 0 } else { 2 + rows.div_ceil(BULK_ROWS_PER_PAGE) }
}

impl ScanRows {
    /// The objects no record of which had an email: nothing to scan.
    pub(crate) fn empty_objects(&self) -> Vec<SfObject> {
        [(SfObject::Lead, self.leads), (SfObject::Contact, self.contacts)]
            .into_iter()
            .filter(|(_, rows)| *rows == 0)
            .map(|(object, _)| object)
            .collect()
    }
}
