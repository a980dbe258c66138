//! The import-jobs capability: a job, its chunks, and the lease on each chunk.
//!
//! An import is planned once (one job, its chunks `Pending`) and then worked
//! chunk by chunk by whichever workers pick the chunk messages up. The store
//! is what keeps that safe when workers crash or messages arrive twice:
//!
//! - **Creation is all or nothing** and fails with `ConditionFailed` if the
//!   job id exists, so a retried plan does not duplicate chunks.
//! - **A chunk is worked under a lease.** [`ImportJobStore::claim_chunk`]
//!   makes it `Running` for one owner until the lease ends; nobody else can
//!   claim it before then. A worker that dies leaves the lease to run out, and
//!   the next claim takes the chunk over (its attempts count up).
//! - **Only the lease holder writes.** Checkpoints, completion and failure are
//!   accepted only from the chunk's current owner while it is `Running`;
//!   anyone else gets `ConditionFailed`, so a worker that lost its lease (it
//!   was slow, not dead) cannot overwrite the new owner's progress.
//! - **Completion is counted once.** Completing a chunk adds its counts to
//!   the job in the same step; the job turns `Completed` with its last chunk.
//! - **A chunk that fails for good fails its job**, with the reason, in the
//!   same step; [`ImportJobStore::resume_import_job`] takes the job up again
//!   and hands back the chunks still to run.
//! - **A lease can be given back.** A worker that must stop for a while (a
//!   retry later, a spent budget) releases its chunk, keeping its checkpoint,
//!   so that the next delivery of the chunk claims it at once.

use std::time::Duration;

use async_trait::async_trait;

use super::types::{ChunkCounts, ImportChunk, ImportJob, JobStatus, NewChunk, StoreResult};

/// Import jobs and their chunks.
#[async_trait]
pub trait ImportJobStore: Send + Sync {
    /// Creates a job (status `Planned`) and its chunks (`Pending`); fails with
    /// `ConditionFailed` if the id exists.
    async fn create_import_job(
        &self,
        id: &str,
        spec: &serde_json::Value,
        chunks: &[NewChunk],
    ) -> StoreResult<ImportJob>;

    /// The job with this id, if any.
    async fn get_import_job(&self, id: &str) -> StoreResult<Option<ImportJob>>;

    /// All jobs, newest first.
    async fn list_import_jobs(&self) -> StoreResult<Vec<ImportJob>>;

    /// Sets the job's status (pause, resume, fail); `NotFound` without a job.
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

    /// Marks a chunk the caller holds as failed, keeping the message, and
    /// marks its job `Failed` with the same message as its error, in one
    /// step. `ConditionFailed` if the caller lost the lease.
    async fn fail_chunk(&self, job_id: &str, index: u32, owner: &str, message: &str) -> StoreResult<()>;

    /// Ends the caller's lease on a chunk now, keeping its checkpoint and
    /// counts: the chunk stays `Running` and the next claim takes it over at
    /// once. `ConditionFailed` if the caller does not hold it.
    async fn release_chunk(&self, job_id: &str, index: u32, owner: &str) -> StoreResult<()>;

    /// Takes a job up again: a `Failed`, `Paused` or `Running` job becomes
    /// `Running` with its error cleared, its failed chunks become `Pending`
    /// (checkpoint and counts kept); a `Completed` job is left as it is.
    /// Returns the chunks not done, in index order (for their messages to be
    /// sent again). `NotFound` without a job.
    async fn resume_import_job(&self, id: &str) -> StoreResult<Vec<ImportChunk>>;
}
