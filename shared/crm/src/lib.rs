//! HTTP clients for the two CRMs, following `reference/crm-api.md`.
//!
//! Layout:
//! - [`error`]: the one error type both clients return, already classified
//!   (retryable after a delay, or permanent) with the CRM's own message kept.
//! - `salesforce`: OAuth, REST, Collections, Bulk API 2.0, describe, limits.
//! - `hubspot`: private-app token, CRM v3 batch/search, associations v4,
//!   communication preferences, rate-limit budget, webhook signatures.
//!
//! - [`gate`]: the hook a client asks before each request (the API cap).
//!
//! This crate does IO and shapes requests; it makes no sync decisions.

pub mod error;
pub mod gate;
pub mod hubspot;
pub mod salesforce;
