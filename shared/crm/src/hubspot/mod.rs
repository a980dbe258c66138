//! The HubSpot client: private-app token, CRM v3 objects (single, list,
//! batch of 100, search with a way around the 10,000 cap), associations v4,
//! communication preferences, properties, the rate-limit budget, and webhook
//! signature verification (crm-api.md part B).
//!
//! Layout: [`config`] (how to reach an account), `client` ([`HubSpotClient`]
//! and its request core); the endpoints in `objects`, `search`,
//! `associations`, `preferences`, `lists`, `owners` (each an
//! `impl HubSpotClient` block using `client`); [`budget`] reads the
//! rate-limit headers; [`classify`] turns answers into [`CrmError`] with the
//! product's category and retry verdict; [`webhook`] checks signatures (no
//! IO). Nothing inside uses this file's re-exports, so the arrows between the
//! modules point one way.
//!
//! Retries: the client itself retries only 429s of the 10-second and
//! per-second windows (the request was refused, so resending is safe), up to
//! `max_rate_limit_retries`. Everything else comes back classified and the
//! caller decides; a batch create after a 5xx may or may not have happened.
//!
//! [`CrmError`]: crate::error::CrmError

mod account;
mod associations;
pub mod budget;
pub mod classify;
mod client;
pub mod config;
mod lists;
mod objects;
mod owners;
mod preferences;
mod search;
pub mod types;
pub mod webhook;

pub use account::{ListInfo, TokenInfo};
pub use associations::{COMPANY_TO_CONTACT, CONTACT_TO_COMPANY, DEAL_TO_COMPANY, DEAL_TO_CONTACT};
pub use budget::RateBudget;
pub use classify::existing_id;
pub use client::{BATCH_LIMIT, HubSpotClient};
pub use config::{HubSpotConfig, Secret};
pub use lists::LIST_ADD_BATCH;
pub use owners::HubSpotOwner;
pub use search::{MAX_SEARCH_RESULTS, ModifiedWindow, SEARCH_PAGE_SIZE, modified_property};
pub use types::*;
