//! HubSpot properties whose meaning the product fixes, whatever the config
//! says: the read-only "Salesforce Campaigns" property and the lifecycle
//! stage (SPEC section 4).
//!
//! A leaf module: it uses nothing else in the crate, so both the config checks
//! ([`crate::config`], which refuse a mapping that would write a read-only
//! property back) and the special-field rules ([`crate::special`]) can use it
//! without importing each other in a loop.

/// The HubSpot lifecycle-stage property, on contacts and companies.
pub const LIFECYCLE_STAGE: &str = "lifecyclestage";

/// The read-only HubSpot contact property listing Salesforce campaigns.
pub const SALESFORCE_CAMPAIGNS_PROPERTY: &str = "salesforce_campaigns";

/// Whether the HubSpot property is one only the sync may write (a HubSpot
/// change to it never travels to Salesforce).
pub fn is_read_only_hubspot_property(property: &str) -> bool {
    property == SALESFORCE_CAMPAIGNS_PROPERTY
}
