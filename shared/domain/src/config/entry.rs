//! The checks on one mapping entry of a config file, applied in file order.
//!
//! Owns every rule about a single entry: names present, rule and type names
//! known, types compatible, what a file may change on a built-in mapping (its
//! rule and display name only), the always-two-way owner, read-only HubSpot
//! properties and formula fields never written, and no duplicate property or
//! field on the same Salesforce object. Each refusal is one sentence naming
//! the entry and ending with `fix: ...`; [`super::parse`] attaches the YAML
//! line. This module sees one entry and the list so far, never the file.

use super::mapping::{FieldMapping, SpecialField};
use super::rule::SyncRule;
use super::types::{HubSpotType, SalesforceType, types_compatible};
use crate::model::{ObjectPair, SfObject};
use crate::properties::is_read_only_hubspot_property;
use serde::Deserialize;
use std::collections::BTreeSet;

/// One pair's mapping list while its entries are being applied.
pub(super) struct ListState {
    /// The list so far: the pair's defaults, then each accepted entry.
    pub(super) mappings: Vec<FieldMapping>,
    /// Keys of built-in mappings this file already re-ruled.
    pub(super) overridden: BTreeSet<String>,
}

/// One mapping entry as written; every field is checked by [`apply_entry`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMapping {
    #[serde(default)]
    name: Option<String>,
    hubspot: String,
    #[serde(default)]
    hubspot_type: Option<String>,
    salesforce: String,
    #[serde(default)]
    salesforce_type: Option<String>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    objects: Option<Vec<String>>,
    #[serde(default)]
    formula: bool,
    #[serde(default)]
    deleted: bool,
}

/// Checks one entry against the pair's mappings so far and applies it.
pub(super) fn apply_entry(
    pair: ObjectPair,
    index: usize,
    raw: RawMapping,
    state: &mut ListState,
) -> Result<(), String> {
    let hubspot = raw.hubspot.trim().to_owned();
    let salesforce = raw.salesforce.trim().to_owned();
    let label = raw.name.clone().unwrap_or_else(|| format!("{hubspot} <-> {salesforce}"));
    let here = format!("{pair} mapping #{} `{label}` ({hubspot} <-> {salesforce})", index + 1);
    if hubspot.is_empty() || salesforce.is_empty() {
        return Err(format!("{here}: `hubspot` and `salesforce` must name a property and a field"));
    }

    let builtin = state.mappings.iter().position(|m| {
        m.builtin
            && m.hubspot_property.eq_ignore_ascii_case(&hubspot)
            && m.salesforce_field.eq_ignore_ascii_case(&salesforce)
    });

    let rule = match raw.rule.as_deref() {
        None => None,
        Some(name) => Some(
            SyncRule::parse(name.trim())
                .ok_or_else(|| format!("{here}: unknown rule `{name}`; fix: use one of {}", SyncRule::NAMES))?,
        ),
    };

    if let Some(pos) = builtin {
        let default = state.mappings[pos].clone();
        let key = default.key();
        if raw.deleted {
            return Err(format!(
                "{here}: {} is a default mapping and cannot be deleted; fix: remove `deleted: true` and set `rule: dont_sync` to stop syncing it",
                default.describe()
            ));
        }
        if !state.overridden.insert(key) {
            return Err(format!(
                "{here}: duplicate mapping, {} is already configured above; fix: keep one entry",
                default.describe()
            ));
        }
        for (given, fixed, what) in [
            (raw.hubspot_type.as_deref(), default.hubspot_type.name(), "hubspot_type"),
            (raw.salesforce_type.as_deref(), default.salesforce_type.name(), "salesforce_type"),
        ] {
            if let Some(given) = given
                && given.trim() != fixed
            {
                return Err(format!(
                    "{here}: {what} `{given}` does not match the default mapping's `{fixed}`; fix: remove `{what}` or set it to `{fixed}`"
                ));
            }
        }
        if raw.objects.is_some() || raw.formula {
            return Err(format!(
                "{here}: a default mapping's `objects` and `formula` are fixed; fix: remove them and keep only `rule`"
            ));
        }
        let rule = rule.unwrap_or(default.rule);
        if default.special == Some(SpecialField::Owner) && rule != SyncRule::TwoWay {
            return Err(format!(
                "{here}: the owner mapping is always two-way; fix: remove the `rule` line or set `rule: two_way`"
            ));
        }
        if !types_compatible(default.hubspot_type, default.salesforce_type, rule) {
            return Err(format!(
                "{here}: rule `{}` would write a {} from HubSpot {} text; fix: use `always_use_salesforce` or `dont_sync`",
                rule.name(),
                default.salesforce_type.name(),
                default.hubspot_type.name()
            ));
        }
        if let Some(name) = raw.name {
            state.mappings[pos].name = name;
        }
        state.mappings[pos].rule = rule;
        return Ok(());
    }

    let hubspot_type_name = raw.hubspot_type.as_deref().ok_or_else(|| {
        format!("{here}: `hubspot_type` is missing; fix: add `hubspot_type:` with one of {}", HubSpotType::NAMES)
    })?;
    let hubspot_type = HubSpotType::parse(hubspot_type_name.trim()).ok_or_else(|| {
        format!("{here}: unknown hubspot_type `{hubspot_type_name}`; fix: use one of {}", HubSpotType::NAMES)
    })?;
    let salesforce_type_name = raw.salesforce_type.as_deref().ok_or_else(|| {
        format!(
            "{here}: `salesforce_type` is missing; fix: add `salesforce_type:` with one of {}",
            SalesforceType::NAMES
        )
    })?;
    let salesforce_type = SalesforceType::parse(salesforce_type_name.trim()).ok_or_else(|| {
        format!("{here}: unknown salesforce_type `{salesforce_type_name}`; fix: use one of {}", SalesforceType::NAMES)
    })?;
    let rule = rule.unwrap_or(SyncRule::PreferSalesforceUnlessBlank);

    if !types_compatible(hubspot_type, salesforce_type, rule) {
        let allowed: Vec<&str> = hubspot_type.compatible_salesforce_types().iter().map(|t| t.name()).collect();
        return Err(format!(
            "{here}: HubSpot type `{}` cannot be mapped to Salesforce type `{}`; fix: map it to a Salesforce field of type {}",
            hubspot_type.name(),
            salesforce_type.name(),
            allowed.join(" or ")
        ));
    }
    if is_read_only_hubspot_property(&hubspot) && rule.may_write_salesforce() {
        return Err(format!(
            "{here}: `{hubspot}` is read-only in HubSpot (written by the sync only); fix: set `rule: always_use_salesforce`"
        ));
    }
    if raw.formula && rule.may_write_salesforce() {
        return Err(format!(
            "{here}: `{salesforce}` is a formula field and cannot be written; fix: set `rule: always_use_salesforce`"
        ));
    }

    let objects: BTreeSet<SfObject> = match (pair, raw.objects) {
        (ObjectPair::Contact, None) => [SfObject::Lead, SfObject::Contact].into(),
        (ObjectPair::Contact, Some(names)) => {
            let mut set = BTreeSet::new();
            for name in names {
                match name.trim() {
                    "lead" => set.insert(SfObject::Lead),
                    "contact" => set.insert(SfObject::Contact),
                    other => {
                        return Err(format!(
                            "{here}: unknown object `{other}` in `objects`; fix: use `lead`, `contact` or both"
                        ));
                    }
                };
            }
            if set.is_empty() {
                return Err(format!("{here}: `objects` is empty; fix: list `lead`, `contact` or both, or remove it"));
            }
            set
        }
        (_, Some(_)) => {
            return Err(format!("{here}: `objects` applies to contact mappings only; fix: remove it"));
        }
        (other, None) => other.salesforce_objects().iter().copied().collect(),
    };

    let mapping = FieldMapping {
        name: label,
        hubspot_property: hubspot.clone(),
        hubspot_type,
        salesforce_field: salesforce.clone(),
        salesforce_type,
        rule,
        salesforce_objects: objects,
        salesforce_formula: raw.formula,
        builtin: false,
        special: None,
    };

    if raw.deleted {
        // A custom mapping marked deleted is simply left out.
        return Ok(());
    }

    if let Some(clash) = state.mappings.iter().find(|m| {
        !m.salesforce_objects.is_disjoint(&mapping.salesforce_objects)
            && (m.hubspot_property.eq_ignore_ascii_case(&hubspot)
                || m.salesforce_field.eq_ignore_ascii_case(&salesforce))
    }) {
        let fix = if clash.builtin {
            format!(
                "to change the default, write `hubspot: {}` and `salesforce: {}` and set its `rule`",
                clash.hubspot_property, clash.salesforce_field
            )
        } else {
            "keep one entry, or restrict each to different `objects`".to_owned()
        };
        return Err(format!(
            "{here}: duplicate mapping, {} already maps {} on the same object; fix: {fix}",
            clash.describe(),
            if clash.hubspot_property.eq_ignore_ascii_case(&hubspot) {
                format!("HubSpot property `{hubspot}`")
            } else {
                format!("Salesforce field `{salesforce}`")
            }
        ));
    }
    state.mappings.push(mapping);
    Ok(())
}
