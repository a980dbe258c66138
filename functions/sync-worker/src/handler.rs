//! Adapts an SQS batch of sync intents to `sync_batch` and its outcome to a
//! partial batch response (`ReportBatchItemFailures`), settling each message
//! as the local runtime does (`crm_sync_app::retry::settle`):
//! - done, failed permanently (already a sync-health entry), or re-queued as
//!   a fresh copy to wait out an API limit: not listed, so Lambda deletes it;
//! - retry after a delay: listed as failed, its visibility changed to the
//!   backoff first, so SQS redelivers it after the backoff rather than after
//!   the queue's visibility timeout; at its last receive the cause goes to
//!   sync health, and SQS moves it to the dead-letter queue
//!   (`maxReceiveCount` = `crm_sync_app::retry::MAX_RECEIVES`).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use crm_sync_app::App;
use crm_sync_app::retry::{Settlement, sync_received};
use crm_sync_lambda::sqs::{batch_response, read_batch};
use lambda_runtime::LambdaEvent;

/// Syncs one SQS batch; never fails as a whole.
pub async fn handle(app: &App, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let batch = read_batch(&event.payload);
    let mut failed = batch.unreadable;
    if batch.messages.is_empty() {
        return Ok(batch_response(failed));
    }
    let (outcome, settlements) = sync_received(app, &batch.messages).await;
    for (message, settlement) in batch.messages.iter().zip(settlements) {
        if settlement == Settlement::Keep {
            failed.push(message.id.clone());
        }
    }
    tracing::info!(
        messages = batch.messages.len(),
        retried = failed.len(),
        unchanged = outcome.stats.unchanged,
        "SyncBatchHandled"
    );
    Ok(batch_response(failed))
}
