//! Echoes: change notifications that report what the sync already knows.
//!
//! Every record the sync writes comes back as a change notification (a
//! HubSpot creation or property-change event). Such a notification needs no
//! sync when the link already holds what it reports: a sync triggered by it
//! would read both records only to find nothing to write. Recognising it
//! costs no API call, only the link.
//!
//! The creation of a linked record is known: the sync read or wrote the
//! record after it was made. So are the property changes HubSpot reports
//! with that creation (same record, same time) for properties that cannot
//! matter to the sync, and those that can whose value is known.
//!
//! A HubSpot property change is known when, for every mapping of that
//! property serving the linked Salesforce object, the link remembers that
//! HubSpot held exactly that value after the last sync. That is safe
//! whatever wrote the value: the sync decides from what the records hold
//! against what the link remembers, and for that property they agree. A
//! later change comes with its own notification. A property the mappings do
//! not carry, one the link was stored without writing, or one an inclusion
//! segment filters on is never known (a change there may move the contact
//! into or out of the segment).

use crate::config::{FieldMapping, InclusionSegment, SyncConfig, SyncRule};
use crate::decision::LinkState;
use crate::model::{ObjectPair, SfObject};
use crate::rules::{Fingerprint, normalise};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// What a HubSpot event reported of its record. Carried on a sync intent
/// (JSON: `"creation"`, `{"property":{"name":..,"value":..,"with_creation":..}}`)
/// when the link was not there yet at the door, so the worker can check again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reported {
    /// The record was created.
    Creation,
    /// A property took a value (`None`: blank); `with_creation`: reported
    /// with the record's creation (same record, same time).
    Property { name: String, value: Option<String>, with_creation: bool },
}

/// What echo recognition reads of a link: per mapping key, the print of
/// what HubSpot held after the last sync, and whether the link was stored
/// without writing the mapping. Read from the domain's [`LinkState`], or
/// straight from a stored form without decoding the rest of it.
pub trait LinkPrints {
    /// HubSpot's print for the mapping `key`, if the link holds one.
    fn hubspot_print(&self, key: &str) -> Option<Fingerprint>;
    /// Whether the link was stored without writing the mapping `key`.
    fn never_written(&self, key: &str) -> bool;
}

impl LinkPrints for LinkState {
    fn hubspot_print(&self, key: &str) -> Option<Fingerprint> {
        self.fingerprints.get(key).map(|p| p.hubspot)
    }
    fn never_written(&self, key: &str) -> bool {
        self.never_written.contains(key)
    }
}

/// Echo recognition for the links of one pair and Salesforce object: the
/// mappings serving the object, indexed by HubSpot property (names compare
/// ignoring ASCII case) with their keys made once, so that checking a
/// delivery's hundred events looks each property up instead of scanning
/// every mapping per event.
pub struct HubspotEchoes<'c> {
    /// Lower-cased HubSpot property -> the mappings carrying it, with keys.
    by_property: HashMap<String, Vec<(&'c FieldMapping, String)>>,
    /// The property the inclusion segment filters on (lower-cased).
    filtered: Option<String>,
}

impl<'c> HubspotEchoes<'c> {
    pub fn new(config: &'c SyncConfig, pair: ObjectPair, salesforce_object: SfObject) -> Self {
        let mut by_property: HashMap<String, Vec<(&'c FieldMapping, String)>> = HashMap::new();
        for m in config.mappings(pair).iter().filter(|m| m.serves(salesforce_object)) {
            by_property.entry(m.hubspot_property.to_ascii_lowercase()).or_default().push((m, m.key()));
        }
        let filtered = match &config.inclusion_segment {
            Some(InclusionSegment::PropertyFilter { property, .. }) if pair == ObjectPair::Contact => {
                Some(property.to_ascii_lowercase())
            }
            _ => None,
        };
        HubspotEchoes { by_property, filtered }
    }

    fn mappings(&self, property: &str) -> &[(&'c FieldMapping, String)] {
        let lower;
        let name = if property.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = property.to_ascii_lowercase();
            lower.as_str()
        } else {
            property
        };
        self.by_property.get(name).map_or(&[], Vec::as_slice)
    }

    fn filtered(&self, property: &str) -> bool {
        self.filtered.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(property))
    }

    /// Whether everything HubSpot events reported of a linked record is
    /// what its link already holds: the record's creation; a property
    /// reported with the creation that cannot matter to the sync, or whose
    /// value is known; a property change whose value is known. Nothing
    /// reported is no echo.
    pub fn is_echo(&self, link: &impl LinkPrints, reported: &[Reported]) -> bool {
        !reported.is_empty()
            && reported.iter().all(|r| match r {
                Reported::Creation => true,
                Reported::Property { name, value, with_creation } => {
                    self.value_known(link, name, value.as_deref()) || (*with_creation && !self.matters(name))
                }
            })
    }

    /// Whether a change of HubSpot's `property` can matter to the sync: a
    /// mapping serving the object carries it, or the inclusion segment
    /// filters on it.
    pub fn matters(&self, property: &str) -> bool {
        self.filtered(property) || !self.mappings(property).is_empty()
    }

    /// Whether HubSpot's `property` holding `value` (as a webhook reports
    /// it; `None` or empty is blank) is what the link remembers for
    /// HubSpot, for every mapping carrying the property.
    pub fn value_known(&self, link: &impl LinkPrints, property: &str, value: Option<&str>) -> bool {
        if self.filtered(property) {
            return false;
        }
        let mappings = self.mappings(property);
        if mappings.is_empty() {
            return false;
        }
        let raw = value.map(|v| Value::String(v.to_owned()));
        mappings.iter().all(|(m, key)| {
            if m.rule == SyncRule::DontSync || link.never_written(key) {
                return false;
            }
            let Some(remembered) = link.hubspot_print(key) else { return false };
            remembered == Fingerprint::of(key, &normalise(raw.as_ref(), m.hubspot_type, m.salesforce_type))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::rules::FieldFingerprint;

    // [`HubspotEchoes::is_echo`] for one record.
    fn hubspot_echo(
        config: &SyncConfig,
        pair: ObjectPair,
        salesforce_object: SfObject,
        link: &impl LinkPrints,
        reported: &[Reported],
    ) -> bool {
        HubspotEchoes::new(config, pair, salesforce_object).is_echo(link, reported)
    }

    // [`HubspotEchoes::matters`] for one property.
    fn hubspot_property_matters(
        config: &SyncConfig,
        pair: ObjectPair,
        salesforce_object: SfObject,
        property: &str,
    ) -> bool {
        HubspotEchoes::new(config, pair, salesforce_object).matters(property)
    }

    // [`HubspotEchoes::value_known`] for one property.
    fn hubspot_value_known(
        config: &SyncConfig,
        pair: ObjectPair,
        salesforce_object: SfObject,
        link: &impl LinkPrints,
        property: &str,
        value: Option<&str>,
    ) -> bool {
        HubspotEchoes::new(config, pair, salesforce_object).value_known(link, property, value)
    }

    fn config(yaml: &str) -> SyncConfig {
        SyncConfig::from_yaml_str(yaml).unwrap()
    }

    fn remembering(key: &str, salesforce: Option<&str>, hubspot: Option<&str>) -> LinkState {
        let mut link = LinkState::default();
        link.fingerprints.insert(
            key.to_owned(),
            FieldFingerprint::of(key, &salesforce.map(str::to_owned), &hubspot.map(str::to_owned)),
        );
        link
    }

    fn title_key(config: &SyncConfig) -> String {
        config.mappings(ObjectPair::Contact).iter().find(|m| m.hubspot_property == "jobtitle").unwrap().key()
    }

    #[test]
    fn a_property_reported_in_another_case_is_the_mapped_one() {
        let config = config("version: 1\n");
        let link = remembering(&title_key(&config), Some("CTO"), Some("CTO"));
        let echoes = HubspotEchoes::new(&config, ObjectPair::Contact, SfObject::Lead);
        for name in ["jobtitle", "JobTitle", "JOBTITLE"] {
            assert!(echoes.matters(name), "{name}");
            assert!(echoes.value_known(&link, name, Some("CTO")), "{name}");
            assert!(!echoes.value_known(&link, name, Some("CEO")), "{name}");
        }
        assert!(!echoes.matters("favourite_colour"));
        assert!(!echoes.value_known(&link, "favourite_colour", Some("CTO")));
    }

    #[test]
    fn a_value_the_link_remembers_for_hubspot_is_known_and_any_other_is_not() {
        let config = config("version: 1\n");
        let link = remembering(&title_key(&config), Some("CTO"), Some("CTO"));
        let known = |value| hubspot_value_known(&config, ObjectPair::Contact, SfObject::Lead, &link, "jobtitle", value);
        assert!(known(Some("CTO")));
        assert!(!known(Some("CEO")), "a new value is a change");
        assert!(!known(None), "a blank is a change");
        assert!(!known(Some("cto")), "text compares exactly");
    }

    #[test]
    fn the_hubspot_side_is_compared_not_salesforce() {
        let config = config("version: 1\n");
        // A sync that left the sides different on purpose.
        let link = remembering(&title_key(&config), Some("Engineer"), Some("CTO"));
        let known = |value| hubspot_value_known(&config, ObjectPair::Contact, SfObject::Lead, &link, "jobtitle", value);
        assert!(known(Some("CTO")));
        assert!(!known(Some("Engineer")));
    }

    #[test]
    fn unmapped_unremembered_never_written_and_filtered_properties_are_never_known() {
        let config = config("version: 1\n");
        let key = title_key(&config);
        let link = remembering(&key, Some("CTO"), Some("CTO"));
        let contact = |link: &LinkState, property, value| {
            hubspot_value_known(&config, ObjectPair::Contact, SfObject::Lead, link, property, value)
        };
        assert!(!contact(&link, "favourite_colour", Some("CTO")), "not mapped");
        assert!(!hubspot_property_matters(&config, ObjectPair::Contact, SfObject::Lead, "favourite_colour"));
        assert!(hubspot_property_matters(&config, ObjectPair::Contact, SfObject::Lead, "jobtitle"));
        assert!(hubspot_property_matters(&config, ObjectPair::Contact, SfObject::Lead, "hs_lead_status"));
        assert!(
            !hubspot_property_matters(&config, ObjectPair::Contact, SfObject::Contact, "hs_lead_status"),
            "a Lead-only mapping does not serve a Contact"
        );
        assert!(!contact(&LinkState::default(), "jobtitle", Some("CTO")), "not remembered");
        let mut unwritten = link.clone();
        unwritten.never_written.insert(key);
        assert!(!contact(&unwritten, "jobtitle", Some("CTO")), "stored without writing");

        let filtered = SyncConfig::from_yaml_str(
            "version: 1\ninclusion_segment:\n  property_filter:\n    property: jobtitle\n    operator: eq\n    value: CTO\n",
        )
        .unwrap();
        let link = remembering(&title_key(&filtered), Some("CTO"), Some("CTO"));
        assert!(!hubspot_value_known(&filtered, ObjectPair::Contact, SfObject::Lead, &link, "jobtitle", Some("CTO")));
        assert!(hubspot_property_matters(&filtered, ObjectPair::Contact, SfObject::Lead, "jobtitle"));
    }

    #[test]
    fn a_creation_and_what_came_with_it_are_an_echo_of_a_linked_record() {
        let config = config("version: 1\n");
        let link = remembering(&title_key(&config), Some("CTO"), Some("CTO"));
        let property = |name: &str, value: &str, with_creation| Reported::Property {
            name: name.into(),
            value: Some(value.into()),
            with_creation,
        };
        let echo = |reported: &[Reported]| hubspot_echo(&config, ObjectPair::Contact, SfObject::Lead, &link, reported);
        assert!(echo(&[
            Reported::Creation,
            property("email", "a@example.com", true),
            property("jobtitle", "CTO", true)
        ]));
        assert!(!echo(&[Reported::Creation, property("jobtitle", "CEO", true)]), "a value the link does not hold");
        assert!(!echo(&[property("email", "b@example.com", false)]), "an email changed later matters");
        assert!(echo(&[property("jobtitle", "CTO", false)]));
        assert!(!echo(&[]), "nothing reported");
    }

    #[test]
    fn values_compare_as_the_mapping_normalises_them() {
        let config = config("version: 1\n");
        let mapping =
            config.mappings(ObjectPair::Contact).iter().find(|m| m.hubspot_property == "numemployees").unwrap();
        let key = mapping.key();
        let link = remembering(&key, Some("250"), Some("250"));
        let known =
            |value| hubspot_value_known(&config, ObjectPair::Contact, SfObject::Lead, &link, "numemployees", value);
        assert!(known(Some("250.0")), "numbers compare by value");
        assert!(!known(Some("251")));
    }
}
