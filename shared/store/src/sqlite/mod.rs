//! The embedded adapter: every state-store capability and the [`Queue`](crate::Queue) port
//! over one SQLite file.
//!
//! This module owns the connection, the schema and its migrations; each
//! capability's SQL lives in its own file (`links.rs`, `claims.rs`, ...,
//! `queue.rs`), implementing that capability's trait for [`SqliteStore`].
//!
//! How DynamoDB's and SQS's semantics are kept on one file:
//!
//! - **Conditional writes** are single statements whose `WHERE` (or
//!   `ON CONFLICT ... WHERE`) clause is the condition, and the number of rows
//!   changed says whether it held; writes that touch several rows run in one
//!   transaction. Never read-then-write across two statements outside one.
//! - **Time** comes from the injected [`Clock`], read once per call and
//!   passed into the closure, so a whole call sees one instant and tests move
//!   time without sleeping. Expired rows are pruned opportunistically; expiry
//!   is always decided by comparing times, never by the row being gone.
//! - **One connection behind a mutex**, used only from `spawn_blocking`, so
//!   the async runtime never waits on disk and calls are serialised (SQLite
//!   allows one writer anyway). The lock is never held across an `.await`.
//!
//! Times are stored as Unix milliseconds (cursor positions as RFC 3339 text,
//! exact). Storage keys use [`System::as_str`](crate::System::as_str) and
//! [`ObjectPair::as_str`](crate::ObjectPair::as_str): files written before the
//! ports were split read back unchanged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::ports::QueueSettings;

mod claims;
mod cursors;
mod events;
mod health;
mod imports;
mod link_map;
mod links;
mod queue;
mod usage;

/// Backend name in [`StoreError::Backend`].
const BACKEND: &str = "sqlite";

/// The `links` table and its index by HubSpot id (in [`SCHEMA`], and made
/// anew by [`migrate`]).
macro_rules! links_table {
    () => {
        r#"CREATE TABLE IF NOT EXISTS links (
    pair TEXT NOT NULL,
    salesforce_id TEXT NOT NULL,
    hubspot_id TEXT NOT NULL,
    salesforce_object TEXT NOT NULL,
    fingerprints TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (pair, salesforce_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS links_by_hubspot ON links (pair, hubspot_id);
CREATE TABLE IF NOT EXISTS link_keys (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);
"#
    };
}

/// The whole schema, idempotent (`IF NOT EXISTS`), applied on every open.
///
/// `links` is a rowid table: a link's state (a fingerprint per mapping,
/// about 1.5 KB as JSON text, a few hundred bytes in the form of
/// `link_map.rs` with its keys in `link_keys`) is more than an index page
/// holds in place, so in a `WITHOUT ROWID` table every key comparison of a
/// lookup read the whole row from overflow pages. Its keys live in its
/// indexes, its rows in the table.
/// Changing a table of an existing file needs a step in [`migrate`] too:
/// state files outlive versions of the product.
const SCHEMA: &str = concat!(
    r#"
"#,
    links_table!(),
    r#"
CREATE TABLE IF NOT EXISTS creation_notes (
    pair TEXT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    target_key TEXT NOT NULL,
    fingerprints TEXT NOT NULL,
    written_at INTEGER NOT NULL,
    PRIMARY KEY (pair, source, source_id)
) WITHOUT ROWID;

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
    updated_at INTEGER NOT NULL,
    skipped INTEGER NOT NULL DEFAULT 0,
    error TEXT
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
    skipped INTEGER NOT NULL DEFAULT 0,
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
"#
);

/// Maps a SQLite error of `operation` to [`StoreError::Backend`].
fn db_err(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::backend(BACKEND, operation, e)
}

/// The stored form of an instant: Unix milliseconds.
fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// An instant read back from [`millis`].
fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The stored form of a cursor position: RFC 3339, exact to the nanosecond,
/// so the compare-and-set of an advance compares equal instants as equal.
fn cursor_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A stored integer as a count (negative, i.e. corrupt, reads as 0).
fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A count as a SQLite integer (saturating).
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The embedded state store: implements every capability trait (hence
/// [`StateStore`](crate::StateStore)) and hands out [`SqliteQueue`]s over the
/// same file. Cheap to clone; clones share the connection and the clock.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    /// The numbers of the link map keys seen so far (see `link_map.rs`).
    /// Locked after `conn` when both are, never the other way round.
    link_keys: Arc<Mutex<link_map::LinkKeys>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("clock", &self.clock).finish_non_exhaustive()
    }
}

/// The schema version of [`SCHEMA`], kept in the file's `user_version`.
/// A file without one (0) is new, or from before versions were recorded,
/// and is brought up to date; a file of a higher version is refused.
/// Raise it with every change that needs a step in [`migrate`].
pub const SCHEMA_VERSION: i64 = 4;

/// Brings a state file written by an earlier version up to [`SCHEMA`]:
/// each column added since the first version is added when missing, and a
/// `links` table of before version 3 (`WITHOUT ROWID`) is copied into a
/// rowid one, in one transaction. (Version 4 stores link maps as blobs
/// keyed by `link_keys`, a table [`SCHEMA`] adds; links stored as JSON text
/// before it read as they are, and take the new form when next written.)
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let links_without_rowid = conn
        .query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'links'", [], |r| {
            r.get::<_, String>(0)
        })
        .map_err(db_err("read the links table"))?
        .to_ascii_uppercase()
        .contains("WITHOUT ROWID");
    if links_without_rowid {
        let rebuild = format!(
            "BEGIN IMMEDIATE;
             ALTER TABLE links RENAME TO links_before_3;
             DROP INDEX IF EXISTS links_by_hubspot;
             {}
             INSERT INTO links (pair, salesforce_id, hubspot_id, salesforce_object, fingerprints, version, updated_at)
                 SELECT pair, salesforce_id, hubspot_id, salesforce_object, fingerprints, version, updated_at
                 FROM links_before_3;
             DROP TABLE links_before_3;
             COMMIT;",
            links_table!()
        );
        if let Err(e) = conn.execute_batch(&rebuild) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(db_err("move the links to a rowid table")(e));
        }
    }
    const ADDED: [(&str, &str, &str); 4] = [
        ("cursors", "partial", "INTEGER NOT NULL DEFAULT 0"),
        ("import_jobs", "skipped", "INTEGER NOT NULL DEFAULT 0"),
        ("import_jobs", "error", "TEXT"),
        ("import_chunks", "skipped", "INTEGER NOT NULL DEFAULT 0"),
    ];
    for (table, column, definition) in ADDED {
        let exists = conn
            .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")
            .and_then(|mut s| s.exists([table, column]))
            .map_err(db_err("read the table's columns"))?;
        if !exists {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"))
                .map_err(db_err("add a column"))?;
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) the durable store file, in WAL mode. A new file
    /// is readable by its owner only; a file of a newer schema is refused
    /// before anything is written to it.
    pub fn open(path: impl AsRef<std::path::Path>, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        create_private(path)?;
        let conn = Connection::open(path).map_err(db_err("open"))?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(db_err("set busy timeout"))?;
        check_version(&conn, &path.display().to_string())?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err("set WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err("set synchronous"))?;
        // 16 MiB of page cache (SQLite's default is 2 MiB), so that the
        // links a webhook's echo check reads, written a few thousand records
        // before, can still be cached. (At 300,000 imported contacts the
        // bench measured no CPU difference beyond its noise.)
        conn.pragma_update(None, "cache_size", -16_384).map_err(db_err("set cache size"))?;
        // Checkpoint the write-ahead log every 8,192 pages (32 MiB) instead
        // of SQLite's 1,000: a page written by many transactions in between
        // (an index leaf, the last page of the links) is copied back once,
        // and the file is synced a few times per import rather than every
        // few hundred records.
        conn.pragma_update(None, "wal_autocheckpoint", 8_192).map_err(db_err("set checkpoint interval"))?;
        Self::init(conn, clock)
    }

    /// A store that lives in memory only (tests, the demo). Queues made from
    /// it live and die with it.
    pub fn open_in_memory(clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(db_err("open"))?;
        Self::init(conn, clock)
    }

    /// Applies the schema and migrations to a freshly opened connection and
    /// records the schema version.
    fn init(conn: Connection, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10)).map_err(db_err("set busy timeout"))?;
        conn.execute_batch(SCHEMA).map_err(db_err("create schema"))?;
        migrate(&conn)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(db_err("record the schema version"))?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), clock, link_keys: Arc::default() })
    }

    /// A queue stored in the same file as the state. Queues are told apart by
    /// `name`; two `SqliteQueue`s with the same name are the same queue.
    pub fn queue(&self, name: &str, settings: QueueSettings) -> SqliteQueue {
        SqliteQueue { store: self.clone(), name: name.to_owned(), settings }
    }

    /// Runs `f` on the connection off the async runtime.
    ///
    /// Every capability goes through here: `f` gets the locked connection
    /// and the store's current time, read once before the call, so one call
    /// decides expiry against one instant. The lock is taken inside
    /// `spawn_blocking` and released when `f` returns; a panic in an earlier
    /// call (poisoned lock) does not stop later ones, since every write is a
    /// statement or a transaction that SQLite rolled back.
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

/// Refuses a file whose schema version is newer than [`SCHEMA_VERSION`].
fn check_version(conn: &Connection, path: &str) -> Result<(), StoreError> {
    let found: i64 =
        conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(db_err("read the schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedSchema { path: path.to_owned(), found, supported: SCHEMA_VERSION });
    }
    Ok(())
}

/// Creates a missing state file readable and writable by its owner only
/// (0600 on unix): it holds record ids, sync errors and the queued work.
/// SQLite gives the file's `-wal` and `-shm` companions the same mode. An
/// existing file keeps its mode.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(StoreError::backend(BACKEND, "create the state file", error)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// A queue stored in the embedded file, with its dead letters beside it; the
/// [`Queue`](crate::Queue) impl is in `queue.rs`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteQueue {
    /// The store whose connection and clock the queue uses.
    store: SqliteStore,
    /// Rows of this queue carry this name in `queue_messages.queue`.
    name: String,
    settings: QueueSettings,
}
