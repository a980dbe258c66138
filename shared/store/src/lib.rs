//! State-store and queue ports of crm-sync, and their embedded adapter.
//!
//! Layout:
//! - [`ports`]: the [`StateStore`] and [`Queue`] traits and their plain types;
//!   the use cases depend on these only.
//! - [`error`]: [`StoreError`], shared by every adapter.
//! - [`clock`]: the injected [`Clock`] (system and manual).
//! - [`sqlite`]: the embedded adapter, one durable SQLite file (or memory).
//! - [`contract`]: the one test suite every adapter must pass.

pub mod clock;
pub mod contract;
pub mod error;
pub mod ports;
pub mod sqlite;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use ports::*;
pub use sqlite::{SqliteQueue, SqliteStore};
