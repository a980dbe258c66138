//! The per-record sync decision: both snapshots + the stored link + the
//! config -> the writes for each side, the fingerprints to store once the
//! writes succeeded, and the reason for every field.
//!
//! Owns the orchestration of one record: which mappings serve it, the
//! special fields of SPEC section 4 (opt-out, owner, formula fields), the
//! create/skip choice and echo suppression. It performs no IO; the use case
//! reads the records before and carries out the writes after.

use crate::config::{FieldMapping, SpecialField, SyncConfig, SyncRule};
use crate::model::{FieldMap, ObjectPair, RecordSnapshot, SfObject, System};
use crate::rules::{self, FieldFingerprint, FieldInput, FieldReason, FieldWrite, Normalised, apply_rule};
use crate::special::OwnerDirectory;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What is stored about a linked pair of records between syncs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinkState {
    /// Per mapping key ([`FieldMapping::key`]): what both sides held right
    /// after the last successful sync.
    pub fingerprints: BTreeMap<String, FieldFingerprint>,
    /// The Salesforce record's last-modified time seen at the last sync;
    /// formula fields only travel when it moved (or a mapped field changed).
    #[serde(default)]
    pub salesforce_last_modified: Option<DateTime<Utc>>,
    /// Mapping keys the link was stored without writing (an email-only
    /// import, an owner while the owner directory could not be read). They have no
    /// fingerprint, and the next sync applies the first-sync rules to them
    /// (SPEC section 1: a field not written is not "in sync"), rather than
    /// the new-mapping rule that keeps both existing values.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub never_written: BTreeSet<String>,
    /// Per mapping key: the side a sync was writing, and the fingerprint of
    /// the value, when it stored this link just before its writes (see
    /// [`RecordPlan::writing`](crate::plan::RecordPlan::writing)). Should
    /// the sync have stopped after a write landed and before the link was
    /// stored again, that side holding that value is the sync's own write,
    /// not a user's change. Empty once the writes are settled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub writing: BTreeMap<String, (System, rules::Fingerprint)>,
}

/// Per mapping key written by `fields`: the side written and the
/// fingerprint of the value written there, read from `link` (the state
/// after the writes). See [`LinkState::writing`].
pub fn writing_of(fields: &[FieldDecision], link: &LinkState) -> BTreeMap<String, (System, rules::Fingerprint)> {
    fields
        .iter()
        .filter_map(|field| {
            let side = field.wrote?;
            let print = link.fingerprints.get(&field.mapping)?;
            let value = match side {
                System::Salesforce => print.salesforce,
                System::HubSpot => print.hubspot,
            };
            Some((field.mapping.clone(), (side, value)))
        })
        .collect()
}

/// Facts about the record the decision cannot see in the snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionContext {
    /// An import or manual resync: apply every mapping in full.
    pub forced: bool,
    /// The HubSpot contact is in the inclusion segment (ignored when the
    /// config has no segment, or for companies and deals).
    pub in_inclusion_segment: bool,
    /// Creating the missing record is allowed by the caller's own checks
    /// (for a company: [`crate::special::company_creates_account`]).
    pub create_allowed: bool,
}

impl Default for DecisionContext {
    fn default() -> Self {
        Self { forced: false, in_inclusion_segment: true, create_allowed: true }
    }
}

/// Everything one decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    pub config: &'a SyncConfig,
    pub pair: ObjectPair,
    pub salesforce: Option<&'a RecordSnapshot>,
    pub hubspot: Option<&'a RecordSnapshot>,
    /// The stored link; `None` before the first sync of this pair of records.
    pub link: Option<&'a LinkState>,
    /// Exact owner <-> user matches; `None` means no owner is matched.
    pub owners: Option<&'a OwnerDirectory>,
    pub context: DecisionContext,
}

/// What to do with the record as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Update both existing records with the writes (possibly none).
    Update,
    /// Create the Salesforce record from `salesforce_writes`.
    CreateSalesforce { object: SfObject },
    /// Create the HubSpot record from `hubspot_writes`.
    CreateHubSpot { object: ObjectPair },
    /// Nothing is written.
    Skip { reason: SkipReason },
}

/// Why a whole record is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The object pair's sync switch is off.
    ObjectSyncOff,
    /// Neither record exists (both deleted, or never read).
    NoRecord,
    /// The contact is outside the inclusion segment.
    NotInInclusionSegment,
    /// The config does not create HubSpot contacts from Salesforce.
    HubSpotCreateDisabled,
    /// The caller's create checks refused (e.g. SPEC section 5 for a company).
    CreateNotAllowed,
    /// A contact cannot be created on the other side without an email.
    NoEmail,
}

/// One field's outcome, for logs and sync health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDecision {
    /// The mapping key (`hubspot<->Salesforce`).
    pub mapping: String,
    /// The side written, if any.
    pub wrote: Option<System>,
    pub reason: FieldReason,
}

/// The result of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub action: Action,
    /// Salesforce field API name -> value (`null` clears).
    pub salesforce_writes: FieldMap,
    /// HubSpot property -> string value (`""` clears).
    pub hubspot_writes: FieldMap,
    /// The link state to store once every write succeeded (it replaces the
    /// stored one). Empty for a skip.
    pub link: LinkState,
    pub fields: Vec<FieldDecision>,
}

impl Decision {
    /// What this decision writes, per mapping key ([`writing_of`]).
    pub fn writing(&self) -> BTreeMap<String, (System, rules::Fingerprint)> {
        writing_of(&self.fields, &self.link)
    }

    fn skip(reason: SkipReason) -> Self {
        Self {
            action: Action::Skip { reason },
            salesforce_writes: FieldMap::new(),
            hubspot_writes: FieldMap::new(),
            link: LinkState::default(),
            fields: Vec::new(),
        }
    }

    /// No write on either side.
    pub fn writes_nothing(&self) -> bool {
        self.salesforce_writes.is_empty() && self.hubspot_writes.is_empty()
    }

    pub fn is_skip(&self) -> bool {
        matches!(self.action, Action::Skip { .. })
    }

    /// The link state to store after a HubSpot upsert that sent part of the
    /// decision's `hubspot_writes` (an import sends fewer properties: the
    /// email only outside the inclusion segment, never the opt-out), without
    /// reading HubSpot first. `sent` says whether a property was sent, with
    /// the value decided (the caller may have moved `hubspot_writes` out to
    /// send them).
    ///
    /// SPEC section 1: a link remembers only what was actually written. A
    /// fingerprint stays for a mapping whose HubSpot property was sent as
    /// decided; one the decision wrote but the upsert did not send is
    /// dropped, so the next sync sees the field as never synced (it fills
    /// blanks) and never reads HubSpot's blank as a user's clear. A mapping
    /// the decision did not write keeps its fingerprint only when the upsert
    /// `created` the record: HubSpot then holds nothing but what was sent.
    /// An upsert that landed on an existing record tells nothing about its
    /// other properties, so their fingerprints go too.
    pub fn link_for_upsert(
        self,
        config: &SyncConfig,
        pair: ObjectPair,
        sent: impl Fn(&str) -> bool,
        created: bool,
    ) -> LinkState {
        let Decision { mut link, fields, .. } = self;
        // What each field wrote, by key (the first decision of a key when
        // there are several): sorted once, searched per print.
        let mut by_key: Vec<(&str, Option<System>)> = fields.iter().map(|f| (f.mapping.as_str(), f.wrote)).collect();
        by_key.sort_by(|a, b| a.0.cmp(b.0));
        let wrote = |key: &str| {
            let at = by_key.partition_point(|(k, _)| *k < key);
            by_key.get(at).filter(|(k, _)| *k == key).and_then(|(_, wrote)| *wrote)
        };
        link.never_written.clear();
        link.fingerprints.retain(|key, _| match wrote(key) {
            Some(System::HubSpot) => {
                config.mappings(pair).iter().find(|m| m.has_key(key)).is_some_and(|m| sent(&m.hubspot_property))
            }
            Some(System::Salesforce) => false,
            None => created,
        });
        link.never_written =
            fields.into_iter().map(|f| f.mapping).filter(|k| !link.fingerprints.contains_key(k)).collect();
        link
    }
}

/// The Salesforce field holding a contact's email.
pub const SALESFORCE_EMAIL_FIELD: &str = "Email";
/// The HubSpot property holding a contact's email.
pub const HUBSPOT_EMAIL_PROPERTY: &str = "email";

/// Decides what one record needs. Pure: the same input gives the same
/// decision.
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    let config = input.config;
    let pair = input.pair;
    if !config.objects.syncs(pair) {
        return Decision::skip(SkipReason::ObjectSyncOff);
    }
    // The segment governs existing HubSpot contacts; a new Salesforce
    // lead/contact still creates its HubSpot contact (SPEC section 2), which
    // then gets no further updates unless it joins the segment.
    if pair == ObjectPair::Contact
        && input.hubspot.is_some()
        && config.inclusion_segment.is_some()
        && !input.context.in_inclusion_segment
    {
        return Decision::skip(SkipReason::NotInInclusionSegment);
    }

    let (action, sf_object) = match (input.salesforce, input.hubspot) {
        (None, None) => return Decision::skip(SkipReason::NoRecord),
        (Some(sf), Some(_)) => (Action::Update, object_of(sf, pair, config)),
        (None, Some(hs)) => {
            if !input.context.create_allowed {
                return Decision::skip(SkipReason::CreateNotAllowed);
            }
            if pair == ObjectPair::Contact && email_of(hs, HUBSPOT_EMAIL_PROPERTY).is_none() {
                return Decision::skip(SkipReason::NoEmail);
            }
            let object = match pair {
                ObjectPair::Contact => config.new_contact_object.sf_object(),
                ObjectPair::Company => SfObject::Account,
                ObjectPair::Deal => SfObject::Opportunity,
            };
            (Action::CreateSalesforce { object }, object)
        }
        (Some(sf), None) => {
            if pair == ObjectPair::Contact && !config.create_hubspot_contact_from_salesforce {
                return Decision::skip(SkipReason::HubSpotCreateDisabled);
            }
            if !input.context.create_allowed {
                return Decision::skip(SkipReason::CreateNotAllowed);
            }
            if pair == ObjectPair::Contact && email_of(sf, SALESFORCE_EMAIL_FIELD).is_none() {
                return Decision::skip(SkipReason::NoEmail);
            }
            (Action::CreateHubSpot { object: pair }, object_of(sf, pair, config))
        }
    };

    let empty = FieldMap::new();
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let sf_fields = input.salesforce.map_or(&empty, |r| &r.fields);
    let hs_fields = input.hubspot.map_or(&empty, |r| &r.fields);
    let sf_modified = input.salesforce.map_or(epoch, |r| r.last_modified);
    let hs_modified = input.hubspot.map_or(epoch, |r| r.last_modified);
    let linked = input.link.is_some();
    let no_keys = BTreeSet::new();
    let never_written = input.link.map_or(&no_keys, |l| &l.never_written);
    let forced = input.context.forced;
    let no_fingerprints = BTreeMap::new();
    let last_prints = input.link.map_or(&no_fingerprints, |l| &l.fingerprints);
    let no_writes = BTreeMap::new();
    let writing = input.link.map_or(&no_writes, |l| &l.writing);

    let mappings: Vec<&FieldMapping> = config.mappings(pair).iter().filter(|m| m.serves(sf_object)).collect();

    // Formula fields travel only when the Salesforce record itself moved:
    // its last-modified time advanced, or a mapped, non-formula field changed.
    let salesforce_record_moved = !linked
        || forced
        || input.link.and_then(|l| l.salesforce_last_modified).is_none_or(|seen| sf_modified > seen)
        || mappings.iter().any(|m| {
            !m.salesforce_formula
                && m.rule != SyncRule::DontSync
                && last_prints.get(&m.key()).is_some_and(|f| {
                    let v = rules::normalise(sf_fields.get(&m.salesforce_field), m.hubspot_type, m.salesforce_type);
                    f.salesforce != rules::Fingerprint::of(&m.key(), &compared_salesforce(m, v, input.owners))
                })
        });

    let mut decision = Decision {
        action: action.clone(),
        salesforce_writes: FieldMap::new(),
        hubspot_writes: FieldMap::new(),
        link: LinkState {
            fingerprints: BTreeMap::new(),
            salesforce_last_modified: input.salesforce.map(|r| r.last_modified),
            never_written: BTreeSet::new(),
            writing: BTreeMap::new(),
        },
        fields: Vec::new(),
    };

    for mapping in mappings {
        let key = mapping.key();
        let sf_raw =
            rules::normalise(sf_fields.get(&mapping.salesforce_field), mapping.hubspot_type, mapping.salesforce_type);
        let hs =
            rules::normalise(hs_fields.get(&mapping.hubspot_property), mapping.hubspot_type, mapping.salesforce_type);
        let last = last_prints.get(&key);

        // The owner compares in HubSpot's id space. A Salesforce user with
        // no HubSpot owner stands for itself (a value no HubSpot owner
        // has): it still takes part in the comparison, so that a HubSpot
        // change to a matched owner reaches Salesforce, but is never written.
        let owner = mapping.special == Some(SpecialField::Owner);
        let sf = compared_salesforce(mapping, sf_raw, input.owners);

        let field = FieldInput {
            mapping_key: &key,
            salesforce: &sf,
            hubspot: &hs,
            last,
            // A field the link was stored without writing is synced for the
            // first time now.
            linked: linked && !never_written.contains(&key),
            forced,
            salesforce_modified: sf_modified,
            hubspot_modified: hs_modified,
            writing: writing.get(&key),
        };
        // Owner fingerprints are kept in HubSpot's id space on both sides.
        let (write, reason) = match mapping.special {
            Some(SpecialField::EmailOptOut) => email_opt_out(mapping.rule, &field),
            _ => apply_rule(mapping.rule, &field),
        };

        let (write, reason) = match write {
            FieldWrite::ToHubSpot(_) if mapping.salesforce_formula && !salesforce_record_moved && !field.is_full() => {
                (FieldWrite::None, FieldReason::FormulaDoesNotTrigger)
            }
            FieldWrite::ToSalesforce(_) if mapping.salesforce_formula => {
                (FieldWrite::None, FieldReason::FormulaDoesNotTrigger)
            }
            other => (other, reason),
        };

        match write {
            FieldWrite::None => {
                if matches!(reason, FieldReason::DontSync | FieldReason::FormulaDoesNotTrigger) {
                    // Keep what we knew, so the change is still seen later.
                    decision.keep(key, last, reason);
                } else {
                    decision.record(key, &sf, &hs, None, reason);
                }
            }
            FieldWrite::ToHubSpot(value)
                if owner && value.as_deref().is_some_and(|v| v.starts_with(UNMATCHED_USER)) =>
            {
                decision.owner_not_matched(key, &sf, &hs, last, input.owners.is_some());
            }
            FieldWrite::ToHubSpot(value) => {
                decision.hubspot_writes.insert(mapping.hubspot_property.clone(), rules::hubspot_value(&value));
                decision.record(key, &value, &value, Some(System::HubSpot), reason);
            }
            FieldWrite::ToSalesforce(value) => {
                let sf_value = if owner {
                    match &value {
                        None => Some(None),
                        Some(owner_id) => {
                            input.owners.and_then(|d| d.salesforce_user_for(owner_id)).map(|u| Some(u.to_owned()))
                        }
                    }
                } else {
                    Some(value.clone())
                };
                match sf_value {
                    Some(sf_value) => {
                        decision.salesforce_writes.insert(
                            mapping.salesforce_field.clone(),
                            rules::salesforce_value(&sf_value, mapping.salesforce_type),
                        );
                        decision.record(key, &value, &value, Some(System::Salesforce), reason);
                    }
                    None => decision.owner_not_matched(key, &sf, &hs, last, input.owners.is_some()),
                }
            }
        }
    }

    // Fields left without a fingerprint at the first sync (an owner while
    // the owner directory could not be read), or still not written since,
    // are synced for the first time later.
    decision.link.never_written = decision
        .fields
        .iter()
        .filter(|f| !decision.link.fingerprints.contains_key(&f.mapping) && f.reason != FieldReason::DontSync)
        .filter(|f| !linked || never_written.contains(&f.mapping))
        .map(|f| f.mapping.clone())
        .collect();

    // A create carries the matching key of contacts.
    match &action {
        Action::CreateSalesforce { .. } if pair == ObjectPair::Contact => {
            if let Some(email) = input.hubspot.and_then(|r| email_of(r, HUBSPOT_EMAIL_PROPERTY)) {
                decision.salesforce_writes.insert(SALESFORCE_EMAIL_FIELD.to_owned(), email.into());
            }
        }
        Action::CreateHubSpot { .. } if pair == ObjectPair::Contact => {
            if let Some(email) = input.salesforce.and_then(|r| email_of(r, SALESFORCE_EMAIL_FIELD)) {
                decision.hubspot_writes.insert(HUBSPOT_EMAIL_PROPERTY.to_owned(), email.into());
            }
        }
        _ => {}
    }
    decision
}

impl Decision {
    fn record(
        &mut self,
        key: String,
        salesforce: &Normalised,
        hubspot: &Normalised,
        wrote: Option<System>,
        reason: FieldReason,
    ) {
        self.link.fingerprints.insert(key.clone(), FieldFingerprint::of(&key, salesforce, hubspot));
        self.fields.push(FieldDecision { mapping: key, wrote, reason });
    }

    /// An owner the rule picked has no exact match on the other side: it is
    /// not written (SPEC section 2). With the owner directory read, the
    /// link remembers what each side holds, unequal, so that the owner is
    /// decided again only when a user changes it on either side: the
    /// sync's own writes to other fields move the records' modification
    /// times, and must not make an older owner the "most recent change"
    /// later. Without the directory (it could not be read), nothing is
    /// known about a match: what the link held is kept, and the owner is
    /// compared again at the next sync.
    fn owner_not_matched(
        &mut self,
        key: String,
        salesforce: &Normalised,
        hubspot: &Normalised,
        last: Option<&FieldFingerprint>,
        directory_read: bool,
    ) {
        if directory_read {
            self.record(key, salesforce, hubspot, None, FieldReason::OwnerNotMatched);
        } else {
            self.keep(key, last, FieldReason::OwnerNotMatched);
        }
    }

    fn keep(&mut self, key: String, last: Option<&FieldFingerprint>, reason: FieldReason) {
        if let Some(last) = last {
            self.link.fingerprints.insert(key.clone(), *last);
        }
        self.fields.push(FieldDecision { mapping: key, wrote: None, reason });
    }
}

/// Marks a Salesforce user with no matching HubSpot owner in the owner's
/// comparison (HubSpot owner ids are numbers, so no owner has this value).
const UNMATCHED_USER: &str = "unmatched-user:";

/// A Salesforce value as the rule compares it: the owner in HubSpot's id
/// space (a user with no HubSpot owner stands for itself, as a value no
/// owner has), any other field as it is.
fn compared_salesforce(mapping: &FieldMapping, value: Normalised, owners: Option<&OwnerDirectory>) -> Normalised {
    if mapping.special != Some(SpecialField::Owner) {
        return value;
    }
    value.map(|user| match owners.and_then(|d| d.hubspot_owner_for(&user)) {
        Some(owner_id) => owner_id.to_owned(),
        None => format!("{UNMATCHED_USER}{user}"),
    })
}

/// The Salesforce object of the pair this decision is about.
fn object_of(sf: &RecordSnapshot, pair: ObjectPair, config: &SyncConfig) -> SfObject {
    sf.salesforce_object().unwrap_or(match pair {
        ObjectPair::Contact => config.new_contact_object.sf_object(),
        ObjectPair::Company => SfObject::Account,
        ObjectPair::Deal => SfObject::Opportunity,
    })
}

fn email_of(record: &RecordSnapshot, field: &str) -> Option<String> {
    record.field(field).and_then(|v| v.as_str()).and_then(|s| crate::model::Email::parse(s).ok()).map(String::from)
}

/// Email opt-out (SPEC section 4): only an opt-out travels, only once the
/// contact was synced before, and only from the side where it happened
/// since the last sync. An import or resync does not push a standing
/// difference either: opting out is an act, not a state to copy.
fn email_opt_out(rule: SyncRule, field: &FieldInput<'_>) -> (FieldWrite, FieldReason) {
    if rule == SyncRule::DontSync {
        return (FieldWrite::None, FieldReason::DontSync);
    }
    let opted_out = |v: &Normalised| v.as_deref() == Some("true");
    let (sf, hs) = (field.salesforce, field.hubspot);
    if opted_out(sf) == opted_out(hs) {
        return (FieldWrite::None, FieldReason::InSync);
    }
    if !field.linked {
        return (FieldWrite::None, FieldReason::OptOutBeforeFirstSync);
    }
    if field.is_new_mapping() {
        return (FieldWrite::None, FieldReason::NewMappingKeepsExisting);
    }
    if opted_out(sf) {
        if field.salesforce_changed() {
            (FieldWrite::ToHubSpot(Some("true".into())), FieldReason::OptOutTravels)
        } else {
            (FieldWrite::None, FieldReason::OptInDoesNotTravel)
        }
    } else if field.hubspot_changed() {
        (FieldWrite::ToSalesforce(Some("true".into())), FieldReason::OptOutTravels)
    } else {
        (FieldWrite::None, FieldReason::ClearingOptOutNeverResubscribes)
    }
}
