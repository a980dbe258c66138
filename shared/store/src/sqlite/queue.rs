//! The embedded [`Queue`]: table `queue_messages`, in the same file as the
//! state, one row per message of every named queue.
//!
//! SQS's semantics as columns: `visible_at` is the visibility timeout (and the
//! send delay), `receive_count` counts receives, `receipt` is the handle of
//! the current receive (a fresh one each time, so a stale handle deletes
//! nothing), `dead` marks a dead letter. A receive runs in one transaction:
//! it picks visible messages in order, dead-letters those already received
//! `max_receive_count` times, and hides the rest for the visibility timeout.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;
use tracing::debug;

use super::{SqliteQueue, db_err, millis, to_i64, to_u64};
use crate::clock;
use crate::error::StoreError;
use crate::ports::{OutgoingMessage, Queue, QueueDepth, ReceivedMessage, StoreResult};

/// A fresh message id or receipt handle (random UUID).
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[async_trait]
impl Queue for SqliteQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> StoreResult<Vec<String>> {
        let messages = messages.to_vec();
        let queue = self.name.clone();
        self.store
            .run("send", move |c, now| {
                let tx = c.transaction().map_err(db_err("begin"))?;
                let mut ids = Vec::with_capacity(messages.len());
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "INSERT INTO queue_messages (queue, id, body, visible_at, receive_count, receipt, dead)
                             VALUES (?1, ?2, ?3, ?4, 0, NULL, 0)",
                        )
                        .map_err(db_err("send"))?;
                    for m in &messages {
                        let id = new_id();
                        let visible_at = millis(clock::add(now, m.delay.unwrap_or_default()));
                        stmt.execute(params![queue, id, m.body, visible_at]).map_err(db_err("send"))?;
                        ids.push(id);
                    }
                }
                tx.commit().map_err(db_err("commit send"))?;
                Ok(ids)
            })
            .await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> StoreResult<Vec<ReceivedMessage>> {
        let queue = self.name.clone();
        let max_receives = i64::from(self.settings.max_receive_count);
        let max = to_i64(max as u64);
        self.store
            .run("receive", move |c, now| {
                let tx = c.transaction().map_err(db_err("begin"))?;
                let now_ms = millis(now);
                let hidden_until = millis(clock::add(now, visibility));
                let mut out = Vec::new();
                loop {
                    let want = max - to_i64(out.len() as u64);
                    if want <= 0 {
                        break;
                    }
                    let candidates: Vec<(i64, String, String, i64)> = {
                        let mut stmt = tx
                            .prepare_cached(
                                "SELECT seq, id, body, receive_count FROM queue_messages
                                 WHERE queue = ?1 AND dead = 0 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
                            )
                            .map_err(db_err("receive"))?;
                        let rows = stmt
                            .query_map(params![queue, now_ms, want], |r| {
                                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                            })
                            .map_err(db_err("receive"))?;
                        rows.collect::<Result<_, _>>().map_err(db_err("receive"))?
                    };
                    if candidates.is_empty() {
                        break;
                    }
                    for (seq, id, body, count) in candidates {
                        if count >= max_receives {
                            tx.prepare_cached("UPDATE queue_messages SET dead = 1, receipt = NULL WHERE seq = ?1")
                                .and_then(|mut s| s.execute([seq]))
                                .map_err(db_err("redrive"))?;
                            debug!(queue = %queue, message_id = %id, "MessageDeadLettered");
                            continue;
                        }
                        let receipt = new_id();
                        tx.prepare_cached(
                            "UPDATE queue_messages SET receive_count = receive_count + 1, receipt = ?2, visible_at = ?3
                             WHERE seq = ?1",
                        )
                        .and_then(|mut s| s.execute(params![seq, receipt, hidden_until]))
                        .map_err(db_err("receive"))?;
                        out.push(ReceivedMessage {
                            id,
                            receipt_handle: receipt,
                            body,
                            receive_count: u32::try_from(count + 1).unwrap_or(u32::MAX),
                        });
                    }
                }
                tx.commit().map_err(db_err("commit receive"))?;
                Ok(out)
            })
            .await
    }

    async fn delete(&self, receipt_handle: &str) -> StoreResult<()> {
        self.delete_batch(&[receipt_handle.to_owned()]).await
    }

    async fn delete_batch(&self, receipt_handles: &[String]) -> StoreResult<()> {
        let queue = self.name.clone();
        let receipts = receipt_handles.to_vec();
        self.store
            .run("delete", move |c, _| {
                let tx = c.transaction().map_err(db_err("begin"))?;
                {
                    let mut stmt = tx
                        .prepare_cached("DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2")
                        .map_err(db_err("delete"))?;
                    for r in &receipts {
                        stmt.execute(params![queue, r]).map_err(db_err("delete"))?;
                    }
                }
                tx.commit().map_err(db_err("commit delete"))
            })
            .await
    }

    async fn change_visibility(&self, receipt_handle: &str, timeout: Duration) -> StoreResult<()> {
        let queue = self.name.clone();
        let receipt = receipt_handle.to_owned();
        self.store
            .run("change visibility", move |c, now| {
                let n = c
                    .execute(
                        "UPDATE queue_messages SET visible_at = ?3 WHERE queue = ?1 AND receipt = ?2 AND dead = 0",
                        params![queue, receipt, millis(clock::add(now, timeout))],
                    )
                    .map_err(db_err("change visibility"))?;
                if n == 0 {
                    return Err(StoreError::not_found(format!("message with that receipt in {queue}")));
                }
                Ok(())
            })
            .await
    }

    async fn depth(&self) -> StoreResult<QueueDepth> {
        let queue = self.name.clone();
        self.store
            .run("depth", move |c, now| {
                c.query_row(
                    "SELECT coalesce(sum(dead = 0 AND visible_at <= ?2), 0),
                            coalesce(sum(dead = 0 AND visible_at > ?2), 0),
                            coalesce(sum(dead = 1), 0)
                     FROM queue_messages WHERE queue = ?1",
                    params![queue, millis(now)],
                    |r| {
                        Ok(QueueDepth {
                            visible: to_u64(r.get(0)?),
                            in_flight: to_u64(r.get(1)?),
                            dead: to_u64(r.get(2)?),
                        })
                    },
                )
                .map_err(db_err("depth"))
            })
            .await
    }

    async fn list_dead_letters(&self, max: usize) -> StoreResult<Vec<ReceivedMessage>> {
        let queue = self.name.clone();
        self.store
            .run("list dead letters", move |c, _| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT id, body, receive_count FROM queue_messages WHERE queue = ?1 AND dead = 1
                         ORDER BY seq LIMIT ?2",
                    )
                    .map_err(db_err("list dead letters"))?;
                let rows = stmt
                    .query_map(params![queue, to_i64(max as u64)], |r| {
                        Ok(ReceivedMessage {
                            id: r.get(0)?,
                            receipt_handle: String::new(),
                            body: r.get(1)?,
                            receive_count: r.get(2)?,
                        })
                    })
                    .map_err(db_err("list dead letters"))?;
                rows.collect::<Result<_, _>>().map_err(db_err("list dead letters"))
            })
            .await
    }

    async fn replay_dead_letters(&self, max: usize) -> StoreResult<usize> {
        let queue = self.name.clone();
        self.store
            .run("replay dead letters", move |c, now| {
                let n = c
                    .execute(
                        "UPDATE queue_messages SET dead = 0, receive_count = 0, receipt = NULL, visible_at = ?3
                         WHERE seq IN (SELECT seq FROM queue_messages WHERE queue = ?1 AND dead = 1 ORDER BY seq LIMIT ?2)",
                        params![queue, to_i64(max as u64), millis(now)],
                    )
                    .map_err(db_err("replay dead letters"))?;
                Ok(n)
            })
            .await
    }

    async fn replay_dead_letters_by_id(&self, ids: &[String]) -> StoreResult<usize> {
        let queue = self.name.clone();
        let ids = ids.to_vec();
        self.store
            .run("replay dead letters by id", move |c, now| {
                let tx = c.transaction().map_err(db_err("begin"))?;
                let mut moved = 0;
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "UPDATE queue_messages SET dead = 0, receive_count = 0, receipt = NULL, visible_at = ?3
                             WHERE queue = ?1 AND id = ?2 AND dead = 1",
                        )
                        .map_err(db_err("replay dead letters by id"))?;
                    for id in &ids {
                        moved += stmt.execute(params![queue, id, millis(now)]).map_err(db_err("replay dead letter"))?;
                    }
                }
                tx.commit().map_err(db_err("commit replay"))?;
                Ok(moved)
            })
            .await
    }
}
