//! The sync queue's dead letters: messages that gave up after
//! [`crate::retry::MAX_RECEIVES`] receives, listed with why (the sync-health
//! entry recorded when they gave up) and put back on the queue once the
//! cause is fixed (`crm-sync dead-letters list|replay`).
//!
//! Works on any [`Queue`] and sync-health store, so it needs no App (and no
//! CRM credentials): replaying only moves messages; the runtime syncs them.

use crate::AppError;
use crate::messages::parse_intents;
use crate::retry::dead_letter_key;
use crate::usecases::sync::category_name;
use crm_sync_domain::error::ErrorCategory;
use crm_sync_store::{Queue, SyncHealthStore};
use serde::Serialize;

/// The most dead letters one listing or replay looks at.
pub const MOST_DEAD_LETTERS: usize = 10_000;

/// One dead letter and why it gave up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The queue message id.
    pub id: String,
    /// The sync-health category of the error it gave up on (`other` when
    /// none was recorded: a message that never finished a receive).
    pub category: String,
    /// Receives it had.
    pub attempts: u32,
    /// Records it names.
    pub intents: usize,
    /// The first record it names (`system:pair:id`).
    pub first_record: String,
    /// The CRM's message, as recorded in sync health.
    pub message: String,
}

/// The dead letters of `queue`, oldest first, of `category` only when given
/// (a snake_case category name).
pub async fn list_dead_letters(
    queue: &dyn Queue,
    health: &dyn SyncHealthStore,
    category: Option<&str>,
) -> Result<Vec<DeadLetter>, AppError> {
    let mut out = Vec::new();
    for message in queue.list_dead_letters(MOST_DEAD_LETTERS).await? {
        let entry = health.get_error(&dead_letter_key(&message.id)).await?;
        let (category_of, text) = match entry {
            Some(e) => (e.category, e.message),
            None => (category_name(ErrorCategory::Other), "no cause was recorded".to_owned()),
        };
        if category.is_some_and(|c| c != category_of) {
            continue;
        }
        let intents = parse_intents(&message.body).unwrap_or_default();
        out.push(DeadLetter {
            id: message.id,
            category: category_of,
            attempts: message.receive_count,
            intents: intents.len(),
            first_record: intents.first().map(|i| i.record_key()).unwrap_or_else(|| "(not a sync intent)".to_owned()),
            message: text,
        });
    }
    Ok(out)
}

/// Puts the dead letters of `category` (all when `None`) back on the queue
/// with a fresh receive count and resolves their sync-health entries; a
/// message that fails again gives up again with a new entry. Returns those
/// moved.
pub async fn replay_dead_letters(
    queue: &dyn Queue,
    health: &dyn SyncHealthStore,
    category: Option<&str>,
) -> Result<Vec<DeadLetter>, AppError> {
    let letters = list_dead_letters(queue, health, category).await?;
    if letters.is_empty() {
        return Ok(letters);
    }
    let ids: Vec<String> = letters.iter().map(|l| l.id.clone()).collect();
    let moved = queue.replay_dead_letters_by_id(&ids).await?;
    let still_dead: std::collections::HashSet<String> =
        queue.list_dead_letters(MOST_DEAD_LETTERS).await?.into_iter().map(|m| m.id).collect();
    let replayed: Vec<DeadLetter> = letters.into_iter().filter(|l| !still_dead.contains(&l.id)).collect();
    for letter in &replayed {
        health.resolve_error(&dead_letter_key(&letter.id)).await?;
    }
    tracing::info!(moved, "DeadLettersReplayed");
    Ok(replayed)
}
