//! What the use cases need from each CRM, as two small traits.
//!
//! The use cases talk to these, never to HTTP. The production implementations
//! wrap the `crm_sync_crm` clients (see [`crate::adapters`]); the methods are
//! already batch-shaped (HubSpot 100 per call, Salesforce 200 per call), and
//! every method is one or a known, small number of API calls so that the use
//! cases can count their cost up front.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_sync_crm::error::CrmError;
use serde_json::{Map, Value};

/// Most records one HubSpot batch call takes.
pub const HUBSPOT_BATCH: usize = 100;
/// Most records one Salesforce Collections call takes.
pub const SALESFORCE_BATCH: usize = 200;

/// A Salesforce record as read: its id, type and fields by API name.
#[derive(Debug, Clone, PartialEq)]
pub struct SfRecord {
    pub sobject: String,
    pub id: String,
    pub fields: Map<String, Value>,
}

/// A HubSpot record as read: id, properties (all strings in HubSpot), and the
/// ids of associated records when they were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct HsRecord {
    pub object: String,
    pub id: String,
    pub properties: Map<String, Value>,
}

/// One write's outcome, in input order.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteResult {
    /// Written; `created` when a new record was made.
    Ok { id: String, created: bool },
    /// Refused for this record only, with the CRM's own code and message.
    Err { code: String, message: String },
}

/// A record id that changed, or was deleted, in a time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub id: String,
    pub deleted: bool,
}

/// What a changed-since listing found, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedWindow {
    pub changes: Vec<Changed>,
    /// Everything changed before this was listed; the next window starts
    /// here. The requested end when the listing was whole; earlier when the
    /// CRM covers less (Salesforce: whole minutes) or the listing stopped
    /// at its record budget.
    pub covered_to: DateTime<Utc>,
    /// False when the listing stopped before the requested end (record
    /// budget, or a Salesforce window too large to list at once): the next
    /// listing resumes exactly at `covered_to`.
    pub complete: bool,
}

/// What the sync asks of Salesforce.
#[async_trait]
pub trait SalesforceApi: Send + Sync {
    /// API calls made through this client since it was built (monotonic);
    /// the use cases turn its growth into usage entries.
    fn calls_made(&self) -> u64;

    /// Reads up to [`SALESFORCE_BATCH`] records of one type by id (one call).
    async fn retrieve(&self, sobject: &str, ids: &[String], fields: &[String]) -> Result<Vec<SfRecord>, CrmError>;

    /// Runs a SOQL query, following `nextRecordsUrl` (one call per 2,000 rows).
    async fn query(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError>;

    /// Counts rows with `SELECT COUNT() ...` (one call).
    async fn count(&self, soql: &str) -> Result<u64, CrmError>;

    /// Runs a Bulk API 2.0 query job and returns every row (a few calls:
    /// create, poll, one per result locator).
    async fn bulk_query(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError>;

    /// Like [`SalesforceApi::bulk_query`], keeping only the rows `keep`
    /// accepts, page by page, so that a large job never sits in memory whole.
    async fn bulk_query_filtered(
        &self,
        soql: &str,
        keep: &(dyn for<'r> Fn(&'r SfRecord) -> bool + Send + Sync),
    ) -> Result<Vec<SfRecord>, CrmError> {
        let mut rows = self.bulk_query(soql).await?;
        rows.retain(|r| keep(r));
        Ok(rows)
    }

    /// Updates up to [`SALESFORCE_BATCH`] records by id (one call).
    async fn update(
        &self,
        sobject: &str,
        records: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError>;

    /// Creates or updates up to [`SALESFORCE_BATCH`] records keyed by an
    /// External ID field (one call).
    async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<WriteResult>, CrmError>;

    /// Records changed (`SystemModstamp`) and deleted within the window,
    /// covered up to the CRM's `latestDateCovered`.
    async fn changed_since(
        &self,
        sobject: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<ChangedWindow, CrmError>;
}

/// What the sync asks of HubSpot.
#[async_trait]
pub trait HubspotApi: Send + Sync {
    /// API calls made through this client since it was built (monotonic).
    fn calls_made(&self) -> u64;

    /// Reads up to [`HUBSPOT_BATCH`] records by id, or by a unique property
    /// such as `email` when `id_property` is given (one call). Unknown ids are
    /// simply absent from the answer.
    async fn batch_read(
        &self,
        object: &str,
        ids: &[String],
        id_property: Option<&str>,
        properties: &[String],
    ) -> Result<Vec<HsRecord>, CrmError>;

    /// Creates or updates up to [`HUBSPOT_BATCH`] records keyed by a unique
    /// property (`email` for contacts, `salesforce_id` for companies and
    /// deals) (one call).
    async fn batch_upsert(
        &self,
        object: &str,
        id_property: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError>;

    /// Updates up to [`HUBSPOT_BATCH`] records by HubSpot id (one call).
    async fn batch_update(
        &self,
        object: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError>;

    /// Records modified within the window (search, split past 10,000),
    /// oldest first, stopping once about `max_records` are listed.
    async fn changed_since(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max_records: usize,
    ) -> Result<ChangedWindow, CrmError>;

    /// The ids associated with each record (one call per 100 records);
    /// records without associations are absent.
    async fn associated_ids(
        &self,
        from_object: &str,
        to_object: &str,
        ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, CrmError>;

    /// Makes sure a unique-value text property exists on an object (the
    /// `salesforce_id` key of companies and deals); creates it if missing.
    async fn ensure_unique_property(&self, object: &str, name: &str) -> Result<(), CrmError>;

    /// Makes sure a multi-line text property exists on an object (the
    /// contacts' "Salesforce Campaigns"); creates it if missing.
    async fn ensure_text_property(&self, object: &str, name: &str, label: &str) -> Result<(), CrmError>;

    /// Unsubscribes addresses from all email (communication preferences;
    /// one call per 100). HubSpot's opt-out property itself is read-only.
    async fn unsubscribe_all(&self, emails: &[String]) -> Result<(), CrmError>;

    /// The account's active owners as people (id, full name, email); owners
    /// without a valid email are left out (one call per 500 owners).
    async fn owners(&self) -> Result<Vec<crm_sync_domain::special::Person>, CrmError>;

    /// The contact ids in a HubSpot list (one call per 250 members).
    async fn list_members(&self, list_id: &str) -> Result<Vec<String>, CrmError>;

    /// Adds contacts to a HubSpot list (one call per 1,000); returns the
    /// ids HubSpot reported missing.
    async fn add_list_members(&self, list_id: &str, ids: &[String]) -> Result<Vec<String>, CrmError>;

    /// Associates records (one call per 100 pairs).
    async fn associate(&self, from_object: &str, to_object: &str, pairs: &[(String, String)]) -> Result<(), CrmError>;

    /// Checks a webhook delivery's signature (v3 with its 5-minute window
    /// when present, else v2/v1), in constant time. `uri` is the full URL
    /// HubSpot called; header names are lower case. `Err` says why not.
    fn verify_webhook(
        &self,
        client_secret: &str,
        method: &str,
        uri: &str,
        headers: &std::collections::BTreeMap<String, String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), String>;
}
