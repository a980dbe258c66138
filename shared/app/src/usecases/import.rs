//! Imports from Salesforce: review (count and API cost, nothing written),
//! start (plan chunks of at most 200,000, queue them), and run one chunk.
//!
//! Layout: [`request`] holds the shapes (request, review, chunk message and
//! stored chunk), [`plan`] the checks and the cost estimate made before
//! anything is written; this file runs the three steps and writes records.
//!
//! Invariants:
//! - A review writes nothing but usage figures; a start writes the job and
//!   its chunks only once the budget allows the whole estimate.
//! - A chunk is run by whoever holds its lease; its checkpoint only moves
//!   forward, after the page before it is written and linked, so a crash
//!   re-reads at most one page; its rows linked meanwhile then go through
//!   the normal sync instead of being written again.
//! - Import writes are creates keyed by email or `salesforce_id`, linked with
//!   "must not exist": an import never overwrites a link the sync made, but
//!   for one case: a contact the email rule picks takes over the link of the
//!   record it beat, as the sync does (SPEC section 1).
//! - Leads and contacts sharing an email are decided by the sync's rule
//!   before anything is written, whatever page, chunk or object they are in:
//!   only the pick is written, the others are reported as `duplicates`.
//! - A link fingerprints only what its upsert wrote (SPEC section 1): after an
//!   email-only import the other fields are not "in sync", so the first sync
//!   once the contact joins the segment fills them instead of reading
//!   HubSpot's blanks as clears.
//!
//! A chunk is a key range of Salesforce ids (applied to the rows read, in
//! byte order), so that it can be re-read after a
//! crash and resumed from its checkpoint (the last id done). Records are read
//! with Bulk API 2.0 above a threshold, else with paged SOQL. Records not yet
//! linked are written to HubSpot directly with batch upserts (by email for
//! contacts, by `salesforce_id` for companies and deals): one HubSpot call per
//! 100 records, no read first; records already linked go through the normal
//! sync as intents. Leads and contacts follow SPEC section 7: with no
//! inclusion segment (or inside it) every mapped field, else the email only.
//! With `add_to_segment` (the segment being a HubSpot list) every imported
//! contact is added to the list and so gets every mapped field; without it,
//! an existing contact already in the list gets every mapped field too
//! ([`segment`]).

use crate::codec::{
    HUBSPOT_OPT_OUT_PROPERTY, HUBSPOT_SALESFORCE_ID_PROPERTY, category_name, email_in, encode_link_state_of,
    sf_snapshot_of, soql_escape,
};
use crate::messages::queue_intents;
use crate::ports::{HUBSPOT_BATCH, PackedRows, RowView, SfRecord, WriteResult};
use crate::usage::{Priority, ensure_budget, flush_usage};
use crate::usecases::sync::{
    EmailKeys, EmailPicks, ObjectRead, duplicate_report, email_key, relink, resolve_emails, resolve_emails_by_scan,
};
use crate::{App, AppError};
use crm_sync_crm::error::{self as crm_error, System};
use crm_sync_domain::chunks::{ChunkSize, plan_key_chunks};
use crm_sync_domain::config::InclusionSegment;
use crm_sync_domain::decision::{Action, HUBSPOT_EMAIL_PROPERTY, SALESFORCE_EMAIL_FIELD};
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::model::FieldMap;
use crm_sync_domain::{
    DecisionContext, DecisionInput, Email, HubSpotId, ObjectPair, RecordSnapshot, SalesforceId, SfObject, SyncIntent,
    Trigger, decide,
};
use crm_sync_store::{
    ChunkCounts, ChunkStatus, ErrorReport, ImportChunk, ImportJob, JobStatus, Link, LinkCondition, LinkWrite, NewChunk,
    OutgoingMessage, ReceivedMessage, StateStore,
};
use futures::stream::{self, FuturesOrdered, StreamExt};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tracing::{info, instrument, warn};

/// How long a chunk worker holds its chunk between checkpoints.
const CHUNK_LEASE: Duration = Duration::from_secs(15 * 60);
/// Records per checkpoint inside a chunk; a multiple of the email rule's
/// 200 emails per query, which the cost estimate relies on. A page is held
/// as records and decisions (about 10 KB each) while it is written, so it
/// is kept small beside the chunk's packed rows.
const PAGE: usize = 1_000;
const _: () = assert!(PAGE.is_multiple_of(crate::ports::SALESFORCE_BATCH));
/// Pages of a chunk being written at once, and HubSpot upserts of a page
/// in flight at once: while one waits on HubSpot or the store, another is
/// decided or linked, so that the sync's work spreads over the machine's
/// cores instead of taking turns on one. (At HubSpot's real limits the
/// upserts wait on the rate limiter instead, and each page held adds about
/// 5 MB.)
const PAGES_IN_FLIGHT: usize = 2;
const BATCHES_IN_FLIGHT: usize = 4;
/// Matching and associations with companies.
mod companies;
/// Checks and cost estimate made before anything is written.
mod plan;
/// The request, review and chunk shapes.
mod request;
/// Which existing contacts are already in the segment list.
mod segment;

use plan::{
    SCAN_COUNT_CALLS, ScanRows, blocked_reason, bulk_job_calls, chunk_size, email_rule_calls, estimate, list_add_calls,
    scan_rows, scans_emails, segment_list, where_clause,
};
use request::ChunkSpec;
pub use request::{ChunkMessage, ChunkReport, ImportFilter, ImportObjects, ImportRequest, ImportReview, ObjectReview};

/// Counts what an import would bring and what it would cost. Writes nothing.
///
/// One `COUNT()` per object; the cost is the estimate of [`plan`], plus the
/// email rule's queries for leads and contacts (two per 200 records), plus
/// the owner directory (one call on each side) when an owner field is mapped.
/// An import that would create nothing is still reviewed, with the reason
/// in `blocked`, so that the operator sees both.
#[instrument(skip_all, fields(objects = ?request.objects))]
pub async fn import_review(app: &App, request: &ImportRequest) -> Result<ImportReview, AppError> {
    let filter = request.filter.as_ref().map(ImportFilter::soql).transpose()?;
    let size = chunk_size(app, request)?;
    let list = segment_list(app, request)?;
    let mut review = ImportReview {
        objects: Vec::new(),
        records: 0,
        salesforce_calls: 0,
        hubspot_calls: 0,
        blocked: blocked_reason(app, request.objects),
        within_budget: true,
    };
    let mut scan: Option<ScanRows> = None;
    for &object in request.objects.objects() {
        let soql = format!("SELECT COUNT() FROM {}{}", object.api_name(), where_clause(filter.as_deref()));
        let records = app.salesforce().count(&soql).await?;
        let chunks = records.div_ceil(size.get());
        let (bulk, sf, hs) = estimate(app, records, chunks);
        let (company_sf, company_hs) = companies::company_calls(app, object, records).await?;
        let (sf, hs) = (sf + company_sf, hs + company_hs);
        review.records += records;
        let object_scan = if scans_emails(object, bulk || chunks > 1) {
            if scan.is_none() {
                scan = Some(scan_rows(app).await?);
                review.salesforce_calls += SCAN_COUNT_CALLS;
            }
            scan
        } else {
            None
        };
        review.salesforce_calls += sf + email_rule_calls(object, records, chunks, object_scan);
        review.hubspot_calls +=
            hs + list_add_calls(records, list.as_ref()) + segment::calls(app, object, records, list.as_deref());
        review.objects.push(ObjectReview { object: object.api_name().to_owned(), records, chunks, bulk });
    }
    // The owner directory (one call on each side) when an owner is mapped.
    if review.records > 0 && request.objects.objects().iter().any(|o| app.maps_owner(o.pair())) {
        review.salesforce_calls += 1;
        review.hubspot_calls += 1;
    }
    review.within_budget = match ensure_budget(app, Priority::Bulk, review.salesforce_calls, review.hubspot_calls).await
    {
        Ok(_) => true,
        Err(AppError::BudgetSpent { .. }) => false,
        Err(e) => return Err(e),
    };
    flush_usage(app).await?;
    Ok(review)
}

/// Plans an import and queues its chunks. Fails with a reason, having written
/// nothing, when the object's sync is off.
///
/// An object within the chunk size becomes one chunk read whole; a larger
/// one is scanned for its ids (one Bulk job) and cut into id ranges. The
/// job is stored before its chunk messages are sent, so a worker never
/// receives a chunk the store does not know; a job with no chunk is
/// completed at once.
#[instrument(skip_all, fields(objects = ?request.objects, job_id = tracing::field::Empty))]
pub async fn import_start(app: &App, request: &ImportRequest) -> Result<ImportJob, AppError> {
    if let Some(reason) = blocked_reason(app, request.objects) {
        return Err(AppError::Invalid(reason));
    }
    let filter = request.filter.as_ref().map(ImportFilter::soql).transpose()?;
    let size = chunk_size(app, request)?;
    let add_to_list = segment_list(app, request)?;
    app.ensure_hubspot_schema().await?;
    let mut chunks: Vec<NewChunk> = Vec::new();
    let mut total = 0;
    let mut company_costs = (0, 0);
    let mut rule_calls = 0;
    let mut scan: Option<ScanRows> = None;
    for &object in request.objects.objects() {
        let soql = format!("SELECT COUNT() FROM {}{}", object.api_name(), where_clause(filter.as_deref()));
        let records = app.salesforce().count(&soql).await?;
        total += records;
        let (company_sf, company_hs) = companies::company_calls(app, object, records).await?;
        let segment_hs = segment::calls(app, object, records, add_to_list.as_deref());
        company_costs = (company_costs.0 + company_sf, company_costs.1 + company_hs + segment_hs);
        if records == 0 {
            continue;
        }
        let bulk = records > app.settings().bulk_threshold;
        let email_scan = if scans_emails(object, bulk || records > size.get()) {
            if scan.is_none() {
                scan = Some(scan_rows(app).await?);
            }
            scan
        } else {
            None
        };
        if records <= size.get() {
            rule_calls += email_rule_calls(object, records, 1, email_scan);
            let spec = ChunkSpec {
                object,
                filter: filter.clone(),
                first: None,
                last: None,
                records,
                bulk,
                add_to_list: add_to_list.clone(),
                email_scan,
            };
            chunks.push(NewChunk { index: chunks.len() as u32, spec: serde_json::to_value(&spec)? });
            continue;
        }
        // Larger than one chunk: split by id, so each chunk is a key range
        // that can be re-read on its own.
        let soql = format!("SELECT Id FROM {}{}", object.api_name(), where_clause(filter.as_deref()));
        let mut ids: Vec<String> = app.salesforce().bulk_ids(&soql).await?;
        ids.sort();
        ids.dedup();
        let plan = plan_key_chunks(&ids, size).map_err(|e| AppError::Invalid(e.to_string()))?;
        rule_calls += email_rule_calls(object, records, plan.len() as u64, email_scan);
        for key_chunk in plan {
            let spec = ChunkSpec {
                object,
                filter: filter.clone(),
                first: Some(key_chunk.first.clone()),
                last: Some(key_chunk.last.clone()),
                records: key_chunk.offsets.len(),
                bulk: true,
                add_to_list: add_to_list.clone(),
                email_scan,
            };
            chunks.push(NewChunk { index: chunks.len() as u32, spec: serde_json::to_value(&spec)? });
        }
    }
    let (_, sf_cost, hs_cost) = estimate(app, total, chunks.len() as u64);
    let (company_sf, company_hs) = company_costs;
    ensure_budget(
        app,
        Priority::Bulk,
        sf_cost + company_sf + rule_calls,
        hs_cost + company_hs + list_add_calls(total, add_to_list.as_ref()),
    )
    .await?;
    let id = uuid::Uuid::new_v4().to_string();
    tracing::Span::current().record("job_id", id.as_str());
    let spec = serde_json::json!({ "request": request, "records": total });
    let job = app.store().create_import_job(&id, &spec, &chunks).await?;
    let messages: Vec<OutgoingMessage> = chunks
        .iter()
        .map(|c| {
            serde_json::to_string(&ChunkMessage { job_id: id.clone(), index: c.index, waits: 0, relays: 0 })
                .map(OutgoingMessage::new)
        })
        .collect::<Result<_, _>>()?;
    app.import_queue().send_batch(&messages).await?;
    if chunks.is_empty() {
        app.store().set_import_job_status(&id, JobStatus::Completed).await?;
    } else {
        app.store().set_import_job_status(&id, JobStatus::Running).await?;
    }
    flush_usage(app).await?;
    info!(job_id = %id, records = total, chunks = chunks.len(), "ImportStarted");
    Ok(app.store().get_import_job(&id).await?.unwrap_or(job))
}

/// Takes up again a job whose chunks were left unfinished: a failed job
/// (after its cause is fixed), or one whose worker stopped (a killed
/// process). The job turns running, its failed chunks pending, and every
/// chunk not done gets its message again; each resumes after its
/// checkpoint. A chunk still leased to a worker that stopped is taken over
/// when the lease ends. A completed job is returned as it is.
///
/// The job's chunk messages in the dead letters (a worker that stopped on
/// a chunk's very last attempt) are superseded by the fresh messages: they
/// go back on the queue, where they find their chunk taken and end without
/// running it, and their sync-health entries, which asked for this resume,
/// are resolved.
#[instrument(skip_all, fields(job_id = %job_id))]
pub async fn import_resume(app: &App, job_id: &str) -> Result<(ImportJob, Vec<ImportChunk>), AppError> {
    let unfinished = app.store().resume_import_job(job_id).await.map_err(|e| match e {
        crm_sync_store::StoreError::NotFound { .. } => AppError::NotFound(format!("import job {job_id}")),
        other => AppError::Store(other),
    })?;
    let messages: Vec<OutgoingMessage> = unfinished
        .iter()
        .map(|c| {
            serde_json::to_string(&ChunkMessage { job_id: job_id.to_owned(), index: c.index, waits: 0, relays: 0 })
                .map(OutgoingMessage::new)
        })
        .collect::<Result<_, _>>()?;
    app.import_queue().send_batch(&messages).await?;
    let superseded = take_back_dead_chunks(app, job_id).await?;
    info!(chunks = messages.len(), superseded, "ImportResumed");
    let job =
        app.store().get_import_job(job_id).await?.ok_or_else(|| AppError::NotFound(format!("import job {job_id}")))?;
    Ok((job, unfinished))
}

/// Moves the dead-lettered chunk messages of `job_id` back to the import
/// queue and resolves the sync-health entries of those moved; returns how
/// many moved.
async fn take_back_dead_chunks(app: &App, job_id: &str) -> Result<usize, AppError> {
    let queue = app.import_queue();
    let ids: Vec<String> = queue
        .list_dead_letters(crate::usecases::dead_letters::MOST_DEAD_LETTERS)
        .await?
        .into_iter()
        .filter(|m| serde_json::from_str::<ChunkMessage>(&m.body).is_ok_and(|c| c.job_id == job_id))
        .map(|m| m.id)
        .collect();
    Ok(crate::usecases::dead_letters::replay_by_id(queue, app.store(), &ids).await?.len())
}

/// The job and its chunks (`crm-sync import status`), with the job's counts
/// as they stand ([`import_progress`]); `NotFound` for an unknown job id.
pub async fn import_status(app: &App, job_id: &str) -> Result<(ImportJob, Vec<ImportChunk>), AppError> {
    let job =
        app.store().get_import_job(job_id).await?.ok_or_else(|| AppError::NotFound(format!("import job {job_id}")))?;
    Ok(import_progress(app.store(), job).await?)
}

/// The job's chunks, and the job with its counts as they stand: the store
/// adds a chunk's counts to the job when the chunk is done, so a job whose
/// chunks are running, waiting or failed would show less than was read and
/// written. The counts returned are the sum over every chunk (a chunk's
/// counts are those of its last checkpoint until it is done).
pub async fn import_progress(
    store: &dyn StateStore,
    mut job: ImportJob,
) -> Result<(ImportJob, Vec<ImportChunk>), crm_sync_store::StoreError> {
    let chunks = store.list_chunks(&job.id).await?;
    job.counts = chunks.iter().fold(ChunkCounts::default(), |mut sum, c| {
        sum.add(c.counts);
        sum
    });
    Ok((job, chunks))
}

/// Runs one chunk: claims it, reads its records, writes them, checkpoints
/// every thousand records, and completes it.
///
/// What becomes of the chunk message (the error's [`AppError::retry_after`]
/// says it to the runtime):
/// - done, or a chunk that is finished, failed, unknown, or of a failed job
///   (`ran: false`): the message is done with;
/// - the chunk is leased to another worker (alive, or dead with its lease
///   running): [`AppError::ChunkHeld`], retried when the lease ends, so that
///   the next worker then takes it over and resumes after its checkpoint;
/// - a failure worth retrying (budget spent, 429, 5xx): the lease is given
///   back and the message comes back after the delay; a spent budget also
///   marks the job paused;
/// - a failure for good (e.g. a refused token): the chunk and its job are
///   marked failed with the reason, and the message is done with; `import
///   resume` takes the job up again.
#[instrument(skip_all, fields(job_id = tracing::field::Empty, index = tracing::field::Empty))]
pub async fn run_import_chunk(app: &App, message: &ReceivedMessage) -> Result<ChunkReport, AppError> {
    let msg: ChunkMessage = serde_json::from_str(&message.body)
        .map_err(|e| AppError::Invalid(format!("not an import chunk message: {e}")))?;
    tracing::Span::current().record("job_id", msg.job_id.as_str()).record("index", msg.index);
    let not_run = |msg: ChunkMessage| ChunkReport {
        job_id: msg.job_id,
        index: msg.index,
        records: 0,
        counts: ChunkCounts::default(),
        ran: false,
    };
    let Some(job) = app.store().get_import_job(&msg.job_id).await? else {
        warn!("ImportChunkOfUnknownJob");
        return Ok(not_run(msg));
    };
    if job.status == JobStatus::Failed {
        info!("ImportChunkWaitsForResume");
        return Ok(not_run(msg));
    }
    let owner = format!("chunk-worker-{}", uuid::Uuid::new_v4());
    let Some(chunk) = app.store().claim_chunk(&msg.job_id, msg.index, &owner, CHUNK_LEASE).await? else {
        return unclaimed(app, &msg).await.map(|()| not_run(msg));
    };
    match run_claimed(app, &msg, &owner, chunk, job.status).await {
        Ok(report) => Ok(report),
        Err(error) => {
            // A relayed copy's attempts come after every receive of the
            // copies before it.
            let attempt = msg.relays * crate::retry::MAX_RECEIVES + message.receive_count;
            Err(settle_failure(app, &msg, &owner, error, attempt).await)
        }
    }
}

/// The object pair a chunk imports, from its stored range (for its
/// sync-health entries); contacts when the chunk cannot be read.
pub(crate) async fn chunk_pair(app: &App, msg: &ChunkMessage) -> ObjectPair {
    let chunks = app.store().list_chunks(&msg.job_id).await.unwrap_or_default();
    chunks
        .into_iter()
        .find(|c| c.index == msg.index)
        .and_then(|c| serde_json::from_value::<ChunkSpec>(c.spec).ok())
        .map_or(ObjectPair::Contact, |spec| spec.object.pair())
}

/// Why a chunk could not be claimed: finished, failed or unknown (nothing
/// to do), or leased to another worker ([`AppError::ChunkHeld`] until the
/// lease ends).
async fn unclaimed(app: &App, msg: &ChunkMessage) -> Result<(), AppError> {
    let chunks = app.store().list_chunks(&msg.job_id).await?;
    let Some(chunk) = chunks.into_iter().find(|c| c.index == msg.index) else {
        warn!("ImportChunkUnknown");
        return Ok(());
    };
    match chunk.status {
        ChunkStatus::Done | ChunkStatus::Failed => Ok(()),
        ChunkStatus::Running | ChunkStatus::Pending => {
            let now = app.clock().now();
            let left = chunk.lease_until.and_then(|until| (until - now).to_std().ok()).unwrap_or_default();
            let retry_after = left.max(Duration::from_secs(1));
            info!(retry_after_s = retry_after.as_secs(), "ImportChunkHeldByAnotherWorker");
            Err(AppError::ChunkHeld { job_id: msg.job_id.clone(), index: msg.index, retry_after })
        }
    }
}

/// Settles a claimed chunk whose run failed, and returns the error for the
/// runtime: a failure worth retrying gives the lease back (a spent budget
/// also pauses the job); a failure for good fails the chunk and its job
/// with the reason. A worker that lost its lease leaves the chunk to the
/// worker that took it over.
async fn settle_failure(app: &App, msg: &ChunkMessage, owner: &str, error: AppError, attempt: u32) -> AppError {
    let store = app.store();
    // The last receive of a failure worth retrying (an outage that outlasted
    // every retry): the chunk and its job fail with the reason, so that the
    // job says why it stopped and `import resume` takes it up again, rather
    // than the message going to the dead letters with the job `running`.
    if error.retry_after().is_some() && !error.is_api_limit() && attempt >= crate::retry::MAX_RECEIVES {
        let reason = format!("gave up after {attempt} attempts: {}", failure_reason(&error));
        warn!(%reason, "ImportChunkFailed");
        if let Err(e) = store.fail_chunk(&msg.job_id, msg.index, owner, &reason).await {
            warn!(error = %e, "ImportChunkNotSettled");
        }
        return AppError::GaveUp(reason);
    }
    let settled = if error.retry_after().is_some() {
        if matches!(error, AppError::BudgetSpent { .. })
            && let Err(e) = store.set_import_job_status(&msg.job_id, JobStatus::Paused).await
        {
            warn!(error = %e, "ImportJobNotPaused");
        }
        store.release_chunk(&msg.job_id, msg.index, owner).await
    } else if matches!(&error, AppError::Store(e) if e.is_condition_failed()) {
        info!("ImportChunkLeaseLost");
        Ok(())
    } else {
        let reason = failure_reason(&error);
        warn!(%reason, "ImportChunkFailed");
        store.fail_chunk(&msg.job_id, msg.index, owner, &reason).await
    };
    match settled {
        Ok(()) => {}
        Err(e) if e.is_condition_failed() => info!("ImportChunkLeaseLost"),
        Err(e) => warn!(error = %e, "ImportChunkNotSettled"),
    }
    error
}

/// The reason a job failed, as an operator reads it: the CRM's status, code
/// and message for a refused call (never a credential: the clients keep
/// those out of their errors), else the error and its causes; at most 500
/// characters.
fn failure_reason(error: &AppError) -> String {
    let mut reason = match error {
        AppError::Crm(e) => e.to_string(),
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    };
    if let Some((cut, _)) = reason.char_indices().nth(500) {
        reason.truncate(cut);
    }
    reason
}

/// Runs a chunk this worker holds, from its checkpoint to its end.
///
/// Before reading, the chunk's whole cost is checked against the bulk
/// budget (`BudgetSpent` when it does not fit). Rows are read in one query
/// (or Bulk job), sorted by id and written page by page from the
/// checkpoint on.
async fn run_claimed(
    app: &App,
    msg: &ChunkMessage,
    owner: &str,
    chunk: ImportChunk,
    job_status: JobStatus,
) -> Result<ChunkReport, AppError> {
    let spec: ChunkSpec = serde_json::from_value(chunk.spec.clone())
        .map_err(|e| AppError::Invalid(format!("the stored chunk is not readable: {e}")))?;
    let mut counts = chunk.counts;
    // Pace: stop before the budget the chunk needs is gone (the message
    // comes back after the delay and resumes from the checkpoint).
    let (_, sf_cost, hs_cost) = estimate(app, spec.records, 1);
    // A chunk planned before the scans were counted assumes each object as
    // large as the chunk.
    let scan = scans_emails(spec.object, spec.bulk)
        .then(|| spec.email_scan.unwrap_or(ScanRows { leads: spec.records, contacts: spec.records }));
    let sf_cost = sf_cost + email_rule_calls(spec.object, spec.records, 1, scan);
    let hs_cost = hs_cost
        + list_add_calls(spec.records, spec.add_to_list.as_ref())
        + segment::calls(app, spec.object, spec.records, spec.add_to_list.as_deref());
    ensure_budget(app, Priority::Bulk, sf_cost, hs_cost).await?;
    if job_status == JobStatus::Paused {
        app.store().set_import_job_status(&msg.job_id, JobStatus::Running).await?;
    }
    let pair = spec.object.pair();
    let fields = import_fields(app, spec.object);
    let soql =
        format!("SELECT {} FROM {}{}", fields.join(", "), spec.object.api_name(), where_clause(spec.filter.as_deref()));
    // The range is applied to the rows read, in the planner's own (byte)
    // order: SOQL string comparison may ignore case, which would move
    // records between chunks. Rows done before a crash are skipped.
    let first = spec.first.clone();
    let last = spec.last.clone();
    let done_up_to = chunk.checkpoint.clone();
    // (Called for every row of the object, so the id is compared in its
    // canonical form on the stack.)
    let in_chunk = move |id: &str| {
        let Ok(id) = SalesforceId::canonical(id) else { return false };
        let id = &id[..];
        first.as_deref().is_none_or(|f| id >= f.as_bytes())
            && last.as_deref().is_none_or(|l| id <= l.as_bytes())
            && done_up_to.as_deref().is_none_or(|d| id > d.as_bytes())
    };
    // A chunk reading its object unfiltered reads every record of it: it
    // notes the emails of those outside its range, so that the email rule
    // need not read the object again (see `ObjectRead`).
    // (Contacts only: a Lead chunk does not read what the rule needs of a
    // converted Lead.)
    let own_scan = scan.is_some() && spec.bulk && spec.filter.is_none() && spec.object == SfObject::Contact;
    // Sized for every record of the object outside the chunk, as planned.
    let outside = scan.map_or(0, |s| s.contacts.saturating_sub(spec.records));
    let elsewhere: Mutex<EmailKeys> = Mutex::new(EmailKeys::with_capacity_and_hasher(
        if own_scan { usize::try_from(outside).unwrap_or(0) } else { 0 },
        Default::default(),
    ));
    let keep = |r: RowView<'_>| {
        if in_chunk(r.id()) {
            return true;
        }
        if own_scan && let Some(email) = r.text(SALESFORCE_EMAIL_FIELD).and_then(|s| Email::parse(s).ok()) {
            elsewhere.lock().unwrap_or_else(PoisonError::into_inner).insert(email_key(&email));
        }
        false
    };
    // The rows are held packed until their page is written: a chunk of
    // 200,000 contacts is about the size of its data, not of as many maps.
    let mut rows: PackedRows = if spec.bulk {
        app.salesforce().bulk_query_filtered(&soql, &keep).await?
    } else {
        app.salesforce().query(&soql).await?.into_iter().filter(|r| in_chunk(&r.id)).collect()
    };
    rows.rewrite_ids(|id| SalesforceId::parse(id).ok().map(|id| id.as_str().to_owned()));
    rows.sort_dedup_by_id();
    let total = rows.len() as u64;
    let elsewhere = elsewhere.into_inner().unwrap_or_else(PoisonError::into_inner);
    // A large chunk resolves the email rule for all its rows at once, over
    // Bulk jobs (a few calls per chunk instead of two queries per 200
    // emails); a chunk that read its whole object is itself that object's
    // side, with a query for the emails also met outside its range.
    let chunk_picks = if let Some(scan_rows) = scan {
        let emails: BTreeSet<Email> = (0..rows.len())
            .filter_map(|i| rows.text(i, SALESFORCE_EMAIL_FIELD))
            .filter_map(|s| Email::parse(s).ok())
            .collect();
        let object_rows = match spec.object {
            SfObject::Lead => scan_rows.leads,
            _ => scan_rows.contacts,
        };
        let read = own_scan.then(|| ObjectRead {
            object: spec.object,
            rows: &rows,
            elsewhere: &elsewhere,
            max_queries: usize::try_from(bulk_job_calls(object_rows)).unwrap_or(usize::MAX),
        });
        let none_with_email = scan_rows.empty_objects();
        Some(resolve_emails_by_scan(app, &emails, read, &none_with_email).await.complete()?)
    } else {
        None
    };
    drop(elsewhere);
    // Pages are written PAGES_IN_FLIGHT at a time (one page's decisions are
    // made while the one before waits on HubSpot and the store) and
    // checkpointed in order: the checkpoint after a page is taken once it
    // and every page before it are done. A crash can leave a page after the
    // checkpoint written but not checkpointed; its rerun finds the records
    // by their upsert key and links what it finds.
    let (rows, picks, add_to_list, object) = (&rows, chunk_picks.as_ref(), spec.add_to_list.as_deref(), spec.object);
    let mut pages = stream::iter((0..rows.len()).step_by(PAGE))
        .map(|start| async move {
            let page: Vec<SfRecord> = (start..(start + PAGE).min(rows.len())).map(|i| rows.record(i)).collect();
            let last = page.last().map(|r| r.id.clone());
            let counts = import_page(app, pair, object, page, add_to_list, picks).await?;
            Ok::<_, AppError>((last, counts))
        })
        .buffered(PAGES_IN_FLIGHT);
    while let Some(page) = pages.next().await {
        let (last, page_counts) = page?;
        counts.add(page_counts);
        if let Some(last) = last {
            app.store().checkpoint_chunk(&msg.job_id, msg.index, owner, &last, counts, CHUNK_LEASE).await?;
        }
        flush_usage(app).await?;
    }
    app.store().complete_chunk(&msg.job_id, msg.index, owner, counts).await?;
    flush_usage(app).await?;
    info!(records = total, written = counts.queued, failed = counts.failed, "ImportChunkDone");
    Ok(ChunkReport { job_id: msg.job_id.clone(), index: msg.index, records: total, counts, ran: true })
}

/// The Salesforce fields a chunk reads: every mapped field of the object,
/// plus what the import itself needs (id and modification time; for leads
/// and contacts the email and creation date that pick one record per email;
/// for leads whether they are converted).
fn import_fields(app: &App, object: SfObject) -> Vec<String> {
    let mut fields: BTreeSet<String> = app.config().mappings_for(object).map(|m| m.salesforce_field.clone()).collect();
    fields.insert("Id".into());
    fields.insert("LastModifiedDate".into());
    if matches!(object, SfObject::Lead | SfObject::Contact) {
        fields.insert(SALESFORCE_EMAIL_FIELD.into());
        fields.insert("CreatedDate".into());
    }
    if object == SfObject::Lead {
        fields.insert("IsConverted".into());
    }
    companies::association_fields(app, object, &mut fields);
    fields.into_iter().collect()
}

/// Writes one page of a chunk. Counts: `read` rows, `queued` records written
/// or queued for sync, `failed` records recorded in sync health, `skipped`
/// rows the rules leave nothing to write for.
///
/// Leads and contacts first go through the email rule the sync uses
/// ([`resolve_emails`], over every Lead and Contact of the org, not just this
/// page, chunk or object): a row that is not the pick of its email is
/// reported and neither written nor queued, so that whichever page or chunk
/// runs first, only the pick reaches HubSpot. Linked rows then become
/// intents (the normal sync decides what to write); the others are decided
/// as forced creates, upserted to HubSpot 100 at a time and linked (a pick
/// takes over a HubSpot record linked to the record it beat). Per-record
/// refusals (no email, a shared email, a value HubSpot rejects, a HubSpot
/// record already linked) go to sync health and never fail the page; a
/// failed call does, and the chunk is retried.
async fn import_page(
    app: &App,
    pair: ObjectPair,
    object: SfObject,
    rows: Vec<SfRecord>,
    add_to_list: Option<&str>,
    chunk_picks: Option<&EmailPicks>,
) -> Result<ChunkCounts, AppError> {
    let store = app.store();
    let spair = pair;
    let now = app.clock().now();
    let mut counts = ChunkCounts { read: rows.len() as u64, ..ChunkCounts::default() };
    let mut failures: Vec<ErrorReport> = Vec::new();
    let page_picks = if pair == ObjectPair::Contact && chunk_picks.is_none() {
        let emails: Vec<Email> = rows.iter().filter_map(|r| email_in(&r.fields, SALESFORCE_EMAIL_FIELD)).collect();
        Some(resolve_emails(app, &emails, |_| Vec::new()).await.complete()?)
    } else {
        None
    };
    let picks = chunk_picks.or(page_picks.as_ref());
    // The page's links, in one store call.
    let ids: Vec<String> =
        rows.iter().filter_map(|r| SalesforceId::parse(&r.id).ok()).map(|id| id.as_str().to_owned()).collect();
    let mut links: HashMap<String, Link> = store
        .get_links_by_salesforce_ids(spair, &ids)
        .await?
        .into_iter()
        .map(|l| (l.salesforce_id.clone(), l))
        .collect();
    let mut linked: Vec<SyncIntent> = Vec::new();
    let mut linked_hubspot_ids: Vec<String> = Vec::new();
    // The rows to create, by their place in `rows` (in order).
    let mut fresh: Vec<usize> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Ok(id) = SalesforceId::parse(&row.id) else {
            counts.skipped += 1;
            continue;
        };
        if row.fields.get("IsConverted").and_then(Value::as_bool) == Some(true) {
            // A converted Lead is read-only history: its person lives on in
            // the Contact it became, which the import meets on its own.
            counts.skipped += 1;
            continue;
        }
        let link = links.remove(id.as_str());
        let beaten_by = picks.and_then(|p| {
            let choice = p.of(&email_in(&row.fields, SALESFORCE_EMAIL_FIELD)?)?;
            (choice.chosen.id != id).then_some(&choice.chosen)
        });
        if let Some(chosen) = beaten_by {
            failures.push(duplicate_report(id.as_str(), chosen, link.map(|l| l.hubspot_id)));
        } else if let Some(link) = link {
            linked.push(SyncIntent::salesforce(object, id, Trigger::Import, now));
            linked_hubspot_ids.push(link.hubspot_id);
        } else if let Some(link) = converted_lead_link(app, pair, picks, id.as_str()).await? {
            // The Contact of a converted Lead whose link has not moved yet
            // (SPEC section 1: the link passes to the Contact it became):
            // the sync follows the conversion, then syncs it in full.
            linked.push(SyncIntent::salesforce(object, id, Trigger::Import, now));
            linked_hubspot_ids.push(link.hubspot_id);
        } else {
            fresh.push(i);
        }
    }
    // Linked contacts join the list before their sync runs, so that it
    // finds them in the segment.
    if let Some(list) = add_to_list {
        add_to_segment_list(app, list, &linked_hubspot_ids).await?;
    }
    counts.queued += linked.len() as u64;
    queue_intents(app, linked).await?;

    // Accounts matching an existing company by their contacts are synced
    // with it rather than created.
    let page_companies = companies::match_before_create(app, object, &rows, &mut fresh, &mut counts).await?;
    // What the associations need of the rows, taken before the fresh ones
    // move into their snapshots.
    let accounts = companies::PageAccounts::of(app, object, &rows);

    // Decide each fresh record as a create on HubSpot, forced (an import
    // applies every mapping).
    // Owners and deal stages are translated as the sync does.
    let config = app.config();
    let owners = app.owner_directory_for(pair).await;
    // The upserts (key, properties), and beside each its row and decision.
    let mut inputs: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut decided: Vec<(String, crm_sync_domain::Decision)> = Vec::new();
    // Inputs that get every field only if their contact is in the list.
    let list = segment::list_to_check(app, object, add_to_list);
    let mut if_member: Vec<usize> = Vec::new();
    let mut fresh = fresh.into_iter().peekable();
    let fresh_rows = rows.into_iter().enumerate().filter_map(|(i, row)| fresh.next_if_eq(&i).map(|_| row));
    for row in fresh_rows {
        let Ok(id) = SalesforceId::parse(&row.id) else {
            counts.skipped += 1;
            continue;
        };
        let row_id = row.id.clone();
        let Some(snapshot) = sf_snapshot_of(row, object) else {
            counts.skipped += 1;
            continue;
        };
        let modified = snapshot.last_modified;
        let mut decision = decide(&DecisionInput {
            config,
            pair,
            salesforce: Some(&snapshot),
            hubspot: None,
            link: None,
            owners: owners.as_deref(),
            context: DecisionContext { forced: true, in_inclusion_segment: true, create_allowed: true },
        });
        match decision.action {
            Action::CreateHubSpot { .. } => {}
            Action::Skip { reason } => {
                if pair == ObjectPair::Contact && reason == crm_sync_domain::decision::SkipReason::NoEmail {
                    failures.push(ErrorReport {
                        key: format!("contact:salesforce:{id}"),
                        category: category_name(ErrorCategory::PropertyValueOrValidation),
                        pair: spair,
                        salesforce_id: Some(id.as_str().to_owned()),
                        hubspot_id: None,
                        message: "the record has no valid email; HubSpot contacts are matched by email".into(),
                        retryable: false,
                    });
                } else {
                    counts.skipped += 1;
                }
                continue;
            }
            _ => {
                counts.skipped += 1;
                continue;
            }
        }
        // The decided properties move to the upsert; what is left out of it
        // below is left out of the link too (`link_for_upsert`).
        let mut props: Map<String, Value> = std::mem::take(&mut decision.hubspot_writes).into_iter().collect();
        // A first sync carries no opt-out (SPEC section 4); the property is
        // read-only in HubSpot anyway.
        props.remove(HUBSPOT_OPT_OUT_PROPERTY);
        let key = if pair == ObjectPair::Contact {
            let Some(email) = props.get(HUBSPOT_EMAIL_PROPERTY).and_then(Value::as_str).map(str::to_owned) else {
                counts.skipped += 1;
                continue;
            };
            // SPEC section 7: outside the inclusion segment, the email only.
            let full = match &config.inclusion_segment {
                None => true,
                Some(_) if add_to_list.is_some() => true,
                Some(InclusionSegment::HubspotList(_)) => {
                    if_member.push(inputs.len());
                    true
                }
                Some(segment) => {
                    let fields: FieldMap = props.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    let probe = RecordSnapshot::hubspot(
                        HubSpotId::parse("0").map_err(|e| AppError::Invalid(e.to_string()))?,
                        ObjectPair::Contact,
                        fields,
                        modified,
                    );
                    segment.admits(&probe).unwrap_or(false)
                }
            };
            if !full {
                props.retain(|k, _| k == HUBSPOT_EMAIL_PROPERTY);
            }
            email
        } else {
            props.insert(HUBSPOT_SALESFORCE_ID_PROPERTY.into(), Value::String(id.as_str().to_owned()));
            id.as_str().to_owned()
        };
        inputs.push((key, props));
        decided.push((row_id, decision));
    }
    if let Some(list) = &list {
        let emails: Vec<String> = if_member.iter().map(|&i| inputs[i].0.clone()).collect();
        let members = segment::members_by_email(app, list, &emails).await?;
        for &i in &if_member {
            if !members.contains(&inputs[i].0) {
                inputs[i].1.retain(|k, _| k == HUBSPOT_EMAIL_PROPERTY);
            }
        }
    }
    // The page's upserts, BATCHES_IN_FLIGHT at a time; each batch's links
    // are written as soon as its answer is in.
    let mut decided = decided.into_iter();
    let batches: Vec<_> =
        inputs.chunks(HUBSPOT_BATCH).map(|batch| (batch, decided.by_ref().take(batch.len()).collect())).collect();
    let target = BatchTarget { pair, object, add_to_list, picks, now };
    let mut batches = batches.into_iter();
    let mut written = FuturesOrdered::new();
    loop {
        while written.len() < BATCHES_IN_FLIGHT
            && let Some((batch, decided)) = batches.next()
        {
            written.push_back(write_batch(app, &target, batch, decided));
        }
        let Some(batch) = written.next().await else { break };
        let (batch_counts, batch_failures) = batch?;
        counts.add(batch_counts);
        failures.extend(batch_failures);
    }
    companies::associate_page(app, pair, object, accounts, page_companies).await?;
    for report in &failures {
        store.record_error(report).await?;
    }
    counts.failed += failures.len() as u64;
    if !failures.is_empty() {
        warn!(failed = failures.len(), "ImportRecordsFailed");
    }
    Ok(counts)
}

/// Where a page's upsert batches go, and what their links need.
struct BatchTarget<'a> {
    pair: ObjectPair,
    object: SfObject,
    add_to_list: Option<&'a str>,
    picks: Option<&'a EmailPicks>,
    now: chrono::DateTime<chrono::Utc>,
}

/// Upserts one batch of a page's fresh records to HubSpot (by email for
/// contacts, by Salesforce id otherwise), adds the written contacts to the
/// segment list when the import asks for it, and links what was written.
/// Returns the batch's counts (`queued`) and its per-record failures.
async fn write_batch(
    app: &App,
    target: &BatchTarget<'_>,
    batch: &[(String, Map<String, Value>)],
    decided: Vec<(String, crm_sync_domain::Decision)>,
) -> Result<(ChunkCounts, Vec<ErrorReport>), AppError> {
    let BatchTarget { pair, object, add_to_list, picks, now } = *target;
    let config = app.config();
    let hs_object = pair.hubspot_object_type();
    let id_property = if pair == ObjectPair::Contact { HUBSPOT_EMAIL_PROPERTY } else { HUBSPOT_SALESFORCE_ID_PROPERTY };
    let mut counts = ChunkCounts::default();
    let mut failures = Vec::new();
    let results = app.hubspot().batch_upsert(hs_object, id_property, batch).await?;
    let mut writes = Vec::new();
    // HubSpot records the upserts found rather than created: only those
    // can be linked already.
    let mut found = Vec::new();
    for (((_, props), (salesforce_id, decision)), result) in batch.iter().zip(decided).zip(results) {
        if let WriteResult::Ok { id, created: false } = &result {
            found.push(id.clone());
        }
        match result {
            WriteResult::Ok { id: hs_id, created } => writes.push(LinkWrite {
                link: Link {
                    pair,
                    salesforce_object: object.api_name().to_owned(),
                    salesforce_id,
                    hubspot_id: hs_id,
                    // Only what this upsert wrote (SPEC section 1): an
                    // email-only import links the email, not the rest.
                    fingerprints: encode_link_state_of(decision.link_for_upsert(
                        config,
                        pair,
                        |p| props.contains_key(p),
                        created,
                    )),
                    version: 0,
                    updated_at: now,
                },
                condition: LinkCondition::MustNotExist,
            }),
            WriteResult::Err { code, message } => failures.push(ErrorReport {
                key: format!("{}:salesforce:{}", pair.as_str(), salesforce_id),
                category: category_name(crm_error::category(System::HubSpot, &code, &message)),
                pair,
                salesforce_id: Some(salesforce_id),
                hubspot_id: None,
                message: format!("{code}: {message}"),
                retryable: false,
            }),
        }
    }
    if let Some(list) = add_to_list {
        let ids: Vec<String> = writes.iter().map(|w| w.link.hubspot_id.clone()).collect();
        add_to_segment_list(app, list, &ids).await?;
    }
    link_written(app, pair, writes, &found, picks, &mut counts, &mut failures).await?;
    Ok((counts, failures))
}

/// The link of a converted Lead that became `contact` (the first by Lead
/// id that has one), read from the store only for a Contact such a Lead
/// was read for.
async fn converted_lead_link(
    app: &App,
    pair: ObjectPair,
    picks: Option<&EmailPicks>,
    contact: &str,
) -> Result<Option<Link>, AppError> {
    let Some(picks) = picks else { return Ok(None) };
    for lead in picks.leads_converted_into(contact) {
        if let Some(link) = app.store().get_link_by_salesforce(pair, lead).await? {
            return Ok(Some(link));
        }
    }
    Ok(None)
}

/// Links the records a page wrote. A contact picked by the email rule whose
/// HubSpot record (one of `found`: the upsert found it rather than created
/// it) is linked to another Salesforce record takes the link over
/// ([`relink`]), and the record losing it is reported when it shares the
/// email. A link that cannot be made because the HubSpot record was linked
/// meanwhile is reported, not retried.
async fn link_written(
    app: &App,
    pair: ObjectPair,
    writes: Vec<LinkWrite>,
    found: &[String],
    picks: Option<&EmailPicks>,
    counts: &mut ChunkCounts,
    failures: &mut Vec<ErrorReport>,
) -> Result<(), AppError> {
    let store = app.store();
    let mut linked: HashMap<String, Link> = HashMap::new();
    if picks.is_some() && !found.is_empty() {
        for link in store.get_links_by_hubspot_ids(pair, found).await? {
            linked.insert(link.hubspot_id.clone(), link);
        }
    }
    let (moves, writes): (Vec<LinkWrite>, Vec<LinkWrite>) = writes
        .into_iter()
        .partition(|w| linked.get(&w.link.hubspot_id).is_some_and(|l| l.salesforce_id != w.link.salesforce_id));
    let mut results = Vec::new();
    for write in moves {
        let Some(old) = linked.get(&write.link.hubspot_id) else { continue };
        let result = relink(store, old, write.link.clone()).await.map(|link| link.version);
        if result.is_ok()
            && let Some(chosen) = picks.and_then(|p| p.winner_over(&old.salesforce_id))
        {
            failures.push(duplicate_report(&old.salesforce_id, chosen, Some(old.hubspot_id.clone())));
        }
        results.push((write, result));
    }
    if !writes.is_empty() {
        let stored = store.put_links(&writes).await?;
        results.extend(writes.into_iter().zip(stored));
    }
    for (write, result) in results {
        match result {
            Ok(_) => counts.queued += 1,
            Err(e) if e.is_condition_failed() => {
                // The HubSpot record was linked to another Salesforce record
                // meanwhile.
                failures.push(ErrorReport {
                    key: format!("{}:salesforce:{}", pair.as_str(), write.link.salesforce_id),
                    category: category_name(ErrorCategory::Duplicates),
                    pair,
                    salesforce_id: Some(write.link.salesforce_id.clone()),
                    hubspot_id: Some(write.link.hubspot_id.clone()),
                    message: "the HubSpot record is already linked to another Salesforce record".into(),
                    retryable: false,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Adds imported contacts to the segment list; ids HubSpot reports missing
/// are logged (the contact was just written, so this is a race with a
/// delete or merge).
async fn add_to_segment_list(app: &App, list: &str, ids: &[String]) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let missing = app.hubspot().add_list_members(list, ids).await?;
    if !missing.is_empty() {
        warn!(missing = missing.len(), "SegmentMembersMissing");
    }
    app.forget_segment_members().await;
    Ok(())
}
