//! Adapts an SQS batch of sync intents to `sync_batch` and its outcome to a
//! partial batch response (`ReportBatchItemFailures`):
//! - done, or failed permanently (already a sync-health entry): not listed,
//!   so Lambda deletes the message;
//! - retry after a delay: listed as failed, and its visibility is changed to
//!   the delay first, so SQS redelivers it after the backoff rather than
//!   after the queue's visibility timeout; after `maxReceiveCount` receives,
//!   SQS moves it to the dead-letter queue.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use crm_sync_app::App;
use crm_sync_app::usecases::sync::{ItemResult, sync_batch};
use crm_sync_lambda::sqs::{batch_response, read_batch};
use lambda_runtime::LambdaEvent;

/// Syncs one SQS batch; never fails as a whole.
pub async fn handle(app: &App, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let batch = read_batch(&event.payload);
    let mut failed = batch.unreadable;
    if batch.messages.is_empty() {
        return Ok(batch_response(failed));
    }
    let outcome = sync_batch(app, &batch.messages).await;
    for item in outcome.items {
        match item.result {
            ItemResult::Done | ItemResult::Failed { .. } => {}
            ItemResult::RetryAfter(delay) => {
                if let Err(error) = app.sync_queue().change_visibility(&item.receipt_handle, delay).await {
                    // Still reported failed: SQS redelivers it after the
                    // queue's visibility timeout instead of the backoff.
                    tracing::warn!(message_id = %item.message_id, error = %error, "BackoffNotSet");
                }
                failed.push(item.message_id);
            }
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
