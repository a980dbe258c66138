//! The four sync rules of SPEC section 3, per mapped field, with blanking;
//! and the value normalisation and fingerprints they compare with.
//!
//! Owns: how a raw CRM value becomes a comparable value, how that value is
//! fingerprinted, and which way (if any) one field travels under one rule.
//! It knows nothing of records, links or special fields; the decision module
//! feeds it one field at a time.

use crate::config::{HubSpotType, SalesforceType, SyncRule};
use crate::model::System;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A normalised field value: `None` is blank (unset, null or empty).
pub type Normalised = Option<String>;

/// Normalises a raw value (HubSpot string or Salesforce JSON scalar) for a
/// mapping of these types, so that equal meanings compare equal: booleans as
/// `true`/`false` (blank is `false`), numbers without trailing zeros,
/// multi-select values sorted, dates as `YYYY-MM-DD`, date-times as UTC
/// RFC 3339 with milliseconds, text unchanged.
pub fn normalise(value: Option<&Value>, hubspot: HubSpotType, salesforce: SalesforceType) -> Normalised {
    let text = match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => Some(other.to_string()),
    };
    if hubspot == HubSpotType::SingleCheckbox || salesforce == SalesforceType::Boolean {
        let truthy = text.as_deref().is_some_and(|t| t.trim().eq_ignore_ascii_case("true") || t.trim() == "1");
        return Some(truthy.to_string());
    }
    let text = text?;
    if hubspot == HubSpotType::DatePicker || salesforce == SalesforceType::Date {
        return Some(normalise_date(&text).unwrap_or(text));
    }
    match salesforce {
        SalesforceType::Datetime => Some(normalise_datetime(&text).unwrap_or(text)),
        SalesforceType::Double | SalesforceType::Int | SalesforceType::Currency | SalesforceType::Percent => {
            Some(normalise_number(&text).unwrap_or(text))
        }
        SalesforceType::Multipicklist => {
            let mut parts: Vec<&str> = text.split(';').map(str::trim).filter(|p| !p.is_empty()).collect();
            parts.sort_unstable();
            parts.dedup();
            if parts.is_empty() { None } else { Some(parts.join(";")) }
        }
        _ => Some(text),
    }
}

fn normalise_number(text: &str) -> Option<String> {
    let n: f64 = text.trim().parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    if n.fract() == 0.0 && n.abs() < 1e15 {
        // Exact: |n| < 2^53, so the cast keeps every digit.
        #[allow(clippy::cast_possible_truncation)]
        return Some(format!("{}", n as i64));
    }
    Some(format!("{n}"))
}

fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(ms) = t.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    // Salesforce writes `2024-05-01T12:00:00.000+0000`.
    DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z").ok().map(|dt| dt.with_timezone(&Utc))
}

fn normalise_date(text: &str) -> Option<String> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d.format("%Y-%m-%d").to_string());
    }
    parse_instant(t).map(|dt| dt.date_naive().format("%Y-%m-%d").to_string())
}

fn normalise_datetime(text: &str) -> Option<String> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let dt = d.and_hms_opt(0, 0, 0)?.and_utc();
        return Some(dt.to_rfc3339_opts(SecondsFormat::Millis, true));
    }
    parse_instant(t).map(|dt| dt.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The JSON value to write to a HubSpot property: always a string, `""`
/// clears it.
pub fn hubspot_value(value: &Normalised) -> Value {
    Value::String(value.clone().unwrap_or_default())
}

/// The JSON value to write to a Salesforce field of this type: `null`
/// clears it; booleans and numbers are typed.
pub fn salesforce_value(value: &Normalised, salesforce: SalesforceType) -> Value {
    let Some(text) = value else {
        return Value::Null;
    };
    match salesforce {
        SalesforceType::Boolean => Value::Bool(text == "true"),
        SalesforceType::Int => text.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(text.clone())),
        SalesforceType::Double | SalesforceType::Currency | SalesforceType::Percent => {
            if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else {
                text.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(|| Value::String(text.clone()), Value::Number)
            }
        }
        _ => Value::String(text.clone()),
    }
}

/// A stable hash of one normalised value of one mapping: 16 bytes, held
/// inline (no allocation per print), written as 32 lowercase hex digits
/// wherever it is stored or serialised.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// sha256 over a version tag, the mapping key and the value, first 16
    /// bytes: equal inputs give equal prints on every machine and release.
    pub fn of(mapping_key: &str, value: &Normalised) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"crm-sync/v1\0");
        hasher.update(mapping_key.as_bytes());
        hasher.update([0u8]);
        match value {
            None => hasher.update([0u8]),
            Some(v) => {
                hasher.update([1u8]);
                hasher.update(v.as_bytes());
            }
        }
        let digest = hasher.finalize();
        let mut print = [0u8; 16];
        print.copy_from_slice(&digest[..16]);
        Self(print)
    }

    /// A print as stored (32 hex digits, what [`Fingerprint::hex`] gives);
    /// `None` for any other text.
    pub fn from_stored(text: &str) -> Option<Self> {
        let mut print = [0u8; 16];
        hex::decode_to_slice(text, &mut print).ok()?;
        Some(Self(print))
    }

    /// The print as stored: 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(32);
        self.push_hex(&mut out);
        out
    }

    /// Writes the print's 32 hex digits to `out`.
    pub fn push_hex(&self, out: &mut String) {
        let mut digits = [0u8; 32];
        if hex::encode_to_slice(self.0, &mut digits).is_ok()
            && let Ok(digits) = std::str::from_utf8(&digits)
        {
            out.push_str(digits);
        }
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.hex())
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Fingerprint::from_stored(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a fingerprint (32 hex digits): {text:?}")))
    }
}

/// What the two sides held, per mapping, right after the last sync. Both
/// sides are kept: after a sync that left them different on purpose (a new
/// mapping keeping existing values, an opt-in that does not travel) a change
/// on either side can still be told apart from the value we last saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldFingerprint {
    pub salesforce: Fingerprint,
    pub hubspot: Fingerprint,
}

impl FieldFingerprint {
    /// Both sides' prints; one hash when they hold the same value.
    pub fn of(mapping_key: &str, salesforce: &Normalised, hubspot: &Normalised) -> Self {
        let salesforce_print = Fingerprint::of(mapping_key, salesforce);
        let hubspot = if salesforce == hubspot { salesforce_print } else { Fingerprint::of(mapping_key, hubspot) };
        Self { salesforce: salesforce_print, hubspot }
    }
}

/// Which way one field travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldWrite {
    None,
    ToHubSpot(Normalised),
    ToSalesforce(Normalised),
}

/// Why a field was written or left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldReason {
    /// Both sides already hold the same value.
    InSync,
    /// The rule is Don't sync.
    DontSync,
    /// Neither side changed since the last sync.
    Unchanged,
    /// Salesforce has a value and the rule prefers or always uses Salesforce.
    SalesforceValueWins,
    /// The value was cleared in Salesforce; the clear travels to HubSpot.
    ClearedInSalesforce,
    /// Always use Salesforce: HubSpot is set back to Salesforce's blank.
    SalesforceBlankWins,
    /// The Salesforce field is blank, so the HubSpot value fills it.
    SalesforceBlankFilled,
    /// The HubSpot field is blank, so the Salesforce value fills it.
    HubSpotBlankFilled,
    /// Two-way: only Salesforce changed, or Salesforce changed last.
    SalesforceChangedLast,
    /// Two-way: only HubSpot changed, or HubSpot changed last.
    HubSpotChangedLast,
    /// Two-way: both changed at the same instant; Salesforce wins ties.
    TieGoesToSalesforce,
    /// The mapping is new for this record: existing values are kept until an
    /// import or resync.
    NewMappingKeepsExisting,
    /// Always use Salesforce on a first sync: a blank Salesforce value does
    /// not clear existing HubSpot data.
    FirstSyncKeepsHubSpotValue,
    /// Email opt-out travelled to the other side.
    OptOutTravels,
    /// Email opt-out does not travel before a contact's first sync.
    OptOutBeforeFirstSync,
    /// Clearing the Salesforce checkbox never re-subscribes HubSpot.
    ClearingOptOutNeverResubscribes,
    /// A HubSpot re-subscription is not pushed to Salesforce.
    OptInDoesNotTravel,
    /// No exact user match for the owner; the value is not written.
    OwnerNotMatched,
    /// A formula field change alone never triggers a write.
    FormulaDoesNotTrigger,
    /// The contact's Salesforce campaigns differ from the HubSpot
    /// "Salesforce Campaigns" value, which is replaced (SPEC section 4).
    CampaignMembershipChanged,
    /// The id a create is keyed by, so that a repeated create updates the
    /// record it created (`HubSpot_Id__c`, `salesforce_id`).
    CreateKey,
    /// A new Opportunity gets the account linked to its deal's company.
    AccountFromDealCompany,
    /// A required field of a new Salesforce record had no value; the
    /// placeholder is fingerprinted so that it never travels back.
    RequiredPlaceholder,
    /// A new HubSpot deal with no mapped pipeline joins the default one.
    DefaultPipeline,
}

/// One field's inputs to a rule.
#[derive(Debug, Clone)]
pub struct FieldInput<'a> {
    pub mapping_key: &'a str,
    pub salesforce: &'a Normalised,
    pub hubspot: &'a Normalised,
    /// The fingerprint stored at the last sync; `None` before the first sync
    /// of this record or for a mapping added since.
    pub last: Option<&'a FieldFingerprint>,
    /// The record has a stored link (it was synced before).
    pub linked: bool,
    /// An import or manual resync: apply the rule in full.
    pub forced: bool,
    pub salesforce_modified: DateTime<Utc>,
    pub hubspot_modified: DateTime<Utc>,
    /// The side an earlier sync was writing this field to, and the value's
    /// fingerprint, when it stopped before storing the link after its
    /// writes ([`crate::decision::LinkState::writing`]).
    pub writing: Option<&'a (System, Fingerprint)>,
}

impl FieldInput<'_> {
    /// Salesforce differs from what it held after the last sync, and is not
    /// the value an interrupted sync was writing there.
    pub fn salesforce_changed(&self) -> bool {
        let now = Fingerprint::of(self.mapping_key, self.salesforce);
        self.last.is_none_or(|f| f.salesforce != now) && !self.was_writing(System::Salesforce, &now)
    }

    /// HubSpot differs from what it held after the last sync, and is not the
    /// value an interrupted sync was writing there.
    pub fn hubspot_changed(&self) -> bool {
        let now = Fingerprint::of(self.mapping_key, self.hubspot);
        self.last.is_none_or(|f| f.hubspot != now) && !self.was_writing(System::HubSpot, &now)
    }

    fn was_writing(&self, side: System, now: &Fingerprint) -> bool {
        self.last.is_some() && self.writing.is_some_and(|(to, print)| *to == side && print == now)
    }

    /// A linked record whose mapping has no fingerprint yet, outside an
    /// import or resync: existing values must not be rewritten.
    pub fn is_new_mapping(&self) -> bool {
        self.linked && self.last.is_none() && !self.forced
    }

    /// First sync of the record, or an import/resync: the rule applies in
    /// full, without regard to what changed.
    pub fn is_full(&self) -> bool {
        !self.linked || self.forced
    }
}

/// Applies one sync rule to one field (SPEC section 3).
///
/// Outside a first sync or an import/resync, a field travels only when a
/// side changed since the last sync (fingerprints); a value equal to what we
/// last saw on a side is not a change, which is what stops echoes.
pub fn apply_rule(rule: SyncRule, input: &FieldInput<'_>) -> (FieldWrite, FieldReason) {
    let (sf, hs) = (input.salesforce, input.hubspot);
    if rule == SyncRule::DontSync {
        return (FieldWrite::None, FieldReason::DontSync);
    }
    if sf == hs {
        return (FieldWrite::None, FieldReason::InSync);
    }
    if input.is_new_mapping() {
        return fill_blanks_only(rule, sf, hs);
    }
    let full = input.is_full();
    let sf_changed = input.salesforce_changed();
    let hs_changed = input.hubspot_changed();
    if !full && !sf_changed && !hs_changed {
        return (FieldWrite::None, FieldReason::Unchanged);
    }
    match rule {
        SyncRule::DontSync => (FieldWrite::None, FieldReason::DontSync),
        SyncRule::PreferSalesforceUnlessBlank => match (sf, hs) {
            (Some(_), _) => (FieldWrite::ToHubSpot(sf.clone()), FieldReason::SalesforceValueWins),
            (None, Some(_)) => {
                let cleared_in_salesforce = !full && sf_changed;
                let hubspot_newer = hs_changed && input.hubspot_modified > input.salesforce_modified;
                if cleared_in_salesforce && !hubspot_newer {
                    (FieldWrite::ToHubSpot(None), FieldReason::ClearedInSalesforce)
                } else {
                    (FieldWrite::ToSalesforce(hs.clone()), FieldReason::SalesforceBlankFilled)
                }
            }
            (None, None) => (FieldWrite::None, FieldReason::InSync),
        },
        SyncRule::AlwaysUseSalesforce => match sf {
            Some(_) => (FieldWrite::ToHubSpot(sf.clone()), FieldReason::SalesforceValueWins),
            None if full => (FieldWrite::None, FieldReason::FirstSyncKeepsHubSpotValue),
            None if sf_changed => (FieldWrite::ToHubSpot(None), FieldReason::ClearedInSalesforce),
            None => (FieldWrite::ToHubSpot(None), FieldReason::SalesforceBlankWins),
        },
        SyncRule::TwoWay => {
            if full {
                // No history to tell who changed: fill blanks, else the
                // newer record wins.
                return match (sf, hs) {
                    (None, Some(_)) => (FieldWrite::ToSalesforce(hs.clone()), FieldReason::SalesforceBlankFilled),
                    (Some(_), None) => (FieldWrite::ToHubSpot(sf.clone()), FieldReason::HubSpotBlankFilled),
                    _ => newer_wins(input),
                };
            }
            match (sf_changed, hs_changed) {
                (true, false) => (FieldWrite::ToHubSpot(sf.clone()), FieldReason::SalesforceChangedLast),
                (false, true) => (FieldWrite::ToSalesforce(hs.clone()), FieldReason::HubSpotChangedLast),
                _ => newer_wins(input),
            }
        }
    }
}

/// Two-way conflict: the side modified last wins; on an exact tie Salesforce
/// wins (it is the system of record under the default rule, and a fixed
/// choice keeps the outcome independent of delivery order).
fn newer_wins(input: &FieldInput<'_>) -> (FieldWrite, FieldReason) {
    use std::cmp::Ordering;
    match input.salesforce_modified.cmp(&input.hubspot_modified) {
        Ordering::Greater => (FieldWrite::ToHubSpot(input.salesforce.clone()), FieldReason::SalesforceChangedLast),
        Ordering::Less => (FieldWrite::ToSalesforce(input.hubspot.clone()), FieldReason::HubSpotChangedLast),
        Ordering::Equal => (FieldWrite::ToHubSpot(input.salesforce.clone()), FieldReason::TieGoesToSalesforce),
    }
}

fn fill_blanks_only(rule: SyncRule, sf: &Normalised, hs: &Normalised) -> (FieldWrite, FieldReason) {
    match (sf, hs) {
        (Some(_), None) if rule != SyncRule::DontSync => {
            (FieldWrite::ToHubSpot(sf.clone()), FieldReason::HubSpotBlankFilled)
        }
        (None, Some(_)) if rule.may_write_salesforce() => {
            (FieldWrite::ToSalesforce(hs.clone()), FieldReason::SalesforceBlankFilled)
        }
        _ => (FieldWrite::None, FieldReason::NewMappingKeepsExisting),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Prints are stored: the same value must give the same print in every
    /// release, and the stored text must read back as the same print.
    #[test]
    fn a_print_is_stable_and_reads_back_from_its_stored_text() {
        let cto = Fingerprint::of("jobtitle<->Title", &Some("CTO".into()));
        let blank = Fingerprint::of("jobtitle<->Title", &None);
        assert_eq!(cto.hex(), "60c65688e151c54a4b5e4184be3bd8d5");
        assert_eq!(blank.hex(), "934e23f44234226116e4a2bd914cc849");
        let mut pushed = String::new();
        cto.push_hex(&mut pushed);
        assert_eq!(pushed, cto.hex());
        assert_eq!(Fingerprint::from_stored(&cto.hex()), Some(cto));
        assert_eq!(serde_json::to_string(&cto).unwrap(), "\"60c65688e151c54a4b5e4184be3bd8d5\"");
        assert_eq!(serde_json::from_str::<Fingerprint>("\"60c65688e151c54a4b5e4184be3bd8d5\"").unwrap(), cto);
        for bad in ["", "60c6", "zzc65688e151c54a4b5e4184be3bd8d5", "60c65688e151c54a4b5e4184be3bd8d500"] {
            assert_eq!(Fingerprint::from_stored(bad), None, "{bad:?}");
        }
        assert!(serde_json::from_str::<Fingerprint>("\"not a print\"").is_err());
    }
}
