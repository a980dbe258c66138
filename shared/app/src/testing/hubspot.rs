//! [`FakeHubspot`]: the [`HubspotApi`] port over records in memory.
//!
//! Semantics kept from the real API: numeric ids, property values stored as
//! strings, batch reads that leave unknown ids out and can key by a unique
//! property (email without regard to case), upserts keyed by a unique
//! property (`email` for contacts, `salesforce_id` for companies and deals)
//! that create when nothing matches, per-record answers in input order, and
//! a modified-since search served oldest first in pages of 200 that stops at
//! a page boundary once the record budget is reached. Archived records are
//! not served by reads or searches, as in HubSpot. Modification times come
//! from the injected [`ManualClock`]. Webhook signatures are checked with
//! the real verification code, so the tests sign deliveries as HubSpot does.

use super::calls::{CallLog, batches, pages};
use crate::ports::{
    ApiCalls, Changed, ChangedWindow, HUBSPOT_BATCH, HsRecord, HubspotAccount, HubspotAssociations, HubspotRecords,
    HubspotWebhooks, WriteResult, signature_headers,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use crm_sync_crm::error::{CrmError, System};
use crm_sync_domain::error::{ErrorCategory, Verdict};
use crm_sync_domain::special::Person;
use crm_sync_store::{Clock, ManualClock};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// The object name under which [`FakeHubspot::refuse_record`] refuses an
/// address's unsubscribe from all email.
pub const UNSUBSCRIBE_ALL: &str = "unsubscribe-all";
/// Records per search page.
const SEARCH_PAGE: usize = 200;
/// Owners per owners page.
const OWNERS_PAGE: usize = 500;
/// Members per list-membership page.
const MEMBERS_PAGE: usize = 250;
/// Contacts per list-add call.
const LIST_ADD: usize = 1_000;

/// HubSpot's datetime format (ISO-8601 with milliseconds and `Z`).
pub fn hubspot_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The property HubSpot's search sorts and filters modification on.
fn modified_property(object: &str) -> &'static str {
    if object == "contacts" { "lastmodifieddate" } else { "hs_lastmodifieddate" }
}

/// One record as the fake keeps it.
#[derive(Debug, Clone)]
struct Stored {
    /// Every property as text, the read-only ones HubSpot sets included.
    props: Map<String, Value>,
    /// What the search sorts and filters on.
    modified: DateTime<Utc>,
    /// In the recycle bin: invisible to reads, searches and writes.
    archived: bool,
}

/// Everything the fake account holds, behind one lock.
#[derive(Debug, Default)]
struct State {
    /// Records by object, then by numeric id.
    objects: BTreeMap<String, BTreeMap<u64, Stored>>,
    /// The last id given out; ids start above 100.
    next_id: u64,
    /// Associations as (object, id, object, id), stored both ways.
    associations: BTreeSet<(String, String, String, String)>,
    /// Defined properties: (object, name) -> unique.
    properties: BTreeMap<(String, String), bool>,
    /// What `owners` lists, in insertion order.
    owners: Vec<Person>,
    /// Lists by id, with their contact ids.
    lists: BTreeMap<String, BTreeSet<String>>,
    /// Addresses unsubscribed through the port, lower case.
    unsubscribed: BTreeSet<String>,
    /// Per-record refusals: (object, key) -> (category, message).
    refusals: BTreeMap<(String, String), (String, String)>,
}

/// An in-memory HubSpot account behind the [`HubspotApi`] port.
#[derive(Debug)]
pub struct FakeHubspot {
    /// The clock every modification time is read from.
    clock: Arc<ManualClock>,
    /// Used when the caller passes an empty secret, as the real client does.
    client_secret: String,
    state: Mutex<State>,
    log: CallLog,
}

/// HubSpot stores every property value as text.
fn text(value: &Value) -> Value {
    match value {
        Value::String(_) => value.clone(),
        Value::Null => Value::String(String::new()),
        other => Value::String(other.to_string()),
    }
}

/// Whether a stored value matches a unique-property key: emails compare
/// without regard to case, as HubSpot stores them lower-cased.
fn same_key(property: &str, stored: Option<&Value>, key: &str) -> bool {
    let Some(stored) = stored.and_then(Value::as_str) else { return false };
    if property == "email" { stored.eq_ignore_ascii_case(key) } else { stored == key }
}

/// The 404 HubSpot answers for a list or record that does not exist.
fn not_found(what: String) -> CrmError {
    CrmError {
        system: System::HubSpot,
        status: 404,
        code: "OBJECT_NOT_FOUND".into(),
        message: what,
        category: ErrorCategory::Other,
        verdict: Verdict::Permanent,
        source: None,
    }
}

impl FakeHubspot {
    /// A fake account whose app signs webhooks with `client_secret`.
    pub fn new(clock: Arc<ManualClock>, client_secret: &str) -> Self {
        FakeHubspot { clock, client_secret: client_secret.to_owned(), state: Mutex::default(), log: CallLog::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Call counters and fault injection.
    pub fn calls(&self) -> &CallLog {
        &self.log
    }

    /// Sets both modification properties to `at`: the sync reads either.
    fn stamp(object: &str, props: &mut Map<String, Value>, at: DateTime<Utc>) {
        let at = Value::String(hubspot_time(at));
        props.insert("hs_lastmodifieddate".into(), at.clone());
        props.insert(modified_property(object).into(), at);
    }

    /// Creates a record with the next id and HubSpot's own properties
    /// (`hs_object_id`, `createdate`, modification dates).
    fn create_in(state: &mut State, object: &str, props: &Map<String, Value>, now: DateTime<Utc>) -> String {
        state.next_id += 1;
        let id = 100 + state.next_id;
        let mut stored: Map<String, Value> = props.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        stored.insert("hs_object_id".into(), Value::String(id.to_string()));
        stored.insert("createdate".into(), Value::String(hubspot_time(now)));
        Self::stamp(object, &mut stored, now);
        state
            .objects
            .entry(object.to_owned())
            .or_default()
            .insert(id, Stored { props: stored, modified: now, archived: false });
        id.to_string()
    }

    /// Merges properties into a live record and moves its modification
    /// time; false for an unknown or archived record.
    fn update_in(state: &mut State, object: &str, id: u64, props: &Map<String, Value>, now: DateTime<Utc>) -> bool {
        match state.objects.get_mut(object).and_then(|m| m.get_mut(&id)).filter(|r| !r.archived) {
            Some(record) => {
                record.props.extend(props.iter().map(|(k, v)| (k.clone(), text(v))));
                record.modified = now;
                Self::stamp(object, &mut record.props, now);
                true
            }
            None => false,
        }
    }

    /// Creates a record as a HubSpot user would (no API call counted);
    /// returns its id.
    pub fn insert(&self, object: &str, props: Value) -> String {
        let props = props.as_object().cloned().unwrap_or_default();
        let now = self.clock.now();
        Self::create_in(&mut self.state(), object, &props, now)
    }

    /// Changes properties as a HubSpot user would (modification time: now).
    pub fn edit(&self, object: &str, id: &str, props: Value) -> bool {
        let props = props.as_object().cloned().unwrap_or_default();
        let now = self.clock.now();
        let Ok(id) = id.parse() else { return false };
        Self::update_in(&mut self.state(), object, id, &props, now)
    }

    /// Archives a record: reads and searches leave it out.
    pub fn archive(&self, object: &str, id: &str) -> bool {
        let Ok(id) = id.parse::<u64>() else { return false };
        match self.state().objects.get_mut(object).and_then(|m| m.get_mut(&id)) {
            Some(record) => {
                record.archived = true;
                true
            }
            None => false,
        }
    }

    /// A record's properties as stored, unless archived.
    pub fn get(&self, object: &str, id: &str) -> Option<Map<String, Value>> {
        let id: u64 = id.parse().ok()?;
        self.state().objects.get(object)?.get(&id).filter(|r| !r.archived).map(|r| r.props.clone())
    }

    /// The live records of an object, by id.
    pub fn records(&self, object: &str) -> BTreeMap<String, Map<String, Value>> {
        self.state()
            .objects
            .get(object)
            .map(|m| m.iter().filter(|(_, r)| !r.archived).map(|(k, r)| (k.to_string(), r.props.clone())).collect())
            .unwrap_or_default()
    }

    /// Adds an owner (what `owners` lists).
    pub fn add_owner(&self, owner: Person) {
        self.state().owners.push(owner);
    }

    /// Creates or replaces a list with these contact ids.
    pub fn set_list(&self, list_id: &str, members: &[&str]) {
        self.state().lists.insert(list_id.to_owned(), members.iter().map(|m| (*m).to_owned()).collect());
    }

    /// A list's members, if the list exists.
    pub fn list(&self, list_id: &str) -> Option<BTreeSet<String>> {
        self.state().lists.get(list_id).cloned()
    }

    /// Associates two records both ways, as a HubSpot user would.
    pub fn link(&self, from_object: &str, from_id: &str, to_object: &str, to_id: &str) {
        let mut state = self.state();
        state.associations.insert((from_object.into(), from_id.into(), to_object.into(), to_id.into()));
        state.associations.insert((to_object.into(), to_id.into(), from_object.into(), from_id.into()));
    }

    /// The ids a record is associated with on another object.
    pub fn associations(&self, from_object: &str, from_id: &str, to_object: &str) -> Vec<String> {
        self.state()
            .associations
            .iter()
            .filter(|(fo, fi, to, _)| fo == from_object && fi == from_id && to == to_object)
            .map(|(_, _, _, ti)| ti.clone())
            .collect()
    }

    /// Whether a property is defined, and whether it is unique.
    pub fn property(&self, object: &str, name: &str) -> Option<bool> {
        self.state().properties.get(&(object.to_owned(), name.to_owned())).copied()
    }

    /// Addresses unsubscribed from all email through the port.
    pub fn unsubscribed(&self) -> BTreeSet<String> {
        self.state().unsubscribed.clone()
    }

    /// Makes writes of one record fail with HubSpot's `category` (by id for
    /// updates, by the unique key for upserts), the others succeeding. With
    /// [`UNSUBSCRIBE_ALL`] as the object, an address's unsubscribe fails.
    pub fn refuse_record(&self, object: &str, key: &str, category: &str, message: &str) {
        self.state().refusals.insert((object.to_owned(), key.to_owned()), (category.to_owned(), message.to_owned()));
    }

    /// The refusal armed for a record, as its write result.
    fn refusal(state: &State, object: &str, key: &str) -> Option<WriteResult> {
        state
            .refusals
            .get(&(object.to_owned(), key.to_owned()))
            .map(|(code, message)| WriteResult::Err { code: code.clone(), message: message.clone() })
    }

    /// The live record whose `property` matches `key`.
    fn find_by(state: &State, object: &str, property: &str, key: &str) -> Option<u64> {
        state
            .objects
            .get(object)?
            .iter()
            .find(|(_, r)| !r.archived && same_key(property, r.props.get(property), key))
            .map(|(id, _)| *id)
    }

    /// Both `ensure_*_property` methods: one read, and one create when the
    /// definition is missing; an existing definition is left as it is.
    fn ensure_property(&self, method: &'static str, object: &str, name: &str, unique: bool) -> Result<(), CrmError> {
        self.log.enter(method)?;
        // Read the definition; create it when missing.
        self.log.charge(1);
        let mut state = self.state();
        if let std::collections::btree_map::Entry::Vacant(missing) =
            state.properties.entry((object.to_owned(), name.to_owned()))
        {
            self.log.charge(1);
            missing.insert(unique);
        }
        Ok(())
    }
}

impl ApiCalls for FakeHubspot {
    fn calls_made(&self) -> u64 {
        self.log.api_calls()
    }
}

#[async_trait]
impl HubspotRecords for FakeHubspot {
    async fn batch_read(
        &self,
        object: &str,
        ids: &[String],
        id_property: Option<&str>,
        properties: &[String],
    ) -> Result<Vec<HsRecord>, CrmError> {
        self.log.enter("batch_read")?;
        self.log.charge(batches(ids.len(), HUBSPOT_BATCH));
        let state = self.state();
        let always = ["hs_object_id", "createdate", modified_property(object)];
        let mut out = Vec::new();
        for key in ids {
            let found = match id_property {
                None | Some("hs_object_id") => key.parse().ok(),
                Some(property) => Self::find_by(&state, object, property, key),
            };
            let Some((id, record)) =
                found.and_then(|id| Some((id, state.objects.get(object)?.get(&id)?))).filter(|(_, r)| !r.archived)
            else {
                continue;
            };
            let props: Map<String, Value> = properties
                .iter()
                .map(String::as_str)
                .chain(always)
                .map(|p| (p.to_owned(), record.props.get(p).cloned().unwrap_or(Value::Null)))
                .collect();
            out.push(HsRecord { object: object.to_owned(), id: id.to_string(), properties: props });
        }
        Ok(out)
    }

    /// Unknown and already archived ids are no error, as in HubSpot; a
    /// refusal armed for one of the ids fails the whole call.
    async fn batch_archive(&self, object: &str, ids: &[String]) -> Result<(), CrmError> {
        self.log.enter("batch_archive")?;
        self.log.charge(batches(ids.len(), HUBSPOT_BATCH));
        let mut state = self.state();
        if let Some(WriteResult::Err { code, message }) = ids.iter().find_map(|id| Self::refusal(&state, object, id)) {
            return Err(CrmError {
                system: System::HubSpot,
                status: 400,
                code,
                message,
                category: ErrorCategory::Other,
                verdict: Verdict::Permanent,
                source: None,
            });
        }
        for id in ids {
            let record = id.parse::<u64>().ok().and_then(|id| state.objects.get_mut(object)?.get_mut(&id));
            if let Some(record) = record {
                record.archived = true;
            }
        }
        Ok(())
    }

    /// The fake has no merges: every archived record is in the recycle bin.
    async fn archived_ids(&self, object: &str, ids: &[String]) -> Result<Vec<String>, CrmError> {
        self.log.enter("archived_ids")?;
        self.log.charge(batches(ids.len(), HUBSPOT_BATCH));
        let state = self.state();
        let archived = |id: &String| {
            let record = id.parse::<u64>().ok().and_then(|n| state.objects.get(object)?.get(&n));
            record.is_some_and(|r| r.archived)
        };
        Ok(ids.iter().filter(|id| archived(id)).cloned().collect())
    }

    async fn batch_upsert(
        &self,
        object: &str,
        id_property: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError> {
        self.log.enter("batch_upsert")?;
        self.log.charge(batches(inputs.len(), HUBSPOT_BATCH));
        let now = self.clock.now();
        let mut state = self.state();
        let mut out = Vec::with_capacity(inputs.len());
        for (key, props) in inputs {
            if let Some(refused) = Self::refusal(&state, object, key) {
                out.push(refused);
                continue;
            }
            if id_property == "email" && !key.contains('@') {
                out.push(WriteResult::Err {
                    code: "VALIDATION_ERROR".into(),
                    message: format!("Email address {key} is invalid"),
                });
                continue;
            }
            match Self::find_by(&state, object, id_property, key) {
                Some(id) => {
                    Self::update_in(&mut state, object, id, props, now);
                    out.push(WriteResult::Ok { id: id.to_string(), created: false });
                }
                None => {
                    let mut props = props.clone();
                    props.insert(id_property.to_owned(), Value::String(key.clone()));
                    let id = Self::create_in(&mut state, object, &props, now);
                    out.push(WriteResult::Ok { id, created: true });
                }
            }
        }
        drop(state);
        self.log.leave("batch_upsert");
        Ok(out)
    }

    async fn batch_update(
        &self,
        object: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError> {
        self.log.enter("batch_update")?;
        self.log.charge(batches(inputs.len(), HUBSPOT_BATCH));
        let now = self.clock.now();
        let mut state = self.state();
        let mut out = Vec::with_capacity(inputs.len());
        for (id, props) in inputs {
            if let Some(refused) = Self::refusal(&state, object, id) {
                out.push(refused);
                continue;
            }
            let updated = id.parse().is_ok_and(|n| Self::update_in(&mut state, object, n, props, now));
            out.push(if updated {
                WriteResult::Ok { id: id.clone(), created: false }
            } else {
                WriteResult::Err { code: "OBJECT_NOT_FOUND".into(), message: format!("no {object} {id}") }
            });
        }
        Ok(out)
    }

    /// Pages of 200 oldest first; past `max_records` it stops at a page
    /// boundary and reports the last modification time served as
    /// `covered_to` (records at that millisecond may repeat next time).
    async fn changed_since(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max_records: usize,
    ) -> Result<ChangedWindow, CrmError> {
        self.log.enter("changed_since")?;
        let state = self.state();
        let mut found: Vec<(DateTime<Utc>, u64)> = state
            .objects
            .get(object)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(_, r)| !r.archived && r.modified >= start && r.modified < end)
            .map(|(id, r)| (r.modified, *id))
            .collect();
        found.sort();
        let mut served = Vec::new();
        for page in found.chunks(SEARCH_PAGE) {
            self.log.charge(1);
            served.extend_from_slice(page);
            let more = served.len() < found.len();
            if more
                && served.len() >= max_records
                && let Some((last, _)) = served.last().filter(|(last, _)| *last > start)
            {
                let covered_to = *last;
                let changes = served.iter().map(|(_, id)| Changed { id: id.to_string(), deleted: false }).collect();
                return Ok(ChangedWindow { changes, covered_to, complete: false });
            }
        }
        if found.is_empty() {
            self.log.charge(1);
        }
        let changes = served.iter().map(|(_, id)| Changed { id: id.to_string(), deleted: false }).collect();
        Ok(ChangedWindow { changes, covered_to: end, complete: true })
    }
}

#[async_trait]
impl HubspotAssociations for FakeHubspot {
    async fn associated_ids(
        &self,
        from_object: &str,
        to_object: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, CrmError> {
        self.log.enter("associated_ids")?;
        self.log.charge(batches(ids.len(), HUBSPOT_BATCH));
        let state = self.state();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (fo, fi, to, ti) in &state.associations {
            if fo == from_object && to == to_object && ids.contains(fi) {
                out.entry(fi.clone()).or_default().push(ti.clone());
            }
        }
        Ok(out)
    }

    async fn associate(&self, from_object: &str, to_object: &str, pairs: &[(String, String)]) -> Result<(), CrmError> {
        self.log.enter("associate")?;
        self.log.charge(batches(pairs.len(), HUBSPOT_BATCH));
        let mut state = self.state();
        for (from, to) in pairs {
            state.associations.insert((from_object.into(), from.clone(), to_object.into(), to.clone()));
            state.associations.insert((to_object.into(), to.clone(), from_object.into(), from.clone()));
        }
        Ok(())
    }
}

#[async_trait]
impl HubspotAccount for FakeHubspot {
    async fn ensure_unique_property(&self, object: &str, name: &str) -> Result<(), CrmError> {
        self.ensure_property("ensure_unique_property", object, name, true)
    }

    async fn ensure_text_property(&self, object: &str, name: &str, _label: &str) -> Result<(), CrmError> {
        self.ensure_property("ensure_text_property", object, name, false)
    }

    async fn unsubscribe_all(&self, emails: &[String]) -> Result<Vec<WriteResult>, CrmError> {
        self.log.enter("unsubscribe_all")?;
        self.log.charge(batches(emails.len(), HUBSPOT_BATCH));
        let mut state = self.state();
        let mut out = Vec::new();
        for email in emails {
            match Self::refusal(&state, UNSUBSCRIBE_ALL, email) {
                Some(refused) => out.push(refused),
                None => {
                    state.unsubscribed.insert(email.to_ascii_lowercase());
                    out.push(WriteResult::Ok { id: email.clone(), created: false });
                }
            }
        }
        Ok(out)
    }

    async fn owners(&self) -> Result<Vec<Person>, CrmError> {
        self.log.enter("owners")?;
        let owners = self.state().owners.clone();
        self.log.charge(pages(owners.len(), OWNERS_PAGE));
        Ok(owners)
    }

    async fn list_members(&self, list_id: &str) -> Result<Vec<String>, CrmError> {
        self.log.enter("list_members")?;
        let members = self.state().lists.get(list_id).cloned();
        let members = members.ok_or_else(|| not_found(format!("no list {list_id}")))?;
        self.log.charge(pages(members.len(), MEMBERS_PAGE));
        Ok(members.into_iter().collect())
    }

    /// Ids that are not live contacts are returned as missing, the others
    /// added; an unknown list is a 404.
    async fn add_list_members(&self, list_id: &str, ids: &[String]) -> Result<Vec<String>, CrmError> {
        self.log.enter("add_list_members")?;
        self.log.charge(batches(ids.len(), LIST_ADD));
        let mut state = self.state();
        let (present, missing): (Vec<String>, Vec<String>) = ids.iter().cloned().partition(|id| {
            id.parse::<u64>()
                .is_ok_and(|n| state.objects.get("contacts").and_then(|m| m.get(&n)).is_some_and(|r| !r.archived))
        });
        let list = state.lists.get_mut(list_id).ok_or_else(|| not_found(format!("no list {list_id}")))?;
        list.extend(present);
        Ok(missing)
    }
}

impl HubspotWebhooks for FakeHubspot {
    fn verify_webhook(
        &self,
        client_secret: &str,
        method: &str,
        uri: &str,
        headers: &BTreeMap<String, String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let map = signature_headers(headers);
        let secret = if client_secret.is_empty() { self.client_secret.as_str() } else { client_secret };
        crm_sync_crm::hubspot::webhook::verify_request(secret, method, uri, &map, body, now)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
