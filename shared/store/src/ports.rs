//! The state-store and queue ports: the traits the use cases call, and the
//! plain serde types that cross them.
//!
//! This module owns the contract only. It knows nothing about SQLite, DynamoDB
//! or SQS, and nothing about the sync rules: ids are strings, payloads are JSON
//! text or values. Semantics every adapter must keep (checked by
//! [`crate::contract`]):
//!
//! - conditional writes fail with [`StoreError::ConditionFailed`], never by
//!   silently overwriting (DynamoDB `ConditionExpression` semantics);
//! - time-bounded things (claims, seen events, chunk leases) expire by the
//!   adapter's injected [`crate::Clock`], whether or not the row is gone yet;
//! - a received queue message is invisible until its visibility timeout ends,
//!   counts its receives, and moves to the dead-letter queue when it is
//!   received more than `max_receive_count` times (SQS redrive semantics).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Result of every port call.
pub type StoreResult<T> = Result<T, StoreError>;

/// One of the two CRMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Salesforce,
    Hubspot,
}

impl System {
    /// Stable lowercase name, used in storage keys.
    pub fn as_str(self) -> &'static str {
        match self {
            System::Salesforce => "salesforce",
            System::Hubspot => "hubspot",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The synced object pairs: HubSpot contact <-> Salesforce Lead or Contact,
/// company <-> Account, deal <-> Opportunity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectPair {
    Contact,
    Company,
    Deal,
}

impl ObjectPair {
    /// Stable lowercase name, used in storage keys.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectPair::Contact => "contact",
            ObjectPair::Company => "company",
            ObjectPair::Deal => "deal",
        }
    }

    /// Parses the name written by [`ObjectPair::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "contact" => Some(ObjectPair::Contact),
            "company" => Some(ObjectPair::Company),
            "deal" => Some(ObjectPair::Deal),
            _ => None,
        }
    }
}

impl fmt::Display for ObjectPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The link between one Salesforce record and one HubSpot record.
///
/// Within a pair, a Salesforce id and a HubSpot id each belong to at most one
/// link. `fingerprints` maps each mapped field name to the fingerprint of the
/// value last synced, which is how echoes are recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub pair: ObjectPair,
    /// `Lead`, `Contact`, `Account` or `Opportunity`.
    pub salesforce_object: String,
    pub salesforce_id: String,
    pub hubspot_id: String,
    pub fingerprints: BTreeMap<String, String>,
    /// Version for optimistic concurrency: 1 after creation, +1 per update.
    /// Ignored on write (the store sets it); read it back from `get_*`.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// The condition of a link write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkCondition {
    /// Create: fails if either id of the pair is already linked.
    MustNotExist,
    /// Update: fails unless the stored link has this version. The ids of an
    /// update must be those of the stored link (relink = delete + create).
    VersionIs(u64),
}

/// One write of a batch of link writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkWrite {
    pub link: Link,
    pub condition: LinkCondition,
}

/// A page of links, for listing a whole pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkPage {
    pub links: Vec<Link>,
    /// Pass back to get the next page; `None` at the end.
    pub next: Option<String>,
}

/// Result of an idempotency claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller owns the key until the TTL ends (or it releases it).
    Acquired,
    /// Someone else holds an unexpired claim on the key.
    HeldBy { owner: String, expires_at: DateTime<Utc> },
}

/// A stored sweep cursor: everything changed before `position` has been queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepCursor {
    pub system: System,
    /// CRM object name (`Lead`, `contacts`, ...).
    pub object: String,
    pub position: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The listing that set `position` stopped early (a bounded listing of a
    /// large window): the next one resumes exactly there, with no overlap.
    #[serde(default)]
    pub partial: bool,
}

/// Lifecycle of an import job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Planned,
    Running,
    Paused,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Planned => "planned",
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "planned" => Some(JobStatus::Planned),
            "running" => Some(JobStatus::Running),
            "paused" => Some(JobStatus::Paused),
            "completed" => Some(JobStatus::Completed),
            "failed" => Some(JobStatus::Failed),
            _ => None,
        }
    }
}

/// Lifecycle of one import chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkStatus {
    Pending,
    /// Claimed by a worker whose lease has not ended.
    Running,
    Done,
    Failed,
}

impl ChunkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkStatus::Pending => "pending",
            ChunkStatus::Running => "running",
            ChunkStatus::Done => "done",
            ChunkStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ChunkStatus::Pending),
            "running" => Some(ChunkStatus::Running),
            "done" => Some(ChunkStatus::Done),
            "failed" => Some(ChunkStatus::Failed),
            _ => None,
        }
    }
}

/// Record counts of a chunk (and, summed, of a job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChunkCounts {
    /// Records read from the source CRM.
    pub read: u64,
    /// Sync intents queued.
    pub queued: u64,
    /// Records that could not be queued (recorded in sync health).
    pub failed: u64,
}

impl ChunkCounts {
    pub fn add(&mut self, other: ChunkCounts) {
        self.read += other.read;
        self.queued += other.queued;
        self.failed += other.failed;
    }
}

/// An import job. `spec` is the use case's own description of the import
/// (objects, filters, estimate), stored as JSON and returned untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    pub id: String,
    pub status: JobStatus,
    pub spec: serde_json::Value,
    pub chunks_total: u32,
    /// Chunks marked done.
    pub chunks_done: u32,
    /// Sum of the counts of done chunks.
    pub counts: ChunkCounts,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One chunk of an import job; `spec` holds its range (object, id/date range,
/// record estimate) as the planner wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportChunk {
    pub job_id: String,
    pub index: u32,
    pub spec: serde_json::Value,
    pub status: ChunkStatus,
    /// Worker holding the lease while `Running`.
    pub owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// Resume point written by the worker (e.g. a Bulk API locator).
    pub checkpoint: Option<String>,
    /// Counts so far (final once `Done`).
    pub counts: ChunkCounts,
    /// How many times the chunk was claimed.
    pub attempts: u32,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A new chunk, as the planner produces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewChunk {
    pub index: u32,
    pub spec: serde_json::Value,
}

/// What a sync failure looks like when it is reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// Stable key of the failing record, e.g. `contact:hubspot:123`; one entry
    /// per key.
    pub key: String,
    /// snake_case name of the domain's `ErrorCategory` (`duplicates`,
    /// `associations`, `permissions_or_access`, `property_value_or_validation`,
    /// `api_limit`, `other`).
    pub category: String,
    pub pair: ObjectPair,
    pub salesforce_id: Option<String>,
    pub hubspot_id: Option<String>,
    /// The CRM's own message.
    pub message: String,
    pub retryable: bool,
}

/// A sync-health entry: the last report for a key, plus its history counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncHealthError {
    pub key: String,
    pub category: String,
    pub pair: ObjectPair,
    pub salesforce_id: Option<String>,
    pub hubspot_id: Option<String>,
    pub message: String,
    pub attempts: u32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub retryable: bool,
}

/// Filter for listing sync-health errors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorFilter {
    /// Only this category (snake_case name).
    pub category: Option<String>,
    /// At most this many entries (all when `None`).
    pub limit: Option<usize>,
}

/// The state store: everything the sync keeps between runs.
///
/// Every method is a single conditional or idempotent step, so a crash between
/// two calls leaves the store consistent.
#[async_trait]
pub trait StateStore: Send + Sync {
    // ---- links ----

    /// The link of a Salesforce record, if any.
    async fn get_link_by_salesforce(&self, pair: ObjectPair, salesforce_id: &str) -> StoreResult<Option<Link>>;

    /// The link of a HubSpot record, if any.
    async fn get_link_by_hubspot(&self, pair: ObjectPair, hubspot_id: &str) -> StoreResult<Option<Link>>;

    /// Writes one link under `condition`; returns the stored version.
    /// A failed condition is [`StoreError::ConditionFailed`].
    async fn put_link(&self, link: &Link, condition: LinkCondition) -> StoreResult<u64>;

    /// Writes many links; each succeeds or fails on its own condition. The
    /// outer error is for the store failing as a whole.
    async fn put_links(&self, writes: &[LinkWrite]) -> StoreResult<Vec<StoreResult<u64>>>;

    /// Deletes a link if its version matches; false if there was none.
    async fn delete_link(&self, pair: ObjectPair, salesforce_id: &str, expected_version: u64) -> StoreResult<bool>;

    /// Lists the links of a pair in pages (order is the adapter's own).
    async fn list_links(&self, pair: ObjectPair, after: Option<&str>, limit: usize) -> StoreResult<LinkPage>;

    // ---- idempotency claims ----

    /// Claims `key` for `owner` until `ttl` from now, unless someone else holds
    /// an unexpired claim. Claiming again as the same owner renews it.
    async fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreResult<Claim>;

    /// Gives a claim back early; false if `owner` did not hold it.
    async fn release_claim(&self, key: &str, owner: &str) -> StoreResult<bool>;

    // ---- sweep cursors ----

    async fn get_cursor(&self, system: System, object: &str) -> StoreResult<Option<SweepCursor>>;

    /// Moves the cursor to `to` (marked `partial` or not) if it is still at
    /// `expected` (`None`: no cursor yet). A lost race is
    /// [`StoreError::ConditionFailed`].
    async fn advance_cursor(
        &self,
        system: System,
        object: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        partial: bool,
    ) -> StoreResult<()>;

    // ---- import jobs and chunks ----

    /// Creates a job (status `Planned`) and its chunks (`Pending`); fails with
    /// `ConditionFailed` if the id exists.
    async fn create_import_job(
        &self,
        id: &str,
        spec: &serde_json::Value,
        chunks: &[NewChunk],
    ) -> StoreResult<ImportJob>;

    async fn get_import_job(&self, id: &str) -> StoreResult<Option<ImportJob>>;

    /// All jobs, newest first.
    async fn list_import_jobs(&self) -> StoreResult<Vec<ImportJob>>;

    async fn set_import_job_status(&self, id: &str, status: JobStatus) -> StoreResult<()>;

    /// The job's chunks in index order.
    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<ImportChunk>>;

    /// Claims a chunk that is `Pending`, or `Running` with an ended lease
    /// (its worker died): it becomes `Running` for `owner` until `lease` from
    /// now. `None` if the chunk is done, failed or leased to someone else.
    async fn claim_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<ImportChunk>>;

    /// Records progress of a chunk the caller holds and extends its lease.
    async fn checkpoint_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        checkpoint: &str,
        counts: ChunkCounts,
        lease: Duration,
    ) -> StoreResult<()>;

    /// Marks a chunk the caller holds as done with its final counts and adds
    /// them to the job; the job becomes `Completed` with its last chunk.
    /// `ConditionFailed` if the caller lost the lease.
    async fn complete_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        counts: ChunkCounts,
    ) -> StoreResult<ImportJob>;

    /// Marks a chunk the caller holds as failed, keeping the message.
    async fn fail_chunk(&self, job_id: &str, index: u32, owner: &str, message: &str) -> StoreResult<()>;

    // ---- sync health ----

    /// Inserts or updates the entry for `report.key`: attempts +1, last seen
    /// now, first seen kept.
    async fn record_error(&self, report: &ErrorReport) -> StoreResult<SyncHealthError>;

    /// Entries, most recently seen first.
    async fn list_errors(&self, filter: &ErrorFilter) -> StoreResult<Vec<SyncHealthError>>;

    async fn get_error(&self, key: &str) -> StoreResult<Option<SyncHealthError>>;

    /// Removes an entry (resolved); false if there was none.
    async fn resolve_error(&self, key: &str) -> StoreResult<bool>;

    // ---- API usage ----

    /// Counts `calls` API calls against `system` at the store's current time.
    async fn add_api_calls(&self, system: System, calls: u64) -> StoreResult<()>;

    /// API calls counted against `system` in the 24 hours up to now (by
    /// five-minute buckets: the oldest bucket counts whole).
    async fn api_calls_last_24h(&self, system: System) -> StoreResult<u64>;

    // ---- seen webhook events ----

    /// Remembers each event id for `ttl`; returns, per id in order, whether it
    /// was new. An id repeated within one call is new only the first time.
    async fn mark_events_seen(&self, event_ids: &[String], ttl: Duration) -> StoreResult<Vec<bool>>;
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    /// JSON text.
    pub body: String,
    /// Invisible for this long after sending (SQS allows up to 15 minutes).
    pub delay: Option<Duration>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        OutgoingMessage { body: body.into(), delay: None }
    }
}

/// A message received from a queue, by polling or from a Lambda SQS event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedMessage {
    pub id: String,
    /// Handle for `delete` and `change_visibility` (valid for this receive).
    pub receipt_handle: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

/// Approximate message counts of a queue and its dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueDepth {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted, or delayed.
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead: u64,
}

/// The named queues of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueName {
    /// Sync intents for the sync workers.
    SyncIntents,
    /// Import chunks for the import workers.
    ImportChunks,
}

impl QueueName {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::SyncIntents => "sync-intents",
            QueueName::ImportChunks => "import-chunks",
        }
    }
}

/// Redrive settings of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Receives after which the next receive moves the message to the
    /// dead-letter queue instead.
    pub max_receive_count: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings { max_receive_count: 5 }
    }
}

/// One queue with its dead-letter queue (SQS semantics: at-least-once,
/// visibility timeout, receive count, redrive after `max_receive_count`).
#[async_trait]
pub trait Queue: Send + Sync {
    /// The queue's name (for logs).
    fn name(&self) -> &str;

    /// Sends messages (adapters split into batches as their backend needs);
    /// returns their ids in order. All are durably queued when it returns Ok.
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> StoreResult<Vec<String>>;

    /// Receives up to `max` visible messages (the adapter may cap `max`, e.g.
    /// SQS at 10), hiding them for `visibility`. Messages past
    /// `max_receive_count` go to the dead-letter queue instead.
    async fn receive(&self, max: usize, visibility: Duration) -> StoreResult<Vec<ReceivedMessage>>;

    /// Acknowledges a message: it will not be delivered again.
    async fn delete(&self, receipt_handle: &str) -> StoreResult<()>;

    /// Acknowledges many messages.
    async fn delete_batch(&self, receipt_handles: &[String]) -> StoreResult<()>;

    /// Makes a received message visible again after `timeout` from now
    /// (zero: at once). Used for backoff.
    async fn change_visibility(&self, receipt_handle: &str, timeout: Duration) -> StoreResult<()>;

    /// Approximate counts (exact for the embedded adapter).
    async fn depth(&self) -> StoreResult<QueueDepth>;

    /// Looks at up to `max` dead letters without removing them.
    async fn list_dead_letters(&self, max: usize) -> StoreResult<Vec<ReceivedMessage>>;

    /// Moves up to `max` dead letters back to the queue with a fresh receive
    /// count; returns how many moved.
    async fn replay_dead_letters(&self, max: usize) -> StoreResult<usize>;
}
