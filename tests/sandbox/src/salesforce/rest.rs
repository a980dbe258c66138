//! REST data paths under `/services/data/vNN.0/` (crm-api.md A2-A9): query
//! and queryAll with `nextRecordsUrl` paging, sObject rows, upsert by
//! External ID, sObject Collections, getUpdated/getDeleted, describe, limits.

use super::SalesforceState;
use super::data::{Actor, Org, SfError, format_datetime, parse_datetime};
use super::ids::SfId;
use super::soql::{self, Path as FieldPath, Plan};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Map, Value as JsonValue, json};
use std::collections::HashMap;
use std::sync::Arc;

type St = State<Arc<SalesforceState>>;

/// Open query cursors kept at once.
pub const MAX_OPEN_CURSORS: usize = 50;

/// An open query: the matching ids, fixed when the query ran.
#[derive(Debug, Clone)]
pub struct Cursor {
    plan: Plan,
    ids: Arc<Vec<SfId>>,
    batch: usize,
}

pub fn routes() -> Router<Arc<SalesforceState>> {
    let v = "/services/data/{version}";
    Router::new()
        .route(&format!("{v}/limits"), get(limits))
        .route(&format!("{v}/query"), get(query))
        .route(&format!("{v}/queryAll"), get(query_all))
        .route(&format!("{v}/query/{{locator}}"), get(query_more))
        .route(&format!("{v}/queryAll/{{locator}}"), get(query_more))
        .route(&format!("{v}/sobjects"), get(describe_global))
        .route(&format!("{v}/sobjects/{{object}}"), post(create).get(object_info))
        .route(&format!("{v}/sobjects/{{object}}/describe"), get(describe))
        .route(&format!("{v}/sobjects/{{object}}/describe/"), get(describe))
        .route(&format!("{v}/sobjects/{{object}}/updated"), get(updated))
        .route(&format!("{v}/sobjects/{{object}}/updated/"), get(updated))
        .route(&format!("{v}/sobjects/{{object}}/deleted"), get(deleted))
        .route(&format!("{v}/sobjects/{{object}}/deleted/"), get(deleted))
        .route(&format!("{v}/sobjects/{{object}}/{{id}}"), get(read).patch(update).delete(remove))
        .route(&format!("{v}/sobjects/{{object}}/{{field}}/{{value}}"), get(read_by_external_id).patch(upsert))
        .route(
            &format!("{v}/composite/sobjects"),
            post(collection_create).patch(collection_update).delete(collection_delete),
        )
        .route(&format!("{v}/composite/sobjects/{{object}}"), get(collection_retrieve).post(collection_retrieve_post))
        .route(&format!("{v}/composite/sobjects/{{object}}/{{field}}"), axum::routing::patch(collection_upsert))
}

/// The oldest REST API version the sandbox serves (as Salesforce does today).
pub const OLDEST_VERSION: u32 = 31;
/// The newest: Spring '26.
pub const LATEST_VERSION: u32 = 66;

/// `GET /services/data`: every version served, oldest first, each with its
/// release's label (version 20.0 was Winter '11; three releases a year).
pub async fn versions() -> Json<JsonValue> {
    let seasons = ["Winter", "Spring", "Summer"];
    let list: Vec<JsonValue> = (OLDEST_VERSION..=LATEST_VERSION)
        .map(|v| {
            let since = (v - 20) as usize;
            let label = format!("{} '{:02}", seasons[since % 3], 11 + since / 3);
            json!({"label": label, "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")})
        })
        .collect();
    Json(JsonValue::Array(list))
}

pub fn error_response(e: &SfError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    if e.status == 300 {
        let urls: Vec<&str> = e.message.split(',').collect();
        return (status, Json(json!(urls))).into_response();
    }
    (status, Json(e.rest_body())).into_response()
}

/// A version the sandbox serves (`v31.0` to `v66.0`), else 404.
pub(crate) fn check_version(version: &str) -> Result<(), SfError> {
    let served = version
        .strip_prefix('v')
        .and_then(|v| v.strip_suffix(".0"))
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (OLDEST_VERSION..=LATEST_VERSION).contains(&n));
    if served { Ok(()) } else { Err(SfError::not_found()) }
}

fn call_client(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("sforce-call-options")?.to_str().ok()?;
    v.split(',').find_map(|p| p.trim().strip_prefix("client=")).map(str::to_owned)
}

fn parse_body(body: &Bytes) -> Result<JsonValue, SfError> {
    serde_json::from_slice(body).map_err(|e| SfError::new(400, "JSON_PARSER_ERROR", format!("Unexpected JSON: {e}")))
}

fn object_body(body: &Bytes) -> Result<Map<String, JsonValue>, SfError> {
    match parse_body(body)? {
        JsonValue::Object(m) => Ok(m),
        _ => Err(SfError::new(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object")),
    }
}

fn respond(result: Result<Response, SfError>) -> Response {
    result.unwrap_or_else(|e| error_response(&e))
}

async fn limits(State(s): St, Path(version): Path<String>) -> Response {
    respond(check_version(&version).map(|()| {
        let (used, max) = s.api_usage();
        let jobs = s.jobs.lock().map(|j| j.len() as u64).unwrap_or(0);
        Json(json!({
            "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000u64.saturating_sub(jobs)},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
        }))
        .into_response()
    }))
}

/// One row of a query result, parent lookups as nested objects.
pub fn project(org: &Org, plan: &Plan, id: &SfId, version: &str) -> JsonValue {
    let Some(record) = org.get(plan.object, id) else { return JsonValue::Null };
    let def = &org.objects[plan.object];
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": def.name, "url": format!("/services/data/{version}/sobjects/{}/{id}", def.name)}),
    );
    for (_, path) in &plan.columns {
        match path {
            FieldPath::Direct(f) => {
                let field = &def.fields[*f];
                out.insert(field.name.into(), org.value(plan.object, record, *f).to_json(field.ty));
            }
            FieldPath::Parent { reference, object, field } => {
                let rel = def.field(reference).and_then(|r| r.relationship_name()).unwrap_or(reference);
                match org.parent(plan.object, record, reference) {
                    Some((pix, parent)) => {
                        let pdef = &org.objects[pix];
                        let entry = out.entry(rel.to_owned()).or_insert_with(|| {
                            json!({"attributes": {"type": pdef.name, "url": format!("/services/data/{version}/sobjects/{}/{}", pdef.name, parent.id)}})
                        });
                        if let JsonValue::Object(m) = entry {
                            let fdef = &org.objects[*object].fields[*field];
                            m.insert(fdef.name.into(), org.value(pix, parent, *field).to_json(fdef.ty));
                        }
                    }
                    None => {
                        out.insert(rel.to_owned(), JsonValue::Null);
                    }
                }
            }
        }
    }
    JsonValue::Object(out)
}

fn batch_size(headers: &HeaderMap) -> usize {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|p| p.trim().strip_prefix("batchSize=")))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .map(|n| n.clamp(200, 2000))
        .unwrap_or(2000)
}

fn page(s: &SalesforceState, locator: &str, cursor: &Cursor, offset: usize, version: &str, all: bool) -> Response {
    let org = s.org_read();
    let end = (offset + cursor.batch).min(cursor.ids.len());
    let records: Vec<JsonValue> =
        cursor.ids[offset.min(end)..end].iter().map(|id| project(&org, &cursor.plan, id, version)).collect();
    let done = end >= cursor.ids.len();
    let mut body = json!({"totalSize": cursor.ids.len(), "done": done, "records": records});
    if !done {
        let kind = if all { "queryAll" } else { "query" };
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/{kind}/{locator}-{end}"));
    }
    Json(body).into_response()
}

fn run_query(
    s: &SalesforceState,
    version: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    all: bool,
) -> Result<Response, SfError> {
    check_version(version)?;
    let q =
        params.get("q").ok_or_else(|| SfError::new(400, "MALFORMED_QUERY", "A query string has to be specified"))?;
    let parsed = soql::parse(q)?;
    let (plan, ids) = {
        let org = s.org_read();
        let plan = Plan::new(&org, parsed)?;
        let ids = plan.run(&org, all);
        (plan, ids)
    };
    if plan.count {
        return Ok(Json(json!({"totalSize": ids.len(), "done": true, "records": []})).into_response());
    }
    let locator = format!("01gRO{:010}", s.next_number());
    let cursor = Cursor { plan, ids: Arc::new(ids), batch: batch_size(headers) };
    let response = page(s, &locator, &cursor, 0, version, all);
    if cursor.ids.len() > cursor.batch {
        let mut cursors = s.cursors.lock().map_err(|_| SfError::new(500, "UNKNOWN_EXCEPTION", "lock"))?;
        // Salesforce keeps a bounded number of open cursors per user and
        // drops the oldest; so does the sandbox, to bound its memory.
        if cursors.len() >= MAX_OPEN_CURSORS
            && let Some(oldest) = cursors.keys().min().cloned()
        {
            cursors.remove(&oldest);
        }
        cursors.insert(locator, cursor);
    }
    Ok(response)
}

async fn query(
    State(s): St,
    Path(version): Path<String>,
    Query(p): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    respond(run_query(&s, &version, &p, &headers, false))
}

async fn query_all(
    State(s): St,
    Path(version): Path<String>,
    Query(p): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    respond(run_query(&s, &version, &p, &headers, true))
}

async fn query_more(State(s): St, Path((version, locator)): Path<(String, String)>, uri: axum::http::Uri) -> Response {
    let all = uri.path().contains("/queryAll/");
    respond((|| {
        check_version(&version)?;
        let invalid = || SfError::new(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
        let (id, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
        let offset: usize = offset.parse().map_err(|_| invalid())?;
        let cursor = s.cursors.lock().ok().and_then(|c| c.get(id).cloned()).ok_or_else(invalid)?;
        Ok(page(&s, id, &cursor, offset, &version, all))
    })())
}

async fn describe_global(State(s): St, Path(version): Path<String>) -> Response {
    respond(check_version(&version).map(|()| {
        let org = s.org_read();
        let objects: Vec<JsonValue> = org
            .objects
            .iter()
            .map(|o| json!({"name": o.name, "label": o.name, "keyPrefix": o.prefix, "createable": o.createable, "queryable": true}))
            .collect();
        Json(json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})).into_response()
    }))
}

async fn object_info(State(s): St, Path((version, object)): Path<(String, String)>) -> Response {
    respond((|| {
        check_version(&version)?;
        let org = s.org_read();
        let ix = org.find_object(&object)?;
        let full = org.objects[ix].describe(&format!("/services/data/{version}"));
        Ok(Json(json!({"objectDescribe": {"name": full["name"], "keyPrefix": full["keyPrefix"], "urls": full["urls"]}, "recentItems": []})).into_response())
    })())
}

async fn describe(State(s): St, Path((version, object)): Path<(String, String)>) -> Response {
    respond((|| {
        check_version(&version)?;
        let org = s.org_read();
        let ix = org.find_object(&object)?;
        Ok(Json(org.objects[ix].describe(&format!("/services/data/{version}"))).into_response())
    })())
}

fn writable(org: &Org, object: &str) -> Result<usize, SfError> {
    let ix = org.find_object(object)?;
    if !org.objects[ix].createable {
        return Err(SfError::new(
            403,
            "INSUFFICIENT_ACCESS_OR_READONLY",
            format!("insufficient access rights on object {}", org.objects[ix].name),
        ));
    }
    Ok(ix)
}

async fn create(
    State(s): St,
    Path((version, object)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let fields = object_body(&body)?;
        let mut org = s.org_write();
        let ix = writable(&org, &object)?;
        let id = org.insert(ix, &fields, Actor::Integration, call_client(&headers).as_deref(), true)?;
        s.flush_outbound(&mut org);
        let location = format!("/services/data/{version}/sobjects/{}/{id}", org.objects[ix].name);
        let body = Json(json!({"id": id.to_string(), "success": true, "errors": []}));
        Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)], body).into_response())
    })())
}

fn field_list(org: &Org, object: usize, fields: Option<&String>) -> Result<Option<Vec<usize>>, SfError> {
    let Some(list) = fields else { return Ok(None) };
    let def = &org.objects[object];
    list.split(',')
        .map(|f| {
            def.visible_field_index(f.trim()).ok_or_else(|| {
                SfError::new(400, "INVALID_FIELD", format!("No such column '{}' on entity '{}'", f.trim(), def.name))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

async fn read(
    State(s): St,
    Path((version, object, id)): Path<(String, String, String)>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let org = s.org_read();
        let ix = org.find_object(&object)?;
        let record = org.live(ix, &id)?;
        let fields = field_list(&org, ix, p.get("fields"))?;
        Ok(Json(org.record_json(ix, record, fields.as_deref(), &version)).into_response())
    })())
}

async fn update(
    State(s): St,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let fields = object_body(&body)?;
        let mut org = s.org_write();
        let ix = writable(&org, &object)?;
        org.update(ix, &id, &fields, Actor::Integration, call_client(&headers).as_deref())?;
        s.flush_outbound(&mut org);
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

async fn remove(
    State(s): St,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let mut org = s.org_write();
        let ix = writable(&org, &object)?;
        org.delete(ix, &id, Actor::Integration, call_client(&headers).as_deref())?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })())
}

async fn read_by_external_id(
    State(s): St,
    Path((version, object, field, value)): Path<(String, String, String, String)>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let org = s.org_read();
        let ix = org.find_object(&object)?;
        let def = &org.objects[ix];
        let f =
            def.visible_field_index(&field).filter(|f| def.fields[*f].external_id).ok_or_else(SfError::not_found)?;
        let fields = field_list(&org, ix, p.get("fields"))?;
        match org.find_by_external_id(ix, f, &value).as_slice() {
            [] => Err(SfError::not_found()),
            [one] => {
                let record = org.live(ix, one.as_str())?;
                Ok(Json(org.record_json(ix, record, fields.as_deref(), &version)).into_response())
            }
            many => Err(SfError::new(
                300,
                "MULTIPLE_CHOICES",
                many.iter()
                    .map(|i| format!("/services/data/{version}/sobjects/{}/{i}", def.name))
                    .collect::<Vec<_>>()
                    .join(","),
            )),
        }
    })())
}

async fn upsert(
    State(s): St,
    Path((version, object, field, value)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let fields = object_body(&body)?;
        let mut org = s.org_write();
        let ix = writable(&org, &object)?;
        let (id, created) =
            org.upsert(ix, &field, &value, &fields, Actor::Integration, call_client(&headers).as_deref())?;
        s.flush_outbound(&mut org);
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        Ok((status, Json(json!({"id": id.to_string(), "success": true, "errors": [], "created": created})))
            .into_response())
    })())
}

fn window(p: &HashMap<String, String>) -> Result<(i64, i64), SfError> {
    let bad = || {
        SfError::new(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate by more than one minute",
        )
    };
    let start = p.get("start").and_then(|s| parse_datetime(s)).ok_or_else(bad)?;
    let end = p.get("end").and_then(|s| parse_datetime(s)).ok_or_else(bad)?;
    // Seconds are truncated to the minute.
    let (start, end) = (start - start.rem_euclid(60_000), end - end.rem_euclid(60_000));
    if start >= end {
        return Err(bad());
    }
    Ok((start, end))
}

async fn updated(
    State(s): St,
    Path((version, object)): Path<(String, String)>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let (start, end) = window(&p)?;
        let org = s.org_read();
        let ix = org.find_object(&object)?;
        let ids: Vec<String> = org.tables[ix]
            .records
            .values()
            .filter(|r| r.deleted.is_none() && r.modstamp >= start && r.modstamp < end)
            .map(|r| r.id.to_string())
            .collect();
        if ids.len() > s.options.replication_id_limit {
            return Err(SfError::new(400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the time window"));
        }
        let latest = end.min(chrono::Utc::now().timestamp_millis() / 60_000 * 60_000);
        Ok(Json(json!({"ids": ids, "latestDateCovered": format_datetime(latest)})).into_response())
    })())
}

async fn deleted(
    State(s): St,
    Path((version, object)): Path<(String, String)>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let (start, end) = window(&p)?;
        let org = s.org_read();
        let ix = org.find_object(&object)?;
        let records: Vec<JsonValue> = org.tables[ix]
            .records
            .values()
            .filter_map(|r| r.deleted.filter(|d| *d >= start && *d < end).map(|d| (r.id, d)))
            .map(|(id, d)| json!({"id": id.to_string(), "deletedDate": format_datetime(d)}))
            .collect();
        let now = chrono::Utc::now().timestamp_millis();
        let earliest = now - 15 * 86_400_000;
        let latest = end.min(now / 60_000 * 60_000);
        Ok(Json(json!({
            "deletedRecords": records,
            "earliestDateAvailable": format_datetime(earliest - earliest.rem_euclid(60_000)),
            "latestDateCovered": format_datetime(latest),
        }))
        .into_response())
    })())
}

// ---- sObject Collections ----

fn collection_records(body: &Bytes) -> Result<(bool, Vec<JsonValue>), SfError> {
    let value = parse_body(body)?;
    let all_or_none = value.get("allOrNone").and_then(JsonValue::as_bool).unwrap_or(false);
    let records = value
        .get("records")
        .and_then(JsonValue::as_array)
        .cloned()
        .ok_or_else(|| SfError::new(400, "JSON_PARSER_ERROR", "records is required"))?;
    if records.len() > 200 {
        return Err(SfError::new(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        ));
    }
    Ok((all_or_none, records))
}

fn record_type(record: &JsonValue) -> Option<String> {
    record.get("attributes").and_then(|a| a.get("type")).and_then(JsonValue::as_str).map(str::to_owned)
}

fn rolled_back() -> JsonValue {
    json!({"success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []}]})
}

/// Runs `op` per record; with `allOrNone`, a failure undoes the others.
fn per_record(
    s: &SalesforceState,
    all_or_none: bool,
    records: &[JsonValue],
    op: impl Fn(&mut Org, &JsonValue) -> Result<JsonValue, SfError>,
) -> Response {
    let mut org = s.org_write();
    let snapshot = if all_or_none {
        Some((org.tables.iter().map(|t| t.records.clone()).collect::<Vec<_>>(), org.writes.len()))
    } else {
        None
    };
    let results: Vec<Result<JsonValue, SfError>> = records.iter().map(|r| op(&mut org, r)).collect();
    if all_or_none && results.iter().any(Result::is_err) {
        if let Some((tables, writes)) = snapshot {
            org.restore(tables, writes);
        }
        let out: Vec<JsonValue> = results
            .into_iter()
            .map(|r| match r {
                Ok(_) => rolled_back(),
                Err(e) => json!({"success": false, "errors": [e.collection_error()]}),
            })
            .collect();
        return Json(out).into_response();
    }
    s.flush_outbound(&mut org);
    let out: Vec<JsonValue> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| json!({"success": false, "errors": [e.collection_error()]})))
        .collect();
    Json(out).into_response()
}

async fn collection_create(State(s): St, Path(version): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    respond((|| {
        check_version(&version)?;
        let (all_or_none, records) = collection_records(&body)?;
        let client = call_client(&headers);
        Ok(per_record(&s, all_or_none, &records, |org, r| {
            let ty =
                record_type(r).ok_or_else(|| SfError::new(400, "INVALID_TYPE", "Must send a concrete entity type."))?;
            let ix = writable(org, &ty)?;
            let fields = r.as_object().cloned().unwrap_or_default();
            if fields.contains_key("id") || fields.contains_key("Id") {
                return Err(SfError::new(400, "INVALID_FIELD", "cannot specify Id in an insert call").field("Id"));
            }
            let id = org.insert(ix, &fields, Actor::Integration, client.as_deref(), true)?;
            Ok(json!({"id": id.to_string(), "success": true, "errors": []}))
        }))
    })())
}

async fn collection_update(State(s): St, Path(version): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    respond((|| {
        check_version(&version)?;
        let (all_or_none, records) = collection_records(&body)?;
        let client = call_client(&headers);
        Ok(per_record(&s, all_or_none, &records, |org, r| {
            let ty =
                record_type(r).ok_or_else(|| SfError::new(400, "INVALID_TYPE", "Must send a concrete entity type."))?;
            let ix = writable(org, &ty)?;
            let mut fields = r.as_object().cloned().unwrap_or_default();
            let id = fields
                .remove("id")
                .or_else(|| fields.remove("Id"))
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or_else(|| {
                    SfError::new(400, "MISSING_ARGUMENT", "Id not specified in an update call").field("Id")
                })?;
            let id = org.update(ix, &id, &fields, Actor::Integration, client.as_deref())?;
            Ok(json!({"id": id.to_string(), "success": true, "errors": []}))
        }))
    })())
}

async fn collection_upsert(
    State(s): St,
    Path((version, object, field)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let (all_or_none, records) = collection_records(&body)?;
        let client = call_client(&headers);
        let ix = writable(&s.org_read(), &object)?;
        Ok(per_record(&s, all_or_none, &records, |org, r| {
            let mut fields = r.as_object().cloned().unwrap_or_default();
            let def = &org.objects[ix];
            let fname = def
                .visible_field_index(&field)
                .map(|i| &def.fields[i])
                .filter(|f| f.external_id)
                .map(|f| f.name)
                .ok_or_else(SfError::not_found)?;
            let key = fields
                .remove(fname)
                .and_then(|v| match v {
                    JsonValue::String(s) => Some(s),
                    JsonValue::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .ok_or_else(|| SfError::new(400, "MISSING_ARGUMENT", format!("{fname} not specified")).field(fname))?;
            let (id, created) = org.upsert(ix, fname, &key, &fields, Actor::Integration, client.as_deref())?;
            Ok(json!({"id": id.to_string(), "success": true, "errors": [], "created": created}))
        }))
    })())
}

async fn collection_delete(
    State(s): St,
    Path(version): Path<String>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    respond((|| {
        check_version(&version)?;
        let ids: Vec<JsonValue> =
            p.get("ids").map(|s| s.split(',').map(|i| JsonValue::from(i.trim())).collect()).unwrap_or_default();
        if ids.len() > 200 {
            return Err(SfError::new(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            ));
        }
        let all_or_none = p.get("allOrNone").is_some_and(|v| v == "true");
        let client = call_client(&headers);
        Ok(per_record(&s, all_or_none, &ids, |org, id| {
            let id = id.as_str().unwrap_or("");
            let sid = SfId::parse(id).ok_or_else(|| SfError::new(400, "MALFORMED_ID", format!("malformed id {id}")))?;
            let ix =
                org.object_of_id(&sid).ok_or_else(|| SfError::new(404, "ENTITY_IS_DELETED", "entity is deleted"))?;
            let name = org.objects[ix].name;
            writable(org, name)?;
            let id = org.delete(ix, id, Actor::Integration, client.as_deref())?;
            Ok(json!({"id": id.to_string(), "success": true, "errors": []}))
        }))
    })())
}

fn retrieve(
    s: &SalesforceState,
    version: &str,
    object: &str,
    ids: &[String],
    fields: &str,
) -> Result<Response, SfError> {
    check_version(version)?;
    if ids.len() > 2000 {
        return Err(SfError::new(400, "EXCEEDED_ID_LIMIT", "too many ids"));
    }
    let org = s.org_read();
    let ix = org.find_object(object)?;
    let list = field_list(&org, ix, Some(&fields.to_owned()))?;
    let out: Vec<JsonValue> = ids
        .iter()
        .map(|id| match org.live(ix, id) {
            Ok(r) => org.record_json(ix, r, list.as_deref(), version),
            Err(_) => JsonValue::Null,
        })
        .collect();
    Ok(Json(out).into_response())
}

async fn collection_retrieve(
    State(s): St,
    Path((version, object)): Path<(String, String)>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let ids: Vec<String> =
        p.get("ids").map(|s| s.split(',').map(|i| i.trim().to_owned()).collect()).unwrap_or_default();
    respond(retrieve(&s, &version, &object, &ids, p.get("fields").map(String::as_str).unwrap_or("Id")))
}

async fn collection_retrieve_post(
    State(s): St,
    Path((version, object)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    respond((|| {
        let v = parse_body(&body)?;
        let ids: Vec<String> = v["ids"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let fields: Vec<String> = v["fields"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        retrieve(&s, &version, &object, &ids, &fields.join(","))
    })())
}
