//! One sweep: ask both CRMs what changed since the stored cursors and queue
//! intents for it, so that whatever the webhooks missed still syncs.
//!
//! The window starts an overlap before the cursor (clock skew, long
//! transactions, search indexing lag); the duplicates that overlap produces
//! are harmless because syncing a record twice writes once. A cursor moves
//! only after its intents are durably queued, and only if no other sweep moved
//! it meanwhile (conditional write).

use crate::messages::queue_intents;
use crate::usage::flush_usage;
use crate::{App, AppError};
use chrono::{DateTime, Utc};
use crm_sync_domain::intent::{SyncIntent, Trigger};
use crm_sync_domain::model::{HubSpotId, ObjectPair, SalesforceId};
use crm_sync_store::System;
use serde::Serialize;
use std::time::Duration;
use tracing::{info, instrument, warn};

/// How far back the first sweep of an object looks when it has no cursor.
pub const FIRST_SWEEP_LOOKBACK: Duration = Duration::from_secs(15 * 60);

/// What one object's sweep found.
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub objects: Vec<ObjectSweep>,
    pub intents_queued: usize,
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
}

async fn window(app: &App, system: System, object: &str, now: DateTime<Utc>) -> Result<(Option<DateTime<Utc>>, DateTime<Utc>), AppError> {
    let cursor = app.store().get_cursor(system, object).await?;
    let expected = cursor.as_ref().map(|c| c.position);
    let start = match expected {
        Some(position) => position - chrono_duration(app.settings().sweep_overlap),
        None => now - chrono_duration(FIRST_SWEEP_LOOKBACK + app.settings().sweep_overlap),
    };
    Ok((expected, start))
}

async fn advance(app: &App, system: System, object: &str, expected: Option<DateTime<Utc>>, to: DateTime<Utc>) -> Result<bool, AppError> {
    match app.store().advance_cursor(system, object, expected, to).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => {
            warn!(%system, object, "SweepCursorRaced");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs one sweep over every enabled object on both sides.
#[instrument(skip_all, fields(intents = tracing::field::Empty))]
pub async fn sweep_once(app: &App) -> Result<SweepReport, AppError> {
    let now = app.clock().now();
    let mut report = SweepReport::default();
    for pair in ObjectPair::ALL {
        if !app.config().objects.syncs(pair) {
            continue;
        }
        for &sobject in pair.salesforce_objects() {
            let object = sobject.api_name();
            let (expected, start) = window(app, System::Salesforce, object, now).await?;
            let changes = app.salesforce().changed_since(object, start, now).await?;
            let mut intents = Vec::with_capacity(changes.len());
            let mut deleted = 0;
            for change in &changes {
                deleted += usize::from(change.deleted);
                match SalesforceId::parse(&change.id) {
                    Ok(id) => intents.push(SyncIntent::salesforce(sobject, id, Trigger::Sweep, now)),
                    Err(error) => warn!(%error, object, "SweepIdSkipped"),
                }
            }
            report.intents_queued += intents.len();
            queue_intents(app, intents).await?;
            let cursor_advanced = advance(app, System::Salesforce, object, expected, now).await?;
            report.objects.push(ObjectSweep {
                system: System::Salesforce,
                object: object.to_owned(),
                changed: changes.len() - deleted,
                deleted,
                from: start,
                to: now,
                cursor_advanced,
            });
        }
        let object = pair.hubspot_object_type();
        let (expected, start) = window(app, System::Hubspot, object, now).await?;
        let changes = app.hubspot().changed_since(object, start, now).await?;
        let mut intents = Vec::with_capacity(changes.len());
        let mut deleted = 0;
        for change in &changes {
            deleted += usize::from(change.deleted);
            match HubSpotId::parse(&change.id) {
                Ok(id) => intents.push(SyncIntent::hubspot(pair, id, Trigger::Sweep, now)),
                Err(error) => warn!(%error, object, "SweepIdSkipped"),
            }
        }
        report.intents_queued += intents.len();
        queue_intents(app, intents).await?;
        let cursor_advanced = advance(app, System::Hubspot, object, expected, now).await?;
        report.objects.push(ObjectSweep {
            system: System::Hubspot,
            object: object.to_owned(),
            changed: changes.len() - deleted,
            deleted,
            from: start,
            to: now,
            cursor_advanced,
        });
    }
    flush_usage(app).await?;
    tracing::Span::current().record("intents", report.intents_queued);
    info!(intents = report.intents_queued, "SweepCompleted");
    Ok(report)
}

