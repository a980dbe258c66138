//! State-store and queue ports of crm-sync, and their embedded adapter.
//!
//! Layout:
//! - [`ports`]: the [`StateStore`] and [`Queue`] traits and their plain types;
//!   the use cases depend on these only.
//! - [`error`]: [`StoreError`], shared by every adapter.
//! - [`clock`]: the injected [`Clock`] (system and manual).

pub mod clock;
pub mod error;
pub mod ports;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use ports::*;
