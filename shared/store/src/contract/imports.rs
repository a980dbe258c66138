//! Checks of [`ImportJobStore`]: job lifecycle, chunk leases and take-over,
//! and duplicate job ids.

use std::time::Duration;

use super::harness::{Harness, R, expect_condition_failed};
use crate::ports::*;

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
    let progress = ChunkCounts { read: 100, queued: 99, failed: 1, skipped: 0 };
    store.checkpoint_chunk("job-1", 0, "w1", "locator-2", progress, lease).await?;
    let listed = store.list_chunks("job-1").await?;
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0].checkpoint.as_deref(), listed[0].counts), (Some("locator-2"), progress));
    assert_eq!(listed[1].status, ChunkStatus::Pending);
    let job = store.get_import_job("job-1").await?.unwrap_or_else(|| panic!("job missing"));
    assert_eq!(job.status, JobStatus::Running, "a claimed chunk starts the job");

    let job = store
        .complete_chunk("job-1", 0, "w1", ChunkCounts { read: 200_000, queued: 200_000, failed: 0, skipped: 0 })
        .await?;
    assert_eq!((job.chunks_done, job.status), (1, JobStatus::Running));
    assert!(store.claim_chunk("job-1", 0, "w1", lease).await?.is_none(), "done chunk is not claimable");
    store.claim_chunk("job-1", 1, "w2", lease).await?.unwrap_or_else(|| panic!("chunk 1 not claimed"));
    let job = store
        .complete_chunk("job-1", 1, "w2", ChunkCounts { read: 50_001, queued: 50_000, failed: 1, skipped: 0 })
        .await?;
    assert_eq!((job.chunks_done, job.status), (2, JobStatus::Completed));
    assert_eq!(job.counts, ChunkCounts { read: 250_001, queued: 250_000, failed: 1, skipped: 0 });
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

pub async fn a_failed_chunk_fails_its_job_with_the_reason_and_a_resume_takes_it_up_again(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.create_import_job("job-4", &serde_json::json!({}), &chunks(3)).await?;
    let lease = Duration::from_secs(600);
    store.claim_chunk("job-4", 0, "w1", lease).await?.unwrap_or_else(|| panic!("chunk 0 not claimed"));
    let done = ChunkCounts { read: 10, queued: 7, failed: 1, skipped: 2 };
    store.complete_chunk("job-4", 0, "w1", done).await?;
    store.claim_chunk("job-4", 1, "w2", lease).await?.unwrap_or_else(|| panic!("chunk 1 not claimed"));
    let progress = ChunkCounts { read: 5, queued: 4, failed: 0, skipped: 1 };
    store.checkpoint_chunk("job-4", 1, "w2", "id-5", progress, lease).await?;
    expect_condition_failed("a stranger fails the chunk", store.fail_chunk("job-4", 1, "w9", "no").await);
    store.fail_chunk("job-4", 1, "w2", "HubSpot 401: INVALID_AUTHENTICATION").await?;

    let job = store.get_import_job("job-4").await?.unwrap_or_else(|| panic!("job missing"));
    assert_eq!((job.status, job.error.as_deref()), (JobStatus::Failed, Some("HubSpot 401: INVALID_AUTHENTICATION")));
    assert_eq!((job.chunks_done, job.counts), (1, done), "the done chunk's counts, skipped included");
    assert_eq!(store.list_import_jobs().await?[0].error, job.error, "listed jobs carry the reason");
    let listed = store.list_chunks("job-4").await?;
    assert_eq!(listed[1].status, ChunkStatus::Failed);
    assert_eq!(listed[1].counts, progress, "a failed chunk keeps its counts");

    let unfinished = store.resume_import_job("job-4").await?;
    let indexes: Vec<u32> = unfinished.iter().map(|c| c.index).collect();
    assert_eq!(indexes, vec![1, 2], "the chunks not done, in order");
    assert_eq!((unfinished[0].status, unfinished[0].error.as_deref()), (ChunkStatus::Pending, None));
    assert_eq!((unfinished[0].checkpoint.as_deref(), unfinished[0].counts), (Some("id-5"), progress));
    let job = store.get_import_job("job-4").await?.unwrap_or_else(|| panic!("job missing"));
    assert_eq!((job.status, job.error), (JobStatus::Running, None));
    let again = store.claim_chunk("job-4", 1, "w3", lease).await?.unwrap_or_else(|| panic!("not claimed again"));
    assert_eq!((again.checkpoint.as_deref(), again.attempts), (Some("id-5"), 2), "resumes after its checkpoint");
    assert_eq!(store.resume_import_job("job-4").await?.len(), 2, "a second resume changes nothing");

    store.complete_chunk("job-4", 1, "w3", progress).await?;
    store.claim_chunk("job-4", 2, "w3", lease).await?.unwrap_or_else(|| panic!("chunk 2 not claimed"));
    let job = store.complete_chunk("job-4", 2, "w3", ChunkCounts::default()).await?;
    assert_eq!(job.status, JobStatus::Completed);
    assert!(store.resume_import_job("job-4").await?.is_empty(), "a completed job has nothing to resume");
    let job = store.get_import_job("job-4").await?.unwrap_or_else(|| panic!("job missing"));
    assert_eq!(job.status, JobStatus::Completed, "resuming a completed job leaves it completed");
    match store.resume_import_job("job-none").await {
        Err(crate::error::StoreError::NotFound { .. }) => {}
        other => panic!("resuming an unknown job: {other:?}"),
    }
    Ok(())
}

pub async fn a_released_chunk_is_taken_over_at_once_after_its_checkpoint(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.create_import_job("job-5", &serde_json::json!({}), &chunks(1)).await?;
    let lease = Duration::from_secs(900);
    store.claim_chunk("job-5", 0, "w1", lease).await?.unwrap_or_else(|| panic!("chunk not claimed"));
    let progress = ChunkCounts { read: 3, queued: 3, failed: 0, skipped: 0 };
    store.checkpoint_chunk("job-5", 0, "w1", "id-3", progress, lease).await?;
    assert!(store.claim_chunk("job-5", 0, "w2", lease).await?.is_none(), "held until released");
    expect_condition_failed("a stranger releases", store.release_chunk("job-5", 0, "w2").await);
    store.release_chunk("job-5", 0, "w1").await?;
    let c = store.claim_chunk("job-5", 0, "w2", lease).await?.unwrap_or_else(|| panic!("released, not claimed"));
    assert_eq!((c.owner.as_deref(), c.checkpoint.as_deref(), c.counts), (Some("w2"), Some("id-3"), progress));
    expect_condition_failed(
        "the first owner checkpoints after releasing",
        store.checkpoint_chunk("job-5", 0, "w1", "id-4", progress, lease).await,
    );
    Ok(())
}
