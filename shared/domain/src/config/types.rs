//! The field-type table of SPEC section 2: which HubSpot property types may
//! be mapped to which Salesforce field types.
//!
//! Owns the two type vocabularies (HubSpot property types, Salesforce
//! describe types), their YAML names and the compatibility check. It does not
//! know mappings or files: [`super::entry`] applies the check to each mapping
//! of a file, and the default table in [`super::defaults`] is tested against
//! it. Depends only on [`super::rule`], because whether a Salesforce `id` may
//! be shown as HubSpot text depends on whether the rule ever writes back.

use super::rule::SyncRule;
use serde::{Deserialize, Serialize};

/// HubSpot property field types (the `fieldType` of a property definition).
///
/// Names in YAML are the `snake_case` forms of [`HubSpotType::NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubSpotType {
    /// One value chosen from a list.
    Dropdown,
    /// One value chosen from radio buttons.
    Radio,
    /// Any number of values from a list, `;`-separated.
    MultipleCheckboxes,
    /// A yes/no value.
    SingleCheckbox,
    /// A number.
    Number,
    /// One line of text.
    SingleLineText,
    /// Text with line breaks.
    MultiLineText,
    /// A date without a time.
    DatePicker,
}

impl HubSpotType {
    /// Every type name, comma-separated, for "fix: use one of ..." messages.
    pub const NAMES: &'static str =
        "dropdown, radio, multiple_checkboxes, single_checkbox, number, single_line_text, multi_line_text, date_picker";

    /// The type a YAML name stands for; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "dropdown" => Some(Self::Dropdown),
            "radio" => Some(Self::Radio),
            "multiple_checkboxes" => Some(Self::MultipleCheckboxes),
            "single_checkbox" => Some(Self::SingleCheckbox),
            "number" => Some(Self::Number),
            "single_line_text" => Some(Self::SingleLineText),
            "multi_line_text" => Some(Self::MultiLineText),
            "date_picker" => Some(Self::DatePicker),
            _ => None,
        }
    }

    /// The YAML name, as accepted by [`Self::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Dropdown => "dropdown",
            Self::Radio => "radio",
            Self::MultipleCheckboxes => "multiple_checkboxes",
            Self::SingleCheckbox => "single_checkbox",
            Self::Number => "number",
            Self::SingleLineText => "single_line_text",
            Self::MultiLineText => "multi_line_text",
            Self::DatePicker => "date_picker",
        }
    }

    /// The Salesforce types this HubSpot type may be mapped to (SPEC section
    /// 2, plus the documented extensions in `docs/config.md`: Salesforce's
    /// `phone`/`email`/`url` are text, `currency`/`percent` are numbers, and
    /// an `id`/`reference` may be shown as read-only text).
    pub fn compatible_salesforce_types(self) -> &'static [SalesforceType] {
        use SalesforceType as S;
        match self {
            Self::Dropdown | Self::Radio => &[S::Picklist, S::Reference],
            Self::MultipleCheckboxes => &[S::Multipicklist],
            Self::SingleCheckbox => &[S::Boolean],
            Self::Number => &[S::Double, S::Int, S::Currency, S::Percent],
            Self::SingleLineText => &[S::String, S::Textarea, S::Phone, S::Email, S::Url],
            Self::MultiLineText => &[S::Textarea],
            Self::DatePicker => &[S::Date, S::Datetime],
        }
    }
}

/// Salesforce field types (the `type` of a describe result).
///
/// Only the types a mapping may meet are listed; a describe type outside this
/// list cannot be named in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SalesforceType {
    Picklist,
    Reference,
    Multipicklist,
    Boolean,
    Double,
    Int,
    Currency,
    Percent,
    String,
    Textarea,
    Phone,
    Email,
    Url,
    Date,
    Datetime,
    Id,
}

impl SalesforceType {
    /// Every type name, comma-separated, for "fix: use one of ..." messages.
    pub const NAMES: &'static str = "picklist, reference, multipicklist, boolean, double, int, currency, percent, string, textarea, phone, email, url, date, datetime, id";

    /// The type a YAML name stands for; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "picklist" => Some(Self::Picklist),
            "reference" => Some(Self::Reference),
            "multipicklist" => Some(Self::Multipicklist),
            "boolean" => Some(Self::Boolean),
            "double" => Some(Self::Double),
            "int" => Some(Self::Int),
            "currency" => Some(Self::Currency),
            "percent" => Some(Self::Percent),
            "string" => Some(Self::String),
            "textarea" => Some(Self::Textarea),
            "phone" => Some(Self::Phone),
            "email" => Some(Self::Email),
            "url" => Some(Self::Url),
            "date" => Some(Self::Date),
            "datetime" => Some(Self::Datetime),
            "id" => Some(Self::Id),
            _ => None,
        }
    }

    /// The YAML name, as accepted by [`Self::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Picklist => "picklist",
            Self::Reference => "reference",
            Self::Multipicklist => "multipicklist",
            Self::Boolean => "boolean",
            Self::Double => "double",
            Self::Int => "int",
            Self::Currency => "currency",
            Self::Percent => "percent",
            Self::String => "string",
            Self::Textarea => "textarea",
            Self::Phone => "phone",
            Self::Email => "email",
            Self::Url => "url",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Id => "id",
        }
    }
}

/// Whether a HubSpot type and a Salesforce type may be mapped under `rule`.
///
/// Besides the table of SPEC section 2, a Salesforce `id` or `reference` may
/// be shown in a HubSpot single-line text property when the rule never
/// writes Salesforce (text cannot be trusted to hold a valid reference).
pub fn types_compatible(hubspot: HubSpotType, salesforce: SalesforceType, rule: SyncRule) -> bool {
    if hubspot.compatible_salesforce_types().contains(&salesforce) {
        return true;
    }
    hubspot == HubSpotType::SingleLineText
        && matches!(salesforce, SalesforceType::Id | SalesforceType::Reference)
        && !rule.may_write_salesforce()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_of_the_type_compatibility_table_is_accepted_and_others_refused() {
        use HubSpotType as H;
        use SalesforceType as S;
        let rule = SyncRule::TwoWay;
        let rows: [(H, &[S]); 8] = [
            (H::Dropdown, &[S::Picklist, S::Reference]),
            (H::Radio, &[S::Picklist, S::Reference]),
            (H::MultipleCheckboxes, &[S::Multipicklist]),
            (H::SingleCheckbox, &[S::Boolean]),
            (H::Number, &[S::Double, S::Int]),
            (H::SingleLineText, &[S::String, S::Textarea]),
            (H::MultiLineText, &[S::Textarea]),
            (H::DatePicker, &[S::Date, S::Datetime]),
        ];
        for (h, allowed) in rows {
            for s in allowed {
                assert!(types_compatible(h, *s, rule), "{h:?} <-> {s:?}");
            }
        }
        assert!(!types_compatible(H::SingleCheckbox, S::String, rule));
        assert!(!types_compatible(H::MultiLineText, S::String, rule));
        assert!(!types_compatible(H::Dropdown, S::Multipicklist, rule));
        assert!(!types_compatible(H::DatePicker, S::String, rule));
        assert!(!types_compatible(H::SingleLineText, S::Reference, rule));
        assert!(types_compatible(H::SingleLineText, S::Reference, SyncRule::AlwaysUseSalesforce));
    }
}
