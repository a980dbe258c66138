//! Record codecs shared by the live sync and the imports: CRM records as the
//! domain's snapshots, the domain's link state in the store's string map,
//! the timestamps both CRMs send, deal stages, SOQL literals, and the
//! store's names of sync-health categories. Which category a CRM error code
//! belongs to is not decided here but by each CRM's own table
//! (`crm_sync_crm::error::category`).
//!
//! Everything here is pure and synchronous: no IO, no clock, no config. A
//! codec must round-trip what it encodes (a link state survives the store),
//! and must never invent data: an unparseable id or timestamp gives `None`
//! (or the Unix epoch for a missing modified time, which loses every
//! "changed last" comparison), not a guess.

use crate::ports::{HsRecord, SfRecord};
use chrono::{DateTime, TimeZone, Utc};
use crm_sync_domain::echo::LinkPrints;
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::model::FieldMap;
use crm_sync_domain::model::System;
use crm_sync_domain::rules::{FieldFingerprint, Fingerprint};
use crm_sync_domain::{Email, HubSpotId, LinkState, ObjectPair, RecordSnapshot, SalesforceId, SfObject};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The field and property names the sync and the imports share, and the
/// deal stage table: owned by the domain's planner, re-exported here so that
/// callers that only encode records need not know the planner.
pub use crm_sync_domain::plan::{
    ACCOUNT_ID_PROPERTY, HUBSPOT_OPT_OUT_PROPERTY, HUBSPOT_SALESFORCE_ID_PROPERTY, NOT_PROVIDED,
    SALESFORCE_HUBSPOT_ID_FIELD, STAGE_FIELD, stage_to_hubspot, stage_to_salesforce,
};

/// The store's name of a sync-health category (`"duplicates"`, ...).
pub(crate) fn category_name(category: ErrorCategory) -> String {
    match serde_json::to_value(category) {
        Ok(Value::String(s)) => s,
        _ => "other".to_owned(),
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

/// A Salesforce record as the domain's snapshot. The Opportunity stage is
/// translated to HubSpot's stage ids so that both sides compare alike; the
/// planner translates written stages back to labels. `None` when the id is
/// not a Salesforce id.
pub(crate) fn sf_snapshot(record: &SfRecord, object: SfObject) -> Option<RecordSnapshot> {
    SalesforceId::parse(&record.id).ok()?;
    sf_snapshot_of(record.clone(), object)
}

/// [`sf_snapshot`] of a record no longer needed as such: its fields move
/// into the snapshot (an import's fresh rows, a page of them a second).
pub(crate) fn sf_snapshot_of(record: SfRecord, object: SfObject) -> Option<RecordSnapshot> {
    let id = SalesforceId::parse(&record.id).ok()?;
    let modified = parse_time(record.fields.get("LastModifiedDate"))
        .or_else(|| parse_time(record.fields.get("SystemModstamp")))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut fields = record.fields;
    if object == SfObject::Opportunity
        && let Some(Value::String(stage)) = fields.get_mut(STAGE_FIELD)
    {
        // Compared in HubSpot's stage ids; written back as labels.
        *stage = stage_to_hubspot(stage).to_owned();
    }
    Some(RecordSnapshot::salesforce(id, object, fields, modified))
}

/// A HubSpot record as the domain's snapshot; `None` when the id is not a
/// HubSpot id.
pub(crate) fn hs_snapshot(record: &HsRecord, pair: ObjectPair) -> Option<RecordSnapshot> {
    let id = HubSpotId::parse(&record.id).ok()?;
    let modified = parse_time(record.properties.get("hs_lastmodifieddate"))
        .or_else(|| parse_time(record.properties.get("lastmodifieddate")))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let fields: FieldMap = record.properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Some(RecordSnapshot::hubspot(id, pair, fields, modified))
}

/// A record's fields by name, whichever map holds them (a Salesforce
/// record's [`FieldMap`], a HubSpot record's JSON object).
pub(crate) trait Fields {
    fn field(&self, name: &str) -> Option<&Value>;
}

impl Fields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Fields for FieldMap {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// The email held in `name`, normalised; `None` when absent or invalid.
pub(crate) fn email_in(fields: &impl Fields, name: &str) -> Option<Email> {
    fields.field(name).and_then(Value::as_str).and_then(|s| Email::parse(s).ok())
}

/// The link-state key holding the Salesforce last-modified time.
const LAST_MODIFIED_KEY: &str = "_salesforce_last_modified";
/// The link-state key listing the mappings the link was stored without
/// writing (comma-separated mapping keys).
const NEVER_WRITTEN_KEY: &str = "_never_written";
/// The link-state key holding what a sync was writing when it stored the
/// link before its writes (JSON: mapping key -> [side, fingerprint]).
const WRITING_KEY: &str = "_writing";
/// The contact's HubSpot lifecycle stage when its link was last stored, so
/// that a change can be carried to its company (SPEC section 4).
pub(crate) const LIFECYCLE_KEY: &str = "_hubspot_lifecyclestage";

/// One mapping's prints as stored: `salesforce|hubspot` (32 hex digits
/// each), or a single print when both sides hold the same value, as they do
/// after most syncs (a link about a third smaller to write and to read).
fn stored_print(print: &FieldFingerprint) -> String {
    let mut text = String::with_capacity(65);
    print.salesforce.push_hex(&mut text);
    if print.hubspot != print.salesforce {
        text.push('|');
        print.hubspot.push_hex(&mut text);
    }
    text
}

/// A mapping's prints back from [`stored_print`]'s text; `None` for a
/// metadata entry (its key starts with `_`) or text that is not prints.
fn read_print(key: &str, text: &str) -> Option<FieldFingerprint> {
    if key.starts_with('_') {
        return None;
    }
    match text.split_once('|') {
        Some((salesforce, hubspot)) => Some(FieldFingerprint {
            salesforce: Fingerprint::from_stored(salesforce)?,
            hubspot: Fingerprint::from_stored(hubspot)?,
        }),
        None => Fingerprint::from_stored(text).map(|both| FieldFingerprint { salesforce: both, hubspot: both }),
    }
}

/// The domain's link state, in the store's string map.
pub(crate) fn encode_link_state(state: &LinkState) -> BTreeMap<String, String> {
    encode_link_state_of(state.clone())
}

/// [`encode_link_state`] of a state no longer needed: its keys move into
/// the map (an import's new links, one per record).
pub(crate) fn encode_link_state_of(state: LinkState) -> BTreeMap<String, String> {
    let LinkState { fingerprints, salesforce_last_modified, never_written, writing } = state;
    // (Built from the keys in order, not inserted one by one.)
    let mut out: BTreeMap<String, String> =
        fingerprints.into_iter().map(|(key, print)| (key, stored_print(&print))).collect();
    if let Some(t) = salesforce_last_modified {
        out.insert(LAST_MODIFIED_KEY.to_owned(), t.to_rfc3339());
    }
    if !never_written.is_empty() {
        let keys: Vec<&str> = never_written.iter().map(String::as_str).collect();
        out.insert(NEVER_WRITTEN_KEY.to_owned(), keys.join(","));
    }
    insert_writing(&mut out, &writing);
    out
}

/// Puts what a sync is writing ([`LinkState::writing`]) into a link's
/// stored map; false (the map unchanged) when there is nothing to put.
pub(crate) fn insert_writing(
    map: &mut BTreeMap<String, String>,
    writing: &BTreeMap<String, (System, Fingerprint)>,
) -> bool {
    if writing.is_empty() {
        return false;
    }
    match serde_json::to_string(writing) {
        Ok(json) => {
            map.insert(WRITING_KEY.to_owned(), json);
            true
        }
        Err(_) => false,
    }
}

/// The store's string map back as the domain's link state. Entries that are
/// not fingerprints (such as [`LIFECYCLE_KEY`]) are ignored, and so is a
/// print that is not 32 hex digits (the mapping then reads as one the link
/// holds nothing for).
pub(crate) fn decode_link_state(map: &BTreeMap<String, String>) -> LinkState {
    let mut state = LinkState::default();
    for (key, value) in map {
        if key == LAST_MODIFIED_KEY {
            state.salesforce_last_modified = DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc));
        } else if key == NEVER_WRITTEN_KEY {
            state.never_written = value.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect();
        } else if key == WRITING_KEY {
            state.writing = serde_json::from_str(value).unwrap_or_default();
        } else if let Some(print) = read_print(key, value) {
            state.fingerprints.insert(key.clone(), print);
        }
    }
    state
}

/// A stored link state read in place, for echo recognition: only the
/// mappings an event names are looked at, with what
/// [`decode_link_state`] would make of them.
pub(crate) struct StoredPrints<'a>(pub &'a BTreeMap<String, String>);

impl LinkPrints for StoredPrints<'_> {
    fn hubspot_print(&self, key: &str) -> Option<Fingerprint> {
        read_print(key, self.0.get(key)?).map(|print| print.hubspot)
    }
    fn never_written(&self, key: &str) -> bool {
        self.0.get(NEVER_WRITTEN_KEY).is_some_and(|keys| keys.split(',').any(|k| k == key))
    }
}

/// Escapes a value for a single-quoted SOQL literal.
pub(crate) fn soql_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crm_sync_domain::LinkState;
    use crm_sync_domain::rules::FieldFingerprint;

    #[test]
    fn a_link_state_survives_the_store_string_map() {
        let mut state = LinkState::default();
        let key = "jobtitle<->Title";
        state.fingerprints.insert(key.into(), FieldFingerprint::of(key, &Some("CTO".into()), &None));
        state.salesforce_last_modified = parse_time(Some(&Value::String("2024-05-01T10:00:00.000+0000".into())));
        state.never_written = ["lastname<->LastName".to_owned(), "phone<->Phone".to_owned()].into();
        let decoded = decode_link_state(&encode_link_state(&state));
        assert_eq!(decoded, state);
    }

    #[test]
    fn a_stored_link_state_read_in_place_answers_as_its_decoded_form() {
        let mut state = LinkState::default();
        let (title, phone, city) = ("jobtitle<->Title", "phone<->Phone", "city<->MailingCity");
        state.fingerprints.insert(title.into(), FieldFingerprint::of(title, &Some("CTO".into()), &Some("cto".into())));
        state.fingerprints.insert(city.into(), FieldFingerprint::of(city, &None, &None));
        state.never_written = [phone.to_owned()].into();
        let mut stored = encode_link_state(&state);
        // A damaged print reads as no print, as decoding makes of it.
        stored.insert("state<->MailingState".into(), "nothex|00".into());
        let decoded = decode_link_state(&stored);
        let in_place = StoredPrints(&stored);
        for key in [title, phone, city, "state<->MailingState", "missing<->Missing"] {
            assert_eq!(in_place.hubspot_print(key), decoded.hubspot_print(key), "{key}");
            assert_eq!(LinkPrints::never_written(&in_place, key), LinkPrints::never_written(&decoded, key), "{key}");
        }
        assert_eq!(in_place.hubspot_print(title), Some(Fingerprint::of(title, &Some("cto".into()))));
        assert!(LinkPrints::never_written(&in_place, phone));
    }

    #[test]
    fn equal_sides_are_stored_as_one_print_and_both_forms_read_back() {
        let key = "jobtitle<->Title";
        let same = FieldFingerprint::of(key, &Some("CTO".into()), &Some("CTO".into()));
        let apart = FieldFingerprint::of(key, &Some("CTO".into()), &None);
        assert_eq!(stored_print(&same), same.salesforce.hex());
        assert_eq!(stored_print(&apart), format!("{}|{}", apart.salesforce.hex(), apart.hubspot.hex()));
        // Links stored before kept both prints even when equal.
        let older = format!("{}|{}", same.salesforce.hex(), same.hubspot.hex());
        for text in [stored_print(&same), older] {
            assert_eq!(read_print(key, &text), Some(same), "{text}");
        }
        assert_eq!(read_print(key, &stored_print(&apart)), Some(apart));
        // Metadata entries are never prints, whatever they hold.
        assert_eq!(read_print(LIFECYCLE_KEY, &same.salesforce.hex()), None);
        assert_eq!(read_print(key, "customer"), None);
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
    fn categories_are_stored_under_their_snake_case_names() {
        assert_eq!(category_name(ErrorCategory::PropertyValueOrValidation), "property_value_or_validation");
    }

    #[test]
    fn soql_literals_are_escaped() {
        assert_eq!(soql_escape("o'brien\\x"), "o\\'brien\\\\x");
    }
}
