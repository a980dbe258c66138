//! The sync config: one versioned YAML file with the object switches, the
//! inclusion segment, the create policies, what a deletion does to the
//! counterpart, the Salesforce API cap and the field mappings (SPEC section 2).
//!
//! Owns parsing and every check on the config text: unknown keys, unknown
//! rule and type names, type compatibility, duplicate mappings, the built-in
//! default contact mappings (which a file may re-rule but never delete) and
//! the always-two-way owner mapping. Every error names the YAML line, the
//! mapping and the fix. Secrets never live here, and nothing here reads a
//! file: callers hand in the text (and, for messages, where it came from).
//!
//! Layout, each module using only those listed before it:
//! - `rule`: the four sync rules and their names.
//! - `types`: the HubSpot/Salesforce field-type table and its check.
//! - `mapping`: [`FieldMapping`] and the special roles of built-in mappings.
//! - `defaults`: the built-in contact and deal mapping tables.
//! - `segment`: the inclusion segment and its property filter.
//! - `deletions`: what a deletion does to the counterpart, per pair.
//! - `sync_config`: [`SyncConfig`] and its switches.
//! - `error`: [`ConfigError`].
//! - `entry`: the checks on one mapping entry of a file.
//! - `parse`: the YAML visitors, [`SyncConfig::from_yaml_str`] and
//!   [`SyncConfig::from_yaml_source`].
//!
//! The submodules are private and every public item is re-exported here, so
//! `crate::config::X` is the one path to each item.

mod bounds;
mod defaults;
mod deletions;
mod entry;
mod error;
mod mapping;
mod parse;
mod rule;
mod segment;
mod sync_config;
mod types;

pub use defaults::{default_contact_mappings, default_deal_mappings};
pub use deletions::{DeletedRecords, DeletedRecordsSettings};
pub use error::ConfigError;
pub use mapping::{FieldMapping, SpecialField};
pub use rule::SyncRule;
pub use segment::{FilterOperator, InclusionSegment};
pub use sync_config::{DEFAULT_SALESFORCE_API_CAP, NewContactObject, ObjectSwitches, SyncConfig};
pub use types::{HubSpotType, SalesforceType, types_compatible};
