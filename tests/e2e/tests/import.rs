//! Imports through the local runtime: chunking past 200,000 records, each
//! record arriving once, and the API cost of a 10,000-contact import.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::ObjectType;
use crm_sync_app::{ImportObjects, ImportRequest, import_review, import_start};
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::JobStatus;

fn contacts() -> ImportRequest {
    ImportRequest { objects: ImportObjects::Contacts, filter: None, chunk_size: None, add_to_segment: false }
}

fn quiet_options() -> HarnessOptions {
    let mut options = HarnessOptions { webhooks: false, ..HarnessOptions::default() };
    options.sandbox.hubspot.rate_limit_per_10s = 100_000;
    options.sandbox.hubspot.daily_limit = 10_000_000;
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_of_ten_thousand_contacts_costs_a_few_calls_per_hundred_records() {
    let h = Harness::start(quiet_options()).await.unwrap();
    h.sandbox.salesforce().seed("Contact", 10_000).unwrap();

    let review = import_review(&h.app, &contacts()).await.unwrap();
    assert_eq!(review.records, 10_000);
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0, "a review writes nothing");

    h.reset_counts();
    let job = import_start(&h.app, &contacts()).await.unwrap();
    assert_eq!(job.chunks_total, 1);
    h.runtime.run_until_idle().await.unwrap();

    let (sf, hs) = h.counts();
    let imported = h.sandbox.hubspot().live_count(ObjectType::Contacts);
    let job = h.app.store().get_import_job(&job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(imported as u64 + job.counts.failed, 10_000, "every contact is imported or reported");
    assert!(imported >= 9_000, "imported {imported}");
    eprintln!("salesforce calls: {}, hubspot calls: {}", sf.total, hs.total);
    // Reads and writes take about 20 calls; the duplicate rule two queries
    // (Lead and Contact) per 200 emails, 100 more.
    assert!(sf.total <= 20 + 100, "Salesforce calls: {} ({:?})", sf.total, sf.endpoints);
    assert!(hs.total <= 110, "HubSpot calls: {} ({:?})", hs.total, hs.endpoints);
    assert!(review.salesforce_calls >= sf.total.saturating_sub(2), "the review's estimate is honest");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_of_250001_records_runs_as_two_chunks_and_every_record_arrives_once() {
    let h = Harness::start(quiet_options()).await.unwrap();
    h.sandbox.salesforce().seed("Contact", 250_001).unwrap();

    let job = import_start(&h.app, &contacts()).await.unwrap();
    assert_eq!(job.chunks_total, 2);
    let chunks = h.app.store().list_chunks(&job.id).await.unwrap();
    assert!(chunks.iter().all(|c| c.spec["records"].as_u64().unwrap_or(u64::MAX) <= 200_000));
    h.runtime.run_until_idle().await.unwrap();

    let job = h.app.store().get_import_job(&job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.chunks_done, 2);
    assert_eq!(job.counts.read, 250_001, "each record is read once");
    let imported = h.sandbox.hubspot().live_count(ObjectType::Contacts) as u64;
    assert_eq!(imported + job.counts.failed, 250_001, "every record arrives once or is reported");
    assert_eq!(job.counts.queued, imported, "one HubSpot record per linked Salesforce record");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_whose_worker_died_resumes_after_its_checkpoint() {
    let h = Harness::start(quiet_options()).await.unwrap();
    h.sandbox.salesforce().seed("Contact", 300).unwrap();
    let job = import_start(&h.app, &contacts()).await.unwrap();

    // A worker claims the chunk, checkpoints after the first 100 ids and dies
    // (its lease runs out; the chunk message comes back).
    let ids: Vec<String> = {
        let mut ids: Vec<String> =
            h.app.salesforce().query("SELECT Id FROM Contact").await.unwrap().into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    };
    let store = h.app.store();
    let lease = std::time::Duration::from_millis(1);
    store.claim_chunk(&job.id, 0, "worker-that-died", lease).await.unwrap().expect("the chunk is free");
    let counts = crm_sync_store::ChunkCounts { read: 100, queued: 100, failed: 0 };
    store.checkpoint_chunk(&job.id, 0, "worker-that-died", &ids[99], counts, lease).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    h.runtime.run_until_idle().await.unwrap();
    let job = store.get_import_job(&job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.counts.read, 300, "the checkpointed counts carry over");
    assert_eq!(
        h.sandbox.hubspot().live_count(ObjectType::Contacts),
        200,
        "only the records after the checkpoint are written again"
    );
    h.stop().await;
}
