//! Syncing a batch of intents, as a pipeline of stages over one pair of
//! objects at a time.
//!
//! [`sync_batch`] fans the intents of a batch of queue messages in (one
//! entry per record, however many intents name it), runs the pipeline once
//! per object pair, and fans the per-record results back out to the
//! messages. The stages, in order:
//!
//! 1. [`units`]: one unit per record, joined through the stored links (read
//!    for the whole batch in one store call).
//! 2. [`read`]: both sides read by id, batched.
//!    - [`moves`]: links that move with their records: a converted Lead's
//!      to its Contact, a merged-away record's to the survivor (or dropped
//!      and reported when the survivor has its own).
//! 3. [`matching`]: the other side of records with no link; for contacts,
//!    one Salesforce record per email by SPEC's rule ([`pick`], which
//!    imports share); then [`company_matching`]: companies still unmatched,
//!    by their contacts; two units that found each other (a contact and a
//!    lead named in one batch) become one. A pair meeting unlinked that an
//!    interrupted create made takes the link its [`creations`] note kept.
//! 4. [`special`]: what the special fields need from outside the records
//!    (company creation, campaigns, owners, segment membership, deal
//!    accounts), read before planning; associations and lifecycle stages
//!    carried after the writes.
//! 5. [`write`]: the IO executor: hands the records to the domain's planner
//!    and applies the planned writes with batch calls, settling each result.
//!    - [`deletions`]: records deleted on their own side lose their link,
//!      and their counterparts are kept or deleted as the config says.
//! 6. [`links`]: the links and fingerprints of every record whose writes
//!    all succeeded; a link a pick takes over is moved ([`relink`]).
//!
//! The whole batch shares its API calls: reads are grouped per object (HubSpot
//! 100 per call, Salesforce 200 per call), and so are writes. Every create is
//! an idempotent upsert keyed by the source record (HubSpot contacts by email,
//! companies and deals by `salesforce_id`; Salesforce by the `HubSpot_Id__c`
//! External ID), and links are stored with conditional writes, so a message
//! delivered twice or handled by two workers at once writes once.
//!
//! Invariants every stage keeps: a unit with a result (failed or to retry)
//! is left alone by every later stage; one user change gives at most one
//! write per side; a value just written is fingerprinted in the link, so it
//! does not come back as an echo.

mod company_matching;
mod creations;
mod deletions;
mod links;
mod matching;
mod moves;
mod pick;
mod read;
pub(crate) mod special;
mod units;
mod write;

pub(crate) use units::{LinkIndex, read_links};

use crate::messages::parse_intents;
use crate::ports::{HsRecord, SfRecord};
use crate::usage::flush_usage;
use crate::{App, AppError};
use crm_sync_crm::error::CrmError;
use crm_sync_domain::error::{ErrorCategory, Verdict};
use crm_sync_domain::{ObjectPair, SfObject, SyncIntent};
use crm_sync_store::{ErrorReport, Link, ReceivedMessage};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tracing::{info, instrument, warn};

pub(crate) use crate::codec::category_name;
/// Kept at their old paths for callers outside the sync.
pub use crate::codec::{
    HUBSPOT_OPT_OUT_PROPERTY, HUBSPOT_SALESFORCE_ID_PROPERTY, NOT_PROVIDED, SALESFORCE_HUBSPOT_ID_FIELD,
};
pub(crate) use links::relink;
pub(crate) use pick::{
    EmailKeys, EmailPicks, ObjectRead, duplicate_report, email_key, resolve_emails, resolve_emails_by_scan,
};

/// Retry delay after losing a conditional link write to another worker.
const RACE_RETRY: Duration = Duration::from_secs(1);

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    /// Every intent synced or was skipped with a reason.
    Done,
    /// Try the message again after this delay (5xx, timeout, lock, lost
    /// race): a failed attempt, counted against the receive limit.
    RetryAfter(Duration),
    /// An API limit stopped the message (a CRM's 429 or daily allocation,
    /// the sync's own Salesforce cap): try again after this delay. Not a
    /// failed attempt: waiting out a limit never dead-letters a message.
    Wait(Duration),
    /// A permanent failure, already recorded in sync health.
    Failed { reason: String },
}

/// Why a message is retried: the CRM's error, for sync health when the
/// message finally gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryCause {
    /// snake_case name of the error category.
    pub category: String,
    /// The CRM's code and message.
    pub message: String,
}

impl RetryCause {
    /// The cause a failed CRM call gives.
    pub fn of(error: &CrmError) -> Self {
        RetryCause { category: category_name(error.category), message: format!("{}: {}", error.code, error.message) }
    }
}

/// The result of one queue message, with what the caller needs to settle it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageOutcome {
    pub message_id: String,
    pub receipt_handle: String,
    pub result: ItemResult,
    /// For a retry or a wait: the CRM error behind it, when there was one.
    pub cause: Option<RetryCause>,
}

/// Counts of what a batch did, per side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncStats {
    /// Records created / updated, keyed `"<side>:<object>"`, e.g.
    /// `"hubspot:contact"`, `"salesforce:Lead"`.
    pub created: BTreeMap<String, u64>,
    pub updated: BTreeMap<String, u64>,
    /// Counterparts of deleted records deleted in turn (the config's
    /// `deleted_records: delete_counterpart`), keyed like `created`.
    pub deleted: BTreeMap<String, u64>,
    /// Records that needed no write.
    pub unchanged: u64,
    /// Records skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Records that failed, by error category.
    pub errors: BTreeMap<String, u64>,
}

impl SyncStats {
    pub fn add(&mut self, other: &SyncStats) {
        for (k, v) in &other.created {
            *self.created.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.updated {
            *self.updated.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.deleted {
            *self.deleted.entry(k.clone()).or_default() += v;
        }
        self.unchanged += other.unchanged;
        for (k, v) in &other.skipped {
            *self.skipped.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }
}

/// The outcome of [`sync_batch`], one entry per message, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One per message, in the order the messages came in.
    pub items: Vec<MessageOutcome>,
    /// What the whole batch did, across object pairs.
    pub stats: SyncStats,
}

/// How one record ended. A unit holding a result is finished: later stages
/// leave it alone, and its link is not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RecordResult {
    /// Synced (link stored) or skipped for a reason.
    Done,
    /// Try again after this delay; nothing about the record is recorded.
    Retry(Duration),
    /// An API limit stopped it: try again after this delay, not counted
    /// as a failed attempt.
    Wait(Duration),
    /// A permanent failure, recorded in sync health with this message.
    Failed(String),
}

impl RecordResult {
    /// The result of two outcomes for one message: a retry outweighs a
    /// wait (the attempt failed), a wait outweighs a failure (the failure
    /// will come again), a failure outweighs success.
    fn worse(self, other: RecordResult) -> RecordResult {
        use RecordResult::*;
        match (self, other) {
            (Retry(a), Retry(b)) => Retry(a.max(b)),
            (Retry(a), _) | (_, Retry(a)) => Retry(a),
            (Wait(a), Wait(b)) => Wait(a.max(b)),
            (Wait(a), _) | (_, Wait(a)) => Wait(a),
            (Failed(a), _) | (_, Failed(a)) => Failed(a),
            _ => Done,
        }
    }

    /// The result of a retryable failure of a CRM call: a wait for an API
    /// limit, else a retry.
    fn retry(error: &CrmError, after: Duration) -> RecordResult {
        if error.category == ErrorCategory::ApiLimit { RecordResult::Wait(after) } else { RecordResult::Retry(after) }
    }

    /// The result of a step that failed as a whole with `error`, retried
    /// after its delay, else after `fallback`.
    fn retry_app(error: &AppError, fallback: Duration) -> RecordResult {
        let after = error.retry_after().unwrap_or(fallback);
        match error {
            AppError::Crm(e) => RecordResult::retry(e, after),
            AppError::BudgetSpent { .. } => RecordResult::Wait(after),
            _ => RecordResult::Retry(after),
        }
    }
}

/// Syncs every intent of the messages. Never fails as a whole: each message
/// gets its own result, and the caller settles it (delete, or change its
/// visibility for a retry).
#[instrument(skip_all, fields(messages = messages.len(), intents = tracing::field::Empty))]
pub async fn sync_batch(app: &App, messages: &[ReceivedMessage]) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut per_message: Vec<(usize, Vec<SyncIntent>)> = Vec::new();
    let mut results: Vec<Option<ItemResult>> = vec![None; messages.len()];
    for (i, message) in messages.iter().enumerate() {
        match parse_intents(&message.body) {
            Ok(intents) => per_message.push((i, intents)),
            Err(error) => {
                warn!(message_id = %message.id, %error, "MessageRejected");
                let report = ErrorReport {
                    key: format!("message:{}", message.id),
                    category: category_name(ErrorCategory::Other),
                    pair: crm_sync_domain::ObjectPair::Contact,
                    salesforce_id: None,
                    hubspot_id: None,
                    message: format!("the queue message is not a sync intent: {error}"),
                    retryable: false,
                };
                if let Err(error) = app.store().record_error(&report).await {
                    warn!(%error, "ErrorNotRecorded");
                    results[i] = Some(ItemResult::RetryAfter(RACE_RETRY));
                } else {
                    results[i] = Some(ItemResult::Failed { reason: report.message });
                }
            }
        }
    }
    // One entry per record, whatever number of intents named it.
    let mut by_pair: BTreeMap<ObjectPair, Vec<SyncIntent>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (_, intents) in &per_message {
        for intent in intents {
            if seen.insert(intent.dedup_key()) {
                by_pair.entry(intent.pair()).or_default().push(intent.clone());
            }
        }
    }
    tracing::Span::current().record("intents", seen.len());
    let mut record_results: HashMap<String, (RecordResult, Option<RetryCause>)> = HashMap::new();
    // Webhook intents whose link was stored after their events came:
    // echoes after all, settled without an API call.
    let all: Vec<&SyncIntent> = per_message.iter().flat_map(|(_, intents)| intents).collect();
    let late = crate::usecases::echoes::late_echoes(app, &all).await;
    if !late.is_empty() {
        for intents in by_pair.values_mut() {
            intents.retain(|intent| !late.contains(&intent.record_key()));
        }
        by_pair.retain(|_, intents| !intents.is_empty());
        for key in late {
            record_results.insert(key, (RecordResult::Done, None));
        }
    }
    for (pair, intents) in by_pair {
        let mut sync = PairSync::new(app, pair, &mut outcome.stats);
        let results = sync.run(&intents).await;
        for (intent, result) in intents.iter().zip(results) {
            record_results.insert(intent.record_key(), result);
        }
    }
    let mut causes: Vec<Option<RetryCause>> = vec![None; messages.len()];
    for (i, intents) in per_message {
        let mut result = RecordResult::Done;
        for intent in &intents {
            let (r, cause) = record_results.get(&intent.record_key()).cloned().unwrap_or((RecordResult::Done, None));
            if causes[i].is_none() && matches!(r, RecordResult::Retry(_) | RecordResult::Wait(_)) {
                causes[i] = cause;
            }
            result = result.worse(r);
        }
        results[i] = Some(match result {
            RecordResult::Done => ItemResult::Done,
            RecordResult::Retry(d) => ItemResult::RetryAfter(d),
            RecordResult::Wait(d) => ItemResult::Wait(d),
            RecordResult::Failed(reason) => ItemResult::Failed { reason },
        });
    }
    if let Err(error) = flush_usage(app).await {
        warn!(%error, "UsageNotRecorded");
    }
    outcome.items = messages
        .iter()
        .zip(results)
        .zip(causes)
        .map(|((m, r), cause)| MessageOutcome {
            message_id: m.id.clone(),
            receipt_handle: m.receipt_handle.clone(),
            result: r.unwrap_or(ItemResult::Done),
            cause,
        })
        .collect();
    info!(
        created = outcome.stats.created.values().sum::<u64>(),
        updated = outcome.stats.updated.values().sum::<u64>(),
        unchanged = outcome.stats.unchanged,
        errors = outcome.stats.errors.values().sum::<u64>(),
        "BatchSynced"
    );
    outcome
}

/// One record being synced: what is known of each side.
///
/// Built by the units stage, filled by read and matching, planned and
/// written by the write stage. Ids are the stores' strings (Salesforce ids
/// in their 18-character form), so that they compare with stored links.
#[derive(Debug, Clone, Default)]
struct Unit {
    /// Record keys of the intents this unit answers.
    intent_keys: Vec<String>,
    /// An import or resync named the record: every mapping applies in full.
    forced: bool,
    /// The stored link, as read when the batch started.
    link: Option<Link>,
    /// The Salesforce object (Lead or Contact for a contact unit).
    sf_object: Option<SfObject>,
    /// The Salesforce id, once known (intent, link, match or create).
    sf_id: Option<String>,
    /// The HubSpot id, once known (intent, link, match or create).
    hs_id: Option<String>,
    /// The Salesforce record as read; `None` when absent or not read.
    sf: Option<SfRecord>,
    /// The HubSpot record as read; `None` when absent or not read.
    hs: Option<HsRecord>,
    /// The side the first intent came from had no record (deleted).
    origin_missing: bool,
    /// HubSpot records merged into this unit's HubSpot record (the intent
    /// of a HubSpot merge): their links move or go (stage [`moves`]).
    merged: Vec<String>,
    /// Set once the unit is finished (see [`RecordResult`]).
    result: Option<RecordResult>,
    /// The CRM error behind a retry or a wait, for sync health should the
    /// message give up.
    cause: Option<RetryCause>,
    /// The link this unit's record takes over: set by matching for a
    /// Salesforce pick whose HubSpot contact is linked to another record.
    takeover: Option<Takeover>,
    /// The link came from a creation note ([`creations`]): the pair is
    /// synced from it, and its link is stored as new.
    noted: Option<creations::NoteKey>,
}

/// A link passing to the record the email rule picks (SPEC section 1).
#[derive(Debug, Clone)]
struct Takeover {
    /// The stored link of the HubSpot contact, to another Salesforce record.
    link: Link,
    /// The `duplicates` entry of the record losing it, recorded once the
    /// link has moved; `None` when that record no longer shares the email.
    report: Option<ErrorReport>,
}

/// The pipeline over one object pair of a batch: its units and the batch's
/// statistics. Each stage is an `impl` block in its own module.
struct PairSync<'a> {
    app: &'a App,
    /// Every unit of this pipeline is of this pair.
    pair: ObjectPair,
    /// Shared by the pairs of one batch.
    stats: &'a mut SyncStats,
    /// Indexed by the `usize` every stage passes around.
    units: Vec<Unit>,
    /// The contacts of the HubSpot companies matched by contacts, kept for
    /// SPEC section 5 (company pair only).
    company_contacts: Option<crate::usecases::companies::CompanyContacts>,
    /// The linked contacts of the Accounts matched by contacts, kept for
    /// their associations once linked (company pair only).
    account_contacts: Option<crate::usecases::companies::AccountContacts>,
}

impl<'a> PairSync<'a> {
    fn new(app: &'a App, pair: ObjectPair, stats: &'a mut SyncStats) -> Self {
        PairSync { app, pair, stats, units: Vec::new(), company_contacts: None, account_contacts: None }
    }

    /// Marks units after a failed CRM call: retry on a retryable error,
    /// else failed (the worse result wins over one already set).
    pub(super) fn fail_units(&mut self, units: &[usize], error: &CrmError) {
        for &u in units {
            let result = match error.verdict {
                Verdict::Retryable { after } => RecordResult::retry(error, after),
                Verdict::Permanent => RecordResult::Failed(error.message.clone()),
            };
            let unit = &mut self.units[u];
            if unit.cause.is_none() && error.is_retryable() {
                unit.cause = Some(RetryCause::of(error));
            }
            unit.result = Some(unit.result.take().map_or(result.clone(), |r| r.worse(result)));
        }
    }

    /// Runs every stage over the intents of one pair; one result per
    /// intent, in input order, with the CRM error behind a retry.
    async fn run(&mut self, intents: &[SyncIntent]) -> Vec<(RecordResult, Option<RetryCause>)> {
        if self.pair != ObjectPair::Contact
            && let Err(error) = self.app.ensure_hubspot_schema().await
        {
            warn!(%error, "HubSpotSchemaNotReady");
            let result = RecordResult::retry_app(&error, Duration::from_secs(60));
            let cause = app_cause(&error);
            return intents.iter().map(|_| (result.clone(), cause.clone())).collect();
        }
        if let Err(error) = self.collect(intents).await {
            warn!(pair = self.pair.as_str(), %error, "LinksUnreadable");
            return intents.iter().map(|_| (RecordResult::Retry(RACE_RETRY), None)).collect();
        }
        self.read().await;
        self.follow_moves().await;
        self.match_unlinked().await;
        self.match_companies_by_contacts().await;
        self.join_matched();
        self.adopt_creation_notes().await;
        self.plan_and_write().await;
        let mut by_key: HashMap<&str, (RecordResult, Option<RetryCause>)> = HashMap::new();
        for unit in &self.units {
            let result = unit.result.clone().unwrap_or(RecordResult::Done);
            for key in &unit.intent_keys {
                by_key.insert(key.as_str(), (result.clone(), unit.cause.clone()));
            }
        }
        intents
            .iter()
            .map(|i| by_key.get(i.record_key().as_str()).cloned().unwrap_or((RecordResult::Done, None)))
            .collect()
    }

    /// Marks units to retry after a step that failed as a whole.
    pub(super) fn retry_units(&mut self, units: &[usize], error: &AppError, fallback: Duration) {
        let result = RecordResult::retry_app(error, fallback);
        for &u in units {
            let unit = &mut self.units[u];
            if unit.cause.is_none() {
                unit.cause = app_cause(error);
            }
            unit.result = Some(result.clone());
        }
    }

    /// Records a unit's per-record failure in sync health and finishes the
    /// unit; when the store cannot record it, the unit is retried instead.
    ///
    /// `category` comes from the CRM that refused the record: a failed
    /// call's [`CrmError::category`], or a per-record code read by that
    /// CRM's table ([`crm_sync_crm::error::category`]). The entry is keyed
    /// by the first of [`health_keys`], and a later success resolves all of
    /// them (stage 6), so it does not matter which ids were known when the
    /// record failed.
    pub(super) async fn record_failure(
        &mut self,
        u: usize,
        category: ErrorCategory,
        code: &str,
        message: &str,
        retryable: bool,
    ) {
        let unit = &self.units[u];
        let key = health_keys(self.pair, unit.sf_id.as_deref(), unit.hs_id.as_deref())
            .into_iter()
            .next()
            .unwrap_or_else(|| format!("{}:unknown", self.pair.as_str()));
        let report = ErrorReport {
            key,
            category: category_name(category),
            pair: self.pair,
            salesforce_id: unit.sf_id.clone(),
            hubspot_id: unit.hs_id.clone(),
            message: format!("{code}: {message}"),
            retryable,
        };
        *self.stats.errors.entry(report.category.clone()).or_default() += 1;
        let result = match self.app.store().record_error(&report).await {
            Ok(_) => RecordResult::Failed(report.message),
            Err(error) => {
                warn!(%error, "ErrorNotRecorded");
                RecordResult::Retry(RACE_RETRY)
            }
        };
        self.units[u].result = Some(result);
    }
}

/// The CRM error behind a failed step, when a CRM's.
fn app_cause(error: &AppError) -> Option<RetryCause> {
    match error {
        AppError::Crm(e) => Some(RetryCause::of(e)),
        _ => None,
    }
}

/// The sync-health keys a record of `pair` may have been filed under, most
/// specific first: by its HubSpot id, then by its Salesforce id. A record
/// that fails before one side exists (a new Lead whose HubSpot create is
/// refused) is filed by the id it has; the success that links it knows
/// both, and resolves every key so that no entry outlives the problem.
pub(super) fn health_keys(pair: ObjectPair, salesforce_id: Option<&str>, hubspot_id: Option<&str>) -> Vec<String> {
    let hubspot = hubspot_id.map(|hs| format!("{}:hubspot:{hs}", pair.as_str()));
    let salesforce = salesforce_id.map(|sf| format!("{}:salesforce:{sf}", pair.as_str()));
    hubspot.into_iter().chain(salesforce).collect()
}

#[cfg(test)]
mod tests;
