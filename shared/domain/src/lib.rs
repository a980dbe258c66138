//! The sync core: pure, synchronous rules with no IO, no async and no clock
//! reads (time comes in as arguments).
//!
//! What must never come in: file, network or database access, environment
//! variables, the current time, and any vendor's wire details (Salesforce
//! error codes, HubSpot categories, HTTP statuses live with the clients in
//! `crm_sync_crm`). Everything here is a function of its arguments, which is
//! what lets the rules be property-tested.
//!
//! Layout (a module uses only modules listed before it):
//! - [`model`]: ids, emails, object kinds, sides, record snapshots.
//! - [`properties`]: HubSpot properties with a fixed meaning (read-only ones).
//! - [`error`]: error categories of sync health, the retry verdict, backoff.
//! - [`intent`]: the sync intent every trigger queues.
//! - [`matching`]: contacts by email, companies by link or contacts.
//! - [`chunks`]: import chunk planning.
//! - [`config`]: the sync config parsed from YAML text, its defaults and checks.
//! - [`rules`]: value normalisation, fingerprints, the four sync rules.
//! - [`special`]: SPEC section 4 special fields and section 5 account creation.
//! - [`decision`]: the per-record decision ([`decision::decide`]).
//! - [`moves`]: the link state of a link that moves to another record
//!   (a converted Lead's Contact, a merge survivor).
//! - [`echo`]: change notifications that report what a link already holds.
//! - [`plan`]: the batch planner: records, links and read facts in, writes
//!   and link updates out.
//! - [`secret`]: [`secret::Secret`], the one credential type (never prints).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod chunks;
pub mod config;
pub mod decision;
pub mod echo;
pub mod error;
pub mod intent;
pub mod matching;
pub mod model;
pub mod moves;
pub mod plan;
pub mod properties;
pub mod rules;
pub mod secret;
pub mod special;

pub use config::{ConfigError, FieldMapping, SyncConfig, SyncRule};
pub use decision::{Decision, DecisionContext, DecisionInput, LinkState, decide};
pub use intent::{SyncIntent, Trigger};
pub use model::{Email, HubSpotId, ObjectPair, RecordSnapshot, SalesforceId, SfObject, System};
