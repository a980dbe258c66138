//! API usage on SQLite: table `api_usage`, one row per system and
//! five-minute bucket (`calls` added with an upsert).
//!
//! Each add also prunes the system's buckets older than two days, so the
//! table stays at a few hundred rows per system. A reservation reads the
//! rolling day and adds to it in one immediate transaction, which holds the
//! file's write lock from the read on, so two processes on one file cannot
//! both take the last calls.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params};

use super::{SqliteStore, db_err, to_i64, to_u64};
use crate::clock;
use crate::ports::{ApiUsageStore, Reservation, StoreResult, System, UsageBucket};

#[async_trait]
impl ApiUsageStore for SqliteStore {
    async fn add_api_calls(&self, system: System, calls: u64) -> StoreResult<()> {
        self.run("add api calls", move |c, now| {
            let bucket = clock::usage_bucket(now);
            c.prepare_cached(
                "INSERT INTO api_usage (system, bucket, calls) VALUES (?1, ?2, ?3)
                 ON CONFLICT (system, bucket) DO UPDATE SET calls = calls + excluded.calls",
            )
            .and_then(|mut s| s.execute(params![system.as_str(), bucket, to_i64(calls)]))
            .map_err(db_err("add api calls"))?;
            // Two days of history is plenty for a rolling day.
            c.prepare_cached("DELETE FROM api_usage WHERE system = ?1 AND bucket < ?2")
                .and_then(|mut s| s.execute(params![system.as_str(), bucket - 2 * 86_400]))
                .map_err(db_err("prune api usage"))?;
            Ok(())
        })
        .await
    }

    async fn reserve_api_calls(&self, system: System, wanted: u64, cap: u64) -> StoreResult<Reservation> {
        self.run("reserve api calls", move |c, now| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("begin"))?;
            let used = rolling_day(&tx, system, now)?;
            let granted = wanted.min(cap.saturating_sub(used));
            if granted > 0 {
                tx.prepare_cached(
                    "INSERT INTO api_usage (system, bucket, calls) VALUES (?1, ?2, ?3)
                     ON CONFLICT (system, bucket) DO UPDATE SET calls = calls + excluded.calls",
                )
                .and_then(|mut s| s.execute(params![system.as_str(), clock::usage_bucket(now), to_i64(granted)]))
                .map_err(db_err("reserve api calls"))?;
            }
            tx.commit().map_err(db_err("commit"))?;
            let bucket = DateTime::from_timestamp(clock::usage_bucket(now), 0).unwrap_or(now);
            Ok(Reservation { granted, used: used + granted, bucket })
        })
        .await
    }

    async fn release_api_calls(&self, system: System, bucket: DateTime<Utc>, calls: u64) -> StoreResult<()> {
        self.run("release api calls", move |c, _| {
            c.prepare_cached(
                "UPDATE api_usage SET calls = calls - ?3 WHERE system = ?1 AND bucket = ?2 AND calls >= ?3",
            )
            .and_then(|mut s| s.execute(params![system.as_str(), bucket.timestamp(), to_i64(calls)]))
            .map_err(db_err("release api calls"))?;
            Ok(())
        })
        .await
    }

    async fn api_calls_last_24h(&self, system: System) -> StoreResult<u64> {
        self.run("api calls", move |c, now| rolling_day(c, system, now)).await
    }

    async fn api_usage_buckets_last_24h(&self, system: System) -> StoreResult<Vec<UsageBucket>> {
        self.run("api usage buckets", move |c, now| {
            let from = clock::usage_bucket(now) - 86_400;
            let mut statement = c
                .prepare_cached(
                    "SELECT bucket, calls FROM api_usage
                     WHERE system = ?1 AND bucket >= ?2 AND bucket <= ?3 AND calls > 0 ORDER BY bucket",
                )
                .map_err(db_err("api usage buckets"))?;
            let rows = statement
                .query_map(params![system.as_str(), from, now.timestamp()], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(db_err("api usage buckets"))?;
            Ok(rows
                .into_iter()
                .filter_map(|(bucket, calls)| {
                    Some(UsageBucket { start: DateTime::from_timestamp(bucket, 0)?, calls: to_u64(calls) })
                })
                .collect())
        })
        .await
    }
}

/// The calls of `system` in the rolling day up to `now`.
fn rolling_day(c: &rusqlite::Connection, system: System, now: DateTime<Utc>) -> StoreResult<u64> {
    let from = clock::usage_bucket(now) - 86_400;
    let sum: i64 = c
        .prepare_cached(
            "SELECT coalesce(sum(calls), 0) FROM api_usage WHERE system = ?1 AND bucket >= ?2 AND bucket <= ?3",
        )
        .and_then(|mut s| s.query_row(params![system.as_str(), from, now.timestamp()], |r| r.get(0)))
        .map_err(db_err("api calls"))?;
    Ok(to_u64(sum))
}
