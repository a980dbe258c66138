//! Request and answer shapes of the HubSpot CRM API that callers see.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A CRM record as read: properties are strings (or `null` when unset).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HsObject {
    pub id: String,
    #[serde(default)]
    pub properties: Map<String, Value>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub archived: bool,
    /// When the record went to the recycle bin (archived records only).
    #[serde(default)]
    pub archived_at: Option<String>,
}

impl HsObject {
    /// A property's value; `None` when unset or blank.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).and_then(Value::as_str).filter(|v| !v.is_empty())
    }
}

/// One page of a list or search.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub results: Vec<HsObject>,
    /// The cursor of the next page; `None` on the last page.
    pub after: Option<String>,
    /// Matches in all (search only).
    pub total: Option<u64>,
}

/// The outcome of one batch input, in input order.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchItem {
    /// Written; `created` is true when the record is new (upsert, create).
    Ok { record: HsObject, created: bool },
    /// Refused for this input only, with HubSpot's category and message.
    Err { category: String, message: String },
}

/// A search filter (`propertyName`, `operator`, and the operator's values).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: Operator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

impl Filter {
    /// A filter with one value (`EQ`, `GTE`, `CONTAINS_TOKEN`, ...).
    pub fn new(property: &str, operator: Operator, value: impl Into<String>) -> Self {
        Self { property_name: property.into(), operator, value: Some(value.into()), high_value: None, values: None }
    }

    /// `HAS_PROPERTY` / `NOT_HAS_PROPERTY`.
    pub fn presence(property: &str, present: bool) -> Self {
        let operator = if present { Operator::HasProperty } else { Operator::NotHasProperty };
        Self { property_name: property.into(), operator, value: None, high_value: None, values: None }
    }

    /// `IN` / `NOT_IN`.
    pub fn any_of(property: &str, values: Vec<String>, negate: bool) -> Self {
        let operator = if negate { Operator::NotIn } else { Operator::In };
        Self { property_name: property.into(), operator, value: None, high_value: None, values: Some(values) }
    }

    /// `BETWEEN low AND high`, both inclusive.
    pub fn between(property: &str, low: impl Into<String>, high: impl Into<String>) -> Self {
        Self {
            property_name: property.into(),
            operator: Operator::Between,
            value: Some(low.into()),
            high_value: Some(high.into()),
            values: None,
        }
    }
}

/// Filters AND-ed together; the groups of a search are OR-ed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FilterGroup {
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    pub property_name: String,
    pub direction: Direction,
}

/// A search body (`POST /crm/v3/objects/{object}/search`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub filter_groups: Vec<FilterGroup>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sorts: Vec<Sort>,
    pub properties: Vec<String>,
    /// Page size, at most 200.
    pub limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// One associated record, with the association type ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Associated {
    pub to_id: String,
    pub type_ids: Vec<u32>,
}

/// A property definition for the properties API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDefinition {
    pub name: String,
    pub label: String,
    /// `string`, `number`, `date`, `datetime`, `enumeration`, `bool`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `text`, `number`, `date`, `select`, `booleancheckbox`, ...
    pub field_type: String,
    pub group_name: String,
    #[serde(default)]
    pub has_unique_value: bool,
}
