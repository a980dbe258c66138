//! A queue whose every operation a worker makes is a crash point of the
//! world's [`Tripwire`], as the store's writes and the CRMs' calls are: the
//! worker dies before a receive, delete, visibility change or send takes
//! effect, or right after. Messages received by a worker that then dies
//! stay hidden until their visibility ends; a message whose delete never
//! happened comes back and is worked again.
//!
//! The embedded queue names its messages with random UUIDs, and a message's
//! id seeds the jitter of its retry delays; so this queue gives each message
//! an id of its own, numbered in the order it first shows (prefixed by the
//! scenario's seed), and a seed replays the same delays.

use crate::store::crash_point;
use async_trait::async_trait;
use crm_sandbox::Tripwire;
use crm_sync_store::{OutgoingMessage, Queue, QueueDepth, ReceivedMessage, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// See the module documentation.
pub struct FlakyQueue {
    inner: Arc<dyn Queue>,
    tripwire: Arc<Tripwire>,
    /// Workers that died at one of this queue's operations.
    deaths: Arc<Mutex<u64>>,
    ids: Mutex<Ids>,
}

/// The inner queue's message ids and this queue's, both ways.
#[derive(Debug, Default)]
struct Ids {
    prefix: String,
    ours: HashMap<String, String>,
    inner: HashMap<String, String>,
}

impl Ids {
    /// This queue's id for the inner queue's `id`, numbered at first sight.
    fn ours(&mut self, id: &str) -> String {
        if let Some(ours) = self.ours.get(id) {
            return ours.clone();
        }
        let ours = format!("{}-{}", self.prefix, self.ours.len() + 1);
        self.ours.insert(id.to_owned(), ours.clone());
        self.inner.insert(ours.clone(), id.to_owned());
        ours
    }
}

impl FlakyQueue {
    /// `inner` with its operations on `tripwire`, deaths counted in `deaths`.
    /// `ids` names this queue's messages (e.g. the scenario's seed).
    pub fn new(inner: Arc<dyn Queue>, tripwire: Arc<Tripwire>, deaths: Arc<Mutex<u64>>, ids: &str) -> Self {
        let ids = Ids { prefix: format!("{ids}-{}", inner.name()), ..Ids::default() };
        FlakyQueue { inner, tripwire, deaths, ids: Mutex::new(ids) }
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The received messages under this queue's ids.
    fn renamed(&self, messages: StoreResult<Vec<ReceivedMessage>>) -> StoreResult<Vec<ReceivedMessage>> {
        let mut messages = messages?;
        let mut ids = self.ids();
        for m in &mut messages {
            m.id = ids.ours(&m.id);
        }
        Ok(messages)
    }
}

#[async_trait]
impl Queue for FlakyQueue {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> StoreResult<Vec<String>> {
        let sent = crash_point(Some(&self.tripwire), &self.deaths, self.inner.send_batch(messages)).await?;
        let mut ids = self.ids();
        Ok(sent.iter().map(|id| ids.ours(id)).collect())
    }
    async fn receive(&self, max: usize, visibility: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        let received = crash_point(Some(&self.tripwire), &self.deaths, self.inner.receive(max, visibility)).await;
        self.renamed(received)
    }
    async fn delete(&self, receipt_handle: &str) -> StoreResult<()> {
        crash_point(Some(&self.tripwire), &self.deaths, self.inner.delete(receipt_handle)).await
    }
    async fn delete_batch(&self, receipt_handles: &[String]) -> StoreResult<()> {
        crash_point(Some(&self.tripwire), &self.deaths, self.inner.delete_batch(receipt_handles)).await
    }
    async fn change_visibility(&self, receipt_handle: &str, timeout: Duration) -> StoreResult<()> {
        crash_point(Some(&self.tripwire), &self.deaths, self.inner.change_visibility(receipt_handle, timeout)).await
    }
    async fn depth(&self) -> StoreResult<QueueDepth> {
        self.inner.depth().await
    }
    async fn list_dead_letters(&self, max: usize) -> StoreResult<Vec<ReceivedMessage>> {
        let dead = self.inner.list_dead_letters(max).await;
        self.renamed(dead)
    }
    async fn replay_dead_letters(&self, max: usize) -> StoreResult<usize> {
        self.inner.replay_dead_letters(max).await
    }
    async fn replay_dead_letters_by_id(&self, ids: &[String]) -> StoreResult<usize> {
        let inner: Vec<String> = {
            let names = self.ids();
            ids.iter().map(|id| names.inner.get(id).cloned().unwrap_or_else(|| id.clone())).collect()
        };
        self.inner.replay_dead_letters_by_id(&inner).await
    }
}
