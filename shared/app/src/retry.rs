//! How a sync-queue message is settled after its batch: deleted, retried
//! after a backoff, re-queued to wait out an API limit, or given up.
//!
//! Both runtimes settle through [`settle`] (the local runtime, and the
//! sync-worker function through its partial batch response), so a message
//! is retried and dead-lettered the same way everywhere:
//!
//! - done, or failed permanently (already in sync health): deleted;
//! - retried ([`ItemResult::RetryAfter`]: 5xx, timeouts, locks, lost
//!   races): hidden for the longer of the CRM's `Retry-After` and
//!   [`RETRY_BACKOFF`] for its receive count (1 s doubling to 15 minutes,
//!   jittered), and counted against the queue's receive limit
//!   ([`MAX_RECEIVES`], sized so that retries outlast an hour-long outage of
//!   either CRM; the arithmetic is in docs/reliability.md);
//! - at its last receive, a retried message gives up: its cause (category
//!   and the CRM's message) is recorded in sync health under
//!   [`dead_letter_key`], and the queue moves it to the dead letters at its
//!   next receive;
//! - waiting out an API limit ([`ItemResult::Wait`]: a CRM's 429 or daily
//!   allocation, the sync's Salesforce cap): a fresh copy is queued with the
//!   longer of the limit's delay and the backoff for its wait count (kept in
//!   the body), at most [`MAX_DELAY`], and the received copy is deleted. A
//!   wait is not a failed attempt: a limit, however long, never
//!   dead-letters a message.

use crate::messages::{parse_intents, with_waits};
use crate::usecases::import::{ChunkMessage, ChunkReport, chunk_pair, run_import_chunk};
use crate::usecases::sync::{BatchOutcome, ItemResult, MessageOutcome, category_name, sync_batch};
use crate::{App, AppError};
use crm_sync_domain::error::{BackoffPolicy, ErrorCategory, backoff_with_jitter};
use crm_sync_domain::{ObjectPair, System};
use crm_sync_store::{ErrorReport, OutgoingMessage, Queue, ReceivedMessage};
use std::time::Duration;
use tracing::{info, warn};

/// The backoff of retried and waiting messages: 1 s doubling to 15 minutes.
pub const RETRY_BACKOFF: BackoffPolicy =
    BackoffPolicy { base: Duration::from_secs(1), cap: Duration::from_secs(15 * 60) };

/// Receives of a sync message before it gives up: the queue's receive limit
/// (`maxReceiveCount` of the template's sync queue, and the embedded
/// queue's). With [`RETRY_BACKOFF`] the 17 retries it allows span at least
/// 61 minutes (every delay at the low end of its jitter) and at most about
/// two hours.
pub const MAX_RECEIVES: u32 = 18;

/// The longest delay of a re-queued message (SQS's longest send delay).
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// What the runtime does with the received copy after [`settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Delete it: done, failed for good, or re-queued as a fresh copy.
    Delete,
    /// Leave it: its visibility was set to the retry delay (Lambda: report
    /// it as a batch item failure).
    Keep,
    /// Nothing left to do: the received copy was already deleted (a chunk
    /// handed on to a fresh copy before its last attempt).
    Gone,
}

/// How often a chunk message is handed on to a fresh copy at its last
/// receive ([`run_chunk`]) before that receive is its very last.
pub const MAX_CHUNK_RELAYS: u32 = 2;

/// The sync-health key of a message that gave up.
pub fn dead_letter_key(message_id: &str) -> String {
    format!("dead_letter:{message_id}")
}

/// A stable number from a message id, to spread the retries of many
/// messages while each stays reproducible (FNV-1a).
fn seed(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The delay before attempt `attempt + 1` of a message: the longer of what
/// the CRM asked for and the backoff.
pub fn retry_delay(message_id: &str, attempt: u32, asked: Duration) -> Duration {
    asked.max(backoff_with_jitter(attempt, RETRY_BACKOFF, seed(message_id)))
}

/// Settles one message of a batch after [`crate::usecases::sync::sync_batch`].
/// Never fails: a queue call that fails leaves the message to come back
/// after its visibility timeout, which is logged.
pub async fn settle(app: &App, message: &ReceivedMessage, outcome: &MessageOutcome) -> Settlement {
    let queue = app.sync_queue();
    match &outcome.result {
        ItemResult::Done | ItemResult::Failed { .. } => Settlement::Delete,
        ItemResult::Wait(asked) => wait(queue, message, *asked).await,
        ItemResult::RetryAfter(asked) => {
            let attempt = message.receive_count.max(1);
            let delay = if attempt >= MAX_RECEIVES {
                give_up(app, message, outcome).await;
                Duration::ZERO
            } else {
                retry_delay(&message.id, attempt, *asked)
            };
            if let Err(error) = queue.change_visibility(&message.receipt_handle, delay).await {
                warn!(message_id = %message.id, %error, "BackoffNotSet");
            }
            Settlement::Keep
        }
    }
}

/// Settles an import-chunk message whose run failed with `error` (a chunk
/// that ran, or had nothing to run, is deleted by the runtime):
///
/// - an API limit (a spent budget, a CRM's rate limit): a fresh copy waits
///   it out, its wait count kept in the body, so that a long limit never
///   uses up the receive limit;
/// - another worker's lease (at most 15 minutes: one or two receives; a
///   fresh copy near the receive limit), or another failure worth retrying: hidden for the longer of the delay
///   asked (the lease left, the CRM's `Retry-After`) and [`RETRY_BACKOFF`]
///   for its receive count; at its last receive the use case has already
///   failed the chunk and its job with the reason ([`AppError::GaveUp`]);
/// - a failure for good (the chunk and its job are failed with the reason):
///   deleted.
pub async fn settle_chunk(app: &App, message: &ReceivedMessage, error: &AppError) -> Settlement {
    let queue = app.import_queue();
    let Some(asked) = error.retry_after() else { return Settlement::Delete };
    // A held chunk on its last receive waits as a fresh copy: the use case
    // cannot fail a chunk another worker holds, and the message must not go
    // to the dead letters while the chunk is unfinished.
    let held = matches!(error, AppError::ChunkHeld { .. });
    if error.is_api_limit() || (held && message.receive_count >= MAX_RECEIVES - 1) {
        return wait_chunk(queue, message, asked).await;
    }
    let delay = retry_delay(&message.id, message.receive_count.max(1), asked);
    if let Err(e) = queue.change_visibility(&message.receipt_handle, delay).await {
        warn!(message_id = %message.id, error = %e, "BackoffNotSet");
    }
    Settlement::Keep
}

/// Runs a received import-chunk message and settles it (both runtimes).
///
/// A chunk's attempt can take minutes, and a worker can stop during it (a
/// Lambda timeout, a killed process): the queue then receives the message
/// again, and after [`MAX_RECEIVES`] moves it to the dead letters with the
/// chunk and its job left `running`. So at its last receive the message is
/// first handed on to a fresh copy (delayed by [`MAX_DELAY`], at least the
/// chunk's lease), up to [`MAX_CHUNK_RELAYS`] times, and the received copy
/// is deleted before the attempt: should the worker stop, the fresh copy
/// takes the chunk over. Beyond that (a chunk that stops its worker every
/// time), the last attempt is announced in sync health under
/// [`dead_letter_key`], naming the job to resume, and the entry is resolved
/// when the attempt ends the message.
pub async fn run_chunk(app: &App, message: &ReceivedMessage) -> (Result<ChunkReport, AppError>, Settlement) {
    let queue = app.import_queue();
    let mut relayed = None;
    let mut announced = false;
    if message.receive_count >= MAX_RECEIVES
        && let Ok(chunk) = serde_json::from_str::<ChunkMessage>(&message.body)
    {
        if chunk.relays < MAX_CHUNK_RELAYS {
            relayed = relay_chunk(queue, message, chunk.clone()).await;
        }
        if relayed.is_none() {
            let report = ErrorReport {
                key: dead_letter_key(&message.id),
                category: category_name(ErrorCategory::Other),
                pair: chunk_pair(app, &chunk).await,
                salesforce_id: None,
                hubspot_id: None,
                message: format!(
                    "import job {} chunk {}: on its last attempt; should the worker stop during it, the chunk goes to \
                     the dead letters: take the job up again with `crm-sync import resume {}`",
                    chunk.job_id, chunk.index, chunk.job_id
                ),
                retryable: true,
            };
            match app.store().record_error(&report).await {
                Ok(_) => announced = true,
                Err(error) => warn!(message_id = %message.id, %error, "ErrorNotRecorded"),
            }
        }
    }
    let result = run_import_chunk(app, message).await;
    let settlement = match (&result, relayed) {
        (_, Some(Relay::Deleted)) => Settlement::Gone,
        // The fresh copy carries on; the received one goes now.
        (_, Some(Relay::Queued)) => Settlement::Delete,
        (Ok(_), None) => Settlement::Delete,
        (Err(error), None) => settle_chunk(app, message, error).await,
    };
    if announced
        && settlement != Settlement::Keep
        && let Err(error) = app.store().resolve_error(&dead_letter_key(&message.id)).await
    {
        warn!(message_id = %message.id, %error, "ErrorNotResolved");
    }
    (result, settlement)
}

/// A chunk handed on to a fresh copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relay {
    /// The fresh copy is queued; deleting the received one failed (it is
    /// deleted again after the attempt).
    Queued,
    /// The fresh copy is queued and the received one deleted.
    Deleted,
}

/// Queues a fresh copy of a chunk message at its last receive, then deletes
/// the received copy; `None` when no copy could be queued.
async fn relay_chunk(queue: &dyn Queue, message: &ReceivedMessage, mut chunk: ChunkMessage) -> Option<Relay> {
    chunk.relays += 1;
    let body = serde_json::to_string(&chunk)
        .inspect_err(|error| warn!(message_id = %message.id, %error, "ChunkNotRelayed"))
        .ok()?;
    if let Err(error) = queue.send_batch(&[OutgoingMessage { body, delay: Some(MAX_DELAY) }]).await {
        warn!(message_id = %message.id, %error, "ChunkNotRelayed");
        return None;
    }
    info!(message_id = %message.id, relays = chunk.relays, "ChunkRelayed");
    match queue.delete(&message.receipt_handle).await {
        Ok(()) => Some(Relay::Deleted),
        Err(error) => {
            warn!(message_id = %message.id, %error, "RelayedChunkNotDeleted");
            Some(Relay::Queued)
        }
    }
}

/// Queues a fresh copy of a chunk message that waits, counting the wait.
async fn wait_chunk(queue: &dyn Queue, message: &ReceivedMessage, asked: Duration) -> Settlement {
    let rewritten = serde_json::from_str::<ChunkMessage>(&message.body)
        .and_then(|mut chunk| {
            chunk.waits += 1;
            Ok((serde_json::to_string(&chunk)?, chunk.waits))
        })
        .map_err(|e| e.to_string());
    requeue(queue, message, asked, rewritten).await
}

/// Queues a fresh copy that waits out the limit, counting the wait.
async fn wait(queue: &dyn Queue, message: &ReceivedMessage, asked: Duration) -> Settlement {
    requeue(queue, message, asked, with_waits(&message.body).map_err(|e| e.to_string())).await
}

/// Queues `rewritten` (the body with its wait count, and that count) after
/// the longer of the limit's delay and the backoff for its waits; when that
/// fails, the received copy comes back after the same delay.
async fn requeue(
    queue: &dyn Queue,
    message: &ReceivedMessage,
    asked: Duration,
    rewritten: Result<(String, u32), String>,
) -> Settlement {
    let (body, waits) = match rewritten {
        Ok(rewritten) => rewritten,
        Err(error) => {
            warn!(message_id = %message.id, %error, "WaitNotQueued");
            return Settlement::Keep;
        }
    };
    let delay = retry_delay(&message.id, waits, asked).min(MAX_DELAY);
    match queue.send_batch(&[OutgoingMessage { body, delay: Some(delay) }]).await {
        Ok(_) => {
            info!(message_id = %message.id, waits, delay_s = delay.as_secs(), "MessageWaiting");
            Settlement::Delete
        }
        Err(error) => {
            warn!(message_id = %message.id, %error, "WaitNotQueued");
            if let Err(error) = queue.change_visibility(&message.receipt_handle, delay).await {
                warn!(message_id = %message.id, %error, "BackoffNotSet");
            }
            Settlement::Keep
        }
    }
}

/// Syncs a received batch and settles each message (both runtimes).
///
/// A message on its last receive is announced in sync health before it is
/// worked (under [`dead_letter_key`]): should the worker die during that
/// attempt, the queue dead-letters the message at its next receive and the
/// entry says so. The entry is resolved when the attempt ends the message
/// (done, failed for good, or waiting out a limit), and holds the cause when
/// it gives up.
pub async fn sync_received(app: &App, messages: &[ReceivedMessage]) -> (BatchOutcome, Vec<Settlement>) {
    let last = |m: &ReceivedMessage| m.receive_count >= MAX_RECEIVES;
    for message in messages.iter().filter(|m| last(m)) {
        let report = report_for(
            message,
            category_name(ErrorCategory::Other),
            format!(
                "on its last attempt ({} of {MAX_RECEIVES}): unless this attempt ends it, the message goes to the \
                 dead letters",
                message.receive_count
            ),
        );
        if let Err(error) = app.store().record_error(&report).await {
            warn!(message_id = %message.id, %error, "ErrorNotRecorded");
        }
    }
    let outcome = sync_batch(app, messages).await;
    let mut settlements = Vec::with_capacity(messages.len());
    for (message, item) in messages.iter().zip(&outcome.items) {
        settlements.push(settle(app, message, item).await);
        if last(message)
            && !matches!(item.result, ItemResult::RetryAfter(_))
            && let Err(error) = app.store().resolve_error(&dead_letter_key(&message.id)).await
        {
            warn!(message_id = %message.id, %error, "ErrorNotResolved");
        }
    }
    (outcome, settlements)
}

/// A sync-health entry about a message, naming the record of its first
/// intent (its ids) and every other record in the text.
pub(crate) fn report_for(message: &ReceivedMessage, category: String, mut text: String) -> ErrorReport {
    let intents = parse_intents(&message.body).unwrap_or_default();
    if intents.len() > 1 {
        let records: Vec<String> = intents.iter().map(|i| i.record_key()).collect();
        text.push_str(&format!(" (records: {})", records.join(", ")));
    }
    let first = intents.into_iter().next();
    let (pair, salesforce_id, hubspot_id) = match &first {
        Some(intent) => {
            let id = Some(intent.record_id().as_str().to_owned());
            match intent.system() {
                System::Salesforce => (intent.pair(), id, None),
                System::HubSpot => (intent.pair(), None, id),
            }
        }
        None => (ObjectPair::Contact, None, None),
    };
    ErrorReport {
        key: dead_letter_key(&message.id),
        category,
        pair,
        salesforce_id,
        hubspot_id,
        message: text,
        retryable: true,
    }
}

/// Records in sync health why a message that goes to the dead letters gave
/// up: the CRM's error category and message, and the record it names.
async fn give_up(app: &App, message: &ReceivedMessage, outcome: &MessageOutcome) {
    let (category, message_text) = match &outcome.cause {
        Some(cause) => (cause.category.clone(), cause.message.clone()),
        None => (category_name(ErrorCategory::Other), "the sync failed on every attempt".to_owned()),
    };
    let report = report_for(
        message,
        category,
        format!("gave up after {} attempts, moved to the dead letters: {message_text}", message.receive_count),
    );
    warn!(message_id = %message.id, category = %report.category, attempts = message.receive_count, "MessageGaveUp");
    if let Err(error) = app.store().record_error(&report).await {
        warn!(message_id = %message.id, %error, "ErrorNotRecorded");
    }
}
