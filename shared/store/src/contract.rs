//! The contract suite of the ports: one set of checks that every
//! [`StateStore`] and [`Queue`] adapter must pass, written once and run against
//! each adapter through [`contract_suite!`](crate::contract_suite).
//!
//! An adapter's test file provides a [`Harness`] (fresh store, fresh queues,
//! a way to move time) and invokes the macro; each check becomes one
//! `#[tokio::test]`. The checks panic with a message on a broken promise.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use crate::error::StoreError;
use crate::ports::*;

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait Harness: Send + Sync {
    /// A store with no state in it, reading time from the harness's clock.
    async fn store(&self) -> Result<Arc<dyn StateStore>, StoreError>;
    /// A queue (and dead-letter queue) with no messages in it.
    async fn queue(&self, settings: QueueSettings) -> Result<Arc<dyn Queue>, StoreError>;
    /// Moves the store's clock forward (claims, TTLs, leases, usage windows).
    fn advance_clock(&self, by: Duration);
    /// Lets `by` pass for the queue's visibility timeouts (a manual clock, or
    /// real time for a remote queue service).
    async fn let_queue_time_pass(&self, by: Duration);
}

/// A fixed instant the manual clocks of harnesses start from.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Expands to one `#[tokio::test]` per contract check. `$harness` is an
/// expression (may use `.await`) building a fresh [`Harness`] for each test.
#[macro_export]
macro_rules! contract_suite {
    ($harness:expr) => {
        $crate::contract_suite!(@each $harness;
            a_created_link_is_found_by_either_id,
            a_second_link_for_either_id_fails_the_condition,
            a_link_update_needs_the_current_version,
            a_batch_of_link_writes_reports_each_write_on_its_own,
            a_link_delete_needs_the_current_version,
            links_are_listed_in_pages_per_pair,
            a_claim_is_exclusive_until_its_ttl_ends,
            a_released_claim_can_be_taken_by_another_owner,
            a_cursor_advances_only_from_the_expected_position,
            an_import_job_completes_when_its_last_chunk_is_done,
            a_chunk_with_an_ended_lease_is_taken_over_and_the_old_owner_is_refused,
            a_duplicate_import_job_id_fails_the_condition,
            a_sync_error_counts_attempts_and_keeps_its_first_seen_time,
            sync_errors_are_filtered_by_category_and_resolved,
            api_usage_sums_only_the_last_24_hours_per_system,
            a_webhook_event_id_is_new_once_until_its_ttl_ends,
            a_received_message_is_hidden_until_deleted,
            an_unacknowledged_message_comes_back_with_a_higher_receive_count,
            a_visibility_change_to_zero_makes_a_message_receivable_again,
            a_message_received_too_often_moves_to_dead_letters_and_can_be_replayed,
            a_large_batch_is_sent_and_received_whole,
            a_delayed_message_is_not_received_before_its_delay,
            concurrent_creates_of_one_link_write_it_once,
            concurrent_claims_of_one_key_grant_it_once,
            concurrent_receivers_get_each_message_once
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() -> Result<(), $crate::StoreError> {
                let harness = $harness;
                $crate::contract::$name(&harness).await
            }
        )*
    };
}

type R = Result<(), StoreError>;

fn link(pair: ObjectPair, sf: &str, hs: &str) -> Link {
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert("email".to_owned(), format!("fp-{sf}"));
    Link {
        pair,
        salesforce_object: "Contact".to_owned(),
        salesforce_id: sf.to_owned(),
        hubspot_id: hs.to_owned(),
        fingerprints,
        version: 0,
        updated_at: epoch(),
    }
}

fn expect_condition_failed<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    match r {
        Err(StoreError::ConditionFailed { .. }) => {}
        other => panic!("{what}: expected ConditionFailed, got {other:?}"),
    }
}

pub async fn a_created_link_is_found_by_either_id(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let l = link(ObjectPair::Contact, "003A", "101");
    assert_eq!(store.put_link(&l, LinkCondition::MustNotExist).await?, 1);
    let by_sf = store.get_link_by_salesforce(ObjectPair::Contact, "003A").await?;
    let by_hs = store.get_link_by_hubspot(ObjectPair::Contact, "101").await?;
    let by_sf = by_sf.unwrap_or_else(|| panic!("link not found by Salesforce id"));
    assert_eq!(Some(&by_sf), by_hs.as_ref(), "both lookups return the same link");
    assert_eq!(by_sf.version, 1);
    assert_eq!(by_sf.fingerprints, l.fingerprints);
    assert_eq!(by_sf.salesforce_object, "Contact");
    assert!(store.get_link_by_hubspot(ObjectPair::Company, "101").await?.is_none(), "pairs are separate");
    assert!(store.get_link_by_salesforce(ObjectPair::Contact, "003B").await?.is_none());
    Ok(())
}

pub async fn a_second_link_for_either_id_fails_the_condition(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.put_link(&link(ObjectPair::Contact, "003A", "101"), LinkCondition::MustNotExist).await?;
    expect_condition_failed(
        "same Salesforce id",
        store.put_link(&link(ObjectPair::Contact, "003A", "102"), LinkCondition::MustNotExist).await,
    );
    expect_condition_failed(
        "same HubSpot id",
        store.put_link(&link(ObjectPair::Contact, "003B", "101"), LinkCondition::MustNotExist).await,
    );
    assert!(store.get_link_by_hubspot(ObjectPair::Contact, "102").await?.is_none(), "loser wrote nothing");
    assert!(store.get_link_by_salesforce(ObjectPair::Contact, "003B").await?.is_none(), "loser wrote nothing");
    // The same ids in another pair are another link.
    store.put_link(&link(ObjectPair::Company, "003A", "101"), LinkCondition::MustNotExist).await?;
    Ok(())
}

pub async fn a_link_update_needs_the_current_version(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let mut l = link(ObjectPair::Deal, "006A", "9001");
    store.put_link(&l, LinkCondition::MustNotExist).await?;
    l.fingerprints.insert("amount".to_owned(), "fp-100".to_owned());
    assert_eq!(store.put_link(&l, LinkCondition::VersionIs(1)).await?, 2);
    l.fingerprints.insert("amount".to_owned(), "fp-200".to_owned());
    expect_condition_failed("stale version", store.put_link(&l, LinkCondition::VersionIs(1)).await);
    let stored = store.get_link_by_hubspot(ObjectPair::Deal, "9001").await?;
    let stored = stored.unwrap_or_else(|| panic!("link vanished"));
    assert_eq!(stored.version, 2);
    assert_eq!(stored.fingerprints.get("amount").map(String::as_str), Some("fp-100"), "stale write lost");
    expect_condition_failed(
        "update of a missing link",
        store.put_link(&link(ObjectPair::Deal, "006Z", "9009"), LinkCondition::VersionIs(1)).await,
    );
    expect_condition_failed(
        "update that changes the HubSpot id",
        store.put_link(&link(ObjectPair::Deal, "006A", "9002"), LinkCondition::VersionIs(2)).await,
    );
    Ok(())
}

pub async fn a_batch_of_link_writes_reports_each_write_on_its_own(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.put_link(&link(ObjectPair::Contact, "00QX", "500"), LinkCondition::MustNotExist).await?;
    let mut writes: Vec<LinkWrite> = (0..30)
        .map(|i| LinkWrite {
            link: link(ObjectPair::Contact, &format!("00Q{i:03}"), &format!("{}", 1000 + i)),
            condition: LinkCondition::MustNotExist,
        })
        .collect();
    writes.push(LinkWrite { link: link(ObjectPair::Contact, "00QX", "501"), condition: LinkCondition::MustNotExist });
    let results = store.put_links(&writes).await?;
    assert_eq!(results.len(), 31);
    for r in &results[..30] {
        assert!(matches!(r, Ok(1)), "fresh link written: {r:?}");
    }
    assert!(matches!(results[30], Err(StoreError::ConditionFailed { .. })), "duplicate refused: {:?}", results[30]);
    assert!(store.get_link_by_hubspot(ObjectPair::Contact, "1029").await?.is_some());
    Ok(())
}

pub async fn a_link_delete_needs_the_current_version(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let l = link(ObjectPair::Company, "001A", "77");
    store.put_link(&l, LinkCondition::MustNotExist).await?;
    store.put_link(&l, LinkCondition::VersionIs(1)).await?;
    expect_condition_failed("stale delete", store.delete_link(ObjectPair::Company, "001A", 1).await);
    assert!(store.delete_link(ObjectPair::Company, "001A", 2).await?);
    assert!(!store.delete_link(ObjectPair::Company, "001A", 2).await?, "already gone");
    assert!(store.get_link_by_hubspot(ObjectPair::Company, "77").await?.is_none());
    // Both ids are free again.
    store.put_link(&link(ObjectPair::Company, "001B", "77"), LinkCondition::MustNotExist).await?;
    store.put_link(&link(ObjectPair::Company, "001A", "78"), LinkCondition::MustNotExist).await?;
    Ok(())
}

pub async fn links_are_listed_in_pages_per_pair(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let writes: Vec<LinkWrite> = (0..25)
        .map(|i| LinkWrite {
            link: link(ObjectPair::Company, &format!("001{i:03}"), &format!("{}", 7000 + i)),
            condition: LinkCondition::MustNotExist,
        })
        .collect();
    for r in store.put_links(&writes).await? {
        r?;
    }
    store.put_link(&link(ObjectPair::Contact, "003Z", "1"), LinkCondition::MustNotExist).await?;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let page = store.list_links(ObjectPair::Company, after.as_deref(), 10).await?;
        assert!(page.links.len() <= 10, "page respects the limit");
        seen.extend(page.links.into_iter().map(|l| l.salesforce_id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    seen.sort();
    let expected: Vec<String> = (0..25).map(|i| format!("001{i:03}")).collect();
    assert_eq!(seen, expected, "every link of the pair once, none of another pair");
    Ok(())
}

pub async fn a_claim_is_exclusive_until_its_ttl_ends(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let key = "create hubspot contact for a@example.com";
    assert_eq!(store.claim(key, "worker-1", Duration::from_secs(60)).await?, Claim::Acquired);
    match store.claim(key, "worker-2", Duration::from_secs(60)).await? {
        Claim::HeldBy { owner, .. } => assert_eq!(owner, "worker-1"),
        other => panic!("second owner got {other:?}"),
    }
    assert_eq!(store.claim(key, "worker-1", Duration::from_secs(60)).await?, Claim::Acquired, "renewal");
    h.advance_clock(Duration::from_secs(61));
    assert_eq!(store.claim(key, "worker-2", Duration::from_secs(60)).await?, Claim::Acquired, "expired claim");
    assert!(!store.release_claim(key, "worker-1").await?, "old owner cannot release");
    Ok(())
}

pub async fn a_released_claim_can_be_taken_by_another_owner(h: &dyn Harness) -> R {
    let store = h.store().await?;
    assert_eq!(store.claim("k", "a", Duration::from_secs(300)).await?, Claim::Acquired);
    assert!(!store.release_claim("k", "b").await?, "not b's claim");
    assert!(matches!(store.claim("k", "b", Duration::from_secs(300)).await?, Claim::HeldBy { .. }));
    assert!(store.release_claim("k", "a").await?);
    assert_eq!(store.claim("k", "b", Duration::from_secs(300)).await?, Claim::Acquired);
    Ok(())
}

pub async fn a_cursor_advances_only_from_the_expected_position(h: &dyn Harness) -> R {
    let store = h.store().await?;
    assert!(store.get_cursor(System::Salesforce, "Lead").await?.is_none());
    let t1 = epoch();
    let t2 = t1 + chrono::Duration::milliseconds(900_123);
    let t3 = t2 + chrono::Duration::minutes(15);
    store.advance_cursor(System::Salesforce, "Lead", None, t1, false).await?;
    expect_condition_failed("create twice", store.advance_cursor(System::Salesforce, "Lead", None, t2, false).await);
    store.advance_cursor(System::Salesforce, "Lead", Some(t1), t2, true).await?;
    expect_condition_failed(
        "stale expected",
        store.advance_cursor(System::Salesforce, "Lead", Some(t1), t3, false).await,
    );
    let c = store.get_cursor(System::Salesforce, "Lead").await?.unwrap_or_else(|| panic!("cursor missing"));
    assert_eq!(c.position, t2, "position round-trips exactly");
    assert!(c.partial, "the partial mark round-trips");
    store.advance_cursor(System::Salesforce, "Lead", Some(t2), t3, false).await?;
    let c = store.get_cursor(System::Salesforce, "Lead").await?.unwrap_or_else(|| panic!("cursor missing"));
    assert_eq!((c.position, c.partial), (t3, false), "a whole listing clears it");
    assert_eq!((c.system, c.object.as_str()), (System::Salesforce, "Lead"));
    assert!(store.get_cursor(System::Hubspot, "Lead").await?.is_none(), "per system");
    assert!(store.get_cursor(System::Salesforce, "Contact").await?.is_none(), "per object");
    Ok(())
}

fn chunks(n: u32) -> Vec<NewChunk> {
    (0..n).map(|i| NewChunk { index: i, spec: serde_json::json!({"object": "Contact", "part": i}) }).collect()
}

pub async fn an_import_job_completes_when_its_last_chunk_is_done(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let spec = serde_json::json!({"objects": ["Lead", "Contact"], "estimate": 250001});
    let job = store.create_import_job("job-1", &spec, &chunks(2)).await?;
    assert_eq!((job.status, job.chunks_total, job.chunks_done), (JobStatus::Planned, 2, 0));
    assert_eq!(job.spec, spec);
    let lease = Duration::from_secs(600);
    let c0 = store.claim_chunk("job-1", 0, "w1", lease).await?.unwrap_or_else(|| panic!("chunk 0 not claimed"));
    assert_eq!((c0.status, c0.attempts, c0.owner.as_deref()), (ChunkStatus::Running, 1, Some("w1")));
    assert_eq!(c0.spec, serde_json::json!({"object": "Contact", "part": 0}));
    assert!(store.claim_chunk("job-1", 0, "w2", lease).await?.is_none(), "leased chunk is not claimable");
    let progress = ChunkCounts { read: 100, queued: 99, failed: 1 };
    store.checkpoint_chunk("job-1", 0, "w1", "locator-2", progress, lease).await?;
    let listed = store.list_chunks("job-1").await?;
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0].checkpoint.as_deref(), listed[0].counts), (Some("locator-2"), progress));
    assert_eq!(listed[1].status, ChunkStatus::Pending);
    let job = store.get_import_job("job-1").await?.unwrap_or_else(|| panic!("job missing"));
    assert_eq!(job.status, JobStatus::Running, "a claimed chunk starts the job");

    let job = store.complete_chunk("job-1", 0, "w1", ChunkCounts { read: 200_000, queued: 200_000, failed: 0 }).await?;
    assert_eq!((job.chunks_done, job.status), (1, JobStatus::Running));
    assert!(store.claim_chunk("job-1", 0, "w1", lease).await?.is_none(), "done chunk is not claimable");
    store.claim_chunk("job-1", 1, "w2", lease).await?.unwrap_or_else(|| panic!("chunk 1 not claimed"));
    let job = store.complete_chunk("job-1", 1, "w2", ChunkCounts { read: 50_001, queued: 50_000, failed: 1 }).await?;
    assert_eq!((job.chunks_done, job.status), (2, JobStatus::Completed));
    assert_eq!(job.counts, ChunkCounts { read: 250_001, queued: 250_000, failed: 1 });
    let jobs = store.list_import_jobs().await?;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, "job-1");
    store.set_import_job_status("job-1", JobStatus::Paused).await?;
    assert_eq!(store.get_import_job("job-1").await?.map(|j| j.status), Some(JobStatus::Paused));
    Ok(())
}

pub async fn a_chunk_with_an_ended_lease_is_taken_over_and_the_old_owner_is_refused(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.create_import_job("job-2", &serde_json::json!({}), &chunks(1)).await?;
    store.claim_chunk("job-2", 0, "crashed", Duration::from_secs(60)).await?;
    h.advance_clock(Duration::from_secs(61));
    let c = store.claim_chunk("job-2", 0, "rescuer", Duration::from_secs(60)).await?;
    let c = c.unwrap_or_else(|| panic!("expired lease not taken over"));
    assert_eq!((c.owner.as_deref(), c.attempts), (Some("rescuer"), 2));
    expect_condition_failed(
        "old owner completes",
        store.complete_chunk("job-2", 0, "crashed", ChunkCounts::default()).await,
    );
    expect_condition_failed(
        "old owner checkpoints",
        store.checkpoint_chunk("job-2", 0, "crashed", "x", ChunkCounts::default(), Duration::from_secs(60)).await,
    );
    store.fail_chunk("job-2", 0, "rescuer", "bulk job failed").await?;
    let listed = store.list_chunks("job-2").await?;
    assert_eq!((listed[0].status, listed[0].error.as_deref()), (ChunkStatus::Failed, Some("bulk job failed")));
    Ok(())
}

pub async fn a_duplicate_import_job_id_fails_the_condition(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.create_import_job("job-3", &serde_json::json!({"a": 1}), &chunks(1)).await?;
    expect_condition_failed(
        "duplicate job",
        store.create_import_job("job-3", &serde_json::json!({"a": 2}), &chunks(3)).await,
    );
    let job = store.get_import_job("job-3").await?.unwrap_or_else(|| panic!("job missing"));
    assert_eq!((job.chunks_total, job.spec.clone()), (1, serde_json::json!({"a": 1})));
    assert_eq!(store.list_chunks("job-3").await?.len(), 1);
    assert!(store.get_import_job("job-none").await?.is_none());
    Ok(())
}

fn report(key: &str, category: &str, message: &str) -> ErrorReport {
    ErrorReport {
        key: key.to_owned(),
        category: category.to_owned(),
        pair: ObjectPair::Contact,
        salesforce_id: Some("00Q1".to_owned()),
        hubspot_id: None,
        message: message.to_owned(),
        retryable: true,
    }
}

pub async fn a_sync_error_counts_attempts_and_keeps_its_first_seen_time(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let first = store.record_error(&report("contact:salesforce:00Q1", "api_limit", "REQUEST_LIMIT_EXCEEDED")).await?;
    assert_eq!(first.attempts, 1);
    assert_eq!(first.first_seen, first.last_seen);
    h.advance_clock(Duration::from_secs(90));
    let mut again = report("contact:salesforce:00Q1", "property_value_or_validation", "INVALID_EMAIL_ADDRESS");
    again.retryable = false;
    again.hubspot_id = Some("42".to_owned());
    let second = store.record_error(&again).await?;
    assert_eq!(second.attempts, 2);
    assert_eq!(second.first_seen, first.first_seen);
    assert_eq!(second.last_seen - first.last_seen, chrono::Duration::seconds(90));
    assert_eq!(
        (second.category.as_str(), second.message.as_str(), second.retryable),
        ("property_value_or_validation", "INVALID_EMAIL_ADDRESS", false)
    );
    assert_eq!((second.salesforce_id.as_deref(), second.hubspot_id.as_deref()), (Some("00Q1"), Some("42")));
    assert_eq!(store.get_error("contact:salesforce:00Q1").await?, Some(second));
    Ok(())
}

pub async fn sync_errors_are_filtered_by_category_and_resolved(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.record_error(&report("k1", "duplicates", "two contacts share a@x")).await?;
    h.advance_clock(Duration::from_secs(1));
    store.record_error(&report("k2", "associations", "no account")).await?;
    h.advance_clock(Duration::from_secs(1));
    store.record_error(&report("k3", "duplicates", "two contacts share b@x")).await?;
    let all = store.list_errors(&ErrorFilter::default()).await?;
    let keys: Vec<&str> = all.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["k3", "k2", "k1"], "most recently seen first");
    let dups = store.list_errors(&ErrorFilter { category: Some("duplicates".into()), limit: None }).await?;
    let keys: Vec<&str> = dups.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["k3", "k1"]);
    let one = store.list_errors(&ErrorFilter { category: Some("duplicates".into()), limit: Some(1) }).await?;
    assert_eq!(one.len(), 1);
    assert!(store.resolve_error("k3").await?);
    assert!(!store.resolve_error("k3").await?);
    let dups = store.list_errors(&ErrorFilter { category: Some("duplicates".into()), limit: None }).await?;
    assert_eq!(dups.len(), 1);
    assert!(store.get_error("k3").await?.is_none());
    Ok(())
}

pub async fn api_usage_sums_only_the_last_24_hours_per_system(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.add_api_calls(System::Salesforce, 40).await?;
    h.advance_clock(Duration::from_secs(3 * 3600));
    store.add_api_calls(System::Salesforce, 2).await?;
    store.add_api_calls(System::Salesforce, 3).await?;
    store.add_api_calls(System::Hubspot, 7).await?;
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 45);
    assert_eq!(store.api_calls_last_24h(System::Hubspot).await?, 7);
    h.advance_clock(Duration::from_secs(22 * 3600));
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 5, "calls 25 hours old no longer count");
    h.advance_clock(Duration::from_secs(3 * 3600));
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 0);
    assert_eq!(store.api_calls_last_24h(System::Hubspot).await?, 0);
    Ok(())
}

pub async fn a_webhook_event_id_is_new_once_until_its_ttl_ends(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let ttl = Duration::from_secs(3600);
    let ids: Vec<String> = ["e1", "e2", "e1"].iter().map(|s| s.to_string()).collect();
    assert_eq!(store.mark_events_seen(&ids, ttl).await?, [true, true, false]);
    let again: Vec<String> = ["e2", "e3"].iter().map(|s| s.to_string()).collect();
    assert_eq!(store.mark_events_seen(&again, ttl).await?, [false, true]);
    h.advance_clock(Duration::from_secs(3601));
    assert_eq!(store.mark_events_seen(&ids[..1], ttl).await?, [true], "forgotten after the TTL");
    assert_eq!(store.mark_events_seen(&ids[..1], ttl).await?, [false]);
    assert!(store.mark_events_seen(&[], ttl).await?.is_empty());
    Ok(())
}

/// Receives until `want` messages arrived or the queue keeps answering empty.
async fn receive_n(q: &dyn Queue, want: usize, visibility: Duration) -> Result<Vec<ReceivedMessage>, StoreError> {
    let mut out = Vec::new();
    let mut empty = 0;
    while out.len() < want && empty < 3 {
        let got = q.receive(want - out.len(), visibility).await?;
        if got.is_empty() {
            empty += 1;
        } else {
            empty = 0;
        }
        out.extend(got);
    }
    Ok(out)
}

const LONG: Duration = Duration::from_secs(300);

pub async fn a_received_message_is_hidden_until_deleted(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    let ids = q.send_batch(&[OutgoingMessage::new(r#"{"n":1}"#), OutgoingMessage::new(r#"{"n":2}"#)]).await?;
    assert_eq!(ids.len(), 2);
    let got = receive_n(q.as_ref(), 2, LONG).await?;
    let mut bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, [r#"{"n":1}"#, r#"{"n":2}"#]);
    assert!(got.iter().all(|m| m.receive_count == 1));
    assert!(got.iter().all(|m| ids.contains(&m.id)), "ids match those returned by send");
    assert!(q.receive(10, LONG).await?.is_empty(), "in-flight messages are hidden");
    let depth = q.depth().await?;
    assert_eq!((depth.visible, depth.in_flight, depth.dead), (0, 2, 0));
    q.delete(&got[0].receipt_handle).await?;
    q.delete_batch(&[got[1].receipt_handle.clone()]).await?;
    assert_eq!(q.depth().await?, QueueDepth::default());
    Ok(())
}

pub async fn an_unacknowledged_message_comes_back_with_a_higher_receive_count(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings { max_receive_count: 5 }).await?;
    q.send_batch(&[OutgoingMessage::new("retry me")]).await?;
    let first = receive_n(q.as_ref(), 1, Duration::from_secs(1)).await?;
    assert_eq!(first.len(), 1);
    h.let_queue_time_pass(Duration::from_secs(3)).await;
    let second = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(second.len(), 1, "message is visible again after its timeout");
    assert_eq!((second[0].id.as_str(), second[0].receive_count), (first[0].id.as_str(), 2));
    q.delete(&second[0].receipt_handle).await?;
    h.let_queue_time_pass(Duration::from_secs(2)).await;
    assert!(q.receive(10, LONG).await?.is_empty(), "deleted for good");
    Ok(())
}

pub async fn a_visibility_change_to_zero_makes_a_message_receivable_again(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    q.send_batch(&[OutgoingMessage::new("backoff")]).await?;
    let got = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(got.len(), 1);
    q.change_visibility(&got[0].receipt_handle, Duration::ZERO).await?;
    let again = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    q.change_visibility(&again[0].receipt_handle, Duration::from_secs(600)).await?;
    assert!(q.receive(10, LONG).await?.is_empty(), "backed off");
    Ok(())
}

pub async fn a_message_received_too_often_moves_to_dead_letters_and_can_be_replayed(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings { max_receive_count: 2 }).await?;
    q.send_batch(&[OutgoingMessage::new("poison")]).await?;
    for attempt in 1..=2u32 {
        let got = receive_n(q.as_ref(), 1, LONG).await?;
        assert_eq!(got.len(), 1, "attempt {attempt} delivered");
        assert_eq!(got[0].receive_count, attempt);
        q.change_visibility(&got[0].receipt_handle, Duration::ZERO).await?;
    }
    assert!(receive_n(q.as_ref(), 1, LONG).await?.is_empty(), "third receive redrives instead");
    let dead = q.list_dead_letters(10).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    assert_eq!(q.depth().await?.dead, 1);
    assert_eq!(q.list_dead_letters(10).await?.len(), 1, "listing does not remove");
    assert_eq!(q.replay_dead_letters(10).await?, 1);
    let back = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(back.len(), 1, "replayed message is delivered");
    assert_eq!((back[0].body.as_str(), back[0].receive_count), ("poison", 1));
    let depth = q.depth().await?;
    assert_eq!((depth.dead, depth.visible), (0, 0));
    Ok(())
}

pub async fn a_large_batch_is_sent_and_received_whole(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    let msgs: Vec<OutgoingMessage> = (0..57).map(|i| OutgoingMessage::new(format!("{{\"i\":{i}}}"))).collect();
    let ids = q.send_batch(&msgs).await?;
    assert_eq!(ids.len(), 57);
    let got = receive_n(q.as_ref(), 57, LONG).await?;
    let mut bodies: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 57, "every message once");
    let receipts: Vec<String> = got.iter().map(|m| m.receipt_handle.clone()).collect();
    q.delete_batch(&receipts).await?;
    assert_eq!(q.depth().await?, QueueDepth::default());
    Ok(())
}

pub async fn a_delayed_message_is_not_received_before_its_delay(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    let delayed = OutgoingMessage { body: "later".into(), delay: Some(Duration::from_secs(2)) };
    q.send_batch(&[delayed, OutgoingMessage::new("now")]).await?;
    let first = receive_n(q.as_ref(), 2, LONG).await?;
    let bodies: Vec<&str> = first.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["now"]);
    h.let_queue_time_pass(Duration::from_secs(4)).await;
    let later = receive_n(q.as_ref(), 1, LONG).await?;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].body, "later");
    Ok(())
}

pub async fn concurrent_creates_of_one_link_write_it_once(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let attempts = (0..8).map(|i| {
        let store = Arc::clone(&store);
        // Same Salesforce record; half the racers saw another HubSpot id.
        let l = link(ObjectPair::Contact, "003RACE", if i % 2 == 0 { "900" } else { "901" });
        async move { store.put_link(&l, LinkCondition::MustNotExist).await }
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one racer creates the link: {results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(e.is_retryable(), "a lost race is a condition failure or a retryable conflict: {e:?}");
        }
    }
    let stored = store.get_link_by_salesforce(ObjectPair::Contact, "003RACE").await?;
    let stored = stored.unwrap_or_else(|| panic!("winner's link missing"));
    let other = if stored.hubspot_id == "900" { "901" } else { "900" };
    assert!(store.get_link_by_hubspot(ObjectPair::Contact, other).await?.is_none(), "no half-written loser");
    Ok(())
}

pub async fn concurrent_claims_of_one_key_grant_it_once(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let attempts = (0..8).map(|i| {
        let store = Arc::clone(&store);
        async move { store.claim("create hubspot contact for race@example.com", &format!("w{i}"), LONG).await }
    });
    let results = futures::future::join_all(attempts).await;
    let acquired = results.iter().filter(|r| matches!(r, Ok(Claim::Acquired))).count();
    assert_eq!(acquired, 1, "exactly one owner: {results:?}");
    Ok(())
}

pub async fn concurrent_receivers_get_each_message_once(h: &dyn Harness) -> R {
    let q = h.queue(QueueSettings::default()).await?;
    let msgs: Vec<OutgoingMessage> = (0..40).map(|i| OutgoingMessage::new(format!("m{i}"))).collect();
    q.send_batch(&msgs).await?;
    let receivers = (0..4).map(|_| {
        let q = Arc::clone(&q);
        async move {
            let mut got = Vec::new();
            for _ in 0..20 {
                got.extend(q.receive(5, LONG).await?);
            }
            Ok::<_, StoreError>(got)
        }
    });
    let mut bodies = Vec::new();
    for r in futures::future::join_all(receivers).await {
        bodies.extend(r?.into_iter().map(|m| m.body));
    }
    let total = bodies.len();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), total, "no message handed to two receivers");
    assert_eq!(total, 40, "every message handed out");
    Ok(())
}
