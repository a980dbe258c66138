//! The sync intent: "this record on this system may need syncing", the unit
//! every trigger (webhook, sweep, import, resync) puts on the sync queue.
//!
//! Owns the intent's shape and its JSON form only; queues and workers live in
//! other crates.

use crate::echo::Reported;
use crate::model::{HubSpotId, ObjectPair, RecordId, SalesforceId, SfObject, System};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What caused the intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A HubSpot webhook or a Salesforce outbound message (SPEC section 6).
    Webhook,
    /// The periodic sweep that catches what notifications missed.
    Sweep,
    /// A chunk of an import (SPEC section 7).
    Import,
    /// A manual resync of a record or a segment (SPEC section 8).
    Resync,
}

impl Trigger {
    /// Imports and manual resyncs apply every mapping in full, including
    /// newly added ones, and force company -> account creation (SPEC 3, 5).
    pub fn is_forced(self) -> bool {
        matches!(self, Trigger::Import | Trigger::Resync)
    }
}

/// The object of the record an intent names, on its own system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntentObject {
    /// A Salesforce object: Lead and Contact both belong to the contact pair.
    Salesforce(SfObject),
    /// A HubSpot object, named by its pair (`contact`, `company`, `deal`).
    HubSpot(ObjectPair),
}

impl IntentObject {
    /// The object pair the record syncs in.
    pub fn pair(self) -> ObjectPair {
        match self {
            IntentObject::Salesforce(o) => o.pair(),
            IntentObject::HubSpot(p) => p,
        }
    }
}

/// Why an intent could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {system} intent needs a {system} object and id")]
pub struct IntentError {
    pub system: System,
}

/// One record that may need syncing. Serialised as JSON on the queues:
/// `{"system":"salesforce","object":"Lead","id":"00Q...","trigger":"webhook","at":"..."}`
/// (HubSpot objects are `contact`, `company`, `deal`). The intent of a
/// HubSpot merge survivor also lists the records merged into it:
/// `"merged":["513"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawIntent", into = "RawIntent")]
pub struct SyncIntent {
    id: RecordId,
    object: IntentObject,
    pub trigger: Trigger,
    /// When the change happened (or was seen, for the sweep).
    pub at: DateTime<Utc>,
    /// HubSpot records merged into this one (a HubSpot merge): HubSpot no
    /// longer answers for them, so the survivor's intent carries them and
    /// their links move with it (SPEC section 1).
    merged: Vec<HubSpotId>,
    /// What the HubSpot events behind a webhook intent reported of the
    /// record, when the webhook could not tell them from an echo (no link
    /// yet: a write of the sync whose link was not stored when its events
    /// came): the worker checks again against the link before any API call.
    /// Empty for every other intent. Not part of the dedup key.
    reported: Vec<Reported>,
}

impl SyncIntent {
    /// An intent for a Salesforce record.
    pub fn salesforce(object: SfObject, id: SalesforceId, trigger: Trigger, at: DateTime<Utc>) -> Self {
        Self {
            id: RecordId::Salesforce(id),
            object: IntentObject::Salesforce(object),
            trigger,
            at,
            merged: Vec::new(),
            reported: Vec::new(),
        }
    }

    /// An intent for a HubSpot record.
    pub fn hubspot(object: ObjectPair, id: HubSpotId, trigger: Trigger, at: DateTime<Utc>) -> Self {
        Self {
            id: RecordId::HubSpot(id),
            object: IntentObject::HubSpot(object),
            trigger,
            at,
            merged: Vec::new(),
            reported: Vec::new(),
        }
    }

    /// An intent for a HubSpot record that `merged` were merged into.
    pub fn hubspot_merge(
        object: ObjectPair,
        survivor: HubSpotId,
        merged: Vec<HubSpotId>,
        trigger: Trigger,
        at: DateTime<Utc>,
    ) -> Self {
        let merged = merged.into_iter().filter(|m| *m != survivor).collect();
        Self { merged, ..Self::hubspot(object, survivor, trigger, at) }
    }

    /// The HubSpot records merged into this intent's record, if any.
    pub fn merged(&self) -> &[HubSpotId] {
        &self.merged
    }

    /// This intent carrying what its HubSpot events reported (see the
    /// field); a Salesforce intent carries nothing.
    pub fn with_reported(mut self, reported: Vec<Reported>) -> Self {
        if self.system() == System::HubSpot {
            self.reported = reported;
        }
        self
    }

    /// What the HubSpot events behind this intent reported, if the webhook
    /// left the echo check to the worker; empty otherwise.
    pub fn reported(&self) -> &[Reported] {
        &self.reported
    }

    pub fn system(&self) -> System {
        self.id.side()
    }

    pub fn record_id(&self) -> &RecordId {
        &self.id
    }

    /// The record's object on its own system.
    pub fn object(&self) -> IntentObject {
        self.object
    }

    /// The object pair the record syncs in.
    pub fn pair(&self) -> ObjectPair {
        self.object.pair()
    }

    /// A key that is equal for two intents naming the same record, whatever
    /// their trigger and time: for de-duplication and message group ids.
    pub fn record_key(&self) -> String {
        format!("{}:{}:{}", self.system(), self.pair(), self.id.as_str())
    }

    /// A key that is equal for two intents asking the same of one record:
    /// the record key, plus the records merged into it. A merge's intent is
    /// not the same as a plain change of its survivor, so de-duplication
    /// keeps both.
    pub fn dedup_key(&self) -> String {
        if self.merged.is_empty() {
            return self.record_key();
        }
        let merged: Vec<&str> = self.merged.iter().map(HubSpotId::as_str).collect();
        format!("{}<{}", self.record_key(), merged.join(","))
    }

    /// The queue message body (see the type's docs for the shape).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Reads a queue message body; unknown keys and an object that does not
    /// belong to the named system are refused.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntent {
    system: System,
    object: IntentObject,
    id: String,
    trigger: Trigger,
    at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    merged: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reported: Vec<Reported>,
}

impl TryFrom<RawIntent> for SyncIntent {
    type Error = String;
    fn try_from(raw: RawIntent) -> Result<Self, Self::Error> {
        match (raw.system, raw.object) {
            (System::Salesforce, IntentObject::Salesforce(o)) if raw.merged.is_empty() && raw.reported.is_empty() => {
                let id = SalesforceId::parse(&raw.id).map_err(|e| e.to_string())?;
                Ok(Self::salesforce(o, id, raw.trigger, raw.at))
            }
            (System::HubSpot, IntentObject::HubSpot(p)) => {
                let id = HubSpotId::parse(&raw.id).map_err(|e| e.to_string())?;
                let merged = raw
                    .merged
                    .iter()
                    .map(|m| HubSpotId::parse(m))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                Ok(Self::hubspot_merge(p, id, merged, raw.trigger, raw.at).with_reported(raw.reported))
            }
            (System::Salesforce, IntentObject::Salesforce(_)) => {
                Err("a Salesforce intent names no HubSpot merge and carries no HubSpot event".to_owned())
            }
            (system, _) => Err(IntentError { system }.to_string()),
        }
    }
}

impl From<SyncIntent> for RawIntent {
    fn from(intent: SyncIntent) -> Self {
        RawIntent {
            system: intent.system(),
            object: intent.object,
            id: intent.id.as_str().to_owned(),
            trigger: intent.trigger,
            at: intent.at,
            merged: intent.merged.iter().map(|m| m.as_str().to_owned()).collect(),
            reported: intent.reported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-02T08:30:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_salesforce_intent_round_trips_through_json() {
        let intent = SyncIntent::salesforce(
            SfObject::Lead,
            SalesforceId::parse("00Q5g00000AbCdE").unwrap(),
            Trigger::Webhook,
            at(),
        );
        let json = intent.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"system":"salesforce","object":"Lead","id":"00Q5g00000AbCdEEAV","trigger":"webhook","at":"2024-05-02T08:30:00Z"}"#
        );
        assert_eq!(SyncIntent::from_json(&json).unwrap(), intent);
    }

    #[test]
    fn a_hubspot_intent_round_trips_through_json() {
        let intent = SyncIntent::hubspot(ObjectPair::Company, HubSpotId::parse("512").unwrap(), Trigger::Resync, at());
        let json = intent.to_json().unwrap();
        assert!(json.contains(r#""object":"company""#));
        assert_eq!(SyncIntent::from_json(&json).unwrap(), intent);
        assert!(intent.trigger.is_forced());
    }

    #[test]
    fn a_merge_intent_round_trips_and_keeps_apart_from_a_plain_change_of_its_survivor() {
        let id = |s: &str| HubSpotId::parse(s).unwrap();
        let merge =
            SyncIntent::hubspot_merge(ObjectPair::Contact, id("5"), vec![id("6"), id("5")], Trigger::Webhook, at());
        let json = merge.to_json().unwrap();
        assert!(json.contains(r#""merged":["6"]"#), "{json}");
        assert_eq!(SyncIntent::from_json(&json).unwrap(), merge);
        let plain = SyncIntent::hubspot(ObjectPair::Contact, id("5"), Trigger::Webhook, at());
        assert!(!plain.to_json().unwrap().contains("merged"));
        assert_eq!(plain.record_key(), merge.record_key());
        assert_ne!(plain.dedup_key(), merge.dedup_key());
        let salesforce = r#"{"system":"salesforce","object":"Lead","id":"00Q5g00000AbCdE","trigger":"sweep","at":"2024-05-02T08:30:00Z","merged":["6"]}"#;
        assert!(SyncIntent::from_json(salesforce).is_err());
    }

    #[test]
    fn what_the_events_reported_rides_on_a_hubspot_intent_only() {
        let id = HubSpotId::parse("5").unwrap();
        let reported = vec![
            Reported::Creation,
            Reported::Property { name: "email".into(), value: Some("a@example.com".into()), with_creation: true },
        ];
        let intent = SyncIntent::hubspot(ObjectPair::Contact, id.clone(), Trigger::Webhook, at())
            .with_reported(reported.clone());
        let json = intent.to_json().unwrap();
        assert!(json.contains(r#""reported":["creation",{"property":{"name":"email""#), "{json}");
        let back = SyncIntent::from_json(&json).unwrap();
        assert_eq!(back.reported(), reported.as_slice());
        let plain = SyncIntent::hubspot(ObjectPair::Contact, id, Trigger::Webhook, at());
        assert_eq!(plain.dedup_key(), intent.dedup_key());
        assert!(!plain.to_json().unwrap().contains("reported"));
        let salesforce = SyncIntent::salesforce(
            SfObject::Lead,
            SalesforceId::parse("00Q5g00000AbCdE").unwrap(),
            Trigger::Webhook,
            at(),
        );
        assert!(salesforce.with_reported(reported).reported().is_empty());
        let forged = r#"{"system":"salesforce","object":"Lead","id":"00Q5g00000AbCdE","trigger":"webhook","at":"2024-05-02T08:30:00Z","reported":["creation"]}"#;
        assert!(SyncIntent::from_json(forged).is_err());
    }

    #[test]
    fn an_intent_mixing_systems_is_refused() {
        let json = r#"{"system":"hubspot","object":"Lead","id":"512","trigger":"sweep","at":"2024-05-02T08:30:00Z"}"#;
        assert!(SyncIntent::from_json(json).is_err());
    }

    #[test]
    fn intents_for_one_record_share_a_record_key() {
        let id = HubSpotId::parse("512").unwrap();
        let a = SyncIntent::hubspot(ObjectPair::Contact, id.clone(), Trigger::Webhook, at());
        let b = SyncIntent::hubspot(ObjectPair::Contact, id, Trigger::Sweep, at());
        assert_eq!(a.record_key(), b.record_key());
        assert_eq!(a.record_key(), "hubspot:contact:512");
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::model::HubSpotId;
    use chrono::TimeZone;

    #[test]
    fn an_intent_names_its_system_salesforce_or_hubspot_on_the_wire() {
        let at = chrono::Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default();
        let id = HubSpotId::parse("512").unwrap();
        let intent = SyncIntent::hubspot(crate::model::ObjectPair::Contact, id, Trigger::Webhook, at);
        let json = intent.to_json().unwrap();
        assert!(json.contains(r#""system":"hubspot""#), "{json}");
        assert_eq!(SyncIntent::from_json(&json).unwrap(), intent);
    }
}
