//! The use cases of crm-sync and the local runtime that runs them.
//!
//! Layout:
//! - [`ports`]: what the use cases need from each CRM (batch-shaped traits).
//! - [`webhook`]: the wire formats of HubSpot deliveries and Salesforce
//!   outbound messages.

pub mod ports;
pub mod webhook;
