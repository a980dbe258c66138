//! The sync config: one versioned YAML file with the object switches, the
//! inclusion segment, the create policies, the Salesforce API cap and the
//! field mappings (SPEC section 2).
//!
//! Owns parsing and every check on the file: unknown keys, unknown rule and
//! type names, type compatibility, duplicate mappings, the built-in default
//! contact mappings (which a file may re-rule but never delete) and the
//! always-two-way owner mapping. Every error names the YAML line, the mapping
//! and the fix. Secrets never live here; the file is read only by
//! [`SyncConfig::load_file`], everything else is pure.

use crate::model::{ObjectPair, RecordSnapshot, SfObject};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

/// The four sync rules of SPEC section 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRule {
    /// HubSpot -> Salesforce only while the Salesforce field is blank;
    /// Salesforce -> HubSpot whenever Salesforce has a value. The default.
    PreferSalesforceUnlessBlank,
    /// Salesforce -> HubSpot always, never back.
    AlwaysUseSalesforce,
    /// The most recent change wins, in both directions.
    TwoWay,
    /// Never written either way.
    DontSync,
}

impl SyncRule {
    pub const NAMES: &'static str = "prefer_salesforce_unless_blank, always_use_salesforce, two_way, dont_sync";

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "prefer_salesforce_unless_blank" => Some(Self::PreferSalesforceUnlessBlank),
            "always_use_salesforce" => Some(Self::AlwaysUseSalesforce),
            "two_way" => Some(Self::TwoWay),
            "dont_sync" => Some(Self::DontSync),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::PreferSalesforceUnlessBlank => "prefer_salesforce_unless_blank",
            Self::AlwaysUseSalesforce => "always_use_salesforce",
            Self::TwoWay => "two_way",
            Self::DontSync => "dont_sync",
        }
    }

    /// Whether the rule can ever write the Salesforce field.
    pub fn may_write_salesforce(self) -> bool {
        matches!(self, Self::PreferSalesforceUnlessBlank | Self::TwoWay)
    }
}

/// HubSpot property field types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubSpotType {
    Dropdown,
    Radio,
    MultipleCheckboxes,
    SingleCheckbox,
    Number,
    SingleLineText,
    MultiLineText,
    DatePicker,
}

impl HubSpotType {
    pub const NAMES: &'static str =
        "dropdown, radio, multiple_checkboxes, single_checkbox, number, single_line_text, multi_line_text, date_picker";

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
    pub const NAMES: &'static str = "picklist, reference, multipicklist, boolean, double, int, currency, percent, string, textarea, phone, email, url, date, datetime, id";

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

/// What a mapping is for, beyond copying a value: the special fields of SPEC
/// section 4 behave differently in the decision.
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

/// One field mapping of one object pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldMapping {
    /// A human name ("First Name"), shown in reasons and errors.
    pub name: String,
    pub hubspot_property: String,
    pub hubspot_type: HubSpotType,
    pub salesforce_field: String,
    pub salesforce_type: SalesforceType,
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
    pub special: Option<SpecialField>,
}

impl FieldMapping {
    /// The stable key of the mapping within its pair: the fingerprint key.
    pub fn key(&self) -> String {
        format!("{}<->{}", self.hubspot_property, self.salesforce_field)
    }

    pub fn serves(&self, object: SfObject) -> bool {
        self.salesforce_objects.contains(&object)
    }

    fn describe(&self) -> String {
        format!("`{}` ({} <-> {})", self.name, self.hubspot_property, self.salesforce_field)
    }
}

/// Object sync switches. Contacts always sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectSwitches {
    pub companies: bool,
    pub deals: bool,
    pub tasks: bool,
}

impl ObjectSwitches {
    pub fn contacts(&self) -> bool {
        true
    }

    pub fn syncs(&self, pair: ObjectPair) -> bool {
        match pair {
            ObjectPair::Contact => true,
            ObjectPair::Company => self.companies,
            ObjectPair::Deal => self.deals,
        }
    }
}

/// Operators of an inclusion property filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOperator {
    Eq,
    Neq,
    Contains,
    HasProperty,
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
        property: String,
        operator: FilterOperator,
        #[serde(default)]
        value: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    #[serde(default)]
    hubspot_list: Option<String>,
    #[serde(default)]
    property_filter: Option<RawFilter>,
}

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

/// The Salesforce object a new HubSpot contact becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewContactObject {
    #[default]
    Lead,
    Contact,
}

impl NewContactObject {
    pub fn sf_object(self) -> SfObject {
        match self {
            NewContactObject::Lead => SfObject::Lead,
            NewContactObject::Contact => SfObject::Contact,
        }
    }
}

/// The default Salesforce API cap per rolling 24 hours.
pub const DEFAULT_SALESFORCE_API_CAP: u64 = 10_000;

/// The whole, checked sync config. Build it with [`SyncConfig::from_yaml_str`],
/// [`SyncConfig::load_file`] or [`SyncConfig::default`] (defaults only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncConfig {
    pub objects: ObjectSwitches,
    pub inclusion_segment: Option<InclusionSegment>,
    pub new_contact_object: NewContactObject,
    pub create_hubspot_contact_from_salesforce: bool,
    /// The share of the org's daily allocation this sync may use.
    pub salesforce_api_cap_per_24h: NonZeroU64,
    contact_mappings: Vec<FieldMapping>,
    company_mappings: Vec<FieldMapping>,
    deal_mappings: Vec<FieldMapping>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            objects: ObjectSwitches::default(),
            inclusion_segment: None,
            new_contact_object: NewContactObject::Lead,
            create_hubspot_contact_from_salesforce: true,
            salesforce_api_cap_per_24h: NonZeroU64::new(DEFAULT_SALESFORCE_API_CAP).unwrap_or(NonZeroU64::MIN),
            contact_mappings: default_contact_mappings(),
            company_mappings: Vec::new(),
            deal_mappings: default_deal_mappings(),
        }
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the sync config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid config; `message` names the place (YAML path,
    /// line and column), the mapping and the fix.
    #[error("invalid sync config: {message}")]
    Invalid {
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
}

impl ConfigError {
    /// The 1-based YAML line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Invalid { line, .. } => *line,
        }
    }
}

impl SyncConfig {
    /// Parses and checks a config.
    pub fn from_yaml_str(text: &str) -> Result<Self, ConfigError> {
        // An empty file is the all-defaults config.
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|source| {
            let location = source.location();
            ConfigError::Invalid {
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                message: source.to_string(),
                source,
            }
        })?;
        Ok(raw.into_config())
    }

    /// Reads and checks a config file.
    pub fn load_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_yaml_str(&text)
    }

    /// Every mapping of a pair, defaults first.
    pub fn mappings(&self, pair: ObjectPair) -> &[FieldMapping] {
        match pair {
            ObjectPair::Contact => &self.contact_mappings,
            ObjectPair::Company => &self.company_mappings,
            ObjectPair::Deal => &self.deal_mappings,
        }
    }

    /// The mappings that serve one Salesforce object.
    pub fn mappings_for(&self, object: SfObject) -> impl Iterator<Item = &FieldMapping> {
        self.mappings(object.pair()).iter().filter(move |m| m.serves(object))
    }

    /// The mapping of a pair with this fingerprint key.
    pub fn mapping(&self, pair: ObjectPair, key: &str) -> Option<&FieldMapping> {
        self.mappings(pair).iter().find(|m| m.key() == key)
    }
}

// ---------------------------------------------------------------------------
// Built-in default contact mappings (SPEC section 2).

struct DefaultMapping {
    name: &'static str,
    hubspot: &'static str,
    hubspot_type: HubSpotType,
    salesforce: &'static str,
    salesforce_type: SalesforceType,
    objects: &'static [SfObject],
    rule: SyncRule,
    special: Option<SpecialField>,
}

const LEAD: &[SfObject] = &[SfObject::Lead];
const CONTACT: &[SfObject] = &[SfObject::Contact];
const BOTH: &[SfObject] = &[SfObject::Lead, SfObject::Contact];

const fn dm(
    name: &'static str,
    hubspot: &'static str,
    hubspot_type: HubSpotType,
    salesforce: &'static str,
    salesforce_type: SalesforceType,
    objects: &'static [SfObject],
) -> DefaultMapping {
    DefaultMapping {
        name,
        hubspot,
        hubspot_type,
        salesforce,
        salesforce_type,
        objects,
        rule: SyncRule::PreferSalesforceUnlessBlank,
        special: None,
    }
}

const DEFAULT_CONTACT_MAPPINGS: &[DefaultMapping] = {
    use HubSpotType as H;
    use SalesforceType as S;
    &[
        DefaultMapping {
            rule: SyncRule::AlwaysUseSalesforce,
            special: Some(SpecialField::AccountId),
            ..dm("Account ID", "salesforceaccountid", H::SingleLineText, "AccountId", S::Reference, CONTACT)
        },
        dm("Annual Revenue", "annualrevenue", H::Number, "AnnualRevenue", S::Currency, LEAD),
        dm("Business Fax", "fax", H::SingleLineText, "Fax", S::Phone, BOTH),
        dm("Business Phone", "phone", H::SingleLineText, "Phone", S::Phone, BOTH),
        dm("City", "city", H::SingleLineText, "City", S::String, LEAD),
        dm("Company", "company", H::SingleLineText, "Company", S::String, LEAD),
        dm("Contact Description", "description", H::MultiLineText, "Description", S::Textarea, BOTH),
        dm("Country", "country", H::SingleLineText, "Country", S::String, LEAD),
        DefaultMapping {
            special: Some(SpecialField::EmailOptOut),
            ..dm("Email Opt Out", "hs_email_optout", H::SingleCheckbox, "HasOptedOutOfEmail", S::Boolean, BOTH)
        },
        dm("Employees", "numemployees", H::Number, "NumberOfEmployees", S::Int, LEAD),
        dm("First Name", "firstname", H::SingleLineText, "FirstName", S::String, BOTH),
        dm("Industry", "industry", H::Dropdown, "Industry", S::Picklist, LEAD),
        dm("Last Name", "lastname", H::SingleLineText, "LastName", S::String, BOTH),
        dm("Lead Source", "leadsource", H::Dropdown, "LeadSource", S::Picklist, BOTH),
        dm("Mailing City", "city", H::SingleLineText, "MailingCity", S::String, CONTACT),
        dm("Mailing Country", "country", H::SingleLineText, "MailingCountry", S::String, CONTACT),
        dm("Mailing State/Province", "state", H::SingleLineText, "MailingState", S::String, CONTACT),
        dm("Mailing Street", "address", H::SingleLineText, "MailingStreet", S::Textarea, CONTACT),
        dm("Mailing Zip/Postal Code", "zip", H::SingleLineText, "MailingPostalCode", S::String, CONTACT),
        DefaultMapping {
            rule: SyncRule::TwoWay,
            special: Some(SpecialField::Owner),
            ..dm("Owner ID", "hubspot_owner_id", H::Dropdown, "OwnerId", S::Reference, BOTH)
        },
        dm("Rating", "rating", H::Dropdown, "Rating", S::Picklist, LEAD),
        dm("Salutation", "salutation", H::Dropdown, "Salutation", S::Picklist, BOTH),
        dm("State/Province", "state", H::SingleLineText, "State", S::String, LEAD),
        dm("Status", "hs_lead_status", H::Dropdown, "Status", S::Picklist, LEAD),
        dm("Street", "address", H::SingleLineText, "Street", S::Textarea, LEAD),
        dm("Title", "jobtitle", H::SingleLineText, "Title", S::String, BOTH),
        dm("Website", "website", H::SingleLineText, "Website", S::Url, LEAD),
        dm("Zip/Postal Code", "zip", H::SingleLineText, "PostalCode", S::String, LEAD),
    ]
};

fn build_default(d: &DefaultMapping) -> FieldMapping {
    FieldMapping {
        name: d.name.to_owned(),
        hubspot_property: d.hubspot.to_owned(),
        hubspot_type: d.hubspot_type,
        salesforce_field: d.salesforce.to_owned(),
        salesforce_type: d.salesforce_type,
        rule: d.rule,
        salesforce_objects: d.objects.iter().copied().collect(),
        salesforce_formula: false,
        builtin: true,
        special: d.special,
    }
}

const OPPORTUNITY: &[SfObject] = &[SfObject::Opportunity];

/// Deal <-> Opportunity defaults: what a new Opportunity requires (`Name`,
/// `StageName`, `CloseDate`) and the amount. The stage travels as HubSpot's
/// stage id in HubSpot and as the Salesforce stage label in Salesforce
/// (the use cases translate the default pipeline's stages).
const DEFAULT_DEAL_MAPPINGS: &[DefaultMapping] = {
    use HubSpotType as H;
    use SalesforceType as S;
    &[
        DefaultMapping {
            rule: SyncRule::TwoWay,
            ..dm("Deal Name", "dealname", H::SingleLineText, "Name", S::String, OPPORTUNITY)
        },
        DefaultMapping {
            rule: SyncRule::TwoWay,
            ..dm("Deal Stage", "dealstage", H::Dropdown, "StageName", S::Picklist, OPPORTUNITY)
        },
        DefaultMapping {
            rule: SyncRule::TwoWay,
            ..dm("Close Date", "closedate", H::DatePicker, "CloseDate", S::Date, OPPORTUNITY)
        },
        DefaultMapping {
            rule: SyncRule::TwoWay,
            ..dm("Amount", "amount", H::Number, "Amount", S::Currency, OPPORTUNITY)
        },
    ]
};

/// The built-in default deal mappings: dealname, dealstage, closedate and
/// amount with the Opportunity's Name, StageName, CloseDate and Amount.
pub fn default_deal_mappings() -> Vec<FieldMapping> {
    DEFAULT_DEAL_MAPPINGS.iter().map(build_default).collect()
}

/// The built-in default contact mappings of SPEC section 2.
pub fn default_contact_mappings() -> Vec<FieldMapping> {
    DEFAULT_CONTACT_MAPPINGS.iter().map(build_default).collect()
}

// ---------------------------------------------------------------------------
// The raw file and its checks. Mapping entries are checked while they are
// deserialised, so that serde_yaml_ng attaches the entry's line to the error.

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

fn default_true() -> bool {
    true
}

fn default_cap() -> NonZeroU64 {
    NonZeroU64::new(DEFAULT_SALESFORCE_API_CAP).unwrap_or(NonZeroU64::MIN)
}

impl RawConfig {
    fn into_config(self) -> SyncConfig {
        SyncConfig {
            objects: self.objects,
            inclusion_segment: self.inclusion_segment,
            new_contact_object: self.new_contact_object,
            create_hubspot_contact_from_salesforce: self.create_hubspot_contact_from_salesforce,
            salesforce_api_cap_per_24h: self.salesforce_api_cap_per_24h,
            contact_mappings: self.mappings.contact.unwrap_or_else(default_contact_mappings),
            company_mappings: self.mappings.company.unwrap_or_default(),
            deal_mappings: self.mappings.deal.unwrap_or_else(default_deal_mappings),
        }
    }
}

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

fn initial_mappings(pair: ObjectPair) -> Vec<FieldMapping> {
    match pair {
        ObjectPair::Contact => default_contact_mappings(),
        ObjectPair::Company | ObjectPair::Deal => Vec::new(),
    }
}

struct ListState {
    mappings: Vec<FieldMapping>,
    /// Keys of built-in mappings this file already re-ruled.
    overridden: BTreeSet<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
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

/// Checks one entry against the pair's mappings so far and applies it.
fn apply_entry(pair: ObjectPair, index: usize, raw: RawMapping, state: &mut ListState) -> Result<(), String> {
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
    if crate::special::is_read_only_hubspot_property(&hubspot) && rule.may_write_salesforce() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(yaml: &str) -> (Option<usize>, String) {
        match SyncConfig::from_yaml_str(yaml) {
            Ok(_) => panic!("config was accepted:\n{yaml}"),
            Err(ConfigError::Invalid { line, message, .. }) => (line, message),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    const SPEC_DEFAULT_NAMES: [&str; 28] = [
        "Account ID",
        "Annual Revenue",
        "Business Fax",
        "Business Phone",
        "City",
        "Company",
        "Contact Description",
        "Country",
        "Email Opt Out",
        "Employees",
        "First Name",
        "Industry",
        "Last Name",
        "Lead Source",
        "Mailing City",
        "Mailing Country",
        "Mailing State/Province",
        "Mailing Street",
        "Mailing Zip/Postal Code",
        "Owner ID",
        "Rating",
        "Salutation",
        "State/Province",
        "Status",
        "Street",
        "Title",
        "Website",
        "Zip/Postal Code",
    ];

    #[test]
    fn every_default_contact_mapping_of_the_spec_is_built_in() {
        let config = SyncConfig::default();
        let names: Vec<&str> = config.mappings(ObjectPair::Contact).iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, SPEC_DEFAULT_NAMES);
        assert!(config.mappings(ObjectPair::Contact).iter().all(|m| m.builtin));
    }

    #[test]
    fn every_built_in_mapping_passes_the_type_compatibility_table() {
        for m in default_contact_mappings() {
            assert!(types_compatible(m.hubspot_type, m.salesforce_type, m.rule), "{}", m.name);
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
        let text = include_str!("../../../config/crm-sync.example.yaml");
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
        assert_eq!(config.mappings(ObjectPair::Contact).len(), SPEC_DEFAULT_NAMES.len());
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
    fn one_mapping_serves_lead_and_contact_when_they_share_an_api_name() {
        let config = SyncConfig::default();
        let lead: Vec<String> = config.mappings_for(SfObject::Lead).map(FieldMapping::key).collect();
        let contact: Vec<String> = config.mappings_for(SfObject::Contact).map(FieldMapping::key).collect();
        assert!(lead.contains(&"firstname<->FirstName".to_owned()));
        assert!(contact.contains(&"firstname<->FirstName".to_owned()));
        assert!(lead.contains(&"city<->City".to_owned()) && !contact.contains(&"city<->City".to_owned()));
        assert!(contact.contains(&"city<->MailingCity".to_owned()) && !lead.contains(&"city<->MailingCity".to_owned()));
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

    #[test]
    fn a_missing_config_file_is_a_read_error_naming_the_path() {
        let err = SyncConfig::load_file(Path::new("/nonexistent/crm-sync.yaml")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/crm-sync.yaml"));
    }
}
