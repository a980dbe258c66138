//! Imports through the local runtime: chunking past 200,000 records, each
//! record arriving once, and the API cost of a 10,000-contact import.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::ObjectType;
use crm_sandbox::{Cut, Fault, Tripwire};
use crm_sync_app::{ImportObjects, ImportRequest, import_resume, import_review, import_start};
use crm_sync_domain::model::ObjectPair;
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::{ChunkCounts, ChunkStatus, ErrorFilter, JobStatus, ReceivedMessage};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The lease a chunk worker holds between checkpoints (the use case's).
const CHUNK_LEASE: Duration = Duration::from_secs(15 * 60);

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

/// The contacts' Salesforce ids in the order chunks read them.
async fn sorted_contact_ids(h: &Harness) -> Vec<String> {
    let mut ids: Vec<String> =
        h.app.salesforce().query("SELECT Id FROM Contact").await.unwrap().into_iter().map(|r| r.id).collect();
    ids.sort();
    ids
}

/// A worker takes the chunk message and the chunk's lease, checkpoints after
/// the first `done` ids, and dies: its message and its lease are dropped
/// where they are (neither settled nor given back).
async fn worker_dies_after(h: &Harness, job_id: &str, ids: &[String], done: usize) -> ReceivedMessage {
    let mut messages = h.app.import_queue().receive(1, h.runtime.options().visibility).await.unwrap();
    assert_eq!(messages.len(), 1, "the chunk message");
    let store = h.app.store();
    store.claim_chunk(job_id, 0, "worker-that-died", CHUNK_LEASE).await.unwrap().expect("the chunk is free");
    let counts = ChunkCounts { read: done as u64, queued: done as u64, failed: 0, skipped: 0 };
    store.checkpoint_chunk(job_id, 0, "worker-that-died", &ids[done - 1], counts, CHUNK_LEASE).await.unwrap();
    messages.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_held_by_a_dead_worker_comes_back_until_its_lease_ends_then_resumes_after_its_checkpoint() {
    let h = Harness::start(quiet_options()).await.unwrap();
    h.sandbox.salesforce().seed("Contact", 300).unwrap();
    let ids = sorted_contact_ids(&h).await;
    let job = import_start(&h.app, &contacts()).await.unwrap();
    worker_dies_after(&h, &job.id, &ids, 100).await;
    h.reset_counts();

    // The message comes back while the dead worker's lease still runs: the
    // next worker cannot claim the chunk and must keep the message.
    h.later(h.runtime.options().visibility + Duration::from_secs(1));
    assert!(h.runtime.import_step().await.unwrap(), "the message came back");
    let depth = h.app.import_queue().depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 1, "the chunk message is kept, not dropped: {depth:?}");
    let chunk = &h.app.store().list_chunks(&job.id).await.unwrap()[0];
    assert_eq!((chunk.status, chunk.owner.as_deref()), (ChunkStatus::Running, Some("worker-that-died")));
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0, "nothing written meanwhile");

    // Once the lease has ended the next worker takes the chunk over.
    h.later(CHUNK_LEASE);
    h.runtime.run_until_idle().await.unwrap();
    let (job, chunks) = crm_sync_app::import_status(&h.app, &job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!((chunks[0].attempts, chunks[0].status), (2, ChunkStatus::Done), "taken over once");
    assert_eq!(job.counts.read, 300, "the checkpointed counts carry over");
    assert_eq!(job.counts.queued, 300);
    assert_eq!(
        h.sandbox.hubspot().live_count(ObjectType::Contacts),
        200,
        "only the records after the checkpoint are written, and each once"
    );
    assert_eq!(h.counts().1.matching("batch/upsert"), 2, "two batches of 100, none sent twice");
    h.stop().await;
}

/// A chunk of several pages written with pages and upserts in flight, its
/// worker killed at HubSpot call `kill_at` (the call lost before or after
/// it took effect), then taken over after its lease: every contact ends in
/// HubSpot once, linked to its own record, with nothing in sync health.
async fn a_worker_killed_mid_chunk_leaves_every_contact_written_once(kill_at: u64, cut: Cut) {
    const CONTACTS: usize = 2_500;
    let h = Harness::start(quiet_options()).await.unwrap();
    h.sandbox.salesforce().seed("Contact", CONTACTS as u64).unwrap();
    let ids = sorted_contact_ids(&h).await;
    let tripwire = Arc::new(Tripwire::default());
    h.sandbox.hubspot_control().set_tripwire(Some(tripwire.clone()));
    let job = import_start(&h.app, &contacts()).await.unwrap();
    tripwire.arm(kill_at, cut);
    {
        let step = h.runtime.import_step();
        tokio::pin!(step);
        tokio::select! {
            step = &mut step => panic!("the chunk ran to its end past call {kill_at}: {step:?}"),
            () = tripwire.tripped() => {}
        }
        // What else was in flight goes on (the other page, the other upserts)
        // until no upsert has been made for a while; then the worker dies: its
        // future is dropped, and its message and lease stay where they were.
        let upserts = || h.counts().1.matching("batch/upsert");
        loop {
            let before = upserts();
            tokio::select! {
                step = &mut step => panic!("the chunk ran to its end past call {kill_at}: {step:?}"),
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            if upserts() == before {
                break;
            }
        }
    }
    h.sandbox.hubspot_control().set_tripwire(None);
    let chunk = &h.app.store().list_chunks(&job.id).await.unwrap()[0];
    assert_eq!(chunk.status, ChunkStatus::Running, "killed mid-chunk at call {kill_at}");

    h.later(CHUNK_LEASE + h.runtime.options().visibility);
    h.runtime.run_until_idle().await.unwrap();
    let (job, chunks) = crm_sync_app::import_status(&h.app, &job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed, "{chunks:?}");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), CONTACTS, "each contact written once");
    let store = h.app.store();
    let mut hubspot_ids = BTreeSet::new();
    for id in &ids {
        let link = store.get_link_by_salesforce(ObjectPair::Contact, id).await.unwrap();
        let link = link.unwrap_or_else(|| panic!("{id} is not linked (killed at {kill_at}, {cut:?})"));
        assert!(hubspot_ids.insert(link.hubspot_id.clone()), "{} linked twice", link.hubspot_id);
    }
    let errors = store.list_errors(&ErrorFilter::default()).await.unwrap();
    assert!(errors.is_empty(), "nothing to report: {errors:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_pages_are_in_flight_loses_and_duplicates_nothing() {
    // Early in the first page, as the second page starts, and well into it;
    // answers lost after the upsert took effect, and requests lost before.
    for (kill_at, cut) in
        [(3, Cut::AfterEffect), (11, Cut::AfterEffect), (16, Cut::BeforeEffect), (19, Cut::AfterEffect)]
    {
        a_worker_killed_mid_chunk_leaves_every_contact_written_once(kill_at, cut).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_refused_for_good_fails_the_job_with_the_crms_reason_and_a_resume_finishes_it() {
    let h = Harness::start(quiet_options()).await.unwrap();
    h.sandbox.salesforce().seed("Contact", 300).unwrap();
    h.sandbox.hubspot_control().add_fault(Fault::new(401, 1, "/crm/v3/objects/contacts/batch/upsert"));
    let job = import_start(&h.app, &contacts()).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();

    let (failed, chunks) = crm_sync_app::import_status(&h.app, &job.id).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed, "{failed:?}");
    let reason = failed.error.clone().unwrap_or_default();
    assert!(reason.contains("401") && reason.contains("Authentication credentials not found"), "{reason}");
    assert!(!reason.contains(crm_sandbox::hubspot::DEFAULT_TOKEN), "no credential in the reason: {reason}");
    assert_eq!((chunks[0].status, chunks[0].error.as_ref()), (ChunkStatus::Failed, Some(&reason)));
    let depth = h.app.import_queue().depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight + depth.dead, 0, "the message is done with: {depth:?}");
    // A page's upserts run side by side: those already sent beside the
    // refused one may have taken effect (the resume finds them by email).
    let written = h.sandbox.hubspot().live_count(ObjectType::Contacts);
    assert!(written < 300 && written % 100 == 0, "at most the batches in flight beside the refused one: {written}");

    // The cause is fixed; the job is resumed and finishes.
    h.sandbox.hubspot_control().clear_faults();
    let (resumed, unfinished) = import_resume(&h.app, &job.id).await.unwrap();
    assert_eq!((resumed.status, resumed.error, unfinished.len()), (JobStatus::Running, None, 1));
    h.runtime.run_until_idle().await.unwrap();
    let (done, _) = crm_sync_app::import_status(&h.app, &job.id).await.unwrap();
    assert_eq!((done.status, done.counts.read, done.counts.queued), (JobStatus::Completed, 300, 300));
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 300, "every contact once");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_of_a_job_whose_worker_died_counts_what_its_chunks_did_and_a_resume_finishes_it() {
    let h = Harness::start(quiet_options()).await.unwrap();
    h.sandbox.salesforce().seed("Contact", 300).unwrap();
    let ids = sorted_contact_ids(&h).await;
    let job = import_start(&h.app, &contacts()).await.unwrap();
    let message = worker_dies_after(&h, &job.id, &ids, 100).await;
    // The chunk's message is gone too (as a runtime that dropped it left it).
    h.app.import_queue().delete(&message.receipt_handle).await.unwrap();

    let (job, _) = crm_sync_app::import_status(&h.app, &job.id).await.unwrap();
    assert_eq!((job.status, job.counts.read, job.counts.queued), (JobStatus::Running, 100, 100), "true counts");

    let (_, unfinished) = import_resume(&h.app, &job.id).await.unwrap();
    assert_eq!(unfinished.len(), 1, "the chunk left running gets its message again");
    h.later(CHUNK_LEASE);
    h.runtime.run_until_idle().await.unwrap();
    let (job, _) = crm_sync_app::import_status(&h.app, &job.id).await.unwrap();
    assert_eq!((job.status, job.counts.read), (JobStatus::Completed, 300));
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 200, "resumed after the checkpoint");
    h.stop().await;
}
