//! State-store and queue ports of crm-sync, and their embedded adapter.
//!
//! Layout:
//! - [`ports`]: one small trait per capability of the state store (links,
//!   claims, cursors, import jobs, sync health, API usage, seen events), the
//!   [`StateStore`] supertrait that is all of them, the [`Queue`] port, and
//!   the plain types that cross them. The use cases depend on these only.
//! - [`error`]: [`StoreError`], shared by every adapter.
//! - [`clock`]: the injected [`Clock`] (system and manual).
//! - [`sqlite`]: the embedded adapter, one durable SQLite file (or memory),
//!   one file per capability.
//! - [`prelude`]: the port traits, for calling capability methods on a
//!   concrete adapter.
//! - `contract` (feature `test-util`): the one test suite every adapter must
//!   pass; not part of the shipped library.
//!
//! This crate must not know the sync rules or any CRM: it stores what the use
//! cases hand it. The identifiers it keys by, [`System`] and [`ObjectPair`],
//! are the domain's own.

pub mod clock;
#[cfg(feature = "test-util")]
pub mod contract;
pub mod error;
pub mod ports;
pub mod sqlite;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use ports::*;
pub use sqlite::{SqliteQueue, SqliteStore};

/// Every port trait, so that `use crm_sync_store::prelude::*` lets code call
/// any capability method on a concrete adapter (`SqliteStore`, `DynamoStore`)
/// as well as on `dyn StateStore`.
pub mod prelude {
    pub use crate::ports::{
        ApiUsageStore, ClaimStore, CursorStore, ImportJobStore, LinkStore, Queue, SeenEventStore, StateStore,
        SyncHealthStore,
    };
}
