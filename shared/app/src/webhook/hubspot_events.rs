//! HubSpot webhook deliveries: the JSON array of events (reference B10).
//!
//! Owns the wire shape only; signature checks belong to the HubSpot client,
//! and turning events into sync intents to the webhook use case.

use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// One event of a delivery. Unknown fields are ignored; the ones the sync
/// needs are typed (a delivery holds up to 100 events, so what the sync does
/// not read, such as `changeSource` and `sourceId`, is not kept). Its text
/// is borrowed from the delivery's body where it has no escapes (a record
/// the sync imports comes back as an event per property it set).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubspotEvent<'a> {
    /// Dedupe key (repeats on retries).
    pub event_id: u64,
    /// e.g. `contact.propertyChange`.
    #[serde(borrow)]
    pub subscription_type: Cow<'a, str>,
    /// The record id.
    #[serde(default)]
    pub object_id: Option<u64>,
    /// Event time, epoch milliseconds.
    #[serde(default)]
    pub occurred_at: Option<i64>,
    #[serde(default)]
    pub attempt_number: Option<u32>,
    #[serde(default, borrow, deserialize_with = "text_in_place")]
    pub property_name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "text_in_place")]
    pub property_value: Option<Cow<'a, str>>,
    /// Merge: the surviving record.
    #[serde(default)]
    pub primary_object_id: Option<u64>,
    #[serde(default)]
    pub merged_object_ids: Vec<u64>,
    #[serde(default)]
    pub new_object_id: Option<u64>,
    /// Association changes.
    #[serde(default)]
    pub from_object_id: Option<u64>,
    #[serde(default)]
    pub to_object_id: Option<u64>,
}

/// Text that may be absent or `null`, borrowed from the body unless it has
/// escapes (serde borrows a `Cow` field, not one inside an `Option`).
fn text_in_place<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'a>>::deserialize(deserializer)?.map(|text| text.0))
}

/// What an event asks the sync to do. Every action but `Ignored` becomes
/// an intent per record: the sync reads the records and finds out for
/// itself what changed, so the action only decides which ids matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    Changed,
    Deleted,
    Merged,
    AssociationChanged,
    /// A subscription type the sync does not act on.
    Ignored,
}

impl HubspotEvent<'_> {
    /// The object part of the subscription type (`contact`, `company`, `deal`).
    pub fn object(&self) -> &str {
        self.subscription_type.split_once('.').map_or(&self.subscription_type, |(object, _)| object)
    }

    pub fn action(&self) -> EventAction {
        let kind = self.subscription_type.split_once('.').map_or("", |(_, kind)| kind);
        match kind {
            "creation" | "propertyChange" | "restore" => EventAction::Changed,
            "deletion" | "privacyDeletion" => EventAction::Deleted,
            "merge" => EventAction::Merged,
            "associationChange" => EventAction::AssociationChanged,
            _ => EventAction::Ignored,
        }
    }

    /// Every HubSpot record id this event concerns, sorted and without
    /// repeats: for a merge the survivor only (the records merged into it
    /// are [`HubspotEvent::merged_ids`], carried by the survivor's intent),
    /// for an association change the record it starts from.
    pub fn record_ids(&self) -> Vec<u64> {
        self.record_id().into_iter().collect()
    }

    /// The one record an event concerns, if any ([`HubspotEvent::record_ids`]
    /// without the list: every kind names one record at most).
    pub fn record_id(&self) -> Option<u64> {
        match self.action() {
            EventAction::Merged => self.survivor(),
            EventAction::AssociationChanged => self.from_object_id.or(self.object_id),
            EventAction::Ignored => None,
            _ => self.object_id,
        }
    }

    /// The record a merge leaves: the new record when HubSpot made one,
    /// else the primary.
    fn survivor(&self) -> Option<u64> {
        self.new_object_id.or(self.primary_object_id).or(self.object_id)
    }

    /// The records a merge event merged away, the primary first when it did
    /// not survive (its link is the one the survivor inherits first), then
    /// the others in the event's order, without repeats or the survivor.
    /// Empty for any other event.
    pub fn merged_ids(&self) -> Vec<u64> {
        if self.action() != EventAction::Merged {
            return Vec::new();
        }
        let survivor = self.survivor();
        let mut merged: Vec<u64> = Vec::new();
        for id in self.primary_object_id.into_iter().chain(self.merged_object_ids.iter().copied()) {
            if Some(id) != survivor && !merged.contains(&id) {
                merged.push(id);
            }
        }
        merged
    }
}

/// Parses a delivery body: a JSON array of events. One malformed event
/// fails the whole delivery (400): a wrong shape is the sender's fault,
/// and the sweep still finds the records.
pub fn parse(body: &[u8]) -> Result<Vec<HubspotEvent<'_>>, serde_json::Error> {
    serde_json::from_slice(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_of_two_events_parses_with_their_kinds() {
        let body = br#"[
          { "eventId": 100, "subscriptionId": 234567, "portalId": 12345678, "appId": 987654,
            "occurredAt": 1714563600000, "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0, "objectId": 512, "changeSource": "CRM_UI", "sourceId": "userId:45678",
            "propertyName": "email", "propertyValue": "ada.l@example.com" },
          { "eventId": 101, "occurredAt": 1714563601000, "subscriptionType": "company.deletion",
            "attemptNumber": 0, "objectId": 513, "changeFlag": "DELETED" }
        ]"#;
        let events = parse(body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].object(), "contact");
        assert_eq!(events[0].action(), EventAction::Changed);
        assert_eq!(events[0].record_ids(), vec![512]);
        assert_eq!(events[1].object(), "company");
        assert_eq!(events[1].action(), EventAction::Deleted);
    }

    #[test]
    fn a_merge_concerns_the_survivor_which_carries_every_merged_record() {
        let body = br#"[{"eventId":1,"subscriptionType":"contact.merge","objectId":5,
            "primaryObjectId":5,"mergedObjectIds":[6,7],"newObjectId":5}]"#;
        let events = parse(body).unwrap();
        assert_eq!(events[0].record_ids(), vec![5]);
        assert_eq!(events[0].merged_ids(), vec![6, 7]);
    }

    #[test]
    fn a_body_that_is_not_an_event_array_is_rejected() {
        assert!(parse(br#"{"eventId":1}"#).is_err());
        assert!(parse(b"[{\"objectId\":1}]").is_err());
    }
}
