//! Links on SQLite: table `links`, primary key `(pair, salesforce_id)`, a
//! unique index on `(pair, hubspot_id)`.
//!
//! The two keys make both ids unique per pair, so a create is one
//! `INSERT ... ON CONFLICT DO NOTHING` (no row changed: one of the ids was
//! linked) and an update is one `UPDATE ... WHERE version = ?` that also
//! checks both ids. Batch writes run in one transaction, each write still
//! judged on its own condition.
//!
//! Batch reads are `SELECT ... WHERE pair = ? AND <id> IN (...)`, one
//! statement per [`IN_LIST_CHUNK`] ids, all in one read transaction under the
//! one connection lock: a batch sees one consistent state of the table.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use tracing::debug;

use super::link_map::LinkKeys;
use super::{SqliteStore, db_err, from_millis, millis, to_i64, to_u64};
use crate::error::StoreError;
use crate::ports::{
    CREATION_NOTE_LIFETIME, CreationNote, Link, LinkCondition, LinkPage, LinkStore, LinkWrite, ObjectPair, StoreResult,
    System,
};

/// A link's map as a row holds it: a blob of `link_map.rs`, or JSON text
/// (rows written before schema version 4).
enum StoredMap {
    Blob(Vec<u8>),
    Json(String),
}

/// A link from a row of [`LINK_COLUMNS`], with its map still in its stored
/// form: decoding it needs the key numbers and may fail with
/// [`StoreError::Corrupt`], which a row mapper cannot return, so
/// [`finish_link`] does it after.
fn link_from_row(row: &Row<'_>) -> rusqlite::Result<(Link, StoredMap)> {
    let pair: String = row.get(0)?;
    let stored = match row.get_ref(4)? {
        ValueRef::Blob(blob) => StoredMap::Blob(blob.to_vec()),
        other => StoredMap::Json(<String as FromSql>::column_result(other)?),
    };
    Ok((
        Link {
            pair: ObjectPair::parse(&pair).unwrap_or(ObjectPair::Contact),
            salesforce_id: row.get(1)?,
            hubspot_id: row.get(2)?,
            salesforce_object: row.get(3)?,
            fingerprints: Default::default(),
            version: to_u64(row.get(5)?),
            updated_at: from_millis(row.get(6)?),
        },
        stored,
    ))
}

/// Decodes the map read by [`link_from_row`], with the key numbers of the
/// file (`keys`, read again from `conn` when one is new).
fn finish_link(conn: &Connection, keys: &mut LinkKeys, (mut link, stored): (Link, StoredMap)) -> StoreResult<Link> {
    let what = || format!("fingerprints of link {}", link.salesforce_id);
    link.fingerprints = match stored {
        StoredMap::Blob(blob) => keys.decode(conn, &blob, &what)?,
        StoredMap::Json(text) => serde_json::from_str(&text).map_err(|e| StoreError::corrupt(what(), e))?,
    };
    Ok(link)
}

/// The `links` columns, in the order [`link_from_row`] reads them.
const LINK_COLUMNS: &str = "pair, salesforce_id, hubspot_id, salesforce_object, fingerprints, version, updated_at";

/// A link's map on its way to the database thread: stored already when the
/// caller's thread knew the number of every key, else the map itself, to
/// be stored there (numbering its new keys inside the write's transaction).
enum MapWrite {
    Stored(Vec<u8>),
    Map(BTreeMap<String, String>),
}

/// A link write with its map stored on the caller's thread where it can
/// be: only this goes to the database thread.
struct RowWrite {
    pair: ObjectPair,
    salesforce_id: String,
    hubspot_id: String,
    salesforce_object: String,
    fingerprints: MapWrite,
    condition: LinkCondition,
}

impl RowWrite {
    fn of(link: &Link, condition: LinkCondition, keys: &Mutex<LinkKeys>) -> Self {
        let known = keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).encode_known(&link.fingerprints);
        RowWrite {
            pair: link.pair,
            salesforce_id: link.salesforce_id.clone(),
            hubspot_id: link.hubspot_id.clone(),
            salesforce_object: link.salesforce_object.clone(),
            fingerprints: known.map_or_else(|| MapWrite::Map(link.fingerprints.clone()), MapWrite::Stored),
            condition,
        }
    }
}

/// Stores the maps the caller's thread could not (a key without a number
/// yet). Outside any transaction, so that a number given to a new key is
/// committed before a row names it: a write rolled back later must not
/// leave the store's numbers ahead of the file's.
fn store_maps(conn: &Connection, keys: &Mutex<LinkKeys>, writes: &mut [RowWrite]) -> StoreResult<()> {
    for write in writes {
        if let MapWrite::Map(map) = &write.fingerprints {
            let blob = keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).encode(conn, map)?;
            write.fingerprints = MapWrite::Stored(blob);
        }
    }
    Ok(())
}

/// One link write under its condition, on a connection or inside the caller's
/// transaction (`put_links`). Zero rows changed means the condition failed:
/// for a create, the conflict clause swallowed a duplicate of either key; for
/// an update, the version or the HubSpot id did not match.
fn write_link(tx: &Connection, link: &RowWrite, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let MapWrite::Stored(fingerprints) = &link.fingerprints else {
        return Err(StoreError::Invalid(format!("the map of link {} was not stored first", link.salesforce_id)));
    };
    match link.condition {
        LinkCondition::MustNotExist => {
            let n = tx
                .prepare_cached(
                    "INSERT INTO links (pair, salesforce_id, hubspot_id, salesforce_object, fingerprints, version, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6) ON CONFLICT DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        link.pair.as_str(),
                        link.salesforce_id,
                        link.hubspot_id,
                        link.salesforce_object,
                        fingerprints,
                        millis(now)
                    ])
                })
                .map_err(db_err("insert link"))?;
            if n == 0 {
                return Err(StoreError::condition(format!(
                    "{} link for salesforce {} or hubspot {} already exists",
                    link.pair, link.salesforce_id, link.hubspot_id
                )));
            }
            Ok(1)
        }
        LinkCondition::VersionIs(expected) => {
            let n = tx
                .prepare_cached(
                    "UPDATE links SET salesforce_object = ?4, fingerprints = ?5, version = version + 1, updated_at = ?6
                     WHERE pair = ?1 AND salesforce_id = ?2 AND hubspot_id = ?3 AND version = ?7",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        link.pair.as_str(),
                        link.salesforce_id,
                        link.hubspot_id,
                        link.salesforce_object,
                        fingerprints,
                        millis(now),
                        to_i64(expected)
                    ])
                })
                .map_err(db_err("update link"))?;
            if n == 0 {
                return Err(StoreError::condition(format!(
                    "{} link {} is not at version {expected} with hubspot {}",
                    link.pair, link.salesforce_id, link.hubspot_id
                )));
            }
            Ok(expected + 1)
        }
    }
}

/// Most ids bound in one `IN (...)` list of a batch read. SQLite allows far
/// more variables per statement; smaller lists keep the statements few and
/// cacheable (at most two shapes per column: full chunks and the remainder).
const IN_LIST_CHUNK: usize = 500;

/// The id column a batch read matches on.
#[derive(Debug, Clone, Copy)]
enum IdColumn {
    Salesforce,
    HubSpot,
}

impl IdColumn {
    fn name(self) -> &'static str {
        match self {
            IdColumn::Salesforce => "salesforce_id",
            IdColumn::HubSpot => "hubspot_id",
        }
    }

    /// The table with the index a batch read by this column must use:
    /// without statistics, SQLite's planner reads `pair = ? AND hubspot_id
    /// IN (...)` through the primary key's `pair` prefix, every link of
    /// the pair per call, which grows with the links.
    fn table(self) -> &'static str {
        match self {
            IdColumn::Salesforce => "links",
            IdColumn::HubSpot => "links INDEXED BY links_by_hubspot",
        }
    }

    fn of(self, link: &Link) -> &str {
        match self {
            IdColumn::Salesforce => &link.salesforce_id,
            IdColumn::HubSpot => &link.hubspot_id,
        }
    }
}

/// The batch read of `n` links by `column`: the pair, then the ids.
fn batch_read(column: IdColumn, n: usize) -> String {
    let placeholders = vec!["?"; n].join(", ");
    format!("SELECT {LINK_COLUMNS} FROM {} WHERE pair = ? AND {} IN ({placeholders})", column.table(), column.name())
}

/// `ids` without repeats, in order of first occurrence.
fn unique_ids(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().filter(|id| seen.insert(id.as_str())).cloned().collect()
}

impl SqliteStore {
    /// The links of `ids` by `column`, in order of the ids' first occurrence.
    async fn get_links_by(&self, pair: ObjectPair, column: IdColumn, ids: &[String]) -> StoreResult<Vec<Link>> {
        let ids = unique_ids(ids);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys = Arc::clone(&self.link_keys);
        self.run("get links", move |c, _| {
            let mut keys = keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut read = |c: &Connection| -> StoreResult<HashMap<String, Link>> {
                let mut found: HashMap<String, Link> = HashMap::with_capacity(ids.len());
                for chunk in ids.chunks(IN_LIST_CHUNK) {
                    let mut stmt = c.prepare_cached(&batch_read(column, chunk.len())).map_err(db_err("get links"))?;
                    let values = std::iter::once(pair.as_str()).chain(chunk.iter().map(String::as_str));
                    let rows = stmt.query_map(params_from_iter(values), link_from_row).map_err(db_err("get links"))?;
                    for row in rows {
                        let link = finish_link(c, &mut keys, row.map_err(db_err("get links"))?)?;
                        found.insert(column.of(&link).to_owned(), link);
                    }
                }
                Ok(found)
            };
            // One statement reads one snapshot by itself; several share a
            // transaction so that they read the same one.
            let mut found = if ids.len() > IN_LIST_CHUNK {
                let tx = c.transaction().map_err(db_err("begin"))?;
                let found = read(&tx)?;
                tx.commit().map_err(db_err("end get links"))?;
                found
            } else {
                read(c)?
            };
            Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
        })
        .await
    }
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn get_link_by_salesforce(&self, pair: ObjectPair, salesforce_id: &str) -> StoreResult<Option<Link>> {
        let id = salesforce_id.to_owned();
        let keys = Arc::clone(&self.link_keys);
        self.run("get link", move |c, _| {
            c.prepare_cached(&format!("SELECT {LINK_COLUMNS} FROM links WHERE pair = ?1 AND salesforce_id = ?2"))
                .and_then(|mut s| s.query_row(params![pair.as_str(), id], link_from_row).optional())
                .map_err(db_err("get link"))?
                .map(|row| finish_link(c, &mut keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner()), row))
                .transpose()
        })
        .await
    }

    async fn get_link_by_hubspot(&self, pair: ObjectPair, hubspot_id: &str) -> StoreResult<Option<Link>> {
        let id = hubspot_id.to_owned();
        let keys = Arc::clone(&self.link_keys);
        self.run("get link", move |c, _| {
            c.prepare_cached(&format!("SELECT {LINK_COLUMNS} FROM links WHERE pair = ?1 AND hubspot_id = ?2"))
                .and_then(|mut s| s.query_row(params![pair.as_str(), id], link_from_row).optional())
                .map_err(db_err("get link"))?
                .map(|row| finish_link(c, &mut keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner()), row))
                .transpose()
        })
        .await
    }

    async fn get_links_by_salesforce_ids(&self, pair: ObjectPair, ids: &[String]) -> StoreResult<Vec<Link>> {
        self.get_links_by(pair, IdColumn::Salesforce, ids).await
    }

    async fn get_links_by_hubspot_ids(&self, pair: ObjectPair, ids: &[String]) -> StoreResult<Vec<Link>> {
        self.get_links_by(pair, IdColumn::HubSpot, ids).await
    }

    async fn put_link(&self, link: &Link, condition: LinkCondition) -> StoreResult<u64> {
        let mut write = RowWrite::of(link, condition, &self.link_keys);
        let keys = Arc::clone(&self.link_keys);
        self.run("put link", move |c, now| {
            store_maps(c, &keys, std::slice::from_mut(&mut write))?;
            write_link(c, &write, now)
        })
        .await
    }

    async fn put_links(&self, writes: &[LinkWrite]) -> StoreResult<Vec<StoreResult<u64>>> {
        let mut writes: Vec<RowWrite> =
            writes.iter().map(|w| RowWrite::of(&w.link, w.condition, &self.link_keys)).collect();
        let keys = Arc::clone(&self.link_keys);
        self.run("put links", move |c, now| {
            store_maps(c, &keys, &mut writes)?;
            let tx = c.transaction().map_err(db_err("begin"))?;
            let mut results = Vec::with_capacity(writes.len());
            for w in &writes {
                match write_link(&tx, w, now) {
                    Err(e @ StoreError::Backend { .. }) => return Err(e),
                    other => results.push(other),
                }
            }
            tx.commit().map_err(db_err("commit links"))?;
            debug!(links = writes.len(), "LinksWritten");
            Ok(results)
        })
        .await
    }

    async fn delete_link(&self, pair: ObjectPair, salesforce_id: &str, expected_version: u64) -> StoreResult<bool> {
        let id = salesforce_id.to_owned();
        self.run("delete link", move |c, _| {
            let version: Option<i64> = c
                .query_row(
                    "SELECT version FROM links WHERE pair = ?1 AND salesforce_id = ?2",
                    params![pair.as_str(), id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err("delete link"))?;
            match version {
                None => Ok(false),
                Some(v) if to_u64(v) != expected_version => {
                    Err(StoreError::condition(format!("{pair} link {id} is at version {v}, not {expected_version}")))
                }
                Some(_) => {
                    c.execute("DELETE FROM links WHERE pair = ?1 AND salesforce_id = ?2", params![pair.as_str(), id])
                        .map_err(db_err("delete link"))?;
                    Ok(true)
                }
            }
        })
        .await
    }

    async fn list_links(&self, pair: ObjectPair, after: Option<&str>, limit: usize) -> StoreResult<LinkPage> {
        let after = after.unwrap_or("").to_owned();
        let limit = limit.max(1);
        let keys = Arc::clone(&self.link_keys);
        self.run("list links", move |c, _| {
            let mut keys = keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {LINK_COLUMNS} FROM links WHERE pair = ?1 AND salesforce_id > ?2 ORDER BY salesforce_id LIMIT ?3"
                ))
                .map_err(db_err("list links"))?;
            let rows = stmt
                .query_map(params![pair.as_str(), after, to_i64(limit as u64)], link_from_row)
                .map_err(db_err("list links"))?;
            let mut links = Vec::new();
            for row in rows {
                links.push(finish_link(c, &mut keys, row.map_err(db_err("list links"))?)?);
            }
            let next = if links.len() == limit { links.last().map(|l| l.salesforce_id.clone()) } else { None };
            Ok(LinkPage { links, next })
        })
        .await
    }

    async fn put_creation_notes(&self, notes: &[CreationNote]) -> StoreResult<()> {
        if notes.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(notes.len());
        for note in notes {
            let fingerprints = serde_json::to_string(&note.fingerprints)
                .map_err(|e| StoreError::Invalid(format!("fingerprints not serialisable: {e}")))?;
            rows.push((note.pair, note.source, note.source_id.clone(), note.target_key.clone(), fingerprints));
        }
        self.run("put creation notes", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO creation_notes \
                         (pair, source, source_id, target_key, fingerprints, written_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(db_err("put creation notes"))?;
                for (pair, source, id, key, fingerprints) in &rows {
                    stmt.execute(params![pair.as_str(), source.as_str(), id, key, fingerprints, millis(now)])
                        .map_err(db_err("put creation notes"))?;
                }
                // Notes past their lifetime are never answered again.
                let oldest = millis(now) - to_i64(CREATION_NOTE_LIFETIME.as_millis() as u64);
                tx.execute("DELETE FROM creation_notes WHERE written_at < ?1", params![oldest])
                    .map_err(db_err("put creation notes"))?;
            }
            tx.commit().map_err(db_err("commit creation notes"))
        })
        .await
    }

    async fn get_creation_notes(
        &self,
        pair: ObjectPair,
        sources: &[(System, String)],
    ) -> StoreResult<Vec<CreationNote>> {
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let sources = sources.to_vec();
        self.run("get creation notes", move |c, now| {
            let oldest = millis(now) - to_i64(CREATION_NOTE_LIFETIME.as_millis() as u64);
            let mut stmt = c
                .prepare_cached(
                    "SELECT target_key, fingerprints, written_at FROM creation_notes \
                     WHERE pair = ?1 AND source = ?2 AND source_id = ?3 AND written_at >= ?4",
                )
                .map_err(db_err("get creation notes"))?;
            let mut notes = Vec::new();
            for (source, id) in sources {
                let row = stmt
                    .query_row(params![pair.as_str(), source.as_str(), id, oldest], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                    })
                    .optional()
                    .map_err(db_err("get creation notes"))?;
                let Some((target_key, fingerprints, written_at)) = row else { continue };
                let fingerprints = serde_json::from_str(&fingerprints)
                    .map_err(|e| StoreError::corrupt(format!("fingerprints of the creation note of {id}"), e))?;
                notes.push(CreationNote {
                    pair,
                    source,
                    source_id: id,
                    target_key,
                    fingerprints,
                    written_at: from_millis(written_at),
                });
            }
            Ok(notes)
        })
        .await
    }

    async fn delete_creation_notes(&self, pair: ObjectPair, sources: &[(System, String)]) -> StoreResult<()> {
        if sources.is_empty() {
            return Ok(());
        }
        let sources = sources.to_vec();
        self.run("delete creation notes", move |c, _| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            {
                let mut stmt = tx
                    .prepare_cached("DELETE FROM creation_notes WHERE pair = ?1 AND source = ?2 AND source_id = ?3")
                    .map_err(db_err("delete creation notes"))?;
                for (source, id) in &sources {
                    stmt.execute(params![pair.as_str(), source.as_str(), id])
                        .map_err(db_err("delete creation notes"))?;
                }
            }
            tx.commit().map_err(db_err("commit creation notes"))
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A batch read looks each id up in its own index; reading every link
    /// of the pair instead made each webhook delivery's echo check cost
    /// time in proportion to all the links stored.
    #[test]
    fn a_batch_read_by_either_id_searches_that_ids_index() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::SCHEMA).unwrap();
        for (column, wanted) in [
            (IdColumn::Salesforce, "INDEX sqlite_autoindex_links_1 (pair=? AND salesforce_id=?)"),
            (IdColumn::HubSpot, "INDEX links_by_hubspot (pair=? AND hubspot_id=?)"),
        ] {
            let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", batch_read(column, 3))).unwrap();
            let steps: Vec<String> = plan
                .query_map(params_from_iter(["contact", "1", "2", "3"]), |row| row.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(steps.iter().any(|s| s.contains(wanted)), "{column:?}: {steps:?}");
            assert!(!steps.iter().any(|s| s.starts_with("SCAN")), "{column:?}: {steps:?}");
        }
    }
}
