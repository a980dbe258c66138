//! `crm-sync import review|start|resume|status`: the import use cases of
//! `crm_sync_app`, a progress bar while the local runtime works the chunks,
//! and the job tables (counts summed over every chunk, done or not, and the
//! reason of a failed job).

use crate::args::{ImportObject, ImportTarget};
use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_sync_app::local::{LocalRuntime, Progress};
use crm_sync_app::store::{ChunkStatus, ImportChunk, JobStatus, StateStore};
use crm_sync_app::{
    App, AppError, ImportFilter, ImportJob, ImportObjects, ImportRequest, ImportReview, import_progress,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// Turns the command line into the use case's request.
pub fn request(target: &ImportTarget) -> anyhow::Result<ImportRequest> {
    let objects = match target.object {
        ImportObject::Leads => ImportObjects::Leads,
        ImportObject::Contacts => ImportObjects::Contacts,
        ImportObject::LeadsAndContacts => ImportObjects::LeadsAndContacts,
        ImportObject::Accounts => ImportObjects::Accounts,
        ImportObject::Opportunities => ImportObjects::Opportunities,
    };
    let filter = target.filter.as_deref().map(parse_filter).transpose()?;
    Ok(ImportRequest { objects, filter, chunk_size: target.chunk_size, add_to_segment: target.add_to_segment })
}

/// Parses `FIELD OPERATOR VALUE` (the value may contain spaces).
pub fn parse_filter(text: &str) -> anyhow::Result<ImportFilter> {
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let field = parts.next().unwrap_or_default().trim();
    let operator = parts.next().unwrap_or_default().trim();
    let value = parts.next().unwrap_or_default().trim();
    if field.is_empty() || operator.is_empty() || value.is_empty() {
        anyhow::bail!("the filter `{text}` is not `FIELD OPERATOR VALUE`, e.g. `LeadSource = Web`");
    }
    let value = value.trim_matches('\'').trim_matches('"');
    Ok(ImportFilter { field: field.into(), operator: operator.into(), value: value.into() })
}

/// The review as a table, with the verdict underneath.
pub fn review_text(review: &ImportReview) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(["object", "records", "chunks", "read with"]);
    for o in &review.objects {
        table.add_row([
            o.object.clone(),
            o.records.to_string(),
            o.chunks.to_string(),
            if o.bulk { "Bulk API 2.0" } else { "SOQL query" }.to_owned(),
        ]);
    }
    let mut out = format!(
        "{table}\n{} records; about {} Salesforce and {} HubSpot API calls",
        review.records, review.salesforce_calls, review.hubspot_calls
    );
    if let Some(reason) = &review.blocked {
        out.push_str(&format!("\nblocked: {reason}"));
    } else if review.within_budget {
        out.push_str("\nthe API budget allows it now");
    } else {
        out.push_str("\nthe API budget does not allow all of it now: it will pause and resume as the budget frees up");
    }
    out
}

/// Runs the local runtime until the job has nothing left to run here,
/// drawing a bar of the job's records as they sync: until the queues are
/// idle, or, while the job is running with chunk messages still to come
/// back (a chunk held by a worker that stopped is taken over when its lease
/// ends), again. Returns the job as it then stands.
pub async fn follow(runtime: &LocalRuntime, job: &ImportJob) -> anyhow::Result<ImportJob> {
    let total = job.spec.get("records").and_then(serde_json::Value::as_u64).unwrap_or(0);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records synced ({per_sec}) {msg}",
        )
        .context("progress bar template")?,
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut events = runtime.subscribe();
    let chunks_total = job.chunks_total;
    let watcher = {
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut chunks_done = 0u32;
            loop {
                match events.recv().await {
                    Ok(Progress::BatchSynced { stats, .. }) => {
                        let records = stats.created.values().sum::<u64>()
                            + stats.updated.values().sum::<u64>()
                            + stats.unchanged
                            + stats.skipped.values().sum::<u64>()
                            + stats.errors.values().sum::<u64>();
                        bar.inc(records);
                    }
                    Ok(Progress::ImportChunk { done: true, .. }) => {
                        chunks_done += 1;
                        bar.set_message(format!("chunk {chunks_done}/{chunks_total} read"));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    };
    let result = work_until_settled(runtime, &job.id).await;
    watcher.abort();
    bar.finish();
    result
}

/// The loop of [`follow`], without the bar.
async fn work_until_settled(runtime: &LocalRuntime, job_id: &str) -> anyhow::Result<ImportJob> {
    let app = runtime.app();
    loop {
        let report = runtime.run_until_idle().await.context("running the import")?;
        tracing::info!(
            messages = report.messages,
            retried = report.retried,
            failed = report.failed,
            chunks = report.import_chunks,
            "ImportRunFinished"
        );
        let job = app.store().get_import_job(job_id).await.context("reading the import job")?;
        let job = job.with_context(|| format!("import job {job_id} is gone"))?;
        let (job, chunks) = import_progress(app.store(), job).await.context("reading the import's chunks")?;
        let waiting = app.import_queue().depth().await.context("reading the chunk queue")?;
        if job.status != JobStatus::Running || waiting.visible + waiting.in_flight == 0 {
            return Ok(job);
        }
        for chunk in chunks.iter().filter(|c| c.status == ChunkStatus::Running) {
            if let Some(until) = chunk.lease_until.filter(|until| *until > app.clock().now()) {
                eprintln!(
                    "chunk {} is held by a worker until {} UTC; it is taken over then, from its checkpoint",
                    chunk.index,
                    until.format("%H:%M:%S")
                );
            }
        }
    }
}

/// What the operator is told once a job has been followed, and whether the
/// command succeeded: the job's table; for a failed job its reason and the
/// way on (`import resume`); for a job not finished here, where it stands.
pub fn outcome(job: &ImportJob) -> (String, bool) {
    let mut text = jobs_table(std::slice::from_ref(job)).to_string();
    let ok = match job.status {
        JobStatus::Completed => job.counts.failed == 0,
        JobStatus::Failed => {
            let reason = job.error.as_deref().unwrap_or("no reason was recorded");
            text.push_str(&format!(
                "\nimport {} failed: {reason}\nfix the cause, then run `crm-sync import resume {}`",
                job.id, job.id
            ));
            false
        }
        JobStatus::Paused => {
            text.push_str(&format!(
                "\nimport {} is paused until the API budget allows its next chunk; `crm-sync serve` or \
                 `crm-sync import resume {}` carries on with it",
                job.id, job.id
            ));
            false
        }
        JobStatus::Planned | JobStatus::Running => {
            text.push_str(&format!(
                "\nimport {} is not finished; `crm-sync import resume {}` carries on with it",
                job.id, job.id
            ));
            false
        }
    };
    if job.status == JobStatus::Completed && job.counts.failed > 0 {
        text.push_str(&format!("\n{} record(s) failed: `crm-sync health` lists why", job.counts.failed));
    }
    (text, ok)
}

/// Every job, newest first, as a table.
pub fn jobs_table(jobs: &[ImportJob]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "job",
        "status",
        "objects",
        "records",
        "chunks done",
        "read",
        "written",
        "failed",
        "skipped",
        "started",
    ]);
    for job in jobs {
        let objects =
            job.spec.pointer("/request/objects").and_then(serde_json::Value::as_str).unwrap_or("-").to_owned();
        let records = job.spec.get("records").and_then(serde_json::Value::as_u64).unwrap_or(0);
        table.add_row([
            job.id.clone(),
            job.status.as_str().to_owned(),
            objects,
            records.to_string(),
            format!("{}/{}", job.chunks_done, job.chunks_total),
            job.counts.read.to_string(),
            job.counts.queued.to_string(),
            job.counts.failed.to_string(),
            job.counts.skipped.to_string(),
            job.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    table
}

/// One job's chunks as a table.
pub fn chunks_table(chunks: &[ImportChunk]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["chunk", "status", "records", "read", "written", "failed", "skipped", "attempts", "error"]);
    for c in chunks {
        table.add_row([
            c.index.to_string(),
            c.status.as_str().to_owned(),
            c.spec.get("records").and_then(serde_json::Value::as_u64).unwrap_or(0).to_string(),
            c.counts.read.to_string(),
            c.counts.queued.to_string(),
            c.counts.failed.to_string(),
            c.counts.skipped.to_string(),
            c.attempts.to_string(),
            c.error.clone().unwrap_or_default(),
        ]);
    }
    table
}

/// `import status`: reads the jobs from the state file; needs no CRM access.
/// Counts are summed over every chunk, done or not; a failed job's reason
/// follows the table.
pub async fn status(store: &dyn StateStore, job: Option<&str>) -> anyhow::Result<String> {
    match job {
        None => {
            let mut jobs = Vec::new();
            for job in store.list_import_jobs().await.context("listing import jobs")? {
                jobs.push(import_progress(store, job).await.context("reading a job's chunks")?.0);
            }
            if jobs.is_empty() {
                return Ok("no imports yet".into());
            }
            Ok(format!("{}{}", jobs_table(&jobs), failure_lines(&jobs)))
        }
        Some(id) => {
            let found = store.get_import_job(id).await.context("reading the import job")?;
            let Some(found) = found else {
                anyhow::bail!("no import job `{id}`; `crm-sync import status` lists them");
            };
            let (found, chunks) = import_progress(store, found).await.context("listing the job's chunks")?;
            let jobs = std::slice::from_ref(&found);
            Ok(format!("{}{}\n{}", jobs_table(jobs), failure_lines(jobs), chunks_table(&chunks)))
        }
    }
}

/// One line per failed job: its reason and the way on.
fn failure_lines(jobs: &[ImportJob]) -> String {
    jobs.iter()
        .filter(|j| j.status == JobStatus::Failed)
        .map(|j| {
            format!(
                "\nimport {} failed: {} (`crm-sync import resume {}` once the cause is fixed)",
                j.id,
                j.error.as_deref().unwrap_or("no reason was recorded"),
                j.id
            )
        })
        .collect()
}

/// `import start`: plans and queues the job, then (unless detached) works it
/// here with a progress bar. Returns what to print and whether it
/// succeeded (every record imported).
pub async fn start(
    app: &App,
    runtime: &LocalRuntime,
    request: &ImportRequest,
    detach: bool,
) -> anyhow::Result<(String, bool)> {
    let job = crm_sync_app::import_start(app, request).await.context("starting the import")?;
    println!("import {} started: {} chunk(s)", job.id, job.chunks_total);
    if detach {
        return Ok(("queued; a running `crm-sync serve` on this state file works it".into(), true));
    }
    Ok(outcome(&follow(runtime, &job).await?))
}

/// `import start` on a deployed stack: plans the job and queues its chunks
/// for the import function; nothing runs here.
pub async fn start_deployed(app: &App, flags: &str, request: &ImportRequest) -> anyhow::Result<(String, bool)> {
    let job = crm_sync_app::import_start(app, request).await.context("starting the import")?;
    Ok((
        format!(
            "import {} started: {} chunk(s) queued for the import function\nfollow it with \
             `crm-sync import status {} {flags}`",
            job.id, job.chunks_total, job.id
        ),
        true,
    ))
}

/// `import resume JOB` on a deployed stack: queues the unfinished chunks
/// again for the import function.
pub async fn resume_deployed(app: &App, flags: &str, job_id: &str) -> anyhow::Result<(String, bool)> {
    let (job, unfinished) = match crm_sync_app::import_resume(app, job_id).await {
        Err(AppError::NotFound(_)) => anyhow::bail!("no import job `{job_id}`; `crm-sync import status` lists them"),
        other => other.context("resuming the import")?,
    };
    if unfinished.is_empty() {
        return Ok(outcome(&import_progress(app.store(), job).await?.0));
    }
    Ok((
        format!(
            "import {} resumed: {} chunk(s) queued again for the import function\nfollow it with \
             `crm-sync import status {} {flags}`",
            job.id,
            unfinished.len(),
            job.id
        ),
        true,
    ))
}

/// `import resume JOB`: takes a failed or unfinished job up again (each
/// chunk from its checkpoint) and, unless detached, works it here.
pub async fn resume(app: &App, runtime: &LocalRuntime, job_id: &str, detach: bool) -> anyhow::Result<(String, bool)> {
    let (job, unfinished) = match crm_sync_app::import_resume(app, job_id).await {
        Err(AppError::NotFound(_)) => anyhow::bail!("no import job `{job_id}`; `crm-sync import status` lists them"),
        other => other.context("resuming the import")?,
    };
    if unfinished.is_empty() {
        return Ok(outcome(&import_progress(app.store(), job).await?.0));
    }
    println!("import {} resumed: {} chunk(s) to finish", job.id, unfinished.len());
    if detach {
        return Ok(("queued; a running `crm-sync serve` on this state file works it".into(), true));
    }
    Ok(outcome(&follow(runtime, &job).await?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_field_operator_and_a_value_that_may_hold_spaces() {
        let filter = parse_filter("Industry = 'Real Estate'").unwrap();
        assert_eq!(filter.field, "Industry");
        assert_eq!(filter.operator, "=");
        assert_eq!(filter.value, "Real Estate");
    }

    #[test]
    fn a_filter_without_a_value_is_refused_with_an_example() {
        let error = parse_filter("LeadSource =").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("LeadSource = Web"), "{error}");
    }
}
