//! The Tooling API paths `crm-sync setup` uses, under
//! `/services/data/vNN.0/tooling/`: a query over the org's metadata
//! (`CustomField`, `FieldDefinition`, `EntityDefinition`,
//! `WorkflowOutboundMessage`), reading one `CustomField` or
//! `WorkflowOutboundMessage` by id with its `Metadata`, and creating a custom
//! text field (`POST tooling/sobjects/CustomField`), which then shows in
//! describe and takes values like any field.
//!
//! Answers have Salesforce's shapes: a query page (`size`, `totalSize`,
//! `done`, `entityTypeName`, `records` with `attributes`), a create result
//! (`id`, `success`, `errors`, `warnings`, `infos`) and the REST error list.
//! The query language is the small part of SOQL these objects are asked
//! with: a field list, `WHERE` with `=` and `IN` joined by `AND`, `LIMIT`.

use super::SalesforceState;
use super::data::{Org, SfError};
use super::ids::SfId;
use super::rest::{check_version, error_response};
use super::schema::{Field, Kind, Ty};
use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Map, Value as JsonValue, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

type St = State<Arc<SalesforceState>>;

/// Longest text field the Tooling API creates.
pub const MAX_TEXT_LENGTH: usize = 255;

pub fn routes() -> Router<Arc<SalesforceState>> {
    let v = "/services/data/{version}/tooling";
    Router::new()
        .route(&format!("{v}/query"), get(query))
        .route(&format!("{v}/sobjects/CustomField"), post(create_custom_field))
        .route(&format!("{v}/sobjects/{{object}}/{{id}}"), get(read))
}

fn respond(result: Result<Response, SfError>) -> Response {
    result.unwrap_or_else(|e| error_response(&e))
}

/// Field names live as long as the process (the schema holds `&'static
/// str`); each distinct name is kept once, however many orgs create it.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

// ---- the metadata rows ----

/// One row of a Tooling object: flat keys (`EntityDefinition.QualifiedApiName`
/// for a parent's field), and the `Metadata` value kept apart because it may
/// only be read one row at a time.
struct Row {
    id: Option<String>,
    fields: Map<String, JsonValue>,
    metadata: Option<JsonValue>,
}

fn text_type(field: &Field) -> String {
    match field.ty {
        Ty::String => format!("Text({})", field.max_length()),
        Ty::Textarea => format!("Long Text Area({})", field.max_length()),
        Ty::Email => "Email".into(),
        Ty::Phone => "Phone".into(),
        Ty::Url => "URL(255)".into(),
        Ty::Boolean => "Checkbox".into(),
        Ty::Int | Ty::Double => "Number(18, 0)".into(),
        Ty::Currency => "Currency(16, 2)".into(),
        Ty::Percent => "Percent(3, 0)".into(),
        Ty::Date => "Date".into(),
        Ty::DateTime => "Date/Time".into(),
        Ty::Picklist => "Picklist".into(),
        Ty::Reference => format!("Lookup({})", field.reference_to.unwrap_or("")),
        Ty::Id => "Lookup()".into(),
    }
}

fn custom_field_metadata(field: &Field) -> JsonValue {
    json!({
        "type": "Text",
        "label": field.label(),
        "length": field.max_length(),
        "externalId": field.external_id,
        "unique": field.unique,
        "caseSensitive": false,
        "required": false,
        "description": null,
        "inlineHelpText": null,
        "defaultValue": null,
        "fieldManageability": null,
    })
}

fn custom_field_rows(org: &Org) -> Vec<Row> {
    let mut rows = Vec::new();
    for object in &org.objects {
        for field in &object.fields {
            let Some(id) = &field.tooling_id else { continue };
            let mut m = Map::new();
            m.insert("Id".into(), json!(id));
            m.insert("DeveloperName".into(), json!(field.name.trim_end_matches("__c")));
            m.insert("TableEnumOrId".into(), json!(object.name));
            m.insert("EntityDefinitionId".into(), json!(object.name));
            m.insert("NamespacePrefix".into(), JsonValue::Null);
            m.insert("FullName".into(), json!(format!("{}.{}", object.name, field.name)));
            rows.push(Row { id: Some(id.clone()), fields: m, metadata: Some(custom_field_metadata(field)) });
        }
    }
    rows
}

fn field_definition_rows(org: &Org) -> Vec<Row> {
    let mut rows = Vec::new();
    for object in &org.objects {
        for field in &object.fields {
            let durable = match &field.tooling_id {
                Some(id) => format!("{}.{}", object.name, &id[..15]),
                None => format!("{}.{}", object.name, field.name),
            };
            let mut m = Map::new();
            m.insert("Id".into(), json!("000000000000000AAA"));
            m.insert("DurableId".into(), json!(durable));
            m.insert("QualifiedApiName".into(), json!(field.name));
            m.insert("DeveloperName".into(), json!(field.name.trim_end_matches("__c")));
            m.insert("Label".into(), json!(field.label()));
            m.insert("DataType".into(), json!(text_type(field)));
            m.insert("EntityDefinitionId".into(), json!(object.name));
            m.insert("EntityDefinition.QualifiedApiName".into(), json!(object.name));
            m.insert("NamespacePrefix".into(), JsonValue::Null);
            m.insert("IsIndexed".into(), json!(field.external_id || field.unique || field.kind == Kind::Id));
            m.insert("IsCalculated".into(), json!(matches!(field.kind, Kind::Formula(_))));
            rows.push(Row { id: None, fields: m, metadata: None });
        }
    }
    rows
}

fn entity_definition_rows(org: &Org) -> Vec<Row> {
    org.objects
        .iter()
        .map(|object| {
            let mut m = Map::new();
            m.insert("Id".into(), json!("000000000000000AAA"));
            m.insert("DurableId".into(), json!(object.name));
            m.insert("QualifiedApiName".into(), json!(object.name));
            m.insert("DeveloperName".into(), json!(object.name));
            m.insert("Label".into(), json!(object.name));
            m.insert("KeyPrefix".into(), json!(object.prefix));
            m.insert("NamespacePrefix".into(), JsonValue::Null);
            m.insert("IsCustomizable".into(), json!(object.createable));
            Row { id: None, fields: m, metadata: None }
        })
        .collect()
}

/// The org's outbound messages: one per object that sends them, to the
/// sandbox's outbound URL, when it has one (the messages the sandbox sends
/// are exactly these).
fn outbound_message_rows(s: &SalesforceState, org: &Org) -> Vec<Row> {
    let Some(url) = &s.options.outbound_url else { return Vec::new() };
    org.objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.outbound)
        .map(|(ix, object)| {
            let id = SfId::generate("04k", ix as u64).to_string();
            let name = format!("crm_sync_{}", object.name);
            let mut m = Map::new();
            m.insert("Id".into(), json!(id));
            m.insert("Name".into(), json!(name));
            m.insert("EntityDefinitionId".into(), json!(object.name));
            m.insert("ApiVersion".into(), json!(66.0));
            m.insert("IntegrationUserId".into(), json!(org.integration_user.to_string()));
            m.insert("NamespacePrefix".into(), JsonValue::Null);
            m.insert("FullName".into(), json!(format!("{}.{name}", object.name)));
            let metadata = json!({
                "apiVersion": 66.0,
                "description": null,
                "endpointUrl": url,
                "fields": object.fields.iter().map(|f| f.name).collect::<Vec<_>>(),
                "includeSessionId": false,
                "integrationUser": s.options.username,
                "name": format!("crm-sync {}", object.name),
                "protected": false,
                "useDeadLetterQueue": false,
            });
            Row { id: Some(id), fields: m, metadata: Some(metadata) }
        })
        .collect()
}

/// The columns a Tooling object can be queried for.
fn columns(object: &str) -> &'static [&'static str] {
    match object {
        "CustomField" => {
            &["Id", "DeveloperName", "TableEnumOrId", "EntityDefinitionId", "NamespacePrefix", "FullName", "Metadata"]
        }
        "FieldDefinition" => &[
            "Id",
            "DurableId",
            "QualifiedApiName",
            "DeveloperName",
            "Label",
            "DataType",
            "EntityDefinitionId",
            "EntityDefinition.QualifiedApiName",
            "NamespacePrefix",
            "IsIndexed",
            "IsCalculated",
        ],
        "EntityDefinition" => &[
            "Id",
            "DurableId",
            "QualifiedApiName",
            "DeveloperName",
            "Label",
            "KeyPrefix",
            "NamespacePrefix",
            "IsCustomizable",
        ],
        _ => &[
            "Id",
            "Name",
            "EntityDefinitionId",
            "ApiVersion",
            "IntegrationUserId",
            "NamespacePrefix",
            "FullName",
            "Metadata",
        ],
    }
}

/// The rows of a Tooling object by its API name (any case), with its name
/// as Salesforce spells it.
fn rows_of(s: &SalesforceState, org: &Org, object: &str) -> Result<(&'static str, Vec<Row>), SfError> {
    let known = ["CustomField", "FieldDefinition", "EntityDefinition", "WorkflowOutboundMessage"];
    let name = known.iter().find(|k| k.eq_ignore_ascii_case(object)).copied().ok_or_else(|| {
        SfError::new(
            400,
            "INVALID_TYPE",
            format!("sObject type '{object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name."),
        )
    })?;
    let rows = match name {
        "CustomField" => custom_field_rows(org),
        "FieldDefinition" => field_definition_rows(org),
        "EntityDefinition" => entity_definition_rows(org),
        _ => outbound_message_rows(s, org),
    };
    Ok((name, rows))
}

// ---- the query ----

#[derive(Debug)]
struct ToolingQuery {
    fields: Vec<String>,
    object: String,
    /// (field, accepted values): `=` has one, `IN` several.
    conditions: Vec<(String, Vec<String>)>,
    limit: Option<usize>,
}

fn malformed(message: impl Into<String>) -> SfError {
    SfError::new(400, "MALFORMED_QUERY", message)
}

/// Splits a query into words, quoted strings (unescaped, marked by a
/// leading `'`), and the punctuation `,` `(` `)` `=`.
fn tokens(soql: &str) -> Result<Vec<String>, SfError> {
    let mut out = Vec::new();
    let mut chars = soql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if matches!(c, ',' | '(' | ')' | '=') {
            out.push(c.to_string());
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut text = String::from("'");
            loop {
                match chars.next() {
                    Some('\\') => text.extend(chars.next()),
                    Some('\'') => break,
                    Some(other) => text.push(other),
                    None => return Err(malformed("unterminated string literal")),
                }
            }
            out.push(text);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '=' | '\'') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

fn parse(soql: &str) -> Result<ToolingQuery, SfError> {
    let tokens = tokens(soql)?;
    let mut it = tokens.into_iter().peekable();
    let keyword = |t: Option<String>, k: &str| -> Result<(), SfError> {
        match t {
            Some(t) if t.eq_ignore_ascii_case(k) => Ok(()),
            other => Err(malformed(format!("expected {k}, found {}", other.unwrap_or_else(|| "the end".into())))),
        }
    };
    keyword(it.next(), "SELECT")?;
    let mut fields = Vec::new();
    loop {
        match it.next() {
            Some(f) if !f.starts_with('\'') && f != "," && !f.eq_ignore_ascii_case("FROM") => fields.push(f),
            other => return Err(malformed(format!("unexpected token: {}", other.unwrap_or_else(|| "the end".into())))),
        }
        match it.next() {
            Some(t) if t == "," => continue,
            Some(t) if t.eq_ignore_ascii_case("FROM") => break,
            other => return Err(malformed(format!("unexpected token: {}", other.unwrap_or_else(|| "the end".into())))),
        }
    }
    let object = it.next().ok_or_else(|| malformed("expected an object after FROM"))?;
    let mut conditions = Vec::new();
    let mut limit = None;
    while let Some(t) = it.next() {
        if t.eq_ignore_ascii_case("WHERE") || t.eq_ignore_ascii_case("AND") {
            let field = it.next().ok_or_else(|| malformed("expected a field in WHERE"))?;
            let op = it.next().ok_or_else(|| malformed("expected an operator in WHERE"))?;
            let value = |t: Option<String>| -> Result<String, SfError> {
                match t {
                    Some(v) if v.starts_with('\'') => Ok(v[1..].to_owned()),
                    Some(v) if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => {
                        Ok(v.to_lowercase())
                    }
                    other => Err(malformed(format!("expected a quoted value, found {}", other.unwrap_or_default()))),
                }
            };
            if op == "=" {
                conditions.push((field, vec![value(it.next())?]));
            } else if op.eq_ignore_ascii_case("IN") {
                if it.next().as_deref() != Some("(") {
                    return Err(malformed("expected ( after IN"));
                }
                let mut values = Vec::new();
                loop {
                    values.push(value(it.next())?);
                    match it.next().as_deref() {
                        Some(",") => continue,
                        Some(")") => break,
                        _ => return Err(malformed("expected , or ) in IN")),
                    }
                }
                conditions.push((field, values));
            } else {
                return Err(malformed(format!("unsupported operator {op}")));
            }
        } else if t.eq_ignore_ascii_case("LIMIT") {
            let n = it.next().and_then(|n| n.parse().ok()).ok_or_else(|| malformed("expected a number after LIMIT"))?;
            limit = Some(n);
        } else {
            return Err(malformed(format!("unexpected token: {t}")));
        }
    }
    Ok(ToolingQuery { fields, object, conditions, limit })
}

fn cell<'a>(row: &'a Row, name: &str) -> Option<&'a JsonValue> {
    row.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn as_text(v: &JsonValue) -> String {
    match v {
        JsonValue::String(s) => s.clone(),
        JsonValue::Null => String::new(),
        other => other.to_string(),
    }
}

fn attributes(version: &str, object: &str, id: Option<&str>) -> JsonValue {
    match id {
        Some(id) => json!({"type": object, "url": format!("/services/data/{version}/tooling/sobjects/{object}/{id}")}),
        None => json!({"type": object}),
    }
}

/// `GET tooling/query?q=`: the whole answer in one page.
async fn query(State(s): St, Path(version): Path<String>, Query(params): Query<HashMap<String, String>>) -> Response {
    respond((|| {
        check_version(&version)?;
        let soql = params.get("q").ok_or_else(|| malformed("a query is required (q=)"))?;
        let q = parse(soql)?;
        let org = s.org_read();
        let (object, rows) = rows_of(&s, &org, &q.object)?;
        for name in q.fields.iter().chain(q.conditions.iter().map(|(f, _)| f)) {
            if !columns(object).iter().any(|c| c.eq_ignore_ascii_case(name)) {
                return Err(SfError::new(
                    400,
                    "INVALID_FIELD",
                    format!("No such column '{name}' on entity '{object}'."),
                ));
            }
        }
        if object == "FieldDefinition"
            && !q.conditions.iter().any(|(f, _)| {
                f.eq_ignore_ascii_case("EntityDefinitionId")
                    || f.eq_ignore_ascii_case("EntityDefinition.QualifiedApiName")
            })
        {
            return Err(malformed(
                "Entity 'FieldDefinition' is not supported for query without a filter on EntityDefinitionId or EntityDefinition.QualifiedApiName",
            ));
        }
        let mut matching: Vec<&Row> = rows
            .iter()
            .filter(|row| {
                q.conditions.iter().all(|(field, values)| {
                    let actual = cell(row, field).map(as_text).unwrap_or_default();
                    values.iter().any(|v| v.eq_ignore_ascii_case(&actual))
                })
            })
            .collect();
        if let Some(limit) = q.limit {
            matching.truncate(limit);
        }
        let wants_metadata =
            q.fields.iter().any(|f| f.eq_ignore_ascii_case("Metadata") || f.eq_ignore_ascii_case("FullName"));
        if wants_metadata && matching.len() > 1 {
            return Err(malformed(
                "When retrieving results with Metadata or FullName fields, the query qualificiations must specify no more than one row for retrieval. Result size: ".to_owned()
                    + &matching.len().to_string(),
            ));
        }
        let records: Vec<JsonValue> = matching
            .iter()
            .map(|row| {
                let mut out = Map::new();
                out.insert("attributes".into(), attributes(&version, object, row.id.as_deref()));
                for name in &q.fields {
                    if name.eq_ignore_ascii_case("Metadata") {
                        out.insert("Metadata".into(), row.metadata.clone().unwrap_or(JsonValue::Null));
                    } else if let Some((parent, child)) = name.split_once('.') {
                        let value = cell(row, name).cloned().unwrap_or(JsonValue::Null);
                        let entry =
                            out.entry(parent.to_owned()).or_insert_with(|| json!({"attributes": {"type": parent}}));
                        if let JsonValue::Object(m) = entry {
                            m.insert(child.to_owned(), value);
                        }
                    } else {
                        let (key, value) = row
                            .fields
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .unwrap_or_else(|| (name.clone(), JsonValue::Null));
                        out.insert(key, value);
                    }
                }
                JsonValue::Object(out)
            })
            .collect();
        Ok(Json(json!({
            "size": records.len(),
            "totalSize": records.len(),
            "done": true,
            "queryLocator": null,
            "entityTypeName": object,
            "records": records,
        }))
        .into_response())
    })())
}

/// `GET tooling/sobjects/{object}/{id}`: one record, `Metadata` included.
async fn read(State(s): St, Path((version, object, id)): Path<(String, String, String)>) -> Response {
    respond((|| {
        check_version(&version)?;
        let org = s.org_read();
        let (name, rows) = rows_of(&s, &org, &object)?;
        let wanted = SfId::parse(&id).ok_or_else(SfError::not_found)?;
        let row = rows
            .into_iter()
            .find(|r| r.id.as_deref().and_then(SfId::parse) == Some(wanted))
            .ok_or_else(SfError::not_found)?;
        let mut out = Map::new();
        out.insert("attributes".into(), attributes(&version, name, row.id.as_deref()));
        for (k, v) in row.fields {
            if !k.contains('.') {
                out.insert(k, v);
            }
        }
        out.insert("Metadata".into(), row.metadata.unwrap_or(JsonValue::Null));
        Ok(Json(JsonValue::Object(out)).into_response())
    })())
}

/// `POST tooling/sobjects/CustomField` with `FullName` (`Object.Name__c`)
/// and `Metadata` (`type` Text, `label`, `length`, `externalId`, `unique`).
async fn create_custom_field(State(s): St, Path(version): Path<String>, body: Bytes) -> Response {
    respond((|| {
        check_version(&version)?;
        let body: JsonValue = serde_json::from_slice(&body)
            .map_err(|e| SfError::new(400, "JSON_PARSER_ERROR", format!("Unexpected JSON: {e}")))?;
        let full_name = body
            .get("FullName")
            .and_then(JsonValue::as_str)
            .ok_or_else(|| SfError::new(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName]"))?;
        let metadata = body
            .get("Metadata")
            .and_then(JsonValue::as_object)
            .ok_or_else(|| SfError::new(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Metadata]"))?;
        let integrity = |m: String| SfError::new(400, "FIELD_INTEGRITY_EXCEPTION", m);
        let (object, field) =
            full_name.split_once('.').ok_or_else(|| integrity(format!("Invalid FullName: {full_name}")))?;
        let developer = field.strip_suffix("__c").filter(|d| {
            d.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !d.contains("__")
                && !d.ends_with('_')
        });
        if developer.is_none() {
            return Err(integrity(format!(
                "The API name {field} is not valid: it must end in __c, begin with a letter, and use only letters, digits and single underscores"
            )));
        }
        match metadata.get("type").and_then(JsonValue::as_str) {
            Some("Text") => {}
            Some(other) => {
                return Err(integrity(format!("Field type {other} is not supported by this org's sandbox; use Text")));
            }
            None => return Err(integrity("Metadata.type: Required field is missing".into())),
        }
        let label = metadata
            .get("label")
            .and_then(JsonValue::as_str)
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| integrity("Metadata.label: Required field is missing".into()))?;
        let length = metadata
            .get("length")
            .and_then(JsonValue::as_u64)
            .ok_or_else(|| integrity("Metadata.length: Required field is missing".into()))?;
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if !(1..=MAX_TEXT_LENGTH).contains(&length) {
            return Err(integrity(format!("Length must be between 1 and {MAX_TEXT_LENGTH}")));
        }
        let flag = |name: &str| metadata.get(name).and_then(JsonValue::as_bool).unwrap_or(false);
        let mut org = s.org_write();
        let ix = org.find_object(object).map_err(|_| integrity(format!("Invalid object {object} in FullName")))?;
        if !org.objects[ix].createable {
            return Err(SfError::new(
                400,
                "INVALID_OPERATION",
                format!("{} does not take custom fields in this sandbox", org.objects[ix].name),
            ));
        }
        let number = s.next_number();
        let id = SfId::generate("00N", 10_000 + number).to_string();
        let mut new = Field::custom_text(intern(field), intern(label), length);
        new.external_id = flag("externalId");
        new.unique = flag("unique");
        new.tooling_id = Some(id.clone());
        org.add_field(ix, new)?;
        tracing::info!(object = org.objects[ix].name, field, "custom field created");
        Ok((StatusCode::CREATED, Json(json!({"id": id, "success": true, "errors": [], "warnings": [], "infos": []})))
            .into_response())
    })())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_query_with_in_and_equals_parses() {
        let q = parse("SELECT Id, DeveloperName FROM CustomField WHERE DeveloperName = 'HubSpot_Id' AND TableEnumOrId IN ('Lead', 'Contact') LIMIT 5").unwrap();
        assert_eq!(q.fields, ["Id", "DeveloperName"]);
        assert_eq!(q.object, "CustomField");
        assert_eq!(q.conditions[0], ("DeveloperName".to_owned(), vec!["HubSpot_Id".to_owned()]));
        assert_eq!(q.conditions[1].1, ["Lead", "Contact"]);
        assert_eq!(q.limit, Some(5));
    }

    #[test]
    fn a_query_without_from_is_malformed() {
        assert_eq!(parse("SELECT Id").unwrap_err().code, "MALFORMED_QUERY");
        assert_eq!(parse("SELECT Id FROM X WHERE A LIKE 'b'").unwrap_err().code, "MALFORMED_QUERY");
    }

    #[test]
    fn interned_names_are_kept_once() {
        assert!(std::ptr::eq(intern("Same__c"), intern("Same__c")));
    }
}
