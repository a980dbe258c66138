//! The fake HubSpot's in-memory CRM: records, property definitions, unique
//! values, associations, and the write rules (read-only properties, unique
//! email, unknown properties) with HubSpot's error bodies.
//!
//! Owns data and rules only; HTTP shapes live in `api`, deliveries in
//! `webhooks`. Every write returns the webhook events it caused, without the
//! delivery fields (ids, source, attempt), which the caller adds.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The CRM object types the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    Contacts,
    Companies,
    Deals,
}

impl ObjectType {
    pub const ALL: [ObjectType; 3] = [ObjectType::Contacts, ObjectType::Companies, ObjectType::Deals];

    /// Accepts the plural name, the singular name, or the object type id.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "contacts" | "contact" | "0-1" => Some(Self::Contacts),
            "companies" | "company" | "0-2" => Some(Self::Companies),
            "deals" | "deal" | "0-3" => Some(Self::Deals),
            _ => None,
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Companies => "companies",
            Self::Deals => "deals",
        }
    }

    /// The prefix of webhook subscription types (`contact.creation`).
    pub fn singular(self) -> &'static str {
        match self {
            Self::Contacts => "contact",
            Self::Companies => "company",
            Self::Deals => "deal",
        }
    }

    pub fn type_id(self) -> &'static str {
        match self {
            Self::Contacts => "0-1",
            Self::Companies => "0-2",
            Self::Deals => "0-3",
        }
    }

    /// The last-modified property: contacts differ from the other objects.
    pub fn modified_property(self) -> &'static str {
        match self {
            Self::Contacts => "lastmodifieddate",
            Self::Companies | Self::Deals => "hs_lastmodifieddate",
        }
    }

    /// Properties returned when a read names none.
    pub fn default_properties(self) -> &'static [&'static str] {
        match self {
            Self::Contacts => &["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
            Self::Companies => &["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
            Self::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
        }
    }
}

/// The HubSpot-defined association type ids between two object types
/// (unlabeled first, primary second where one exists).
pub fn default_association_type(from: ObjectType, to: ObjectType) -> Option<u32> {
    use ObjectType::*;
    match (from, to) {
        (Contacts, Companies) => Some(279),
        (Companies, Contacts) => Some(280),
        (Deals, Contacts) => Some(3),
        (Contacts, Deals) => Some(4),
        (Deals, Companies) => Some(341),
        (Companies, Deals) => Some(342),
        _ => None,
    }
}

/// The type id seen from the other end of an association.
pub fn inverse_association_type(type_id: u32) -> u32 {
    match type_id {
        279 => 280,
        280 => 279,
        1 => 2,
        2 => 1,
        3 => 4,
        4 => 3,
        341 => 342,
        342 => 341,
        5 => 6,
        6 => 5,
        other => other,
    }
}

/// The webhook `associationType` name for a pair.
fn association_name(from: ObjectType, to: ObjectType) -> String {
    format!("{}_TO_{}", from.singular().to_ascii_uppercase(), to.singular().to_ascii_uppercase())
}

/// An error answered in HubSpot's standard error shape.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub category: &'static str,
    pub message: String,
    /// Extra top-level fields (`context`, `errors`, `policyName`, ...).
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, category: &'static str, message: impl Into<String>) -> Self {
        Self { status, category, message: message.into(), extra: Map::new() }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// The JSON body, as HubSpot sends it.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("status".into(), json!("error"));
        body.insert("message".into(), json!(self.message));
        body.insert("correlationId".into(), json!(uuid::Uuid::new_v4().to_string()));
        body.insert("category".into(), json!(self.category));
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }

    /// The entry of a batch `errors` array for the given input ids.
    pub fn batch_entry(&self, ids: &[String]) -> Value {
        let mut entry = Map::new();
        entry.insert("status".into(), json!("error"));
        entry.insert("category".into(), json!(self.category));
        entry.insert("message".into(), json!(self.message));
        entry.insert("context".into(), json!({ "ids": ids }));
        // `errors` is required in HubSpot's StandardError: the per-property
        // details when the failure has them, else empty.
        entry.insert("errors".into(), self.extra.get("errors").cloned().unwrap_or_else(|| json!([])));
        entry.insert("links".into(), json!({}));
        Value::Object(entry)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// A property definition, as the properties API reads and writes it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDef {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(rename = "type", default = "string_type")]
    pub kind: String,
    #[serde(default = "text_field")]
    pub field_type: String,
    #[serde(default = "default_group")]
    pub group_name: String,
    #[serde(default)]
    pub has_unique_value: bool,
    #[serde(default)]
    pub description: String,
    /// Set by HubSpot, never by a client: `modificationMetadata.readOnlyValue`.
    #[serde(skip_deserializing, default)]
    pub read_only: bool,
}

fn string_type() -> String {
    "string".into()
}
fn text_field() -> String {
    "text".into()
}
fn default_group() -> String {
    "contactinformation".into()
}

impl PropertyDef {
    fn new(name: &str, kind: &str, read_only: bool, unique: bool) -> Self {
        Self {
            name: name.to_owned(),
            label: name.to_owned(),
            kind: kind.to_owned(),
            field_type: if kind == "datetime" { "date".into() } else { "text".into() },
            group_name: default_group(),
            has_unique_value: unique,
            description: String::new(),
            read_only,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name, "label": self.label, "type": self.kind, "fieldType": self.field_type,
            "groupName": self.group_name, "hasUniqueValue": self.has_unique_value, "description": self.description,
            "modificationMetadata": { "archivable": !self.read_only, "readOnlyDefinition": self.read_only,
                                      "readOnlyValue": self.read_only },
            "calculated": false, "externalOptions": false, "hidden": false, "formField": !self.read_only,
            "options": [],
        })
    }
}

fn default_property_defs(ty: ObjectType) -> BTreeMap<String, PropertyDef> {
    let mut defs = Vec::new();
    for ro in ["hs_object_id", "createdate", ty.modified_property()] {
        defs.push(PropertyDef::new(ro, if ro == "hs_object_id" { "number" } else { "datetime" }, true, false));
    }
    defs.push(PropertyDef::new(RECORD_SOURCE, "enumeration", true, false));
    let writable: &[&str] = match ty {
        ObjectType::Contacts => &[
            "firstname",
            "lastname",
            "phone",
            "mobilephone",
            "company",
            "jobtitle",
            "website",
            "address",
            "city",
            "state",
            "zip",
            "country",
            "lifecyclestage",
            "hs_lead_status",
            "hubspot_owner_id",
            "salesforceleadid",
            "salesforcecontactid",
            // Properties behind the default contact mappings (SPEC 2).
            "salesforceaccountid",
            "annualrevenue",
            "fax",
            "description",
            "numemployees",
            "industry",
            "leadsource",
            "rating",
            "salutation",
        ],
        ObjectType::Companies => &[
            "name",
            "domain",
            "hs_additional_domains",
            "phone",
            "website",
            "industry",
            "city",
            "state",
            "zip",
            "country",
            "numberofemployees",
            "annualrevenue",
            "description",
            "hubspot_owner_id",
            "lifecyclestage",
        ],
        ObjectType::Deals => {
            &["dealname", "amount", "closedate", "dealstage", "pipeline", "dealtype", "description", "hubspot_owner_id"]
        }
    };
    for name in writable {
        defs.push(PropertyDef::new(name, "string", false, false));
    }
    if ty == ObjectType::Contacts {
        defs.push(PropertyDef::new("email", "string", false, true));
        defs.push(PropertyDef::new("hs_email_optout", "bool", true, false));
    }
    defs.into_iter().map(|d| (d.name.clone(), d)).collect()
}

/// One CRM record. Property values are strings, as in the API.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub props: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub archived_ms: Option<i64>,
    /// The record this one was merged into: gone from reads, and not in the
    /// recycle bin either (a merge cannot be restored).
    pub merged_into: Option<u64>,
}

/// ISO-8601 with milliseconds and `Z`, as HubSpot writes datetimes.
pub fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Record {
    /// The API shape, with the requested properties (or the defaults) plus
    /// the ones HubSpot always returns.
    pub fn to_json(&self, ty: ObjectType, properties: Option<&[String]>) -> Value {
        let mut props = Map::new();
        let mut put = |name: &str| {
            props.insert(name.to_owned(), self.props.get(name).map_or(Value::Null, |v| json!(v)));
        };
        match properties {
            Some(names) if !names.is_empty() => {
                for name in names {
                    put(name);
                }
                for always in ["hs_object_id", "createdate", ty.modified_property()] {
                    put(always);
                }
            }
            _ => ty.default_properties().iter().for_each(|n| put(n)),
        }
        let mut out = json!({
            "id": self.id.to_string(),
            "properties": props,
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms),
            "archived": self.archived_ms.is_some(),
        });
        if let (Some(ms), Some(obj)) = (self.archived_ms, out.as_object_mut()) {
            obj.insert("archivedAt".into(), json!(iso(ms)));
        }
        out
    }

    pub fn is_live(&self) -> bool {
        self.archived_ms.is_none()
    }

    /// Whether a read with `archived` (`true`: the recycle bin) serves it.
    pub fn served(&self, archived: bool) -> bool {
        if archived { !self.is_live() && self.merged_into.is_none() } else { self.is_live() }
    }
}

/// A webhook event before delivery fields are added.
pub type EventDraft = Map<String, Value>;

fn event(ty: ObjectType, kind: &str, object_id: u64, at_ms: i64) -> EventDraft {
    let mut e = Map::new();
    e.insert("subscriptionType".into(), json!(format!("{}.{kind}", ty.singular())));
    e.insert("objectId".into(), json!(object_id));
    e.insert("occurredAt".into(), json!(at_ms));
    e
}

/// Records of one object type with their indexes (live records only): the
/// unique values, and the modification times, which every sweep's search
/// filters and sorts by.
#[derive(Debug, Default)]
pub struct Table {
    pub records: BTreeMap<u64, Record>,
    /// property -> normalised value -> id
    unique: HashMap<String, HashMap<String, u64>>,
    /// (modified ms, id) of every live record.
    by_modified: BTreeSet<(i64, u64)>,
}

impl Table {
    /// The ids of live records modified within `from..=to` (ms).
    pub fn modified_within(&self, from: i64, to: i64) -> impl Iterator<Item = u64> + '_ {
        self.by_modified.range((from, 0)..=(to, u64::MAX)).map(|&(_, id)| id)
    }

    /// The id of the live record holding `value` (normalised as unique
    /// values are) in the unique property `prop`.
    pub fn unique_holder(&self, prop: &str, value: &str) -> Option<u64> {
        self.unique.get(prop).and_then(|m| m.get(&norm(value))).copied()
    }
}

/// Unique values compare case-insensitively (emails).
fn norm(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Associations of one record: (to type, to id) -> type ids.
pub type Links = BTreeMap<(ObjectType, u64), BTreeSet<u32>>;

/// The whole fake CRM.
#[derive(Debug)]
pub struct Db {
    next_id: u64,
    last_ms: i64,
    pub tables: HashMap<ObjectType, Table>,
    pub defs: HashMap<ObjectType, BTreeMap<String, PropertyDef>>,
    /// (from type, from id) -> (to type, to id) -> type ids
    pub assoc: HashMap<(ObjectType, u64), Links>,
    /// Contact lists: list id -> (name, member id -> time added in ms).
    pub lists: BTreeMap<u64, (String, BTreeMap<u64, i64>)>,
    /// Users who may own records (`/crm/v3/owners`), by owner id.
    pub owners: BTreeMap<u64, Owner>,
    /// HubSpot's "automatically create and associate companies with
    /// contacts" setting: a new contact's email domain finds or makes its
    /// company (see [`Db::create`]).
    pub auto_create_companies: bool,
}

/// A HubSpot user who may own records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// When the user was added (ISO 8601, as the owners API answers).
    pub created_at: String,
}

impl Default for Db {
    fn default() -> Self {
        Self::new()
    }
}

/// Who made a write: decides which rules apply and the webhook source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The integration's private-app token.
    Api,
    /// A person in the HubSpot UI (sandbox control API).
    User,
    /// HubSpot itself (seeding, communication preferences).
    System,
}

/// HubSpot's read-only "Record source" property: which tool or process
/// created a record.
pub const RECORD_SOURCE: &str = "hs_object_source";
/// The record source of what a HubSpot setting made, such as a company
/// created automatically from a contact's email domain.
pub const CREATED_BY_CRM_SETTING: &str = "CRM_SETTING";

impl Actor {
    /// The record source of a record this actor creates.
    pub fn record_source(self) -> &'static str {
        match self {
            Actor::Api => "INTEGRATION",
            Actor::User => "CRM_UI",
            Actor::System => "INTERNAL_PROCESSING",
        }
    }
}

impl Db {
    pub fn new() -> Self {
        let mut tables = HashMap::new();
        let mut defs = HashMap::new();
        for ty in ObjectType::ALL {
            tables.insert(ty, Table::default());
            defs.insert(ty, default_property_defs(ty));
        }
        // Ids look like HubSpot's: large numbers, not starting at 1.
        Self {
            next_id: 10_001,
            last_ms: 0,
            tables,
            defs,
            assoc: HashMap::new(),
            lists: BTreeMap::new(),
            owners: BTreeMap::new(),
            auto_create_companies: false,
        }
    }

    /// Now in epoch ms, strictly increasing so that every write has its own
    /// modification time (the window split of a search relies on order).
    pub fn tick(&mut self) -> i64 {
        let now = Utc::now().timestamp_millis();
        self.last_ms = now.max(self.last_ms + 1);
        self.last_ms
    }

    fn table(&self, ty: ObjectType) -> &Table {
        // Every object type has a table from `new`.
        &self.tables[&ty]
    }

    fn table_mut(&mut self, ty: ObjectType) -> &mut Table {
        self.tables.entry(ty).or_default()
    }

    pub fn count(&self, ty: ObjectType) -> usize {
        self.table(ty).records.len()
    }

    pub fn get(&self, ty: ObjectType, id: u64) -> Option<&Record> {
        self.table(ty).records.get(&id)
    }

    /// Finds a record by id or by a unique property (`idProperty`).
    pub fn find(&self, ty: ObjectType, id: &str, id_property: Option<&str>, archived: bool) -> Result<u64, ApiError> {
        match id_property {
            None | Some("hs_object_id") => {
                let n: u64 =
                    id.parse().map_err(|_| ApiError::not_found("Object not found.  objectId are usually numeric."))?;
                match self.get(ty, n) {
                    Some(r) if r.served(archived) => Ok(n),
                    _ => Err(ApiError::not_found("Object not found.  objectId are usually numeric.")),
                }
            }
            Some(prop) => {
                self.unique_def(ty, prop)?;
                if archived {
                    return self
                        .table(ty)
                        .records
                        .values()
                        .find(|r| r.served(true) && r.props.get(prop).is_some_and(|v| norm(v) == norm(id)))
                        .map(|r| r.id)
                        .ok_or_else(|| ApiError::not_found("Object not found."));
                }
                self.table(ty)
                    .unique
                    .get(prop)
                    .and_then(|m| m.get(&norm(id)).copied())
                    .ok_or_else(|| ApiError::not_found(format!("Object not found.  {prop}={id}")))
            }
        }
    }

    /// Checks that `prop` exists and holds unique values (usable as `idProperty`).
    pub fn unique_def(&self, ty: ObjectType, prop: &str) -> Result<(), ApiError> {
        match self.defs[&ty].get(prop) {
            Some(d) if d.has_unique_value => Ok(()),
            Some(_) => Err(ApiError::validation(format!(
                "Property {prop} is not a unique property and cannot be used as idProperty"
            ))),
            None => Err(ApiError::validation(format!("Property {prop} does not exist"))),
        }
    }

    /// Checks property names and values of a write; returns the cleaned map.
    fn validate(
        &self,
        ty: ObjectType,
        props: &Map<String, Value>,
        actor: Actor,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let defs = &self.defs[&ty];
        let mut out = BTreeMap::new();
        let mut bad = Vec::new();
        for (name, value) in props {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => {
                    bad.push(json!({"message": format!("{other} is not a valid value for {name}"), "code": "INVALID_OPTION", "in": name}));
                    continue;
                }
            };
            match defs.get(name) {
                None => bad.push(json!({"message": format!("Property \"{name}\" does not exist"), "code": "PROPERTY_DOESNT_EXIST", "in": name})),
                Some(d) if d.read_only && actor != Actor::System => bad.push(json!({
                    "message": format!("\"{name}\" is a read only property; its value cannot be set."),
                    "code": "READ_ONLY_VALUE", "in": name})),
                Some(_) => {
                    if name == "email" && !value.is_empty() && !valid_email(&value) {
                        bad.push(json!({"message": format!("Email address {value} is invalid"), "code": "INVALID_EMAIL", "in": name}));
                    }
                    out.insert(name.clone(), value);
                }
            }
        }
        if bad.is_empty() {
            Ok(out)
        } else {
            let msgs: Vec<String> = bad.iter().filter_map(|b| b["message"].as_str().map(str::to_owned)).collect();
            Err(ApiError::validation(format!("Property values were not valid: {}", msgs.join("; ")))
                .with("errors", Value::Array(bad)))
        }
    }

    /// The id of another live record already holding one of `props`' unique values.
    fn unique_clash(&self, ty: ObjectType, props: &BTreeMap<String, String>, own: Option<u64>) -> Result<(), ApiError> {
        let table = self.table(ty);
        for (name, value) in props {
            if value.is_empty() {
                continue;
            }
            if let Some(&other) = table.unique.get(name).and_then(|m| m.get(&norm(value)))
                && Some(other) != own
            {
                return Err(if ty == ObjectType::Contacts && name == "email" {
                    ApiError::conflict(format!("Contact already exists. Existing ID: {other}"))
                } else {
                    ApiError::conflict(format!(
                        "A {} with the value {value} for the unique property {name} already exists. Existing ID: {other}",
                        ty.singular()
                    ))
                });
            }
        }
        Ok(())
    }

    fn index(&mut self, ty: ObjectType, id: u64, add: bool) {
        let unique: Vec<String> =
            self.defs[&ty].values().filter(|d| d.has_unique_value).map(|d| d.name.clone()).collect();
        let (values, modified): (Vec<(String, String)>, i64) = match self.get(ty, id) {
            Some(r) => (
                unique
                    .iter()
                    .filter_map(|p| r.props.get(p).filter(|v| !v.is_empty()).map(|v| (p.clone(), norm(v))))
                    .collect(),
                r.updated_ms,
            ),
            None => return,
        };
        let table = self.table_mut(ty);
        if add {
            table.by_modified.insert((modified, id));
        } else {
            table.by_modified.remove(&(modified, id));
        }
        for (p, v) in values {
            let m = table.unique.entry(p).or_default();
            if add {
                m.insert(v, id);
            } else if m.get(&v) == Some(&id) {
                m.remove(&v);
            }
        }
    }

    /// Checks a create without making it.
    pub fn check_create(
        &self,
        ty: ObjectType,
        props: &Map<String, Value>,
        actor: Actor,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let clean = self.validate(ty, props, actor)?;
        self.unique_clash(ty, &clean, None)?;
        Ok(clean)
    }

    /// Creates a record, with the record source of who made it. With
    /// [`Db::auto_create_companies`] on, a new contact with an email is
    /// associated with the live company holding its email's domain, made
    /// first (record source `CRM_SETTING`, name and domain from the email)
    /// when there is none, as HubSpot's setting does.
    pub fn create(
        &mut self,
        ty: ObjectType,
        props: &Map<String, Value>,
        actor: Actor,
    ) -> Result<(u64, Vec<EventDraft>), ApiError> {
        let clean = self.check_create(ty, props, actor)?;
        let (id, mut events) = self.insert(ty, clean, None);
        self.set_record_source(ty, id, actor.record_source());
        if ty == ObjectType::Contacts && self.auto_create_companies {
            events.extend(self.company_from_contact(id)?);
        }
        Ok((id, events))
    }

    /// Sets the read-only record source, which makes no event.
    fn set_record_source(&mut self, ty: ObjectType, id: u64, source: &str) {
        if let Some(record) = self.table_mut(ty).records.get_mut(&id) {
            record.props.insert(RECORD_SOURCE.into(), source.to_owned());
        }
    }

    /// The company of a new contact's email domain, found or made, and the
    /// contact's association with it.
    fn company_from_contact(&mut self, contact: u64) -> Result<Vec<EventDraft>, ApiError> {
        let domain = self
            .get(ObjectType::Contacts, contact)
            .and_then(|r| r.props.get("email"))
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty());
        let Some(domain) = domain else { return Ok(Vec::new()) };
        let existing = self
            .table(ObjectType::Companies)
            .records
            .values()
            .find(|r| r.is_live() && r.props.get("domain").is_some_and(|d| d.eq_ignore_ascii_case(&domain)))
            .map(|r| r.id);
        let mut events = Vec::new();
        let company = match existing {
            Some(id) => id,
            None => {
                let name = domain.split('.').next().unwrap_or(&domain).to_owned();
                let mut props = BTreeMap::new();
                props.insert("name".to_owned(), name);
                props.insert("domain".to_owned(), domain.clone());
                let (id, made) = self.insert(ObjectType::Companies, props, None);
                self.set_record_source(ObjectType::Companies, id, CREATED_BY_CRM_SETTING);
                events.extend(made);
                id
            }
        };
        let type_id = default_association_type(ObjectType::Contacts, ObjectType::Companies).unwrap_or(279);
        events.extend(self.associate(ObjectType::Contacts, contact, ObjectType::Companies, company, type_id)?);
        Ok(events)
    }

    fn creation_events(&self, ty: ObjectType, id: u64, at: i64, props: &BTreeMap<String, String>) -> Vec<EventDraft> {
        let mut e = event(ty, "creation", id, at);
        e.insert("changeFlag".into(), json!("CREATED"));
        let mut events = vec![e];
        for (name, value) in props {
            let mut e = event(ty, "propertyChange", id, at);
            e.insert("propertyName".into(), json!(name));
            e.insert("propertyValue".into(), json!(value));
            events.push(e);
        }
        events
    }

    /// Inserts without validation; `at_ms` (seeding) fixes the timestamps
    /// and makes no events.
    pub fn insert(
        &mut self,
        ty: ObjectType,
        mut props: BTreeMap<String, String>,
        at_ms: Option<(i64, i64)>,
    ) -> (u64, Vec<EventDraft>) {
        let id = self.next_id;
        self.next_id += 1;
        let (created, updated) = at_ms.unwrap_or_else(|| {
            let t = self.tick();
            (t, t)
        });
        props.retain(|_, v| !v.is_empty());
        // Seeded records (fixed times) make no events: nothing is delivered for them.
        let seeding = at_ms.is_some();
        let mut events = Vec::new();
        if !seeding {
            events = self.creation_events(ty, id, created, &props);
        }
        props.insert("hs_object_id".into(), id.to_string());
        props.insert("createdate".into(), iso(created));
        props.insert(ty.modified_property().into(), iso(updated));
        if ty == ObjectType::Contacts {
            props.entry("hs_email_optout".into()).or_insert_with(|| "false".into());
        }
        self.table_mut(ty).records.insert(
            id,
            Record { id, props, created_ms: created, updated_ms: updated, archived_ms: None, merged_into: None },
        );
        self.index(ty, id, true);
        (id, events)
    }

    pub fn check_update(
        &self,
        ty: ObjectType,
        id: u64,
        props: &Map<String, Value>,
        actor: Actor,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        if !self.get(ty, id).is_some_and(Record::is_live) {
            return Err(ApiError::not_found("Object not found.  objectId are usually numeric."));
        }
        let clean = self.validate(ty, props, actor)?;
        self.unique_clash(ty, &clean, Some(id))?;
        Ok(clean)
    }

    pub fn update(
        &mut self,
        ty: ObjectType,
        id: u64,
        props: &Map<String, Value>,
        actor: Actor,
    ) -> Result<Vec<EventDraft>, ApiError> {
        let clean = self.check_update(ty, id, props, actor)?;
        Ok(self.apply_update(ty, id, clean))
    }

    /// Writes checked values; only real changes bump the modified date and
    /// make events.
    pub fn apply_update(&mut self, ty: ObjectType, id: u64, clean: BTreeMap<String, String>) -> Vec<EventDraft> {
        let at = self.tick();
        self.index(ty, id, false);
        let mut events = Vec::new();
        if let Some(record) = self.table_mut(ty).records.get_mut(&id) {
            for (name, value) in clean {
                let old = record.props.get(&name).cloned().unwrap_or_default();
                if old == value {
                    continue;
                }
                if value.is_empty() {
                    record.props.remove(&name);
                } else {
                    record.props.insert(name.clone(), value.clone());
                }
                let mut e = event(ty, "propertyChange", id, at);
                e.insert("propertyName".into(), json!(name));
                e.insert("propertyValue".into(), json!(value));
                events.push(e);
            }
            if !events.is_empty() {
                record.updated_ms = at;
                record.props.insert(ty.modified_property().into(), iso(at));
            }
        }
        self.index(ty, id, true);
        events
    }

    pub fn archive(&mut self, ty: ObjectType, id: u64) -> Result<Vec<EventDraft>, ApiError> {
        if !self.get(ty, id).is_some_and(Record::is_live) {
            return Err(ApiError::not_found("Object not found.  objectId are usually numeric."));
        }
        let at = self.tick();
        self.index(ty, id, false);
        if let Some(r) = self.table_mut(ty).records.get_mut(&id) {
            r.archived_ms = Some(at);
        }
        let mut e = event(ty, "deletion", id, at);
        e.insert("changeFlag".into(), json!("DELETED"));
        Ok(vec![e])
    }

    /// Merges `merged` into `primary`: blank primary properties take the
    /// merged record's values, associations move, the merged record is archived.
    pub fn merge(&mut self, ty: ObjectType, primary: u64, merged: u64) -> Result<Vec<EventDraft>, ApiError> {
        if primary == merged {
            return Err(ApiError::validation("Cannot merge an object with itself"));
        }
        for id in [primary, merged] {
            if !self.get(ty, id).is_some_and(Record::is_live) {
                return Err(ApiError::not_found(format!("Object not found.  objectId {id}")));
            }
        }
        let (source, target) = (
            self.get(ty, merged).map(|r| r.props.clone()).unwrap_or_default(),
            self.get(ty, primary).map(|r| r.props.clone()).unwrap_or_default(),
        );
        let skip = ["hs_object_id", "createdate", ty.modified_property()];
        let moved: BTreeMap<String, String> = source
            .into_iter()
            .filter(|(k, v)| !skip.contains(&k.as_str()) && !v.is_empty() && target.get(k).is_none_or(|t| t.is_empty()))
            .collect();
        let moved_count = moved.len();
        self.index(ty, merged, false);
        let at = self.tick();
        if let Some(r) = self.table_mut(ty).records.get_mut(&merged) {
            r.archived_ms = Some(at);
            r.merged_into = Some(primary);
        }
        self.apply_update(ty, primary, moved);
        for ((to_ty, to_id), types) in self.assoc.remove(&(ty, merged)).unwrap_or_default() {
            if let Some(back) = self.assoc.get_mut(&(to_ty, to_id)) {
                back.remove(&(ty, merged));
            }
            for t in types {
                self.link(ty, primary, to_ty, to_id, t);
            }
        }
        let mut e = event(ty, "merge", primary, at);
        e.insert("primaryObjectId".into(), json!(primary));
        e.insert("mergedObjectIds".into(), json!([merged]));
        e.insert("newObjectId".into(), json!(primary));
        e.insert("numberOfPropertiesMoved".into(), json!(moved_count));
        Ok(vec![e])
    }

    /// Records an association both ways, without checks or events (seeding).
    pub(super) fn link(&mut self, from: ObjectType, from_id: u64, to: ObjectType, to_id: u64, type_id: u32) {
        self.assoc.entry((from, from_id)).or_default().entry((to, to_id)).or_default().insert(type_id);
        self.assoc
            .entry((to, to_id))
            .or_default()
            .entry((from, from_id))
            .or_default()
            .insert(inverse_association_type(type_id));
    }

    /// Associates two live records; returns whether it is new and its event.
    pub fn associate(
        &mut self,
        from: ObjectType,
        from_id: u64,
        to: ObjectType,
        to_id: u64,
        type_id: u32,
    ) -> Result<Vec<EventDraft>, ApiError> {
        for (ty, id) in [(from, from_id), (to, to_id)] {
            if !self.get(ty, id).is_some_and(Record::is_live) {
                return Err(ApiError::not_found(format!("No {} with id {id} exists", ty.singular())));
            }
        }
        let existed =
            self.assoc.get(&(from, from_id)).and_then(|m| m.get(&(to, to_id))).is_some_and(|s| s.contains(&type_id));
        self.link(from, from_id, to, to_id, type_id);
        if existed {
            return Ok(Vec::new());
        }
        let at = self.tick();
        let mut e = event(from, "associationChange", from_id, at);
        e.insert("associationType".into(), json!(association_name(from, to)));
        e.insert("fromObjectId".into(), json!(from_id));
        e.insert("toObjectId".into(), json!(to_id));
        e.insert("associationRemoved".into(), json!(false));
        e.insert("isPrimaryAssociation".into(), json!(matches!(type_id, 1 | 2 | 5 | 6)));
        Ok(vec![e])
    }

    pub fn dissociate(&mut self, from: ObjectType, from_id: u64, to: ObjectType, to_id: u64) -> Vec<EventDraft> {
        let removed = self.assoc.get_mut(&(from, from_id)).and_then(|m| m.remove(&(to, to_id))).is_some();
        if let Some(m) = self.assoc.get_mut(&(to, to_id)) {
            m.remove(&(from, from_id));
        }
        if !removed {
            return Vec::new();
        }
        let at = self.tick();
        let mut e = event(from, "associationChange", from_id, at);
        e.insert("associationType".into(), json!(association_name(from, to)));
        e.insert("fromObjectId".into(), json!(from_id));
        e.insert("toObjectId".into(), json!(to_id));
        e.insert("associationRemoved".into(), json!(true));
        e.insert("isPrimaryAssociation".into(), json!(false));
        vec![e]
    }

    /// Live associations of one record towards one object type.
    pub fn associations(&self, from: ObjectType, from_id: u64, to: ObjectType) -> Vec<(u64, Vec<u32>)> {
        self.assoc
            .get(&(from, from_id))
            .map(|m| {
                m.iter()
                    .filter(|((t, id), _)| *t == to && self.get(*t, *id).is_some_and(Record::is_live))
                    .map(|((_, id), types)| (*id, types.iter().copied().collect()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets `hs_email_optout` on the live contact with this email.
    pub fn set_opt_out(&mut self, email: &str, opted_out: bool) -> Result<(u64, Vec<EventDraft>), ApiError> {
        let id = self.find(ObjectType::Contacts, email, Some("email"), false)?;
        let mut change = BTreeMap::new();
        change.insert("hs_email_optout".to_owned(), opted_out.to_string());
        Ok((id, self.apply_update(ObjectType::Contacts, id, change)))
    }

    /// Adds a user who may own records; returns the owner id.
    pub fn add_owner(&mut self, owner: Owner) -> u64 {
        let id = self.owners.keys().next_back().map_or(70_001, |last| last + 1);
        self.owners.insert(id, owner);
        id
    }

    /// Makes a static contact list; returns its id.
    pub fn create_list(&mut self, name: &str) -> u64 {
        let id = self.lists.keys().next_back().map_or(1, |last| last + 1);
        self.lists.insert(id, (name.to_owned(), BTreeMap::new()));
        id
    }

    /// Adds live contacts to a list; returns the ids that were not added
    /// (unknown or archived records).
    pub fn add_to_list(&mut self, list: u64, ids: &[u64]) -> Result<Vec<u64>, ApiError> {
        if !self.lists.contains_key(&list) {
            return Err(ApiError::not_found(format!("List {list} does not exist")));
        }
        let at = self.tick();
        let (live, missing): (Vec<u64>, Vec<u64>) =
            ids.iter().partition(|id| self.get(ObjectType::Contacts, **id).is_some_and(Record::is_live));
        if let Some((_, members)) = self.lists.get_mut(&list) {
            for id in live {
                members.entry(id).or_insert(at);
            }
        }
        Ok(missing)
    }

    pub fn remove_from_list(&mut self, list: u64, ids: &[u64]) -> Result<(), ApiError> {
        let (_, members) =
            self.lists.get_mut(&list).ok_or_else(|| ApiError::not_found(format!("List {list} does not exist")))?;
        for id in ids {
            members.remove(id);
        }
        Ok(())
    }

    /// Adds crm-sync's own properties as `crm-sync setup --apply` creates
    /// them: `salesforce_id` (unique) on contacts, companies and deals, and
    /// `salesforce_campaigns` (multi-line text) on contacts.
    pub fn define_crm_sync_properties(&mut self) {
        for ty in ObjectType::ALL {
            let mut def = PropertyDef::new("salesforce_id", "string", false, true);
            def.label = "Salesforce ID".into();
            self.defs.entry(ty).or_default().insert(def.name.clone(), def);
        }
        let mut campaigns = PropertyDef::new("salesforce_campaigns", "string", false, false);
        campaigns.label = "Salesforce Campaigns".into();
        campaigns.field_type = "textarea".into();
        self.defs.entry(ObjectType::Contacts).or_default().insert(campaigns.name.clone(), campaigns);
    }

    pub fn define_property(&mut self, ty: ObjectType, def: PropertyDef) -> Result<PropertyDef, ApiError> {
        if def.name.is_empty() || !def.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(ApiError::validation(format!("Property name {} is not valid", def.name)));
        }
        let defs = self.defs.entry(ty).or_default();
        if defs.contains_key(&def.name) {
            return Err(ApiError::conflict(format!("Property named '{}' already exists.", def.name)));
        }
        defs.insert(def.name.clone(), def.clone());
        Ok(def)
    }
}

fn valid_email(value: &str) -> bool {
    let mut parts = value.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.contains(char::is_whitespace)
        }
        _ => false,
    }
}
