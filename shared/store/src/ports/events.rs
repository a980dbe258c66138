//! The seen-events capability: webhook deliveries already handled.
//!
//! The CRMs deliver webhooks at least once and retry on timeouts, so the same
//! event id can arrive several times, even concurrently on two Lambda
//! instances. The webhook path marks every event id it queues; an id is "new"
//! exactly once until its TTL ends (a conditional put per id), so a repeated
//! delivery is acknowledged without queueing the work again. After the TTL
//! the id is forgotten; that is safe because the sync itself is idempotent,
//! the mark only saves work.

use std::time::Duration;

use async_trait::async_trait;

use super::types::StoreResult;

/// Webhook event ids seen recently.
#[async_trait]
pub trait SeenEventStore: Send + Sync {
    /// Remembers each event id for `ttl`; returns, per id in order, whether it
    /// was new. An id repeated within one call is new only the first time.
    async fn mark_events_seen(&self, event_ids: &[String], ttl: Duration) -> StoreResult<Vec<bool>>;
}
