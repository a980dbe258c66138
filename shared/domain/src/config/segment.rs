//! The inclusion segment of SPEC section 2: which HubSpot contacts sync to
//! Salesforce at all.
//!
//! Owns the segment's YAML shape (exactly one of a HubSpot list or a property
//! filter, checked on load) and the test a property filter applies to one
//! contact. It must not look anything up: list membership lives in HubSpot,
//! so [`InclusionSegment::admits`] answers `None` for a list and the use
//! cases ask HubSpot.

use crate::model::RecordSnapshot;
use serde::{Deserialize, Serialize};

/// Operators of an inclusion property filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOperator {
    /// The property's value equals `value` exactly.
    Eq,
    /// The property is blank or has another value than `value`.
    Neq,
    /// The property's value contains `value` (case-sensitive).
    Contains,
    /// The property has a non-blank value.
    HasProperty,
    /// The property is blank or absent.
    NotHasProperty,
}

/// Which HubSpot contacts sync to Salesforce. Absent: all of them.
///
/// In YAML, a map with exactly one of `hubspot_list: "<id>"` or
/// `property_filter: {property, operator, value}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "RawSegment")]
pub enum InclusionSegment {
    /// Members of a HubSpot list.
    HubspotList(String),
    /// Contacts whose property passes a filter.
    PropertyFilter {
        /// The HubSpot contact property tested.
        property: String,
        /// How it is tested.
        operator: FilterOperator,
        /// The value compared with; present whenever the operator needs one
        /// (`eq`, `neq`, `contains`), checked on load.
        #[serde(default)]
        value: Option<String>,
    },
}

/// The segment as written, before the "exactly one of" check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    #[serde(default)]
    hubspot_list: Option<String>,
    #[serde(default)]
    property_filter: Option<RawFilter>,
}

/// A property filter as written, before the "needs a value" check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    property: String,
    operator: FilterOperator,
    #[serde(default)]
    value: Option<String>,
}

impl TryFrom<RawSegment> for InclusionSegment {
    type Error = String;
    fn try_from(raw: RawSegment) -> Result<Self, Self::Error> {
        match (raw.hubspot_list, raw.property_filter) {
            (Some(list), None) if !list.trim().is_empty() => {
                Ok(InclusionSegment::HubspotList(list.trim().to_owned()))
            }
            (None, Some(f)) => {
                if matches!(f.operator, FilterOperator::Eq | FilterOperator::Neq | FilterOperator::Contains)
                    && f.value.is_none()
                {
                    return Err(format!(
                        "inclusion segment filter on `{}`: operator needs a `value`; fix: add `value:`",
                        f.property
                    ));
                }
                Ok(InclusionSegment::PropertyFilter {
                    property: f.property,
                    operator: f.operator,
                    value: f.value,
                })
            }
            _ => Err("inclusion segment: give exactly one of `hubspot_list: \"<list id>\"` or `property_filter:`; fix: keep one, or remove `inclusion_segment` to sync every contact".to_owned()),
        }
    }
}

impl InclusionSegment {
    /// Whether a HubSpot contact belongs to the segment, when that can be
    /// told from the record alone (a property filter); `None` for a list,
    /// whose membership the caller must look up.
    pub fn admits(&self, hubspot_contact: &RecordSnapshot) -> Option<bool> {
        match self {
            InclusionSegment::HubspotList(_) => None,
            InclusionSegment::PropertyFilter { property, operator, value } => {
                let actual = hubspot_contact.field(property).and_then(|v| match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) if s.is_empty() => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                });
                let wanted = value.as_deref().unwrap_or("");
                Some(match operator {
                    FilterOperator::Eq => actual.as_deref() == Some(wanted),
                    FilterOperator::Neq => actual.as_deref() != Some(wanted),
                    FilterOperator::Contains => actual.is_some_and(|a| a.contains(wanted)),
                    FilterOperator::HasProperty => actual.is_some(),
                    FilterOperator::NotHasProperty => actual.is_none(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncConfig;
    use crate::model::ObjectPair;

    #[test]
    fn an_inclusion_segment_is_a_hubspot_list_or_a_property_filter() {
        let list = SyncConfig::from_yaml_str("inclusion_segment:\n  hubspot_list: \"42\"\n").unwrap();
        assert_eq!(list.inclusion_segment, Some(InclusionSegment::HubspotList("42".into())));

        let filter = SyncConfig::from_yaml_str(
            "inclusion_segment:\n  property_filter:\n    property: lifecyclestage\n    operator: eq\n    value: customer\n",
        )
        .unwrap();
        let segment = filter.inclusion_segment.unwrap();
        let contact = |stage: &str| {
            RecordSnapshot::hubspot(
                crate::model::HubSpotId::parse("1").unwrap(),
                ObjectPair::Contact,
                [("lifecyclestage".to_owned(), serde_json::json!(stage))].into(),
                chrono::DateTime::UNIX_EPOCH,
            )
        };
        assert_eq!(segment.admits(&contact("customer")), Some(true));
        assert_eq!(segment.admits(&contact("lead")), Some(false));
        assert_eq!(InclusionSegment::HubspotList("42".into()).admits(&contact("lead")), None);
    }
}
