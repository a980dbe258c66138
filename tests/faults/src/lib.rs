//! The fault suite (`tests/faults.rs`): seeded scenarios of users' changes
//! and imports, worked by the real use cases while workers die at their
//! CRM calls, either CRM refuses every call for up to two hours of
//! simulated time, deliveries arrive one to three times out of order, and
//! the store fails writes; then the invariants a user relies on are checked.

pub mod queue;
pub mod scenario;
pub mod store;
pub mod world;
