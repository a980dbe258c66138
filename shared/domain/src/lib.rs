//! The sync core: pure, synchronous rules with no IO.
//!
//! Layout:
//! - [`error`]: error categories of sync health and the retry verdict.

pub mod error;
