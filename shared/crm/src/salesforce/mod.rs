//! The Salesforce client (crm-api.md part A): OAuth (JWT bearer, client
//! credentials) with one token refresh per call on `INVALID_SESSION_ID`;
//! query/queryAll with paging; sObject rows and upsert by External ID;
//! sObject Collections in 200s; Bulk API 2.0 query jobs; getUpdated /
//! getDeleted; describe; `/limits`; the Tooling API calls that check and
//! prepare an org (custom fields, outbound messages). Every answer's `Sforce-Limit-Info` is
//! read into [`ApiUsage`], every write carries `Sforce-Call-Options`, and
//! every HTTP request is counted ([`SalesforceClient::calls_made`]).
//!
//! It shapes requests and classifies failures; it makes no sync decisions
//! and does not retry on its own beyond the token refresh.
//!
//! Layout: [`config`] (how to reach an org), `client` (the client value,
//! sessions and the request core), the endpoints in `query`, `records`,
//! `replication` and `bulk` (each an `impl SalesforceClient` block), [`types`]
//! (the wire shapes) and [`error`] (Salesforce's error codes and statuses
//! turned into the product's categories and retry verdicts). The endpoint
//! modules use `client`; nothing uses this file's re-exports from inside.

mod bulk;
mod client;
pub mod config;
pub mod error;
mod query;
mod records;
mod replication;
mod tooling;
pub mod types;

pub use client::SalesforceClient;
pub use config::{SalesforceAuth, SalesforceConfig, Secret};
pub use records::COLLECTION_LIMIT;
pub use tooling::{CustomTextField, text_of};
pub use types::*;
