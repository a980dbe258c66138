//! What checking and preparing a pair of accounts asks of each CRM: the
//! integration user's access, crm-sync's own fields and properties, the
//! outbound messages, the token's scopes and the inclusion list.
//!
//! Separate from [`super::SalesforceApi`] and [`super::HubspotApi`]: the sync
//! never calls these, and the setup command needs nothing else. The shapes
//! are the port's own, not the wire's.

use async_trait::async_trait;
use crm_sync_crm::error::CrmError;

/// One object as the integration user sees it (describe).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectAccess {
    /// May query its records.
    pub queryable: bool,
    /// May create its records.
    pub createable: bool,
    /// May edit its records.
    pub updateable: bool,
    /// The fields the user can see (field-level security hides the others).
    pub fields: Vec<FieldAccess>,
}

impl ObjectAccess {
    /// A visible field by API name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&FieldAccess> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// One field as the integration user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldAccess {
    /// The API name.
    pub name: String,
    /// May set it on create.
    pub createable: bool,
    /// May change it.
    pub updateable: bool,
    /// A formula or roll-up (never writable).
    pub calculated: bool,
    /// An External ID (upserts can key on it).
    pub external_id: bool,
    /// Salesforce keeps its values unique.
    pub unique: bool,
}

/// A Salesforce outbound message (workflow or flow action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Its name in Setup.
    pub name: String,
    /// The object whose records it sends (`Lead`).
    pub object: String,
    /// Where it sends them.
    pub endpoint_url: String,
}

/// Salesforce, for setup.
#[async_trait]
pub trait SalesforceSetup: Send + Sync {
    /// Signs the integration user in (one token request).
    async fn sign_in(&self) -> Result<(), CrmError>;

    /// The object as the integration user sees it (one describe call).
    async fn object_access(&self, object: &str) -> Result<ObjectAccess, CrmError>;

    /// The objects among `objects` that have the custom field named
    /// `field` (`HubSpot_Id__c`), visible to the user or not (one Tooling
    /// API query).
    async fn objects_with_custom_field(&self, field: &str, objects: &[&str]) -> Result<Vec<String>, CrmError>;

    /// Every outbound message of the org with its endpoint (one Tooling API
    /// query, and one read per message).
    async fn outbound_messages(&self) -> Result<Vec<OutboundMessage>, CrmError>;

    /// Creates a unique External ID text field of `length` characters on an
    /// object through the Tooling API (one call).
    async fn create_external_id_field(
        &self,
        object: &str,
        field: &str,
        label: &str,
        length: u32,
    ) -> Result<(), CrmError>;
}

/// A HubSpot property as setup checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyInfo {
    /// `string`, `number`, `enumeration`, ...
    pub kind: String,
    /// `text`, `textarea`, ...
    pub field_type: String,
    /// HubSpot enforces one record per value.
    pub unique: bool,
}

/// A HubSpot list as setup checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSummary {
    /// Its name in HubSpot.
    pub name: String,
    /// The object type id of its members (`0-1`: contacts).
    pub object_type_id: String,
}

/// HubSpot, for setup.
#[async_trait]
pub trait HubspotSetup: Send + Sync {
    /// The scopes granted to the access token (one call).
    async fn token_scopes(&self) -> Result<Vec<String>, CrmError>;

    /// A property's definition; `None` when it does not exist (one call).
    async fn property(&self, object: &str, name: &str) -> Result<Option<PropertyInfo>, CrmError>;

    /// A list's definition; `None` when there is no such list (one call).
    async fn list(&self, list_id: &str) -> Result<Option<ListSummary>, CrmError>;

    /// Creates the unique text property `name` ("Salesforce ID") on an
    /// object, unless it exists (one or two calls).
    async fn create_unique_property(&self, object: &str, name: &str) -> Result<(), CrmError>;

    /// Creates the multi-line text property `name` on an object, unless it
    /// exists (one or two calls).
    async fn create_text_property(&self, object: &str, name: &str, label: &str) -> Result<(), CrmError>;
}
