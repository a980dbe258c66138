//! Import jobs and chunks on SQLite: tables `import_jobs` and
//! `import_chunks` (primary key `(job_id, idx)`).
//!
//! Every chunk transition is one `UPDATE` whose `WHERE` clause is the lease
//! rule (pending, or running with an ended lease or the same owner, to claim;
//! running and held by the caller, to checkpoint, complete or fail). Steps
//! that change the chunk and the job together (claim starts the job,
//! completion adds the counts) run in one transaction.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, db_err, from_millis, millis, to_i64, to_u64};
use crate::clock;
use crate::error::StoreError;
use crate::ports::{
    ChunkCounts, ChunkStatus, ImportChunk, ImportJob, ImportJobStore, JobStatus, NewChunk, StoreResult,
};

/// A job from a row of [`JOB_COLUMNS`], its spec still as JSON text (see
/// [`finish_job`]).
fn job_from_row(row: &Row<'_>) -> rusqlite::Result<(ImportJob, String)> {
    let status: String = row.get(1)?;
    Ok((
        ImportJob {
            id: row.get(0)?,
            status: JobStatus::parse(&status).unwrap_or(JobStatus::Failed),
            spec: serde_json::Value::Null,
            chunks_total: row.get(3)?,
            chunks_done: row.get(4)?,
            counts: counts_at(row, 5, 10)?,
            error: row.get(11)?,
            created_at: from_millis(row.get(8)?),
            updated_at: from_millis(row.get(9)?),
        },
        row.get(2)?,
    ))
}

/// The counts of a job or chunk row: `read`, `queued` and `failed` from
/// `first` on, `skipped` at its own column.
fn counts_at(row: &Row<'_>, first: usize, skipped: usize) -> rusqlite::Result<ChunkCounts> {
    Ok(ChunkCounts {
        read: to_u64(row.get(first)?),
        queued: to_u64(row.get(first + 1)?),
        failed: to_u64(row.get(first + 2)?),
        skipped: to_u64(row.get(skipped)?),
    })
}

/// Decodes the spec read by [`job_from_row`].
fn finish_job((mut job, spec): (ImportJob, String)) -> Result<ImportJob, StoreError> {
    job.spec = serde_json::from_str(&spec).map_err(|e| StoreError::corrupt(format!("spec of job {}", job.id), e))?;
    Ok(job)
}

/// The `import_jobs` columns, in the order [`job_from_row`] reads them.
const JOB_COLUMNS: &str =
    "id, status, spec, chunks_total, chunks_done, read, queued, failed, created_at, updated_at, skipped, error";

/// The job with this id, read on `conn` (inside the caller's transaction
/// when it has one, so the job returned is the one just written).
fn load_job(conn: &Connection, id: &str) -> Result<Option<ImportJob>, StoreError> {
    conn.query_row(&format!("SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = ?1"), [id], job_from_row)
        .optional()
        .map_err(db_err("get import job"))?
        .map(finish_job)
        .transpose()
}

/// A chunk from a row of [`CHUNK_COLUMNS`], its spec still as JSON text
/// (see [`finish_chunk`]).
fn chunk_from_row(row: &Row<'_>) -> rusqlite::Result<(ImportChunk, String)> {
    let status: String = row.get(3)?;
    let lease: Option<i64> = row.get(5)?;
    Ok((
        ImportChunk {
            job_id: row.get(0)?,
            index: row.get(1)?,
            spec: serde_json::Value::Null,
            status: ChunkStatus::parse(&status).unwrap_or(ChunkStatus::Failed),
            owner: row.get(4)?,
            lease_until: lease.map(from_millis),
            checkpoint: row.get(6)?,
            counts: counts_at(row, 7, 13)?,
            attempts: row.get(10)?,
            error: row.get(11)?,
            updated_at: from_millis(row.get(12)?),
        },
        row.get(2)?,
    ))
}

/// Decodes the spec read by [`chunk_from_row`].
fn finish_chunk((mut chunk, spec): (ImportChunk, String)) -> Result<ImportChunk, StoreError> {
    chunk.spec = serde_json::from_str(&spec)
        .map_err(|e| StoreError::corrupt(format!("spec of chunk {}/{}", chunk.job_id, chunk.index), e))?;
    Ok(chunk)
}

/// The `import_chunks` columns, in the order [`chunk_from_row`] reads them.
const CHUNK_COLUMNS: &str = "job_id, idx, spec, status, owner, lease_until, checkpoint, read, queued, failed, attempts, error, updated_at, skipped";

/// One chunk, read on `conn` (inside the caller's transaction if any).
fn load_chunk(conn: &Connection, job_id: &str, index: u32) -> Result<Option<ImportChunk>, StoreError> {
    conn.query_row(
        &format!("SELECT {CHUNK_COLUMNS} FROM import_chunks WHERE job_id = ?1 AND idx = ?2"),
        params![job_id, index],
        chunk_from_row,
    )
    .optional()
    .map_err(db_err("get chunk"))?
    .map(finish_chunk)
    .transpose()
}

#[async_trait]
impl ImportJobStore for SqliteStore {
    async fn create_import_job(
        &self,
        id: &str,
        spec: &serde_json::Value,
        chunks: &[NewChunk],
    ) -> StoreResult<ImportJob> {
        let id = id.to_owned();
        let spec = spec.to_string();
        let chunks = chunks.to_vec();
        self.run("create import job", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let total = u32::try_from(chunks.len()).map_err(|_| StoreError::Invalid("too many chunks".into()))?;
            let n = tx
                .execute(
                    "INSERT INTO import_jobs (id, status, spec, chunks_total, chunks_done, read, queued, failed, created_at, updated_at)
                     VALUES (?1, 'planned', ?2, ?3, 0, 0, 0, 0, ?4, ?4) ON CONFLICT DO NOTHING",
                    params![id, spec, total, millis(now)],
                )
                .map_err(db_err("create import job"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("import job {id} exists")));
            }
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO import_chunks (job_id, idx, spec, status, read, queued, failed, attempts, updated_at)
                         VALUES (?1, ?2, ?3, 'pending', 0, 0, 0, 0, ?4)",
                    )
                    .map_err(db_err("create chunks"))?;
                for chunk in &chunks {
                    stmt.execute(params![id, chunk.index, chunk.spec.to_string(), millis(now)])
                        .map_err(db_err("create chunks"))?;
                }
            }
            let job = load_job(&tx, &id)?.ok_or_else(|| StoreError::not_found(format!("import job {id}")))?;
            tx.commit().map_err(db_err("commit import job"))?;
            Ok(job)
        })
        .await
    }

    async fn get_import_job(&self, id: &str) -> StoreResult<Option<ImportJob>> {
        let id = id.to_owned();
        self.run("get import job", move |c, _| load_job(c, &id)).await
    }

    async fn list_import_jobs(&self) -> StoreResult<Vec<ImportJob>> {
        self.run("list import jobs", move |c, _| {
            let mut stmt = c
                .prepare(&format!("SELECT {JOB_COLUMNS} FROM import_jobs ORDER BY created_at DESC, id DESC"))
                .map_err(db_err("list import jobs"))?;
            let rows = stmt.query_map([], job_from_row).map_err(db_err("list import jobs"))?;
            let mut jobs = Vec::new();
            for row in rows {
                jobs.push(finish_job(row.map_err(db_err("list import jobs"))?)?);
            }
            Ok(jobs)
        })
        .await
    }

    async fn set_import_job_status(&self, id: &str, status: JobStatus) -> StoreResult<()> {
        let id = id.to_owned();
        self.run("set import job status", move |c, now| {
            let n = c
                .execute(
                    "UPDATE import_jobs SET status = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, status.as_str(), millis(now)],
                )
                .map_err(db_err("set import job status"))?;
            if n == 0 {
                return Err(StoreError::not_found(format!("import job {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<ImportChunk>> {
        let job_id = job_id.to_owned();
        self.run("list chunks", move |c, _| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {CHUNK_COLUMNS} FROM import_chunks WHERE job_id = ?1 ORDER BY idx"))
                .map_err(db_err("list chunks"))?;
            let rows = stmt.query_map([&job_id], chunk_from_row).map_err(db_err("list chunks"))?;
            let mut chunks = Vec::new();
            for row in rows {
                chunks.push(finish_chunk(row.map_err(db_err("list chunks"))?)?);
            }
            Ok(chunks)
        })
        .await
    }

    async fn claim_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<ImportChunk>> {
        let (job_id, owner) = (job_id.to_owned(), owner.to_owned());
        self.run("claim chunk", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let n = tx
                .execute(
                    "UPDATE import_chunks SET status = 'running', owner = ?3, lease_until = ?4,
                         attempts = attempts + 1, updated_at = ?5
                     WHERE job_id = ?1 AND idx = ?2
                       AND (status = 'pending' OR (status = 'running' AND (lease_until <= ?5 OR owner = ?3)))",
                    params![job_id, index, owner, millis(clock::add(now, lease)), millis(now)],
                )
                .map_err(db_err("claim chunk"))?;
            if n == 0 {
                return Ok(None);
            }
            tx.execute(
                "UPDATE import_jobs SET status = 'running', updated_at = ?2 WHERE id = ?1 AND status = 'planned'",
                params![job_id, millis(now)],
            )
            .map_err(db_err("claim chunk"))?;
            let chunk = load_chunk(&tx, &job_id, index)?;
            tx.commit().map_err(db_err("commit chunk claim"))?;
            Ok(chunk)
        })
        .await
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
        let (job_id, owner, checkpoint) = (job_id.to_owned(), owner.to_owned(), checkpoint.to_owned());
        self.run("checkpoint chunk", move |c, now| {
            let n = c
                .execute(
                    "UPDATE import_chunks SET checkpoint = ?4, read = ?5, queued = ?6, failed = ?7,
                         lease_until = ?8, updated_at = ?9, skipped = ?10
                     WHERE job_id = ?1 AND idx = ?2 AND status = 'running' AND owner = ?3",
                    params![
                        job_id,
                        index,
                        owner,
                        checkpoint,
                        to_i64(counts.read),
                        to_i64(counts.queued),
                        to_i64(counts.failed),
                        millis(clock::add(now, lease)),
                        millis(now),
                        to_i64(counts.skipped)
                    ],
                )
                .map_err(db_err("checkpoint chunk"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")));
            }
            Ok(())
        })
        .await
    }

    async fn complete_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        counts: ChunkCounts,
    ) -> StoreResult<ImportJob> {
        let (job_id, owner) = (job_id.to_owned(), owner.to_owned());
        self.run("complete chunk", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let n = tx
                .execute(
                    "UPDATE import_chunks SET status = 'done', read = ?4, queued = ?5, failed = ?6,
                         lease_until = NULL, updated_at = ?7, skipped = ?8
                     WHERE job_id = ?1 AND idx = ?2 AND status = 'running' AND owner = ?3",
                    params![
                        job_id,
                        index,
                        owner,
                        to_i64(counts.read),
                        to_i64(counts.queued),
                        to_i64(counts.failed),
                        millis(now),
                        to_i64(counts.skipped)
                    ],
                )
                .map_err(db_err("complete chunk"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")));
            }
            tx.execute(
                "UPDATE import_jobs SET chunks_done = chunks_done + 1, read = read + ?2, queued = queued + ?3,
                     failed = failed + ?4, skipped = skipped + ?6, updated_at = ?5,
                     status = CASE WHEN chunks_done + 1 >= chunks_total THEN 'completed' ELSE status END
                 WHERE id = ?1",
                params![
                    job_id,
                    to_i64(counts.read),
                    to_i64(counts.queued),
                    to_i64(counts.failed),
                    millis(now),
                    to_i64(counts.skipped)
                ],
            )
            .map_err(db_err("complete chunk"))?;
            let job = load_job(&tx, &job_id)?.ok_or_else(|| StoreError::not_found(format!("import job {job_id}")))?;
            tx.commit().map_err(db_err("commit chunk"))?;
            Ok(job)
        })
        .await
    }

    async fn fail_chunk(&self, job_id: &str, index: u32, owner: &str, message: &str) -> StoreResult<()> {
        let (job_id, owner, message) = (job_id.to_owned(), owner.to_owned(), message.to_owned());
        self.run("fail chunk", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let n = tx
                .execute(
                    "UPDATE import_chunks SET status = 'failed', error = ?4, lease_until = NULL, updated_at = ?5
                     WHERE job_id = ?1 AND idx = ?2 AND status = 'running' AND owner = ?3",
                    params![job_id, index, owner, message, millis(now)],
                )
                .map_err(db_err("fail chunk"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")));
            }
            tx.execute(
                "UPDATE import_jobs SET status = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
                params![job_id, message, millis(now)],
            )
            .map_err(db_err("fail import job"))?;
            tx.commit().map_err(db_err("commit chunk failure"))?;
            Ok(())
        })
        .await
    }

    async fn release_chunk(&self, job_id: &str, index: u32, owner: &str) -> StoreResult<()> {
        let (job_id, owner) = (job_id.to_owned(), owner.to_owned());
        self.run("release chunk", move |c, now| {
            let n = c
                .execute(
                    "UPDATE import_chunks SET lease_until = ?4, updated_at = ?4
                     WHERE job_id = ?1 AND idx = ?2 AND status = 'running' AND owner = ?3",
                    params![job_id, index, owner, millis(now)],
                )
                .map_err(db_err("release chunk"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")));
            }
            Ok(())
        })
        .await
    }

    async fn resume_import_job(&self, id: &str) -> StoreResult<Vec<ImportChunk>> {
        let id = id.to_owned();
        self.run("resume import job", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let job = load_job(&tx, &id)?.ok_or_else(|| StoreError::not_found(format!("import job {id}")))?;
            if job.status == JobStatus::Completed {
                return Ok(Vec::new());
            }
            tx.execute(
                "UPDATE import_jobs SET status = 'running', error = NULL, updated_at = ?2 WHERE id = ?1",
                params![id, millis(now)],
            )
            .map_err(db_err("resume import job"))?;
            tx.execute(
                "UPDATE import_chunks SET status = 'pending', error = NULL, owner = NULL, updated_at = ?2
                 WHERE job_id = ?1 AND status = 'failed'",
                params![id, millis(now)],
            )
            .map_err(db_err("resume import job"))?;
            let chunks = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT {CHUNK_COLUMNS} FROM import_chunks WHERE job_id = ?1 AND status != 'done' ORDER BY idx"
                    ))
                    .map_err(db_err("resume import job"))?;
                let rows = stmt.query_map([&id], chunk_from_row).map_err(db_err("resume import job"))?;
                let mut chunks = Vec::new();
                for row in rows {
                    chunks.push(finish_chunk(row.map_err(db_err("resume import job"))?)?);
                }
                chunks
            };
            tx.commit().map_err(db_err("commit import job resume"))?;
            Ok(chunks)
        })
        .await
    }
}
