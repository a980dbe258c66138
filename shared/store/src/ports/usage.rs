//! The API-usage capability: calls made to each CRM over a rolling day.
//!
//! The product keeps under the CRMs' daily API caps (imports and resyncs
//! pause before the cap, live changes keep a reserve), which needs the count
//! of calls made by every worker, not just this process. Calls are added to
//! five-minute buckets (an atomic add, so concurrent workers never lose a
//! count); the rolling day sums the buckets of the last 24 hours, the oldest
//! bucket counting whole, so the figure errs on the side of too many calls.
//! Buckets older than two days are dropped.
//!
//! A capped client does not add after the fact: it reserves calls before it
//! makes them ([`ApiUsageStore::reserve_api_calls`]), one atomic step that
//! grants only what the cap leaves, so any number of processes sharing the
//! store together never pass the cap.

use async_trait::async_trait;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::{StoreResult, System};

/// The calls counted in one five-minute bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBucket {
    /// Start of the bucket (a multiple of five minutes, store clock).
    pub start: DateTime<Utc>,
    pub calls: u64,
}

/// The answer to a reservation: how many calls were granted (and counted),
/// and the rolling day's count with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// Calls granted, from 0 (the cap is reached) to the number asked for.
    pub granted: u64,
    /// Calls counted in the rolling day, the granted ones included.
    pub used: u64,
    /// The five-minute bucket the granted calls were counted in.
    pub bucket: DateTime<Utc>,
}

/// API call counters per [`System`].
#[async_trait]
pub trait ApiUsageStore: Send + Sync {
    /// Counts `calls` API calls against `system` at the store's current time.
    async fn add_api_calls(&self, system: System, calls: u64) -> StoreResult<()>;

    /// Counts up to `wanted` calls against `system` now, as many as keep the
    /// rolling day at or under `cap`, and says how many. Atomic against
    /// every other reservation on the store, in this process or another:
    /// concurrent reservations never together pass `cap`.
    async fn reserve_api_calls(&self, system: System, wanted: u64, cap: u64) -> StoreResult<Reservation>;

    /// Takes back `calls` granted by a reservation in `bucket` and not made,
    /// so the figure is the calls made. A bucket that holds fewer than
    /// `calls` (gone with its age) is left as it is: nothing goes below zero.
    async fn release_api_calls(&self, system: System, bucket: DateTime<Utc>, calls: u64) -> StoreResult<()>;

    /// API calls counted against `system` in the 24 hours up to now (by
    /// five-minute buckets: the oldest bucket counts whole).
    async fn api_calls_last_24h(&self, system: System) -> StoreResult<u64>;

    /// The buckets [`ApiUsageStore::api_calls_last_24h`] sums, oldest first,
    /// buckets without calls left out: what a chart of the rolling day draws.
    async fn api_usage_buckets_last_24h(&self, system: System) -> StoreResult<Vec<UsageBucket>>;
}
