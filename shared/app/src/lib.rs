//! The use cases of crm-sync and the local runtime that runs them.
//!
//! Layout:
//! - [`app`]: [`App`], everything a use case needs, built once.
//! - [`ports`]: what the use cases need from each CRM (batch-shaped traits).
//! - [`usecases`]: webhook handling, sweep, import, sync, resync.
//! - [`local`]: the local runtime (webhook server, sweep timer, workers).
//! - [`usage`]: API calls per system per rolling day against the cap.
//! - [`messages`]: the queue message bodies.
//! - [`webhook`]: the wire formats of HubSpot deliveries and Salesforce
//!   outbound messages.

pub mod adapters;
pub mod app;
pub mod codec;
pub mod error;
pub mod local;
pub mod messages;
pub mod ports;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod usage;
pub mod usecases;
pub mod webhook;

pub use app::{App, AppParts, AppSettings, Secret, WebhookSecrets};
pub use crm_sync_store::ImportJob;
pub use error::AppError;
pub use usage::{Priority, UsageReport, api_usage};
pub use usecases::import::{
    ChunkReport, ImportFilter, ImportObjects, ImportRequest, ImportReview, import_review, import_start, import_status,
    run_import_chunk,
};
pub use usecases::resync::{
    RecordRef, ResyncReport, Segment, SegmentReview, resync_record, resync_segment, resync_segment_review,
};
pub use usecases::sweep::{SweepReport, sweep_once};
pub use usecases::sync::{BatchOutcome, ItemResult, MessageOutcome, SyncStats, sync_batch};
pub use usecases::webhook::{WebhookRequest, WebhookResponse, handle_hubspot_webhook, handle_salesforce_outbound};
