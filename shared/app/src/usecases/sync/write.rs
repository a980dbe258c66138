//! Stage 5: the write executor.
//!
//! Owns carrying out a batch's plan: it reads what the special fields need
//! (before planning), hands every pending unit to the domain's planner
//! (`crm_sync_domain::plan`), and applies the planned writes with batch
//! calls: Salesforce updates and upserts per object (200 per call), HubSpot
//! updates and upserts (100 per call), opt-outs through the communication
//! preferences API. Each per-record result is then settled into the unit
//! and the statistics.
//!
//! It must not decide anything itself: which fields travel, whether a record
//! is created, skipped or left alone are the planner's; the executor only
//! reads, plans, writes. A unit counts as synced only when every one of its
//! writes succeeded; only then is its link stored (stage 6), and only then
//! are its associations and lifecycle stage carried.

use super::creations::{NoteKey, create_key};
use super::{PairSync, RACE_RETRY, RecordResult};
use crate::codec::{
    LIFECYCLE_KEY, SALESFORCE_HUBSPOT_ID_FIELD, decode_link_state, encode_link_state, hs_snapshot, insert_writing,
    sf_snapshot,
};
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH, WriteResult};
use crm_sync_crm::error::{self as crm_error, CrmError, System};
use crm_sync_domain::decision::{HUBSPOT_EMAIL_PROPERTY, SALESFORCE_EMAIL_FIELD, SkipReason};
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::model::FieldMap;
use crm_sync_domain::plan::{
    BatchInputs, HUBSPOT_SALESFORCE_ID_PROPERTY, PlanRecord, PlannedAction, RecordPlan, plan_batch,
};
use crm_sync_domain::rules::Fingerprint;
use crm_sync_domain::special::OwnerDirectory;
use crm_sync_domain::{LinkState, ObjectPair, RecordSnapshot, SalesforceId, SfObject};
use crm_sync_store::{CreationNote, Link, LinkCondition, LinkWrite};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use tracing::debug;

/// An update of one record by id: (unit, id, fields).
type IdWrite = (usize, String, Map<String, Value>);
/// A create keyed by its External ID: (unit, fields).
type KeyedWrite = (usize, Map<String, Value>);
/// A HubSpot write: (unit, id or upsert key, properties).
type HubSpotWrite = (usize, String, Map<String, Value>);

/// A link waiting for its unit's writes: stored only if they all succeed.
pub(super) struct PendingWrite {
    pub(super) unit: usize,
    /// The link state the planner computed (what both sides hold after).
    pub(super) decision_link: LinkState,
    /// The contact's lifecycle stage, remembered with the link.
    pub(super) lifecycle_stage: Option<String>,
    /// A pick taking over a HubSpot contact outside the inclusion segment:
    /// the beaten record's link is dropped and no link is stored.
    pub(super) unlinked: bool,
    /// What the unit's writes set, per mapping key ([`RecordPlan::writing`]).
    pub(super) writing: BTreeMap<String, (System, Fingerprint)>,
    /// A create: the record it is made from and its key (the creation
    /// note's).
    pub(super) creates: Option<NoteKey>,
}

impl PendingWrite {
    /// The fingerprints of the link to store once the writes succeed.
    pub(super) fn fingerprints(&self) -> BTreeMap<String, String> {
        let mut map = encode_link_state(&self.decision_link);
        if let Some(stage) = &self.lifecycle_stage {
            map.insert(LIFECYCLE_KEY.to_owned(), stage.clone());
        }
        map
    }
}

/// What the IO stages read for the planner, per unit.
#[derive(Default)]
pub(super) struct PlanFacts {
    /// SPEC section 5 verdicts for HubSpot companies with no account.
    pub(super) creates_account: HashMap<usize, bool>,
    /// The account of each HubSpot deal about to create an Opportunity.
    pub(super) deal_accounts: HashMap<usize, String>,
    /// The owner directory, when the pair maps an owner and it was read.
    pub(super) owners: Option<std::sync::Arc<OwnerDirectory>>,
    /// The segment list's members, when the segment is a list and was read.
    pub(super) segment_members: Option<std::sync::Arc<HashSet<String>>>,
    /// The "Salesforce Campaigns" value of each contact unit.
    pub(super) campaigns: HashMap<usize, String>,
}

impl WriteQueue {
    /// Takes a unit's writes out of the batch: it is not written now.
    fn withdraw(&mut self, u: usize) {
        for items in self.sf_updates.values_mut() {
            items.retain(|(unit, _, _)| *unit != u);
        }
        for items in self.sf_creates.values_mut() {
            items.retain(|(unit, _)| *unit != u);
        }
        self.hs_updates.retain(|(unit, _, _)| *unit != u);
        self.hs_creates.retain(|(unit, _, _)| *unit != u);
        self.opt_outs.retain(|(unit, _)| *unit != u);
        self.pending.remove(&u);
        self.follow_account.retain(|(unit, _)| *unit != u);
        self.stage_changes.retain(|(unit, _, _)| *unit != u);
    }
}

/// The planned writes of a batch, grouped into their batch calls.
#[derive(Default)]
struct WriteQueue {
    /// Salesforce updates by object, sent 200 per call.
    sf_updates: BTreeMap<SfObject, Vec<IdWrite>>,
    /// Salesforce upserts keyed by `HubSpot_Id__c`, by object.
    sf_creates: BTreeMap<SfObject, Vec<KeyedWrite>>,
    /// HubSpot updates by id, sent 100 per call.
    hs_updates: Vec<HubSpotWrite>,
    /// HubSpot upserts keyed by email or `salesforce_id`.
    hs_creates: Vec<HubSpotWrite>,
    /// (unit, email) of contacts whose opt-out travels to HubSpot.
    opt_outs: Vec<(usize, String)>,
    /// Ordered by unit, so that links are written in a stable order.
    pending: BTreeMap<usize, PendingWrite>,
    /// Contacts and deals whose account travelled: the HubSpot association
    /// to the company follows the account link.
    follow_account: Vec<(usize, SalesforceId)>,
    /// (unit, previous stage, current stage) of contacts whose lifecycle
    /// stage changed, in unit order.
    stage_changes: Vec<(usize, Option<String>, String)>,
}

impl PairSync<'_> {
    /// Reads the special fields' facts, plans every pending unit and applies
    /// the plan.
    pub(super) async fn plan_and_write(&mut self) {
        let facts = PlanFacts {
            creates_account: self.company_creation().await,
            deal_accounts: self.deal_accounts().await,
            owners: self.owner_directory().await,
            segment_members: self.segment_members().await,
            campaigns: self.campaign_names().await,
        };
        let plans = self.plan(&facts);
        self.apply(plans).await;
    }

    /// Hands every unit without a result to the planner; pure, no IO.
    pub(super) fn plan(&self, facts: &PlanFacts) -> Vec<(usize, RecordPlan)> {
        let pending: Vec<usize> = (0..self.units.len()).filter(|&u| self.units[u].result.is_none()).collect();
        let snapshots: Vec<(Option<RecordSnapshot>, Option<RecordSnapshot>, Option<LinkState>)> = pending
            .iter()
            .map(|&u| {
                let unit = &self.units[u];
                (
                    unit.sf.as_ref().and_then(|r| sf_snapshot(r, unit.sf_object.unwrap_or(SfObject::Lead))),
                    unit.hs.as_ref().and_then(|r| hs_snapshot(r, self.pair)),
                    unit.link.as_ref().map(|l| decode_link_state(&l.fingerprints)),
                )
            })
            .collect();
        let records: Vec<PlanRecord<'_>> = pending
            .iter()
            .zip(&snapshots)
            .map(|(&u, (sf, hs, link))| {
                let unit = &self.units[u];
                PlanRecord {
                    salesforce_id: unit.sf_id.as_deref(),
                    hubspot_id: unit.hs_id.as_deref(),
                    salesforce_object: unit.sf_object,
                    salesforce: sf.as_ref(),
                    hubspot: hs.as_ref(),
                    link: link.as_ref(),
                    previous_lifecycle_stage: unit
                        .link
                        .as_ref()
                        .and_then(|l| l.fingerprints.get(LIFECYCLE_KEY))
                        .map(String::as_str),
                    origin_missing: unit.origin_missing,
                    forced: unit.forced,
                    creates_account: facts.creates_account.get(&u).copied(),
                    deal_account: facts.deal_accounts.get(&u).map(String::as_str),
                    campaigns: facts.campaigns.get(&u).map(String::as_str),
                }
            })
            .collect();
        let batch = BatchInputs {
            config: self.app.config(),
            pair: self.pair,
            owners: facts.owners.as_deref(),
            segment_members: facts.segment_members.as_deref(),
        };
        pending.into_iter().zip(plan_batch(&batch, &records)).collect()
    }

    /// Carries a plan out: drops the links of deleted records (and deletes
    /// their counterparts when the config says so), sends the batch writes, then stores links and carries associations and
    /// lifecycle stages for the units that synced.
    pub(super) async fn apply(&mut self, plans: Vec<(usize, RecordPlan)>) {
        let mut queue = WriteQueue::default();
        let mut gone = Vec::new();
        for (u, plan) in plans {
            if plan.action == PlannedAction::LinkGone {
                // Deleted on its own side (merges and conversions were
                // followed before, stage `moves`): stage `deletions`.
                gone.push(u);
                continue;
            }
            self.enqueue(u, plan, &mut queue);
        }
        self.follow_deletions(gone).await;
        self.write_ahead(&mut queue).await;
        self.send(&mut queue).await;
        let noted: Vec<(usize, NoteKey)> = queue
            .pending
            .values()
            .filter_map(|w| Some((w.unit, w.creates.clone().or_else(|| self.units[w.unit].noted.clone())?)))
            .collect();
        self.store_links(std::mem::take(&mut queue.pending)).await;
        self.forget_creation_notes(noted).await;
        self.associate_companies(std::mem::take(&mut queue.follow_account)).await;
        self.associate_new_account_contacts().await;
        self.carry_lifecycle_stages(std::mem::take(&mut queue.stage_changes)).await;
    }

    /// Files one unit's plan into the batch calls and counts it.
    fn enqueue(&mut self, u: usize, plan: RecordPlan, queue: &mut WriteQueue) {
        debug!(action = ?plan.action, "RecordDecided");
        let writing = plan.writing();
        if let Some(account) = plan.follow_account {
            queue.follow_account.push((u, account));
        }
        if plan.owners_not_matched > 0 {
            // SPEC section 2: an owner with no exact match is not written.
            debug!(mapping = "owner", "OwnerNotMatched");
            *self.stats.skipped.entry("owner_not_matched".into()).or_default() += plan.owners_not_matched;
        }
        let mut write = PendingWrite {
            unit: u,
            decision_link: plan.link,
            lifecycle_stage: plan.lifecycle_stage,
            unlinked: false,
            writing,
            creates: None,
        };
        let stores = match plan.action {
            PlannedAction::LinkGone | PlannedAction::Incomplete => false,
            PlannedAction::Skip { reason } => {
                *self.stats.skipped.entry(skip_name(reason)).or_default() += 1;
                // A pick meeting a contact outside the segment that is
                // linked to the record it beat: that link is dropped (the
                // record is reported and never written again) and, as for
                // any unlinked contact outside the segment, none is made:
                // the pick's first sync comes when the contact joins.
                let takeover = reason == SkipReason::NotInInclusionSegment && self.units[u].takeover.is_some();
                write.unlinked = takeover;
                takeover
            }
            PlannedAction::Unchanged => {
                self.stats.unchanged += 1;
                // A pair synced from its creation note has no link yet.
                plan.store_link || self.units[u].noted.is_some()
            }
            PlannedAction::Update { salesforce, hubspot, opt_out } => {
                if let Some(update) = salesforce {
                    queue.sf_updates.entry(update.object).or_default().push((u, update.id, json_map(update.fields)));
                }
                if let Some(email) = opt_out {
                    queue.opt_outs.push((u, email));
                }
                if let Some(update) = hubspot {
                    queue.hs_updates.push((u, update.id, json_map(update.properties)));
                }
                true
            }
            PlannedAction::CreateSalesforce { object, fields } => {
                self.units[u].sf_object = Some(object);
                let fields = json_map(fields);
                // A company's or deal's new Salesforce record is found again
                // by its upsert key alone (the create is repeated), never
                // met unlinked: only contacts need the note.
                if self.pair == ObjectPair::Contact
                    && let Some(hs_id) = self.units[u].hs_id.clone()
                {
                    let target_key = create_key(self.pair, &hs_id, &fields, SALESFORCE_EMAIL_FIELD);
                    write.creates = Some(NoteKey { source: System::HubSpot, source_id: hs_id, target_key });
                }
                queue.sf_creates.entry(object).or_default().push((u, fields));
                true
            }
            PlannedAction::CreateHubSpot { key, properties } => {
                let properties = json_map(properties);
                if let Some(sf_id) = self.units[u].sf_id.clone() {
                    let target_key = create_key(self.pair, &sf_id, &properties, HUBSPOT_EMAIL_PROPERTY);
                    write.creates = Some(NoteKey { source: System::Salesforce, source_id: sf_id, target_key });
                }
                queue.hs_creates.push((u, key, properties));
                true
            }
        };
        if stores {
            if let Some(change) = plan.lifecycle_change {
                queue.stage_changes.push((u, change.previous, change.current));
            }
            queue.pending.insert(u, write);
        }
    }

    /// Before any write to a linked record, stores its link with what is
    /// about to be written ([`LinkState::writing`]), in one store call for
    /// the batch: a worker that stops between its writes and the link's
    /// store then leaves a link that tells the sync's own values from a
    /// user's later change (without it, a user's edit on the other side
    /// could lose to the sync's own write as the newer change). Before a
    /// create, and before writing a pair synced from its creation note, it
    /// stores the note of the link to come ([`super::creations`]), one call
    /// for the batch. A record whose link moved meanwhile, or whose link or
    /// note cannot be stored, is not written now and is tried again.
    async fn write_ahead(&mut self, queue: &mut WriteQueue) {
        let now = self.app.clock().now();
        let mut writes = Vec::new();
        let mut order = Vec::new();
        let mut notes = Vec::new();
        let mut noted = Vec::new();
        for (&u, write) in &queue.pending {
            let unit = &self.units[u];
            if unit.takeover.is_some() {
                continue;
            }
            if let Some(key) = write.creates.as_ref() {
                notes.push(note(self.pair, key, write.fingerprints()));
                noted.push(u);
                continue;
            }
            let Some(link) = unit.link.as_ref().filter(|_| !write.writing.is_empty()) else {
                continue;
            };
            let mut ahead = link.clone();
            if !insert_writing(&mut ahead.fingerprints, &write.writing) {
                continue;
            }
            if let Some(key) = unit.noted.as_ref() {
                notes.push(note(self.pair, key, ahead.fingerprints));
                noted.push(u);
                continue;
            }
            ahead.updated_at = now;
            writes.push(LinkWrite { condition: LinkCondition::VersionIs(link.version), link: ahead });
            order.push(u);
        }
        if !notes.is_empty()
            && let Err(error) = self.app.store().put_creation_notes(&notes).await
        {
            debug!(%error, "CreationNotesNotStored");
            for u in noted {
                self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                queue.withdraw(u);
            }
        }
        if writes.is_empty() {
            return;
        }
        let results = match self.app.store().put_links(&writes).await {
            Ok(results) => results.into_iter().map(|r| r.map_err(|e| e.to_string())).collect(),
            Err(error) => vec![Err(error.to_string()); writes.len()],
        };
        for ((u, write), result) in order.into_iter().zip(writes).zip(results) {
            match result {
                Ok(version) => self.units[u].link = Some(Link { version, ..write.link }),
                Err(error) => {
                    debug!(%error, "LinkNotStoredAhead");
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                    queue.withdraw(u);
                }
            }
        }
    }

    /// Sends the queued writes, one batch call per chunk, and settles them.
    async fn send(&mut self, queue: &mut WriteQueue) {
        // Salesforce writes.
        for (object, items) in std::mem::take(&mut queue.sf_updates) {
            for chunk in items.chunks(SALESFORCE_BATCH) {
                let records: Vec<(String, Map<String, Value>)> =
                    chunk.iter().map(|(_, id, f)| (id.clone(), f.clone())).collect();
                let result = self.app.salesforce().update(object.api_name(), &records).await;
                let units: Vec<usize> = chunk.iter().map(|(u, _, _)| *u).collect();
                let (units, result) = if object == SfObject::Lead {
                    self.hold_converted_leads(units, result).await
                } else {
                    (units, result)
                };
                self.settle(units, result, System::Salesforce, &format!("salesforce:{object}")).await;
            }
        }
        for (object, items) in std::mem::take(&mut queue.sf_creates) {
            for chunk in items.chunks(SALESFORCE_BATCH) {
                let records: Vec<Map<String, Value>> = chunk.iter().map(|(_, f)| f.clone()).collect();
                let mut result =
                    self.app.salesforce().upsert(object.api_name(), SALESFORCE_HUBSPOT_ID_FIELD, &records).await;
                if object == SfObject::Lead {
                    Self::explain_converted_holders(&mut result);
                }
                let units: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                if let Ok(results) = &result {
                    for (&u, r) in units.iter().zip(results) {
                        if let WriteResult::Ok { id, .. } = r {
                            self.units[u].sf_id = SalesforceId::parse(id).ok().map(|i| i.as_str().to_owned());
                        }
                    }
                }
                self.settle(units, result, System::Salesforce, &format!("salesforce:{object}")).await;
            }
        }
        // HubSpot writes.
        let hs_object = self.pair.hubspot_object_type();
        let stat = format!("hubspot:{}", self.pair.as_str());
        for chunk in queue.hs_updates.chunks(HUBSPOT_BATCH) {
            let inputs: Vec<(String, Map<String, Value>)> =
                chunk.iter().map(|(_, id, p)| (id.clone(), p.clone())).collect();
            let result = self.app.hubspot().batch_update(hs_object, &inputs).await;
            self.settle(chunk.iter().map(|(u, _, _)| *u).collect(), result, System::HubSpot, &stat).await;
        }
        let id_property =
            if self.pair == ObjectPair::Contact { HUBSPOT_EMAIL_PROPERTY } else { HUBSPOT_SALESFORCE_ID_PROPERTY };
        for chunk in queue.hs_creates.chunks(HUBSPOT_BATCH) {
            let inputs: Vec<(String, Map<String, Value>)> =
                chunk.iter().map(|(_, k, p)| (k.clone(), p.clone())).collect();
            let result = self.app.hubspot().batch_upsert(hs_object, id_property, &inputs).await;
            let units: Vec<usize> = chunk.iter().map(|(u, _, _)| *u).collect();
            if let Ok(results) = &result {
                for (&u, r) in units.iter().zip(results) {
                    if let WriteResult::Ok { id, .. } = r {
                        self.units[u].hs_id = Some(id.clone());
                    }
                }
            }
            self.settle(units, result, System::HubSpot, &stat).await;
        }
        self.send_opt_outs(&queue.opt_outs).await;
    }

    /// Opt-outs go through the communication preferences API, one call for
    /// the batch, for the contacts whose other writes did not fail; an
    /// address HubSpot refuses is that contact's failure, with its message.
    async fn send_opt_outs(&mut self, opt_outs: &[(usize, String)]) {
        let (units, emails): (Vec<usize>, Vec<String>) =
            opt_outs.iter().filter(|(u, _)| self.units[*u].result.is_none()).cloned().unzip();
        if emails.is_empty() {
            return;
        }
        let result = self.app.hubspot().unsubscribe_all(&emails).await;
        self.settle(units, result, System::HubSpot, "hubspot:opt_out").await;
    }

    /// Settles one batch call to `system`: counts what was created or
    /// updated, records per-record errors in sync health (their codes read
    /// by `system`'s own table), and fails or retries the units of a failed
    /// call (whose error the client has already categorised).
    pub(super) async fn settle(
        &mut self,
        units: Vec<usize>,
        result: Result<Vec<WriteResult>, CrmError>,
        system: System,
        stat: &str,
    ) {
        match result {
            Ok(results) => {
                for (i, u) in units.iter().enumerate() {
                    match results.get(i) {
                        Some(WriteResult::Ok { created, .. }) => {
                            let map = if *created { &mut self.stats.created } else { &mut self.stats.updated };
                            *map.entry(stat.to_owned()).or_default() += 1;
                        }
                        Some(WriteResult::Err { code, message }) => {
                            let category = crm_error::category(system, code, message);
                            let (code, message) = (code.clone(), message.clone());
                            self.record_failure(*u, category, &code, &message, false).await;
                        }
                        None => {
                            self.record_failure(
                                *u,
                                ErrorCategory::Other,
                                "MISSING_RESULT",
                                "the CRM returned no result for this record",
                                true,
                            )
                            .await;
                        }
                    }
                }
            }
            Err(error) => {
                if error.is_retryable() {
                    self.fail_units(&units, &error);
                } else {
                    for u in units {
                        let (code, message) = (error.code.clone(), error.message.clone());
                        self.record_failure(u, error.category, &code, &message, false).await;
                    }
                }
            }
        }
    }
}

/// The creation note of `key` holding `fingerprints`.
fn note(pair: ObjectPair, key: &NoteKey, fingerprints: BTreeMap<String, String>) -> CreationNote {
    CreationNote {
        pair,
        source: key.source,
        source_id: key.source_id.clone(),
        target_key: key.target_key.clone(),
        fingerprints,
        written_at: chrono::DateTime::UNIX_EPOCH,
    }
}

/// The domain's field map as a JSON object for a CRM call.
fn json_map(fields: FieldMap) -> Map<String, Value> {
    fields.into_iter().collect()
}

/// The statistics name of a skip reason (`"not_in_inclusion_segment"`, ...).
fn skip_name(reason: SkipReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{reason:?}"))
}
