//! The Tooling API: queries over the org's metadata (`CustomField`,
//! `FieldDefinition`, `EntityDefinition`, `WorkflowOutboundMessage`), one
//! metadata record by id, and creating a custom text field. Used to check
//! and prepare an org for the sync, never while syncing.
//!
//! Owns the request and answer shapes only; which fields to make is the
//! caller's.

use super::client::{SalesforceClient, path_url};
use super::error;
use super::types::{QueryPage, SObject};
use crate::error::CrmError;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

/// A custom text field to create through the Tooling API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomTextField {
    /// The label shown in Salesforce.
    pub label: String,
    /// Most characters a value may have (1 to 255).
    pub length: u32,
    /// Whether it is an External ID (upserts can key on it).
    pub external_id: bool,
    /// Whether Salesforce refuses a value another record of the object has.
    pub unique: bool,
    /// Shown as the field's description in Setup.
    pub description: Option<String>,
}

/// The answer to a Tooling API create.
#[derive(Debug, Deserialize)]
struct Created {
    id: String,
    #[serde(default)]
    success: bool,
}

impl SalesforceClient {
    fn tooling_segments<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut segments = self.data_segments(&["tooling"]);
        segments.extend_from_slice(rest);
        segments
    }

    /// Every record of a Tooling API query, following `nextRecordsUrl`
    /// (one call per page).
    pub async fn tooling_query(&self, soql: &str) -> Result<Vec<SObject>, CrmError> {
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.tooling_segments(&["query"]))?;
            url.query_pairs_mut().append_pair("q", soql);
            Ok(url)
        };
        let mut page: QueryPage = self.get_json(&url_for).await?;
        let mut records = std::mem::take(&mut page.records);
        while let (false, Some(next)) = (page.done, page.next_records_url.clone()) {
            let url_for = |instance: &str| {
                Url::parse(instance)
                    .and_then(|u| u.join(&next))
                    .map_err(|e| error::config(format!("bad nextRecordsUrl {next}"), Some(Box::new(e))))
            };
            page = self.get_json(&url_for).await?;
            records.append(&mut page.records);
        }
        Ok(records)
    }

    /// One Tooling API record by id, its `Metadata` included (one call).
    pub async fn tooling_get(&self, sobject: &str, id: &str) -> Result<SObject, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.tooling_segments(&["sobjects", sobject, id]));
        self.get_json(&url_for).await
    }

    /// Creates a custom text field `field` (`Name__c`) on `object` through
    /// the Tooling API (one call); returns the new `CustomField` id.
    pub async fn create_custom_text_field(
        &self,
        object: &str,
        field: &str,
        spec: &CustomTextField,
    ) -> Result<String, CrmError> {
        let body = json!({
            "FullName": format!("{object}.{field}"),
            "Metadata": {
                "type": "Text",
                "label": spec.label,
                "length": spec.length,
                "externalId": spec.external_id,
                "unique": spec.unique,
                "caseSensitive": false,
                "required": false,
                "description": spec.description,
            },
        });
        let url_for = |instance: &str| path_url(instance, &self.tooling_segments(&["sobjects", "CustomField"]));
        let answer = self.send(Method::POST, &url_for, Some(&body), true, &[]).await?;
        let created: Created = answer.json()?;
        if !created.success {
            return Err(error::unexpected(answer.status, "the custom field create answered success: false", None));
        }
        Ok(created.id)
    }
}

/// A Tooling API record's text field, if it has one.
pub fn text_of<'a>(record: &'a SObject, field: &str) -> Option<&'a str> {
    record.get(field).and_then(Value::as_str)
}
