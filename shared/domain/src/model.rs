//! The vocabulary of the sync: ids, emails, object kinds, sides and record
//! snapshots.
//!
//! Owns parsing (not validation afterwards): every newtype here is built by
//! `parse`/`TryFrom` and is valid for its whole life. It must not know about
//! HTTP shapes or storage; adapters convert their payloads into these types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Why a raw value could not become one of the vocabulary types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("a Salesforce id has 15 or 18 characters, this one has {0}")]
    SalesforceIdLength(usize),
    #[error("a Salesforce id holds only the letters A-Z, a-z and digits")]
    SalesforceIdCharacters,
    #[error("the 18-character Salesforce id has a wrong case-safe suffix (expected `{expected}`)")]
    SalesforceIdChecksum { expected: String },
    #[error("a HubSpot id is a non-empty string of digits")]
    HubSpotId,
    #[error("not an email address: {0}")]
    Email(&'static str),
}

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// A Salesforce record id, always held in its 18-character, case-safe form.
///
/// Parsing accepts the 15-character (case-sensitive) form and computes the
/// suffix, or the 18-character form and checks its suffix (crm-api.md A10).
/// Comparing two `SalesforceId`s therefore compares 18-character forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SalesforceId(String);

impl SalesforceId {
    /// Parses a 15- or 18-character id.
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let id = Self::canonical(raw)?;
        // The canonical form is ASCII alphanumerics only.
        Ok(Self(id.iter().map(|&b| char::from(b)).collect()))
    }

    /// The 18-character form of a 15- or 18-character id, without making a
    /// `SalesforceId` (no allocation: for comparing ids read in bulk).
    pub fn canonical(raw: &str) -> Result<[u8; 18], ModelError> {
        let raw = raw.trim();
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ModelError::SalesforceIdCharacters);
        }
        if raw.len() != 15 && raw.len() != 18 {
            return Err(ModelError::SalesforceIdLength(raw.len()));
        }
        let suffix = case_suffix(&raw.as_bytes()[..15]);
        // Salesforce itself accepts the suffix in any case.
        if raw.len() == 18 && !raw.as_bytes()[15..].eq_ignore_ascii_case(&suffix) {
            return Err(ModelError::SalesforceIdChecksum { expected: suffix.iter().map(|&b| char::from(b)).collect() });
        }
        let mut id = [0u8; 18];
        id[..15].copy_from_slice(&raw.as_bytes()[..15]);
        id[15..].copy_from_slice(&suffix);
        Ok(id)
    }

    /// The 18-character form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 15-character, case-sensitive form.
    pub fn to15(&self) -> &str {
        &self.0[..15]
    }

    /// The 3-character key prefix naming the object type (`001`, `003`, `00Q` ...).
    pub fn key_prefix(&self) -> &str {
        &self.0[..3]
    }

    /// The object the key prefix names, when it is one the sync handles.
    pub fn object(&self) -> Option<SfObject> {
        match self.key_prefix() {
            "00Q" => Some(SfObject::Lead),
            "003" => Some(SfObject::Contact),
            "001" => Some(SfObject::Account),
            "006" => Some(SfObject::Opportunity),
            _ => None,
        }
    }
}

fn case_suffix(id15: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (slot, chunk) in out.iter_mut().zip(id15.chunks(5)) {
        let mut v = 0usize;
        for (i, b) in chunk.iter().enumerate() {
            if b.is_ascii_uppercase() {
                v |= 1 << i;
            }
        }
        *slot = SUFFIX_ALPHABET[v];
    }
    out
}

impl TryFrom<String> for SalesforceId {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SalesforceId> for String {
    fn from(value: SalesforceId) -> Self {
        value.0
    }
}

impl fmt::Display for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A HubSpot record id: a non-empty string of ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HubSpotId(String);

impl HubSpotId {
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let raw = raw.trim();
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ModelError::HubSpotId);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HubSpotId {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SalesforceId> for RecordId {
    fn from(value: SalesforceId) -> Self {
        RecordId::Salesforce(value)
    }
}

impl From<HubSpotId> for RecordId {
    fn from(value: HubSpotId) -> Self {
        RecordId::HubSpot(value)
    }
}

impl From<HubSpotId> for String {
    fn from(value: HubSpotId) -> Self {
        value.0
    }
}

impl fmt::Display for HubSpotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and lower-cased: the contact matching key.
///
/// The check is deliberately modest (one `@`, a non-empty local part, a
/// domain with a dot, no whitespace): both CRMs validate on their own, and a
/// stricter check here would refuse records the CRMs accepted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(ModelError::Email("empty"));
        }
        if normalised.chars().any(char::is_whitespace) {
            return Err(ModelError::Email("contains whitespace"));
        }
        let Some((local, domain)) = normalised.split_once('@') else {
            return Err(ModelError::Email("no @"));
        };
        if local.is_empty() {
            return Err(ModelError::Email("nothing before the @"));
        }
        if domain.contains('@') {
            return Err(ModelError::Email("more than one @"));
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(ModelError::Email("the domain needs a dot between labels"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }
}

/// Emails are personal data: `Debug` shows only the domain.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email(***@{})", self.domain())
    }
}

impl TryFrom<String> for Email {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

/// The object pairs the sync knows (SPEC section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectPair {
    /// HubSpot contact <-> Salesforce Lead or Contact.
    Contact,
    /// HubSpot company <-> Salesforce Account.
    Company,
    /// HubSpot deal <-> Salesforce Opportunity.
    Deal,
}

impl ObjectPair {
    pub const ALL: [ObjectPair; 3] = [ObjectPair::Contact, ObjectPair::Company, ObjectPair::Deal];

    /// Stable lowercase name (`contact`, `company`, `deal`): the serde name,
    /// and the pair's part of every storage key (SQLite rows, DynamoDB
    /// `LINK#<pair>#...` items), so it must never change.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectPair::Contact => "contact",
            ObjectPair::Company => "company",
            ObjectPair::Deal => "deal",
        }
    }

    /// Parses the name written by [`ObjectPair::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "contact" => Some(ObjectPair::Contact),
            "company" => Some(ObjectPair::Company),
            "deal" => Some(ObjectPair::Deal),
            _ => None,
        }
    }

    /// The HubSpot object type as used in API paths.
    pub fn hubspot_object_type(self) -> &'static str {
        match self {
            ObjectPair::Contact => "contacts",
            ObjectPair::Company => "companies",
            ObjectPair::Deal => "deals",
        }
    }

    /// The Salesforce objects this pair syncs with.
    pub fn salesforce_objects(self) -> &'static [SfObject] {
        match self {
            ObjectPair::Contact => &[SfObject::Lead, SfObject::Contact],
            ObjectPair::Company => &[SfObject::Account],
            ObjectPair::Deal => &[SfObject::Opportunity],
        }
    }
}

impl fmt::Display for ObjectPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Salesforce objects the sync reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SfObject {
    Lead,
    Contact,
    Account,
    Opportunity,
}

impl SfObject {
    /// The sObject API name (`Lead`, `Contact`, ...).
    pub fn api_name(self) -> &'static str {
        match self {
            SfObject::Lead => "Lead",
            SfObject::Contact => "Contact",
            SfObject::Account => "Account",
            SfObject::Opportunity => "Opportunity",
        }
    }

    /// The object pair this Salesforce object belongs to.
    pub fn pair(self) -> ObjectPair {
        match self {
            SfObject::Lead | SfObject::Contact => ObjectPair::Contact,
            SfObject::Account => ObjectPair::Company,
            SfObject::Opportunity => ObjectPair::Deal,
        }
    }

    pub fn parse(api_name: &str) -> Option<Self> {
        match api_name {
            "Lead" => Some(SfObject::Lead),
            "Contact" => Some(SfObject::Contact),
            "Account" => Some(SfObject::Account),
            "Opportunity" => Some(SfObject::Opportunity),
            _ => None,
        }
    }
}

impl fmt::Display for SfObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

/// One of the two CRMs. Serialised as `salesforce` / `hubspot`, the same
/// names every other wire format and storage key of the product uses (sweep
/// cursors, API usage counters, CRM errors), so [`System::as_str`] must never
/// change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Salesforce,
    HubSpot,
}

impl System {
    /// The other CRM.
    pub fn other(self) -> System {
        match self {
            System::Salesforce => System::HubSpot,
            System::HubSpot => System::Salesforce,
        }
    }

    /// Stable lowercase name (`salesforce`, `hubspot`), as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            System::Salesforce => "salesforce",
            System::HubSpot => "hubspot",
        }
    }

    /// Parses the name written by [`System::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "salesforce" => Some(System::Salesforce),
            "hubspot" => Some(System::HubSpot),
            _ => None,
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id of a record on either side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "system", content = "id", rename_all = "snake_case")]
pub enum RecordId {
    Salesforce(SalesforceId),
    #[serde(rename = "hubspot")]
    HubSpot(HubSpotId),
}

impl RecordId {
    pub fn side(&self) -> System {
        match self {
            RecordId::Salesforce(_) => System::Salesforce,
            RecordId::HubSpot(_) => System::HubSpot,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            RecordId::Salesforce(id) => id.as_str(),
            RecordId::HubSpot(id) => id.as_str(),
        }
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.side(), self.as_str())
    }
}

/// Which object a snapshot was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "system", content = "object", rename_all = "snake_case")]
pub enum RecordObject {
    Salesforce(SfObject),
    #[serde(rename = "hubspot")]
    HubSpot(ObjectPair),
}

/// Field values as read: HubSpot values are JSON strings (or null when
/// unset), Salesforce values are JSON scalars (string, number, bool, null).
pub type FieldMap = BTreeMap<String, serde_json::Value>;

/// A record as read from one CRM at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSnapshot {
    pub id: RecordId,
    pub object: RecordObject,
    pub fields: FieldMap,
    /// `LastModifiedDate` (Salesforce) or `lastmodifieddate` /
    /// `hs_lastmodifieddate` (HubSpot).
    pub last_modified: DateTime<Utc>,
}

impl RecordSnapshot {
    /// A Salesforce record snapshot.
    pub fn salesforce(id: SalesforceId, object: SfObject, fields: FieldMap, last_modified: DateTime<Utc>) -> Self {
        Self { id: RecordId::Salesforce(id), object: RecordObject::Salesforce(object), fields, last_modified }
    }

    /// A HubSpot record snapshot.
    pub fn hubspot(id: HubSpotId, object: ObjectPair, fields: FieldMap, last_modified: DateTime<Utc>) -> Self {
        Self { id: RecordId::HubSpot(id), object: RecordObject::HubSpot(object), fields, last_modified }
    }

    pub fn side(&self) -> System {
        self.id.side()
    }

    /// The Salesforce object, for a Salesforce snapshot.
    pub fn salesforce_object(&self) -> Option<SfObject> {
        match self.object {
            RecordObject::Salesforce(o) => Some(o),
            RecordObject::HubSpot(_) => None,
        }
    }

    pub fn field(&self, name: &str) -> Option<&serde_json::Value> {
        self.fields.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_15_character_salesforce_id_gets_its_published_case_safe_suffix() {
        let pairs = [
            ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
            ("0019000000B98de", "0019000000B98deAAB"),
            ("003D000000QTK2B", "003D000000QTK2BIAX"),
        ];
        for (short, long) in pairs {
            let id = SalesforceId::parse(short).unwrap();
            assert_eq!(id.as_str(), long);
            assert_eq!(id.to15(), short);
        }
    }

    #[test]
    fn an_18_character_salesforce_id_with_a_wrong_suffix_is_refused() {
        let err = SalesforceId::parse("001A0000006Vm9rAAA").unwrap_err();
        assert_eq!(err, ModelError::SalesforceIdChecksum { expected: "IAC".into() });
    }

    #[test]
    fn salesforce_ids_of_other_lengths_or_characters_are_refused() {
        assert_eq!(SalesforceId::parse("001A0000006Vm9").unwrap_err(), ModelError::SalesforceIdLength(14));
        assert_eq!(SalesforceId::parse("001A0000006Vm9-").unwrap_err(), ModelError::SalesforceIdCharacters);
    }

    #[test]
    fn the_15_and_18_character_forms_of_one_id_are_equal() {
        assert_eq!(SalesforceId::parse("001A0000006Vm9r").unwrap(), SalesforceId::parse("001A0000006Vm9rIAC").unwrap());
        assert_eq!(
            SalesforceId::parse("001a0000006Vm9rIAC").unwrap_err(),
            ModelError::SalesforceIdChecksum { expected: "AAC".into() }
        );
    }

    #[test]
    fn the_canonical_form_is_the_parsed_id_without_allocating() {
        for raw in ["001A0000006Vm9r", "001A0000006Vm9rIAC", "001A0000006Vm9riac", " 003D000000QTK2B "] {
            let canonical = SalesforceId::canonical(raw).unwrap();
            assert_eq!(&canonical[..], SalesforceId::parse(raw).unwrap().as_str().as_bytes(), "{raw:?}");
        }
        for raw in ["001A0000006Vm9rAAA", "001A0000006Vm9", "001A0000006Vm9-"] {
            assert_eq!(SalesforceId::canonical(raw).unwrap_err(), SalesforceId::parse(raw).unwrap_err(), "{raw:?}");
        }
    }

    #[test]
    fn the_key_prefix_names_the_object() {
        let lead = SalesforceId::parse("00Q5g00000AbCdE").unwrap();
        assert_eq!(lead.object(), Some(SfObject::Lead));
        let account = SalesforceId::parse("001A0000006Vm9r").unwrap();
        assert_eq!(account.object(), Some(SfObject::Account));
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
        assert_eq!(email.domain(), "example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in ["", "ada", "@example.com", "ada@example", "a b@example.com", "a@b@c.com"] {
            assert!(Email::parse(raw).is_err(), "{raw} was accepted");
        }
    }

    #[test]
    fn an_email_debug_output_hides_the_local_part() {
        let email = Email::parse("ada@example.com").unwrap();
        assert_eq!(format!("{email:?}"), "Email(***@example.com)");
    }

    #[test]
    fn hubspot_ids_are_digits_only() {
        assert!(HubSpotId::parse("512").is_ok());
        assert!(HubSpotId::parse("").is_err());
        assert!(HubSpotId::parse("51a").is_err());
    }

    #[test]
    fn a_snapshot_round_trips_through_json() {
        let snapshot = RecordSnapshot::salesforce(
            SalesforceId::parse("003D000000QTK2B").unwrap(),
            SfObject::Contact,
            FieldMap::from([("FirstName".into(), serde_json::json!("Ada"))]),
            DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc),
        );
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: RecordSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snapshot);
    }

    #[test]
    fn systems_and_pairs_keep_the_names_stored_in_keys_and_wire_formats() {
        for (system, name) in [(System::Salesforce, "salesforce"), (System::HubSpot, "hubspot")] {
            assert_eq!(system.as_str(), name);
            assert_eq!(system.to_string(), name);
            assert_eq!(System::parse(name), Some(system));
            assert_eq!(serde_json::to_value(system).unwrap(), serde_json::json!(name));
        }
        for (pair, name) in
            [(ObjectPair::Contact, "contact"), (ObjectPair::Company, "company"), (ObjectPair::Deal, "deal")]
        {
            assert_eq!(pair.as_str(), name);
            assert_eq!(pair.to_string(), name);
            assert_eq!(ObjectPair::parse(name), Some(pair));
            assert_eq!(serde_json::to_value(pair).unwrap(), serde_json::json!(name));
        }
        assert_eq!(System::parse("Hubspot"), None);
        assert_eq!(ObjectPair::parse("contacts"), None);
    }
}
