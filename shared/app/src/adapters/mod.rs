//! The CRM ports implemented over the `crm_sync_crm` clients.
//!
//! Shape conversion only: client types in, port types out. Everything about
//! HTTP (auth, paging, batching, retries, error classification) belongs to
//! the clients, and every sync decision to the use cases; an adapter that
//! starts choosing between records is in the wrong place. The unit tests use
//! the in-memory fakes instead (`crate::testing`), so an adapter change is
//! covered by the end-to-end tests against the sandbox.

pub mod hubspot;
pub mod salesforce;
pub mod setup;
