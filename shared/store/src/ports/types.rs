//! The plain types that cross the state-store ports: links, claims, cursors,
//! import jobs and chunks, sync-health entries.
//!
//! They are data only (serde, no behaviour beyond small helpers), shared by
//! every capability trait and every adapter. Enums that are stored as text
//! (`JobStatus`, `ChunkStatus`) have `as_str`/`parse` pairs whose strings are
//! part of the stored format: SQLite rows and DynamoDB items hold them, so
//! they must never change.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The domain's identifiers, re-exported so that `crm_sync_store::System` and
/// `crm_sync_store::ObjectPair` name the same types as `crm_sync_domain`'s:
/// there is one `System` and one `ObjectPair` in the workspace.
pub use crm_sync_domain::model::{ObjectPair, System};

use crate::error::StoreError;

/// Result of every port call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The link between one Salesforce record and one HubSpot record.
///
/// Within a pair, a Salesforce id and a HubSpot id each belong to at most one
/// link. `fingerprints` maps each mapped field name to the fingerprint of the
/// value last synced, which is how echoes are recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The pair the link belongs to; links of different pairs never collide.
    pub pair: ObjectPair,
    /// `Lead`, `Contact`, `Account` or `Opportunity`.
    pub salesforce_object: String,
    /// The Salesforce record id (18 characters, as the sync stores it).
    pub salesforce_id: String,
    /// The HubSpot record id.
    pub hubspot_id: String,
    /// Field name -> fingerprint of the value last synced, on either side.
    pub fingerprints: BTreeMap<String, String>,
    /// Version for optimistic concurrency: 1 after creation, +1 per update.
    /// Ignored on write (the store sets it); read it back from `get_*`.
    pub version: u64,
    /// When the store last wrote the link (its clock; ignored on write).
    pub updated_at: DateTime<Utc>,
}

/// What the sync writes just before creating a record from `source_id`
/// (on `source`): the link it will store once the create answers, with the
/// source's id and `target_key`, the key the create is made by (an email, or
/// the source id carried by the new record). See the links capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreationNote {
    pub pair: ObjectPair,
    /// The side of the record the new one is created from.
    pub source: System,
    pub source_id: String,
    /// The key the new record is created by, as sent.
    pub target_key: String,
    /// The fingerprints of the link to be stored (as in [`Link`]).
    pub fingerprints: BTreeMap<String, String>,
    /// When the store wrote the note (its clock; ignored on write).
    pub written_at: DateTime<Utc>,
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
    /// The link as it should be stored (its `version` is ignored).
    pub link: Link,
    /// What must hold for the write to happen.
    pub condition: LinkCondition,
}

/// A page of links, for listing a whole pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkPage {
    /// At most the `limit` asked for.
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
    /// The CRM swept.
    pub system: System,
    /// CRM object name (`Lead`, `contacts`, ...).
    pub object: String,
    /// The next listing starts here (exactly as stored, to the nanosecond).
    pub position: DateTime<Utc>,
    /// When the cursor last moved (store clock).
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
    /// Created with its chunks; no chunk claimed yet.
    Planned,
    /// At least one chunk has been claimed.
    Running,
    /// Stopped by an operator or by the API budget; chunks are not claimed.
    Paused,
    /// Every chunk is done.
    Completed,
    /// Given up: a chunk failed for good (the reason is in
    /// [`ImportJob::error`]); `resume` takes it up again.
    Failed,
}

impl JobStatus {
    /// The stored name; never change it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Planned => "planned",
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    /// Parses the name written by [`JobStatus::as_str`].
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
    /// Not claimed yet.
    Pending,
    /// Claimed by a worker whose lease has not ended.
    Running,
    /// Completed with its final counts (added to the job once).
    Done,
    /// Failed by its worker, with the message kept in `error`.
    Failed,
}

impl ChunkStatus {
    /// The stored name; never change it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkStatus::Pending => "pending",
            ChunkStatus::Running => "running",
            ChunkStatus::Done => "done",
            ChunkStatus::Failed => "failed",
        }
    }

    /// Parses the name written by [`ChunkStatus::as_str`].
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
    /// Records written to the other CRM, or handed to the sync when they
    /// were already linked.
    pub queued: u64,
    /// Records that could not be written (recorded in sync health).
    pub failed: u64,
    /// Records read that need no write (e.g. a converted lead, a record the
    /// mapping leaves nothing to create from).
    #[serde(default)]
    pub skipped: u64,
}

impl ChunkCounts {
    /// Adds `other`, field by field.
    pub fn add(&mut self, other: ChunkCounts) {
        self.read += other.read;
        self.queued += other.queued;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// An import job. `spec` is the use case's own description of the import
/// (objects, filters, estimate), stored as JSON and returned untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    /// The caller's id for the job (unique; creating it twice fails).
    pub id: String,
    pub status: JobStatus,
    pub spec: serde_json::Value,
    /// Chunks planned at creation; never changes.
    pub chunks_total: u32,
    /// Chunks marked done.
    pub chunks_done: u32,
    /// Sum of the counts of done chunks.
    pub counts: ChunkCounts,
    /// Why the job failed: the reason of the chunk that failed for good.
    /// Cleared when the job is resumed.
    #[serde(default)]
    pub error: Option<String>,
    /// Store clock at creation; jobs list newest first by it.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One chunk of an import job; `spec` holds its range (object, id/date range,
/// record estimate) as the planner wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportChunk {
    pub job_id: String,
    /// Position in the job, from 0; chunks list in this order.
    pub index: u32,
    pub spec: serde_json::Value,
    pub status: ChunkStatus,
    /// Worker holding the lease while `Running`.
    pub owner: Option<String>,
    /// End of the owner's lease (store clock); after it, anyone may take the
    /// chunk over. `None` once the chunk is done or failed.
    pub lease_until: Option<DateTime<Utc>>,
    /// Resume point written by the worker (e.g. a Bulk API locator).
    pub checkpoint: Option<String>,
    /// Counts so far (final once `Done`).
    pub counts: ChunkCounts,
    /// How many times the chunk was claimed.
    pub attempts: u32,
    /// The worker's message when `Failed`.
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A new chunk, as the planner produces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewChunk {
    /// Position in the job; unique within it.
    pub index: u32,
    /// The chunk's range, stored as JSON and returned untouched.
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
    /// The Salesforce side of the record, if known.
    pub salesforce_id: Option<String>,
    /// The HubSpot side of the record, if known.
    pub hubspot_id: Option<String>,
    /// The CRM's own message.
    pub message: String,
    /// Whether a later attempt may succeed without anyone fixing data.
    pub retryable: bool,
}

/// A sync-health entry: the last report for a key, plus its history counters.
///
/// Fields as in [`ErrorReport`] (the latest one), plus the history below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncHealthError {
    pub key: String,
    pub category: String,
    pub pair: ObjectPair,
    pub salesforce_id: Option<String>,
    pub hubspot_id: Option<String>,
    pub message: String,
    /// Reports recorded for this key since it was last resolved.
    pub attempts: u32,
    /// Store clock at the first of those reports.
    pub first_seen: DateTime<Utc>,
    /// Store clock at the latest; the listing order.
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
