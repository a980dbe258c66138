//! The embedded store with faults switched in: the `n`-th write from now
//! fails, without effect, as a backend error (a DynamoDB throttle or a full
//! disk would); and every write is a crash point of the world's
//! [`Tripwire`], shared with the CRMs' calls: the worker dies before the
//! write or right after it took effect. Reads always pass.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_sandbox::{Cut, Tripwire};
use crm_sync_store::{
    ApiUsageStore, ChunkCounts, Claim, ClaimStore, CreationNote, CursorStore, ErrorFilter, ErrorReport, ImportChunk,
    ImportJob, ImportJobStore, JobStatus, Link, LinkCondition, LinkPage, LinkStore, LinkWrite, NewChunk, ObjectPair,
    Reservation, SeenEventStore, SqliteStore, StoreError, StoreResult, SweepCursor, SyncHealthError, SyncHealthStore,
    System, UsageBucket,
};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// See the module documentation.
#[derive(Debug)]
pub struct FlakyStore {
    inner: SqliteStore,
    /// The crash point every write passes.
    tripwire: Option<Arc<Tripwire>>,
    /// Writes to let through before the one that fails.
    fail_in: Mutex<Option<u64>>,
    failed: Mutex<u64>,
    /// Workers that died at one of this store's writes.
    deaths: Mutex<u64>,
}

impl FlakyStore {
    pub fn new(inner: SqliteStore) -> Self {
        FlakyStore { inner, tripwire: None, fail_in: Mutex::new(None), failed: Mutex::new(0), deaths: Mutex::new(0) }
    }

    /// Every write from now on is a crash point of `tripwire`.
    pub fn with_tripwire(mut self, tripwire: Arc<Tripwire>) -> Self {
        self.tripwire = Some(tripwire);
        self
    }

    /// One write: the injected failure, then the crash point around it.
    async fn guard<T>(&self, operation: &'static str, write: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        self.write(operation)?;
        crash_point(self.tripwire.as_deref(), &self.deaths, write).await
    }

    pub fn inner(&self) -> &SqliteStore {
        &self.inner
    }

    /// `writes` more writes pass; the next one fails.
    pub fn fail_after(&self, writes: u64) {
        *lock(&self.fail_in) = Some(writes);
    }

    /// How many workers died at one of this store's writes so far.
    pub fn deaths(&self) -> u64 {
        *lock(&self.deaths)
    }

    /// How many writes failed so far.
    pub fn failures(&self) -> u64 {
        *lock(&self.failed)
    }

    fn write(&self, operation: &'static str) -> StoreResult<()> {
        let mut fail_in = lock(&self.fail_in);
        match *fail_in {
            Some(0) => {
                *fail_in = None;
                *lock(&self.failed) += 1;
                Err(StoreError::Backend {
                    backend: "flaky",
                    operation,
                    source: "the store failed this write (injected)".into(),
                })
            }
            Some(n) => {
                *fail_in = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// `effect` as a crash point of `tripwire`: when the tripwire cuts here, the
/// worker dies before the effect or right after it (counted in `deaths`).
pub(crate) async fn crash_point<T>(
    tripwire: Option<&Tripwire>,
    deaths: &Mutex<u64>,
    effect: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let Some(tripwire) = tripwire else { return effect.await };
    match tripwire.pass() {
        None => effect.await,
        Some(Cut::BeforeEffect) => {
            *lock(deaths) += 1;
            tripwire.die().await
        }
        Some(Cut::AfterEffect) => {
            let _effect = effect.await;
            *lock(deaths) += 1;
            tripwire.die().await
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl LinkStore for FlakyStore {
    async fn get_link_by_salesforce(&self, pair: ObjectPair, salesforce_id: &str) -> StoreResult<Option<Link>> {
        self.inner.get_link_by_salesforce(pair, salesforce_id).await
    }
    async fn get_link_by_hubspot(&self, pair: ObjectPair, hubspot_id: &str) -> StoreResult<Option<Link>> {
        self.inner.get_link_by_hubspot(pair, hubspot_id).await
    }
    async fn get_links_by_salesforce_ids(&self, pair: ObjectPair, ids: &[String]) -> StoreResult<Vec<Link>> {
        self.inner.get_links_by_salesforce_ids(pair, ids).await
    }
    async fn get_links_by_hubspot_ids(&self, pair: ObjectPair, ids: &[String]) -> StoreResult<Vec<Link>> {
        self.inner.get_links_by_hubspot_ids(pair, ids).await
    }
    async fn put_link(&self, link: &Link, condition: LinkCondition) -> StoreResult<u64> {
        self.guard("put_link", self.inner.put_link(link, condition)).await
    }
    async fn put_links(&self, writes: &[LinkWrite]) -> StoreResult<Vec<StoreResult<u64>>> {
        self.guard("put_links", self.inner.put_links(writes)).await
    }
    async fn delete_link(&self, pair: ObjectPair, salesforce_id: &str, expected_version: u64) -> StoreResult<bool> {
        self.guard("delete_link", self.inner.delete_link(pair, salesforce_id, expected_version)).await
    }
    async fn list_links(&self, pair: ObjectPair, after: Option<&str>, limit: usize) -> StoreResult<LinkPage> {
        self.inner.list_links(pair, after, limit).await
    }
    async fn put_creation_notes(&self, notes: &[CreationNote]) -> StoreResult<()> {
        self.guard("put_creation_notes", self.inner.put_creation_notes(notes)).await
    }
    async fn get_creation_notes(
        &self,
        pair: ObjectPair,
        sources: &[(System, String)],
    ) -> StoreResult<Vec<CreationNote>> {
        self.inner.get_creation_notes(pair, sources).await
    }
    async fn delete_creation_notes(&self, pair: ObjectPair, sources: &[(System, String)]) -> StoreResult<()> {
        self.guard("delete_creation_notes", self.inner.delete_creation_notes(pair, sources)).await
    }
}

#[async_trait]
impl ClaimStore for FlakyStore {
    async fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreResult<Claim> {
        self.guard("claim", self.inner.claim(key, owner, ttl)).await
    }
    async fn release_claim(&self, key: &str, owner: &str) -> StoreResult<bool> {
        self.guard("release_claim", self.inner.release_claim(key, owner)).await
    }
}

#[async_trait]
impl CursorStore for FlakyStore {
    async fn get_cursor(&self, system: System, object: &str) -> StoreResult<Option<SweepCursor>> {
        self.inner.get_cursor(system, object).await
    }
    async fn advance_cursor(
        &self,
        system: System,
        object: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        partial: bool,
    ) -> StoreResult<()> {
        self.guard("advance_cursor", self.inner.advance_cursor(system, object, expected, to, partial)).await
    }
}

#[async_trait]
impl SeenEventStore for FlakyStore {
    async fn mark_events_seen(&self, event_ids: &[String], ttl: Duration) -> StoreResult<Vec<bool>> {
        self.guard("mark_events_seen", self.inner.mark_events_seen(event_ids, ttl)).await
    }
}

#[async_trait]
impl SyncHealthStore for FlakyStore {
    async fn record_error(&self, report: &ErrorReport) -> StoreResult<SyncHealthError> {
        self.guard("record_error", self.inner.record_error(report)).await
    }
    async fn list_errors(&self, filter: &ErrorFilter) -> StoreResult<Vec<SyncHealthError>> {
        self.inner.list_errors(filter).await
    }
    async fn get_error(&self, key: &str) -> StoreResult<Option<SyncHealthError>> {
        self.inner.get_error(key).await
    }
    async fn resolve_error(&self, key: &str) -> StoreResult<bool> {
        self.guard("resolve_error", self.inner.resolve_error(key)).await
    }
}

#[async_trait]
impl ApiUsageStore for FlakyStore {
    async fn add_api_calls(&self, system: System, calls: u64) -> StoreResult<()> {
        self.guard("add_api_calls", self.inner.add_api_calls(system, calls)).await
    }
    async fn reserve_api_calls(&self, system: System, wanted: u64, cap: u64) -> StoreResult<Reservation> {
        self.guard("reserve_api_calls", self.inner.reserve_api_calls(system, wanted, cap)).await
    }
    async fn release_api_calls(&self, system: System, bucket: DateTime<Utc>, calls: u64) -> StoreResult<()> {
        self.guard("release_api_calls", self.inner.release_api_calls(system, bucket, calls)).await
    }
    async fn api_calls_last_24h(&self, system: System) -> StoreResult<u64> {
        self.inner.api_calls_last_24h(system).await
    }
    async fn api_usage_buckets_last_24h(&self, system: System) -> StoreResult<Vec<UsageBucket>> {
        self.inner.api_usage_buckets_last_24h(system).await
    }
}

#[async_trait]
impl ImportJobStore for FlakyStore {
    async fn create_import_job(
        &self,
        id: &str,
        spec: &serde_json::Value,
        chunks: &[NewChunk],
    ) -> StoreResult<ImportJob> {
        self.guard("create_import_job", self.inner.create_import_job(id, spec, chunks)).await
    }
    async fn get_import_job(&self, id: &str) -> StoreResult<Option<ImportJob>> {
        self.inner.get_import_job(id).await
    }
    async fn list_import_jobs(&self) -> StoreResult<Vec<ImportJob>> {
        self.inner.list_import_jobs().await
    }
    async fn set_import_job_status(&self, id: &str, status: JobStatus) -> StoreResult<()> {
        self.guard("set_import_job_status", self.inner.set_import_job_status(id, status)).await
    }
    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<ImportChunk>> {
        self.inner.list_chunks(job_id).await
    }
    async fn claim_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<ImportChunk>> {
        self.guard("claim_chunk", self.inner.claim_chunk(job_id, index, owner, lease)).await
    }
    async fn checkpoint_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        checkpoint: &str,
        counts: ChunkCounts,
        lease: Duration,
    ) -> StoreResult<()> {
        self.guard("checkpoint_chunk", self.inner.checkpoint_chunk(job_id, index, owner, checkpoint, counts, lease))
            .await
    }
    async fn complete_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        counts: ChunkCounts,
    ) -> StoreResult<ImportJob> {
        self.guard("complete_chunk", self.inner.complete_chunk(job_id, index, owner, counts)).await
    }
    async fn fail_chunk(&self, job_id: &str, index: u32, owner: &str, message: &str) -> StoreResult<()> {
        self.guard("fail_chunk", self.inner.fail_chunk(job_id, index, owner, message)).await
    }
    async fn release_chunk(&self, job_id: &str, index: u32, owner: &str) -> StoreResult<()> {
        self.guard("release_chunk", self.inner.release_chunk(job_id, index, owner)).await
    }
    async fn resume_import_job(&self, id: &str) -> StoreResult<Vec<ImportChunk>> {
        self.guard("resume_import_job", self.inner.resume_import_job(id)).await
    }
}
