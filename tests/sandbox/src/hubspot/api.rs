//! HTTP handlers of the fake HubSpot's public API: CRM v3 objects (single,
//! list, batch, search, merge), properties, associations v4 and
//! communication preferences v3/v4, in HubSpot's request and response shapes.
//!
//! Owns parsing and shaping only; rules live in `model`, search in `search`.

use super::HubSpotState;
use super::model::{Actor, ApiError, Db, ObjectType, PropertyDef, default_association_type};
use super::search::{self, SearchRequest};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;

type S = State<Arc<HubSpotState>>;
type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<Arc<HubSpotState>> {
    Router::new()
        .route("/crm/v3/objects/{object}", get(list).post(create))
        .route("/crm/v3/objects/{object}/search", post(search_objects))
        .route("/crm/v3/objects/{object}/merge", post(merge))
        .route("/crm/v3/objects/{object}/batch/read", post(batch_read))
        .route("/crm/v3/objects/{object}/batch/create", post(batch_create))
        .route("/crm/v3/objects/{object}/batch/update", post(batch_update))
        .route("/crm/v3/objects/{object}/batch/upsert", post(batch_upsert))
        .route("/crm/v3/objects/{object}/batch/archive", post(batch_archive))
        .route("/crm/v3/objects/{object}/{id}", get(read).patch(update).delete(archive))
        .route("/crm/v3/properties/{object}", get(list_properties).post(create_property))
        .route("/crm/v3/properties/{object}/{name}", get(read_property))
        .route("/crm/v4/objects/{from}/{id}/associations/default/{to}/{to_id}", put(associate_default))
        .route("/crm/v4/objects/{from}/{id}/associations/{to}/{to_id}", put(associate_labeled).delete(dissociate))
        .route("/crm/v4/objects/{from}/{id}/associations/{to}", get(list_associations))
        .route("/crm/v4/associations/{from}/{to}/batch/create", post(assoc_batch_create))
        .route("/crm/v4/associations/{from}/{to}/batch/associate/default", post(assoc_batch_default))
        .route("/crm/v4/associations/{from}/{to}/batch/read", post(assoc_batch_read))
        .route("/crm/v4/associations/{from}/{to}/batch/archive", post(assoc_batch_archive))
        .route("/crm/v3/owners", get(list_owners))
        .route("/crm/v3/lists/{list}/memberships", get(list_memberships))
        .route("/crm/v3/lists/{list}/memberships/add", put(list_add))
        .route("/crm/v3/lists/{list}/memberships/remove", put(list_remove))
        .route("/communication-preferences/v3/status/email/{email}", get(v3_status))
        .route("/communication-preferences/v3/unsubscribe", post(v3_unsubscribe))
        .route("/communication-preferences/v3/subscribe", post(v3_subscribe))
        .route("/communication-preferences/v4/statuses/batch/unsubscribe-all", post(v4_batch_unsubscribe_all))
        .route(
            "/communication-preferences/v4/statuses/{email}/unsubscribe-all",
            get(v4_read_unsubscribe_all).post(v4_unsubscribe_all),
        )
}

fn object(s: &str) -> Result<ObjectType, ApiError> {
    ObjectType::parse(s).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", format!("Unable to infer object type from: {s}"))
    })
}

/// `properties` may be repeated or comma-separated.
fn property_list(raw: &[(String, String)]) -> Vec<String> {
    raw.iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned))
        .collect()
}

fn param<'a>(raw: &'a [(String, String)], key: &str) -> Option<&'a str> {
    raw.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn flag(raw: &[(String, String)], key: &str) -> bool {
    param(raw, key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn now_iso() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn batch_body(results: Vec<Value>, errors: Vec<Value>, started: &str) -> (StatusCode, Value) {
    let mut body = json!({
        "status": "COMPLETE", "results": results, "requestedAt": started, "startedAt": started,
        "completedAt": now_iso(), "links": {},
    });
    if errors.is_empty() {
        (StatusCode::OK, body)
    } else {
        body["numErrors"] = json!(errors.len());
        body["errors"] = Value::Array(errors);
        (StatusCode::MULTI_STATUS, body)
    }
}

/// A batch answer of an endpoint HubSpot documents with one answer only
/// (200): refused inputs are in `errors`, the status stays 200
/// (`batch/associate/default`, the v4 batch unsubscribe).
fn batch_body_200(results: Vec<Value>, errors: Vec<Value>, started: &str) -> (StatusCode, Value) {
    (StatusCode::OK, batch_body(results, errors, started).1)
}

fn check_batch_size(n: usize) -> Result<(), ApiError> {
    if n > 100 {
        return Err(ApiError::validation(format!("Too many inputs: {n}. The limit is 100 inputs per batch request.")));
    }
    Ok(())
}

type Raw = Query<Vec<(String, String)>>;

async fn list(State(st): S, Path(obj): Path<String>, Query(q): Raw) -> ApiResult {
    let ty = object(&obj)?;
    let limit: usize = param(&q, "limit")
        .map(str::parse)
        .transpose()
        .map_err(|_| ApiError::validation("limit must be a number"))?
        .unwrap_or(10);
    if limit > 100 {
        return Err(ApiError::validation(format!("limit may not exceed 100 (got {limit})")));
    }
    let after: u64 =
        param(&q, "after").map(str::parse).transpose().map_err(|_| ApiError::validation("Invalid after"))?.unwrap_or(0);
    let archived = flag(&q, "archived");
    let props = property_list(&q);
    let db = st.db();
    let mut page: Vec<&super::model::Record> =
        db.tables[&ty].records.range(after..).map(|(_, r)| r).filter(|r| r.served(archived)).take(limit + 1).collect();
    let next = if page.len() > limit { page.pop().map(|_| ()).and(page.last().map(|r| r.id + 1)) } else { None };
    let results: Vec<Value> = page.iter().map(|r| r.to_json(ty, Some(&props))).collect();
    let mut body = json!({ "results": results });
    if let Some(n) = next {
        body["paging"] = json!({"next": {"after": n.to_string(), "link": format!("?after={n}")}});
    }
    Ok(Json(body).into_response())
}

async fn read(State(st): S, Path((obj, id)): Path<(String, String)>, Query(q): Raw) -> ApiResult {
    let ty = object(&obj)?;
    let props = property_list(&q);
    let db = st.db();
    let found = db.find(ty, &id, param(&q, "idProperty"), flag(&q, "archived"))?;
    let record = db.get(ty, found).ok_or_else(|| ApiError::not_found("Object not found."))?;
    let mut body = record.to_json(ty, Some(&props));
    if let Some(assoc) = param(&q, "associations") {
        let mut out = Map::new();
        for to in assoc.split(',').filter_map(ObjectType::parse) {
            let items: Vec<Value> = db
                .associations(ty, found, to)
                .into_iter()
                .map(|(id, types)| json!({"id": id.to_string(), "type": format!("{}_to_{}", ty.singular(), to.singular()), "types": types}))
                .collect();
            if !items.is_empty() {
                out.insert(to.plural().into(), json!({"results": items}));
            }
        }
        body["associations"] = Value::Object(out);
    }
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    associations: Vec<AssocAtCreate>,
    #[serde(default, rename = "objectWriteTraceId")]
    trace_id: Option<String>,
}

#[derive(Deserialize, Clone)]
struct AssocAtCreate {
    to: IdRef,
    #[serde(default)]
    types: Vec<AssocType>,
}

#[derive(Deserialize, Clone)]
struct IdRef {
    id: Value,
}

impl IdRef {
    fn id(&self) -> String {
        match &self.id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct AssocType {
    #[serde(default)]
    association_category: Option<String>,
    association_type_id: u32,
}

/// The object type a type id points to from `from`.
fn target_of(from: ObjectType, type_id: u32) -> Option<ObjectType> {
    ObjectType::ALL.into_iter().find(|to| default_association_type(from, *to) == Some(type_id)).or(
        match (from, type_id) {
            (ObjectType::Contacts, 1) | (ObjectType::Deals, 5) => Some(ObjectType::Companies),
            (ObjectType::Companies, 2) => Some(ObjectType::Contacts),
            (ObjectType::Companies, 6) => Some(ObjectType::Deals),
            _ => None,
        },
    )
}

/// Creates one record with its at-create associations; all-or-nothing.
fn create_one(st: &HubSpotState, db: &mut Db, ty: ObjectType, body: &CreateBody) -> Result<u64, ApiError> {
    let mut links = Vec::new();
    for a in &body.associations {
        for t in &a.types {
            let to = target_of(ty, t.association_type_id)
                .ok_or_else(|| ApiError::validation(format!("Unknown association type {}", t.association_type_id)))?;
            let to_id: u64 =
                a.to.id().parse().map_err(|_| ApiError::validation("association target id must be numeric"))?;
            if !db.get(to, to_id).is_some_and(|r| r.is_live()) {
                return Err(ApiError::validation(format!("No {} with ID {to_id} exists", to.singular())));
            }
            links.push((to, to_id, t.association_type_id));
        }
    }
    let (id, mut events) = db.create(ty, &body.properties, Actor::Api)?;
    for (to, to_id, t) in links {
        events.extend(db.associate(ty, id, to, to_id, t)?);
    }
    st.emit(events, Actor::Api);
    Ok(id)
}

async fn create(State(st): S, Path(obj): Path<String>, Json(body): Json<CreateBody>) -> ApiResult {
    let ty = object(&obj)?;
    let mut db = st.db();
    let id = create_one(&st, &mut db, ty, &body)?;
    let record = db.get(ty, id).map(|r| r.to_json(ty, Some(&body.properties.keys().cloned().collect::<Vec<_>>())));
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    properties: Map<String, Value>,
}

async fn update(
    State(st): S,
    Path((obj, id)): Path<(String, String)>,
    Query(q): Raw,
    Json(body): Json<UpdateBody>,
) -> ApiResult {
    let ty = object(&obj)?;
    let mut db = st.db();
    let found = db.find(ty, &id, param(&q, "idProperty"), false)?;
    let events = db.update(ty, found, &body.properties, Actor::Api)?;
    st.emit(events, Actor::Api);
    let record = db.get(ty, found).map(|r| r.to_json(ty, Some(&body.properties.keys().cloned().collect::<Vec<_>>())));
    Ok(Json(record).into_response())
}

async fn archive(State(st): S, Path((obj, id)): Path<(String, String)>) -> ApiResult {
    let ty = object(&obj)?;
    let mut db = st.db();
    // Archiving an unknown or archived id answers 204, as HubSpot does.
    if let Ok(found) = db.find(ty, &id, None, false) {
        let events = db.archive(ty, found)?;
        st.emit(events, Actor::Api);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeBody {
    primary_object_id: Value,
    object_id_to_merge: Value,
}

fn id_of(v: &Value) -> Result<u64, ApiError> {
    match v {
        Value::String(s) => s.parse().map_err(|_| ApiError::validation(format!("Invalid id {s}"))),
        Value::Number(n) => n.as_u64().ok_or_else(|| ApiError::validation(format!("Invalid id {n}"))),
        other => Err(ApiError::validation(format!("Invalid id {other}"))),
    }
}

async fn merge(State(st): S, Path(obj): Path<String>, Json(body): Json<MergeBody>) -> ApiResult {
    let ty = object(&obj)?;
    let (primary, merged) = (id_of(&body.primary_object_id)?, id_of(&body.object_id_to_merge)?);
    let mut db = st.db();
    let events = db.merge(ty, primary, merged)?;
    st.emit(events, Actor::Api);
    Ok(Json(db.get(ty, primary).map(|r| r.to_json(ty, None))).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchReadBody {
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    id_property: Option<String>,
    inputs: Vec<IdRef>,
}

async fn batch_read(
    State(st): S,
    Path(obj): Path<String>,
    Query(q): Raw,
    Json(body): Json<BatchReadBody>,
) -> ApiResult {
    let ty = object(&obj)?;
    check_batch_size(body.inputs.len())?;
    let started = now_iso();
    let db = st.db();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    let mut seen = HashSet::new();
    for input in &body.inputs {
        let id = input.id();
        match db.find(ty, &id, body.id_property.as_deref(), flag(&q, "archived")) {
            Ok(found) if seen.insert(found) => {
                results.extend(db.get(ty, found).map(|r| r.to_json(ty, Some(&body.properties))))
            }
            Ok(_) => {}
            Err(e) if e.category == "VALIDATION_ERROR" => return Err(e),
            Err(_) => missing.push(id),
        }
    }
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        vec![
            ApiError::not_found(format!(
                "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
                ty.singular()
            ))
            .batch_entry(&missing),
        ]
    };
    let (status, body) = batch_body(results, errors, &started);
    Ok((status, Json(body)).into_response())
}

#[derive(Deserialize)]
struct BatchCreateBody {
    inputs: Vec<CreateBody>,
}

async fn batch_create(State(st): S, Path(obj): Path<String>, Json(body): Json<BatchCreateBody>) -> ApiResult {
    let ty = object(&obj)?;
    check_batch_size(body.inputs.len())?;
    let started = now_iso();
    let mut db = st.db();
    // Multi-status only when every input carries a distinct trace id;
    // otherwise the first bad input fails the whole request.
    let traces: HashSet<&str> = body.inputs.iter().filter_map(|i| i.trace_id.as_deref()).collect();
    let multi_status = !body.inputs.is_empty() && traces.len() == body.inputs.len();
    if !multi_status {
        let mut pending_unique: HashSet<String> = HashSet::new();
        for input in &body.inputs {
            db.check_create(ty, &input.properties, Actor::Api)?;
            if let Some(Value::String(email)) = input.properties.get("email")
                && !pending_unique.insert(email.trim().to_lowercase())
            {
                return Err(ApiError::validation(format!("Duplicate emails found in batch input: [{email}]")));
            }
        }
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &body.inputs {
        match create_one(&st, &mut db, ty, input) {
            Ok(id) => {
                let mut r = db
                    .get(ty, id)
                    .map(|r| r.to_json(ty, Some(&input.properties.keys().cloned().collect::<Vec<_>>())))
                    .unwrap_or(Value::Null);
                if let Some(t) = &input.trace_id {
                    r["objectWriteTraceId"] = json!(t);
                }
                results.push(r);
            }
            Err(e) => {
                let mut entry = e.batch_entry(&[]);
                entry["context"] = json!({ "objectWriteTraceId": [input.trace_id.clone().unwrap_or_default()] });
                errors.push(entry);
            }
        }
    }
    let (status, body) = batch_body(results, errors, &started);
    let status = if status == StatusCode::OK { StatusCode::CREATED } else { status };
    Ok((status, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchUpdateInput {
    id: Value,
    #[serde(default)]
    id_property: Option<String>,
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    object_write_trace_id: Option<String>,
}

impl BatchUpdateInput {
    fn id(&self) -> String {
        IdRef { id: self.id.clone() }.id()
    }
}

#[derive(Deserialize)]
struct BatchUpdateBody {
    inputs: Vec<BatchUpdateInput>,
}

fn reject_duplicate_ids(inputs: &[BatchUpdateInput]) -> Result<(), ApiError> {
    let mut seen = HashSet::new();
    let dups: Vec<String> =
        inputs.iter().map(|i| i.id().to_lowercase()).filter(|id| !seen.insert(id.clone())).collect();
    if dups.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(format!("Duplicate IDs found in batch input: {dups:?}. IDs must be unique")))
    }
}

async fn batch_update(State(st): S, Path(obj): Path<String>, Json(body): Json<BatchUpdateBody>) -> ApiResult {
    let ty = object(&obj)?;
    check_batch_size(body.inputs.len())?;
    reject_duplicate_ids(&body.inputs)?;
    let started = now_iso();
    let mut db = st.db();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &body.inputs {
        let outcome = db.find(ty, &input.id(), input.id_property.as_deref(), false).and_then(|found| {
            let events = db.update(ty, found, &input.properties, Actor::Api)?;
            Ok((found, events))
        });
        match outcome {
            Ok((found, events)) => {
                st.emit(events, Actor::Api);
                let keys: Vec<String> = input.properties.keys().cloned().collect();
                let mut r = db.get(ty, found).map(|r| r.to_json(ty, Some(&keys))).unwrap_or(Value::Null);
                if let Some(t) = &input.object_write_trace_id {
                    r["objectWriteTraceId"] = json!(t);
                }
                results.push(r);
            }
            Err(e) => errors.push(e.batch_entry(&[input.id()])),
        }
    }
    let (status, body) = batch_body(results, errors, &started);
    Ok((status, Json(body)).into_response())
}

async fn batch_upsert(State(st): S, Path(obj): Path<String>, Json(body): Json<BatchUpdateBody>) -> ApiResult {
    let ty = object(&obj)?;
    check_batch_size(body.inputs.len())?;
    reject_duplicate_ids(&body.inputs)?;
    let started = now_iso();
    let mut db = st.db();
    // A wrong idProperty fails the whole request, as HubSpot does.
    for prop in body.inputs.iter().filter_map(|i| i.id_property.as_deref()) {
        db.unique_def(ty, prop)?;
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in &body.inputs {
        let id = input.id();
        let Some(prop) = input.id_property.clone().filter(|p| p != "hs_object_id") else {
            errors.push(
                ApiError::validation("idProperty is required for upsert and must name a unique property")
                    .batch_entry(&[id]),
            );
            continue;
        };
        let outcome = match db.find(ty, &id, Some(&prop), false) {
            Ok(found) => db.update(ty, found, &input.properties, Actor::Api).map(|ev| (found, false, ev)),
            Err(e) if e.category == "OBJECT_NOT_FOUND" => {
                let mut props = input.properties.clone();
                props.insert(prop.clone(), json!(id));
                db.create(ty, &props, Actor::Api).map(|(found, ev)| (found, true, ev))
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok((found, new, events)) => {
                st.emit(events, Actor::Api);
                let mut keys: Vec<String> = input.properties.keys().cloned().collect();
                keys.push(prop);
                let mut r = db.get(ty, found).map(|r| r.to_json(ty, Some(&keys))).unwrap_or(Value::Null);
                r["new"] = json!(new);
                if let Some(t) = &input.object_write_trace_id {
                    r["objectWriteTraceId"] = json!(t);
                }
                results.push(r);
            }
            Err(e) => errors.push(e.batch_entry(&[id])),
        }
    }
    let (status, body) = batch_body(results, errors, &started);
    Ok((status, Json(body)).into_response())
}

#[derive(Deserialize)]
struct BatchIds {
    inputs: Vec<IdRef>,
}

async fn batch_archive(State(st): S, Path(obj): Path<String>, Json(body): Json<BatchIds>) -> ApiResult {
    let ty = object(&obj)?;
    check_batch_size(body.inputs.len())?;
    let mut db = st.db();
    for input in &body.inputs {
        if let Ok(found) = db.find(ty, &input.id(), None, false) {
            let events = db.archive(ty, found)?;
            st.emit(events, Actor::Api);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn search_objects(State(st): S, Path(obj): Path<String>, Json(body): Json<SearchRequest>) -> ApiResult {
    let ty = object(&obj)?;
    let horizon = st.search_horizon();
    let db = st.db();
    let out = search::run(&db, ty, &body, horizon)?;
    Ok(Json(out).into_response())
}

async fn list_properties(State(st): S, Path(obj): Path<String>) -> ApiResult {
    let ty = object(&obj)?;
    let db = st.db();
    let results: Vec<Value> = db.defs[&ty].values().map(PropertyDef::to_json).collect();
    Ok(Json(json!({ "results": results })).into_response())
}

async fn read_property(State(st): S, Path((obj, name)): Path<(String, String)>) -> ApiResult {
    let ty = object(&obj)?;
    let db = st.db();
    let def = db.defs[&ty].get(&name).ok_or_else(|| ApiError::not_found(format!("Unable to find property {name}")))?;
    Ok(Json(def.to_json()).into_response())
}

/// A property definition as the create call takes it (`PropertyCreate`):
/// `name`, `label`, `type`, `fieldType` and `groupName` are required.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PropertyCreate {
    name: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    field_type: Option<String>,
    group_name: Option<String>,
    #[serde(default)]
    has_unique_value: bool,
    #[serde(default)]
    description: String,
}

impl PropertyCreate {
    fn into_def(self) -> Result<PropertyDef, ApiError> {
        let mut missing = Vec::new();
        let mut need = |field: &str, value: Option<String>| {
            let value = value.filter(|v| !v.trim().is_empty());
            if value.is_none() {
                missing.push(json!({"message": format!("{field} is required"), "code": "REQUIRED_FIELD", "in": field}));
            }
            value.unwrap_or_default()
        };
        let def = PropertyDef {
            name: need("name", self.name),
            label: need("label", self.label),
            kind: need("type", self.kind),
            field_type: need("fieldType", self.field_type),
            group_name: need("groupName", self.group_name),
            has_unique_value: self.has_unique_value,
            description: self.description,
            read_only: false,
        };
        if missing.is_empty() {
            return Ok(def);
        }
        let fields: Vec<&str> = missing.iter().filter_map(|m| m["in"].as_str()).collect();
        Err(ApiError::validation(format!("Property definition is missing required fields: {}", fields.join(", ")))
            .with("errors", Value::Array(missing)))
    }
}

async fn create_property(State(st): S, Path(obj): Path<String>, Json(create): Json<PropertyCreate>) -> ApiResult {
    let ty = object(&obj)?;
    let def = create.into_def()?;
    let mut db = st.db();
    let def = db.define_property(ty, def)?;
    Ok((StatusCode::CREATED, Json(def.to_json())).into_response())
}

fn num(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::validation(format!("Invalid id {s}")))
}

fn association_result(from: ObjectType, from_id: u64, to: ObjectType, to_id: u64, types: &[u32]) -> Value {
    json!({
        "fromObjectTypeId": from.type_id(), "fromObjectId": from_id.to_string(),
        "toObjectTypeId": to.type_id(), "toObjectId": to_id.to_string(),
        "labels": [], "types": types.iter().map(|t| json!({"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t})).collect::<Vec<_>>(),
    })
}

/// A default association as HubSpot answers its creation
/// (`PublicDefaultAssociation`): ids as strings and the spec of the type.
fn default_association_result(from_id: u64, to_id: u64, type_id: u32) -> Value {
    json!({
        "from": {"id": from_id.to_string()}, "to": {"id": to_id.to_string()},
        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
    })
}

fn default_type(from: ObjectType, to: ObjectType) -> Result<u32, ApiError> {
    default_association_type(from, to).ok_or_else(|| {
        ApiError::validation(format!("No default association from {} to {}", from.plural(), to.plural()))
    })
}

async fn associate_default(
    State(st): S,
    Path((from, id, to, to_id)): Path<(String, String, String, String)>,
) -> ApiResult {
    let (from, to) = (object(&from)?, object(&to)?);
    let (id, to_id) = (num(&id)?, num(&to_id)?);
    let mut db = st.db();
    let t = default_type(from, to)?;
    let events = db.associate(from, id, to, to_id, t)?;
    st.emit(events, Actor::Api);
    let started = now_iso();
    let (_, body) = batch_body(vec![default_association_result(id, to_id, t)], Vec::new(), &started);
    Ok(Json(body).into_response())
}

async fn associate_labeled(
    State(st): S,
    Path((from, id, to, to_id)): Path<(String, String, String, String)>,
    Json(types): Json<Vec<AssocType>>,
) -> ApiResult {
    let (from, to) = (object(&from)?, object(&to)?);
    let (id, to_id) = (num(&id)?, num(&to_id)?);
    let mut db = st.db();
    for t in &types {
        if t.association_category
            .as_deref()
            .is_some_and(|c| !["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED", "WORK"].contains(&c))
        {
            return Err(ApiError::validation("Invalid associationCategory"));
        }
        let events = db.associate(from, id, to, to_id, t.association_type_id)?;
        st.emit(events, Actor::Api);
    }
    let body = json!({ "fromObjectTypeId": from.type_id(), "fromObjectId": id.to_string(), "toObjectTypeId": to.type_id(), "toObjectId": to_id.to_string(), "labels": [] });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn dissociate(State(st): S, Path((from, id, to, to_id)): Path<(String, String, String, String)>) -> ApiResult {
    let (from, to) = (object(&from)?, object(&to)?);
    let mut db = st.db();
    let events = db.dissociate(from, num(&id)?, to, num(&to_id)?);
    st.emit(events, Actor::Api);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn assoc_items(db: &Db, from: ObjectType, id: u64, to: ObjectType) -> Vec<Value> {
    db.associations(from, id, to)
        .into_iter()
        .map(|(to_id, types)| {
            json!({
                "toObjectId": to_id.to_string(),
                "associationTypes": types.iter().map(|t| json!({"category": "HUBSPOT_DEFINED", "typeId": t, "label": Value::Null})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

async fn list_associations(State(st): S, Path((from, id, to)): Path<(String, String, String)>) -> ApiResult {
    let (from, to) = (object(&from)?, object(&to)?);
    let db = st.db();
    let id = num(&id)?;
    if !db.get(from, id).is_some_and(|r| r.is_live()) {
        return Err(ApiError::not_found(format!("No {} with id {id} exists", from.singular())));
    }
    Ok(Json(json!({ "results": assoc_items(&db, from, id, to) })).into_response())
}

#[derive(Deserialize)]
struct AssocBatchCreate {
    inputs: Vec<AssocPair>,
}

#[derive(Deserialize)]
struct AssocPair {
    from: IdRef,
    to: IdRef,
    #[serde(default)]
    types: Vec<AssocType>,
}

async fn assoc_batch_write(
    st: &HubSpotState,
    from: &str,
    to: &str,
    inputs: Vec<AssocPair>,
    default: bool,
) -> ApiResult {
    let (from, to) = (object(from)?, object(to)?);
    check_batch_size(inputs.len())?;
    let started = now_iso();
    let mut db = st.db();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for pair in inputs {
        let outcome = (|| {
            let (a, b) = (num(&pair.from.id())?, num(&pair.to.id())?);
            let types: Vec<u32> = if default || pair.types.is_empty() {
                vec![default_type(from, to)?]
            } else {
                pair.types.iter().map(|t| t.association_type_id).collect()
            };
            let mut events = Vec::new();
            for t in &types {
                events.extend(db.associate(from, a, to, b, *t)?);
            }
            Ok::<_, ApiError>((a, b, types, events))
        })();
        match outcome {
            Ok((a, b, types, events)) => {
                st.emit(events, Actor::Api);
                results.extend(match default {
                    true => types.iter().map(|t| default_association_result(a, b, *t)).collect::<Vec<_>>(),
                    false => vec![association_result(from, a, to, b, &types)],
                });
            }
            Err(e) => errors.push(e.batch_entry(&[pair.from.id()])),
        }
    }
    if default {
        let (status, body) = batch_body_200(results, errors, &started);
        return Ok((status, Json(body)).into_response());
    }
    let (status, body) = batch_body(results, errors, &started);
    let status = if status == StatusCode::OK { StatusCode::CREATED } else { status };
    Ok((status, Json(body)).into_response())
}

async fn assoc_batch_create(
    State(st): S,
    Path((from, to)): Path<(String, String)>,
    Json(body): Json<AssocBatchCreate>,
) -> ApiResult {
    assoc_batch_write(&st, &from, &to, body.inputs, false).await
}

async fn assoc_batch_default(
    State(st): S,
    Path((from, to)): Path<(String, String)>,
    Json(body): Json<AssocBatchCreate>,
) -> ApiResult {
    assoc_batch_write(&st, &from, &to, body.inputs, true).await
}

async fn assoc_batch_read(
    State(st): S,
    Path((from, to)): Path<(String, String)>,
    Json(body): Json<BatchIds>,
) -> ApiResult {
    let (from, to) = (object(&from)?, object(&to)?);
    check_batch_size(body.inputs.len())?;
    let started = now_iso();
    let db = st.db();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in &body.inputs {
        let id = input.id();
        match id.parse::<u64>().ok().filter(|n| db.get(from, *n).is_some_and(|r| r.is_live())) {
            Some(n) => {
                let items = assoc_items(&db, from, n, to);
                if items.is_empty() {
                    missing.push(id);
                } else {
                    results.push(json!({ "from": { "id": id }, "to": items }));
                }
            }
            None => missing.push(id),
        }
    }
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        vec![
            ApiError::not_found(format!("No {} is associated with {}", to.singular(), from.plural()))
                .batch_entry(&missing),
        ]
    };
    let (status, body) = batch_body(results, errors, &started);
    Ok((status, Json(body)).into_response())
}

#[derive(Deserialize)]
struct AssocArchiveBody {
    inputs: Vec<AssocArchiveInput>,
}

#[derive(Deserialize)]
struct AssocArchiveInput {
    from: IdRef,
    to: Vec<IdRef>,
}

async fn assoc_batch_archive(
    State(st): S,
    Path((from, to)): Path<(String, String)>,
    Json(body): Json<AssocArchiveBody>,
) -> ApiResult {
    let (from, to) = (object(&from)?, object(&to)?);
    check_batch_size(body.inputs.len())?;
    let mut db = st.db();
    for input in &body.inputs {
        let a = num(&input.from.id())?;
        for t in &input.to {
            let events = db.dissociate(from, a, to, num(&t.id())?);
            st.emit(events, Actor::Api);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The one subscription type the fake defines.
const MARKETING_SUBSCRIPTION_ID: &str = "7";

fn opted_out(db: &Db, email: &str) -> Result<bool, ApiError> {
    let id = db.find(ObjectType::Contacts, email, Some("email"), false)?;
    Ok(db.get(ObjectType::Contacts, id).and_then(|r| r.props.get("hs_email_optout")).is_some_and(|v| v == "true"))
}

async fn v3_status(State(st): S, Path(email): Path<String>) -> ApiResult {
    let db = st.db();
    let out = opted_out(&db, &email)?;
    Ok(Json(json!({
        "recipient": email,
        "subscriptionStatuses": [{
            "id": MARKETING_SUBSCRIPTION_ID, "name": "Marketing Information", "description": "Marketing offers and updates.",
            "status": if out { "NOT_SUBSCRIBED" } else { "SUBSCRIBED" },
            "sourceOfStatus": if out { "PORTAL_WIDE_STATUS" } else { "SUBSCRIPTION_STATUS" },
            "legalBasis": Value::Null, "legalBasisExplanation": Value::Null, "preferenceGroupName": Value::Null, "brandId": Value::Null,
        }],
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V3Change {
    email_address: String,
    subscription_id: Value,
    #[serde(default)]
    legal_basis: Option<String>,
    #[serde(default)]
    legal_basis_explanation: Option<String>,
}

async fn v3_change(st: &HubSpotState, body: V3Change, unsubscribe: bool) -> ApiResult {
    let sub = IdRef { id: body.subscription_id.clone() }.id();
    if sub != MARKETING_SUBSCRIPTION_ID {
        return Err(ApiError::validation(format!("Subscription {sub} does not exist")));
    }
    let mut db = st.db();
    let was_out = opted_out(&db, &body.email_address)?;
    if !unsubscribe && was_out {
        return Err(ApiError::validation(format!(
            "{} is already unsubscribed from all email and cannot be resubscribed by an app",
            body.email_address
        )));
    }
    if unsubscribe && was_out {
        return Err(ApiError::validation(format!(
            "{} is already unsubscribed from subscription {sub}",
            body.email_address
        )));
    }
    let (_, events) = db.set_opt_out(&body.email_address, unsubscribe)?;
    st.emit(events, Actor::Api);
    Ok(Json(json!({
        "id": sub, "name": "Marketing Information", "description": "Marketing offers and updates.",
        "status": if unsubscribe { "NOT_SUBSCRIBED" } else { "SUBSCRIBED" }, "sourceOfStatus": "SUBSCRIPTION_STATUS",
        "legalBasis": body.legal_basis, "legalBasisExplanation": body.legal_basis_explanation,
    }))
    .into_response())
}

async fn v3_unsubscribe(State(st): S, Json(body): Json<V3Change>) -> ApiResult {
    v3_change(&st, body, true).await
}

async fn v3_subscribe(State(st): S, Json(body): Json<V3Change>) -> ApiResult {
    v3_change(&st, body, false).await
}

fn require_email_channel(q: &[(String, String)]) -> Result<(), ApiError> {
    match param(q, "channel") {
        Some("EMAIL") => Ok(()),
        Some(other) => Err(ApiError::validation(format!("Unsupported channel {other}"))),
        None => Err(ApiError::validation("The channel query parameter is required (EMAIL)")),
    }
}

fn v4_status(email: &str, out: bool) -> Value {
    json!({
        "subscriberIdString": email, "channel": "EMAIL", "subscriptionId": MARKETING_SUBSCRIPTION_ID.parse::<u64>().unwrap_or(7),
        "subscriptionName": "Marketing Information", "status": if out { "UNSUBSCRIBED" } else { "SUBSCRIBED" },
        "source": "PUBLIC_API", "legalBasis": Value::Null, "legalBasisExplanation": Value::Null,
        "setStatusSuccessReason": if out { Value::from("UNSUBSCRIBE_FROM_ALL_OCCURRED") } else { Value::Null },
        "timestamp": now_iso(), "businessUnitId": 0,
    })
}

async fn v4_read_unsubscribe_all(State(st): S, Path(email): Path<String>, Query(q): Raw) -> ApiResult {
    require_email_channel(&q)?;
    let db = st.db();
    let out = opted_out(&db, &email)?;
    let results = if out {
        vec![
            json!({"subscriberIdString": email, "wideStatusType": "PORTAL_WIDE", "channel": "EMAIL", "status": "UNSUBSCRIBED", "timestamp": now_iso(), "businessUnitId": 0}),
        ]
    } else {
        Vec::new()
    };
    let started = now_iso();
    let (_, body) = batch_body(results, Vec::new(), &started);
    Ok(Json(body).into_response())
}

async fn v4_unsubscribe_all(State(st): S, Path(email): Path<String>, Query(q): Raw) -> ApiResult {
    require_email_channel(&q)?;
    let started = now_iso();
    let mut db = st.db();
    let (_, events) = db.set_opt_out(&email, true)?;
    st.emit(events, Actor::Api);
    let (_, body) = batch_body(vec![v4_status(&email, true)], Vec::new(), &started);
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct EmailInputs {
    inputs: Vec<String>,
}

async fn v4_batch_unsubscribe_all(State(st): S, Query(q): Raw, Json(body): Json<EmailInputs>) -> ApiResult {
    require_email_channel(&q)?;
    check_batch_size(body.inputs.len())?;
    let started = now_iso();
    let mut db = st.db();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for email in &body.inputs {
        match db.set_opt_out(email, true) {
            Ok((_, events)) => {
                st.emit(events, Actor::Api);
                results.push(json!({ "subscriberIdString": email, "statuses": [v4_status(email, true)] }));
            }
            Err(_) => missing.push(email.clone()),
        }
    }
    let errors = if missing.is_empty() {
        Vec::new()
    } else {
        vec![ApiError::not_found("No contact with this email exists").batch_entry(&missing)]
    };
    let (status, body) = batch_body_200(results, errors, &started);
    Ok((status, Json(body)).into_response())
}

/// Owners in id order, `limit` <= 500, paged with `after`.
async fn list_owners(State(st): S, Query(q): Raw) -> ApiResult {
    let limit: usize = param(&q, "limit")
        .map(str::parse)
        .transpose()
        .map_err(|_| ApiError::validation("limit must be a number"))?
        .unwrap_or(100);
    if limit > 500 {
        return Err(ApiError::validation(format!("limit may not exceed 500 (got {limit})")));
    }
    let after: u64 =
        param(&q, "after").map(str::parse).transpose().map_err(|_| ApiError::validation("Invalid after"))?.unwrap_or(0);
    let db = st.db();
    let mut page: Vec<Value> = db
        .owners
        .range(after..)
        .take(limit + 1)
        .map(|(id, o)| {
            json!({
                "id": id.to_string(), "email": o.email, "firstName": o.first_name, "lastName": o.last_name,
                "userId": id + 1_000_000, "userIdIncludingInactive": id + 1_000_000, "archived": false,
                "type": "PERSON", "createdAt": o.created_at, "updatedAt": o.created_at, "teams": [],
            })
        })
        .collect();
    let next = (page.len() > limit).then(|| page.pop()).flatten();
    let mut body = json!({ "results": page });
    if let Some(n) = next.and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned)) {
        body["paging"] = json!({"next": {"after": n, "link": format!("?after={n}")}});
    }
    Ok(Json(body).into_response())
}

/// Members of a contact list in id order, live records only, `limit` <= 250.
async fn list_memberships(State(st): S, Path(list): Path<String>, Query(q): Raw) -> ApiResult {
    let list = num(&list)?;
    let limit: usize = param(&q, "limit")
        .map(str::parse)
        .transpose()
        .map_err(|_| ApiError::validation("limit must be a number"))?
        .unwrap_or(100);
    if limit > 250 {
        return Err(ApiError::validation(format!("limit may not exceed 250 (got {limit})")));
    }
    let after: u64 =
        param(&q, "after").map(str::parse).transpose().map_err(|_| ApiError::validation("Invalid after"))?.unwrap_or(0);
    let db = st.db();
    let (_, members) = db.lists.get(&list).ok_or_else(|| ApiError::not_found(format!("List {list} does not exist")))?;
    let mut page: Vec<(u64, i64)> = members
        .range(after..)
        .filter(|(id, _)| db.get(ObjectType::Contacts, **id).is_some_and(|r| r.is_live()))
        .map(|(id, at)| (*id, *at))
        .take(limit + 1)
        .collect();
    let next = (page.len() > limit).then(|| page.pop().map(|(id, _)| id)).flatten();
    let results: Vec<Value> = page
        .iter()
        .map(|(id, at)| json!({ "recordId": id.to_string(), "membershipTimestamp": super::model::iso(*at) }))
        .collect();
    let mut body = json!({ "results": results });
    if let Some(n) = next {
        body["paging"] = json!({"next": {"after": n.to_string(), "link": format!("?after={n}")}});
    }
    Ok(Json(body).into_response())
}

fn record_ids(ids: &[Value]) -> Result<Vec<u64>, ApiError> {
    ids.iter().map(|v| IdRef { id: v.clone() }.id()).map(|s| num(&s)).collect()
}

async fn list_add(State(st): S, Path(list): Path<String>, Json(ids): Json<Vec<Value>>) -> ApiResult {
    let list = num(&list)?;
    let ids = record_ids(&ids)?;
    let missing = st.db().add_to_list(list, &ids)?;
    let added: Vec<u64> = ids.iter().filter(|i| !missing.contains(i)).copied().collect();
    Ok(Json(membership_update(&added, &[], &missing)).into_response())
}

/// HubSpot's answer to a membership change: every list present, ids as
/// strings, and "added" spelled as HubSpot spells it (`recordsIdsAdded`).
fn membership_update(added: &[u64], removed: &[u64], missing: &[u64]) -> Value {
    let strings = |ids: &[u64]| ids.iter().map(u64::to_string).collect::<Vec<_>>();
    json!({ "recordsIdsAdded": strings(added), "recordIdsRemoved": strings(removed), "recordIdsMissing": strings(missing) })
}

async fn list_remove(State(st): S, Path(list): Path<String>, Json(ids): Json<Vec<Value>>) -> ApiResult {
    let list = num(&list)?;
    let ids = record_ids(&ids)?;
    st.db().remove_from_list(list, &ids)?;
    Ok(Json(membership_update(&[], &ids, &[])).into_response())
}
