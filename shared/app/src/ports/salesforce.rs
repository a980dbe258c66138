//! The Salesforce port: records by id, SOQL and Bulk queries, and the
//! replication API, as three capabilities under [`SalesforceApi`].
//!
//! Owns the shape of what the sync asks of Salesforce; must not hold sync
//! decisions (which fields win, what to create) nor HTTP details.

use super::{ApiCalls, ChangedWindow, PackedRows, RowView, SfRecord, WriteResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_sync_crm::error::CrmError;
use serde_json::{Map, Value};

/// Records by id: read, update, and create-or-update by External ID.
#[async_trait]
pub trait SalesforceRecords: Send + Sync {
    /// Reads up to [`super::SALESFORCE_BATCH`] records of one type by id (one
    /// call). Unknown and deleted ids are absent from the answer.
    async fn retrieve(&self, sobject: &str, ids: &[String], fields: &[String]) -> Result<Vec<SfRecord>, CrmError>;

    /// Updates up to [`super::SALESFORCE_BATCH`] records by id (one call).
    async fn update(
        &self,
        sobject: &str,
        records: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError>;

    /// Creates or updates up to [`super::SALESFORCE_BATCH`] records keyed by
    /// an External ID field (`HubSpot_Id__c`) (one call). Each record map
    /// carries the key field itself.
    async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<WriteResult>, CrmError>;

    /// Deletes up to [`super::SALESFORCE_BATCH`] records by id, of any
    /// objects (one call): they go to the Recycle Bin. One result per id, in
    /// order; a refused record is its own `Err`, not a failed call.
    async fn delete_records(&self, ids: &[String]) -> Result<Vec<WriteResult>, CrmError>;
}

/// SOQL: paged queries, counts, and Bulk API 2.0 jobs for imports.
#[async_trait]
pub trait SalesforceQueries: Send + Sync {
    /// Runs a SOQL query, following `nextRecordsUrl` (one call per 2,000 rows).
    async fn query(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError>;

    /// Like [`SalesforceQueries::query`] through `queryAll`: deleted and
    /// merged-away records (Recycle Bin, `IsDeleted = true`) are included,
    /// so that a merge loser's `MasterRecordId` can be read.
    async fn query_all(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError>;

    /// Counts rows with `SELECT COUNT() ...` (one call).
    async fn count(&self, soql: &str) -> Result<u64, CrmError>;

    /// Runs a Bulk API 2.0 query job and returns every row (a few calls:
    /// create, poll, one per result locator).
    async fn bulk_query(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError>;

    /// The ids a Bulk query job answers (`SELECT Id FROM ...`), page by page,
    /// without holding its rows: an import's id scan of a large object.
    async fn bulk_ids(&self, soql: &str) -> Result<Vec<String>, CrmError> {
        Ok(self.bulk_query(soql).await?.into_iter().map(|r| r.id).collect())
    }

    /// Like [`SalesforceQueries::bulk_query`], keeping only the rows `keep`
    /// accepts, page by page, packed ([`PackedRows`]), so that a large job
    /// never sits in memory whole nor as records.
    async fn bulk_query_filtered(
        &self,
        soql: &str,
        keep: &(dyn for<'r> Fn(RowView<'r>) -> bool + Send + Sync),
    ) -> Result<PackedRows, CrmError> {
        Ok(self.bulk_query(soql).await?.into_iter().filter(|r| keep(RowView::of_record(r))).collect())
    }
}

/// The replication API the sweep lists changes with.
#[async_trait]
pub trait SalesforceReplication: Send + Sync {
    /// Records changed (`SystemModstamp`) and deleted within the window,
    /// covered up to the CRM's `latestDateCovered` (whole minutes), two
    /// calls (getUpdated, getDeleted).
    async fn changed_since(
        &self,
        sobject: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<ChangedWindow, CrmError>;
}

/// Who the integration user is: the org whose outbound messages the webhook
/// endpoint accepts when none is configured.
#[async_trait]
pub trait SalesforceIdentity: Send + Sync {
    /// The org id (`00D...`) of the integration user (at most one call: the
    /// token request, which every later call reuses).
    async fn organization_id(&self) -> Result<String, CrmError>;
}

/// What the sync asks of Salesforce: every capability, one object.
pub trait SalesforceApi:
    ApiCalls + SalesforceRecords + SalesforceQueries + SalesforceReplication + SalesforceIdentity
{
}

impl<T> SalesforceApi for T where
    T: ApiCalls + SalesforceRecords + SalesforceQueries + SalesforceReplication + SalesforceIdentity + ?Sized
{
}
