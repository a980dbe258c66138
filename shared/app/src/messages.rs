//! The bodies of the queue messages the use cases send and read.
//!
//! A sync-queue message carries up to [`crate::AppSettings::intents_per_message`]
//! intents, so that one worker step reads and writes whole CRM batches (one
//! intent per message would cost one API call per record). A body holding a
//! single intent object is read too.

use crate::{App, AppError};
use crm_sync_domain::intent::SyncIntent;
use crm_sync_store::OutgoingMessage;
use serde::{Deserialize, Serialize};

/// A sync-queue message body: `{"intents": [...]}`, and `"waits": n` once
/// the message has waited out an API limit `n` times (`crate::retry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentBatch {
    pub intents: Vec<SyncIntent>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waits: u32,
}

impl IntentBatch {
    /// A body of `intents` that has not waited yet.
    pub fn new(intents: Vec<SyncIntent>) -> Self {
        IntentBatch { intents, waits: 0 }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Either body shape; a batch is tried first.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyIntentBody {
    Batch(IntentBatch),
    One(SyncIntent),
}

/// Reads a sync-queue message body.
pub fn parse_intents(body: &str) -> Result<Vec<SyncIntent>, serde_json::Error> {
    Ok(parse_batch(body)?.intents)
}

fn parse_batch(body: &str) -> Result<IntentBatch, serde_json::Error> {
    Ok(match serde_json::from_str::<AnyIntentBody>(body)? {
        AnyIntentBody::Batch(batch) => batch,
        AnyIntentBody::One(intent) => IntentBatch::new(vec![intent]),
    })
}

/// The body of the copy of a message that waits once more, and its wait
/// count (1 for the first wait).
pub fn with_waits(body: &str) -> Result<(String, u32), serde_json::Error> {
    let mut batch = parse_batch(body)?;
    batch.waits = batch.waits.saturating_add(1);
    Ok((serde_json::to_string(&batch)?, batch.waits))
}

/// Queues intents in messages of the configured size; returns how many
/// messages were sent. All are durably queued when this returns `Ok`.
pub async fn queue_intents(app: &App, intents: Vec<SyncIntent>) -> Result<usize, AppError> {
    if intents.is_empty() {
        return Ok(0);
    }
    let size = app.settings().intents_per_message.max(1);
    let mut messages = Vec::with_capacity(intents.len().div_ceil(size));
    for chunk in intents.chunks(size) {
        let body = serde_json::to_string(&IntentBatch::new(chunk.to_vec()))?;
        messages.push(OutgoingMessage::new(body));
    }
    app.sync_queue().send_batch(&messages).await?;
    Ok(messages.len())
}
