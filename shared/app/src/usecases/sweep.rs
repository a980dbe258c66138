//! One sweep: ask both CRMs what changed since the stored cursors and queue
//! intents for it, so that whatever the webhooks missed still syncs.
//!
//! The window starts an overlap before the cursor (clock skew, long
//! transactions, search indexing lag); the duplicates that overlap produces
//! are harmless because syncing a record twice writes once.
//! A cursor moves only after its intents are durably queued, only as far as
//! the CRM's listing covered (Salesforce: whole minutes), and only if no other
//! sweep moved it meanwhile (conditional write).
//!
//! A HubSpot listing is bounded: after a mass change (an import of a million
//! records lands in one window) it stops at
//! [`AppSettings::sweep_batch_records`](crate::AppSettings), queues what it
//! has and moves the cursor to where it stopped (marked partial: the next listing
//! resumes exactly there, without the overlap), then goes on with the next
//! part until the window is done or the sweep's time budget is spent. The next
//! sweep carries on from the cursor, so a sweep never holds a million ids in
//! memory nor outlives its Lambda. A Salesforce window holding more ids than
//! getUpdated serves (600,000) is halved until it fits, and resumed the same
//! way.

use crate::messages::queue_intents;
use crate::ports::ChangedWindow;
use crate::usage::flush_usage;
use crate::usecases::dead_letters::check_dead_letters;
use crate::{App, AppError};
use chrono::{DateTime, Utc};
use crm_sync_crm::error::CrmError;
use crm_sync_domain::System;
use crm_sync_domain::intent::{SyncIntent, Trigger};
use crm_sync_domain::model::{HubSpotId, ObjectPair, SalesforceId, SfObject};
use serde::Serialize;
use std::time::Duration;
use tracing::{info, instrument, warn};

/// How far back the first sweep of an object looks when it has no cursor.
pub const FIRST_SWEEP_LOOKBACK: Duration = Duration::from_secs(15 * 60);

/// What one listing of one object found, and where it left the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectSweep {
    pub system: System,
    pub object: String,
    pub changed: usize,
    pub deleted: usize,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// False when another sweep moved the cursor first.
    pub cursor_advanced: bool,
}

/// What a whole sweep did, for logs and `crm-sync sweep`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// One entry per listing (a bounded HubSpot listing may take several).
    pub objects: Vec<ObjectSweep>,
    pub intents_queued: usize,
    /// Dead letters found without a sync-health entry, now recorded.
    pub dead_letters_reported: usize,
    /// Import-chunk dead letters put back on the import queue (see
    /// [`crate::usecases::dead_letters::check_dead_letters`]).
    pub chunks_taken_back: usize,
    /// False when the time budget ran out before a HubSpot window was
    /// listed to its end; the next sweep goes on from the cursor.
    pub complete: bool,
}

/// A settings duration as chrono's; an absurdly long one counts as none.
fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
}

/// The cursor as read (for the conditional advance) and the window's start.
async fn window(
    app: &App,
    system: System,
    object: &str,
    now: DateTime<Utc>,
) -> Result<(Option<DateTime<Utc>>, DateTime<Utc>), AppError> {
    let cursor = app.store().get_cursor(system, object).await?;
    let overlap = chrono_duration(app.settings().sweep_overlap);
    let start = match &cursor {
        // Where a bounded listing stopped, everything before was listed.
        Some(c) if c.partial => c.position,
        Some(c) => c.position - overlap,
        None => now - chrono_duration(FIRST_SWEEP_LOOKBACK) - overlap,
    };
    Ok((cursor.map(|c| c.position), start))
}

/// Moves the cursor from `expected` to `to` with a conditional write.
/// Losing the race to another sweep is not an error: that sweep queued the
/// same window, and this one reports the cursor as not advanced.
async fn advance(
    app: &App,
    system: System,
    object: &str,
    expected: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    partial: bool,
) -> Result<bool, AppError> {
    match app.store().advance_cursor(system, object, expected, to, partial).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => {
            warn!(%system, object, "SweepCursorRaced");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Queues an intent for every change one listing found, then moves the
/// object's cursor to where the listing got and records what was done.
/// Returns whether the cursor moved.
#[allow(clippy::too_many_arguments, reason = "the listing's context, passed as the caller holds it")]
async fn queue_and_advance(
    app: &App,
    report: &mut SweepReport,
    system: System,
    object: &str,
    window: (Option<DateTime<Utc>>, DateTime<Utc>),
    found: &ChangedWindow,
    intent: &impl Fn(&str) -> Result<SyncIntent, String>,
) -> Result<bool, AppError> {
    let (expected, start) = window;
    let mut intents = Vec::with_capacity(found.changes.len());
    for change in &found.changes {
        match intent(&change.id) {
            Ok(found) => intents.push(found),
            Err(error) => warn!(%error, object, "SweepIdSkipped"),
        }
    }
    let deleted = found.changes.iter().filter(|c| c.deleted).count();
    report.intents_queued += intents.len();
    queue_intents(app, intents).await?;
    // A listing that stopped early leaves a partial cursor: resumed exactly.
    let partial = !found.complete;
    let cursor_advanced = advance(app, system, object, expected, found.covered_to, partial).await?;
    report.objects.push(ObjectSweep {
        system,
        object: object.to_owned(),
        changed: found.changes.len() - deleted,
        deleted,
        from: start,
        to: found.covered_to,
        cursor_advanced,
    });
    Ok(cursor_advanced)
}

/// What one sweep lists: a Salesforce object, or a pair's HubSpot object.
#[derive(Debug, Clone, Copy)]
enum Source {
    Salesforce(SfObject),
    Hubspot(ObjectPair),
}

impl Source {
    fn system(self) -> System {
        match self {
            Source::Salesforce(_) => System::Salesforce,
            Source::Hubspot(_) => System::HubSpot,
        }
    }

    fn object(self) -> &'static str {
        match self {
            Source::Salesforce(sobject) => sobject.api_name(),
            Source::Hubspot(pair) => pair.hubspot_object_type(),
        }
    }

    async fn list(self, app: &App, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<ChangedWindow, CrmError> {
        match self {
            Source::Salesforce(sobject) => app.salesforce().changed_since(sobject.api_name(), start, now).await,
            Source::Hubspot(pair) => {
                app.hubspot()
                    .changed_since(pair.hubspot_object_type(), start, now, app.settings().sweep_batch_records)
                    .await
            }
        }
    }

    fn intent(self, id: &str, now: DateTime<Utc>) -> Result<SyncIntent, String> {
        match self {
            Source::Salesforce(sobject) => SalesforceId::parse(id)
                .map(|id| SyncIntent::salesforce(sobject, id, Trigger::Sweep, now))
                .map_err(|e| e.to_string()),
            Source::Hubspot(pair) => HubSpotId::parse(id)
                .map(|id| SyncIntent::hubspot(pair, id, Trigger::Sweep, now))
                .map_err(|e| e.to_string()),
        }
    }
}

/// Lists one object's changes from its cursor to `now`, part by part while
/// a listing stops early and the time budget lasts, queueing each part and
/// moving the cursor after it.
async fn sweep_object(
    app: &App,
    report: &mut SweepReport,
    source: Source,
    now: DateTime<Utc>,
    started: std::time::Instant,
) -> Result<(), AppError> {
    let (system, object) = (source.system(), source.object());
    loop {
        let window = window(app, system, object, now).await?;
        let found = source.list(app, window.1, now).await?;
        let intent = |id: &str| source.intent(id, now);
        let moved = queue_and_advance(app, report, system, object, window, &found, &intent).await?;
        if found.complete || !moved {
            return Ok(());
        }
        if started.elapsed() >= app.settings().sweep_time_budget {
            info!(%system, object, covered_to = %found.covered_to, "SweepContinuesNextTime");
            report.complete = false;
            return Ok(());
        }
    }
}

/// Runs one sweep over every enabled object on both sides.
#[instrument(skip_all, fields(intents = tracing::field::Empty))]
pub async fn sweep_once(app: &App) -> Result<SweepReport, AppError> {
    let now = app.clock().now();
    let started = std::time::Instant::now();
    let mut report = SweepReport { complete: true, ..SweepReport::default() };
    for pair in ObjectPair::ALL {
        if !app.config().objects.syncs(pair) {
            continue;
        }
        let sources = pair.salesforce_objects().iter().map(|&o| Source::Salesforce(o)).chain([Source::Hubspot(pair)]);
        for source in sources {
            let listed = sweep_object(app, &mut report, source, now, started).await;
            within_limits(&mut report, listed)?;
        }
    }
    // Messages that went to the dead letters with no cause recorded (their
    // worker stopped on the last attempt) are reported, or for an import
    // chunk taken back, whatever else the sweep met.
    match check_dead_letters(app.sync_queue(), app.import_queue(), app.store()).await {
        Ok(check) => {
            report.dead_letters_reported = check.recorded;
            report.chunks_taken_back = check.chunks_taken_back;
        }
        Err(error) => warn!(%error, "DeadLettersUnchecked"),
    }
    flush_usage(app).await?;
    tracing::Span::current().record("intents", report.intents_queued);
    info!(intents = report.intents_queued, "SweepCompleted");
    Ok(report)
}

/// A listing stopped by an API limit (the Salesforce cap, a CRM's 429)
/// waits: its cursor stays where it was, the next sweep lists the window
/// again, and the other listings go on. Any other error ends the sweep.
fn within_limits(report: &mut SweepReport, listed: Result<(), AppError>) -> Result<(), AppError> {
    match listed {
        Err(error) if error.is_api_limit() => {
            info!(%error, "SweepListingWaiting");
            report.complete = false;
            Ok(())
        }
        other => other,
    }
}
