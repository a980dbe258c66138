//! The API-usage capability: calls made to each CRM over a rolling day.
//!
//! The product keeps under the CRMs' daily API caps (imports and resyncs
//! pause before the cap, live changes keep a reserve), which needs the count
//! of calls made by every worker, not just this process. Calls are added to
//! five-minute buckets (an atomic add, so concurrent workers never lose a
//! count); the rolling day sums the buckets of the last 24 hours, the oldest
//! bucket counting whole, so the figure errs on the side of too many calls.
//! Buckets older than two days are dropped.

use async_trait::async_trait;

use super::types::{StoreResult, System};

/// API call counters per [`System`].
#[async_trait]
pub trait ApiUsageStore: Send + Sync {
    /// Counts `calls` API calls against `system` at the store's current time.
    async fn add_api_calls(&self, system: System, calls: u64) -> StoreResult<()>;

    /// API calls counted against `system` in the 24 hours up to now (by
    /// five-minute buckets: the oldest bucket counts whole).
    async fn api_calls_last_24h(&self, system: System) -> StoreResult<u64>;
}
