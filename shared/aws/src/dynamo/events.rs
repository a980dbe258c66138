//! Seen webhook events on DynamoDB: their own table, one item
//! `EVENT#<event id>` with `expires_ms` and the TTL attribute.
//!
//! Marking is a `PutItem` per id conditional on
//! `attribute_not_exists(pk) OR expires_ms <= :now`: a succeeded put means
//! the id is new. Ids repeated within one call are answered locally (only the
//! first occurrence asks the table), and the puts run `MARK_CONCURRENCY` (16) at
//! a time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crm_sync_store::clock;
use futures::{StreamExt, TryStreamExt};

/// Conditional puts in flight at once in `mark_events_seen`.
const MARK_CONCURRENCY: usize = 16;

use async_trait::async_trait;
use crm_sync_store::*;

use super::DynamoStore;
use super::item::*;

impl DynamoStore {
    /// Marks one id until `now + ttl`; true if it was new (or its old mark
    /// had expired).
    async fn mark_one_seen(&self, id: String, ttl: Duration, now: DateTime<Utc>) -> StoreResult<bool> {
        let expires = clock::add(now, ttl);
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.seen_events)
            .item("pk", s(format!("EVENT#{id}")))
            .item("expires_ms", n(millis(expires)))
            .item("expires_at", n(expires.timestamp()))
            .condition_expression("attribute_not_exists(pk) OR expires_ms <= :now")
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(BACKEND, "mark event seen", e)),
        }
    }
}

#[async_trait]
impl SeenEventStore for DynamoStore {
    /// Asks the table once per distinct id, `MARK_CONCURRENCY` (16) at a time,
    /// answering repeats within the call locally (`false`), in input order.
    async fn mark_events_seen(&self, event_ids: &[String], ttl: Duration) -> StoreResult<Vec<bool>> {
        let now = self.clock.now();
        // An id repeated within the call is answered locally: only its first
        // occurrence asks the table.
        let mut first = std::collections::HashSet::new();
        let asks: Vec<Option<String>> =
            event_ids.iter().map(|id| first.insert(id.as_str()).then(|| id.clone())).collect();
        futures::stream::iter(asks)
            .map(|ask| async move {
                match ask {
                    Some(id) => self.mark_one_seen(id, ttl, now).await,
                    None => Ok(false),
                }
            })
            .buffered(MARK_CONCURRENCY)
            .try_collect()
            .await
    }
}
