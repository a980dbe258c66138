//! Webhook wire formats: HubSpot event deliveries and Salesforce outbound
//! messages. The use cases that act on them live in [`crate::usecases`].
//!
//! Parsing only: no signature checks (the HubSpot port verifies), no store
//! or queue access, no CRM calls. A parser that accepts a body promises the
//! ids the use case needs are present and well-formed text; whether they
//! name records the sync handles is the use case's call.

pub mod hubspot_events;
pub mod outbound;
