//! [`FakeSalesforce`]: the [`SalesforceApi`] port over records in memory.
//!
//! It keeps what the real adapter promises and no more: ids of the right
//! shape (18 characters, the object's key prefix), reads that leave unknown
//! ids out, Collections writes answered per record in input order, upserts
//! keyed by an External ID field, and getUpdated/getDeleted windows in whole
//! minutes. Modification times come from the injected [`ManualClock`], so a
//! test moves time instead of sleeping. The API-call figure follows the
//! real client's paging (200 ids per retrieve or write, 2,000 rows per
//! query page, 50,000 rows per Bulk result page plus create and poll).
//!
//! SOQL is evaluated for the few shapes the use cases send (see
//! [`super::soql`]); a test may also register a fixed answer for a query.

use super::calls::{CallLog, batches, pages};
use super::soql;
use crate::ports::{
    ApiCalls, Changed, ChangedWindow, SALESFORCE_BATCH, SalesforceIdentity, SalesforceQueries, SalesforceRecords,
    SalesforceReplication, SfRecord, WriteResult,
};
use async_trait::async_trait;
use chrono::{DateTime, DurationRound, Utc};
use crm_sync_crm::error::{CrmError, System};
use crm_sync_domain::SalesforceId;
use crm_sync_domain::error::{ErrorCategory, Verdict};
use crm_sync_domain::model::FieldMap;
use crm_sync_store::{Clock, ManualClock};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The org the fake's integration user belongs to.
pub const FAKE_ORG_ID: &str = "00D000000000001AAA";

/// Rows per SOQL query page.
const QUERY_PAGE: usize = 2_000;
/// Rows per Bulk API 2.0 result page.
const BULK_PAGE: usize = 50_000;

/// Salesforce's own timestamp format (`2024-05-01T10:00:00.000+0000`).
pub fn salesforce_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// The three-character key prefix of an object's ids.
fn key_prefix(sobject: &str) -> &'static str {
    match sobject {
        "Lead" => "00Q",
        "Contact" => "003",
        "Account" => "001",
        "Opportunity" => "006",
        "User" => "005",
        "Campaign" => "701",
        "CampaignMember" => "00v",
        _ => "a00",
    }
}

/// One record as the fake keeps it.
#[derive(Debug, Clone)]
struct Stored {
    /// Every field, `Id` and the system dates included.
    fields: Map<String, Value>,
    /// `SystemModstamp`: what getUpdated lists by.
    modified: DateTime<Utc>,
    /// When it went to the recycle bin: what getDeleted lists by.
    deleted: Option<DateTime<Utc>>,
}

/// Everything the fake org holds, behind one lock.
#[derive(Debug, Default)]
struct State {
    /// Records by object, then by 18-character id.
    objects: BTreeMap<String, BTreeMap<String, Stored>>,
    /// The last id number given out (all objects share the counter).
    next_id: u64,
    /// Fixed answers: a query containing the key gets these rows.
    answers: Vec<(String, Vec<SfRecord>)>,
    /// Per-record refusals: (object, id or external id value) -> (code, message).
    refusals: BTreeMap<(String, String), (String, String)>,
}

/// An in-memory Salesforce org behind the [`SalesforceApi`] port.
#[derive(Debug)]
pub struct FakeSalesforce {
    /// The clock every modification time is read from.
    clock: Arc<ManualClock>,
    state: Mutex<State>,
    log: CallLog,
}

/// A whole-call failure as the client reports one (e.g. `MALFORMED_QUERY`).
fn error(status: u16, code: &str, message: impl Into<String>) -> CrmError {
    CrmError {
        system: System::Salesforce,
        status,
        code: code.to_owned(),
        message: message.into(),
        category: ErrorCategory::Other,
        verdict: Verdict::Permanent,
        source: None,
    }
}

/// The 18-character form of an id; `None` for something that is not one.
/// Records are keyed by it, so 15- and 18-character ids find the same one.
fn normalise(id: &str) -> Option<String> {
    SalesforceId::parse(id).ok().map(|id| id.as_str().to_owned())
}

impl FakeSalesforce {
    pub fn new(clock: Arc<ManualClock>) -> Self {
        FakeSalesforce { clock, state: Mutex::default(), log: CallLog::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Call counters and fault injection.
    pub fn calls(&self) -> &CallLog {
        &self.log
    }

    /// Sets `LastModifiedDate` and `SystemModstamp` to `at`.
    fn stamp(fields: &mut Map<String, Value>, at: DateTime<Utc>) {
        let text = Value::String(salesforce_time(at));
        fields.insert("LastModifiedDate".into(), text.clone());
        fields.insert("SystemModstamp".into(), text);
    }

    /// Creates a record with the next id of its object's key prefix and
    /// the system dates (a given `CreatedDate` is kept, for tests of age).
    fn create_in(state: &mut State, sobject: &str, mut fields: Map<String, Value>, now: DateTime<Utc>) -> String {
        state.next_id += 1;
        let raw = format!("{}{:012}", key_prefix(sobject), state.next_id);
        let id = normalise(&raw).unwrap_or(raw);
        fields.insert("Id".into(), Value::String(id.clone()));
        fields.entry("CreatedDate").or_insert_with(|| Value::String(salesforce_time(now)));
        Self::stamp(&mut fields, now);
        state
            .objects
            .entry(sobject.to_owned())
            .or_default()
            .insert(id.clone(), Stored { fields, modified: now, deleted: None });
        id
    }

    /// Creates a record as a Salesforce user would (no API call counted);
    /// returns its 18-character id.
    pub fn insert(&self, sobject: &str, fields: Value) -> String {
        let fields = fields.as_object().cloned().unwrap_or_default();
        let now = self.clock.now();
        Self::create_in(&mut self.state(), sobject, fields, now)
    }

    /// Changes fields of a record as a Salesforce user would, moving its
    /// modification time to now. Returns false for an unknown record.
    pub fn edit(&self, sobject: &str, id: &str, fields: Value) -> bool {
        let now = self.clock.now();
        let mut state = self.state();
        let Some(record) = normalise(id).and_then(|id| state.objects.get_mut(sobject)?.get_mut(&id)) else {
            return false;
        };
        if let Some(fields) = fields.as_object() {
            record.fields.extend(fields.clone());
        }
        record.modified = now;
        Self::stamp(&mut record.fields, now);
        true
    }

    /// Deletes a record (to the recycle bin): reads leave it out and
    /// `changed_since` reports it deleted.
    pub fn delete(&self, sobject: &str, id: &str) -> bool {
        let now = self.clock.now();
        let mut state = self.state();
        match normalise(id).and_then(|id| state.objects.get_mut(sobject)?.get_mut(&id)) {
            Some(record) => {
                record.deleted = Some(now);
                true
            }
            None => false,
        }
    }

    /// A record's fields as stored, unless deleted.
    pub fn get(&self, sobject: &str, id: &str) -> Option<Map<String, Value>> {
        let id = normalise(id)?;
        self.state().objects.get(sobject)?.get(&id).filter(|r| r.deleted.is_none()).map(|r| r.fields.clone())
    }

    /// The live records of an object, by id.
    pub fn records(&self, sobject: &str) -> BTreeMap<String, Map<String, Value>> {
        self.state()
            .objects
            .get(sobject)
            .map(|m| {
                m.iter().filter(|(_, r)| r.deleted.is_none()).map(|(k, r)| (k.clone(), r.fields.clone())).collect()
            })
            .unwrap_or_default()
    }

    /// Answers every query whose text contains `contains` with `rows`
    /// (instead of evaluating it); the first registered match wins.
    pub fn answer_query(&self, contains: &str, rows: Vec<SfRecord>) {
        self.state().answers.push((contains.to_owned(), rows));
    }

    /// Makes writes of one record fail with the CRM's `code` (by id for
    /// updates, by External ID value for upserts), the others succeeding.
    pub fn refuse_record(&self, sobject: &str, key: &str, code: &str, message: &str) {
        self.state().refusals.insert((sobject.to_owned(), key.to_owned()), (code.to_owned(), message.to_owned()));
    }

    /// The refusal armed for a record, as its write result.
    fn refusal(state: &State, sobject: &str, key: &str) -> Option<WriteResult> {
        state
            .refusals
            .get(&(sobject.to_owned(), key.to_owned()))
            .map(|(code, message)| WriteResult::Err { code: code.clone(), message: message.clone() })
    }

    /// A registered answer when one matches, else the query evaluated over
    /// the live records (deleted ones too for `all`, with `IsDeleted`); an
    /// unsupported shape is `MALFORMED_QUERY`.
    fn run_query(&self, soql_text: &str, all: bool) -> Result<(soql::Query, Vec<SfRecord>), CrmError> {
        let state = self.state();
        let query = soql::parse(soql_text).map_err(|reason| error(400, "MALFORMED_QUERY", reason))?;
        if let Some((_, rows)) = state.answers.iter().find(|(key, _)| soql_text.contains(key.as_str())) {
            return Ok((query, rows.clone()));
        }
        let mut rows: Vec<SfRecord> = state
            .objects
            .get(&query.object)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(_, r)| all || r.deleted.is_none())
            .map(|(id, r)| {
                let mut fields = r.fields.clone();
                if all {
                    fields.insert("IsDeleted".into(), Value::Bool(r.deleted.is_some()));
                }
                (id, fields)
            })
            .filter(|(_, fields)| query.admits(fields))
            .map(|(id, fields)| SfRecord {
                sobject: query.object.clone(),
                id: id.clone(),
                fields: query.project(&fields).into_iter().collect(),
            })
            .collect();
        if let Some(limit) = query.limit {
            rows.truncate(limit);
        }
        Ok((query, rows))
    }
}

impl ApiCalls for FakeSalesforce {
    fn calls_made(&self) -> u64 {
        self.log.api_calls()
    }
}

#[async_trait]
impl SalesforceRecords for FakeSalesforce {
    async fn retrieve(&self, sobject: &str, ids: &[String], fields: &[String]) -> Result<Vec<SfRecord>, CrmError> {
        self.log.enter("retrieve")?;
        self.log.charge(batches(ids.len(), SALESFORCE_BATCH));
        let state = self.state();
        let Some(records) = state.objects.get(sobject) else { return Ok(Vec::new()) };
        Ok(ids
            .iter()
            .filter_map(|id| {
                let id = normalise(id)?;
                let stored = records.get(&id).filter(|r| r.deleted.is_none())?;
                let mut out: FieldMap =
                    fields.iter().map(|f| (f.clone(), stored.fields.get(f).cloned().unwrap_or(Value::Null))).collect();
                out.insert("Id".into(), Value::String(id.clone()));
                Some(SfRecord { sobject: sobject.to_owned(), id, fields: out })
            })
            .collect())
    }

    async fn update(
        &self,
        sobject: &str,
        records: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError> {
        self.log.enter("update")?;
        self.log.charge(batches(records.len(), SALESFORCE_BATCH));
        let now = self.clock.now();
        let mut state = self.state();
        let mut out = Vec::with_capacity(records.len());
        for (id, fields) in records {
            let Some(id) = normalise(id) else {
                out.push(WriteResult::Err { code: "MALFORMED_ID".into(), message: format!("bad id {id}") });
                continue;
            };
            if let Some(refused) = Self::refusal(&state, sobject, &id) {
                out.push(refused);
                continue;
            }
            match state.objects.get_mut(sobject).and_then(|m| m.get_mut(&id)) {
                Some(record) if record.deleted.is_none() => {
                    record.fields.extend(fields.clone());
                    record.modified = now;
                    Self::stamp(&mut record.fields, now);
                    out.push(WriteResult::Ok { id, created: false });
                }
                Some(_) => {
                    out.push(WriteResult::Err { code: "ENTITY_IS_DELETED".into(), message: "entity is deleted".into() })
                }
                None => out.push(WriteResult::Err {
                    code: "INVALID_CROSS_REFERENCE_KEY".into(),
                    message: format!("invalid cross reference id {id}"),
                }),
            }
        }
        Ok(out)
    }

    /// Records of any object by id to the recycle bin; a refusal armed for
    /// the record, or a record already deleted or unknown, is its own error.
    async fn delete_records(&self, ids: &[String]) -> Result<Vec<WriteResult>, CrmError> {
        self.log.enter("delete_records")?;
        self.log.charge(batches(ids.len(), SALESFORCE_BATCH));
        let now = self.clock.now();
        let mut state = self.state();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(id) = normalise(id) else {
                out.push(WriteResult::Err { code: "MALFORMED_ID".into(), message: format!("bad id {id}") });
                continue;
            };
            let object = state.objects.iter().find(|(_, m)| m.contains_key(&id)).map(|(o, _)| o.clone());
            let Some(object) = object else {
                out.push(WriteResult::Err {
                    code: "INVALID_CROSS_REFERENCE_KEY".into(),
                    message: format!("invalid id {id}"),
                });
                continue;
            };
            if let Some(refused) = Self::refusal(&state, &object, &id) {
                out.push(refused);
                continue;
            }
            match state.objects.get_mut(&object).and_then(|m| m.get_mut(&id)) {
                Some(record) if record.deleted.is_none() => {
                    record.deleted = Some(now);
                    out.push(WriteResult::Ok { id, created: false });
                }
                _ => {
                    out.push(WriteResult::Err { code: "ENTITY_IS_DELETED".into(), message: "entity is deleted".into() })
                }
            }
        }
        Ok(out)
    }

    /// By External ID: no match creates, one match updates, two or more is
    /// `DUPLICATE_EXTERNAL_ID` for that record; a record without the key is
    /// `MISSING_ARGUMENT`.
    async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<WriteResult>, CrmError> {
        self.log.enter("upsert")?;
        self.log.charge(batches(records.len(), SALESFORCE_BATCH));
        let now = self.clock.now();
        let mut state = self.state();
        let mut out = Vec::with_capacity(records.len());
        for fields in records {
            let Some(key) = fields.get(external_id_field).and_then(Value::as_str).filter(|k| !k.is_empty()) else {
                out.push(WriteResult::Err {
                    code: "MISSING_ARGUMENT".into(),
                    message: format!("{external_id_field} not specified"),
                });
                continue;
            };
            if let Some(refused) = Self::refusal(&state, sobject, key) {
                out.push(refused);
                continue;
            }
            let existing: Vec<String> = state
                .objects
                .get(sobject)
                .into_iter()
                .flat_map(|m| m.iter())
                .filter(|(_, r)| {
                    r.deleted.is_none() && r.fields.get(external_id_field).and_then(Value::as_str) == Some(key)
                })
                .map(|(id, _)| id.clone())
                .collect();
            match existing.as_slice() {
                [] => {
                    let id = Self::create_in(&mut state, sobject, fields.clone(), now);
                    out.push(WriteResult::Ok { id, created: true });
                }
                [id] => {
                    if let Some(record) = state.objects.get_mut(sobject).and_then(|m| m.get_mut(id)) {
                        record.fields.extend(fields.clone());
                        record.modified = now;
                        Self::stamp(&mut record.fields, now);
                    }
                    out.push(WriteResult::Ok { id: id.clone(), created: false });
                }
                _ => out.push(WriteResult::Err {
                    code: "DUPLICATE_EXTERNAL_ID".into(),
                    message: format!("{external_id_field}: more than one record has {key}"),
                }),
            }
        }
        drop(state);
        self.log.leave("upsert");
        Ok(out)
    }
}

#[async_trait]
impl SalesforceQueries for FakeSalesforce {
    async fn query(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError> {
        self.log.enter("query")?;
        let (_, rows) = self.run_query(soql, false)?;
        self.log.charge(pages(rows.len(), QUERY_PAGE));
        Ok(rows)
    }

    async fn query_all(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError> {
        self.log.enter("query_all")?;
        let (_, rows) = self.run_query(soql, true)?;
        self.log.charge(pages(rows.len(), QUERY_PAGE));
        Ok(rows)
    }

    async fn count(&self, soql: &str) -> Result<u64, CrmError> {
        self.log.enter("count")?;
        self.log.charge(1);
        let (query, rows) = self.run_query(soql, false)?;
        if !query.count {
            return Err(error(400, "MALFORMED_QUERY", "count takes SELECT COUNT()"));
        }
        Ok(rows.len() as u64)
    }

    async fn bulk_query(&self, soql: &str) -> Result<Vec<SfRecord>, CrmError> {
        self.log.enter("bulk_query")?;
        let (_, rows) = self.run_query(soql, false)?;
        // Create, poll, then one call per result page.
        self.log.charge(2 + pages(rows.len(), BULK_PAGE));
        Ok(rows)
    }
}

#[async_trait]
impl SalesforceReplication for FakeSalesforce {
    /// Both ends rounded down to the minute, as the replication API does;
    /// a deleted record is listed only as a deletion.
    async fn changed_since(
        &self,
        sobject: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<ChangedWindow, CrmError> {
        self.log.enter("changed_since")?;
        // getUpdated and getDeleted, both in whole minutes.
        self.log.charge(2);
        let minute = chrono::Duration::minutes(1);
        let from = start.duration_trunc(minute).unwrap_or(start);
        let covered_to = end.duration_trunc(minute).unwrap_or(end);
        let state = self.state();
        let mut changes = Vec::new();
        for (id, record) in state.objects.get(sobject).into_iter().flat_map(|m| m.iter()) {
            match record.deleted {
                Some(at) if at >= from && at < covered_to => changes.push(Changed { id: id.clone(), deleted: true }),
                Some(_) => {}
                None if record.modified >= from && record.modified < covered_to => {
                    changes.push(Changed { id: id.clone(), deleted: false })
                }
                None => {}
            }
        }
        Ok(ChangedWindow { changes, covered_to, complete: true })
    }
}

/// The fake's org, without a call.
#[async_trait]
impl SalesforceIdentity for FakeSalesforce {
    async fn organization_id(&self) -> Result<String, CrmError> {
        Ok(FAKE_ORG_ID.to_owned())
    }
}
