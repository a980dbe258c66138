//! The sync core: pure, synchronous rules with no IO, no async and no clock
//! reads (time comes in as arguments).
//!
//! Layout:
//! - [`model`]: ids, emails, object kinds, sides, record snapshots.
//! - [`intent`]: the sync intent every trigger queues.
//! - [`config`]: the YAML sync config, its defaults and its checks.
//! - [`rules`]: value normalisation, fingerprints, the four sync rules.
//! - [`decision`]: the per-record decision ([`decision::decide`]).
//! - [`special`]: SPEC section 4 special fields and section 5 account creation.
//! - [`matching`]: contacts by email, companies by link or contacts.
//! - [`chunks`]: import chunk planning.
//! - [`error`]: error categories of sync health, the retry verdict, backoff.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod chunks;
pub mod config;
pub mod decision;
pub mod error;
pub mod intent;
pub mod matching;
pub mod model;
pub mod rules;
pub mod special;

pub use config::{ConfigError, FieldMapping, SyncConfig, SyncRule};
pub use decision::{Decision, DecisionContext, DecisionInput, LinkState, decide};
pub use intent::{SyncIntent, Trigger};
pub use model::{Email, HubSpotId, ObjectPair, RecordSnapshot, SalesforceId, SfObject, System};
