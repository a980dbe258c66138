//! A queue whose every operation a worker makes is a crash point of the
//! world's [`Tripwire`], as the store's writes and the CRMs' calls are: the
//! worker dies before a receive, delete, visibility change or send takes
//! effect, or right after. Messages received by a worker that then dies
//! stay hidden until their visibility ends; a message whose delete never
//! happened comes back and is worked again.

use crate::store::crash_point;
use async_trait::async_trait;
use crm_sandbox::Tripwire;
use crm_sync_store::{OutgoingMessage, Queue, QueueDepth, ReceivedMessage, StoreResult};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// See the module documentation.
pub struct FlakyQueue {
    inner: Arc<dyn Queue>,
    tripwire: Arc<Tripwire>,
    /// Workers that died at one of this queue's operations.
    deaths: Arc<Mutex<u64>>,
}

impl FlakyQueue {
    /// `inner` with its operations on `tripwire`, deaths counted in `deaths`.
    pub fn new(inner: Arc<dyn Queue>, tripwire: Arc<Tripwire>, deaths: Arc<Mutex<u64>>) -> Self {
        FlakyQueue { inner, tripwire, deaths }
    }
}

#[async_trait]
impl Queue for FlakyQueue {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> StoreResult<Vec<String>> {
        crash_point(Some(&self.tripwire), &self.deaths, self.inner.send_batch(messages)).await
    }
    async fn receive(&self, max: usize, visibility: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        crash_point(Some(&self.tripwire), &self.deaths, self.inner.receive(max, visibility)).await
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
        self.inner.list_dead_letters(max).await
    }
    async fn replay_dead_letters(&self, max: usize) -> StoreResult<usize> {
        self.inner.replay_dead_letters(max).await
    }
    async fn replay_dead_letters_by_id(&self, ids: &[String]) -> StoreResult<usize> {
        self.inner.replay_dead_letters_by_id(ids).await
    }
}
