//! Adapts the import function's two kinds of event to the import use cases:
//! - an import request invoked on demand (`aws lambda invoke`), with
//!   `"action": "review"` (count and API cost, nothing written),
//!   `"action": "start"` (plan the chunks and queue them),
//!   `"action": "resume"` (take a failed or unfinished job up again: its
//!   unfinished chunks are queued again and resume after their checkpoints)
//!   or `"action": "status"` (the job, its counts over every chunk, and its
//!   chunks); the answer is JSON;
//! - an SQS batch from the chunk queue: each record is one chunk, run with
//!   `retry::run_chunk` (handed on to a fresh copy at its last receive, so
//!   that a function stopping during it does not strand the chunk). A chunk that must wait (API budget spent, 429, or
//!   leased to a worker that may have died, until the lease ends) stays on
//!   the queue with its visibility set to the delay and is reported as a
//!   partial batch failure, so that Lambda does not delete it; a chunk that
//!   failed for good is recorded on its job, with the reason, by the use
//!   case and acknowledged.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use crm_sync_app::App;
use crm_sync_app::retry::{Settlement, run_chunk};
use crm_sync_app::{ImportRequest, import_resume, import_review, import_start, import_status};
use crm_sync_lambda::sqs::{batch_response, read_batch};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;

/// An on-demand invocation of the import function.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ImportInvocation {
    /// Count and cost, nothing written.
    Review(ImportRequest),
    /// Plan the chunks and queue them.
    Start(ImportRequest),
    /// Take a failed or unfinished job up again.
    Resume {
        /// The job id `start` returned.
        job_id: String,
    },
    /// Progress of a job: the job and its chunks.
    Status {
        /// The job id `start` returned.
        job_id: String,
    },
}

/// The import function's event: told apart by the SQS `Records` array.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ImportEvent {
    /// Chunk work from the chunk queue.
    Chunks(SqsEvent),
    /// A request to review or start an import.
    Request(ImportInvocation),
}

/// Handles either kind of event; the answer is JSON.
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    match serde_json::from_value::<ImportEvent>(event.payload)? {
        ImportEvent::Request(ImportInvocation::Review(request)) => {
            Ok(serde_json::to_value(import_review(app, &request).await?)?)
        }
        ImportEvent::Request(ImportInvocation::Start(request)) => {
            let job = import_start(app, &request).await?;
            tracing::info!(job_id = %job.id, chunks = job.chunks_total, "ImportStarted");
            Ok(serde_json::to_value(job)?)
        }
        ImportEvent::Request(ImportInvocation::Resume { job_id }) => {
            let (job, unfinished) = import_resume(app, &job_id).await?;
            let chunks: Vec<u32> = unfinished.iter().map(|c| c.index).collect();
            Ok(serde_json::json!({ "job": job, "queued_chunks": chunks }))
        }
        ImportEvent::Request(ImportInvocation::Status { job_id }) => {
            let (job, chunks) = import_status(app, &job_id).await?;
            Ok(serde_json::json!({ "job": job, "chunks": chunks }))
        }
        ImportEvent::Chunks(sqs) => Ok(serde_json::to_value(handle_chunks(app, &sqs).await)?),
    }
}

/// Runs each chunk of an SQS batch (the template sends one at a time).
pub async fn handle_chunks(app: &App, event: &SqsEvent) -> SqsBatchResponse {
    let batch = read_batch(event);
    let mut failed = batch.unreadable;
    for message in &batch.messages {
        let (result, settlement) = run_chunk(app, message).await;
        match result {
            Ok(report) => {
                tracing::info!(job_id = %report.job_id, index = report.index, records = report.records, "ImportChunkDone");
            }
            Err(error) => tracing::warn!(message_id = %message.id, error = %error, "ImportChunkNotDone"),
        }
        // Kept: reported as a batch item failure, so that SQS keeps it (its
        // visibility was set to the retry delay).
        if settlement == Settlement::Keep {
            failed.push(message.id.clone());
        }
    }
    batch_response(failed)
}
