//! The queue port: one queue and its dead-letter queue, with SQS semantics.
//!
//! Delivery is at least once. A received message is hidden for its
//! visibility timeout and comes back if it is not deleted in time; every
//! receive counts, and a message received more than `max_receive_count` times
//! goes to the dead-letter queue on its next receive instead of to a worker.
//! Dead letters are kept until listed and replayed (or they age out of the
//! backend). Consumers must therefore be idempotent: the sync is, through
//! conditional link writes and claims.
//!
//! The queue holds sync intents and import chunks as JSON text; it never looks
//! inside them.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::types::StoreResult;

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

    /// Moves the dead letters of these message ids back to the queue with a
    /// fresh receive count, leaving the others dead; returns how many moved.
    /// A message is removed from the dead letters only once it is back on
    /// the queue. An id that is not a dead letter moves nothing.
    async fn replay_dead_letters_by_id(&self, ids: &[String]) -> StoreResult<usize>;
}
