//! The mapping model: one HubSpot property paired with one Salesforce field,
//! its rule, and the special role some mappings play (SPEC sections 2 and 4).
//!
//! Owns the shape of a checked mapping and the names derived from it (the
//! fingerprint key, the human description used in errors). It does not parse
//! or check anything: a [`FieldMapping`] only comes out of
//! [`super::defaults`] or the checks in [`super::entry`], so code holding one
//! may rely on its invariants.

use super::rule::SyncRule;
use super::types::{HubSpotType, SalesforceType};
use crate::model::SfObject;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a mapping is for, beyond copying a value: the special fields of SPEC
/// section 4 behave differently in the decision.
///
/// Only built-in default mappings carry a special role; a file cannot give
/// one to a custom mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialField {
    /// `hs_email_optout` <-> `HasOptedOutOfEmail`: opt-out only ever travels.
    EmailOptOut,
    /// The owner: always two-way, values translated through exact user matches.
    Owner,
    /// Salesforce `AccountId` on a Contact: follows the account link.
    AccountId,
}

/// One field mapping of one object pair (SPEC section 2).
///
/// Invariants, upheld by the config checks: the HubSpot and Salesforce types
/// are compatible under `rule` ([`super::types_compatible`]); within a pair no
/// two mappings that serve the same Salesforce object share a HubSpot property
/// or a Salesforce field; a formula field or a read-only HubSpot property is
/// never under a rule that writes Salesforce; the owner mapping is two-way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldMapping {
    /// A human name ("First Name"), shown in reasons and errors.
    pub name: String,
    /// The HubSpot property's internal name (`firstname`), trimmed.
    pub hubspot_property: String,
    /// The HubSpot property's field type.
    pub hubspot_type: HubSpotType,
    /// The Salesforce field's API name (`FirstName`), trimmed.
    pub salesforce_field: String,
    /// The Salesforce field's describe type.
    pub salesforce_type: SalesforceType,
    /// Which way values travel (SPEC section 3).
    pub rule: SyncRule,
    /// For the contact pair: the Salesforce objects the mapping serves (one
    /// mapping serves Lead and Contact when they share the API name). For the
    /// other pairs, the pair's single object.
    pub salesforce_objects: BTreeSet<SfObject>,
    /// The Salesforce field is a formula (describe `calculated: true`): never
    /// written, and its changes alone never trigger a sync.
    pub salesforce_formula: bool,
    /// Built-in default mapping: may be re-ruled, never deleted.
    pub builtin: bool,
    /// The special role of a built-in mapping, if any.
    pub special: Option<SpecialField>,
}

/// Between the two names of a [`FieldMapping::key`].
const KEY_JOIN: &str = "<->";

impl FieldMapping {
    /// The stable key of the mapping within its pair: the fingerprint key.
    ///
    /// Stored fingerprints are keyed by it, so changing its format would make
    /// every stored fingerprint look changed.
    pub fn key(&self) -> String {
        // (Made for every mapping of every record decided: pushed, not
        // formatted.)
        let mut key = String::with_capacity(self.hubspot_property.len() + KEY_JOIN.len() + self.salesforce_field.len());
        key.push_str(&self.hubspot_property);
        key.push_str(KEY_JOIN);
        key.push_str(&self.salesforce_field);
        key
    }

    /// Whether `key` is this mapping's [`FieldMapping::key`], without making
    /// the key.
    pub fn has_key(&self, key: &str) -> bool {
        key.strip_prefix(self.hubspot_property.as_str())
            .and_then(|rest| rest.strip_prefix(KEY_JOIN))
            .is_some_and(|field| field == self.salesforce_field)
    }

    /// Whether the mapping applies to records of this Salesforce object.
    pub fn serves(&self, object: SfObject) -> bool {
        self.salesforce_objects.contains(&object)
    }

    /// The mapping as error messages name it: "`First Name` (firstname <-> FirstName)".
    pub(super) fn describe(&self) -> String {
        format!("`{}` ({} <-> {})", self.name, self.hubspot_property, self.salesforce_field)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::SyncConfig;
    use crate::model::ObjectPair;

    #[test]
    fn a_key_is_recognised_without_being_made() {
        let config = SyncConfig::default();
        let mappings = config.mappings(ObjectPair::Contact);
        let title = mappings.iter().find(|m| m.hubspot_property == "jobtitle").unwrap();
        assert!(title.has_key(&title.key()));
        assert!(title.has_key("jobtitle<->Title"));
        for other in ["jobtitle<->Titles", "jobtitle<-Title", "jobtitl<->Title", "jobtitle<->", "Title"] {
            assert!(!title.has_key(other), "{other}");
        }
        for m in mappings {
            assert_eq!(mappings.iter().filter(|n| n.has_key(&m.key())).count(), 1, "{}", m.key());
        }
    }
}
