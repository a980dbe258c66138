//! YAML parsing of the config text: the visitors that turn a file into a
//! [`SyncConfig`] and attach line numbers to every refusal.
//!
//! Owns the file format (version 1, unknown keys refused, defaults for absent
//! keys) and the way errors get their place: mapping entries are checked while
//! they are deserialised, so `serde_yaml_ng` adds the entry's path, line and
//! column to the message [`super::entry`] wrote. Parsing is from a string
//! only; where the string comes from (a file, a Lambda parameter) is the
//! caller's business, named by the optional source name.

use super::defaults::{default_contact_mappings, default_deal_mappings};
use super::deletions::DeletedRecordsSettings;
use super::entry::{ListState, RawMapping, apply_entry};
use super::error::ConfigError;
use super::mapping::FieldMapping;
use super::segment::InclusionSegment;
use super::sync_config::{NewContactObject, ObjectSwitches, SyncConfig, default_cap};
use crate::model::ObjectPair;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroU64;

impl SyncConfig {
    /// Parses and checks a config text. An empty text is the all-defaults
    /// config. Errors carry no source name; see [`Self::from_yaml_source`].
    pub fn from_yaml_str(text: &str) -> Result<Self, ConfigError> {
        parse(text, None)
    }

    /// Parses and checks a config text that came from `source_name` (a file
    /// path, a parameter name), which the error's `Display` then names.
    pub fn from_yaml_source(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        parse(text, Some(source_name))
    }
}

/// Parses `text`; a YAML or check failure becomes [`ConfigError::Invalid`]
/// with the parser's line and column.
fn parse(text: &str, source_name: Option<&str>) -> Result<SyncConfig, ConfigError> {
    // An empty file is the all-defaults config.
    if text.trim().is_empty() {
        return Ok(SyncConfig::default());
    }
    // Refused before the parser sees it: its time grows with the square
    // of the nesting depth.
    if let Err(refused) = super::bounds::check(text) {
        return Err(ConfigError::Invalid {
            source_name: source_name.map(str::to_owned),
            line: refused.line,
            column: None,
            source: de::Error::custom(&refused.message),
            message: refused.message,
        });
    }
    let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|source| {
        let location = source.location();
        ConfigError::Invalid {
            source_name: source_name.map(str::to_owned),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message: source.to_string(),
            source,
        }
    })?;
    Ok(raw.into_config())
}

/// The file as written. Unknown keys are refused; absent keys take the
/// defaults of SPEC section 2.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, deserialize_with = "version_one")]
    #[allow(dead_code)]
    version: Option<u32>,
    #[serde(default)]
    objects: ObjectSwitches,
    #[serde(default)]
    inclusion_segment: Option<InclusionSegment>,
    #[serde(default)]
    new_contact_object: NewContactObject,
    #[serde(default = "default_true")]
    create_hubspot_contact_from_salesforce: bool,
    #[serde(default)]
    deleted_records: DeletedRecordsSettings,
    #[serde(default = "default_cap")]
    salesforce_api_cap_per_24h: NonZeroU64,
    #[serde(default)]
    mappings: RawMappings,
}

/// The only file format so far is version 1.
fn version_one<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let version = Option::<u32>::deserialize(deserializer)?;
    match version {
        None | Some(1) => Ok(version),
        Some(other) => Err(de::Error::custom(format!("version {other} is not supported; fix: set `version: 1`"))),
    }
}

/// `create_hubspot_contact_from_salesforce` is on unless the file says no.
fn default_true() -> bool {
    true
}

impl RawConfig {
    /// The checked config. Every check already ran while deserialising, so
    /// this cannot fail; an absent pair list means that pair's defaults.
    fn into_config(self) -> SyncConfig {
        SyncConfig {
            objects: self.objects,
            inclusion_segment: self.inclusion_segment,
            new_contact_object: self.new_contact_object,
            create_hubspot_contact_from_salesforce: self.create_hubspot_contact_from_salesforce,
            deleted_records: self.deleted_records,
            salesforce_api_cap_per_24h: self.salesforce_api_cap_per_24h,
            contact_mappings: self.mappings.contact.unwrap_or_else(default_contact_mappings),
            company_mappings: self.mappings.company.unwrap_or_default(),
            deal_mappings: self.mappings.deal.unwrap_or_else(default_deal_mappings),
        }
    }
}

/// The `mappings:` section: one optional list per object pair, each already
/// checked entry by entry. A hand-written visitor (rather than a derive) so
/// each list knows its pair while its entries are checked.
#[derive(Default)]
struct RawMappings {
    contact: Option<Vec<FieldMapping>>,
    company: Option<Vec<FieldMapping>>,
    deal: Option<Vec<FieldMapping>>,
}

impl<'de> Deserialize<'de> for RawMappings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MappingsVisitor;
        impl<'de> Visitor<'de> for MappingsVisitor {
            type Value = RawMappings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with the keys contact, company, deal")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawMappings, E> {
                Ok(RawMappings::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMappings, A::Error> {
                let mut out = RawMappings::default();
                while let Some(key) = map.next_key::<String>()? {
                    let (pair, slot) = match key.as_str() {
                        "contact" => (ObjectPair::Contact, &mut out.contact),
                        "company" => (ObjectPair::Company, &mut out.company),
                        "deal" => (ObjectPair::Deal, &mut out.deal),
                        other => {
                            return Err(de::Error::unknown_field(other, &["contact", "company", "deal"]));
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::duplicate_field(match pair {
                            ObjectPair::Contact => "contact",
                            ObjectPair::Company => "company",
                            ObjectPair::Deal => "deal",
                        }));
                    }
                    *slot = Some(map.next_value_seed(MappingListSeed { pair })?);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_any(MappingsVisitor)
    }
}

/// Deserialises one pair's list of mappings, starting from the defaults.
struct MappingListSeed {
    pair: ObjectPair,
}

impl<'de> DeserializeSeed<'de> for MappingListSeed {
    type Value = Vec<FieldMapping>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MappingListSeed {
    type Value = Vec<FieldMapping>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of field mappings")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(initial_mappings(self.pair))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let state = RefCell::new(ListState { mappings: initial_mappings(self.pair), overridden: BTreeSet::new() });
        let mut index = 0usize;
        while seq.next_element_seed(EntrySeed { pair: self.pair, index, state: &state })?.is_some() {
            index += 1;
        }
        Ok(state.into_inner().mappings)
    }
}

/// What a pair's list starts from before the file's entries: the contact
/// defaults (which entries may re-rule but not remove); nothing for the others
/// (deal defaults apply only when the file has no `deal:` list at all).
fn initial_mappings(pair: ObjectPair) -> Vec<FieldMapping> {
    match pair {
        ObjectPair::Contact => default_contact_mappings(),
        ObjectPair::Company | ObjectPair::Deal => Vec::new(),
    }
}

/// Deserialises one entry and applies it to the pair's list at once, so that
/// a refusal is raised inside the entry and carries the entry's line.
struct EntrySeed<'s> {
    pair: ObjectPair,
    index: usize,
    state: &'s RefCell<ListState>,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field mapping (hubspot, salesforce, rule, ...)")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let raw = RawMapping::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let mut state = self.state.borrow_mut();
        apply_entry(self.pair, self.index, raw, &mut state).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_SALESFORCE_API_CAP, SyncRule};
    use crate::model::SfObject;

    fn invalid(yaml: &str) -> (Option<usize>, String) {
        match SyncConfig::from_yaml_str(yaml) {
            Ok(_) => panic!("config was accepted:\n{yaml}"),
            Err(ConfigError::Invalid { line, message, .. }) => (line, message),
        }
    }

    #[test]
    fn an_empty_file_gives_the_defaults_of_the_spec() {
        let config = SyncConfig::from_yaml_str("").unwrap();
        assert_eq!(config, SyncConfig::default());
        assert!(config.objects.contacts());
        assert!(!config.objects.companies && !config.objects.deals && !config.objects.tasks);
        assert_eq!(config.inclusion_segment, None);
        assert_eq!(config.new_contact_object, NewContactObject::Lead);
        assert!(config.create_hubspot_contact_from_salesforce);
        assert_eq!(config.salesforce_api_cap_per_24h.get(), DEFAULT_SALESFORCE_API_CAP);
        assert!(
            config
                .mappings(ObjectPair::Contact)
                .iter()
                .filter(|m| m.special.is_none())
                .all(|m| m.rule == SyncRule::PreferSalesforceUnlessBlank)
        );
    }

    #[test]
    fn the_documented_example_config_loads() {
        let text = include_str!("../../../../config/crm-sync.example.yaml");
        let config = SyncConfig::from_yaml_str(text).unwrap();
        assert!(config.objects.companies);
        assert_eq!(config.salesforce_api_cap_per_24h.get(), 20_000);
        let title = config.mapping(ObjectPair::Contact, "jobtitle<->Title").unwrap();
        assert_eq!(title.rule, SyncRule::TwoWay);
        assert!(title.builtin);
        assert_eq!(config.mappings(ObjectPair::Contact).len(), 30);
        assert_eq!(config.mappings(ObjectPair::Company).len(), 3);
        assert_eq!(config.mappings(ObjectPair::Deal).len(), 3);
        let formula = config.mapping(ObjectPair::Contact, "lifetime_value<->Lifetime_Value__c").unwrap();
        assert!(formula.salesforce_formula);
        assert_eq!(formula.salesforce_objects, BTreeSet::from([SfObject::Contact]));
    }

    #[test]
    fn object_switches_new_contact_object_create_policy_and_cap_are_read() {
        let config = SyncConfig::from_yaml_str(
            "objects: {companies: true, deals: true, tasks: true}\n\
             new_contact_object: contact\n\
             create_hubspot_contact_from_salesforce: false\n\
             salesforce_api_cap_per_24h: 5000\n",
        )
        .unwrap();
        assert!(config.objects.syncs(ObjectPair::Company));
        assert!(config.objects.syncs(ObjectPair::Deal));
        assert!(config.objects.tasks);
        assert_eq!(config.new_contact_object, NewContactObject::Contact);
        assert!(!config.create_hubspot_contact_from_salesforce);
        assert_eq!(config.salesforce_api_cap_per_24h.get(), 5000);
    }

    #[test]
    fn deleted_records_keep_the_counterpart_unless_a_pair_says_delete() {
        use crate::config::DeletedRecords;
        let defaults = SyncConfig::default().deleted_records;
        for pair in [ObjectPair::Contact, ObjectPair::Company, ObjectPair::Deal] {
            assert_eq!(defaults.of(pair), DeletedRecords::KeepCounterpart);
        }
        let config =
            SyncConfig::from_yaml_str("deleted_records:\n  contact: delete_counterpart\n  deal: keep_counterpart\n")
                .unwrap();
        assert!(config.deleted_records.deletes_counterpart(ObjectPair::Contact));
        assert!(!config.deleted_records.deletes_counterpart(ObjectPair::Company));
        assert!(!config.deleted_records.deletes_counterpart(ObjectPair::Deal));
    }

    #[test]
    fn a_wrong_deleted_records_value_is_refused_with_its_line_and_the_allowed_values() {
        let (line, message) = invalid("version: 1\ndeleted_records:\n  company: delete_everything\n");
        assert_eq!(line, Some(3), "{message}");
        assert!(message.starts_with("deleted_records"), "{message}");
        assert!(message.contains("unknown value `delete_everything`"), "{message}");
        assert!(message.contains("keep_counterpart, delete_counterpart"), "{message}");
        let (line, message) = invalid("deleted_records:\n  contacts: delete_counterpart\n");
        assert_eq!(line, Some(2), "{message}");
        assert!(message.contains("contacts"), "{message}");
    }

    #[test]
    fn a_named_source_is_shown_in_the_error_and_kept_on_it() {
        let err = SyncConfig::from_yaml_source("version: 2\n", "config/crm-sync.yaml").unwrap_err();
        assert_eq!(err.source_name(), Some("config/crm-sync.yaml"));
        assert_eq!(err.line(), Some(1));
        assert!(err.to_string().starts_with("invalid sync config config/crm-sync.yaml: "), "{err}");
        let unnamed = SyncConfig::from_yaml_str("version: 2\n").unwrap_err();
        assert!(unnamed.to_string().starts_with("invalid sync config: "), "{unnamed}");
    }

    #[test]
    fn an_unsupported_version_is_refused_with_the_fix() {
        let (_, message) = invalid("version: 2\n");
        assert!(message.contains("set `version: 1`"), "{message}");
        assert!(SyncConfig::from_yaml_str("version: 1\n").is_ok());
    }

    #[test]
    fn an_api_cap_of_zero_is_refused_with_its_line() {
        let (line, message) = invalid("version: 1\nsalesforce_api_cap_per_24h: 0\n");
        assert_eq!(line, Some(2), "{message}");
    }

    #[test]
    fn a_type_mismatch_is_refused_naming_the_line_the_mapping_and_the_fix() {
        let yaml = "mappings:\n  contact:\n    - name: Score\n      hubspot: score\n      hubspot_type: number\n      salesforce: Score__c\n      salesforce_type: string\n";
        let (line, message) = invalid(yaml);
        assert_eq!(line, Some(3), "{message}");
        assert!(message.contains("`Score`"), "{message}");
        assert!(message.contains("score <-> Score__c"), "{message}");
        assert!(message.contains("cannot be mapped"), "{message}");
        assert!(message.contains("fix: map it to a Salesforce field of type double or int"), "{message}");
        assert!(message.starts_with("mappings.contact[0]: "), "{message}");
        assert!(message.ends_with("at line 3 column 7"), "{message}");
    }

    #[test]
    fn an_unknown_rule_is_refused_naming_the_mapping_and_the_rule_names() {
        let yaml =
            "mappings:\n  contact:\n    - hubspot: firstname\n      salesforce: FirstName\n      rule: sometimes\n";
        let (line, message) = invalid(yaml);
        assert_eq!(line, Some(3), "{message}");
        assert!(message.contains("firstname <-> FirstName"), "{message}");
        assert!(message.contains("unknown rule `sometimes`"), "{message}");
        assert!(message.contains(SyncRule::NAMES), "{message}");
    }

    #[test]
    fn a_deleted_default_mapping_is_refused_naming_it_and_the_fix() {
        let yaml = "mappings:\n  contact:\n    - hubspot: jobtitle\n      salesforce: Title\n      deleted: true\n";
        let (line, message) = invalid(yaml);
        assert_eq!(line, Some(3), "{message}");
        assert!(message.contains("`Title` (jobtitle <-> Title)"), "{message}");
        assert!(message.contains("cannot be deleted"), "{message}");
        assert!(message.contains("rule: dont_sync"), "{message}");
    }

    #[test]
    fn omitting_default_mappings_keeps_them() {
        let config = SyncConfig::from_yaml_str("mappings:\n  contact: []\n").unwrap();
        assert_eq!(config.mappings(ObjectPair::Contact).len(), super::super::defaults::tests::SPEC_DEFAULT_NAMES.len());
    }

    #[test]
    fn a_default_mapping_may_change_its_rule() {
        let config = SyncConfig::from_yaml_str(
            "mappings:\n  contact:\n    - hubspot: firstname\n      salesforce: FirstName\n      rule: dont_sync\n",
        )
        .unwrap();
        assert_eq!(config.mapping(ObjectPair::Contact, "firstname<->FirstName").unwrap().rule, SyncRule::DontSync);
    }

    #[test]
    fn the_owner_mapping_is_always_two_way() {
        let config = SyncConfig::default();
        let owner = config.mapping(ObjectPair::Contact, "hubspot_owner_id<->OwnerId").unwrap();
        assert_eq!(owner.rule, SyncRule::TwoWay);
        let yaml = "mappings:\n  contact:\n    - hubspot: hubspot_owner_id\n      salesforce: OwnerId\n      rule: always_use_salesforce\n";
        let (_, message) = invalid(yaml);
        assert!(message.contains("always two-way"), "{message}");
        assert!(message.contains("rule: two_way"), "{message}");
    }

    #[test]
    fn duplicate_mappings_are_refused_naming_both() {
        let yaml = "mappings:\n  contact:\n    - hubspot: firstname\n      salesforce: FirstName\n    - hubspot: firstname\n      salesforce: FirstName\n      rule: two_way\n";
        let (line, message) = invalid(yaml);
        assert_eq!(line, Some(5), "{message}");
        assert!(message.contains("duplicate mapping"), "{message}");

        let yaml = "mappings:\n  company:\n    - hubspot: name\n      hubspot_type: single_line_text\n      salesforce: Name\n      salesforce_type: string\n    - hubspot: name\n      hubspot_type: single_line_text\n      salesforce: Site\n      salesforce_type: string\n";
        let (line, message) = invalid(yaml);
        assert_eq!(line, Some(7), "{message}");
        assert!(message.contains("HubSpot property `name`"), "{message}");
    }

    #[test]
    fn a_custom_mapping_onto_a_default_property_is_a_duplicate_with_the_fix() {
        let yaml = "mappings:\n  contact:\n    - hubspot: firstname\n      hubspot_type: single_line_text\n      salesforce: Nickname__c\n      salesforce_type: string\n";
        let (_, message) = invalid(yaml);
        assert!(message.contains("`First Name`"), "{message}");
        assert!(message.contains("salesforce: FirstName"), "{message}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let (line, message) = invalid("version: 1\nobjects:\n  companies: true\n  contracts: true\n");
        assert_eq!(line, Some(4), "{message}");
        assert!(message.contains("contracts"), "{message}");

        let yaml =
            "mappings:\n  contact:\n    - hubspot: firstname\n      salesforce: FirstName\n      direction: up\n";
        let (line, message) = invalid(yaml);
        assert!(line.is_some_and(|l| (3..=5).contains(&l)), "{message}");
        assert!(message.contains("direction"), "{message}");
    }

    #[test]
    fn a_formula_field_cannot_be_mapped_with_a_rule_that_writes_salesforce() {
        let yaml = "mappings:\n  contact:\n    - hubspot: ltv\n      hubspot_type: number\n      salesforce: LTV__c\n      salesforce_type: currency\n      rule: two_way\n      formula: true\n";
        let (_, message) = invalid(yaml);
        assert!(message.contains("formula field"), "{message}");
        assert!(message.contains("always_use_salesforce"), "{message}");
    }

    #[test]
    fn the_salesforce_campaigns_property_cannot_be_mapped_back_to_salesforce() {
        let yaml = "mappings:\n  contact:\n    - hubspot: salesforce_campaigns\n      hubspot_type: multi_line_text\n      salesforce: Campaigns__c\n      salesforce_type: textarea\n      rule: two_way\n";
        let (_, message) = invalid(yaml);
        assert!(message.contains("read-only in HubSpot"), "{message}");
        let ok = yaml.replace("two_way", "always_use_salesforce");
        assert!(SyncConfig::from_yaml_str(&ok).is_ok());
    }
}
