//! The state-store and queue ports: the traits the use cases call, and the
//! plain serde types that cross them.
//!
//! This module owns the contract only. It knows nothing about SQLite, DynamoDB
//! or SQS, and nothing about the sync rules: ids are strings, payloads are JSON
//! text or values; the only domain types it uses are the identifiers
//! [`System`] and [`ObjectPair`], whose names are part of every storage key.
//!
//! The state store is split by capability, one small trait per file, so a use
//! case (or a test double) can name exactly what it needs:
//!
//! | trait | owns |
//! |---|---|
//! | [`LinkStore`] | the Salesforce <-> HubSpot links and their fingerprints |
//! | [`ClaimStore`] | idempotency claims: short leases on a key |
//! | [`CursorStore`] | sweep cursors per system and object |
//! | [`ImportJobStore`] | import jobs, their chunks and the chunk leases |
//! | [`SyncHealthStore`] | the sync-health error list |
//! | [`ApiUsageStore`] | API calls per system over a rolling day |
//! | [`SeenEventStore`] | webhook event ids already handled |
//!
//! [`StateStore`] is all of them at once, implemented for every type that
//! implements each one, so `Arc<dyn StateStore>` is what the app passes
//! around. The [`Queue`] port is separate: the queues are not state.
//!
//! Semantics every adapter must keep (checked by the contract suite of the
//! `test-util` feature):
//!
//! - conditional writes fail with [`StoreError::ConditionFailed`], never by
//!   silently overwriting (DynamoDB `ConditionExpression` semantics);
//! - time-bounded things (claims, seen events, chunk leases) expire by the
//!   adapter's injected [`crate::Clock`], whether or not the row is gone yet;
//! - every call is a single conditional or idempotent step, so a crash between
//!   two calls leaves the store consistent;
//! - a received queue message is invisible until its visibility timeout ends,
//!   counts its receives, and moves to the dead-letter queue when it is
//!   received more than `max_receive_count` times (SQS redrive semantics).
//!
//! [`StoreError::ConditionFailed`]: crate::StoreError::ConditionFailed

mod claims;
mod cursors;
mod events;
mod health;
mod imports;
mod links;
mod queue;
mod types;
mod usage;

pub use claims::ClaimStore;
pub use cursors::CursorStore;
pub use events::SeenEventStore;
pub use health::SyncHealthStore;
pub use imports::ImportJobStore;
pub use links::{CREATION_NOTE_LIFETIME, LinkStore};
pub use queue::{OutgoingMessage, Queue, QueueDepth, QueueName, QueueSettings, ReceivedMessage};
pub use types::*;
pub use usage::{ApiUsageStore, Reservation, UsageBucket};

/// The whole state store: everything the sync keeps between runs.
///
/// It adds no methods of its own. It exists so that the app can hold one
/// `Arc<dyn StateStore>` and call any capability through it (method calls on a
/// `dyn StateStore` see the supertraits' methods without importing them), and
/// so that an adapter becomes a `StateStore` just by implementing the seven
/// capability traits (the blanket impl below). A concrete adapter value
/// (`SqliteStore`, `DynamoStore`) needs the capability traits in scope to call
/// their methods: `use crm_sync_store::prelude::*`.
///
/// ```
/// use std::sync::Arc;
///
/// use crm_sync_store::{Claim, ManualClock, ObjectPair, SqliteStore, StateStore, System};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), crm_sync_store::StoreError> {
/// let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
/// let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open_in_memory(clock)?);
/// // Any capability, through the one trait object, with no other import.
/// assert!(store.get_link_by_salesforce(ObjectPair::Contact, "003A").await?.is_none());
/// assert_eq!(store.claim("k", "me", std::time::Duration::from_secs(60)).await?, Claim::Acquired);
/// assert_eq!(store.api_calls_last_24h(System::HubSpot).await?, 0);
/// # Ok(())
/// # }
/// ```
pub trait StateStore:
    LinkStore + ClaimStore + CursorStore + ImportJobStore + SyncHealthStore + ApiUsageStore + SeenEventStore
{
}

impl<T> StateStore for T where
    T: LinkStore
        + ClaimStore
        + CursorStore
        + ImportJobStore
        + SyncHealthStore
        + ApiUsageStore
        + SeenEventStore
        + ?Sized
{
}
