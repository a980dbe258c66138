//! The HubSpot port ([`crate::ports::HubspotApi`]) over [`HubSpotClient`].
//!
//! Shape conversion only: client types to port types, owners to
//! [`crm_sync_domain::special::Person`], header maps to `reqwest`'s. Paging,
//! batching, retries and error classification stay in the client; sync
//! decisions stay in the use cases.

use crate::ports::{
    ApiCalls, Changed, ChangedWindow, HsRecord, HubspotAccount, HubspotAssociations, HubspotRecords, HubspotWebhooks,
    WriteResult, signature_headers,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_sync_crm::error::CrmError;
use crm_sync_crm::hubspot::HubSpotClient;
use crm_sync_crm::hubspot::types::{BatchItem, HsObject, PropertyDefinition};
use crm_sync_crm::hubspot::webhook::verify_request;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A client object as the port's record; the object type is the one asked
/// for, since HubSpot's answers do not repeat it.
fn record(object: &str, o: HsObject) -> HsRecord {
    HsRecord { object: object.to_owned(), id: o.id, properties: o.properties }
}

/// Batch answers as per-record results, in input order (the client has
/// already put multi-status answers back in order by their trace ids).
/// HubSpot's error `category` becomes the result's code.
fn results<R>(items: Vec<BatchItem<R>>, id: fn(R) -> String) -> Vec<WriteResult> {
    items
        .into_iter()
        .map(|item| match item {
            BatchItem::Ok { record, created } => WriteResult::Ok { id: id(record), created },
            BatchItem::Err { category, message } => WriteResult::Err { code: category, message },
        })
        .collect()
}

/// The client's own counter: every HTTP request it sent, retries included.
impl ApiCalls for HubSpotClient {
    fn calls_made(&self) -> u64 {
        HubSpotClient::calls_made(self)
    }
}

/// Records: straight calls into the client, which batches by 100 and pages
/// searches; only the shapes change here.
#[async_trait]
impl HubspotRecords for HubSpotClient {
    /// Unknown ids, and archived records, are absent from the answer.
    async fn batch_read(
        &self,
        object: &str,
        ids: &[String],
        id_property: Option<&str>,
        properties: &[String],
    ) -> Result<Vec<HsRecord>, CrmError> {
        let found = HubSpotClient::batch_read(self, object, ids, id_property, properties).await?;
        Ok(found.into_iter().map(|o| record(object, o)).collect())
    }

    /// One call per 100 inputs; the key property must be unique on the
    /// object (`email`, or the sync's own `salesforce_id`).
    async fn batch_upsert(
        &self,
        object: &str,
        id_property: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError> {
        let written = HubSpotClient::batch_upsert_ids(self, object, id_property, inputs).await?;
        Ok(results(written, |written| written.id))
    }

    async fn batch_update(
        &self,
        object: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<WriteResult>, CrmError> {
        Ok(results(HubSpotClient::batch_update(self, object, inputs).await?, |record| record.id))
    }

    async fn batch_archive(&self, object: &str, ids: &[String]) -> Result<(), CrmError> {
        HubSpotClient::batch_archive(self, object, ids).await
    }

    /// A merged-away id is not in the recycle bin: HubSpot serves it (if at
    /// all) as the record it went into, under that record's id.
    async fn archived_ids(&self, object: &str, ids: &[String]) -> Result<Vec<String>, CrmError> {
        let found = HubSpotClient::batch_read_archived(self, object, ids, &[]).await?;
        Ok(found.into_iter().filter(|o| o.archived && ids.contains(&o.id)).map(|o| o.id).collect())
    }

    /// A listing is complete when the search got to `end`; otherwise it
    /// stopped at its record budget and `covered_to` is where to resume.
    async fn changed_since(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max_records: usize,
    ) -> Result<ChangedWindow, CrmError> {
        // No extra properties: the sync reads the records it queues later,
        // so a listing only needs their ids.
        let found = self.modified_between_bounded(object, start, end, &[], &[], max_records).await?;
        Ok(ChangedWindow {
            changes: found.records.into_iter().map(|o| Changed { id: o.id, deleted: o.archived }).collect(),
            complete: found.covered_to >= end,
            covered_to: found.covered_to,
        })
    }
}

/// Associations by the v4 API, default association types only.
#[async_trait]
impl HubspotAssociations for HubSpotClient {
    async fn associated_ids(
        &self,
        from_object: &str,
        to_object: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, CrmError> {
        let found = self.associations_read(from_object, to_object, ids).await?;
        Ok(found.into_iter().map(|(id, to)| (id, to.into_iter().map(|a| a.to_id).collect())).collect())
    }

    async fn associate(&self, from_object: &str, to_object: &str, pairs: &[(String, String)]) -> Result<(), CrmError> {
        self.associate_default(from_object, to_object, pairs).await
    }
}

/// Account-level calls. The property definitions created here are the
/// sync's own (`salesforce_id`, "Salesforce Campaigns"); their group is the
/// object's default information group (`contactinformation`,
/// `companyinformation`, `dealinformation`).
#[async_trait]
impl HubspotAccount for HubSpotClient {
    /// Owners become people for owner matching: the full name trimmed as
    /// Salesforce would show it, and only owners with a valid email, since
    /// matching needs both name and email to agree.
    async fn owners(&self) -> Result<Vec<crm_sync_domain::special::Person>, CrmError> {
        let found = HubSpotClient::owners(self).await?;
        Ok(found
            .into_iter()
            .filter_map(|o| {
                let email = crm_sync_domain::Email::parse(&o.email).ok()?;
                let name = format!("{} {}", o.first_name.trim(), o.last_name.trim()).trim().to_owned();
                Some(crm_sync_domain::special::Person { id: o.id, name, email })
            })
            .collect())
    }

    async fn list_members(&self, list_id: &str) -> Result<Vec<String>, CrmError> {
        HubSpotClient::list_members(self, list_id).await
    }

    async fn add_list_members(&self, list_id: &str, ids: &[String]) -> Result<Vec<String>, CrmError> {
        HubSpotClient::add_list_members(self, list_id, ids).await
    }

    /// One read, and one create when the property is missing. A unique
    /// property is what lets imports upsert companies and deals by their
    /// Salesforce id.
    async fn ensure_unique_property(&self, object: &str, name: &str) -> Result<(), CrmError> {
        if self.get_property(object, name).await?.is_some() {
            return Ok(());
        }
        let definition = PropertyDefinition {
            name: name.to_owned(),
            label: "Salesforce ID".to_owned(),
            kind: "string".to_owned(),
            field_type: "text".to_owned(),
            group_name: format!("{}information", object.trim_end_matches('s').replace("companie", "company")),
            has_unique_value: true,
        };
        self.create_property(object, &definition).await.map(|_| ())
    }

    async fn ensure_text_property(&self, object: &str, name: &str, label: &str) -> Result<(), CrmError> {
        if self.get_property(object, name).await?.is_some() {
            return Ok(());
        }
        let definition = PropertyDefinition {
            name: name.to_owned(),
            label: label.to_owned(),
            kind: "string".to_owned(),
            field_type: "textarea".to_owned(),
            group_name: format!("{}information", object.trim_end_matches('s').replace("companie", "company")),
            has_unique_value: false,
        };
        self.create_property(object, &definition).await.map(|_| ())
    }

    /// The opt-out property is read-only in HubSpot, so an opt-out synced
    /// from Salesforce goes through the communication preferences API.
    async fn unsubscribe_all(&self, emails: &[String]) -> Result<Vec<WriteResult>, CrmError> {
        let outcomes = self.unsubscribe_all_batch(emails).await?;
        Ok(emails
            .iter()
            .zip(outcomes)
            .map(|(email, outcome)| match outcome {
                None => WriteResult::Ok { id: email.clone(), created: false },
                Some((code, message)) => WriteResult::Err { code, message },
            })
            .collect())
    }
}

/// Signature checks, done locally with the app's client secret.
impl HubspotWebhooks for HubSpotClient {
    fn verify_webhook(
        &self,
        client_secret: &str,
        method: &str,
        uri: &str,
        headers: &BTreeMap<String, String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let map = signature_headers(headers);
        let result = if client_secret.is_empty() {
            HubSpotClient::verify_webhook(self, method, uri, &map, body, now)
        } else {
            verify_request(client_secret, method, uri, &map, body, now)
        };
        result.map(|_| ()).map_err(|e| e.to_string())
    }
}
