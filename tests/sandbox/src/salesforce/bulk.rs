//! Bulk API 2.0 query jobs (crm-api.md A12): create, a polled state machine
//! UploadComplete -> InProgress -> JobComplete, CSV results paged with
//! `Sforce-Locator` (the string `null` on the last page), abort and delete.

use super::SalesforceState;
use super::data::{SfError, format_datetime};
use super::ids::SfId;
use super::rest::error_response;
use super::soql::{self, Plan};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use serde_json::{Value as JsonValue, json};
use std::collections::HashMap;
use std::sync::Arc;

type St = State<Arc<SalesforceState>>;

#[derive(Debug, Clone)]
pub struct Job {
    id: String,
    operation: String,
    object: &'static str,
    state: &'static str,
    polls: u32,
    plan: Plan,
    ids: Arc<Vec<SfId>>,
    delimiter: u8,
    delimiter_name: String,
    line_ending: String,
    created: i64,
    version: String,
}

impl Job {
    fn info(&self) -> JsonValue {
        let done = self.state == "JobComplete";
        json!({
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": SfId::generate("005", 0).to_string(),
            "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.created),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.version.trim_start_matches('v').parse::<f64>().unwrap_or(66.0),
            "jobType": "V2Query",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter_name,
            "numberRecordsProcessed": if done { self.ids.len() } else { 0 },
            "retries": 0,
            "totalProcessingTime": if done { 100 } else { 0 },
        })
    }
}

pub fn routes() -> Router<Arc<SalesforceState>> {
    let v = "/services/data/{version}/jobs/query";
    Router::new()
        .route(v, get(list).post(create))
        .route(&format!("{v}/{{id}}"), get(status).patch(abort).delete(remove))
        .route(&format!("{v}/{{id}}/results"), get(results))
}

fn bulk_error(status: u16, code: &'static str, message: impl Into<String>) -> SfError {
    SfError::new(status, code, message)
}

fn respond(r: Result<Response, SfError>) -> Response {
    r.unwrap_or_else(|e| error_response(&e))
}

async fn create(State(s): St, Path(version): Path<String>, body: Bytes) -> Response {
    respond((|| {
        let req: JsonValue =
            serde_json::from_slice(&body).map_err(|e| bulk_error(400, "JSON_PARSER_ERROR", e.to_string()))?;
        let operation = req["operation"].as_str().unwrap_or("query").to_owned();
        if operation != "query" && operation != "queryAll" {
            return Err(bulk_error(400, "INVALIDJOB", format!("Invalid operation: {operation}")));
        }
        let q = req["query"].as_str().ok_or_else(|| bulk_error(400, "INVALIDJOB", "query is required"))?;
        let parsed = soql::parse(q)?;
        if parsed.count {
            return Err(bulk_error(400, "API_ERROR", "Aggregate Relationships not supported in Bulk Query"));
        }
        let (delimiter, delimiter_name) = match req["columnDelimiter"].as_str().unwrap_or("COMMA") {
            "COMMA" => (b',', "COMMA"),
            "TAB" => (b'\t', "TAB"),
            "PIPE" => (b'|', "PIPE"),
            "SEMICOLON" => (b';', "SEMICOLON"),
            "CARET" => (b'^', "CARET"),
            "BACKQUOTE" => (b'`', "BACKQUOTE"),
            other => return Err(bulk_error(400, "INVALIDJOB", format!("Invalid columnDelimiter: {other}"))),
        };
        let line_ending = req["lineEnding"].as_str().unwrap_or("LF").to_owned();
        let (plan, ids, object) = {
            let org = s.org_read();
            let plan = Plan::new(&org, parsed)?;
            let ids = plan.run(&org, operation == "queryAll");
            let object = org.objects[plan.object].name;
            (plan, ids, object)
        };
        let job = Job {
            id: SfId::generate("750", s.next_number()).to_string(),
            operation,
            object,
            state: "UploadComplete",
            polls: 0,
            plan,
            ids: Arc::new(ids),
            delimiter,
            delimiter_name: delimiter_name.to_owned(),
            line_ending,
            created: chrono::Utc::now().timestamp_millis(),
            version,
        };
        let info = job.info();
        s.jobs.lock().map_err(|_| bulk_error(500, "UNKNOWN_EXCEPTION", "lock"))?.insert(job.id.clone(), job);
        Ok(Json(info).into_response())
    })())
}

async fn list(State(s): St) -> Response {
    let jobs: Vec<JsonValue> = s.jobs.lock().map(|j| j.values().map(Job::info).collect()).unwrap_or_default();
    Json(json!({"done": true, "records": jobs, "nextRecordsUrl": null})).into_response()
}

fn not_found() -> SfError {
    bulk_error(404, "NOT_FOUND", "The requested resource does not exist")
}

async fn status(State(s): St, Path((_version, id)): Path<(String, String)>) -> Response {
    respond((|| {
        let mut jobs = s.jobs.lock().map_err(|_| bulk_error(500, "UNKNOWN_EXCEPTION", "lock"))?;
        let job = jobs.get_mut(&id).ok_or_else(not_found)?;
        if matches!(job.state, "UploadComplete" | "InProgress") {
            job.polls += 1;
            job.state = if job.polls >= s.options.bulk_polls_to_complete { "JobComplete" } else { "InProgress" };
        }
        Ok(Json(job.info()).into_response())
    })())
}

async fn abort(State(s): St, Path((_version, id)): Path<(String, String)>, body: Bytes) -> Response {
    respond((|| {
        let req: JsonValue =
            serde_json::from_slice(&body).map_err(|e| bulk_error(400, "JSON_PARSER_ERROR", e.to_string()))?;
        let mut jobs = s.jobs.lock().map_err(|_| bulk_error(500, "UNKNOWN_EXCEPTION", "lock"))?;
        let job = jobs.get_mut(&id).ok_or_else(not_found)?;
        if req["state"].as_str() != Some("Aborted") {
            return Err(bulk_error(400, "INVALIDJOBSTATE", "Only Aborted can be set on a query job"));
        }
        if job.state == "JobComplete" {
            return Err(bulk_error(400, "INVALIDJOBSTATE", "Job is already complete"));
        }
        job.state = "Aborted";
        Ok(Json(job.info()).into_response())
    })())
}

async fn remove(State(s): St, Path((_version, id)): Path<(String, String)>) -> Response {
    respond((|| {
        let mut jobs = s.jobs.lock().map_err(|_| bulk_error(500, "UNKNOWN_EXCEPTION", "lock"))?;
        jobs.remove(&id).ok_or_else(not_found)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

async fn results(
    State(s): St,
    Path((version, id)): Path<(String, String)>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    respond((|| {
        let job = s
            .jobs
            .lock()
            .map_err(|_| bulk_error(500, "UNKNOWN_EXCEPTION", "lock"))?
            .get(&id)
            .cloned()
            .ok_or_else(not_found)?;
        if job.version != version {
            return Err(bulk_error(
                409,
                "INVALIDJOB",
                "The API version of this request does not match the version of the job",
            ));
        }
        if job.state != "JobComplete" {
            return Err(bulk_error(
                412,
                "JOB_NOT_COMPLETE",
                format!("Job {} is not complete; state is {}", job.id, job.state),
            ));
        }
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let offset = match p.get("locator").filter(|l| !l.is_empty() && l.as_str() != "null") {
            Some(l) => b64
                .decode(l)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| t.parse::<usize>().ok())
                .ok_or_else(|| bulk_error(400, "INVALIDLOCATOR", "invalid locator"))?,
            None => 0,
        };
        let max = p
            .get("maxRecords")
            .and_then(|m| m.parse::<usize>().ok())
            .filter(|m| *m > 0)
            .unwrap_or(s.options.bulk_default_page);
        let end = (offset + max).min(job.ids.len());
        let csv = render(&s, &job, offset.min(end), end)?;
        let next = if end < job.ids.len() { b64.encode(end.to_string()) } else { "null".to_owned() };
        let mut response = (StatusCode::OK, csv).into_response();
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        h.insert("sforce-locator", HeaderValue::from_str(&next).unwrap_or(HeaderValue::from_static("null")));
        h.insert("sforce-numberofrecords", HeaderValue::from(end - offset.min(end)));
        Ok(response)
    })())
}

fn render(s: &SalesforceState, job: &Job, from: usize, to: usize) -> Result<String, SfError> {
    let fail = |e: csv::Error| bulk_error(500, "UNKNOWN_EXCEPTION", e.to_string());
    let terminator = if job.line_ending == "CRLF" { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
    let mut w = csv::WriterBuilder::new()
        .delimiter(job.delimiter)
        .terminator(terminator)
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    w.write_record(job.plan.columns.iter().map(|(name, _)| name.as_str())).map_err(fail)?;
    let org = s.org_read();
    for id in &job.ids[from..to] {
        let Some(record) = org.get(job.plan.object, id) else { continue };
        let row: Vec<String> = job
            .plan
            .columns
            .iter()
            .map(|(_, path)| {
                let (v, ty) = job.plan.value(&org, record, path);
                v.to_text(ty)
            })
            .collect();
        w.write_record(&row).map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| bulk_error(500, "UNKNOWN_EXCEPTION", e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| bulk_error(500, "UNKNOWN_EXCEPTION", e.to_string()))
}
