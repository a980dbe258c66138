//! Manual resync: one record now (a company forces its account creation), or
//! a segment after saying what it will cost.

use crate::messages::{IntentBatch, queue_intents};
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH};
use crate::usage::{Priority, ensure_budget};
use crate::usecases::sync::{ItemResult, SyncStats, sync_batch};
use crate::{App, AppError};
use crm_sync_domain::{HubSpotId, ObjectPair, SalesforceId, SfObject, SyncIntent, Trigger};
use crm_sync_store::{ErrorFilter, ReceivedMessage};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument};

/// One record on either side, as an operator names it (`crm-sync resync`).
/// The id is checked when the intent is built, before any call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "snake_case")]
pub enum RecordRef {
    /// A HubSpot record: `contact`, `company` or `deal`.
    Hubspot { object: ObjectPair, id: String },
    /// A Salesforce record: `Lead`, `Contact`, `Account`, `Opportunity`.
    Salesforce { object: SfObject, id: String },
}

impl RecordRef {
    /// A forced intent for the record, timed now; `Invalid` for an id of
    /// the wrong shape.
    fn intent(&self, app: &App) -> Result<SyncIntent, AppError> {
        let now = app.clock().now();
        Ok(match self {
            RecordRef::Hubspot { object, id } => SyncIntent::hubspot(
                *object,
                HubSpotId::parse(id).map_err(|e| AppError::Invalid(e.to_string()))?,
                Trigger::Resync,
                now,
            ),
            RecordRef::Salesforce { object, id } => SyncIntent::salesforce(
                *object,
                SalesforceId::parse(id).map_err(|e| AppError::Invalid(e.to_string()))?,
                Trigger::Resync,
                now,
            ),
        })
    }
}

/// What a one-record resync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResyncReport {
    pub stats: SyncStats,
    /// `None` when synced (or skipped with a reason in the stats); else the
    /// error recorded in sync health, or the retry delay.
    pub error: Option<String>,
}

/// Syncs one record now (forced: every mapping, and for a company the
/// account creation of SPEC section 5).
///
/// Runs the sync worker's own batch step in process on a one-intent
/// message, so a resync and a queued sync cannot differ. Failures of the
/// record are reported in the answer, not as `Err`.
#[instrument(skip_all)]
pub async fn resync_record(app: &App, record: &RecordRef) -> Result<ResyncReport, AppError> {
    let intent = record.intent(app)?;
    let body = serde_json::to_string(&IntentBatch::new(vec![intent]))?;
    let message = ReceivedMessage { id: "resync".into(), receipt_handle: String::new(), body, receive_count: 1 };
    let outcome = sync_batch(app, std::slice::from_ref(&message)).await;
    let error = outcome.items.first().and_then(|i| match &i.result {
        ItemResult::Done => None,
        ItemResult::Failed { reason } => Some(reason.clone()),
        ItemResult::RetryAfter(d) => Some(format!("not synced yet: retry after {} s", d.as_secs())),
        ItemResult::Wait(d) => Some(format!("not synced yet: an API limit is reached, retry after {} s", d.as_secs())),
    });
    Ok(ResyncReport { stats: outcome.stats, error })
}

/// A set of records to resync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Segment {
    /// Every linked record of a pair.
    Linked { pair: ObjectPair },
    /// Every record with a sync-health error (of one category, or all).
    HealthErrors { category: Option<String> },
    /// These records.
    Records { records: Vec<RecordRef> },
}

/// The cost of a segment resync, said before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentReview {
    pub records: u64,
    pub salesforce_calls: u64,
    pub hubspot_calls: u64,
    pub salesforce_remaining: u64,
    pub within_budget: bool,
}

/// The forced intents a segment stands for. Linked records are resynced
/// from their HubSpot id; a health error by its HubSpot id when it has one,
/// else by its Salesforce id (whose key prefix names the object).
async fn members(app: &App, segment: &Segment) -> Result<Vec<SyncIntent>, AppError> {
    let now = app.clock().now();
    let mut out = Vec::new();
    match segment {
        Segment::Linked { pair } => {
            let spair = *pair;
            let mut after: Option<String> = None;
            loop {
                let page = app.store().list_links(spair, after.as_deref(), 1000).await?;
                for link in page.links {
                    if let Ok(id) = HubSpotId::parse(&link.hubspot_id) {
                        out.push(SyncIntent::hubspot(*pair, id, Trigger::Resync, now));
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Segment::HealthErrors { category } => {
            let errors = app.store().list_errors(&ErrorFilter { category: category.clone(), limit: None }).await?;
            for e in errors {
                let pair = e.pair;
                if let Some(id) = e.hubspot_id.as_deref().and_then(|i| HubSpotId::parse(i).ok()) {
                    out.push(SyncIntent::hubspot(pair, id, Trigger::Resync, now));
                } else if let Some(id) = e.salesforce_id.as_deref().and_then(|i| SalesforceId::parse(i).ok())
                    && let Some(object) = id.object()
                {
                    out.push(SyncIntent::salesforce(object, id, Trigger::Resync, now));
                }
            }
        }
        Segment::Records { records } => {
            for r in records {
                out.push(r.intent(app)?);
            }
        }
    }
    Ok(out)
}

/// The (Salesforce, HubSpot) API calls a resync of these intents needs at
/// most: an estimate made before anything runs, so it counts every batch
/// as if it read and wrote on both sides.
fn cost(app: &App, intents: &[SyncIntent]) -> (u64, u64) {
    let records = intents.len() as u64;
    // Per batch: a read and at most one write on each side.
    let (mut sf, mut hs) = (2 * records.div_ceil(SALESFORCE_BATCH as u64), 2 * records.div_ceil(HUBSPOT_BATCH as u64));
    let contacts = intents.iter().filter(|i| i.pair() == ObjectPair::Contact).count() as u64;
    if contacts > 0 {
        // Campaign memberships per 200; the owner directory (Users, owners)
        // and the campaigns property check once per process.
        sf += contacts.div_ceil(SALESFORCE_BATCH as u64) + 1;
        hs += 2;
        if app.config().objects.companies {
            // Lifecycle stage: associations, company reads and updates.
            hs += 3 * contacts.div_ceil(HUBSPOT_BATCH as u64);
        }
    }
    (sf, hs)
}

/// How many API calls a segment resync needs, and whether the budget allows it.
#[instrument(skip_all)]
pub async fn resync_segment_review(app: &App, segment: &Segment) -> Result<SegmentReview, AppError> {
    let intents = members(app, segment).await?;
    let records = intents.len() as u64;
    let (salesforce_calls, hubspot_calls) = cost(app, &intents);
    let usage = crate::usage::api_usage(app).await?;
    let remaining = usage.salesforce.remaining(Priority::Bulk);
    Ok(SegmentReview {
        records,
        salesforce_calls,
        hubspot_calls,
        salesforce_remaining: remaining,
        within_budget: salesforce_calls <= remaining && hubspot_calls <= usage.hubspot.remaining(Priority::Bulk),
    })
}

/// Queues a forced sync of every member; refuses when the budget does not
/// allow it. Returns how many records were queued.
#[instrument(skip_all)]
pub async fn resync_segment(app: &App, segment: &Segment) -> Result<u64, AppError> {
    let intents = members(app, segment).await?;
    let records = intents.len() as u64;
    let (sf, hs) = cost(app, &intents);
    ensure_budget(app, Priority::Bulk, sf, hs).await?;
    queue_intents(app, intents).await?;
    info!(records, "SegmentResyncQueued");
    Ok(records)
}
