//! Import jobs and chunks on DynamoDB: one partition per job,
//! `IMPORT#<job id>`, holding the job (sort key `JOB`) and its chunks
//! (`CHUNK#<index, 10 digits>`); jobs are also in the sparse index `gsi1`
//! (`IMPORT_JOBS`, by creation time) for listing.
//!
//! Creation is one transaction of the job and all its chunks, each
//! `attribute_not_exists(pk)`: hence at most [`MAX_CHUNKS_PER_JOB`] chunks.
//! Chunk transitions are single conditional `UpdateItem`s carrying the lease
//! rule; completion is a transaction of the chunk (held by the caller) and
//! the job's counters (`ADD`), then an idempotent update that marks the job
//! completed once `chunks_done >= chunks_total`. Failing a chunk is a
//! transaction of the chunk (held by the caller) and the job (`failed`, with
//! the reason). Resuming a job updates the job, then each failed chunk
//! (conditional on still being failed), and lists the chunks not done.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use crm_sync_store::clock;
use crm_sync_store::*;

use super::DynamoStore;
use super::item::*;
use super::{GSI1, MAX_CHUNKS_PER_JOB};

/// Partition of the GSI holding every import job, newest last.
const JOBS_PARTITION: &str = "IMPORT_JOBS";

/// The partition of a job and its chunks.
fn job_pk(id: &str) -> String {
    format!("IMPORT#{id}")
}

/// The sort key of a chunk, zero-padded so chunks list in index order.
fn chunk_sk(index: u32) -> String {
    format!("CHUNK#{index:010}")
}

/// The record counts of a job or chunk item.
fn counts_of(item: &Item) -> Result<ChunkCounts, StoreError> {
    Ok(ChunkCounts {
        read: get_u64(item, "read")?,
        queued: get_u64(item, "queued")?,
        failed: get_u64(item, "failed")?,
        skipped: get_u64(item, "skipped")?,
    })
}

/// An import job read back from its item.
fn job_from_item(item: &Item) -> Result<ImportJob, StoreError> {
    let status = get_s(item, "status")?;
    Ok(ImportJob {
        id: get_s(item, "job_id")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt { what: format!("job status {status}"), source: None })?,
        spec: get_json(item, "spec")?,
        chunks_total: get_u32(item, "chunks_total")?,
        chunks_done: get_u32(item, "chunks_done")?,
        counts: counts_of(item)?,
        error: get_opt_s(item, "error"),
        created_at: from_millis(get_n(item, "created_at")?),
        updated_at: from_millis(get_n(item, "updated_at")?),
    })
}

/// An import chunk read back from its item.
fn chunk_from_item(item: &Item) -> Result<ImportChunk, StoreError> {
    let status = get_s(item, "status")?;
    Ok(ImportChunk {
        job_id: get_s(item, "job_id")?,
        index: get_u32(item, "chunk_index")?,
        spec: get_json(item, "spec")?,
        status: ChunkStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt { what: format!("chunk status {status}"), source: None })?,
        owner: get_opt_s(item, "owner"),
        lease_until: match item.get("lease_until") {
            Some(AttributeValue::N(_)) => Some(from_millis(get_n(item, "lease_until")?)),
            _ => None,
        },
        checkpoint: get_opt_s(item, "checkpoint"),
        counts: counts_of(item)?,
        attempts: get_u32(item, "attempts")?,
        error: get_opt_s(item, "error"),
        updated_at: from_millis(get_n(item, "updated_at")?),
    })
}

#[async_trait]
impl ImportJobStore for DynamoStore {
    /// One `TransactWriteItems` of the job and every chunk, each conditional
    /// on its key being free: all or nothing, and a retried plan with the same
    /// id fails whole. DynamoDB caps a transaction at 100 items, hence
    /// [`MAX_CHUNKS_PER_JOB`]; more chunks are refused before any call.
    async fn create_import_job(
        &self,
        id: &str,
        spec: &serde_json::Value,
        chunks: &[NewChunk],
    ) -> StoreResult<ImportJob> {
        if chunks.len() > MAX_CHUNKS_PER_JOB {
            return Err(StoreError::Invalid(format!(
                "an import job has at most {MAX_CHUNKS_PER_JOB} chunks, not {}",
                chunks.len()
            )));
        }
        let now = self.clock.now();
        let job = ImportJob {
            id: id.to_owned(),
            status: JobStatus::Planned,
            spec: spec.clone(),
            chunks_total: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
            chunks_done: 0,
            counts: ChunkCounts::default(),
            error: None,
            created_at: from_millis(millis(now)),
            updated_at: from_millis(millis(now)),
        };
        let mut job_item = key(job_pk(id), "JOB");
        job_item.extend([
            ("job_id".to_owned(), s(id)),
            ("status".to_owned(), s(job.status.as_str())),
            ("spec".to_owned(), s(spec.to_string())),
            ("chunks_total".to_owned(), n(job.chunks_total)),
            ("chunks_done".to_owned(), n(0)),
            ("read".to_owned(), n(0)),
            ("queued".to_owned(), n(0)),
            ("failed".to_owned(), n(0)),
            ("skipped".to_owned(), n(0)),
            ("created_at".to_owned(), n(millis(now))),
            ("updated_at".to_owned(), n(millis(now))),
            ("gsi1pk".to_owned(), s(JOBS_PARTITION)),
            ("gsi1sk".to_owned(), s(format!("{}#{id}", padded(millis(now))))),
        ]);
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.tables.state)
                        .set_item(Some(job_item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(build_err("create import job"))?,
                )
                .build(),
        ];
        for chunk in chunks {
            let mut item = key(job_pk(id), chunk_sk(chunk.index));
            item.extend([
                ("job_id".to_owned(), s(id)),
                ("chunk_index".to_owned(), n(chunk.index)),
                ("spec".to_owned(), s(chunk.spec.to_string())),
                ("status".to_owned(), s(ChunkStatus::Pending.as_str())),
                ("read".to_owned(), n(0)),
                ("queued".to_owned(), n(0)),
                ("failed".to_owned(), n(0)),
                ("skipped".to_owned(), n(0)),
                ("attempts".to_owned(), n(0)),
                ("updated_at".to_owned(), n(millis(now))),
            ]);
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.tables.state)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_err("create import job"))?,
                    )
                    .build(),
            );
        }
        self.transact("create import job", items, format!("import job {id} exists")).await?;
        Ok(job)
    }

    async fn get_import_job(&self, id: &str) -> StoreResult<Option<ImportJob>> {
        self.get_item("get import job", key(job_pk(id), "JOB")).await?.as_ref().map(job_from_item).transpose()
    }

    /// Queries `gsi1` (`IMPORT_JOBS`) newest first. Index reads are eventually
    /// consistent: a job created a moment ago may be missing from the list,
    /// never from [`ImportJobStore::get_import_job`].
    async fn list_import_jobs(&self) -> StoreResult<Vec<ImportJob>> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.tables.state)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(JOBS_PARTITION))
            .scan_index_forward(false)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("list import jobs"))?;
        items.iter().map(job_from_item).collect()
    }

    async fn set_import_job_status(&self, id: &str, status: JobStatus) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(id), "JOB")))
            .update_expression("SET #status = :s, updated_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":s", s(status.as_str()))
            .expression_attribute_values(":now", n(millis(self.clock.now())))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::not_found(format!("import job {id}"))),
            Err(e) => Err(StoreError::backend(BACKEND, "set import job status", e)),
        }
    }

    /// One strongly consistent `Query` of the job's partition for `CHUNK#`
    /// sort keys, which come back in index order.
    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<ImportChunk>> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.tables.state)
            .key_condition_expression("pk = :pk AND begins_with(sk, :chunk)")
            .expression_attribute_values(":pk", s(job_pk(job_id)))
            .expression_attribute_values(":chunk", s("CHUNK#"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("list chunks"))?;
        items.iter().map(chunk_from_item).collect()
    }

    /// The conditional chunk update, then (if the job is still `planned`)
    /// a second conditional update starting the job; losing that second race
    /// is fine, someone else started it.
    async fn claim_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<ImportChunk>> {
        let now = self.clock.now();
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression(
                "SET #status = :running, #owner = :owner, lease_until = :lease, updated_at = :now ADD attempts :one",
            )
            .condition_expression(
                "#status = :pending OR (#status = :running AND (lease_until <= :now OR #owner = :owner))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":pending", s(ChunkStatus::Pending.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":lease", n(millis(clock::add(now, lease))))
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let chunk = match result {
            Ok(out) => match out.attributes {
                Some(item) => chunk_from_item(&item)?,
                None => return Err(StoreError::not_found(format!("chunk {job_id}/{index}"))),
            },
            Err(e) if is_condition_failed(&e) => return Ok(None),
            Err(e) => return Err(StoreError::backend(BACKEND, "claim chunk", e)),
        };
        // The first claimed chunk starts the job; later claims find it running.
        let started = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), "JOB")))
            .update_expression("SET #status = :running, updated_at = :now")
            .condition_expression("#status = :planned")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":planned", s(JobStatus::Planned.as_str()))
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        match started {
            Ok(_) => {}
            Err(e) if is_condition_failed(&e) => {}
            Err(e) => return Err(StoreError::backend(BACKEND, "start import job", e)),
        }
        Ok(Some(chunk))
    }

    /// One `UpdateItem` conditional on the chunk being `running` and held by
    /// `owner`; it also moves the lease forward, so a worker that keeps
    /// checkpointing keeps its chunk.
    async fn checkpoint_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        checkpoint: &str,
        counts: ChunkCounts,
        lease: Duration,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression(
                "SET checkpoint = :cp, #read = :read, queued = :queued, failed = :failed, skipped = :skipped, lease_until = :lease, updated_at = :now",
            )
            .condition_expression("#status = :running AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":cp", s(checkpoint))
            .expression_attribute_values(":read", n(counts.read))
            .expression_attribute_values(":queued", n(counts.queued))
            .expression_attribute_values(":failed", n(counts.failed))
            .expression_attribute_values(":skipped", n(counts.skipped))
            .expression_attribute_values(":lease", n(millis(clock::add(now, lease))))
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")))
            }
            Err(e) => Err(StoreError::backend(BACKEND, "checkpoint chunk", e)),
        }
    }

    /// One transaction (chunk done, held by `owner`; job counters added), then
    /// an idempotent update marking the job `completed` once every chunk is
    /// done; whichever worker finishes last does it.
    async fn complete_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        counts: ChunkCounts,
    ) -> StoreResult<ImportJob> {
        let now = self.clock.now();
        let chunk = Update::builder()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression(
                "SET #status = :done, #read = :read, queued = :queued, failed = :failed, skipped = :skipped, updated_at = :now REMOVE lease_until",
            )
            .condition_expression("#status = :running AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":done", s(ChunkStatus::Done.as_str()))
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":read", n(counts.read))
            .expression_attribute_values(":queued", n(counts.queued))
            .expression_attribute_values(":failed", n(counts.failed))
            .expression_attribute_values(":skipped", n(counts.skipped))
            .expression_attribute_values(":now", n(millis(now)))
            .build()
            .map_err(build_err("complete chunk"))?;
        let job = Update::builder()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), "JOB")))
            .update_expression(
                "SET updated_at = :now ADD chunks_done :one, #read :read, queued :queued, failed :failed, skipped :skipped",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":read", n(counts.read))
            .expression_attribute_values(":queued", n(counts.queued))
            .expression_attribute_values(":failed", n(counts.failed))
            .expression_attribute_values(":skipped", n(counts.skipped))
            .build()
            .map_err(build_err("complete chunk"))?;
        self.transact(
            "complete chunk",
            vec![TransactWriteItem::builder().update(chunk).build(), TransactWriteItem::builder().update(job).build()],
            format!("chunk {job_id}/{index} is not held by {owner}"),
        )
        .await?;
        // The last chunk completes the job (idempotent: any finisher may do it).
        let finished = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), "JOB")))
            .update_expression("SET #status = :completed")
            .condition_expression("chunks_done >= chunks_total")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(JobStatus::Completed.as_str()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match finished {
            Ok(out) => match out.attributes {
                Some(item) => job_from_item(&item),
                None => Err(StoreError::not_found(format!("import job {job_id}"))),
            },
            Err(e) if is_condition_failed(&e) => {
                self.get_import_job(job_id).await?.ok_or_else(|| StoreError::not_found(format!("import job {job_id}")))
            }
            Err(e) => Err(StoreError::backend(BACKEND, "complete import job", e)),
        }
    }

    /// One transaction: the chunk (conditional on the caller holding it)
    /// turns `failed` with the message and drops its lease; the job turns
    /// `failed` with the same message as its error.
    async fn fail_chunk(&self, job_id: &str, index: u32, owner: &str, message: &str) -> StoreResult<()> {
        let now = n(millis(self.clock.now()));
        let chunk = Update::builder()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression("SET #status = :failed, #error = :msg, updated_at = :now REMOVE lease_until")
            .condition_expression("#status = :running AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", s(ChunkStatus::Failed.as_str()))
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":msg", s(message))
            .expression_attribute_values(":now", now.clone())
            .build()
            .map_err(build_err("fail chunk"))?;
        let job = Update::builder()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), "JOB")))
            .update_expression("SET #status = :failed, #error = :msg, updated_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", s(JobStatus::Failed.as_str()))
            .expression_attribute_values(":msg", s(message))
            .expression_attribute_values(":now", now)
            .build()
            .map_err(build_err("fail chunk"))?;
        self.transact(
            "fail chunk",
            vec![TransactWriteItem::builder().update(chunk).build(), TransactWriteItem::builder().update(job).build()],
            format!("chunk {job_id}/{index} is not held by {owner}"),
        )
        .await
    }

    /// One `UpdateItem` conditional on the caller holding the chunk, setting
    /// the lease's end to now.
    async fn release_chunk(&self, job_id: &str, index: u32, owner: &str) -> StoreResult<()> {
        let now = n(millis(self.clock.now()));
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression("SET lease_until = :now, updated_at = :now")
            .condition_expression("#status = :running AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", now)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")))
            }
            Err(e) => Err(StoreError::backend(BACKEND, "release chunk", e)),
        }
    }

    /// The job turns `running` with its error removed (unless completed),
    /// then each failed chunk turns `pending` (conditional on still being
    /// failed, so a repeated resume is harmless); the chunks not done are
    /// read back with one consistent query.
    async fn resume_import_job(&self, id: &str) -> StoreResult<Vec<ImportChunk>> {
        let now = n(millis(self.clock.now()));
        let resumed = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(id), "JOB")))
            .update_expression("SET #status = :running, updated_at = :now REMOVE #error")
            .condition_expression("attribute_exists(pk) AND #status <> :completed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":completed", s(JobStatus::Completed.as_str()))
            .expression_attribute_values(":now", now.clone())
            .send()
            .await;
        match resumed {
            Ok(_) => {}
            Err(e) if is_condition_failed(&e) => {
                return match self.get_import_job(id).await? {
                    Some(_) => Ok(Vec::new()),
                    None => Err(StoreError::not_found(format!("import job {id}"))),
                };
            }
            Err(e) => return Err(StoreError::backend(BACKEND, "resume import job", e)),
        }
        for chunk in self.list_chunks(id).await?.iter().filter(|c| c.status == ChunkStatus::Failed) {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.state)
                .set_key(Some(key(job_pk(id), chunk_sk(chunk.index))))
                .update_expression("SET #status = :pending, updated_at = :now REMOVE #error, #owner")
                .condition_expression("#status = :failed")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#error", "error")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":pending", s(ChunkStatus::Pending.as_str()))
                .expression_attribute_values(":failed", s(ChunkStatus::Failed.as_str()))
                .expression_attribute_values(":now", now.clone())
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(StoreError::backend(BACKEND, "resume import chunk", e)),
            }
        }
        Ok(self.list_chunks(id).await?.into_iter().filter(|c| c.status != ChunkStatus::Done).collect())
    }
}
