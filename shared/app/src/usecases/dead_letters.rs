//! The sync queue's dead letters: messages that gave up after
//! [`crate::retry::MAX_RECEIVES`] receives, listed with why (the sync-health
//! entry recorded when they gave up) and put back on the queue once the
//! cause is fixed (`crm-sync dead-letters list|replay`).
//!
//! Works on any [`Queue`] and sync-health store, so it needs no App (and no
//! CRM credentials): replaying only moves messages; the runtime syncs them.

use crate::AppError;
use crate::messages::parse_intents;
use crate::retry::{dead_letter_key, report_for};
use crate::usecases::import::ChunkMessage;
use crate::usecases::sync::category_name;
use crm_sync_domain::ObjectPair;
use crm_sync_domain::error::ErrorCategory;
use crm_sync_store::{ChunkStatus, ErrorReport, JobStatus, Queue, StateStore, SyncHealthStore};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

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
    let moved = replay_by_id(queue, health, &ids).await?;
    let replayed: Vec<DeadLetter> = letters.into_iter().filter(|l| moved.contains(&l.id)).collect();
    tracing::info!(moved = replayed.len(), "DeadLettersReplayed");
    Ok(replayed)
}

/// Puts the dead letters `ids` back on the queue with a fresh receive count
/// and resolves the sync-health entries of those that moved; returns them.
pub(crate) async fn replay_by_id(
    queue: &dyn Queue,
    health: &dyn SyncHealthStore,
    ids: &[String],
) -> Result<HashSet<String>, AppError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    queue.replay_dead_letters_by_id(ids).await?;
    let still_dead: HashSet<String> =
        queue.list_dead_letters(MOST_DEAD_LETTERS).await?.into_iter().map(|m| m.id).collect();
    let moved: HashSet<String> = ids.iter().filter(|id| !still_dead.contains(*id)).cloned().collect();
    for id in &moved {
        health.resolve_error(&dead_letter_key(id)).await?;
    }
    Ok(moved)
}

/// Dead letters one check looks at, per queue.
pub const MOST_CHECKED: usize = 1_000;

/// What one check of the dead letters did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadLetterCheck {
    /// Dead letters with no sync-health entry, now recorded.
    pub recorded: usize,
    /// Import-chunk dead letters put back on the import queue.
    pub chunks_taken_back: usize,
}

/// Records in sync health every dead letter of the sync and import queues
/// that has no entry yet, and takes back the import-chunk dead letters a
/// worker's stop left behind.
///
/// A message normally gives up with its cause recorded at its last receive
/// (see [`crate::retry`]); but a worker that stops after that receive and
/// before the attempt ends (a Lambda timeout, a killed process) leaves the
/// queue to move the message to the dead letters at its next receive, and
/// nothing would say so. The sweep runs this check, so such a message shows
/// in sync health within one sweep, naming its records (or, for an import
/// chunk, the job to resume).
///
/// A chunk message at its last receive is handed on to a fresh copy before
/// the received copy is deleted, up to [`crate::retry::MAX_CHUNK_RELAYS`]
/// times ([`crate::retry::run_chunk`]). A worker that stops between its
/// last receive and the end of that hand-over leaves the received copy to
/// the dead letters, with or without a fresh copy carrying on; the job
/// would then wait for an operator's `import resume` that nothing but a
/// badly timed stop asked for. So a chunk dead letter is taken back (put on
/// the import queue again, its entry resolved) when its chunk is done (a
/// worker finds it so and deletes it), or unfinished in a job that did not
/// fail and not yet handed on as often as allowed (it runs again; a copy
/// still carrying on finds the chunk held or done). A chunk that stopped
/// its worker on every relay is reported, naming the job to resume.
pub async fn check_dead_letters(
    sync_queue: &dyn Queue,
    import_queue: &dyn Queue,
    store: &dyn StateStore,
) -> Result<DeadLetterCheck, AppError> {
    let mut check = DeadLetterCheck::default();
    let mut taken_back = Vec::new();
    // Jobs and their chunks' states, read once per job.
    let mut jobs: HashMap<String, Option<JobChunks>> = HashMap::new();
    for (queue, chunks) in [(sync_queue, false), (import_queue, true)] {
        for message in queue.list_dead_letters(MOST_CHECKED).await? {
            let chunk = chunks.then(|| serde_json::from_str::<ChunkMessage>(&message.body).ok()).flatten();
            if let Some(chunk) = &chunk
                && job_chunks(store, &mut jobs, &chunk.job_id).await?.is_some_and(|job| job.take_back(chunk))
            {
                tracing::info!(message_id = %message.id, job_id = %chunk.job_id, index = chunk.index, "DeadChunkTakenBack");
                taken_back.push(message.id);
                continue;
            }
            if store.get_error(&dead_letter_key(&message.id)).await?.is_some() {
                continue;
            }
            let stopped = format!(
                "moved to the dead letters after {} receives: the worker stopped during its last attempt",
                message.receive_count
            );
            let report = match chunk {
                Some(chunk) => ErrorReport {
                    key: dead_letter_key(&message.id),
                    category: category_name(ErrorCategory::Other),
                    pair: ObjectPair::Contact,
                    salesforce_id: None,
                    hubspot_id: None,
                    message: format!(
                        "import job {} chunk {}: {stopped}; take the job up again with `crm-sync import resume {}`",
                        chunk.job_id, chunk.index, chunk.job_id
                    ),
                    retryable: true,
                },
                None => report_for(
                    &message,
                    category_name(ErrorCategory::Other),
                    format!("{stopped}; put it back with `crm-sync dead-letters replay`"),
                ),
            };
            tracing::warn!(queue = queue.name(), message_id = %message.id, "DeadLetterWithoutCause");
            store.record_error(&report).await?;
            check.recorded += 1;
        }
    }
    if !taken_back.is_empty() {
        check.chunks_taken_back = replay_by_id(import_queue, store, &taken_back).await?.len();
    }
    Ok(check)
}

/// A job's status and its chunks' states.
#[derive(Debug)]
struct JobChunks {
    status: JobStatus,
    chunks: HashMap<u32, ChunkStatus>,
}

impl JobChunks {
    /// Whether a dead letter of `chunk` is taken back (see
    /// [`check_dead_letters`]).
    fn take_back(&self, chunk: &ChunkMessage) -> bool {
        match self.chunks.get(&chunk.index) {
            Some(ChunkStatus::Done) => true,
            Some(ChunkStatus::Pending | ChunkStatus::Running) => {
                self.status != JobStatus::Failed && chunk.relays < crate::retry::MAX_CHUNK_RELAYS
            }
            Some(ChunkStatus::Failed) | None => false,
        }
    }
}

/// The job `job_id` and its chunks (`None`: no such job), read at first ask.
async fn job_chunks<'a>(
    store: &dyn StateStore,
    jobs: &'a mut HashMap<String, Option<JobChunks>>,
    job_id: &str,
) -> Result<Option<&'a JobChunks>, AppError> {
    if !jobs.contains_key(job_id) {
        let job = match store.get_import_job(job_id).await? {
            Some(job) => {
                let chunks = store.list_chunks(job_id).await?.into_iter().map(|c| (c.index, c.status)).collect();
                Some(JobChunks { status: job.status, chunks })
            }
            None => None,
        };
        jobs.insert(job_id.to_owned(), job);
    }
    Ok(jobs.get(job_id).and_then(Option::as_ref))
}
