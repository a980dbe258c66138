//! What changed and what exists: the replication API (`getUpdated`,
//! `getDeleted`), `describe` and `/limits` (crm-api.md A7, A8 and A2.2).
//!
//! Read-only calls with no paging; the windows' limits (30 days back for
//! updates, 15 for deletes) are the caller's to respect.

use super::client::{SalesforceClient, iso, path_url};
use super::types::{Deleted, Limits, ObjectDescribe, Updated};
use crate::error::CrmError;
use chrono::{DateTime, Utc};

impl SalesforceClient {
    async fn replication<T: serde::de::DeserializeOwned>(
        &self,
        object: &str,
        kind: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<T, CrmError> {
        let (start, end) = (iso(start), iso(end));
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.data_segments(&["sobjects", object, kind, ""]))?;
            url.query_pairs_mut().append_pair("start", &start).append_pair("end", &end);
            Ok(url)
        };
        self.get_json(&url_for).await
    }

    /// Ids changed (by `SystemModstamp`) within the window (last 30 days).
    pub async fn get_updated(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Updated, CrmError> {
        self.replication(object, "updated", start, end).await
    }

    /// Records deleted within the window (last 15 days).
    pub async fn get_deleted(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Deleted, CrmError> {
        self.replication(object, "deleted", start, end).await
    }

    /// Field metadata, including formula (`calculated`) fields and picklists.
    pub async fn describe(&self, object: &str) -> Result<ObjectDescribe, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, "describe"]));
        self.get_json(&url_for).await
    }

    /// The org's limits (`DailyApiRequests`, Bulk allocations, ...).
    pub async fn limits(&self) -> Result<Limits, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["limits"]));
        self.get_json(&url_for).await
    }
}
