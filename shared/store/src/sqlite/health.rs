//! Sync-health errors on SQLite: table `sync_errors`, keyed by the record
//! key, indexed by `last_seen` and `(category, last_seen)` for the listing.
//!
//! Recording is one upsert: attempts + 1, first seen kept, ids the new report
//! lacks kept from the stored entry.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, db_err, from_millis, millis, to_i64};
use crate::ports::{ErrorFilter, ErrorReport, ObjectPair, StoreResult, SyncHealthError, SyncHealthStore};

/// A sync-health entry from a row of [`ERROR_COLUMNS`]. An unknown pair
/// name (never written by this code) reads as `contact` rather than failing
/// the whole listing.
fn error_from_row(row: &Row<'_>) -> rusqlite::Result<SyncHealthError> {
    let pair: String = row.get(2)?;
    Ok(SyncHealthError {
        key: row.get(0)?,
        category: row.get(1)?,
        pair: ObjectPair::parse(&pair).unwrap_or(ObjectPair::Contact),
        salesforce_id: row.get(3)?,
        hubspot_id: row.get(4)?,
        message: row.get(5)?,
        attempts: row.get(6)?,
        first_seen: from_millis(row.get(7)?),
        last_seen: from_millis(row.get(8)?),
        retryable: row.get::<_, i64>(9)? != 0,
    })
}

/// The `sync_errors` columns, in the order [`error_from_row`] reads them.
const ERROR_COLUMNS: &str =
    "key, category, pair, salesforce_id, hubspot_id, message, attempts, first_seen, last_seen, retryable";

#[async_trait]
impl SyncHealthStore for SqliteStore {
    async fn record_error(&self, report: &ErrorReport) -> StoreResult<SyncHealthError> {
        let r = report.clone();
        self.run("record error", move |c, now| {
            c.execute(
                "INSERT INTO sync_errors (key, category, pair, salesforce_id, hubspot_id, message, attempts,
                     first_seen, last_seen, retryable)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?8)
                 ON CONFLICT (key) DO UPDATE SET category = excluded.category, pair = excluded.pair,
                     salesforce_id = coalesce(excluded.salesforce_id, sync_errors.salesforce_id),
                     hubspot_id = coalesce(excluded.hubspot_id, sync_errors.hubspot_id),
                     message = excluded.message, attempts = sync_errors.attempts + 1,
                     last_seen = excluded.last_seen, retryable = excluded.retryable",
                params![
                    r.key,
                    r.category,
                    r.pair.as_str(),
                    r.salesforce_id,
                    r.hubspot_id,
                    r.message,
                    millis(now),
                    i64::from(r.retryable)
                ],
            )
            .map_err(db_err("record error"))?;
            c.query_row(&format!("SELECT {ERROR_COLUMNS} FROM sync_errors WHERE key = ?1"), [&r.key], error_from_row)
                .map_err(db_err("record error"))
        })
        .await
    }

    async fn list_errors(&self, filter: &ErrorFilter) -> StoreResult<Vec<SyncHealthError>> {
        let filter = filter.clone();
        self.run("list errors", move |c, _| {
            let limit = filter.limit.map(|l| to_i64(l as u64)).unwrap_or(-1);
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {ERROR_COLUMNS} FROM sync_errors WHERE (?1 IS NULL OR category = ?1)
                     ORDER BY last_seen DESC, key DESC LIMIT ?2"
                ))
                .map_err(db_err("list errors"))?;
            let rows =
                stmt.query_map(params![filter.category, limit], error_from_row).map_err(db_err("list errors"))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_err("list errors"))
        })
        .await
    }

    async fn get_error(&self, key: &str) -> StoreResult<Option<SyncHealthError>> {
        let key = key.to_owned();
        self.run("get error", move |c, _| {
            c.query_row(&format!("SELECT {ERROR_COLUMNS} FROM sync_errors WHERE key = ?1"), [&key], error_from_row)
                .optional()
                .map_err(db_err("get error"))
        })
        .await
    }

    async fn resolve_error(&self, key: &str) -> StoreResult<bool> {
        let key = key.to_owned();
        self.run("resolve error", move |c, _| {
            let n = c.execute("DELETE FROM sync_errors WHERE key = ?1", [&key]).map_err(db_err("resolve error"))?;
            Ok(n == 1)
        })
        .await
    }
}
