//! CRM v3 object endpoints: get, list, create, update, archive, the batch
//! endpoints (read, create, update, upsert, archive; split into calls of
//! 100), and the properties API.

use super::classify;
use super::client::{Answer, BATCH_LIMIT, HubSpotClient, segment};
use super::types::{BatchItem, HsObject, Page, PropertyDefinition, WrittenId};
use crate::error::CrmError;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

fn parse<T: DeserializeOwned>(answer: &Answer, value: Value) -> Result<T, CrmError> {
    serde_json::from_value(value).map_err(|e| classify::decode(answer.status, e))
}

fn results(answer: &Answer) -> Result<Vec<HsObject>, CrmError> {
    parse(answer, answer.body.get("results").cloned().unwrap_or(Value::Array(Vec::new())))
}

/// The `paging.next.after` cursor, which HubSpot sends as a string or a number.
fn next_after(body: &Value) -> Option<String> {
    body.pointer("/paging/next/after").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A list or search answer as a [`Page`] (records, next cursor, search total).
pub(crate) fn page(answer: &Answer) -> Result<Page, CrmError> {
    Ok(Page {
        results: results(answer)?,
        after: next_after(&answer.body),
        total: answer.body.get("total").and_then(Value::as_u64),
    })
}

/// Refuses an object type that could not be a path segment, before any call.
fn check_object(object: &str) -> Result<(), CrmError> {
    if object.is_empty() || !object.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(classify::invalid(format!("not a HubSpot object type: {object:?}")));
    }
    Ok(())
}

/// One input of a batch create, update or upsert, serialised as HubSpot
/// reads it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchInput<'a> {
    id: &'a str,
    properties: &'a Map<String, Value>,
    object_write_trace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_property: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct BatchInputs<'a> {
    inputs: Vec<BatchInput<'a>>,
}

/// One result of a batch answer, with what puts it back in input order:
/// its `objectWriteTraceId` (the input's index) and its `new` flag.
struct Placed<R> {
    trace: Option<usize>,
    created: Option<bool>,
    record: R,
}

/// A batch answer's results and errors.
struct Answered<R> {
    results: Vec<Placed<R>>,
    errors: Vec<Value>,
}

/// A batch answer read in full: every result as a record with the
/// properties HubSpot repeats.
fn answered_records(status: u16, bytes: &[u8]) -> Result<Answered<HsObject>, CrmError> {
    if bytes.is_empty() {
        return Ok(Answered { results: Vec::new(), errors: Vec::new() });
    }
    let mut body: Value = serde_json::from_slice(bytes).map_err(|e| classify::decode(status, e))?;
    let results = match body.get_mut("results").map(Value::take) {
        Some(Value::Array(results)) => results,
        _ => Vec::new(),
    };
    let results = results
        .into_iter()
        .map(|raw| {
            Ok(Placed {
                trace: raw.get("objectWriteTraceId").and_then(Value::as_str).and_then(|t| t.parse().ok()),
                created: raw.get("new").and_then(Value::as_bool),
                record: serde_json::from_value(raw).map_err(|e| classify::decode(status, e))?,
            })
        })
        .collect::<Result<_, CrmError>>()?;
    let errors = match body.get_mut("errors").map(Value::take) {
        Some(Value::Array(errors)) => errors,
        _ => Vec::new(),
    };
    Ok(Answered { results, errors })
}

/// A batch write's answer read for each result's id alone: the properties
/// HubSpot repeats are skipped as they are parsed, never built.
fn answered_ids(status: u16, bytes: &[u8]) -> Result<Answered<WrittenId>, CrmError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct IdResult {
        id: String,
        #[serde(default)]
        new: Option<bool>,
        #[serde(default)]
        object_write_trace_id: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        results: Vec<IdResult>,
        #[serde(default)]
        errors: Vec<Value>,
    }
    if bytes.is_empty() {
        return Ok(Answered { results: Vec::new(), errors: Vec::new() });
    }
    let body: Body = serde_json::from_slice(bytes).map_err(|e| classify::decode(status, e))?;
    Ok(Answered {
        results: body
            .results
            .into_iter()
            .map(|r| Placed {
                trace: r.object_write_trace_id.and_then(|t| t.parse().ok()),
                created: r.new,
                record: WrittenId { id: r.id },
            })
            .collect(),
        errors: body.errors,
    })
}

/// Matches batch answers to inputs by `objectWriteTraceId` (the input's
/// index), falling back to the result's position, and for errors to the
/// ids named in their contexts.
fn items_in_order<R: Clone>(answered: Answered<R>, input_ids: &[String], new_by_default: bool) -> Vec<BatchItem<R>> {
    let mut out: Vec<Option<BatchItem<R>>> = vec![None; input_ids.len()];
    for (pos, placed) in answered.results.into_iter().enumerate() {
        let created = placed.created.unwrap_or(new_by_default);
        if let Some(s) = out.get_mut(placed.trace.unwrap_or(pos)) {
            *s = Some(BatchItem::Ok { record: placed.record, created });
        }
    }
    for error in &answered.errors {
        let item = BatchItem::Err {
            category: error.get("category").and_then(Value::as_str).unwrap_or("UNKNOWN").to_owned(),
            message: error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
        };
        let context = error.get("context");
        let traces = context.and_then(|c| c.get("objectWriteTraceId")).and_then(Value::as_array);
        let ids = context.and_then(|c| c.get("ids")).and_then(Value::as_array);
        for t in traces.into_iter().flatten().filter_map(Value::as_str).filter_map(|t| t.parse::<usize>().ok()) {
            if let Some(s) = out.get_mut(t) {
                *s = Some(item.clone());
            }
        }
        for id in ids.into_iter().flatten().filter_map(Value::as_str) {
            for (i, input) in input_ids.iter().enumerate() {
                if out[i].is_none() && input.eq_ignore_ascii_case(id) {
                    out[i] = Some(item.clone());
                }
            }
        }
    }
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| BatchItem::Err {
                category: "UNKNOWN".into(),
                message: "HubSpot returned no result for this input".into(),
            })
        })
        .collect()
}

impl HubSpotClient {
    /// Reads one record by id, or by a unique property (`idProperty`).
    /// `Ok(None)` when it does not exist (or is archived).
    pub async fn get(
        &self,
        object: &str,
        id: &str,
        id_property: Option<&str>,
        properties: &[String],
    ) -> Result<Option<HsObject>, CrmError> {
        check_object(object)?;
        let mut query = Vec::new();
        if !properties.is_empty() {
            query.push(("properties", properties.join(",")));
        }
        if let Some(p) = id_property {
            query.push(("idProperty", p.to_owned()));
        }
        match self.call(Method::GET, &format!("/crm/v3/objects/{object}/{}", segment(id)), &query, None).await {
            Ok(answer) => Ok(Some(parse(&answer, answer.body.clone())?)),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One page of records in id order (`limit` at most 100).
    pub async fn list_page(
        &self,
        object: &str,
        properties: &[String],
        after: Option<&str>,
        limit: u32,
        archived: bool,
    ) -> Result<Page, CrmError> {
        check_object(object)?;
        let mut query = vec![("limit", limit.min(100).to_string()), ("archived", archived.to_string())];
        if !properties.is_empty() {
            query.push(("properties", properties.join(",")));
        }
        if let Some(a) = after {
            query.push(("after", a.to_owned()));
        }
        let answer = self.call(Method::GET, &format!("/crm/v3/objects/{object}"), &query, None).await?;
        page(&answer)
    }

    /// Every record, following `after` (one call per 100).
    pub async fn list_all(&self, object: &str, properties: &[String]) -> Result<Vec<HsObject>, CrmError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let p = self.list_page(object, properties, after.as_deref(), 100, false).await?;
            all.extend(p.results);
            match p.after {
                Some(a) => after = Some(a),
                None => return Ok(all),
            }
        }
    }

    /// Records archived within `[start, end)`. HubSpot cannot search the
    /// recycle bin, so this pages through every archived record (one call
    /// per 100) and keeps those whose `archivedAt` falls in the window.
    pub async fn archived_between(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<HsObject>, CrmError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let p = self.list_page(object, &[], after.as_deref(), 100, true).await?;
            out.extend(p.results.into_iter().filter(|r| {
                r.archived_at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t >= start && t < end)
            }));
            match p.after {
                Some(a) => after = Some(a),
                None => return Ok(out),
            }
        }
    }

    /// Creates one record (a 409 CONFLICT names the existing record's id).
    pub async fn create(&self, object: &str, properties: &Map<String, Value>) -> Result<HsObject, CrmError> {
        check_object(object)?;
        let answer = self
            .call(Method::POST, &format!("/crm/v3/objects/{object}"), &[], Some(&json!({ "properties": properties })))
            .await?;
        parse(&answer, answer.body.clone())
    }

    /// Updates one record by id, or by a unique property.
    pub async fn update(
        &self,
        object: &str,
        id: &str,
        id_property: Option<&str>,
        properties: &Map<String, Value>,
    ) -> Result<HsObject, CrmError> {
        check_object(object)?;
        let query: Vec<(&str, String)> = id_property.map(|p| ("idProperty", p.to_owned())).into_iter().collect();
        let answer = self
            .call(
                Method::PATCH,
                &format!("/crm/v3/objects/{object}/{}", segment(id)),
                &query,
                Some(&json!({ "properties": properties })),
            )
            .await?;
        parse(&answer, answer.body.clone())
    }

    /// Moves a record to the recycle bin.
    pub async fn archive(&self, object: &str, id: &str) -> Result<(), CrmError> {
        check_object(object)?;
        self.call(Method::DELETE, &format!("/crm/v3/objects/{object}/{}", segment(id)), &[], None).await.map(|_| ())
    }

    /// Reads records by id, or by a unique property such as `email`; one
    /// call per 100 ids. Unknown ids are simply absent.
    pub async fn batch_read(
        &self,
        object: &str,
        ids: &[String],
        id_property: Option<&str>,
        properties: &[String],
    ) -> Result<Vec<HsObject>, CrmError> {
        self.batch_read_in(object, ids, id_property, properties, false).await
    }

    /// Reads records in the recycle bin by id (`archived=true`); one call
    /// per 100 ids. Live and unknown ids are absent.
    pub async fn batch_read_archived(
        &self,
        object: &str,
        ids: &[String],
        properties: &[String],
    ) -> Result<Vec<HsObject>, CrmError> {
        self.batch_read_in(object, ids, None, properties, true).await
    }

    async fn batch_read_in(
        &self,
        object: &str,
        ids: &[String],
        id_property: Option<&str>,
        properties: &[String],
        archived: bool,
    ) -> Result<Vec<HsObject>, CrmError> {
        check_object(object)?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_LIMIT) {
            let mut body = json!({
                "properties": properties,
                "propertiesWithHistory": [],
                "inputs": chunk.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
            });
            if let Some(p) = id_property {
                body["idProperty"] = json!(p);
            }
            let answer = self
                .call(
                    Method::POST,
                    &format!("/crm/v3/objects/{object}/batch/read"),
                    &[("archived", archived.to_string())],
                    Some(&body),
                )
                .await?;
            out.extend(results(&answer)?);
        }
        Ok(out)
    }

    /// Creates records, one call per 100, with a trace id per input so that
    /// one bad input fails alone (multi-status) instead of the whole call.
    pub async fn batch_create(&self, object: &str, inputs: &[Map<String, Value>]) -> Result<Vec<BatchItem>, CrmError> {
        check_object(object)?;
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(BATCH_LIMIT) {
            let body = json!({ "inputs": chunk.iter().enumerate().map(|(i, p)| json!({
                "properties": p, "associations": [], "objectWriteTraceId": i.to_string() })).collect::<Vec<_>>() });
            let body = serde_json::to_vec(&body).map_err(|e| classify::decode(0, e))?;
            let (status, answer) = self
                .call_for_bytes(Method::POST, &format!("/crm/v3/objects/{object}/batch/create"), &[], Some(body))
                .await?;
            let ids: Vec<String> = (0..chunk.len()).map(|i| i.to_string()).collect();
            out.extend(items_in_order(answered_records(status, &answer)?, &ids, true));
        }
        Ok(out)
    }

    /// Updates records by HubSpot id; one call per 100.
    pub async fn batch_update(
        &self,
        object: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<BatchItem>, CrmError> {
        self.batch_write(object, "update", None, inputs, answered_records).await
    }

    /// Creates or updates records keyed by a unique property (`email` for
    /// contacts, `salesforce_id` for companies and deals); one call per 100.
    /// `BatchItem::Ok { created }` tells new records from updated ones.
    pub async fn batch_upsert(
        &self,
        object: &str,
        id_property: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<BatchItem>, CrmError> {
        self.batch_write(object, "upsert", Some(id_property), inputs, answered_records).await
    }

    /// [`HubSpotClient::batch_upsert`] answering each written record's id
    /// only, for a caller that links what it wrote and reads nothing else
    /// of the answer (HubSpot repeats every property written).
    pub async fn batch_upsert_ids(
        &self,
        object: &str,
        id_property: &str,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<Vec<BatchItem<WrittenId>>, CrmError> {
        self.batch_write(object, "upsert", Some(id_property), inputs, answered_ids).await
    }

    async fn batch_write<R: Clone>(
        &self,
        object: &str,
        op: &str,
        id_property: Option<&str>,
        inputs: &[(String, Map<String, Value>)],
        read: fn(u16, &[u8]) -> Result<Answered<R>, CrmError>,
    ) -> Result<Vec<BatchItem<R>>, CrmError> {
        check_object(object)?;
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(BATCH_LIMIT) {
            let inputs: Vec<BatchInput<'_>> = chunk
                .iter()
                .enumerate()
                .map(|(i, (id, properties))| BatchInput {
                    id,
                    properties,
                    object_write_trace_id: i.to_string(),
                    id_property,
                })
                .collect();
            let body = serde_json::to_vec(&BatchInputs { inputs }).map_err(|e| classify::decode(0, e))?;
            let (status, answer) = self
                .call_for_bytes(Method::POST, &format!("/crm/v3/objects/{object}/batch/{op}"), &[], Some(body))
                .await?;
            let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
            out.extend(items_in_order(read(status, &answer)?, &ids, false));
        }
        Ok(out)
    }

    /// Archives records by id; one call per 100.
    pub async fn batch_archive(&self, object: &str, ids: &[String]) -> Result<(), CrmError> {
        check_object(object)?;
        for chunk in ids.chunks(BATCH_LIMIT) {
            let body = json!({ "inputs": chunk.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>() });
            self.call(Method::POST, &format!("/crm/v3/objects/{object}/batch/archive"), &[], Some(&body)).await?;
        }
        Ok(())
    }

    /// Defines a property (e.g. the unique `salesforce_id`).
    pub async fn create_property(
        &self,
        object: &str,
        definition: &PropertyDefinition,
    ) -> Result<PropertyDefinition, CrmError> {
        check_object(object)?;
        let body = serde_json::to_value(definition).map_err(|e| classify::decode(0, e))?;
        let answer = self.call(Method::POST, &format!("/crm/v3/properties/{object}"), &[], Some(&body)).await?;
        parse(&answer, answer.body.clone())
    }

    /// Reads a property definition; `Ok(None)` when it does not exist.
    pub async fn get_property(&self, object: &str, name: &str) -> Result<Option<PropertyDefinition>, CrmError> {
        check_object(object)?;
        match self.call(Method::GET, &format!("/crm/v3/properties/{object}/{}", segment(name)), &[], None).await {
            Ok(answer) => Ok(Some(parse(&answer, answer.body.clone())?)),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }
}
