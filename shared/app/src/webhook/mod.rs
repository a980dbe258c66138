//! Webhook wire formats: HubSpot event deliveries and Salesforce outbound
//! messages. The use cases that act on them live in [`crate::usecases`].

pub mod hubspot_events;
pub mod outbound;
