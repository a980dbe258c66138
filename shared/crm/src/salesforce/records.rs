//! sObject rows (one record per call) and sObject Collections (up to
//! [`COLLECTION_LIMIT`] records per call), crm-api.md A4 and A5.
//!
//! Owns the request shapes and the per-record results: a collection call
//! answers one result per record, in order, and a refused record becomes that
//! record's classified error while the call itself succeeds (`allOrNone` is
//! always false).

use super::client::{SalesforceClient, path_url};
use super::error;
use super::types::{CollectionRecord, SObject, Written};
use crate::error::CrmError;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// Records per sObject Collections call.
pub const COLLECTION_LIMIT: usize = 200;

#[derive(Deserialize)]
struct RecordResult {
    #[serde(default)]
    id: Option<String>,
    success: bool,
    #[serde(default)]
    created: Option<bool>,
    #[serde(default)]
    errors: Vec<Value>,
}

impl RecordResult {
    fn into_result(self) -> Result<Written, CrmError> {
        if self.success {
            return Ok(Written { id: self.id.unwrap_or_default(), created: self.created });
        }
        let first = self.errors.first().cloned().unwrap_or_default();
        let text = |k: &str| first.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        Err(error::from_answer(200, &text("statusCode"), &text("message"), None))
    }
}

impl SalesforceClient {
    /// One record; `fields` empty means all fields.
    pub async fn get(&self, object: &str, id: &str, fields: &[&str]) -> Result<SObject, CrmError> {
        let list = fields.join(",");
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.data_segments(&["sobjects", object, id]))?;
            if !list.is_empty() {
                url.query_pairs_mut().append_pair("fields", &list);
            }
            Ok(url)
        };
        self.get_json(&url_for).await
    }

    /// One record by an External ID field value.
    pub async fn get_by_external_id(&self, object: &str, field: &str, value: &str) -> Result<SObject, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, field, value]));
        let answer = self.send(Method::GET, &url_for, None, false, &[]).await?;
        if answer.status == 300 {
            return Err(error::from_answer(300, "MULTIPLE_CHOICES", &String::from_utf8_lossy(&answer.body), None));
        }
        answer.json()
    }

    /// Creates a record and returns its id.
    pub async fn create(&self, object: &str, fields: &SObject) -> Result<String, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object]));
        let body = Value::Object(fields.clone());
        let written: Written = self.send(Method::POST, &url_for, Some(&body), true, &[]).await?.json()?;
        Ok(written.id)
    }

    /// Updates the given fields of one record (PATCH; others stay as they are).
    pub async fn update(&self, object: &str, id: &str, fields: &SObject) -> Result<(), CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, id]));
        let body = Value::Object(fields.clone());
        self.send(Method::PATCH, &url_for, Some(&body), true, &[]).await.map(|_| ())
    }

    /// Deletes one record (to the recycle bin).
    pub async fn delete(&self, object: &str, id: &str) -> Result<(), CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, id]));
        self.send(Method::DELETE, &url_for, None, true, &[]).await.map(|_| ())
    }

    /// Upsert by External ID: creates (201) or updates (200) the one record
    /// whose `field` equals `value`; several matches fail with `MULTIPLE_CHOICES`.
    pub async fn upsert(&self, object: &str, field: &str, value: &str, fields: &SObject) -> Result<Written, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, field, value]));
        let mut body = fields.clone();
        body.remove(field);
        let answer = self.send(Method::PATCH, &url_for, Some(&Value::Object(body)), true, &[]).await?;
        match answer.status {
            300 => Err(error::from_answer(300, "MULTIPLE_CHOICES", &String::from_utf8_lossy(&answer.body), None)),
            // Before v46.0 an update answered 204 without a body.
            204 => Ok(Written { id: String::new(), created: Some(false) }),
            _ => answer.json(),
        }
    }

    // ---- sObject Collections ----

    async fn collection_write(
        &self,
        method: Method,
        segments: &[&str],
        records: Vec<Value>,
    ) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_LIMIT) {
            let url_for = |instance: &str| path_url(instance, &self.data_segments(segments));
            let body = json!({"allOrNone": false, "records": chunk});
            let results: Vec<RecordResult> =
                self.send(method.clone(), &url_for, Some(&body), true, &[]).await?.json()?;
            out.extend(results.into_iter().map(RecordResult::into_result));
        }
        Ok(out)
    }

    fn collection_body(record: &CollectionRecord) -> Value {
        let mut body = record.fields.clone();
        body.insert("attributes".into(), json!({"type": record.object}));
        if let Some(id) = &record.id {
            body.insert("id".into(), Value::from(id.as_str()));
        }
        Value::Object(body)
    }

    /// Creates records, 200 per call; one result per record, in order.
    pub async fn create_many(&self, records: &[CollectionRecord]) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let body = records.iter().map(Self::collection_body).collect();
        self.collection_write(Method::POST, &["composite", "sobjects"], body).await
    }

    /// Updates records (each with `id`), 200 per call.
    pub async fn update_many(&self, records: &[CollectionRecord]) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let body = records.iter().map(Self::collection_body).collect();
        self.collection_write(Method::PATCH, &["composite", "sobjects"], body).await
    }

    /// Upserts records of one object by an External ID field each record
    /// carries, 200 per call; results say `created`.
    pub async fn upsert_many(
        &self,
        object: &str,
        field: &str,
        records: &[SObject],
    ) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let body = records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.insert("attributes".into(), json!({"type": object}));
                Value::Object(r)
            })
            .collect();
        self.collection_write(Method::PATCH, &["composite", "sobjects", object, field], body).await
    }

    /// Deletes records by id, 200 per call.
    pub async fn delete_many(&self, ids: &[String]) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(COLLECTION_LIMIT) {
            let list = chunk.join(",");
            let url_for = |instance: &str| {
                let mut url = path_url(instance, &self.data_segments(&["composite", "sobjects"]))?;
                url.query_pairs_mut().append_pair("ids", &list).append_pair("allOrNone", "false");
                Ok(url)
            };
            let results: Vec<RecordResult> = self.send(Method::DELETE, &url_for, None, true, &[]).await?.json()?;
            out.extend(results.into_iter().map(RecordResult::into_result));
        }
        Ok(out)
    }

    /// Reads records by id, 200 per call; `None` where a record is missing.
    pub async fn retrieve_many(
        &self,
        object: &str,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<Option<SObject>>, CrmError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(COLLECTION_LIMIT) {
            let url_for = |instance: &str| path_url(instance, &self.data_segments(&["composite", "sobjects", object]));
            let body = json!({"ids": chunk, "fields": fields});
            let records: Vec<Option<SObject>> =
                self.send(Method::POST, &url_for, Some(&body), false, &[]).await?.json()?;
            out.extend(records);
        }
        Ok(out)
    }
}
