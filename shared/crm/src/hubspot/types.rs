//! Request and answer shapes of the HubSpot CRM API that callers see
//! (crm-api.md B2 to B6).
//!
//! Plain data with serde derives, no IO and no decisions. HubSpot sends every
//! property value as a string (or `null`); interpreting them is the caller's
//! job. Names follow HubSpot's JSON (camelCase on the wire).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A CRM record as read: properties are strings (or `null` when unset).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HsObject {
    /// The record id (digits, as a string).
    pub id: String,
    /// The requested properties by internal name; unset ones are `null`.
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// When the record was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the record last changed (ISO 8601).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Whether the record is in the recycle bin.
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
    /// This page's records.
    pub results: Vec<HsObject>,
    /// The cursor of the next page; `None` on the last page.
    pub after: Option<String>,
    /// Matches in all (search only).
    pub total: Option<u64>,
}

/// The outcome of one batch input, in input order: the record as HubSpot
/// answered it, or its id alone ([`WrittenId`]) where that is all a caller
/// reads.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchItem<R = HsObject> {
    /// Written; `created` is true when the record is new (upsert, create).
    Ok { record: R, created: bool },
    /// Refused for this input only, with HubSpot's category and message.
    Err { category: String, message: String },
}

/// A written record's id, read from a batch answer without its properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenId {
    pub id: String,
}

/// A search filter (`propertyName`, `operator`, and the operator's values).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// The property tested, by internal name.
    pub property_name: String,
    /// How it is tested.
    pub operator: Operator,
    /// The one value of a single-value operator, or the low end of `BETWEEN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The high end of `BETWEEN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_value: Option<String>,
    /// The values of `IN` / `NOT_IN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// The search operators, sent as `SCREAMING_SNAKE_CASE` (`EQ`, `HAS_PROPERTY`).
/// Build filters with the [`Filter`] constructors, which pair each operator
/// with the value fields it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    /// Equal to `value`.
    Eq,
    /// Not equal to `value`.
    Neq,
    /// Less than `value`.
    Lt,
    /// Less than or equal to `value`.
    Lte,
    /// Greater than `value`.
    Gt,
    /// Greater than or equal to `value`.
    Gte,
    /// Between `value` and `high_value`, both inclusive.
    Between,
    /// One of `values`.
    In,
    /// None of `values`.
    NotIn,
    /// Set to anything.
    HasProperty,
    /// Not set.
    NotHasProperty,
    /// Contains the word `value`.
    ContainsToken,
    /// Does not contain the token `value`.
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
    /// The filters, all of which must hold.
    pub filters: Vec<Filter>,
}

/// A search sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// Sorts search results by one property.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sort {
    /// The property sorted by, by internal name.
    pub property_name: String,
    /// Which way.
    pub direction: Direction,
}

/// A search body (`POST /crm/v3/objects/{object}/search`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// Groups OR-ed together; none means every record.
    pub filter_groups: Vec<FilterGroup>,
    /// Sort orders, first one first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sorts: Vec<Sort>,
    /// The properties to return with each record.
    pub properties: Vec<String>,
    /// Page size, at most 200.
    pub limit: u32,
    /// The cursor of the page to read; `None` for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// One associated record, with the association type ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Associated {
    /// The associated record's id.
    pub to_id: String,
    /// The association type ids linking the two (crm-api.md B8).
    pub type_ids: Vec<u32>,
}

/// A property definition for the properties API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDefinition {
    /// The internal name (`salesforce_campaigns`).
    pub name: String,
    /// The label shown in HubSpot.
    pub label: String,
    /// `string`, `number`, `date`, `datetime`, `enumeration`, `bool`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `text`, `number`, `date`, `select`, `booleancheckbox`, ...
    pub field_type: String,
    /// The property group it is shown in.
    pub group_name: String,
    /// Whether HubSpot enforces one record per value.
    #[serde(default)]
    pub has_unique_value: bool,
}
