//! The SQS adapter of [`Queue`]: one queue and its dead-letter queue.
//!
//! Owns the mapping onto SQS calls: batches of 10 for send and delete,
//! `ChangeMessageVisibility` for backoff, `ApproximateReceiveCount` for the
//! receive count. Redrive to the dead-letter queue is SQS's own (the main
//! queue's `RedrivePolicy`, set by `provision::create_queue_pair` or the SAM
//! template), so `max_receive_count` lives in the queue, not in this type.
//! Replay moves messages back by send + delete.
//!
//! Two things differ from the embedded queue and callers must not rely on
//! them being exact: counts from [`Queue::depth`] are SQS's approximations,
//! and receive counts are `ApproximateReceiveCount`. A batch that SQS accepts
//! only in part is an error for the whole call (the accepted messages stay
//! queued; delivery is at least once anyway).

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use crm_sync_store::*;
use std::time::Duration;
use tracing::debug;

/// Backend name in [`StoreError::Backend`].
const BACKEND: &str = "sqs";
/// SQS's batch limit for send, delete and receive.
pub const SQS_BATCH: usize = 10;

/// [`Queue`] over an SQS queue with a dead-letter queue.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    /// The port's name of the queue (`sync-intents`, ...), for logs.
    name: String,
    url: String,
    /// Where SQS's redrive puts messages received too often.
    dead_letter_url: String,
    /// Long-poll wait for `receive` (0: return at once).
    wait: Duration,
}

/// A duration as SQS's whole seconds, rounded up.
fn secs(d: Duration) -> i32 {
    // SQS counts whole seconds; round up so a message is never visible early.
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(s).unwrap_or(i32::MAX)
}

/// Maps an SDK error of `operation` to [`StoreError::Backend`], keeping it as
/// the source.
fn backend<E: std::error::Error + Send + Sync + 'static>(operation: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::backend(BACKEND, operation, e)
}

/// Maps a request-builder error (a required field missing: a bug here) to a
/// backend error rather than a panic.
fn build_err(operation: &'static str) -> impl FnOnce(aws_sdk_sqs::error::BuildError) -> StoreError {
    move |e| StoreError::backend(BACKEND, operation, e)
}

/// A batch entry failed: keep SQS's code and message as the cause.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct BatchEntryError {
    /// SQS's error code for the entry (e.g. `InvalidParameterValue`).
    pub code: String,
    /// SQS's message, unchanged.
    pub message: String,
}

/// A received SQS message as the port's [`ReceivedMessage`]; `None` for a
/// message without an id or receipt handle (SQS always sends both).
fn to_received(m: &aws_sdk_sqs::types::Message) -> Option<ReceivedMessage> {
    let count = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    Some(ReceivedMessage {
        id: m.message_id()?.to_owned(),
        receipt_handle: m.receipt_handle()?.to_owned(),
        body: m.body().unwrap_or_default().to_owned(),
        receive_count: count,
    })
}

impl SqsQueue {
    /// A queue by URL, with the URL of its dead-letter queue.
    /// The queue and its dead-letter queue must already exist, the first
    /// with a redrive policy onto the second. Receives return at once when
    /// the queue is empty; see [`SqsQueue::with_long_polling`].
    pub fn new(
        client: Client,
        name: impl Into<String>,
        url: impl Into<String>,
        dead_letter_url: impl Into<String>,
    ) -> Self {
        SqsQueue {
            client,
            name: name.into(),
            url: url.into(),
            dead_letter_url: dead_letter_url.into(),
            wait: Duration::ZERO,
        }
    }

    /// Long-polls up to `wait` (at most 20 s) when the queue is empty.
    pub fn with_long_polling(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(20));
        self
    }

    /// The main queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The dead-letter queue's URL.
    pub fn dead_letter_url(&self) -> &str {
        &self.dead_letter_url
    }

    /// One `ReceiveMessage` call on `url` (main queue or dead-letter queue):
    /// at most [`SQS_BATCH`] messages, hidden for `visibility`, waiting up to
    /// `wait` for the first one.
    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> StoreResult<Vec<ReceivedMessage>> {
        let max = i32::try_from(max.clamp(1, SQS_BATCH)).unwrap_or(1);
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .visibility_timeout(secs(visibility))
            .wait_time_seconds(secs(wait))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(backend("receive"))?;
        Ok(out.messages().iter().filter_map(to_received).collect())
    }

    /// Sends to `url` in batches of [`SQS_BATCH`]; the ids come back in the
    /// order of `messages` (SQS answers per entry id, in any order).
    async fn send_to(&self, url: &str, messages: &[OutgoingMessage]) -> StoreResult<Vec<String>> {
        let mut ids = Vec::with_capacity(messages.len());
        for batch in messages.chunks(SQS_BATCH) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .set_delay_seconds(m.delay.map(secs))
                        .build()
                        .map_err(build_err("send"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(backend("send"))?;
            if let Some(failed) = out.failed().first() {
                return Err(StoreError::backend(
                    BACKEND,
                    "send",
                    BatchEntryError {
                        code: failed.code().to_owned(),
                        message: failed.message().unwrap_or("").to_owned(),
                    },
                ));
            }
            let mut batch_ids = vec![String::new(); batch.len()];
            for ok in out.successful() {
                if let Ok(i) = ok.id().parse::<usize>()
                    && let Some(slot) = batch_ids.get_mut(i)
                {
                    *slot = ok.message_id().to_owned();
                }
            }
            ids.extend(batch_ids);
        }
        Ok(ids)
    }

    /// Deletes from `url` in batches of [`SQS_BATCH`]; any failed entry fails
    /// the call.
    async fn delete_from(&self, url: &str, receipt_handles: &[String]) -> StoreResult<()> {
        for batch in receipt_handles.chunks(SQS_BATCH) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(build_err("delete"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(backend("delete"))?;
            if let Some(failed) = out.failed().first() {
                return Err(StoreError::backend(
                    BACKEND,
                    "delete",
                    BatchEntryError {
                        code: failed.code().to_owned(),
                        message: failed.message().unwrap_or("").to_owned(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// `ChangeMessageVisibility` on `url` (main queue or dead-letter queue).
    async fn change_visibility_on(&self, url: &str, receipt_handle: &str, timeout: Duration) -> StoreResult<()> {
        let result = self
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs(timeout))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("ReceiptHandleIsInvalid" | "MessageNotInflight")) => {
                Err(StoreError::not_found(format!("message with that receipt in {}", self.name)))
            }
            Err(e) => Err(StoreError::backend(BACKEND, "change visibility", e)),
        }
    }

    /// `(visible, in flight or delayed)` of one queue, SQS's approximations.
    async fn counts(&self, url: &str) -> StoreResult<(u64, u64)> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(backend("depth"))?;
        let get = |name: QueueAttributeName| -> u64 {
            out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                + get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        ))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> StoreResult<Vec<String>> {
        let ids = self.send_to(&self.url, messages).await?;
        debug!(queue = %self.name, messages = ids.len(), "MessagesSent");
        Ok(ids)
    }

    /// Loops `ReceiveMessage` until `max` messages or an empty answer; only
    /// the first call long-polls, so a busy queue is drained without waiting.
    async fn receive(&self, max: usize, visibility: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        let mut out = Vec::new();
        while out.len() < max {
            let wait = if out.is_empty() { self.wait } else { Duration::ZERO };
            let got = self.receive_from(&self.url, max - out.len(), visibility, wait).await?;
            if got.is_empty() {
                break;
            }
            out.extend(got);
        }
        Ok(out)
    }

    async fn delete(&self, receipt_handle: &str) -> StoreResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(backend("delete"))?;
        Ok(())
    }

    async fn delete_batch(&self, receipt_handles: &[String]) -> StoreResult<()> {
        self.delete_from(&self.url, receipt_handles).await
    }

    async fn change_visibility(&self, receipt_handle: &str, timeout: Duration) -> StoreResult<()> {
        self.change_visibility_on(&self.url, receipt_handle, timeout).await
    }

    /// Two `GetQueueAttributes` calls: the main queue and the dead-letter
    /// queue (every dead letter counts, visible or not).
    async fn depth(&self) -> StoreResult<QueueDepth> {
        let (visible, in_flight) = self.counts(&self.url).await?;
        let (dead_visible, dead_hidden) = self.counts(&self.dead_letter_url).await?;
        Ok(QueueDepth { visible, in_flight, dead: dead_visible + dead_hidden })
    }

    /// Peeks at dead letters by receiving them with a zero visibility
    /// timeout, deduplicated by message id. SQS samples its servers on each
    /// receive, so a few rounds are made; a listing may still miss messages
    /// of a large dead-letter queue (it is a look, not an inventory).
    async fn list_dead_letters(&self, max: usize) -> StoreResult<Vec<ReceivedMessage>> {
        // Received with a zero visibility timeout, so they stay in place.
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for _ in 0..max.div_ceil(SQS_BATCH).max(1) * 2 {
            let got = self.receive_from(&self.dead_letter_url, max - out.len(), Duration::ZERO, Duration::ZERO).await?;
            let before = out.len();
            for m in got {
                if seen.insert(m.id.clone()) && out.len() < max {
                    out.push(m);
                }
            }
            if out.len() == before || out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Receives from the dead-letter queue, sends the bodies to the main
    /// queue, then deletes them from the dead-letter queue, in that order: a
    /// crash in between duplicates a message rather than losing it.
    async fn replay_dead_letters(&self, max: usize) -> StoreResult<usize> {
        let mut moved = 0;
        while moved < max {
            let got =
                self.receive_from(&self.dead_letter_url, max - moved, Duration::from_secs(60), Duration::ZERO).await?;
            if got.is_empty() {
                break;
            }
            let bodies: Vec<OutgoingMessage> = got.iter().map(|m| OutgoingMessage::new(m.body.clone())).collect();
            self.send_to(&self.url, &bodies).await?;
            let receipts: Vec<String> = got.iter().map(|m| m.receipt_handle.clone()).collect();
            self.delete_from(&self.dead_letter_url, &receipts).await?;
            moved += got.len();
        }
        debug!(queue = %self.name, moved, "DeadLettersReplayed");
        Ok(moved)
    }

    /// Receives the dead letters round by round (as [`Self::list_dead_letters`]
    /// does): those named are sent to the main queue, then deleted from the
    /// dead-letter queue; the others are made visible again at once. Stops
    /// when every id moved or a round brings nothing new.
    async fn replay_dead_letters_by_id(&self, ids: &[String]) -> StoreResult<usize> {
        let mut wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        let mut moved = 0;
        while !wanted.is_empty() {
            let got =
                self.receive_from(&self.dead_letter_url, SQS_BATCH, Duration::from_secs(60), Duration::ZERO).await?;
            let fresh = got.iter().filter(|m| seen.insert(m.id.clone())).count();
            let (replay, others): (Vec<_>, Vec<_>) = got.into_iter().partition(|m| wanted.contains(m.id.as_str()));
            for m in &others {
                self.change_visibility_on(&self.dead_letter_url, &m.receipt_handle, Duration::ZERO).await?;
            }
            if !replay.is_empty() {
                let bodies: Vec<OutgoingMessage> =
                    replay.iter().map(|m| OutgoingMessage::new(m.body.clone())).collect();
                self.send_to(&self.url, &bodies).await?;
                let receipts: Vec<String> = replay.iter().map(|m| m.receipt_handle.clone()).collect();
                self.delete_from(&self.dead_letter_url, &receipts).await?;
                for m in &replay {
                    wanted.remove(m.id.as_str());
                }
                moved += replay.len();
            }
            if fresh == 0 {
                break;
            }
        }
        debug!(queue = %self.name, moved, "DeadLettersReplayed");
        Ok(moved)
    }
}
