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

/// A sync-queue message body: `{"intents": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentBatch {
    pub intents: Vec<SyncIntent>,
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
    Ok(match serde_json::from_str::<AnyIntentBody>(body)? {
        AnyIntentBody::Batch(batch) => batch.intents,
        AnyIntentBody::One(intent) => vec![intent],
    })
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
        let body = serde_json::to_string(&IntentBatch { intents: chunk.to_vec() })?;
        messages.push(OutgoingMessage::new(body));
    }
    app.sync_queue().send_batch(&messages).await?;
    Ok(messages.len())
}
