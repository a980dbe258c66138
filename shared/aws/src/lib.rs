//! placeholder module map, filled by the owning crate's work.
