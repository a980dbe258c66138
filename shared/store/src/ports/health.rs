//! The sync-health capability: the list of records that failed to sync.
//!
//! Nothing is silently dropped: an intent that cannot be synced ends as an
//! entry here, keyed by the failing record (`contact:hubspot:123`), until it
//! is resolved (a later sync of the record succeeded, or an operator cleared
//! it). Recording is an upsert: the same record failing again updates its
//! entry (latest category and message, attempts + 1, first-seen time kept),
//! so a record retried a hundred times is one line with a count, not a
//! hundred lines.

use async_trait::async_trait;

use super::types::{ErrorFilter, ErrorReport, StoreResult, SyncHealthError};

/// Sync-health entries, one per failing record.
#[async_trait]
pub trait SyncHealthStore: Send + Sync {
    /// Inserts or updates the entry for `report.key`: attempts +1, last seen
    /// now, first seen kept. Ids missing from `report` keep their stored value.
    async fn record_error(&self, report: &ErrorReport) -> StoreResult<SyncHealthError>;

    /// Entries, most recently seen first.
    async fn list_errors(&self, filter: &ErrorFilter) -> StoreResult<Vec<SyncHealthError>>;

    /// The entry for one record key, if any.
    async fn get_error(&self, key: &str) -> StoreResult<Option<SyncHealthError>>;

    /// Removes an entry (resolved); false if there was none.
    async fn resolve_error(&self, key: &str) -> StoreResult<bool>;
}
