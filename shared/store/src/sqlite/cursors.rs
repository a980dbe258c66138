//! Sweep cursors on SQLite: table `cursors`, primary key `(system, object)`.
//!
//! The first cursor is an `INSERT ... ON CONFLICT DO NOTHING`; every later
//! advance an `UPDATE ... WHERE position = <expected>`. Positions are RFC 3339
//! text with as many fraction digits as needed, so they compare exactly.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::cursor_text;
use super::{SqliteStore, db_err, from_millis, millis};
use crate::error::StoreError;
use crate::ports::{CursorStore, StoreResult, SweepCursor, System};

#[async_trait]
impl CursorStore for SqliteStore {
    async fn get_cursor(&self, system: System, object: &str) -> StoreResult<Option<SweepCursor>> {
        let object = object.to_owned();
        self.run("get cursor", move |c, _| {
            let row: Option<(String, i64, bool)> = c
                .query_row(
                    "SELECT position, updated_at, partial FROM cursors WHERE system = ?1 AND object = ?2",
                    params![system.as_str(), object],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db_err("get cursor"))?;
            row.map(|(position, updated_at, partial)| {
                let position = DateTime::parse_from_rfc3339(&position)
                    .map_err(|e| StoreError::corrupt(format!("cursor {system}/{object}"), e))?
                    .with_timezone(&Utc);
                Ok(SweepCursor {
                    system,
                    object: object.clone(),
                    position,
                    updated_at: from_millis(updated_at),
                    partial,
                })
            })
            .transpose()
        })
        .await
    }

    async fn advance_cursor(
        &self,
        system: System,
        object: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        partial: bool,
    ) -> StoreResult<()> {
        let object = object.to_owned();
        self.run("advance cursor", move |c, now| {
            let n = match expected {
                None => c.execute(
                    "INSERT INTO cursors (system, object, position, updated_at, partial) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT DO NOTHING",
                    params![system.as_str(), object, cursor_text(to), millis(now), partial],
                ),
                Some(from) => c.execute(
                    "UPDATE cursors SET position = ?3, updated_at = ?4, partial = ?6
                     WHERE system = ?1 AND object = ?2 AND position = ?5",
                    params![system.as_str(), object, cursor_text(to), millis(now), cursor_text(from), partial],
                ),
            }
            .map_err(db_err("advance cursor"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("cursor {system}/{object} moved")));
            }
            Ok(())
        })
        .await
    }
}
