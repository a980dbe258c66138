//! The embedded adapter on a real file: state survives reopening, and the
//! store copes with a million links and a quarter-million queued messages.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crm_sync_store::contract::epoch;
use crm_sync_store::prelude::*;
use crm_sync_store::{
    ChunkCounts, Claim, JobStatus, Link, LinkCondition, LinkWrite, ManualClock, ObjectPair, OutgoingMessage,
    QueueSettings, SqliteStore, System,
};

fn link(i: u64) -> Link {
    Link {
        pair: ObjectPair::Contact,
        salesforce_object: "Contact".into(),
        salesforce_id: format!("003{i:015}"),
        hubspot_id: format!("{}", 10_000_000 + i),
        fingerprints: BTreeMap::from([("email".into(), format!("{i:x}")), ("lastname".into(), "f".into())]),
        version: 0,
        updated_at: epoch(),
    }
}

#[tokio::test]
async fn state_and_queued_messages_survive_reopening_the_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("crm-sync.sqlite");
    let clock = Arc::new(ManualClock::new(epoch()));
    {
        let store = SqliteStore::open(&path, clock.clone())?;
        store.put_link(&link(1), LinkCondition::MustNotExist).await?;
        store.advance_cursor(System::HubSpot, "contacts", None, epoch(), false).await?;
        assert_eq!(store.claim("k", "w1", Duration::from_secs(600)).await?, Claim::Acquired);
        store.create_import_job("j", &serde_json::json!({}), &[]).await?;
        store.add_api_calls(System::Salesforce, 12).await?;
        let q = store.queue("sync-intents", QueueSettings::default());
        q.send_batch(&[OutgoingMessage::new("a"), OutgoingMessage::new("b")]).await?;
        let got = q.receive(1, Duration::from_secs(60)).await?;
        assert_eq!(got.len(), 1);
    }
    let store = SqliteStore::open(&path, clock.clone())?;
    assert_eq!(store.get_link_by_hubspot(ObjectPair::Contact, "10000001").await?.map(|l| l.version), Some(1));
    assert_eq!(store.get_cursor(System::HubSpot, "contacts").await?.map(|c| c.position), Some(epoch()));
    assert!(matches!(store.claim("k", "w2", Duration::from_secs(600)).await?, Claim::HeldBy { .. }));
    assert!(store.get_import_job("j").await?.is_some());
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 12);
    let q = store.queue("sync-intents", QueueSettings::default());
    let depth = q.depth().await?;
    assert_eq!((depth.visible, depth.in_flight), (1, 1), "the in-flight message stays hidden across a restart");
    clock.advance(Duration::from_secs(61));
    let got = q.receive(10, Duration::from_secs(60)).await?;
    assert_eq!(got.len(), 2);
    assert_eq!(got.iter().map(|m| m.receive_count).max(), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_million_links_and_a_quarter_million_messages_fit_and_stay_addressable() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(epoch()));
    let store = SqliteStore::open(dir.path().join("big.sqlite"), clock.clone())?;
    const LINKS: u64 = 1_000_000;
    let started = std::time::Instant::now();
    for start in (0..LINKS).step_by(20_000) {
        let writes: Vec<LinkWrite> = (start..start + 20_000)
            .map(|i| LinkWrite { link: link(i), condition: LinkCondition::MustNotExist })
            .collect();
        let results = store.put_links(&writes).await?;
        assert!(results.iter().all(|r| matches!(r, Ok(1))));
    }
    eprintln!("{LINKS} links written in {:?}", started.elapsed());
    for i in [0, 1, 499_999, 999_999] {
        let l = store.get_link_by_hubspot(ObjectPair::Contact, &format!("{}", 10_000_000 + i)).await?;
        assert_eq!(l.map(|l| l.salesforce_id), Some(format!("003{i:015}")));
    }
    let dup = store.put_link(&link(777_777), LinkCondition::MustNotExist).await;
    assert!(dup.is_err_and(|e| e.is_condition_failed()));

    let q = store.queue("import-chunks", QueueSettings::default());
    const MESSAGES: usize = 250_000;
    let started = std::time::Instant::now();
    for start in (0..MESSAGES).step_by(25_000) {
        let batch: Vec<OutgoingMessage> =
            (start..start + 25_000).map(|i| OutgoingMessage::new(format!("{{\"i\":{i}}}"))).collect();
        q.send_batch(&batch).await?;
    }
    eprintln!("{MESSAGES} messages sent in {:?}", started.elapsed());
    assert_eq!(q.depth().await?.visible, MESSAGES as u64);
    let started = std::time::Instant::now();
    let mut received = 0;
    loop {
        let got = q.receive(1_000, Duration::from_secs(60)).await?;
        if got.is_empty() {
            break;
        }
        received += got.len();
        let receipts: Vec<String> = got.into_iter().map(|m| m.receipt_handle).collect();
        q.delete_batch(&receipts).await?;
    }
    assert_eq!(received, MESSAGES);
    eprintln!("{MESSAGES} messages received and deleted in {:?}", started.elapsed());
    assert_eq!(q.depth().await?.visible + q.depth().await?.in_flight, 0);
    Ok(())
}

#[tokio::test]
async fn a_state_file_from_before_partial_cursors_opens_and_reads_them_as_whole() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("crm-sync.sqlite");
    {
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(
            "CREATE TABLE cursors (system TEXT NOT NULL, object TEXT NOT NULL, position TEXT NOT NULL,
                 updated_at INTEGER NOT NULL, PRIMARY KEY (system, object)) WITHOUT ROWID;
             INSERT INTO cursors VALUES ('hubspot', 'contacts', '2025-01-01T00:00:00Z', 0);",
        )?;
    }
    let clock = Arc::new(ManualClock::new(epoch()));
    let store = SqliteStore::open(&path, clock.clone())?;
    let cursor =
        store.get_cursor(System::HubSpot, "contacts").await?.unwrap_or_else(|| panic!("the old cursor is kept"));
    assert!(!cursor.partial);
    let later = cursor.position + chrono::Duration::minutes(1);
    store.advance_cursor(System::HubSpot, "contacts", Some(cursor.position), later, true).await?;
    drop(store);
    let store = SqliteStore::open(&path, clock)?;
    assert_eq!(
        store.get_cursor(System::HubSpot, "contacts").await?.map(|c| (c.position, c.partial)),
        Some((later, true))
    );
    Ok(())
}

#[tokio::test]
async fn a_file_of_a_newer_schema_is_refused_naming_it_and_left_untouched() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.sqlite");
    {
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(
            "CREATE TABLE links (pair TEXT, salesforce_id TEXT, extra BLOB); PRAGMA user_version = 99;",
        )?;
    }
    let clock = Arc::new(ManualClock::new(epoch()));
    let error = SqliteStore::open(&path, clock).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains(&path.display().to_string()), "names the file: {error}");
    assert!(error.contains("schema version 99"), "names the version found: {error}");
    assert!(error.contains("newer crm-sync"), "says the fix: {error}");
    let conn = rusqlite::Connection::open(&path)?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))?;
    assert_eq!(tables, 1, "nothing was added to the file");
    Ok(())
}

#[tokio::test]
async fn a_file_from_before_schema_versions_is_opened_and_versioned() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.sqlite");
    rusqlite::Connection::open(&path)?.execute_batch("CREATE TABLE cursors (system TEXT NOT NULL, object TEXT NOT NULL, position TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (system, object)) WITHOUT ROWID;")?;
    drop(SqliteStore::open(&path, Arc::new(ManualClock::new(epoch())))?);
    let version: i64 = rusqlite::Connection::open(&path)?.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(version, crm_sync_store::sqlite::SCHEMA_VERSION);
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_state_file_is_readable_by_its_owner_only() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.sqlite");
    let store = SqliteStore::open(&path, Arc::new(ManualClock::new(epoch())))?;
    store.add_api_calls(System::Salesforce, 1).await?;
    for file in ["state.sqlite", "state.sqlite-wal", "state.sqlite-shm"] {
        let file = dir.path().join(file);
        if file.exists() {
            let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
        }
    }
    assert!(path.exists());
    Ok(())
}

#[tokio::test]
async fn an_import_job_of_a_version_1_file_is_read_with_no_skipped_records_and_no_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.sqlite");
    rusqlite::Connection::open(&path)?.execute_batch(
        "CREATE TABLE import_jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, spec TEXT NOT NULL,
             chunks_total INTEGER NOT NULL, chunks_done INTEGER NOT NULL, read INTEGER NOT NULL,
             queued INTEGER NOT NULL, failed INTEGER NOT NULL, created_at INTEGER NOT NULL,
             updated_at INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE import_chunks (job_id TEXT NOT NULL, idx INTEGER NOT NULL, spec TEXT NOT NULL,
             status TEXT NOT NULL, owner TEXT, lease_until INTEGER, checkpoint TEXT, read INTEGER NOT NULL,
             queued INTEGER NOT NULL, failed INTEGER NOT NULL, attempts INTEGER NOT NULL, error TEXT,
             updated_at INTEGER NOT NULL, PRIMARY KEY (job_id, idx)) WITHOUT ROWID;
         INSERT INTO import_jobs VALUES ('old', 'completed', '{}', 1, 1, 9, 8, 1, 0, 0);
         INSERT INTO import_chunks VALUES ('old', 0, '{}', 'done', NULL, NULL, NULL, 9, 8, 1, 1, NULL, 0);
         PRAGMA user_version = 1;",
    )?;
    let store = SqliteStore::open(&path, Arc::new(ManualClock::new(epoch())))?;
    let Some(job) = store.get_import_job("old").await? else { anyhow::bail!("the job is gone") };
    assert_eq!(job.counts, ChunkCounts { read: 9, queued: 8, failed: 1, skipped: 0 });
    assert_eq!((job.status, job.error), (JobStatus::Completed, None));
    assert_eq!(store.list_chunks("old").await?[0].counts.skipped, 0);
    Ok(())
}

#[tokio::test]
async fn the_links_of_a_version_2_file_move_to_a_rowid_table_and_read_back_unchanged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.sqlite");
    rusqlite::Connection::open(&path)?.execute_batch(
        r#"CREATE TABLE links (pair TEXT NOT NULL, salesforce_id TEXT NOT NULL, hubspot_id TEXT NOT NULL,
             salesforce_object TEXT NOT NULL, fingerprints TEXT NOT NULL, version INTEGER NOT NULL,
             updated_at INTEGER NOT NULL, PRIMARY KEY (pair, salesforce_id)) WITHOUT ROWID;
         CREATE UNIQUE INDEX links_by_hubspot ON links (pair, hubspot_id);
         INSERT INTO links VALUES ('contact', '003000000000000007', '101', 'Contact', '{"email":"7"}', 4, 0);
         PRAGMA user_version = 2;"#,
    )?;
    let store = SqliteStore::open(&path, Arc::new(ManualClock::new(epoch())))?;
    let Some(moved) = store.get_link_by_hubspot(ObjectPair::Contact, "101").await? else {
        anyhow::bail!("the link is gone")
    };
    assert_eq!((moved.salesforce_id.as_str(), moved.version), ("003000000000000007", 4));
    assert_eq!(moved.fingerprints, BTreeMap::from([("email".to_owned(), "7".to_owned())]));
    // The HubSpot id is still unique per pair.
    let mut other = link(8);
    other.hubspot_id = "101".into();
    let refused = store.put_links(&[LinkWrite { link: other, condition: LinkCondition::MustNotExist }]).await?;
    assert!(refused[0].as_ref().is_err_and(|e| e.is_condition_failed()), "{refused:?}");
    drop(store);
    let conn = rusqlite::Connection::open(&path)?;
    let sql: String = conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'links'", [], |r| r.get(0))?;
    assert!(!sql.to_ascii_uppercase().contains("WITHOUT ROWID"), "{sql}");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(version, crm_sync_store::sqlite::SCHEMA_VERSION);
    Ok(())
}

/// A link's map as a user's file holds it, with the prints and metadata
/// the sync stores.
fn stored_map(i: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("email<->Email".into(), format!("{i:032x}")),
        ("hubspot_owner_id<->OwnerId".into(), format!("{:032x}|{i:032x}", i + 1)),
        ("_salesforce_last_modified".into(), "2026-12-05T04:39:13.333+00:00".into()),
    ])
}

#[tokio::test]
async fn links_of_a_version_3_file_read_unchanged_and_take_the_compact_form_when_written() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.sqlite");
    let old = serde_json::to_string(&stored_map(7))?;
    rusqlite::Connection::open(&path)?.execute_batch(&format!(
        r#"CREATE TABLE links (pair TEXT NOT NULL, salesforce_id TEXT NOT NULL, hubspot_id TEXT NOT NULL,
             salesforce_object TEXT NOT NULL, fingerprints TEXT NOT NULL, version INTEGER NOT NULL,
             updated_at INTEGER NOT NULL, PRIMARY KEY (pair, salesforce_id));
         CREATE UNIQUE INDEX links_by_hubspot ON links (pair, hubspot_id);
         INSERT INTO links VALUES ('contact', '003000000000000007', '101', 'Contact', '{old}', 2, 0);
         PRAGMA user_version = 3;"#
    ))?;
    let store = SqliteStore::open(&path, Arc::new(ManualClock::new(epoch())))?;
    let Some(read) = store.get_link_by_hubspot(ObjectPair::Contact, "101").await? else {
        anyhow::bail!("the link is gone")
    };
    assert_eq!((read.fingerprints.clone(), read.version), (stored_map(7), 2));
    // Written again (a sync updating it): stored compactly, read the same.
    let mut next = read.clone();
    next.fingerprints = stored_map(8);
    assert_eq!(store.put_link(&next, LinkCondition::VersionIs(2)).await?, 3);
    let mut fresh = link(9);
    fresh.fingerprints = stored_map(9);
    store.put_links(&[LinkWrite { link: fresh, condition: LinkCondition::MustNotExist }]).await?;
    let by_salesforce = store
        .get_links_by_salesforce_ids(ObjectPair::Contact, &["003000000000000007".into(), "003000000000000009".into()])
        .await?;
    let maps: Vec<_> = by_salesforce.iter().map(|l| l.fingerprints.clone()).collect();
    assert_eq!(maps, vec![stored_map(8), stored_map(9)]);
    drop(store);
    let conn = rusqlite::Connection::open(&path)?;
    let forms: Vec<(String, i64)> = conn
        .prepare("SELECT typeof(fingerprints), length(fingerprints) FROM links ORDER BY salesforce_id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let json = i64::try_from(serde_json::to_string(&stored_map(8))?.len())?;
    assert!(forms.iter().all(|(kind, len)| kind == "blob" && len * 2 < json), "{forms:?} against {json} bytes of JSON");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    assert_eq!(version, crm_sync_store::sqlite::SCHEMA_VERSION);
    Ok(())
}

#[tokio::test]
async fn two_stores_on_one_file_read_each_others_links_whoever_numbered_the_keys() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.sqlite");
    let clock = Arc::new(ManualClock::new(epoch()));
    let first = SqliteStore::open(&path, clock.clone())?;
    let second = SqliteStore::open(&path, clock)?;
    let mut a = link(1);
    a.fingerprints = BTreeMap::from([("email<->Email".into(), format!("{:032x}", 1))]);
    first.put_link(&a, LinkCondition::MustNotExist).await?;
    // The second store reads a key it has not numbered, then numbers one
    // the first has not seen.
    assert_eq!(
        second.get_link_by_hubspot(ObjectPair::Contact, &a.hubspot_id).await?.map(|l| l.fingerprints),
        Some(a.fingerprints.clone())
    );
    let mut b = link(2);
    b.fingerprints = BTreeMap::from([
        ("email<->Email".into(), format!("{:032x}", 2)),
        ("phone<->Phone".into(), format!("{:032x}", 3)),
    ]);
    second.put_links(&[LinkWrite { link: b.clone(), condition: LinkCondition::MustNotExist }]).await?;
    let read =
        first.get_links_by_hubspot_ids(ObjectPair::Contact, &[a.hubspot_id.clone(), b.hubspot_id.clone()]).await?;
    assert_eq!(read.into_iter().map(|l| l.fingerprints).collect::<Vec<_>>(), vec![a.fingerprints, b.fingerprints]);
    Ok(())
}
