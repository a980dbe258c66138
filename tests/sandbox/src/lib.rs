//! A local stand-in for the Salesforce and HubSpot APIs.

pub mod hubspot;
pub mod salesforce;
