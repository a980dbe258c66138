//! Links that move to another record (SPEC section 1): a converted Lead's
//! link passes to the Contact it became, and a merge survivor with no link
//! of its own inherits the link of a record merged into it.
//!
//! The record at the new end is another record than the one the link's
//! fingerprints describe: it holds what the conversion or the merge gave it,
//! not necessarily what was last synced. [`moved_link_state`] keeps the
//! fingerprint of a field only where the new record still holds the value
//! the fingerprint describes (the field came across unchanged), so that a
//! change made since on the other side still travels as a change. Every
//! other field of the new record is marked never written: the next sync
//! applies the first-sync rules to it, so a field the conversion or merge
//! did not carry over is never read as "cleared" and blanked on the other
//! side.

use crate::config::SyncConfig;
use crate::decision::LinkState;
use crate::model::{ObjectPair, RecordObject, RecordSnapshot, SfObject};
use crate::rules::{self, Fingerprint};
use crate::{FieldMapping, SyncRule};

/// The link state of a link moved so that `to` is its record on `to`'s
/// side; `salesforce_object` is the Salesforce object the link is of after
/// the move (the Contact of a converted Lead). Fingerprints of mappings that
/// do not serve that object are left behind.
pub fn moved_link_state(
    config: &SyncConfig,
    pair: ObjectPair,
    salesforce_object: SfObject,
    state: &LinkState,
    to: &RecordSnapshot,
) -> LinkState {
    let salesforce_side = matches!(to.object, RecordObject::Salesforce(_));
    let mut moved = LinkState {
        // The Salesforce record changed: its formula fields count as moved.
        salesforce_last_modified: if salesforce_side { None } else { state.salesforce_last_modified },
        ..LinkState::default()
    };
    for mapping in config.mappings(pair).iter().filter(|m| m.serves(salesforce_object)) {
        let key = mapping.key();
        let Some(print) = state.fingerprints.get(&key) else {
            if mapping.rule != SyncRule::DontSync {
                moved.never_written.insert(key);
            }
            continue;
        };
        let held = if salesforce_side { &print.salesforce } else { &print.hubspot };
        let came_across = !state.never_written.contains(&key) && *held == current_print(mapping, to, salesforce_side);
        if came_across || mapping.rule == SyncRule::DontSync {
            // A field that does not sync keeps what was known of it.
            moved.fingerprints.insert(key, *print);
        } else {
            moved.never_written.insert(key);
        }
    }
    moved
}

/// The link state of a link made to a record nothing was written to yet (a
/// contact re-matched by email in a new Salesforce org): no fingerprints,
/// and every synced mapping of `salesforce_object` marked never written, so
/// that the next sync applies the first-sync rules to each field and reads
/// no value as "cleared".
pub fn unwritten_link_state(config: &SyncConfig, pair: ObjectPair, salesforce_object: SfObject) -> LinkState {
    LinkState {
        never_written: config
            .mappings(pair)
            .iter()
            .filter(|m| m.serves(salesforce_object) && m.rule != SyncRule::DontSync)
            .map(FieldMapping::key)
            .collect(),
        ..LinkState::default()
    }
}

/// The fingerprint of what `record` holds in `mapping`'s field on its side.
fn current_print(mapping: &FieldMapping, record: &RecordSnapshot, salesforce_side: bool) -> Fingerprint {
    let field = if salesforce_side { &mapping.salesforce_field } else { &mapping.hubspot_property };
    let value = rules::normalise(record.fields.get(field), mapping.hubspot_type, mapping.salesforce_type);
    Fingerprint::of(&mapping.key(), &value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{DecisionContext, DecisionInput, decide};
    use crate::model::{HubSpotId, SalesforceId};
    use crate::rules::FieldFingerprint;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::{Value, json};

    const TITLE: &str = "jobtitle<->Title";
    const PHONE: &str = "phone<->Phone";

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::minutes(minutes)
    }

    fn fields(value: Value) -> crate::model::FieldMap {
        value.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn contact(values: Value) -> RecordSnapshot {
        RecordSnapshot::salesforce(
            SalesforceId::parse("003000000000001").unwrap(),
            SfObject::Contact,
            fields(values),
            t(5),
        )
    }

    fn hubspot(values: Value) -> RecordSnapshot {
        RecordSnapshot::hubspot(HubSpotId::parse("512").unwrap(), ObjectPair::Contact, fields(values), t(6))
    }

    /// What a Lead and its HubSpot contact held at their last sync.
    fn lead_state() -> LinkState {
        let mut state = LinkState { salesforce_last_modified: Some(t(0)), ..LinkState::default() };
        for (key, value) in [(TITLE, Some("CTO")), (PHONE, Some("+1 555 0100")), ("company<->Company", Some("Acme"))] {
            let value = value.map(str::to_owned);
            state.fingerprints.insert(key.to_owned(), FieldFingerprint::of(key, &value, &value));
        }
        state
    }

    #[test]
    fn fields_the_contact_holds_unchanged_keep_their_fingerprints_and_the_others_sync_as_new() {
        let config = SyncConfig::default();
        let moved = moved_link_state(
            &config,
            ObjectPair::Contact,
            SfObject::Contact,
            &lead_state(),
            &contact(json!({"Title": "CTO", "Phone": null, "MailingCity": "Oslo"})),
        );
        assert!(moved.fingerprints.contains_key(TITLE), "the title came across");
        assert!(!moved.fingerprints.contains_key(PHONE), "the phone did not come across");
        assert!(moved.never_written.contains(PHONE));
        assert!(!moved.fingerprints.contains_key("company<->Company"), "a Lead-only mapping stays behind");
        assert!(!moved.never_written.contains("company<->Company"));
        assert!(moved.never_written.iter().any(|k| k.ends_with("<->MailingCity")), "{moved:?}");
        assert_eq!(moved.salesforce_last_modified, None);
    }

    #[test]
    fn a_field_the_contact_lacks_is_filled_from_hubspot_and_never_blanks_it() {
        let config = SyncConfig::default();
        let moved = moved_link_state(
            &config,
            ObjectPair::Contact,
            SfObject::Contact,
            &lead_state(),
            &contact(json!({"Title": "CTO", "Phone": null})),
        );
        let sf = contact(json!({"Title": "CTO", "Phone": null}));
        let hs = hubspot(json!({"jobtitle": "Chief", "phone": "+1 555 0100"}));
        let decision = decide(&DecisionInput {
            config: &config,
            pair: ObjectPair::Contact,
            salesforce: Some(&sf),
            hubspot: Some(&hs),
            link: Some(&moved),
            owners: None,
            context: DecisionContext::default(),
        });
        assert_eq!(decision.salesforce_writes.get("Phone"), Some(&json!("+1 555 0100")), "{decision:?}");
        assert!(!decision.hubspot_writes.contains_key("phone"), "{decision:?}");
        // The title came across unchanged: HubSpot's edit is a change, and
        // under the default rule Salesforce's value is kept and goes back.
        assert_eq!(decision.hubspot_writes.get("jobtitle"), Some(&json!("CTO")), "{decision:?}");
    }

    #[test]
    fn a_hubspot_survivor_keeps_the_fingerprints_of_the_values_it_holds() {
        let config = SyncConfig::default();
        let state = lead_state();
        let moved = moved_link_state(
            &config,
            ObjectPair::Contact,
            SfObject::Lead,
            &state,
            &hubspot(json!({"jobtitle": "CTO", "phone": "+1 555 0111"})),
        );
        assert_eq!(moved.fingerprints.get(TITLE), state.fingerprints.get(TITLE));
        assert!(moved.never_written.contains(PHONE));
        assert!(moved.never_written.contains("company<->Company"), "the survivor has no company: {moved:?}");
        assert_eq!(moved.salesforce_last_modified, Some(t(0)), "the Salesforce record did not change");
    }

    #[test]
    fn an_unwritten_link_gets_the_first_sync_rules_and_blanks_nothing() {
        let config = SyncConfig::default();
        let state = unwritten_link_state(&config, ObjectPair::Contact, SfObject::Contact);
        assert!(state.fingerprints.is_empty());
        assert!(state.never_written.contains(TITLE) && state.never_written.contains(PHONE), "{state:?}");
        assert!(!state.never_written.contains("company<->Company"), "a Lead-only mapping: {state:?}");
        // A record of a new org with no phone and another title: nothing
        // reads as cleared, the blank is filled from HubSpot.
        let sf = contact(json!({"Title": "CTO", "Phone": null}));
        let hs = hubspot(json!({"jobtitle": "Chief", "phone": "+1 555 0100"}));
        let decision = decide(&DecisionInput {
            config: &config,
            pair: ObjectPair::Contact,
            salesforce: Some(&sf),
            hubspot: Some(&hs),
            link: Some(&state),
            owners: None,
            context: DecisionContext::default(),
        });
        assert_eq!(decision.salesforce_writes.get("Phone"), Some(&json!("+1 555 0100")), "{decision:?}");
        assert!(!decision.hubspot_writes.contains_key("phone"), "{decision:?}");
    }
}
