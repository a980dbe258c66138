//! The use cases of crm-sync, the one builder of the App, and the local
//! runtime that runs them.
//!
//! Layout:
//! - [`app`]: [`App`], everything a use case needs, built once.
//! - [`config_file`]: reading the sync config from a settings file.
//! - [`build`]: the one place the App is built: credentials, CRM clients,
//!   the embedded store (local) or DynamoDB and SQS (feature `aws`).
//! - [`codec`]: record snapshots and link state to and from the CRMs' and
//!   the store's shapes, shared by the sync, imports and resyncs.
//! - [`ports`]: what the use cases need from each CRM (batch-shaped traits).
//! - [`usecases`]: webhook handling, sweep, import, sync, resync, reading
//!   sync health, dead letters.
//! - [`local`]: the local runtime (sync workers, sweep timer, import runner)
//!   and, with feature `server`, its webhook server and the sync-health page
//!   (`local::ui`).
//! - [`usage`]: API calls per system per rolling day against the cap;
//!   [`cap`]: the gate holding every Salesforce call to it.
//! - [`messages`]: the queue message bodies; [`retry`]: how a sync message
//!   is settled (backoff, waits for API limits, giving up).
//! - [`webhook`]: the wire formats of HubSpot deliveries and Salesforce
//!   outbound messages.
//! - `testing` (tests and feature `test-util` only): in-memory CRM fakes and
//!   a test App over SQLite in memory and a manual clock.
//! - [`domain`], [`store`]: the few lower-layer types the CLI and the
//!   functions name, re-exported so that they depend on this crate only.
//!
//! Features: `server` (the CLI) links axum for the local webhook server;
//! `aws` (the functions) links the AWS SDK for the deployed App. Neither is
//! on by default, so each binary links only what it runs.

pub mod adapters;
pub mod app;
pub mod build;
pub mod cap;
pub mod codec;
pub mod config_file;
pub mod error;
pub mod local;
pub mod messages;
pub mod ports;
pub mod retry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod usage;
pub mod usecases;
pub mod webhook;

pub use app::{App, AppParts, AppSettings, SalesforceOrg, Secret, WebhookSecrets};
pub use build::{BuildError, Credentials, CredentialsError, CrmEndpoints};
pub use config_file::{ConfigFileError, load_config_file};
pub use crm_sync_store::ImportJob;
pub use error::AppError;
pub use usage::{Priority, UsageHistory, UsageReport, api_usage, api_usage_history};
pub use usecases::import::{
    ChunkReport, ImportFilter, ImportObjects, ImportRequest, ImportReview, import_progress, import_resume,
    import_review, import_start, import_status, run_import_chunk,
};
pub use usecases::org_move::{OrgMoveReport, OrgMoveReview, move_to_new_org, org_move_review};
pub use usecases::resync::{
    RecordRef, ResyncReport, Segment, SegmentReview, resync_record, resync_segment, resync_segment_review,
};
pub use usecases::setup::{
    AppliedAction, SetupAction, SetupItem, SetupReport, SetupStatus, SetupSystem, setup_apply, setup_check,
};
pub use usecases::sweep::{SweepReport, sweep_once};
pub use usecases::sync::{BatchOutcome, ItemResult, MessageOutcome, RetryCause, SyncStats, sync_batch};
pub use usecases::webhook::{WebhookRequest, WebhookResponse, handle_hubspot_webhook, handle_salesforce_outbound};

/// The domain types the CLI's commands and the functions name: the sync
/// settings and their errors, object kinds, error categories. A targeted
/// list, not the whole domain: what is here is what the layers above may
/// rely on.
pub mod domain {
    pub use crm_sync_domain::config::{ConfigError, DEFAULT_SALESFORCE_API_CAP, SyncConfig};
    pub use crm_sync_domain::error::ErrorCategory;
    pub use crm_sync_domain::{ObjectPair, SfObject};
}

/// The state store types the CLI's reading commands (health, usage, import
/// status) and the functions' queue adapters name. The store itself is
/// opened by [`build`].
pub mod store {
    /// The capability traits, for calling store methods on a concrete store.
    pub use crm_sync_store::prelude;
    pub use crm_sync_store::sqlite::SqliteStore;
    pub use crm_sync_store::{
        ChunkStatus, Clock, ErrorFilter, ErrorReport, ImportChunk, JobStatus, ManualClock, ObjectPair, OutgoingMessage,
        Queue, ReceivedMessage, StateStore, StoreError, SyncHealthError, System, SystemClock, UsageBucket,
    };
}
