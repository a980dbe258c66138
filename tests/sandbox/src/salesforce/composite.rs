//! The Composite resource (crm-api.md A6): up to 25 subrequests in one API
//! call, run in order against the same REST paths, with `@{ref.field}`
//! references to earlier results and `allOrNone` rollback.

use super::SalesforceState;
use super::data::SfError;
use super::rest::error_response;
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, Request},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const MAX_SUBREQUESTS: usize = 25;
const MAX_QUERY_LIKE: usize = 5;

pub fn routes() -> Router<Arc<SalesforceState>> {
    Router::new().route("/services/data/{version}/composite", post(composite))
}

/// The value at `ref.path` (`id`, `records[0].Id`) among earlier results.
fn lookup(results: &Map<String, Value>, reference: &str) -> Option<String> {
    let mut parts = reference.split('.');
    let mut current = results.get(parts.next()?)?;
    for part in parts {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        current = current.get(name)?;
        if let Some(i) = index {
            current = current.get(i)?;
        }
    }
    match current {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Replaces every `@{ref.path}` in `text`; `Err` names the missing reference.
fn substitute(text: &str, results: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| after.to_owned())?;
        let reference = &after[..end];
        out.push_str(&lookup(results, reference).ok_or_else(|| reference.to_owned())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn halted(message: String) -> Value {
    json!([{"errorCode": "PROCESSING_HALTED", "message": message}])
}

async fn composite(
    State(state): State<Arc<SalesforceState>>,
    Path(_version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error_response(&SfError::new(400, "JSON_PARSER_ERROR", e.to_string())),
    };
    let subrequests = request["compositeRequest"].as_array().cloned().unwrap_or_default();
    let all_or_none = request["allOrNone"].as_bool().unwrap_or(false);
    if subrequests.is_empty() || subrequests.len() > MAX_SUBREQUESTS {
        return error_response(&SfError::new(
            400,
            "INVALID_BATCH_REQUEST",
            format!("compositeRequest must have 1 to {MAX_SUBREQUESTS} subrequests"),
        ));
    }
    let query_like = subrequests
        .iter()
        .filter(|s| s["url"].as_str().is_some_and(|u| u.contains("/query") || u.contains("/composite/sobjects")))
        .count();
    if query_like > MAX_QUERY_LIKE {
        return error_response(&SfError::new(
            400,
            "INVALID_BATCH_REQUEST",
            "at most 5 query or collection subrequests",
        ));
    }
    // Subrequests reach the same handlers without the bearer check: the
    // composite call itself was checked and counted once.
    let inner = super::rest::routes().merge(super::bulk::routes()).with_state(state.clone());
    let snapshot = all_or_none.then(|| {
        let org = state.org_read();
        (org.tables.iter().map(|t| t.records.clone()).collect::<Vec<_>>(), org.writes.len())
    });
    let mut results = Map::new();
    let mut answers = Vec::new();
    let mut failed = false;
    for sub in &subrequests {
        let reference_id = sub["referenceId"].as_str().unwrap_or_default().to_owned();
        if failed && all_or_none {
            answers.push(json!({"body": halted("The transaction was rolled back since another operation in the same transaction failed.".into()), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference_id}));
            continue;
        }
        let url = sub["url"].as_str().unwrap_or_default();
        let body_text = if sub["body"].is_null() { None } else { Some(sub["body"].to_string()) };
        let prepared = substitute(url, &results).and_then(|u| match &body_text {
            Some(b) => substitute(b, &results).map(|b| (u, Some(b))),
            None => Ok((u, None)),
        });
        let (url, body) = match prepared {
            Ok(p) => p,
            Err(missing) => {
                failed = true;
                answers.push(json!({"body": halted(format!("Invalid reference specified. No value for {missing} found.")), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference_id}));
                continue;
            }
        };
        let method = sub["method"].as_str().unwrap_or("GET").to_ascii_uppercase();
        let mut builder =
            Request::builder().method(method.as_str()).uri(url.as_str()).header("content-type", "application/json");
        if let Some(options) = headers.get("sforce-call-options") {
            builder = builder.header("sforce-call-options", options);
        }
        let Ok(inner_request) = builder.body(body.map(Body::from).unwrap_or_else(Body::empty)) else {
            failed = true;
            answers.push(json!({"body": halted(format!("invalid subrequest url {url}")), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference_id}));
            continue;
        };
        let response = match inner.clone().oneshot(inner_request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default();
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status >= 400 {
            failed = true;
        } else {
            results.insert(reference_id.clone(), body.clone());
        }
        let mut http_headers = Map::new();
        if let Some(l) = location {
            http_headers.insert("Location".into(), Value::from(l));
        }
        answers.push(
            json!({"body": body, "httpHeaders": http_headers, "httpStatusCode": status, "referenceId": reference_id}),
        );
    }
    if failed && let Some((tables, writes)) = snapshot {
        state.org_write().restore(tables, writes);
        for answer in answers.iter_mut().filter(|a| a["httpStatusCode"].as_u64().is_some_and(|s| s < 400)) {
            answer["httpStatusCode"] = json!(400);
            answer["body"] = halted(
                "The transaction was rolled back since another operation in the same transaction failed.".into(),
            );
        }
    }
    Json(json!({"compositeResponse": answers})).into_response()
}
