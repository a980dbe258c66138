//! What the use cases need from each CRM: small traits by capability, and
//! the record and result shapes they exchange.
//!
//! The use cases talk to these ports, never to HTTP. The production
//! implementations wrap the `crm_sync_crm` clients (see [`crate::adapters`]);
//! the in-memory fakes in `crate::testing` stand in for them in unit tests.
//!
//! Invariants every implementation keeps, because the use cases plan around
//! them:
//! - Methods are batch-shaped (HubSpot [`HUBSPOT_BATCH`] per call,
//!   Salesforce [`SALESFORCE_BATCH`] per call) and each one is one, or a
//!   known small number of, API calls, so that imports and resyncs can say
//!   their cost before they start.
//! - Writes answer per record, in input order ([`WriteResult`]): one bad
//!   record never fails its batch. An `Err` of the method itself means the
//!   call as a whole did not happen (or its outcome is unknown).
//! - Reads leave unknown (and deleted) records out instead of failing.
//! - [`ApiCalls::calls_made`] only grows; usage accounting turns its growth
//!   into the shared daily figure.
//!
//! Each CRM's port is a supertrait ([`SalesforceApi`], [`HubspotApi`]) with a
//! blanket implementation over its capability traits, so callers hold one
//! `Arc<dyn SalesforceApi>` and call any capability's methods on it, while
//! an implementation (or a fake) is written capability by capability.

mod hubspot;
mod packed;
mod salesforce;
mod setup;

pub use hubspot::{
    HubspotAccount, HubspotApi, HubspotAssociations, HubspotRecords, HubspotWebhooks, signature_headers,
};
pub use packed::{PackedRows, RowView};
pub use salesforce::{SalesforceApi, SalesforceIdentity, SalesforceQueries, SalesforceRecords, SalesforceReplication};
pub use setup::{FieldAccess, HubspotSetup, ListSummary, ObjectAccess, OutboundMessage, PropertyInfo, SalesforceSetup};

use chrono::{DateTime, Utc};
use crm_sync_domain::model::FieldMap;
use serde_json::{Map, Value};

/// Most records one HubSpot batch call takes.
pub const HUBSPOT_BATCH: usize = 100;
/// Most records one Salesforce Collections call takes.
pub const SALESFORCE_BATCH: usize = 200;

/// The API-call count of a CRM client, shared by both ports.
pub trait ApiCalls: Send + Sync {
    /// API calls made through this client since it was built. Monotonic:
    /// the use cases write its growth since their last look to the store,
    /// so that every process shares one daily figure per CRM.
    fn calls_made(&self) -> u64;

    /// Makes the client ask `gate` before each request it sends (the API
    /// cap). Returns whether it will: a client that cannot (the in-memory
    /// fakes) answers `false`, and its calls are counted from
    /// [`ApiCalls::calls_made`] instead.
    fn install_gate(&self, gate: std::sync::Arc<dyn crm_sync_crm::gate::CallGate>) -> bool {
        let _ = gate;
        false
    }
}

/// A Salesforce record as read: its id, type and fields by API name.
#[derive(Debug, Clone, PartialEq)]
pub struct SfRecord {
    /// The sObject type (`Contact`, `Lead`, ...), from the record's
    /// `attributes` when Salesforce sent them, else the one asked for.
    pub sobject: String,
    /// The record id as Salesforce sent it; compare ids only after
    /// `SalesforceId::parse` (15 and 18 characters name the same record).
    pub id: String,
    /// The fields asked for; `Value::Null` for an empty field. (The
    /// domain's field map, so that a record becomes a snapshot without
    /// copying its fields.)
    pub fields: FieldMap,
}

/// A HubSpot record as read: id, properties (all strings in HubSpot), and the
/// ids of associated records when they were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct HsRecord {
    /// The object type as asked for (`contacts`, `companies`, `deals`).
    pub object: String,
    /// The numeric record id, as text.
    pub id: String,
    /// The properties asked for (null when unset) plus the ones HubSpot
    /// always returns (`hs_object_id`, `createdate`, last modified).
    pub properties: Map<String, Value>,
}

/// One write's outcome, in input order.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteResult {
    /// Written; `created` when a new record was made.
    Ok { id: String, created: bool },
    /// Refused for this record only, with the CRM's own code and message.
    Err { code: String, message: String },
}

/// A record id that changed, or was deleted, in a time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub id: String,
    /// True for a deletion (Salesforce's getDeleted); HubSpot's search
    /// lists live records only.
    pub deleted: bool,
}

/// What a changed-since listing found, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedWindow {
    pub changes: Vec<Changed>,
    /// Everything changed before this was listed; the next window starts
    /// here. The requested end when the listing was whole; earlier when the
    /// CRM covers less (Salesforce: whole minutes) or the listing stopped
    /// at its record budget.
    pub covered_to: DateTime<Utc>,
    /// False when the listing stopped before the requested end (record
    /// budget, or a Salesforce window too large to list at once): the next
    /// listing resumes exactly at `covered_to`.
    pub complete: bool,
}
