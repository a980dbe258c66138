//! The HubSpot port: CRM records, associations, account-level schema and
//! lists, and webhook verification, as four capabilities under
//! [`HubspotApi`].
//!
//! Owns the shape of what the sync asks of HubSpot; must not hold sync
//! decisions nor HTTP details. Record properties travel as HubSpot has
//! them: strings, keyed by internal property name.

use super::{ApiCalls, ChangedWindow, HsRecord, WriteResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_sync_crm::error::CrmError;
use crm_sync_domain::special::Person;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// CRM records: batch read and write, and the modified-since search.
#[async_trait]
pub trait HubspotRecords: Send + Sync {
    /// Reads up to [`super::HUBSPOT_BATCH`] records by id, or by a unique
    /// property such as `email` when `id_property` is given (one call).
    /// Unknown ids are simply absent from the answer.
    async fn batch_read(
        &self,
        object: &str,
        ids: &[String],
        id_property: Option<&str>,
        properties: &[String],
    ) -> Result<Vec<HsRecord>, CrmError>;

    /// Creates or updates up to [`super::HUBSPOT_BATCH`] records keyed by a
    /// unique property (`email` for contacts, `salesforce_id` for companies
    /// and deals) (one call). `inputs` pairs each key value with the
    /// properties to write.
    async fn batch_upsert(
        &self,
        object: &str,
        id_property: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError>;

    /// Updates up to [`super::HUBSPOT_BATCH`] records by HubSpot id (one call).
    async fn batch_update(
        &self,
        object: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError>;

    /// Archives up to [`super::HUBSPOT_BATCH`] records by id (one call):
    /// they go to the recycle bin. HubSpot answers for the call as a whole;
    /// an id already archived is no error.
    async fn batch_archive(&self, object: &str, ids: &[String]) -> Result<(), CrmError>;

    /// The ids among these (up to [`super::HUBSPOT_BATCH`], one call) whose
    /// records are in the recycle bin: deleted, not merged into another
    /// record (a merged-away record is not in the recycle bin).
    async fn archived_ids(&self, object: &str, ids: &[String]) -> Result<Vec<String>, CrmError>;

    /// Records modified within `[start, end)` (search, split past 10,000),
    /// oldest first, stopping at a page boundary once about `max_records`
    /// are listed (then `covered_to` says where, and `complete` is false).
    async fn changed_since(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max_records: usize,
    ) -> Result<ChangedWindow, CrmError>;
}

/// Associations between records (contacts, companies, deals).
#[async_trait]
pub trait HubspotAssociations: Send + Sync {
    /// The ids associated with each record (one call per 100 records);
    /// records without associations are absent.
    async fn associated_ids(
        &self,
        from_object: &str,
        to_object: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, CrmError>;

    /// Associates records with the default association type (one call per
    /// 100 pairs of `(from id, to id)`).
    async fn associate(&self, from_object: &str, to_object: &str, pairs: &[(String, String)]) -> Result<(), CrmError>;
}

/// The account around the records: property definitions, owners, lists
/// and email subscriptions.
#[async_trait]
pub trait HubspotAccount: Send + Sync {
    /// Makes sure a unique-value text property exists on an object (the
    /// `salesforce_id` key of companies and deals); creates it if missing.
    async fn ensure_unique_property(&self, object: &str, name: &str) -> Result<(), CrmError>;

    /// Makes sure a multi-line text property exists on an object (the
    /// contacts' "Salesforce Campaigns"); creates it if missing.
    async fn ensure_text_property(&self, object: &str, name: &str, label: &str) -> Result<(), CrmError>;

    /// The account's active owners as people (id, full name, email); owners
    /// without a valid email are left out (one call per 500 owners).
    async fn owners(&self) -> Result<Vec<Person>, CrmError>;

    /// The contact ids in a HubSpot list (one call per 250 members).
    async fn list_members(&self, list_id: &str) -> Result<Vec<String>, CrmError>;

    /// Adds contacts to a HubSpot list (one call per 1,000); returns the
    /// ids HubSpot reported missing.
    async fn add_list_members(&self, list_id: &str, ids: &[String]) -> Result<Vec<String>, CrmError>;

    /// Unsubscribes addresses from all email (communication preferences;
    /// one call per 100). HubSpot's opt-out property itself is read-only.
    /// One result per address, in order (the id of a done one is the
    /// address).
    async fn unsubscribe_all(&self, emails: &[String]) -> Result<Vec<WriteResult>, CrmError>;
}

/// Webhook deliveries: checking that HubSpot sent them. No API call.
pub trait HubspotWebhooks: Send + Sync {
    /// Checks a webhook delivery's v3 signature and its 5-minute window, in
    /// constant time; a delivery signed only with v1/v2 is refused. `uri` is the full URL
    /// HubSpot called; header names are lower case. An empty
    /// `client_secret` means the client's own. `Err` says why not.
    fn verify_webhook(
        &self,
        client_secret: &str,
        method: &str,
        uri: &str,
        headers: &BTreeMap<String, String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), String>;
}

/// What the sync asks of HubSpot: every capability, one object.
pub trait HubspotApi: ApiCalls + HubspotRecords + HubspotAssociations + HubspotAccount + HubspotWebhooks {}

impl<T> HubspotApi for T where
    T: ApiCalls + HubspotRecords + HubspotAssociations + HubspotAccount + HubspotWebhooks + ?Sized
{
}

/// The delivery's headers as the signature check reads them. Headers the
/// `http` types refuse (bytes that are not visible ASCII) are dropped: a
/// signature header among them then counts as missing, and the delivery is
/// refused rather than half-checked.
pub fn signature_headers(headers: &BTreeMap<String, String>) -> reqwest::header::HeaderMap {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            map.insert(name, value);
        }
    }
    map
}
