//! Syncing a batch of intents: batch-read both sides, decide per record with
//! the core, batch-write, store links and fingerprints, record errors.
//!
//! The whole batch shares its API calls: reads are grouped per object (HubSpot
//! 100 per call, Salesforce 200 per call), and so are writes. Every create is
//! an idempotent upsert keyed by the source record (HubSpot contacts by email,
//! companies and deals by `salesforce_id`; Salesforce by the `HubSpot_Id__c`
//! External ID), and links are stored with conditional writes, so a message
//! delivered twice or handled by two workers at once writes once.

use crate::App;
use crate::messages::parse_intents;
use crate::ports::{HUBSPOT_BATCH, HsRecord, SALESFORCE_BATCH, SfRecord, WriteResult};
use crate::usage::flush_usage;
use chrono::{DateTime, TimeZone, Utc};
use crm_sync_crm::error::CrmError;
use crm_sync_domain::config::{InclusionSegment, SpecialField};
use crm_sync_domain::decision::{Action, HUBSPOT_EMAIL_PROPERTY, SALESFORCE_EMAIL_FIELD};
use crm_sync_domain::error::{ErrorCategory, Verdict};
use crm_sync_domain::matching::{SalesforceCandidate, pick_salesforce_match};
use crm_sync_domain::model::{FieldMap, RecordId};
use crm_sync_domain::rules::FieldReason;
use crm_sync_domain::rules::{FieldFingerprint, Fingerprint};
use crm_sync_domain::special::{
    CompanyAssociation, LIFECYCLE_STAGE, OwnerDirectory, SALESFORCE_CAMPAIGNS_PROPERTY, campaigns_property_value,
    company_association, lifecycle_stage_for_company,
};
use crm_sync_domain::{
    DecisionContext, DecisionInput, Email, HubSpotId, LinkState, ObjectPair, RecordSnapshot, SalesforceId, SfObject,
    SyncIntent, decide,
};
use crm_sync_store::{ErrorReport, Link, LinkCondition, LinkWrite, ReceivedMessage};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tracing::{debug, info, instrument, warn};

/// The Salesforce External ID field holding the HubSpot id.
pub const SALESFORCE_HUBSPOT_ID_FIELD: &str = "HubSpot_Id__c";
/// The unique HubSpot property holding the Salesforce id (companies, deals).
pub const HUBSPOT_SALESFORCE_ID_PROPERTY: &str = "salesforce_id";
/// What a new Lead gets for its required fields when HubSpot has no value.
pub const NOT_PROVIDED: &str = "[not provided]";
/// The HubSpot contact property mirroring a Salesforce Contact's `AccountId`.
const ACCOUNT_ID_PROPERTY: &str = "salesforceaccountid";
/// HubSpot's read-only opt-out property: an opt-out travels through the
/// communication preferences API instead.
pub const HUBSPOT_OPT_OUT_PROPERTY: &str = "hs_email_optout";
/// Retry delay after losing a conditional link write to another worker.
const RACE_RETRY: Duration = Duration::from_secs(1);

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    /// Every intent synced or was skipped with a reason.
    Done,
    /// Try the message again after this delay (429, 5xx, lock, lost race).
    RetryAfter(Duration),
    /// A permanent failure, already recorded in sync health.
    Failed { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageOutcome {
    pub message_id: String,
    pub receipt_handle: String,
    pub result: ItemResult,
}

/// Counts of what a batch did, per side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncStats {
    /// Records created / updated, keyed `"<side>:<object>"`, e.g.
    /// `"hubspot:contact"`, `"salesforce:Lead"`.
    pub created: BTreeMap<String, u64>,
    pub updated: BTreeMap<String, u64>,
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
    pub items: Vec<MessageOutcome>,
    pub stats: SyncStats,
}

/// How one record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RecordResult {
    Done,
    Retry(Duration),
    Failed(String),
}

impl RecordResult {
    fn worse(self, other: RecordResult) -> RecordResult {
        use RecordResult::*;
        match (self, other) {
            (Retry(a), Retry(b)) => Retry(a.max(b)),
            (Retry(a), _) | (_, Retry(a)) => Retry(a),
            (Failed(a), _) | (_, Failed(a)) => Failed(a),
            _ => Done,
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
                    pair: crm_sync_store::ObjectPair::Contact,
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
            if seen.insert(intent.record_key()) {
                by_pair.entry(intent.pair()).or_default().push(intent.clone());
            }
        }
    }
    tracing::Span::current().record("intents", seen.len());
    let mut record_results: HashMap<String, RecordResult> = HashMap::new();
    for (pair, intents) in by_pair {
        let mut sync = PairSync::new(app, pair, &mut outcome.stats);
        let results = sync.run(&intents).await;
        for (intent, result) in intents.iter().zip(results) {
            record_results.insert(intent.record_key(), result);
        }
    }
    for (i, intents) in per_message {
        let mut result = RecordResult::Done;
        for intent in &intents {
            let r = record_results.get(&intent.record_key()).cloned().unwrap_or(RecordResult::Done);
            result = result.worse(r);
        }
        results[i] = Some(match result {
            RecordResult::Done => ItemResult::Done,
            RecordResult::Retry(d) => ItemResult::RetryAfter(d),
            RecordResult::Failed(reason) => ItemResult::Failed { reason },
        });
    }
    if let Err(error) = flush_usage(app).await {
        warn!(%error, "UsageNotRecorded");
    }
    outcome.items = messages
        .iter()
        .zip(results)
        .map(|(m, r)| MessageOutcome {
            message_id: m.id.clone(),
            receipt_handle: m.receipt_handle.clone(),
            result: r.unwrap_or(ItemResult::Done),
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

pub(crate) fn category_name(category: ErrorCategory) -> String {
    match serde_json::to_value(category) {
        Ok(Value::String(s)) => s,
        _ => "other".to_owned(),
    }
}

/// Sorts a per-record error code of either CRM into a sync-health category.
pub(crate) fn categorize(code: &str) -> ErrorCategory {
    let code = code.to_ascii_uppercase();
    if code.contains("DUPLICATE") || code.contains("CONFLICT") {
        ErrorCategory::Duplicates
    } else if code.contains("ASSOCIATION") {
        ErrorCategory::Associations
    } else if code.contains("ACCESS")
        || code.contains("PERMISSION")
        || code.contains("INSUFFICIENT")
        || code.contains("FORBIDDEN")
    {
        ErrorCategory::PermissionsOrAccess
    } else if code.contains("LIMIT") || code.contains("RATE") {
        ErrorCategory::ApiLimit
    } else if code.contains("INVALID")
        || code.contains("REQUIRED")
        || code.contains("VALIDATION")
        || code.contains("FIELD")
        || code.contains("VALUE")
        || code.contains("STRING_TOO_LONG")
    {
        ErrorCategory::PropertyValueOrValidation
    } else {
        ErrorCategory::Other
    }
}

fn pair_name(pair: ObjectPair) -> &'static str {
    match pair {
        ObjectPair::Contact => "contact",
        ObjectPair::Company => "company",
        ObjectPair::Deal => "deal",
    }
}

/// Parses the timestamps both CRMs send: RFC 3339, Salesforce's
/// `2024-05-01T10:00:00.000+0000`, or epoch milliseconds.
pub(crate) fn parse_time(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let text = match value? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    text.parse::<i64>().ok().and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

/// HubSpot's default pipeline stage ids and the standard Salesforce
/// Opportunity stages they correspond to.
const DEAL_STAGES: &[(&str, &str)] = &[
    ("appointmentscheduled", "Prospecting"),
    ("qualifiedtobuy", "Qualification"),
    ("presentationscheduled", "Proposal/Price Quote"),
    ("decisionmakerboughtin", "Id. Decision Makers"),
    ("contractsent", "Negotiation/Review"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
];
/// Standard Salesforce stages with no HubSpot stage of their own.
const SALESFORCE_ONLY_STAGES: &[(&str, &str)] = &[
    ("Needs Analysis", "qualifiedtobuy"),
    ("Value Proposition", "presentationscheduled"),
    ("Perception Analysis", "decisionmakerboughtin"),
];
/// The Opportunity's stage field.
const STAGE_FIELD: &str = "StageName";

/// A Salesforce stage label in HubSpot's stage ids; unknown labels (custom
/// stages) pass through unchanged.
fn stage_to_hubspot(label: &str) -> &str {
    DEAL_STAGES
        .iter()
        .map(|(id, l)| (*l, *id))
        .chain(SALESFORCE_ONLY_STAGES.iter().copied())
        .find(|(l, _)| l.eq_ignore_ascii_case(label))
        .map_or(label, |(_, id)| id)
}

/// A HubSpot stage id as a Salesforce stage label; unknown ids pass through.
fn stage_to_salesforce(id: &str) -> &str {
    DEAL_STAGES.iter().find(|(i, _)| i.eq_ignore_ascii_case(id)).map_or(id, |(_, l)| l)
}

/// Whether `pair` maps an owner field (and so reads the owner directory).
pub(crate) fn maps_owner(app: &App, pair: ObjectPair) -> bool {
    app.config().mappings(pair).iter().any(|m| m.special == Some(SpecialField::Owner))
}

/// The owner directory when `pair` maps an owner field; `None` (no owner
/// written, each reported as not matched) when it cannot be read.
pub(crate) async fn owner_directory_for(app: &App, pair: ObjectPair) -> Option<std::sync::Arc<OwnerDirectory>> {
    if !maps_owner(app, pair) {
        return None;
    }
    match app.owner_directory().await {
        Ok(dir) => Some(dir),
        Err(error) => {
            warn!(%error, "OwnerDirectoryUnavailable");
            None
        }
    }
}

pub(crate) fn sf_snapshot(record: &SfRecord, object: SfObject) -> Option<RecordSnapshot> {
    let id = SalesforceId::parse(&record.id).ok()?;
    let modified = parse_time(record.fields.get("LastModifiedDate"))
        .or_else(|| parse_time(record.fields.get("SystemModstamp")))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut fields: FieldMap = record.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if object == SfObject::Opportunity
        && let Some(Value::String(stage)) = fields.get_mut(STAGE_FIELD)
    {
        // Compared in HubSpot's stage ids; written back as labels.
        *stage = stage_to_hubspot(stage).to_owned();
    }
    Some(RecordSnapshot::salesforce(id, object, fields, modified))
}

fn hs_snapshot(record: &HsRecord, pair: ObjectPair) -> Option<RecordSnapshot> {
    let id = HubSpotId::parse(&record.id).ok()?;
    let modified = parse_time(record.properties.get("hs_lastmodifieddate"))
        .or_else(|| parse_time(record.properties.get("lastmodifieddate")))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let fields: FieldMap = record.properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Some(RecordSnapshot::hubspot(id, pair, fields, modified))
}

fn email_in(fields: &Map<String, Value>, name: &str) -> Option<Email> {
    fields.get(name).and_then(Value::as_str).and_then(|s| Email::parse(s).ok())
}

const LAST_MODIFIED_KEY: &str = "_salesforce_last_modified";
/// The contact's HubSpot lifecycle stage when its link was last stored, so
/// that a change can be carried to its company (SPEC section 4).
const LIFECYCLE_KEY: &str = "_hubspot_lifecyclestage";

/// The domain's link state, in the store's string map.
pub(crate) fn encode_link_state(state: &LinkState) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, print) in &state.fingerprints {
        out.insert(key.clone(), format!("{}|{}", print.salesforce.as_str(), print.hubspot.as_str()));
    }
    if let Some(t) = state.salesforce_last_modified {
        out.insert(LAST_MODIFIED_KEY.to_owned(), t.to_rfc3339());
    }
    out
}

pub(crate) fn decode_link_state(map: &BTreeMap<String, String>) -> LinkState {
    let mut state = LinkState::default();
    for (key, value) in map {
        if key == LAST_MODIFIED_KEY {
            state.salesforce_last_modified = DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc));
        } else if let Some((sf, hs)) = value.split_once('|') {
            let print: Option<FieldFingerprint> = serde_json::from_value(serde_json::json!({
                "salesforce": sf, "hubspot": hs
            }))
            .ok();
            if let Some(print) = print {
                state.fingerprints.insert(key.clone(), print);
            }
        }
    }
    state
}

/// One record being synced: what is known of each side.
#[derive(Debug, Clone, Default)]
struct Unit {
    /// Record keys of the intents this unit answers.
    intent_keys: Vec<String>,
    forced: bool,
    link: Option<Link>,
    sf_object: Option<SfObject>,
    sf_id: Option<String>,
    hs_id: Option<String>,
    sf: Option<SfRecord>,
    hs: Option<HsRecord>,
    /// The side the first intent came from had no record (deleted).
    origin_missing: bool,
    result: Option<RecordResult>,
}

/// An update of one record by id: (unit, id, fields).
type IdWrite = (usize, String, Map<String, Value>);
/// A create keyed by its External ID: (unit, fields).
type KeyedWrite = (usize, Map<String, Value>);

/// A write waiting for its batch call.
struct PendingWrite {
    unit: usize,
    decision_link: LinkState,
}

struct PairSync<'a> {
    app: &'a App,
    pair: ObjectPair,
    stats: &'a mut SyncStats,
    units: Vec<Unit>,
}

impl<'a> PairSync<'a> {
    fn new(app: &'a App, pair: ObjectPair, stats: &'a mut SyncStats) -> Self {
        PairSync { app, pair, stats, units: Vec::new() }
    }

    fn hubspot_properties(&self) -> Vec<String> {
        let mut props: BTreeSet<String> =
            self.app.config().mappings(self.pair).iter().map(|m| m.hubspot_property.clone()).collect();
        props.insert("hs_lastmodifieddate".into());
        props.insert("lastmodifieddate".into());
        match self.pair {
            ObjectPair::Contact => {
                props.insert(HUBSPOT_EMAIL_PROPERTY.into());
                props.insert(SALESFORCE_CAMPAIGNS_PROPERTY.into());
                if self.app.config().objects.companies {
                    props.insert(LIFECYCLE_STAGE.into());
                }
            }
            _ => {
                props.insert(HUBSPOT_SALESFORCE_ID_PROPERTY.into());
            }
        }
        if let Some(crm_sync_domain::config::InclusionSegment::PropertyFilter { property, .. }) =
            &self.app.config().inclusion_segment
        {
            props.insert(property.clone());
        }
        props.into_iter().collect()
    }

    fn salesforce_fields(&self, object: SfObject) -> Vec<String> {
        let mut fields: BTreeSet<String> =
            self.app.config().mappings_for(object).map(|m| m.salesforce_field.clone()).collect();
        fields.insert("Id".into());
        fields.insert("LastModifiedDate".into());
        fields.insert("SystemModstamp".into());
        if matches!(object, SfObject::Lead | SfObject::Contact) {
            fields.insert(SALESFORCE_EMAIL_FIELD.into());
            fields.insert("CreatedDate".into());
        }
        if object == SfObject::Lead {
            fields.insert("IsConverted".into());
        }
        if object == SfObject::Opportunity {
            fields.insert("AccountId".into());
        }
        fields.into_iter().collect()
    }

    fn fail_units(&mut self, units: &[usize], error: &CrmError) {
        for &u in units {
            let result = match error.verdict {
                Verdict::Retryable { after } => RecordResult::Retry(after),
                Verdict::Permanent => RecordResult::Failed(error.message.clone()),
            };
            let unit = &mut self.units[u];
            unit.result = Some(unit.result.take().map_or(result.clone(), |r| r.worse(result)));
        }
    }

    async fn run(&mut self, intents: &[SyncIntent]) -> Vec<RecordResult> {
        if self.pair != ObjectPair::Contact
            && let Err(error) = self.app.ensure_hubspot_schema().await
        {
            warn!(%error, "HubSpotSchemaNotReady");
            let delay = error.retry_after().unwrap_or(Duration::from_secs(60));
            return intents.iter().map(|_| RecordResult::Retry(delay)).collect();
        }
        if let Err(error) = self.collect(intents).await {
            warn!(pair = pair_name(self.pair), %error, "LinksUnreadable");
            return intents.iter().map(|_| RecordResult::Retry(RACE_RETRY)).collect();
        }
        self.read().await;
        self.match_unlinked().await;
        self.decide_and_write().await;
        let mut by_key: HashMap<&str, RecordResult> = HashMap::new();
        for unit in &self.units {
            let result = unit.result.clone().unwrap_or(RecordResult::Done);
            for key in &unit.intent_keys {
                by_key.insert(key.as_str(), result.clone());
            }
        }
        intents.iter().map(|i| by_key.get(i.record_key().as_str()).cloned().unwrap_or(RecordResult::Done)).collect()
    }

    /// Builds one unit per record, joined through stored links.
    async fn collect(&mut self, intents: &[SyncIntent]) -> Result<(), crm_sync_store::StoreError> {
        let store = self.app.store();
        let spair = self.pair;
        let mut by_sf: HashMap<String, usize> = HashMap::new();
        let mut by_hs: HashMap<String, usize> = HashMap::new();
        for intent in intents {
            let forced = intent.trigger.is_forced();
            let key = intent.record_key();
            match intent.record_id() {
                RecordId::Salesforce(id) => {
                    let id = id.as_str().to_owned();
                    if let Some(&u) = by_sf.get(&id) {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        continue;
                    }
                    let link = store.get_link_by_salesforce(spair, &id).await?;
                    if let Some(hs) = link.as_ref().map(|l| l.hubspot_id.clone())
                        && let Some(&u) = by_hs.get(&hs)
                    {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        by_sf.insert(id, u);
                        continue;
                    }
                    let object = match intent.object() {
                        crm_sync_domain::intent::IntentObject::Salesforce(o) => o,
                        crm_sync_domain::intent::IntentObject::HubSpot(_) => continue,
                    };
                    let unit = Unit {
                        intent_keys: vec![key],
                        forced,
                        hs_id: link.as_ref().map(|l| l.hubspot_id.clone()),
                        sf_object: Some(
                            link.as_ref().and_then(|l| SfObject::parse(&l.salesforce_object)).unwrap_or(object),
                        ),
                        sf_id: Some(id.clone()),
                        link,
                        ..Unit::default()
                    };
                    by_sf.insert(id, self.units.len());
                    if let Some(hs) = &unit.hs_id {
                        by_hs.insert(hs.clone(), self.units.len());
                    }
                    self.units.push(unit);
                }
                RecordId::HubSpot(id) => {
                    let id = id.as_str().to_owned();
                    if let Some(&u) = by_hs.get(&id) {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        continue;
                    }
                    let link = store.get_link_by_hubspot(spair, &id).await?;
                    if let Some(sf) = link.as_ref().map(|l| l.salesforce_id.clone())
                        && let Some(&u) = by_sf.get(&sf)
                    {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        by_hs.insert(id, u);
                        continue;
                    }
                    let unit = Unit {
                        intent_keys: vec![key],
                        forced,
                        sf_id: link.as_ref().map(|l| l.salesforce_id.clone()),
                        sf_object: link.as_ref().and_then(|l| SfObject::parse(&l.salesforce_object)),
                        hs_id: Some(id.clone()),
                        link,
                        ..Unit::default()
                    };
                    by_hs.insert(id, self.units.len());
                    if let Some(sf) = &unit.sf_id {
                        by_sf.insert(sf.clone(), self.units.len());
                    }
                    self.units.push(unit);
                }
            }
        }
        Ok(())
    }

    /// Reads every known id on both sides, batched.
    async fn read(&mut self) {
        // HubSpot by id.
        let hs_object = self.pair.hubspot_object_type();
        let props = self.hubspot_properties();
        let hs_units: Vec<usize> = (0..self.units.len()).filter(|&u| self.units[u].hs_id.is_some()).collect();
        for chunk in hs_units.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
            match self.app.hubspot().batch_read(hs_object, &ids, None, &props).await {
                Ok(records) => {
                    let by_id: HashMap<String, HsRecord> = records.into_iter().map(|r| (r.id.clone(), r)).collect();
                    for &u in chunk {
                        let id = self.units[u].hs_id.clone().unwrap_or_default();
                        self.units[u].hs = by_id.get(&id).cloned();
                    }
                }
                Err(error) => self.fail_units(chunk, &error),
            }
        }
        // Salesforce by id, per object.
        let mut by_object: BTreeMap<SfObject, Vec<usize>> = BTreeMap::new();
        for (u, unit) in self.units.iter().enumerate() {
            if let (Some(object), Some(_)) = (unit.sf_object, &unit.sf_id) {
                by_object.entry(object).or_default().push(u);
            }
        }
        for (object, units) in by_object {
            let fields = self.salesforce_fields(object);
            for chunk in units.chunks(SALESFORCE_BATCH) {
                let ids: Vec<String> = chunk.iter().filter_map(|&u| self.units[u].sf_id.clone()).collect();
                match self.app.salesforce().retrieve(object.api_name(), &ids, &fields).await {
                    Ok(records) => {
                        let by_id: HashMap<String, SfRecord> = records
                            .into_iter()
                            .filter_map(|r| Some((SalesforceId::parse(&r.id).ok()?.as_str().to_owned(), r)))
                            .collect();
                        for &u in chunk {
                            let id = self.units[u].sf_id.clone().unwrap_or_default();
                            self.units[u].sf = by_id.get(&id).cloned();
                        }
                    }
                    Err(error) => self.fail_units(chunk, &error),
                }
            }
        }
        for unit in &mut self.units {
            let sf_missing = unit.sf_id.is_some() && unit.sf.is_none();
            let hs_missing = unit.hs_id.is_some() && unit.hs.is_none();
            unit.origin_missing = unit.result.is_none() && (sf_missing || hs_missing);
        }
    }

    /// Finds the other side of records with no link: contacts by email,
    /// companies and deals by the `salesforce_id` HubSpot property.
    async fn match_unlinked(&mut self) {
        let pending = |u: &Unit| u.result.is_none() && u.link.is_none() && !u.origin_missing;
        // HubSpot records without a Salesforce side.
        let hs_only: Vec<usize> = (0..self.units.len())
            .filter(|&u| pending(&self.units[u]) && self.units[u].hs.is_some() && self.units[u].sf.is_none())
            .collect();
        if self.pair == ObjectPair::Contact && !hs_only.is_empty() {
            self.match_contacts_in_salesforce(&hs_only).await;
        } else if !hs_only.is_empty() {
            // A company or deal created from Salesforce carries the id.
            for &u in &hs_only {
                let sf_id = self.units[u]
                    .hs
                    .as_ref()
                    .and_then(|r| r.properties.get(HUBSPOT_SALESFORCE_ID_PROPERTY))
                    .and_then(Value::as_str)
                    .and_then(|s| SalesforceId::parse(s).ok());
                if let Some(id) = sf_id {
                    self.units[u].sf_id = Some(id.as_str().to_owned());
                    self.units[u].sf_object = self.pair.salesforce_objects().first().copied();
                }
            }
            let object = self.pair.salesforce_objects().first().copied();
            let ids: Vec<usize> = hs_only.iter().copied().filter(|&u| self.units[u].sf_id.is_some()).collect();
            if let Some(object) = object {
                let fields = self.salesforce_fields(object);
                for chunk in ids.chunks(SALESFORCE_BATCH) {
                    let wanted: Vec<String> = chunk.iter().filter_map(|&u| self.units[u].sf_id.clone()).collect();
                    match self.app.salesforce().retrieve(object.api_name(), &wanted, &fields).await {
                        Ok(records) => {
                            let by_id: HashMap<String, SfRecord> = records
                                .into_iter()
                                .filter_map(|r| Some((SalesforceId::parse(&r.id).ok()?.as_str().to_owned(), r)))
                                .collect();
                            for &u in chunk {
                                let id = self.units[u].sf_id.clone().unwrap_or_default();
                                self.units[u].sf = by_id.get(&id).cloned();
                                if self.units[u].sf.is_none() {
                                    self.units[u].sf_id = None;
                                }
                            }
                        }
                        Err(error) => self.fail_units(chunk, &error),
                    }
                }
            }
        }
        // Salesforce records without a HubSpot side.
        let sf_only: Vec<usize> = (0..self.units.len())
            .filter(|&u| pending(&self.units[u]) && self.units[u].sf.is_some() && self.units[u].hs.is_none())
            .collect();
        if sf_only.is_empty() {
            return;
        }
        let hs_object = self.pair.hubspot_object_type();
        let props = self.hubspot_properties();
        let (id_property, keys): (&str, Vec<(usize, String)>) = if self.pair == ObjectPair::Contact {
            (
                HUBSPOT_EMAIL_PROPERTY,
                sf_only
                    .iter()
                    .filter_map(|&u| {
                        let email = email_in(&self.units[u].sf.as_ref()?.fields, SALESFORCE_EMAIL_FIELD)?;
                        Some((u, email.as_str().to_owned()))
                    })
                    .collect(),
            )
        } else {
            (
                HUBSPOT_SALESFORCE_ID_PROPERTY,
                sf_only.iter().filter_map(|&u| Some((u, self.units[u].sf_id.clone()?))).collect(),
            )
        };
        for chunk in keys.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().map(|(_, k)| k.clone()).collect();
            match self.app.hubspot().batch_read(hs_object, &ids, Some(id_property), &props).await {
                Ok(records) => {
                    let mut by_key: HashMap<String, HsRecord> = HashMap::new();
                    for r in records {
                        let key = r.properties.get(id_property).and_then(Value::as_str).map(|s| {
                            if id_property == HUBSPOT_EMAIL_PROPERTY { s.trim().to_lowercase() } else { s.to_owned() }
                        });
                        if let Some(key) = key {
                            by_key.insert(key, r);
                        }
                    }
                    for (u, key) in chunk {
                        if let Some(r) = by_key.get(key) {
                            self.units[*u].hs_id = Some(r.id.clone());
                            self.units[*u].hs = Some(r.clone());
                        }
                    }
                }
                Err(error) => {
                    let units: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                    self.fail_units(&units, &error);
                }
            }
        }
    }

    /// HubSpot contacts with no link: find Salesforce Leads and Contacts with
    /// the same email (SOQL `IN`, 200 emails per query and object), pick one by
    /// the core's deterministic rule, report the others as duplicates.
    async fn match_contacts_in_salesforce(&mut self, units: &[usize]) {
        let mut wanted: Vec<(usize, Email)> = Vec::new();
        for &u in units {
            if let Some(email) = self.units[u].hs.as_ref().and_then(|r| email_in(&r.properties, HUBSPOT_EMAIL_PROPERTY))
            {
                wanted.push((u, email));
            }
        }
        let mut candidates: HashMap<Email, Vec<(SalesforceCandidate, SfRecord)>> = HashMap::new();
        for object in [SfObject::Lead, SfObject::Contact] {
            let fields = self.salesforce_fields(object);
            for chunk in wanted.chunks(SALESFORCE_BATCH) {
                let list =
                    chunk.iter().map(|(_, e)| format!("'{}'", soql_escape(e.as_str()))).collect::<Vec<_>>().join(",");
                let soql = format!("SELECT {} FROM {} WHERE Email IN ({})", fields.join(", "), object.api_name(), list);
                match self.app.salesforce().query(&soql).await {
                    Ok(records) => {
                        for record in records {
                            let (Some(email), Ok(id)) =
                                (email_in(&record.fields, SALESFORCE_EMAIL_FIELD), SalesforceId::parse(&record.id))
                            else {
                                continue;
                            };
                            let candidate = SalesforceCandidate {
                                id,
                                object,
                                email: email.clone(),
                                created: parse_time(record.fields.get("CreatedDate"))
                                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                                converted: record.fields.get("IsConverted").and_then(Value::as_bool).unwrap_or(false),
                            };
                            candidates.entry(email).or_default().push((candidate, record));
                        }
                    }
                    Err(error) => {
                        let us: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                        self.fail_units(&us, &error);
                    }
                }
            }
        }
        for (u, email) in wanted {
            if self.units[u].result.is_some() {
                continue;
            }
            let Some(found) = candidates.get(&email) else { continue };
            let list: Vec<SalesforceCandidate> = found.iter().map(|(c, _)| c.clone()).collect();
            let Some(choice) = pick_salesforce_match(&list) else { continue };
            if let Some((_, record)) = found.iter().find(|(c, _)| c.id == choice.chosen.id) {
                self.units[u].sf_id = Some(choice.chosen.id.as_str().to_owned());
                self.units[u].sf_object = Some(choice.chosen.object);
                self.units[u].sf = Some(record.clone());
            }
            for other in &choice.others {
                let report = ErrorReport {
                    key: format!("contact:salesforce:{}", other.id),
                    category: category_name(ErrorCategory::Duplicates),
                    pair: crm_sync_store::ObjectPair::Contact,
                    salesforce_id: Some(other.id.as_str().to_owned()),
                    hubspot_id: self.units[u].hs_id.clone(),
                    message: format!(
                        "another Salesforce record ({} {}) shares this email and was chosen; this one is not synced",
                        choice.chosen.object, choice.chosen.id
                    ),
                    retryable: false,
                };
                if let Err(error) = self.app.store().record_error(&report).await {
                    warn!(%error, "ErrorNotRecorded");
                }
                *self.stats.errors.entry(report.category.clone()).or_default() += 1;
            }
        }
    }

    async fn record_failure(&mut self, u: usize, code: &str, message: &str, retryable: bool) {
        let unit = &self.units[u];
        let category = categorize(code);
        let key = match (&unit.hs_id, &unit.sf_id) {
            (Some(hs), _) => format!("{}:hubspot:{hs}", pair_name(self.pair)),
            (None, Some(sf)) => format!("{}:salesforce:{sf}", pair_name(self.pair)),
            (None, None) => format!("{}:unknown", pair_name(self.pair)),
        };
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

    /// SPEC section 5 for HubSpot companies with no account yet: reads their
    /// associated contacts (one call per 100 companies), how those contacts
    /// are linked, and, for linked Salesforce Contacts, whether they have an
    /// account (one call per 200). Units whose reads fail are marked.
    async fn company_creation(&mut self) -> HashMap<usize, bool> {
        let config = self.app.config();
        let mut verdicts = HashMap::new();
        let units: Vec<usize> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none() && !unit.origin_missing && unit.hs.is_some() && unit.sf.is_none() && !unit.forced
            })
            .collect();
        if self.pair != ObjectPair::Company || units.is_empty() {
            return verdicts;
        }
        let ids: Vec<String> = units.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
        let associated = match self.app.hubspot().associated_ids("companies", "contacts", &ids).await {
            Ok(found) => found,
            Err(error) => {
                self.fail_units(&units, &error);
                return verdicts;
            }
        };
        // How each associated contact is linked.
        let mut links: HashMap<String, Option<Link>> = HashMap::new();
        for contact in associated.values().flatten() {
            if links.contains_key(contact) {
                continue;
            }
            match self.app.store().get_link_by_hubspot(crm_sync_store::ObjectPair::Contact, contact).await {
                Ok(link) => {
                    links.insert(contact.clone(), link);
                }
                Err(error) => warn!(%error, "LinkUnreadable"),
            }
        }
        let sf_contacts: Vec<String> = links
            .values()
            .flatten()
            .filter(|l| l.salesforce_object == SfObject::Contact.api_name())
            .map(|l| l.salesforce_id.clone())
            .collect();
        let mut has_account: HashMap<String, bool> = HashMap::new();
        for chunk in sf_contacts.chunks(SALESFORCE_BATCH) {
            match self.app.salesforce().retrieve("Contact", chunk, &["Id".into(), "AccountId".into()]).await {
                Ok(records) => {
                    for r in records {
                        let id = SalesforceId::parse(&r.id).map(|i| i.as_str().to_owned()).unwrap_or(r.id.clone());
                        has_account.insert(
                            id,
                            r.fields.get("AccountId").and_then(Value::as_str).is_some_and(|a| !a.is_empty()),
                        );
                    }
                }
                Err(error) => {
                    self.fail_units(&units, &error);
                    return verdicts;
                }
            }
        }
        for &u in &units {
            let id = self.units[u].hs_id.clone().unwrap_or_default();
            let contacts: Vec<crm_sync_domain::special::AssociatedContact> = associated
                .get(&id)
                .into_iter()
                .flatten()
                .map(|c| {
                    let link = links.get(c).cloned().flatten();
                    let synced_with = link.as_ref().and_then(|l| SfObject::parse(&l.salesforce_object));
                    crm_sync_domain::special::AssociatedContact {
                        synced_with,
                        salesforce_contact_has_account: link
                            .as_ref()
                            .and_then(|l| has_account.get(&l.salesforce_id).copied())
                            .unwrap_or(false),
                        // Segment membership of associated contacts is not read:
                        // with a segment configured, a contact counts when it syncs.
                        in_inclusion_segment: config.inclusion_segment.is_none() || synced_with.is_some(),
                    }
                })
                .collect();
            let verdict = crm_sync_domain::special::company_creates_account(config, false, &contacts, false);
            debug!(?verdict, "CompanyCreationDecided");
            verdicts.insert(u, verdict.creates());
        }
        verdicts
    }

    /// The owner directory when this pair maps an owner field; `None` (no
    /// owner written, each reported as not matched) when it cannot be read.
    async fn owner_directory(&self) -> Option<std::sync::Arc<OwnerDirectory>> {
        owner_directory_for(self.app, self.pair).await
    }

    /// SPEC section 4, campaigns: the "Salesforce Campaigns" value of every
    /// contact unit with a Salesforce record, from its CampaignMember rows
    /// (one query per 200 Leads or Contacts). Units whose query fails are
    /// retried; no value is written for them.
    async fn campaign_names(&mut self) -> HashMap<usize, String> {
        let mut out = HashMap::new();
        if self.pair != ObjectPair::Contact {
            return out;
        }
        let mut by_object: BTreeMap<SfObject, Vec<(usize, String)>> = BTreeMap::new();
        for (u, unit) in self.units.iter().enumerate() {
            if let (None, false, Some(object), Some(_), Some(id)) =
                (&unit.result, unit.origin_missing, unit.sf_object, &unit.sf, &unit.sf_id)
            {
                by_object.entry(object).or_default().push((u, id.clone()));
            }
        }
        if by_object.is_empty() {
            return out;
        }
        if let Err(error) = self.app.ensure_campaigns_property().await {
            warn!(%error, "CampaignsPropertyNotReady");
            return out;
        }
        for (object, units) in by_object {
            let field = match object {
                SfObject::Lead => "LeadId",
                SfObject::Contact => "ContactId",
                _ => continue,
            };
            for chunk in units.chunks(SALESFORCE_BATCH) {
                let list = chunk.iter().map(|(_, id)| format!("'{}'", soql_escape(id))).collect::<Vec<_>>().join(",");
                let soql = format!("SELECT Id, {field}, Campaign.Name FROM CampaignMember WHERE {field} IN ({list})");
                match self.app.salesforce().query(&soql).await {
                    Ok(rows) => {
                        let mut names: HashMap<String, Vec<String>> = HashMap::new();
                        for row in rows {
                            let member =
                                row.fields.get(field).and_then(Value::as_str).and_then(|i| SalesforceId::parse(i).ok());
                            let name = row.fields.get("Campaign").and_then(|c| c.get("Name")).and_then(Value::as_str);
                            if let (Some(member), Some(name)) = (member, name) {
                                names.entry(member.as_str().to_owned()).or_default().push(name.to_owned());
                            }
                        }
                        for (u, id) in chunk {
                            let list = names.get(id).map(Vec::as_slice).unwrap_or_default();
                            out.insert(*u, campaigns_property_value(list.iter().map(String::as_str)));
                        }
                    }
                    Err(error) => {
                        let us: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                        self.fail_units(&us, &error);
                    }
                }
            }
        }
        out
    }

    /// Members of the HubSpot list given as the inclusion segment, when this
    /// is a contact batch with HubSpot records. When the list cannot be read,
    /// those records are retried later rather than decided without it.
    async fn segment_members(&mut self) -> Option<std::sync::Arc<std::collections::HashSet<String>>> {
        let Some(InclusionSegment::HubspotList(list)) = &self.app.config().inclusion_segment else { return None };
        let units: Vec<usize> =
            (0..self.units.len()).filter(|&u| self.units[u].result.is_none() && self.units[u].hs.is_some()).collect();
        if self.pair != ObjectPair::Contact || units.is_empty() {
            return None;
        }
        match self.app.segment_members(list).await {
            Ok(members) => Some(members),
            Err(error) => {
                warn!(%error, "SegmentMembersUnreadable");
                let delay = error.retry_after().unwrap_or(Duration::from_secs(60));
                for u in units {
                    self.units[u].result = Some(RecordResult::Retry(delay));
                }
                None
            }
        }
    }

    async fn decide_and_write(&mut self) {
        let company_creates = self.company_creation().await;
        let deal_accounts = self.deal_accounts().await;
        let owners = self.owner_directory().await;
        let list_members = self.segment_members().await;
        let campaigns = self.campaign_names().await;
        let config = self.app.config();
        let mut sf_updates: BTreeMap<SfObject, Vec<IdWrite>> = BTreeMap::new();
        let mut sf_creates: BTreeMap<SfObject, Vec<KeyedWrite>> = BTreeMap::new();
        let mut hs_updates: Vec<(usize, String, Map<String, Value>)> = Vec::new();
        let mut hs_creates: Vec<(usize, String, Map<String, Value>)> = Vec::new();
        let mut pending: HashMap<usize, PendingWrite> = HashMap::new();
        let mut opt_outs: Vec<(usize, String)> = Vec::new();
        // Contacts whose account changed (or first synced): the HubSpot
        // contact-to-company association follows the account link.
        let mut follow_account: Vec<(usize, SalesforceId)> = Vec::new();

        for u in 0..self.units.len() {
            if self.units[u].result.is_some() {
                continue;
            }
            let unit = &self.units[u];
            if unit.origin_missing {
                // Deleted (or merged away) on its own side: the link goes,
                // the other side's record stays (deletions do not travel).
                if let Some(link) = &unit.link
                    && let Err(error) = self.app.store().delete_link(self.pair, &link.salesforce_id, link.version).await
                {
                    warn!(%error, "LinkNotDeleted");
                }
                *self.stats.skipped.entry("deleted".into()).or_default() += 1;
                continue;
            }
            let sf_snap = unit.sf.as_ref().and_then(|r| sf_snapshot(r, unit.sf_object.unwrap_or(SfObject::Lead)));
            let hs_snap = unit.hs.as_ref().and_then(|r| hs_snapshot(r, self.pair));
            let link_state = unit.link.as_ref().map(|l| decode_link_state(&l.fingerprints));
            let in_segment = match (&config.inclusion_segment, &hs_snap) {
                (Some(InclusionSegment::HubspotList(_)), Some(_)) => {
                    // Read above; a unit whose list could not be read has
                    // already been set to retry.
                    let id = unit.hs_id.as_deref().unwrap_or_default();
                    list_members.as_ref().is_some_and(|m| m.contains(id))
                }
                (Some(segment), Some(hs)) => segment.admits(hs).unwrap_or(true),
                // A record not yet in HubSpot joins as it is created.
                _ => true,
            };
            let create_allowed = match self.pair {
                ObjectPair::Contact => true,
                ObjectPair::Company => {
                    if hs_snap.is_some() && sf_snap.is_none() {
                        // SPEC section 5; a resync or import forces it.
                        unit.forced || company_creates.get(&u).copied().unwrap_or(false)
                    } else {
                        crm_sync_domain::special::account_creates_company(config)
                    }
                }
                ObjectPair::Deal => true,
            };
            let mut decision = decide(&DecisionInput {
                config,
                pair: self.pair,
                salesforce: sf_snap.as_ref(),
                hubspot: hs_snap.as_ref(),
                link: link_state.as_ref(),
                owners: owners.as_deref(),
                context: DecisionContext { forced: unit.forced, in_inclusion_segment: in_segment, create_allowed },
            });
            debug!(action = ?decision.action, "RecordDecided");
            if let Some(value) = campaigns.get(&u)
                && matches!(decision.action, Action::Update | Action::CreateHubSpot { .. })
            {
                let current = unit
                    .hs
                    .as_ref()
                    .and_then(|r| r.properties.get(SALESFORCE_CAMPAIGNS_PROPERTY))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if current != value {
                    decision.hubspot_writes.insert(SALESFORCE_CAMPAIGNS_PROPERTY.into(), Value::String(value.clone()));
                }
            }
            if let Some(Value::String(stage)) = decision.salesforce_writes.get_mut(STAGE_FIELD) {
                *stage = stage_to_salesforce(stage).to_owned();
            }
            if self.pair == ObjectPair::Deal
                && let Some(sf) = unit.sf.as_ref()
                && let Some(account) =
                    sf.fields.get("AccountId").and_then(Value::as_str).and_then(|a| SalesforceId::parse(a).ok())
                && (matches!(decision.action, Action::CreateHubSpot { .. }) || unit.link.is_none())
            {
                follow_account.push((u, account));
            }
            let unmatched = decision.fields.iter().filter(|f| f.reason == FieldReason::OwnerNotMatched).count();
            if unmatched > 0 {
                // SPEC section 2: an owner with no exact match is not written.
                debug!(mapping = "owner", "OwnerNotMatched");
                *self.stats.skipped.entry("owner_not_matched".into()).or_default() += unmatched as u64;
            }
            if self.pair == ObjectPair::Contact
                && let (Some(object), Some(sf)) = (unit.sf_object, unit.sf.as_ref())
            {
                let account =
                    sf.fields.get("AccountId").and_then(Value::as_str).and_then(|a| SalesforceId::parse(a).ok());
                let account_travels = decision.hubspot_writes.contains_key(ACCOUNT_ID_PROPERTY)
                    || matches!(decision.action, Action::CreateHubSpot { .. })
                    || unit.link.is_none();
                if account_travels
                    && let CompanyAssociation::FollowAccount(account) =
                        company_association(config, object, account.as_ref())
                {
                    follow_account.push((u, account));
                }
            }
            let mut link_state = decision.link.clone();
            match &decision.action {
                Action::Skip { reason } => {
                    let name = serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| format!("{reason:?}"));
                    *self.stats.skipped.entry(name).or_default() += 1;
                    continue;
                }
                Action::Update => {
                    let (Some(sf_id), Some(hs_id)) = (unit.sf_id.clone(), unit.hs_id.clone()) else { continue };
                    if decision.writes_nothing() {
                        self.stats.unchanged += 1;
                        // Keep the fingerprints current (first match, new mappings).
                        if unit.link.as_ref().map(|l| decode_link_state(&l.fingerprints)) != Some(link_state.clone())
                            || self.lifecycle_change(u).is_some()
                        {
                            pending.insert(u, PendingWrite { unit: u, decision_link: link_state });
                        }
                        continue;
                    }
                    if !decision.salesforce_writes.is_empty() {
                        let object = unit.sf_object.unwrap_or(SfObject::Lead);
                        let fields: Map<String, Value> = decision.salesforce_writes.clone().into_iter().collect();
                        sf_updates.entry(object).or_default().push((u, sf_id, fields));
                    }
                    if !decision.hubspot_writes.is_empty() {
                        let mut props: Map<String, Value> = decision.hubspot_writes.clone().into_iter().collect();
                        if let Some(email) = take_opt_out(&mut props, unit.hs.as_ref()) {
                            opt_outs.push((u, email));
                        }
                        if !props.is_empty() {
                            hs_updates.push((u, hs_id, props));
                        }
                    }
                    pending.insert(u, PendingWrite { unit: u, decision_link: link_state });
                }
                Action::CreateSalesforce { object } => {
                    let Some(hs_id) = unit.hs_id.clone() else { continue };
                    let mut fields: Map<String, Value> = decision.salesforce_writes.clone().into_iter().collect();
                    fields.insert(SALESFORCE_HUBSPOT_ID_FIELD.into(), Value::String(hs_id));
                    if let Some(account) = deal_accounts.get(&u) {
                        fields.insert("AccountId".into(), Value::String(account.clone()));
                    }
                    self.fill_required(*object, &mut fields, &mut link_state);
                    self.units[u].sf_object = Some(*object);
                    sf_creates.entry(*object).or_default().push((u, fields));
                    pending.insert(u, PendingWrite { unit: u, decision_link: link_state });
                }
                Action::CreateHubSpot { .. } => {
                    let props: Map<String, Value> = decision.hubspot_writes.clone().into_iter().collect();
                    let key = if self.pair == ObjectPair::Contact {
                        props.get(HUBSPOT_EMAIL_PROPERTY).and_then(Value::as_str).map(str::to_owned)
                    } else {
                        unit.sf_id.clone()
                    };
                    let Some(key) = key else { continue };
                    let mut props = props;
                    // A first sync carries no opt-out (SPEC section 4).
                    props.remove(HUBSPOT_OPT_OUT_PROPERTY);
                    if self.pair != ObjectPair::Contact {
                        props.insert(HUBSPOT_SALESFORCE_ID_PROPERTY.into(), Value::String(key.clone()));
                    }
                    if self.pair == ObjectPair::Deal && !props.contains_key("pipeline") {
                        props.insert("pipeline".into(), Value::String("default".into()));
                    }
                    hs_creates.push((u, key, props));
                    pending.insert(u, PendingWrite { unit: u, decision_link: link_state });
                }
            }
        }

        // Salesforce writes.
        for (object, items) in sf_updates {
            for chunk in items.chunks(SALESFORCE_BATCH) {
                let records: Vec<(String, Map<String, Value>)> =
                    chunk.iter().map(|(_, id, f)| (id.clone(), f.clone())).collect();
                let result = self.app.salesforce().update(object.api_name(), &records).await;
                self.settle(chunk.iter().map(|(u, _, _)| *u).collect(), result, &format!("salesforce:{object}")).await;
            }
        }
        for (object, items) in sf_creates {
            for chunk in items.chunks(SALESFORCE_BATCH) {
                let records: Vec<Map<String, Value>> = chunk.iter().map(|(_, f)| f.clone()).collect();
                let result =
                    self.app.salesforce().upsert(object.api_name(), SALESFORCE_HUBSPOT_ID_FIELD, &records).await;
                let units: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                if let Ok(results) = &result {
                    for (&u, r) in units.iter().zip(results) {
                        if let WriteResult::Ok { id, .. } = r {
                            self.units[u].sf_id = SalesforceId::parse(id).ok().map(|i| i.as_str().to_owned());
                        }
                    }
                }
                self.settle(units, result, &format!("salesforce:{object}")).await;
            }
        }
        // HubSpot writes.
        let hs_object = self.pair.hubspot_object_type();
        for chunk in hs_updates.chunks(HUBSPOT_BATCH) {
            let inputs: Vec<(String, Map<String, Value>)> =
                chunk.iter().map(|(_, id, p)| (id.clone(), p.clone())).collect();
            let result = self.app.hubspot().batch_update(hs_object, &inputs).await;
            self.settle(
                chunk.iter().map(|(u, _, _)| *u).collect(),
                result,
                &format!("hubspot:{}", pair_name(self.pair)),
            )
            .await;
        }
        let id_property =
            if self.pair == ObjectPair::Contact { HUBSPOT_EMAIL_PROPERTY } else { HUBSPOT_SALESFORCE_ID_PROPERTY };
        for chunk in hs_creates.chunks(HUBSPOT_BATCH) {
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
            self.settle(units, result, &format!("hubspot:{}", pair_name(self.pair))).await;
        }
        let emails: Vec<String> =
            opt_outs.iter().filter(|(u, _)| self.units[*u].result.is_none()).map(|(_, e)| e.clone()).collect();
        if !emails.is_empty() {
            let units: Vec<usize> = opt_outs.iter().map(|(u, _)| *u).collect();
            match self.app.hubspot().unsubscribe_all(&emails).await {
                Ok(()) => {
                    *self.stats.updated.entry("hubspot:opt_out".into()).or_default() += emails.len() as u64;
                }
                Err(error) if error.is_retryable() => self.fail_units(&units, &error),
                Err(error) => {
                    for u in units {
                        let (code, message) = (error.code.clone(), error.message.clone());
                        self.record_failure(u, &code, &message, false).await;
                    }
                }
            }
        }
        let stage_changes: Vec<(usize, Option<String>, String)> = (0..self.units.len())
            .filter(|&u| pending.contains_key(&u))
            .filter_map(|u| self.lifecycle_change(u).map(|(previous, stage)| (u, previous, stage)))
            .collect();
        self.store_links(pending).await;
        self.associate_companies(follow_account).await;
        self.carry_lifecycle_stages(stage_changes).await;
    }

    /// The contact's (previous, current) HubSpot lifecycle stage when it
    /// changed since its link was stored, and companies sync.
    fn lifecycle_change(&self, u: usize) -> Option<(Option<String>, String)> {
        if self.pair != ObjectPair::Contact || !self.app.config().objects.companies {
            return None;
        }
        let unit = &self.units[u];
        let stage = unit.hs.as_ref()?.properties.get(LIFECYCLE_STAGE)?.as_str().filter(|s| !s.is_empty())?;
        let previous = unit.link.as_ref().and_then(|l| l.fingerprints.get(LIFECYCLE_KEY)).cloned();
        (previous.as_deref() != Some(stage)).then(|| (previous, stage.to_owned()))
    }

    /// SPEC section 4, lifecycle stage: contacts whose stage changed (and
    /// synced) give that stage to their associated companies. One call per
    /// 100 contacts for the associations, per 100 companies to read and to
    /// update. A failure is recorded in sync health and undoes nothing.
    async fn carry_lifecycle_stages(&mut self, changes: Vec<(usize, Option<String>, String)>) {
        let changes: Vec<(usize, Option<String>, String)> =
            changes.into_iter().filter(|(u, _, _)| matches!(self.units[*u].result, Some(RecordResult::Done))).collect();
        let config = self.app.config();
        let mut writes: BTreeMap<String, String> = BTreeMap::new();
        for chunk in changes.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|(u, _, _)| self.units[*u].hs_id.clone()).collect();
            let result = async {
                let associated = self.app.hubspot().associated_ids("contacts", "companies", &ids).await?;
                let companies: Vec<String> =
                    associated.values().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
                let mut current: HashMap<String, Option<String>> = HashMap::new();
                for part in companies.chunks(HUBSPOT_BATCH) {
                    let read =
                        self.app.hubspot().batch_read("companies", part, None, &[LIFECYCLE_STAGE.to_owned()]).await?;
                    for r in read {
                        let stage = r.properties.get(LIFECYCLE_STAGE).and_then(Value::as_str).map(str::to_owned);
                        current.insert(r.id, stage);
                    }
                }
                Ok::<_, CrmError>((associated, current))
            }
            .await;
            let (associated, current) = match result {
                Ok(found) => found,
                Err(error) => {
                    warn!(%error, "LifecycleStageNotCarried");
                    *self.stats.errors.entry(category_name(ErrorCategory::Associations)).or_default() += 1;
                    continue;
                }
            };
            for (u, previous, stage) in chunk {
                let Some(contact) = self.units[*u].hs_id.as_ref() else { continue };
                for company in associated.get(contact).into_iter().flatten() {
                    let company_stage =
                        writes.get(company).cloned().or_else(|| current.get(company).cloned().flatten());
                    if let Some((_, value)) =
                        lifecycle_stage_for_company(config, previous.as_deref(), Some(stage), company_stage.as_deref())
                    {
                        writes.insert(company.clone(), value);
                    }
                }
            }
        }
        let inputs: Vec<(String, Map<String, Value>)> = writes
            .into_iter()
            .map(|(company, stage)| {
                let mut props = Map::new();
                props.insert(LIFECYCLE_STAGE.to_owned(), Value::String(stage));
                (company, props)
            })
            .collect();
        for chunk in inputs.chunks(HUBSPOT_BATCH) {
            match self.app.hubspot().batch_update("companies", chunk).await {
                Ok(results) => {
                    let done = results.iter().filter(|r| matches!(r, WriteResult::Ok { .. })).count() as u64;
                    *self.stats.updated.entry("hubspot:company_lifecycle_stage".into()).or_default() += done;
                    let failed = results.len() as u64 - done;
                    if failed > 0 {
                        warn!(failed, "LifecycleStageNotCarried");
                        *self
                            .stats
                            .errors
                            .entry(category_name(ErrorCategory::PropertyValueOrValidation))
                            .or_default() += failed;
                    }
                }
                Err(error) => {
                    warn!(%error, "LifecycleStageNotCarried");
                    *self.stats.errors.entry(category_name(ErrorCategory::Other)).or_default() += 1;
                }
            }
        }
    }

    /// For HubSpot deals about to create an Opportunity: the Salesforce
    /// account linked to each deal's first associated company (one call per
    /// 100 deals). A deal whose company is not linked gets no account.
    async fn deal_accounts(&mut self) -> HashMap<usize, String> {
        let mut accounts = HashMap::new();
        if self.pair != ObjectPair::Deal {
            return accounts;
        }
        let units: Vec<usize> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none() && !unit.origin_missing && unit.hs.is_some() && unit.sf.is_none()
            })
            .collect();
        for chunk in units.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
            let associated = match self.app.hubspot().associated_ids("deals", "companies", &ids).await {
                Ok(found) => found,
                Err(error) => {
                    self.fail_units(chunk, &error);
                    continue;
                }
            };
            for &u in chunk {
                let id = self.units[u].hs_id.clone().unwrap_or_default();
                let Some(company) = associated.get(&id).and_then(|c| c.first()) else { continue };
                match self.app.store().get_link_by_hubspot(crm_sync_store::ObjectPair::Company, company).await {
                    Ok(Some(link)) => {
                        accounts.insert(u, link.salesforce_id);
                    }
                    Ok(None) => debug!("CompanyNotLinkedYet"),
                    Err(error) => warn!(%error, "LinkUnreadable"),
                }
            }
        }
        accounts
    }

    /// Associates HubSpot contacts (or deals) with the companies linked to
    /// their Salesforce accounts (one call per 100 pairs). A failure is
    /// recorded in sync health (`associations`) and does not undo the
    /// record's sync.
    async fn associate_companies(&mut self, follow: Vec<(usize, SalesforceId)>) {
        let (from_object, name) = match self.pair {
            ObjectPair::Deal => ("deals", "deal"),
            _ => ("contacts", "contact"),
        };
        let mut pairs: Vec<(usize, String, String)> = Vec::new();
        for (u, account) in follow {
            if !matches!(self.units[u].result, Some(RecordResult::Done)) {
                continue;
            }
            let Some(contact) = self.units[u].hs_id.clone() else { continue };
            match self.app.store().get_link_by_salesforce(crm_sync_store::ObjectPair::Company, account.as_str()).await {
                Ok(Some(link)) => pairs.push((u, contact, link.hubspot_id)),
                Ok(None) => debug!("AccountNotLinkedYet"),
                Err(error) => warn!(%error, "LinkUnreadable"),
            }
        }
        for chunk in pairs.chunks(HUBSPOT_BATCH) {
            let ids: Vec<(String, String)> = chunk.iter().map(|(_, c, co)| (c.clone(), co.clone())).collect();
            match self.app.hubspot().associate(from_object, "companies", &ids).await {
                Ok(()) => *self.stats.updated.entry("hubspot:association".into()).or_default() += ids.len() as u64,
                Err(error) => {
                    for (u, _, _) in chunk {
                        let report = ErrorReport {
                            key: format!("{name}:association:{}", self.units[*u].hs_id.clone().unwrap_or_default()),
                            category: category_name(ErrorCategory::Associations),
                            pair: self.pair,
                            salesforce_id: self.units[*u].sf_id.clone(),
                            hubspot_id: self.units[*u].hs_id.clone(),
                            message: format!("{}: {}", error.code, error.message),
                            retryable: error.is_retryable(),
                        };
                        *self.stats.errors.entry(report.category.clone()).or_default() += 1;
                        if let Err(error) = self.app.store().record_error(&report).await {
                            warn!(%error, "ErrorNotRecorded");
                        }
                    }
                }
            }
        }
    }

    /// A new Lead needs `LastName` and `Company`; when HubSpot has none, the
    /// placeholder goes in and the fingerprint records it, so that the value
    /// does not travel back.
    fn fill_required(&self, object: SfObject, fields: &mut Map<String, Value>, link: &mut LinkState) {
        let required: &[&str] = match object {
            SfObject::Lead => &["LastName", "Company"],
            SfObject::Contact => &["LastName"],
            SfObject::Account => &["Name"],
            SfObject::Opportunity => &["Name"],
        };
        for &field in required {
            let blank = fields.get(field).is_none_or(|v| v.is_null() || v.as_str() == Some(""));
            if !blank {
                continue;
            }
            fields.insert(field.to_owned(), Value::String(NOT_PROVIDED.to_owned()));
            for mapping in self.app.config().mappings_for(object) {
                if mapping.salesforce_field == field {
                    let key = mapping.key();
                    if let Some(print) = link.fingerprints.get_mut(&key) {
                        print.salesforce = Fingerprint::of(&key, &Some(NOT_PROVIDED.to_owned()));
                    }
                }
            }
        }
    }

    async fn settle(&mut self, units: Vec<usize>, result: Result<Vec<WriteResult>, CrmError>, stat: &str) {
        match result {
            Ok(results) => {
                for (i, u) in units.iter().enumerate() {
                    match results.get(i) {
                        Some(WriteResult::Ok { created, .. }) => {
                            let map = if *created { &mut self.stats.created } else { &mut self.stats.updated };
                            *map.entry(stat.to_owned()).or_default() += 1;
                        }
                        Some(WriteResult::Err { code, message }) => {
                            let (code, message) = (code.clone(), message.clone());
                            self.record_failure(*u, &code, &message, false).await;
                        }
                        None => {
                            self.record_failure(
                                *u,
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
                        self.record_failure(u, &code, &message, false).await;
                    }
                }
            }
        }
    }

    /// Stores the links of every unit whose writes all succeeded.
    async fn store_links(&mut self, pending: HashMap<usize, PendingWrite>) {
        let now = self.app.clock().now();
        let mut writes = Vec::new();
        let mut order = Vec::new();
        for (_, write) in pending {
            let unit = &self.units[write.unit];
            if unit.result.is_some() {
                continue;
            }
            let (Some(sf_id), Some(hs_id)) = (unit.sf_id.clone(), unit.hs_id.clone()) else { continue };
            let condition = match &unit.link {
                Some(link) => LinkCondition::VersionIs(link.version),
                None => LinkCondition::MustNotExist,
            };
            writes.push(LinkWrite {
                link: Link {
                    pair: self.pair,
                    salesforce_object: unit.sf_object.unwrap_or(SfObject::Lead).api_name().to_owned(),
                    salesforce_id: sf_id,
                    hubspot_id: hs_id,
                    fingerprints: {
                        let mut map = encode_link_state(&write.decision_link);
                        if let Some(stage) = unit
                            .hs
                            .as_ref()
                            .and_then(|r| r.properties.get(LIFECYCLE_STAGE))
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty() && self.pair == ObjectPair::Contact)
                        {
                            map.insert(LIFECYCLE_KEY.to_owned(), stage.to_owned());
                        }
                        map
                    },
                    version: 0,
                    updated_at: now,
                },
                condition,
            });
            order.push(write.unit);
        }
        if writes.is_empty() {
            return;
        }
        match self.app.store().put_links(&writes).await {
            Ok(results) => {
                for (u, r) in order.into_iter().zip(results) {
                    match r {
                        Ok(_) => {
                            self.units[u].result = Some(RecordResult::Done);
                            let key = match &self.units[u].hs_id {
                                Some(hs) => format!("{}:hubspot:{hs}", pair_name(self.pair)),
                                None => continue,
                            };
                            if let Err(error) = self.app.store().resolve_error(&key).await {
                                warn!(%error, "ErrorNotResolved");
                            }
                        }
                        Err(error) if error.is_condition_failed() => {
                            // Another worker linked it first: look again.
                            debug!("LinkRaced");
                            self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                        }
                        Err(error) => {
                            warn!(%error, "LinkNotStored");
                            self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                        }
                    }
                }
            }
            Err(error) => {
                warn!(%error, "LinksNotStored");
                for u in order {
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
            }
        }
    }
}

/// Takes HubSpot's read-only opt-out property out of a write; returns the
/// contact's email when the write was an opt-out (opt-ins never travel).
fn take_opt_out(props: &mut Map<String, Value>, contact: Option<&HsRecord>) -> Option<String> {
    let value = props.remove(HUBSPOT_OPT_OUT_PROPERTY)?;
    if value.as_str() != Some("true") {
        return None;
    }
    contact.and_then(|c| email_in(&c.properties, HUBSPOT_EMAIL_PROPERTY)).map(|e| e.as_str().to_owned())
}

/// Escapes a value for a single-quoted SOQL literal.
pub(crate) fn soql_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crm_sync_domain::rules::FieldFingerprint;

    #[test]
    fn a_link_state_survives_the_store_string_map() {
        let mut state = LinkState::default();
        let key = "jobtitle<->Title";
        state.fingerprints.insert(key.into(), FieldFingerprint::of(key, &Some("CTO".into()), &None));
        state.salesforce_last_modified = parse_time(Some(&Value::String("2024-05-01T10:00:00.000+0000".into())));
        let decoded = decode_link_state(&encode_link_state(&state));
        assert_eq!(decoded, state);
    }

    #[test]
    fn both_crms_timestamp_formats_parse() {
        let sf = parse_time(Some(&Value::String("2024-05-01T10:00:00.000+0000".into()))).unwrap();
        let hs = parse_time(Some(&Value::String("2024-05-01T10:00:00Z".into()))).unwrap();
        let ms = parse_time(Some(&Value::String("1714557600000".into()))).unwrap();
        assert_eq!(sf, hs);
        assert_eq!(hs, ms);
        assert_eq!(parse_time(Some(&Value::Null)), None);
    }

    #[test]
    fn per_record_error_codes_fall_into_sync_health_categories() {
        assert_eq!(categorize("DUPLICATE_VALUE"), ErrorCategory::Duplicates);
        assert_eq!(categorize("REQUIRED_FIELD_MISSING"), ErrorCategory::PropertyValueOrValidation);
        assert_eq!(categorize("INSUFFICIENT_ACCESS_OR_READONLY"), ErrorCategory::PermissionsOrAccess);
        assert_eq!(categorize("VALIDATION_ERROR"), ErrorCategory::PropertyValueOrValidation);
        assert_eq!(categorize("UNKNOWN_EXCEPTION"), ErrorCategory::Other);
        assert_eq!(category_name(ErrorCategory::PropertyValueOrValidation), "property_value_or_validation");
    }

    #[test]
    fn a_retry_outweighs_a_failure_and_a_failure_outweighs_success() {
        let retry = RecordResult::Retry(Duration::from_secs(2));
        assert_eq!(RecordResult::Done.worse(retry.clone()), retry);
        assert_eq!(RecordResult::Failed("x".into()).worse(RecordResult::Done), RecordResult::Failed("x".into()));
        assert_eq!(
            RecordResult::Retry(Duration::from_secs(1)).worse(RecordResult::Retry(Duration::from_secs(5))),
            RecordResult::Retry(Duration::from_secs(5))
        );
    }

    #[test]
    fn deal_stages_translate_between_hubspot_ids_and_salesforce_labels() {
        assert_eq!(stage_to_salesforce("closedwon"), "Closed Won");
        assert_eq!(stage_to_hubspot("Closed Won"), "closedwon");
        assert_eq!(stage_to_hubspot("Needs Analysis"), "qualifiedtobuy");
        assert_eq!(stage_to_salesforce(stage_to_hubspot("Proposal/Price Quote")), "Proposal/Price Quote");
        assert_eq!(stage_to_hubspot("Custom Stage"), "Custom Stage", "custom stages pass unchanged");
        assert_eq!(stage_to_salesforce("1234567"), "1234567");
    }

    #[test]
    fn soql_literals_are_escaped() {
        assert_eq!(soql_escape("o'brien\\x"), "o\\'brien\\\\x");
    }
}
