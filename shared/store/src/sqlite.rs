//! The embedded adapter: [`StateStore`] and [`Queue`] over one SQLite file.
//!
//! Owns the schema and the SQL; keeps DynamoDB's conditional-write and SQS's
//! visibility/receive-count/redrive semantics with single statements or
//! transactions. One connection behind a mutex, used only from
//! `spawn_blocking`, so the async runtime never waits on disk. Times are
//! stored as Unix milliseconds (cursor positions as RFC 3339 text, exact).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use tracing::debug;

use crate::clock::{self, Clock};
use crate::error::StoreError;
use crate::ports::*;

const BACKEND: &str = "sqlite";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS links (
    pair TEXT NOT NULL,
    salesforce_id TEXT NOT NULL,
    hubspot_id TEXT NOT NULL,
    salesforce_object TEXT NOT NULL,
    fingerprints TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (pair, salesforce_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS links_by_hubspot ON links (pair, hubspot_id);

CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_by_expiry ON claims (expires_at);

CREATE TABLE IF NOT EXISTS cursors (
    system TEXT NOT NULL,
    object TEXT NOT NULL,
    position TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    partial INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (system, object)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS import_jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    chunks_total INTEGER NOT NULL,
    chunks_done INTEGER NOT NULL,
    read INTEGER NOT NULL,
    queued INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS import_chunks (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT,
    lease_until INTEGER,
    checkpoint TEXT,
    read INTEGER NOT NULL,
    queued INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS sync_errors (
    key TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    pair TEXT NOT NULL,
    salesforce_id TEXT,
    hubspot_id TEXT,
    message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    retryable INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sync_errors_by_last_seen ON sync_errors (last_seen);
CREATE INDEX IF NOT EXISTS sync_errors_by_category ON sync_errors (category, last_seen);

CREATE TABLE IF NOT EXISTS api_usage (
    system TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (system, bucket)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS seen_events (
    event_id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_events_by_expiry ON seen_events (expires_at);

CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    receipt TEXT,
    dead INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (queue, dead, visible_at, seq);
CREATE UNIQUE INDEX IF NOT EXISTS queue_by_receipt ON queue_messages (receipt);
"#;

fn db_err(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::backend(BACKEND, operation, e)
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn cursor_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The embedded state store. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("clock", &self.clock).finish_non_exhaustive()
    }
}

/// Brings a state file written by an earlier version up to [`SCHEMA`].
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let has_partial = conn
        .prepare("SELECT 1 FROM pragma_table_info('cursors') WHERE name = 'partial'")
        .and_then(|mut s| s.exists([]))
        .map_err(db_err("read the cursors table"))?;
    if !has_partial {
        conn.execute_batch("ALTER TABLE cursors ADD COLUMN partial INTEGER NOT NULL DEFAULT 0")
            .map_err(db_err("add cursors.partial"))?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) the durable store file, in WAL mode.
    pub fn open(path: impl AsRef<std::path::Path>, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let conn = Connection::open(path.as_ref()).map_err(db_err("open"))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err("set WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err("set synchronous"))?;
        Self::init(conn, clock)
    }

    /// A store that lives in memory only (tests).
    pub fn open_in_memory(clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(db_err("open"))?;
        Self::init(conn, clock)
    }

    fn init(conn: Connection, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10)).map_err(db_err("set busy timeout"))?;
        conn.execute_batch(SCHEMA).map_err(db_err("create schema"))?;
        migrate(&conn)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), clock })
    }

    /// A queue stored in the same file.
    pub fn queue(&self, name: &str, settings: QueueSettings) -> SqliteQueue {
        SqliteQueue { store: self.clone(), name: name.to_owned(), settings }
    }

    /// Runs `f` on the connection off the async runtime.
    async fn run<T, F>(&self, operation: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, DateTime<Utc>) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard, now)
        })
        .await
        .map_err(|e| StoreError::backend(BACKEND, operation, e))?
    }
}

fn link_from_row(row: &Row<'_>) -> rusqlite::Result<(Link, String)> {
    let pair: String = row.get(0)?;
    let fingerprints: String = row.get(4)?;
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
        fingerprints,
    ))
}

fn finish_link((mut link, fingerprints): (Link, String)) -> Result<Link, StoreError> {
    link.fingerprints = serde_json::from_str(&fingerprints)
        .map_err(|e| StoreError::corrupt(format!("fingerprints of link {}", link.salesforce_id), e))?;
    Ok(link)
}

const LINK_COLUMNS: &str = "pair, salesforce_id, hubspot_id, salesforce_object, fingerprints, version, updated_at";

fn write_link(tx: &Connection, w: &LinkWrite, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let link = &w.link;
    let fingerprints = serde_json::to_string(&link.fingerprints)
        .map_err(|e| StoreError::Invalid(format!("fingerprints not serialisable: {e}")))?;
    match w.condition {
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

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<(ImportJob, String)> {
    let status: String = row.get(1)?;
    Ok((
        ImportJob {
            id: row.get(0)?,
            status: JobStatus::parse(&status).unwrap_or(JobStatus::Failed),
            spec: serde_json::Value::Null,
            chunks_total: row.get(3)?,
            chunks_done: row.get(4)?,
            counts: ChunkCounts { read: to_u64(row.get(5)?), queued: to_u64(row.get(6)?), failed: to_u64(row.get(7)?) },
            created_at: from_millis(row.get(8)?),
            updated_at: from_millis(row.get(9)?),
        },
        row.get(2)?,
    ))
}

fn finish_job((mut job, spec): (ImportJob, String)) -> Result<ImportJob, StoreError> {
    job.spec = serde_json::from_str(&spec).map_err(|e| StoreError::corrupt(format!("spec of job {}", job.id), e))?;
    Ok(job)
}

const JOB_COLUMNS: &str = "id, status, spec, chunks_total, chunks_done, read, queued, failed, created_at, updated_at";

fn load_job(conn: &Connection, id: &str) -> Result<Option<ImportJob>, StoreError> {
    conn.query_row(&format!("SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = ?1"), [id], job_from_row)
        .optional()
        .map_err(db_err("get import job"))?
        .map(finish_job)
        .transpose()
}

fn chunk_from_row(row: &Row<'_>) -> rusqlite::Result<(ImportChunk, String)> {
    let status: String = row.get(3)?;
    let lease: Option<i64> = row.get(5)?;
    Ok((
        ImportChunk {
            job_id: row.get(0)?,
            index: row.get(1)?,
            spec: serde_json::Value::Null,
            status: ChunkStatus::parse(&status).unwrap_or(ChunkStatus::Failed),
            owner: row.get(4)?,
            lease_until: lease.map(from_millis),
            checkpoint: row.get(6)?,
            counts: ChunkCounts { read: to_u64(row.get(7)?), queued: to_u64(row.get(8)?), failed: to_u64(row.get(9)?) },
            attempts: row.get(10)?,
            error: row.get(11)?,
            updated_at: from_millis(row.get(12)?),
        },
        row.get(2)?,
    ))
}

fn finish_chunk((mut chunk, spec): (ImportChunk, String)) -> Result<ImportChunk, StoreError> {
    chunk.spec = serde_json::from_str(&spec)
        .map_err(|e| StoreError::corrupt(format!("spec of chunk {}/{}", chunk.job_id, chunk.index), e))?;
    Ok(chunk)
}

const CHUNK_COLUMNS: &str =
    "job_id, idx, spec, status, owner, lease_until, checkpoint, read, queued, failed, attempts, error, updated_at";

fn load_chunk(conn: &Connection, job_id: &str, index: u32) -> Result<Option<ImportChunk>, StoreError> {
    conn.query_row(
        &format!("SELECT {CHUNK_COLUMNS} FROM import_chunks WHERE job_id = ?1 AND idx = ?2"),
        params![job_id, index],
        chunk_from_row,
    )
    .optional()
    .map_err(db_err("get chunk"))?
    .map(finish_chunk)
    .transpose()
}

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

const ERROR_COLUMNS: &str =
    "key, category, pair, salesforce_id, hubspot_id, message, attempts, first_seen, last_seen, retryable";

#[async_trait]
impl StateStore for SqliteStore {
    async fn get_link_by_salesforce(&self, pair: ObjectPair, salesforce_id: &str) -> StoreResult<Option<Link>> {
        let id = salesforce_id.to_owned();
        self.run("get link", move |c, _| {
            c.prepare_cached(&format!("SELECT {LINK_COLUMNS} FROM links WHERE pair = ?1 AND salesforce_id = ?2"))
                .and_then(|mut s| s.query_row(params![pair.as_str(), id], link_from_row).optional())
                .map_err(db_err("get link"))?
                .map(finish_link)
                .transpose()
        })
        .await
    }

    async fn get_link_by_hubspot(&self, pair: ObjectPair, hubspot_id: &str) -> StoreResult<Option<Link>> {
        let id = hubspot_id.to_owned();
        self.run("get link", move |c, _| {
            c.prepare_cached(&format!("SELECT {LINK_COLUMNS} FROM links WHERE pair = ?1 AND hubspot_id = ?2"))
                .and_then(|mut s| s.query_row(params![pair.as_str(), id], link_from_row).optional())
                .map_err(db_err("get link"))?
                .map(finish_link)
                .transpose()
        })
        .await
    }

    async fn put_link(&self, link: &Link, condition: LinkCondition) -> StoreResult<u64> {
        let write = LinkWrite { link: link.clone(), condition };
        self.run("put link", move |c, now| write_link(c, &write, now)).await
    }

    async fn put_links(&self, writes: &[LinkWrite]) -> StoreResult<Vec<StoreResult<u64>>> {
        let writes = writes.to_vec();
        self.run("put links", move |c, now| {
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
        self.run("list links", move |c, _| {
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
                links.push(finish_link(row.map_err(db_err("list links"))?)?);
            }
            let next = if links.len() == limit { links.last().map(|l| l.salesforce_id.clone()) } else { None };
            Ok(LinkPage { links, next })
        })
        .await
    }

    async fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreResult<Claim> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.run("claim", move |c, now| {
            let expires = millis(clock::add(now, ttl));
            let n = c
                .execute(
                    "INSERT INTO claims (key, owner, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                     WHERE claims.expires_at <= ?4 OR claims.owner = excluded.owner",
                    params![key, owner, expires, millis(now)],
                )
                .map_err(db_err("claim"))?;
            if n == 1 {
                c.prepare_cached("DELETE FROM claims WHERE expires_at <= ?1")
                    .and_then(|mut s| s.execute([millis(now)]))
                    .map_err(db_err("prune claims"))?;
                return Ok(Claim::Acquired);
            }
            let (owner, expires_at): (String, i64) = c
                .query_row("SELECT owner, expires_at FROM claims WHERE key = ?1", [&key], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db_err("claim"))?;
            Ok(Claim::HeldBy { owner, expires_at: from_millis(expires_at) })
        })
        .await
    }

    async fn release_claim(&self, key: &str, owner: &str) -> StoreResult<bool> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.run("release claim", move |c, now| {
            let n = c
                .execute(
                    "DELETE FROM claims WHERE key = ?1 AND owner = ?2 AND expires_at > ?3",
                    params![key, owner, millis(now)],
                )
                .map_err(db_err("release claim"))?;
            c.execute("DELETE FROM claims WHERE expires_at <= ?1", [millis(now)]).map_err(db_err("prune claims"))?;
            Ok(n == 1)
        })
        .await
    }

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

    async fn create_import_job(
        &self,
        id: &str,
        spec: &serde_json::Value,
        chunks: &[NewChunk],
    ) -> StoreResult<ImportJob> {
        let id = id.to_owned();
        let spec = spec.to_string();
        let chunks = chunks.to_vec();
        self.run("create import job", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let total = u32::try_from(chunks.len()).map_err(|_| StoreError::Invalid("too many chunks".into()))?;
            let n = tx
                .execute(
                    "INSERT INTO import_jobs (id, status, spec, chunks_total, chunks_done, read, queued, failed, created_at, updated_at)
                     VALUES (?1, 'planned', ?2, ?3, 0, 0, 0, 0, ?4, ?4) ON CONFLICT DO NOTHING",
                    params![id, spec, total, millis(now)],
                )
                .map_err(db_err("create import job"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("import job {id} exists")));
            }
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO import_chunks (job_id, idx, spec, status, read, queued, failed, attempts, updated_at)
                         VALUES (?1, ?2, ?3, 'pending', 0, 0, 0, 0, ?4)",
                    )
                    .map_err(db_err("create chunks"))?;
                for chunk in &chunks {
                    stmt.execute(params![id, chunk.index, chunk.spec.to_string(), millis(now)])
                        .map_err(db_err("create chunks"))?;
                }
            }
            let job = load_job(&tx, &id)?.ok_or_else(|| StoreError::not_found(format!("import job {id}")))?;
            tx.commit().map_err(db_err("commit import job"))?;
            Ok(job)
        })
        .await
    }

    async fn get_import_job(&self, id: &str) -> StoreResult<Option<ImportJob>> {
        let id = id.to_owned();
        self.run("get import job", move |c, _| load_job(c, &id)).await
    }

    async fn list_import_jobs(&self) -> StoreResult<Vec<ImportJob>> {
        self.run("list import jobs", move |c, _| {
            let mut stmt = c
                .prepare(&format!("SELECT {JOB_COLUMNS} FROM import_jobs ORDER BY created_at DESC, id DESC"))
                .map_err(db_err("list import jobs"))?;
            let rows = stmt.query_map([], job_from_row).map_err(db_err("list import jobs"))?;
            let mut jobs = Vec::new();
            for row in rows {
                jobs.push(finish_job(row.map_err(db_err("list import jobs"))?)?);
            }
            Ok(jobs)
        })
        .await
    }

    async fn set_import_job_status(&self, id: &str, status: JobStatus) -> StoreResult<()> {
        let id = id.to_owned();
        self.run("set import job status", move |c, now| {
            let n = c
                .execute(
                    "UPDATE import_jobs SET status = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, status.as_str(), millis(now)],
                )
                .map_err(db_err("set import job status"))?;
            if n == 0 {
                return Err(StoreError::not_found(format!("import job {id}")));
            }
            Ok(())
        })
        .await
    }

    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<ImportChunk>> {
        let job_id = job_id.to_owned();
        self.run("list chunks", move |c, _| {
            let mut stmt = c
                .prepare_cached(&format!("SELECT {CHUNK_COLUMNS} FROM import_chunks WHERE job_id = ?1 ORDER BY idx"))
                .map_err(db_err("list chunks"))?;
            let rows = stmt.query_map([&job_id], chunk_from_row).map_err(db_err("list chunks"))?;
            let mut chunks = Vec::new();
            for row in rows {
                chunks.push(finish_chunk(row.map_err(db_err("list chunks"))?)?);
            }
            Ok(chunks)
        })
        .await
    }

    async fn claim_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<ImportChunk>> {
        let (job_id, owner) = (job_id.to_owned(), owner.to_owned());
        self.run("claim chunk", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let n = tx
                .execute(
                    "UPDATE import_chunks SET status = 'running', owner = ?3, lease_until = ?4,
                         attempts = attempts + 1, updated_at = ?5
                     WHERE job_id = ?1 AND idx = ?2
                       AND (status = 'pending' OR (status = 'running' AND (lease_until <= ?5 OR owner = ?3)))",
                    params![job_id, index, owner, millis(clock::add(now, lease)), millis(now)],
                )
                .map_err(db_err("claim chunk"))?;
            if n == 0 {
                return Ok(None);
            }
            tx.execute(
                "UPDATE import_jobs SET status = 'running', updated_at = ?2 WHERE id = ?1 AND status = 'planned'",
                params![job_id, millis(now)],
            )
            .map_err(db_err("claim chunk"))?;
            let chunk = load_chunk(&tx, &job_id, index)?;
            tx.commit().map_err(db_err("commit chunk claim"))?;
            Ok(chunk)
        })
        .await
    }

    async fn checkpoint_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        checkpoint: &str,
        counts: ChunkCounts,
        lease: Duration,
    ) -> StoreResult<()> {
        let (job_id, owner, checkpoint) = (job_id.to_owned(), owner.to_owned(), checkpoint.to_owned());
        self.run("checkpoint chunk", move |c, now| {
            let n = c
                .execute(
                    "UPDATE import_chunks SET checkpoint = ?4, read = ?5, queued = ?6, failed = ?7,
                         lease_until = ?8, updated_at = ?9
                     WHERE job_id = ?1 AND idx = ?2 AND status = 'running' AND owner = ?3",
                    params![
                        job_id,
                        index,
                        owner,
                        checkpoint,
                        to_i64(counts.read),
                        to_i64(counts.queued),
                        to_i64(counts.failed),
                        millis(clock::add(now, lease)),
                        millis(now)
                    ],
                )
                .map_err(db_err("checkpoint chunk"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")));
            }
            Ok(())
        })
        .await
    }

    async fn complete_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        counts: ChunkCounts,
    ) -> StoreResult<ImportJob> {
        let (job_id, owner) = (job_id.to_owned(), owner.to_owned());
        self.run("complete chunk", move |c, now| {
            let tx = c.transaction().map_err(db_err("begin"))?;
            let n = tx
                .execute(
                    "UPDATE import_chunks SET status = 'done', read = ?4, queued = ?5, failed = ?6,
                         lease_until = NULL, updated_at = ?7
                     WHERE job_id = ?1 AND idx = ?2 AND status = 'running' AND owner = ?3",
                    params![
                        job_id,
                        index,
                        owner,
                        to_i64(counts.read),
                        to_i64(counts.queued),
                        to_i64(counts.failed),
                        millis(now)
                    ],
                )
                .map_err(db_err("complete chunk"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")));
            }
            tx.execute(
                "UPDATE import_jobs SET chunks_done = chunks_done + 1, read = read + ?2, queued = queued + ?3,
                     failed = failed + ?4, updated_at = ?5,
                     status = CASE WHEN chunks_done + 1 >= chunks_total THEN 'completed' ELSE status END
                 WHERE id = ?1",
                params![job_id, to_i64(counts.read), to_i64(counts.queued), to_i64(counts.failed), millis(now)],
            )
            .map_err(db_err("complete chunk"))?;
            let job = load_job(&tx, &job_id)?.ok_or_else(|| StoreError::not_found(format!("import job {job_id}")))?;
            tx.commit().map_err(db_err("commit chunk"))?;
            Ok(job)
        })
        .await
    }

    async fn fail_chunk(&self, job_id: &str, index: u32, owner: &str, message: &str) -> StoreResult<()> {
        let (job_id, owner, message) = (job_id.to_owned(), owner.to_owned(), message.to_owned());
        self.run("fail chunk", move |c, now| {
            let n = c
                .execute(
                    "UPDATE import_chunks SET status = 'failed', error = ?4, lease_until = NULL, updated_at = ?5
                     WHERE job_id = ?1 AND idx = ?2 AND status = 'running' AND owner = ?3",
                    params![job_id, index, owner, message, millis(now)],
                )
                .map_err(db_err("fail chunk"))?;
            if n == 0 {
                return Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")));
            }
            Ok(())
        })
        .await
    }

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

    async fn api_calls_last_24h(&self, system: System) -> StoreResult<u64> {
        self.run("api calls", move |c, now| {
            let from = clock::usage_bucket(now) - 86_400;
            let sum: i64 = c
                .prepare_cached(
                    "SELECT coalesce(sum(calls), 0) FROM api_usage WHERE system = ?1 AND bucket >= ?2 AND bucket <= ?3",
                )
                .and_then(|mut s| s.query_row(params![system.as_str(), from, now.timestamp()], |r| r.get(0)))
                .map_err(db_err("api calls"))?;
            Ok(to_u64(sum))
        })
        .await
    }

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

/// A queue stored in the embedded file, with its dead letters beside it.
#[derive(Clone, Debug)]
pub struct SqliteQueue {
    store: SqliteStore,
    name: String,
    settings: QueueSettings,
}

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
}
