//! [`SyncConfig`] itself: the checked settings every use case reads, and the
//! small switches it is made of (SPEC section 2).
//!
//! Owns the built value and the questions asked of it (which pairs sync,
//! which mappings serve an object). A `SyncConfig` is always valid: it is
//! built only from the defaults or by [`super::parse`], which runs every
//! check, so readers never re-check it. This module does not parse YAML and
//! reads no files; loading a file from disk is the application's job.

use super::defaults::{default_contact_mappings, default_deal_mappings};
use super::deletions::DeletedRecordsSettings;
use super::mapping::FieldMapping;
use super::segment::InclusionSegment;
use crate::model::{ObjectPair, SfObject};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU64;

/// Object sync switches. Contacts always sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectSwitches {
    /// HubSpot companies <-> Salesforce Accounts (off by default).
    pub companies: bool,
    /// HubSpot deals <-> Salesforce Opportunities (off by default).
    pub deals: bool,
    /// Tasks (off by default; SPEC section 1 lists them as optional, later:
    /// the switch is read but no task sync exists yet).
    pub tasks: bool,
}

impl ObjectSwitches {
    /// Contacts cannot be switched off: always `true`.
    pub fn contacts(&self) -> bool {
        true
    }

    /// Whether records of this object pair sync at all.
    pub fn syncs(&self, pair: ObjectPair) -> bool {
        match pair {
            ObjectPair::Contact => true,
            ObjectPair::Company => self.companies,
            ObjectPair::Deal => self.deals,
        }
    }
}

/// The Salesforce object a new HubSpot contact becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewContactObject {
    /// A Lead (the default).
    #[default]
    Lead,
    /// A Contact.
    Contact,
}

impl NewContactObject {
    /// The Salesforce object created.
    pub fn sf_object(self) -> SfObject {
        match self {
            NewContactObject::Lead => SfObject::Lead,
            NewContactObject::Contact => SfObject::Contact,
        }
    }
}

/// The default Salesforce API cap per rolling 24 hours.
pub const DEFAULT_SALESFORCE_API_CAP: u64 = 10_000;

/// [`DEFAULT_SALESFORCE_API_CAP`] as the non-zero type the config holds.
pub(super) fn default_cap() -> NonZeroU64 {
    NonZeroU64::new(DEFAULT_SALESFORCE_API_CAP).unwrap_or(NonZeroU64::MIN)
}

/// The whole, checked sync config. Build it with [`SyncConfig::from_yaml_str`],
/// [`SyncConfig::from_yaml_source`] or [`SyncConfig::default`] (defaults only).
///
/// Invariants: every built-in default contact mapping is present (a file may
/// re-rule one, never delete it), each pair's mappings satisfy the
/// [`FieldMapping`] invariants, and the API cap is above zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncConfig {
    /// Which object pairs sync.
    pub objects: ObjectSwitches,
    /// Which HubSpot contacts sync to Salesforce; `None`: all of them.
    pub inclusion_segment: Option<InclusionSegment>,
    /// What a new HubSpot contact becomes in Salesforce.
    pub new_contact_object: NewContactObject,
    /// Whether a new Salesforce Lead or Contact creates a HubSpot contact.
    pub create_hubspot_contact_from_salesforce: bool,
    /// What a deleted record's counterpart becomes, per pair (kept by default).
    pub deleted_records: DeletedRecordsSettings,
    /// The share of the org's daily allocation this sync may use.
    pub salesforce_api_cap_per_24h: NonZeroU64,
    pub(super) contact_mappings: Vec<FieldMapping>,
    pub(super) company_mappings: Vec<FieldMapping>,
    pub(super) deal_mappings: Vec<FieldMapping>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            objects: ObjectSwitches::default(),
            inclusion_segment: None,
            new_contact_object: NewContactObject::Lead,
            create_hubspot_contact_from_salesforce: true,
            deleted_records: DeletedRecordsSettings::default(),
            salesforce_api_cap_per_24h: default_cap(),
            contact_mappings: default_contact_mappings(),
            company_mappings: Vec::new(),
            deal_mappings: default_deal_mappings(),
        }
    }
}

impl SyncConfig {
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
