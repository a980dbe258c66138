//! Seen webhook events on SQLite: table `seen_events` (`event_id`,
//! `expires_at`).
//!
//! One transaction per call: each id is an upsert that only changes a row if
//! the id is unknown or its mark has expired (one row changed: new), so an id
//! repeated within the call is new only the first time. Expired marks are
//! pruned at the end of the same transaction.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, db_err, millis};
use crate::clock;
use crate::ports::{SeenEventStore, StoreResult};

#[async_trait]
impl SeenEventStore for SqliteStore {
    async fn mark_events_seen(&self, event_ids: &[String], ttl: Duration) -> StoreResult<Vec<bool>> {
        let ids = event_ids.to_vec();
        self.run("mark events seen", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let now_ms = millis(now);
            let expires = millis(clock::add(now, ttl));
            let mut fresh = Vec::with_capacity(ids.len());
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO seen_events (event_id, expires_at) VALUES (?1, ?2)
                         ON CONFLICT (event_id) DO UPDATE SET expires_at = excluded.expires_at
                         WHERE seen_events.expires_at <= ?3",
                    )
                    .map_err(db_err("mark events seen"))?;
                for id in &ids {
                    fresh.push(stmt.execute(params![id, expires, now_ms]).map_err(db_err("mark events seen"))? == 1);
                }
            }
            tx.execute("DELETE FROM seen_events WHERE expires_at <= ?1", [now_ms])
                .map_err(db_err("prune seen events"))?;
            tx.commit().map_err(db_err("commit seen events"))?;
            Ok(fresh)
        })
        .await
    }
}
