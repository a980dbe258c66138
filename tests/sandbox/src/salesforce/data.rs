//! The fake org's records: typed values, one ordered map per object, writes
//! that validate like Salesforce and bump `SystemModstamp`, soft deletes, and
//! the write log tests read to tell user changes from the integration's own.

use super::ids::SfId;
use super::schema::{Access, Field, Formula, Kind, Object, Ty, objects};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value as Json, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// One stored value. Dates are days since 1970-01-01, datetimes Unix ms.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Str(Box<str>),
    Bool(bool),
    Num(f64),
    Date(i32),
    DateTime(i64),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn to_json(&self, ty: Ty) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Str(s) => Json::from(&**s),
            Value::Bool(b) => Json::from(*b),
            Value::Num(n) if ty == Ty::Int => Json::from(*n as i64),
            Value::Num(n) => json!(n),
            Value::Date(d) => Json::from(format_date(*d)),
            Value::DateTime(ms) => Json::from(format_datetime(*ms)),
        }
    }

    /// The text form used in CSV and SOAP.
    pub fn to_text(&self, ty: Ty) -> String {
        match self {
            Value::Null => String::new(),
            Value::Str(s) => s.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Num(n) if ty == Ty::Int || n.fract() == 0.0 => format!("{}", *n as i64),
            Value::Num(n) => n.to_string(),
            Value::Date(d) => format_date(*d),
            Value::DateTime(ms) => format_datetime(*ms),
        }
    }
}

pub fn format_date(days: i32) -> String {
    NaiveDate::from_epoch_days(days).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

pub fn format_datetime(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        .unwrap_or_default()
}

/// Parses `2024-05-20T20:49:32.000+0000`, RFC 3339, or a bare date (midnight UTC).
pub fn parse_datetime(s: &str) -> Option<i64> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.timestamp_millis());
    }
    parse_date(s).map(|d| i64::from(d) * 86_400_000)
}

pub fn parse_date(s: &str) -> Option<i32> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.to_epoch_days())
}

/// A Salesforce error: HTTP status, `errorCode`, message and fields.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct SfError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<String>,
}

impl SfError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        SfError { status, code, message: message.into(), fields: Vec::new() }
    }

    pub fn field(mut self, name: &str) -> Self {
        self.fields.push(name.to_owned());
        self
    }

    pub fn not_found() -> Self {
        SfError::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    /// The REST form: `[{"message","errorCode","fields"}]`.
    pub fn rest_body(&self) -> Json {
        json!([{ "message": self.message, "errorCode": self.code, "fields": self.fields }])
    }

    /// The per-record form of sObject Collections: `{"statusCode","message","fields"}`.
    pub fn collection_error(&self) -> Json {
        json!({ "statusCode": self.code, "message": self.message, "fields": self.fields })
    }
}

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The integration user the API tokens act as.
    Integration,
    /// A person editing in the Salesforce UI (the control API).
    User,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub id: SfId,
    pub fields: Vec<(u16, Value)>,
    pub created: i64,
    pub modified: i64,
    pub modstamp: i64,
    pub deleted: Option<i64>,
    pub created_by: Actor,
    pub modified_by: Actor,
}

impl Record {
    pub fn stored(&self, field: usize) -> &Value {
        self.fields.iter().find(|(f, _)| usize::from(*f) == field).map(|(_, v)| v).unwrap_or(&Value::Null)
    }

    fn set(&mut self, field: usize, value: Value) {
        let key = field as u16;
        match self.fields.iter_mut().find(|(f, _)| *f == key) {
            Some(slot) if value.is_null() => {
                let _ = slot;
                self.fields.retain(|(f, _)| *f != key);
            }
            Some(slot) => slot.1 = value,
            None if value.is_null() => {}
            None => self.fields.push((key, value)),
        }
    }
}

#[derive(Debug, Default)]
pub struct Table {
    pub records: BTreeMap<SfId, Record>,
    next: u64,
    /// `HubSpot_Id__c` value -> records holding it.
    ext_index: HashMap<Box<str>, Vec<SfId>>,
    /// Lower-cased `Email` -> records holding it, deleted ones included (a
    /// query filters those): Salesforce indexes the email of leads and
    /// contacts, so a query by email does not scan the table.
    email_index: HashMap<Box<str>, Vec<SfId>>,
}

impl Table {
    /// The records (live or deleted) whose `Email` equals `email` without
    /// regard to case, in no particular order.
    pub fn with_email(&self, email: &str) -> &[SfId] {
        self.email_index.get(email_key(email).as_str()).map_or(&[], Vec::as_slice)
    }

    /// Files a record under its email, first taking it out from under the
    /// email it had.
    fn index_email(&mut self, field: usize, old: Option<&Value>, record: &Record) {
        if let Some(Value::Str(key)) = old
            && let Some(ids) = self.email_index.get_mut(email_key(key).as_str())
        {
            ids.retain(|i| *i != record.id);
        }
        if let Value::Str(key) = record.stored(field) {
            self.email_index.entry(email_key(key).into_boxed_str()).or_default().push(record.id);
        }
    }
}

/// The email index's key: SOQL compares text without regard to case.
fn email_key(email: &str) -> String {
    email.chars().flat_map(char::to_lowercase).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
}

/// One write, as tests see it.
#[derive(Debug, Clone)]
pub struct WriteEvent {
    pub object: &'static str,
    pub id: String,
    pub op: Op,
    pub actor: Actor,
    /// The `client=` part of `Sforce-Call-Options`, if the writer sent one.
    pub client: Option<String>,
    pub at: i64,
    /// Fields whose stored value this write changed (set on a create).
    pub changed: Vec<String>,
    /// The changed fields it left blank (a clear).
    pub cleared: Vec<String>,
}

#[derive(Debug)]
pub struct Org {
    pub objects: Vec<Object>,
    pub tables: Vec<Table>,
    pub writes: Vec<WriteEvent>,
    pub integration_user: SfId,
    pub human_user: SfId,
    last_stamp: i64,
    /// Created/updated records waiting for an outbound message.
    pub outbound: Vec<(usize, SfId)>,
}

impl Org {
    /// An org with the standard objects only, as a new org is.
    pub fn new() -> Self {
        Org::with_fields(false)
    }

    /// An org; `crm_sync_fields` seeds crm-sync's own custom fields.
    pub fn with_fields(crm_sync_fields: bool) -> Self {
        let objects = objects(crm_sync_fields);
        let tables = objects.iter().map(|_| Table::default()).collect();
        let mut org = Org {
            objects,
            tables,
            writes: Vec::new(),
            integration_user: SfId::generate("005", 0),
            human_user: SfId::generate("005", 1),
            last_stamp: 0,
            outbound: Vec::new(),
        };
        for (first, last, username) in
            [("Integration", "User", super::DEFAULT_USERNAME), ("Sam", "Seller", "sam.seller@crm-sync.sandbox")]
        {
            let user = org.object_index("User").unwrap_or(0);
            let mut fields = Map::new();
            fields.insert("Username".into(), username.into());
            fields.insert("Email".into(), username.into());
            fields.insert("FirstName".into(), first.into());
            fields.insert("LastName".into(), last.into());
            fields.insert("IsActive".into(), true.into());
            let _ = org.insert(user, &fields, Actor::Integration, None, false);
        }
        // The org's own users are not changes anyone made.
        org.writes.clear();
        org
    }

    /// A strictly increasing timestamp, so every write moves `SystemModstamp`.
    pub fn stamp(&mut self) -> i64 {
        let now = Utc::now().timestamp_millis();
        self.last_stamp = now.max(self.last_stamp + 1);
        self.last_stamp
    }

    pub fn object_index(&self, name: &str) -> Option<usize> {
        self.objects.iter().position(|o| o.name.eq_ignore_ascii_case(name))
    }

    pub fn object_of_id(&self, id: &SfId) -> Option<usize> {
        self.objects.iter().position(|o| o.prefix == id.prefix())
    }

    pub fn find_object(&self, name: &str) -> Result<usize, SfError> {
        self.object_index(name).ok_or_else(|| {
            SfError::new(
                404,
                "NOT_FOUND",
                format!("The requested resource does not exist: sObject type '{name}' is not supported."),
            )
        })
    }

    pub fn actor_id(&self, actor: Actor) -> SfId {
        match actor {
            Actor::Integration => self.integration_user,
            Actor::User => self.human_user,
        }
    }

    /// A field's value including system and formula fields.
    pub fn value(&self, object: usize, record: &Record, field: usize) -> Value {
        self.value_cow(object, record, field).into_owned()
    }

    /// A field's value, borrowed when it is stored (no copy in query scans).
    pub fn value_cow<'a>(&'a self, object: usize, record: &'a Record, field: usize) -> Cow<'a, Value> {
        let def = &self.objects[object].fields[field];
        match def.kind {
            Kind::Stored | Kind::ReadOnly => match record.stored(field) {
                Value::Null if def.ty == Ty::Boolean => Cow::Owned(Value::Bool(false)),
                // Owners and required picklists are never empty in Salesforce;
                // generated records leave them unstored to stay small.
                Value::Null if def.name == "OwnerId" => Cow::Owned(Value::Str(self.integration_user.as_str().into())),
                Value::Null if def.required && def.default.is_some() => {
                    Cow::Owned(Value::Str(def.default.unwrap_or_default().into()))
                }
                v => Cow::Borrowed(v),
            },
            _ => Cow::Owned(self.computed(object, record, field)),
        }
    }

    fn computed(&self, object: usize, record: &Record, field: usize) -> Value {
        let def = &self.objects[object].fields[field];
        match def.kind {
            Kind::Stored | Kind::ReadOnly => Value::Null,
            Kind::Id => Value::Str(record.id.as_str().into()),
            Kind::CreatedDate => Value::DateTime(record.created),
            Kind::LastModifiedDate => Value::DateTime(record.modified),
            Kind::SystemModstamp => Value::DateTime(record.modstamp),
            Kind::IsDeleted => Value::Bool(record.deleted.is_some()),
            Kind::CreatedById => Value::Str(self.actor_id(record.created_by).as_str().into()),
            Kind::LastModifiedById => Value::Str(self.actor_id(record.modified_by).as_str().into()),
            Kind::Formula(f) => self.formula(object, record, f),
        }
    }

    fn named(&self, object: usize, record: &Record, name: &str) -> Value {
        self.objects[object].field_index(name).map(|f| self.value(object, record, f)).unwrap_or(Value::Null)
    }

    fn formula(&self, object: usize, record: &Record, formula: Formula) -> Value {
        match formula {
            Formula::FullName => {
                let first = self.named(object, record, "FirstName");
                let last = self.named(object, record, "LastName");
                let text = |v: &Value| if let Value::Str(s) = v { s.to_string() } else { String::new() };
                Value::Str(format!("{} {}", text(&first), text(&last)).trim().into())
            }
            Formula::ExpectedRevenue => {
                match (self.named(object, record, "Amount"), self.named(object, record, "Probability")) {
                    (Value::Num(a), Value::Num(p)) => Value::Num(a * p / 100.0),
                    _ => Value::Null,
                }
            }
            Formula::AccountName => {
                let Some(account) = self.parent(object, record, "AccountId") else { return Value::Null };
                let (ix, rec) = account;
                self.named(ix, rec, "Name")
            }
        }
    }

    /// The live parent record a reference field points to.
    pub fn parent(&self, object: usize, record: &Record, reference_field: &str) -> Option<(usize, &Record)> {
        let field = self.objects[object].field_index(reference_field)?;
        let Value::Str(id) = self.value(object, record, field) else { return None };
        let id = SfId::parse(&id)?;
        let ix = self.object_of_id(&id)?;
        let rec = self.tables[ix].records.get(&id)?;
        rec.deleted.is_none().then_some((ix, rec))
    }

    pub fn get(&self, object: usize, id: &SfId) -> Option<&Record> {
        self.tables[object].records.get(id)
    }

    /// The live record, or the Salesforce error for a missing or deleted one.
    pub fn live(&self, object: usize, id: &str) -> Result<&Record, SfError> {
        let id = SfId::parse(id).ok_or_else(|| SfError::new(400, "MALFORMED_ID", format!("malformed id {id}")))?;
        match self.get(object, &id) {
            Some(r) if r.deleted.is_some() => Err(SfError::new(404, "ENTITY_IS_DELETED", "entity is deleted")),
            Some(r) => Ok(r),
            None => Err(SfError::not_found()),
        }
    }

    /// A record as REST JSON: `attributes` then the chosen (or all) fields.
    pub fn record_json(&self, object: usize, record: &Record, fields: Option<&[usize]>, version: &str) -> Json {
        let def = &self.objects[object];
        let mut out = Map::new();
        out.insert(
            "attributes".into(),
            json!({"type": def.name, "url": format!("/services/data/{version}/sobjects/{}/{}", def.name, record.id)}),
        );
        let all: Vec<usize>;
        let chosen = match fields {
            Some(f) => f,
            None => {
                all = (0..def.fields.len()).collect();
                &all
            }
        };
        for &f in chosen {
            let field = &def.fields[f];
            out.insert(field.name.into(), self.value(object, record, f).to_json(field.ty));
        }
        Json::Object(out)
    }

    fn convert(&self, object: usize, field: usize, json: &Json) -> Result<Value, SfError> {
        let def = &self.objects[object].fields[field];
        let bad = |what: &str| {
            SfError::new(
                400,
                "JSON_PARSER_ERROR",
                format!("Cannot deserialize instance of {what} from {json} for field {}", def.name),
            )
            .field(def.name)
        };
        if json.is_null() {
            if def.required {
                return Err(SfError::new(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    format!("Required fields are missing: [{}]", def.name),
                )
                .field(def.name));
            }
            return Ok(Value::Null);
        }
        Ok(match def.ty {
            Ty::Boolean => match json {
                Json::Bool(b) => Value::Bool(*b),
                Json::String(s) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                    Value::Bool(s.eq_ignore_ascii_case("true"))
                }
                _ => return Err(bad("boolean")),
            },
            Ty::Int | Ty::Double | Ty::Currency | Ty::Percent => match json {
                Json::Number(n) => Value::Num(n.as_f64().unwrap_or(0.0)),
                Json::String(s) => Value::Num(s.trim().parse().map_err(|_| bad("double"))?),
                _ => return Err(bad("double")),
            },
            Ty::Date => match json.as_str().and_then(|s| parse_date(s.get(..10).unwrap_or(s))) {
                Some(d) => Value::Date(d),
                None => return Err(bad("date")),
            },
            Ty::DateTime => match json.as_str().and_then(parse_datetime) {
                Some(d) => Value::DateTime(d),
                None => return Err(bad("datetime")),
            },
            _ => {
                let text = match json {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    Json::Bool(b) => b.to_string(),
                    _ => return Err(bad("text")),
                };
                if text.is_empty() {
                    if def.required {
                        return Err(SfError::new(
                            400,
                            "REQUIRED_FIELD_MISSING",
                            format!("Required fields are missing: [{}]", def.name),
                        )
                        .field(def.name));
                    }
                    return Ok(Value::Null);
                }
                let max = def.max_length();
                if text.chars().count() > max {
                    return Err(SfError::new(
                        400,
                        "STRING_TOO_LONG",
                        format!("{}: data value too large: {text} (max length={max})", def.name),
                    )
                    .field(def.name));
                }
                if def.ty == Ty::Email && !valid_email(&text) {
                    return Err(SfError::new(
                        400,
                        "INVALID_EMAIL_ADDRESS",
                        format!("Email: invalid email address: {text}"),
                    )
                    .field(def.name));
                }
                if def.ty == Ty::Picklist && !def.picklist.iter().any(|p| *p == text) {
                    return Err(SfError::new(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!("{}: bad value for restricted picklist field: {text}", def.name),
                    )
                    .field(def.name));
                }
                if def.ty == Ty::Reference {
                    let target = def.reference_to.and_then(|t| self.object_index(t));
                    let exists = SfId::parse(&text)
                        .zip(target)
                        .is_some_and(|(id, t)| self.tables[t].records.get(&id).is_some_and(|r| r.deleted.is_none()));
                    if !exists {
                        return Err(SfError::new(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                            .field(def.name));
                    }
                    let id = SfId::parse(&text).map(|i| i.to_string()).unwrap_or(text);
                    return Ok(Value::Str(id.into()));
                }
                Value::Str(text.into())
            }
        })
    }

    /// Field-level security of the integration user: a field it cannot see
    /// is unknown, one it may only read cannot be written. A person's edits
    /// (the control API) are not limited.
    fn check_access(&self, object: usize, body: &Map<String, Json>, actor: Actor) -> Result<(), SfError> {
        if actor != Actor::Integration {
            return Ok(());
        }
        let def = &self.objects[object];
        for name in body.keys() {
            let Some(field) = def.field(name) else { continue };
            match field.access {
                Access::Edit => {}
                Access::Hidden => {
                    return Err(SfError::new(
                        400,
                        "INVALID_FIELD",
                        format!("No such column '{name}' on sobject of type {}", def.name),
                    )
                    .field(name));
                }
                Access::Read => {
                    return Err(SfError::new(
                        400,
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        format!("Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", field.name),
                    )
                    .field(field.name));
                }
            }
        }
        Ok(())
    }

    /// Sets the integration user's field-level security on a field.
    pub fn set_access(&mut self, object: usize, field: &str, access: Access) -> Result<(), SfError> {
        let def = &mut self.objects[object];
        let ix = def.field_index(field).ok_or_else(|| {
            SfError::new(400, "INVALID_FIELD", format!("No such column '{field}' on entity '{}'", def.name))
        })?;
        def.fields[ix].access = access;
        Ok(())
    }

    /// Refuses a value of a unique field that another live record of the
    /// object holds (`except`: the record being updated).
    fn check_unique(&self, object: usize, values: &[(usize, Value)], except: Option<SfId>) -> Result<(), SfError> {
        for (field, value) in values {
            let def = &self.objects[object].fields[*field];
            let Value::Str(text) = value else { continue };
            if !def.unique {
                continue;
            }
            if let Some(other) =
                self.find_by_external_id(object, *field, text).into_iter().find(|id| Some(*id) != except)
            {
                return Err(SfError::new(
                    400,
                    "DUPLICATE_VALUE",
                    format!("duplicate value found: {} duplicates value on record with id: {other}", def.name),
                )
                .field(def.name));
            }
        }
        Ok(())
    }

    /// Adds a custom field to an object (the Tooling API's create); the
    /// object's records have no value in it yet. Returns its position.
    pub fn add_field(&mut self, object: usize, field: Field) -> Result<usize, SfError> {
        let def = &mut self.objects[object];
        if def.field_index(field.name).is_some() {
            return Err(SfError::new(
                400,
                "DUPLICATE_DEVELOPER_NAME",
                format!("Duplicate Developer Name: {} already exists on {}", field.name, def.name),
            ));
        }
        Ok(def.add_field(field))
    }

    /// Field values from a JSON body, checked against the schema.
    fn parse_fields(&self, object: usize, body: &Map<String, Json>) -> Result<Vec<(usize, Value)>, SfError> {
        let def = &self.objects[object];
        let mut out = Vec::new();
        for (name, json) in body {
            if name == "attributes" {
                continue;
            }
            let Some(field) = def.field_index(name) else {
                return Err(SfError::new(
                    400,
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {}", def.name),
                )
                .field(name));
            };
            if !def.fields[field].createable() {
                if def.fields[field].name == "Id" {
                    continue;
                }
                return Err(SfError::new(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!("Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", def.fields[field].name),
                )
                .field(def.fields[field].name));
            }
            out.push((field, self.convert(object, field, json)?));
        }
        Ok(out)
    }

    /// Creates a record; `notify` queues an outbound message.
    pub fn insert(
        &mut self,
        object: usize,
        body: &Map<String, Json>,
        actor: Actor,
        client: Option<&str>,
        notify: bool,
    ) -> Result<SfId, SfError> {
        self.check_access(object, body, actor)?;
        let values = self.parse_fields(object, body)?;
        self.check_unique(object, &values, None)?;
        let def = &self.objects[object];
        let missing: Vec<&str> = def
            .fields
            .iter()
            .enumerate()
            .filter(|(i, f)| f.required && f.default.is_none() && !values.iter().any(|(v, _)| v == i))
            .map(|(_, f)| f.name)
            .collect();
        if !missing.is_empty() {
            let mut e = SfError::new(
                400,
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
            );
            for m in &missing {
                e = e.field(m);
            }
            return Err(e);
        }
        let mut fields: Vec<(u16, Value)> = Vec::with_capacity(values.len() + 1);
        for (i, f) in def.fields.iter().enumerate() {
            if let (Some(default), false) = (f.default, values.iter().any(|(v, _)| *v == i)) {
                fields.push((i as u16, Value::Str(default.into())));
            }
        }
        let prefix = def.prefix;
        let now = self.stamp();
        let table = &mut self.tables[object];
        let id = SfId::generate(prefix, table.next + 1_000);
        table.next += 1;
        let mut record = Record {
            id,
            fields,
            created: now,
            modified: now,
            modstamp: now,
            deleted: None,
            created_by: actor,
            modified_by: actor,
        };
        for (f, v) in values {
            record.set(f, v);
        }
        let changed =
            record.fields.iter().map(|(f, _)| self.objects[object].fields[usize::from(*f)].name.to_owned()).collect();
        self.put(object, record);
        self.log(object, id, Op::Create, actor, client, now, notify);
        if let Some(write) = self.writes.last_mut() {
            write.changed = changed;
        }
        Ok(id)
    }

    fn put(&mut self, object: usize, record: Record) {
        let ext = self.objects[object].field_index("HubSpot_Id__c");
        let email = self.objects[object].field_index("Email");
        let table = &mut self.tables[object];
        if let Some(email) = email {
            let old = table.records.get(&record.id).map(|r| r.stored(email).clone());
            table.index_email(email, old.as_ref(), &record);
        }
        if let Some(old) = table.records.get(&record.id)
            && let Some(ext) = ext
            && let Value::Str(key) = old.stored(ext)
            && let Some(ids) = table.ext_index.get_mut(key)
        {
            ids.retain(|i| *i != record.id);
        }
        if let Some(ext) = ext
            && let Value::Str(key) = record.stored(ext)
            && record.deleted.is_none()
        {
            table.ext_index.entry(key.clone()).or_default().push(record.id);
        }
        table.records.insert(record.id, record);
    }

    #[allow(clippy::too_many_arguments)]
    fn log(&mut self, object: usize, id: SfId, op: Op, actor: Actor, client: Option<&str>, at: i64, notify: bool) {
        self.writes.push(WriteEvent {
            object: self.objects[object].name,
            id: id.to_string(),
            op,
            actor,
            client: client.map(str::to_owned),
            at,
            changed: Vec::new(),
            cleared: Vec::new(),
        });
        if notify && op != Op::Delete && self.objects[object].outbound {
            self.outbound.push((object, id));
        }
    }

    pub fn update(
        &mut self,
        object: usize,
        id: &str,
        body: &Map<String, Json>,
        actor: Actor,
        client: Option<&str>,
    ) -> Result<SfId, SfError> {
        let record = self.live(object, id)?.clone();
        if self.objects[object].name == "Lead"
            && self.objects[object].field_index("IsConverted").is_some_and(|f| record.stored(f) == &Value::Bool(true))
        {
            return Err(SfError::new(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"));
        }
        self.check_access(object, body, actor)?;
        let values = self.parse_fields(object, body)?;
        self.check_unique(object, &values, Some(record.id))?;
        let now = self.stamp();
        let mut record = record;
        let (mut changed, mut cleared) = (Vec::new(), Vec::new());
        for (f, v) in values {
            if record.stored(f) != &v {
                let name = self.objects[object].fields[f].name.to_owned();
                if v.is_null() {
                    cleared.push(name.clone());
                }
                changed.push(name);
            }
            record.set(f, v);
        }
        record.modified = now;
        record.modstamp = now;
        record.modified_by = actor;
        let rid = record.id;
        self.put(object, record);
        self.log(object, rid, Op::Update, actor, client, now, true);
        if let Some(write) = self.writes.last_mut() {
            write.changed = changed;
            write.cleared = cleared;
        }
        Ok(rid)
    }

    pub fn delete(&mut self, object: usize, id: &str, actor: Actor, client: Option<&str>) -> Result<SfId, SfError> {
        let mut record = self.live(object, id)?.clone();
        let now = self.stamp();
        record.deleted = Some(now);
        record.modstamp = now;
        record.modified_by = actor;
        let rid = record.id;
        self.put(object, record);
        self.log(object, rid, Op::Delete, actor, client, now, false);
        Ok(rid)
    }

    /// Merges `loser` into `winner` (Lead, Contact, Account): the loser goes to
    /// the Recycle Bin with `MasterRecordId` pointing at the winner, and the
    /// winner is written (its `SystemModstamp` moves).
    pub fn merge(&mut self, object: usize, winner: &str, loser: &str, actor: Actor) -> Result<SfId, SfError> {
        let master = self.objects[object].field_index("MasterRecordId").ok_or_else(|| {
            SfError::new(400, "INVALID_OPERATION", format!("{} records cannot be merged", self.objects[object].name))
        })?;
        let winner_id = self.live(object, winner)?.id;
        let mut lost = self.live(object, loser)?.clone();
        if lost.id == winner_id {
            return Err(SfError::new(400, "INVALID_OPERATION", "a record cannot be merged into itself"));
        }
        let now = self.stamp();
        lost.set(master, Value::Str(winner_id.as_str().into()));
        lost.deleted = Some(now);
        lost.modstamp = now;
        lost.modified_by = actor;
        let lost_id = lost.id;
        self.put(object, lost);
        self.log(object, lost_id, Op::Delete, actor, None, now, false);
        let mut kept = self.live(object, winner)?.clone();
        let now = self.stamp();
        kept.modified = now;
        kept.modstamp = now;
        kept.modified_by = actor;
        self.put(object, kept);
        self.log(object, winner_id, Op::Update, actor, None, now, true);
        Ok(winner_id)
    }

    /// Converts a Lead as a user: a new Account (from `Company`) and Contact
    /// (the person's fields), and the Lead marked converted and read-only.
    /// Returns (contact id, account id).
    pub fn convert_lead(&mut self, lead: &str, actor: Actor) -> Result<(SfId, SfId), SfError> {
        let lead_ix = self.find_object("Lead")?;
        let record = self.live(lead_ix, lead)?.clone();
        let lead_def = self.objects[lead_ix].clone();
        let field = |name: &str| lead_def.field_index(name);
        if field("IsConverted").is_some_and(|f| record.stored(f) == &Value::Bool(true)) {
            return Err(SfError::new(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"));
        }
        let text = |name: &str| match field(name).map(|f| record.stored(f)) {
            Some(Value::Str(s)) => Json::from(&**s),
            _ => Json::Null,
        };
        let mut account = Map::new();
        account.insert("Name".into(), text("Company"));
        let account_ix = self.find_object("Account")?;
        let account_id = self.insert(account_ix, &account, actor, None, true)?;
        let mut contact = Map::new();
        for name in ["FirstName", "LastName", "Email", "Phone", "Title", "Salutation", "LeadSource", "Description"] {
            let v = text(name);
            if !v.is_null() {
                contact.insert(name.into(), v);
            }
        }
        contact.insert("AccountId".into(), Json::from(account_id.as_str()));
        let contact_ix = self.find_object("Contact")?;
        let contact_id = self.insert(contact_ix, &contact, actor, None, true)?;
        let now = self.stamp();
        let mut converted = record;
        let today = (now / 86_400_000) as i32;
        for (name, value) in [
            ("IsConverted", Value::Bool(true)),
            ("ConvertedContactId", Value::Str(contact_id.as_str().into())),
            ("ConvertedAccountId", Value::Str(account_id.as_str().into())),
            ("ConvertedDate", Value::Date(today)),
            ("Status", Value::Str("Closed - Converted".into())),
        ] {
            if let Some(f) = field(name) {
                converted.set(f, value);
            }
        }
        converted.modified = now;
        converted.modstamp = now;
        converted.modified_by = actor;
        let lead_id = converted.id;
        self.put(lead_ix, converted);
        self.log(lead_ix, lead_id, Op::Update, actor, None, now, true);
        Ok((contact_id, account_id))
    }

    /// Live records whose external-id field equals `value`.
    pub fn find_by_external_id(&self, object: usize, field: usize, value: &str) -> Vec<SfId> {
        let def = &self.objects[object];
        if def.fields[field].name == "HubSpot_Id__c" {
            return self.tables[object].ext_index.get(value).cloned().unwrap_or_default();
        }
        self.tables[object]
            .records
            .values()
            .filter(|r| {
                r.deleted.is_none() && matches!(&*self.value_cow(object, r, field), Value::Str(s) if **s == *value)
            })
            .map(|r| r.id)
            .collect()
    }

    /// Upsert by external id: `Ok((id, created))`, 300 for several matches.
    pub fn upsert(
        &mut self,
        object: usize,
        field_name: &str,
        value: &str,
        body: &Map<String, Json>,
        actor: Actor,
        client: Option<&str>,
    ) -> Result<(SfId, bool), SfError> {
        let def = &self.objects[object];
        let field = def
            .visible_field_index(field_name)
            .filter(|f| def.fields[*f].external_id || def.fields[*f].name == "Id")
            .ok_or_else(SfError::not_found)?;
        if def.fields[field].name == "Id" {
            return self.insert(object, body, actor, client, true).map(|id| (id, true));
        }
        let matches = self.find_by_external_id(object, field, value);
        match matches.as_slice() {
            [] => {
                let mut body = body.clone();
                body.insert(def.fields[field].name.to_owned(), Json::from(value));
                self.insert(object, &body, actor, client, true).map(|id| (id, true))
            }
            [one] => {
                let mut body = body.clone();
                body.remove(def.fields[field].name);
                self.update(object, one.as_str(), &body, actor, client).map(|id| (id, false))
            }
            many => Err(SfError::new(
                300,
                "MULTIPLE_CHOICES",
                many.iter()
                    .map(|i| format!("/services/data/v66.0/sobjects/{}/{i}", def.name))
                    .collect::<Vec<_>>()
                    .join(","),
            )),
        }
    }

    /// Adds a record without validation or a write-log entry (fast seeding).
    pub fn seed_record(&mut self, object: usize, fields: Vec<(u16, Value)>, created: i64, modified: i64) -> SfId {
        let def = &self.objects[object];
        let table = &mut self.tables[object];
        let id = SfId::generate(def.prefix, table.next + 1_000);
        table.next += 1;
        let mut fields = fields;
        fields.shrink_to_fit();
        let record = Record {
            id,
            fields,
            created,
            modified,
            modstamp: modified,
            deleted: None,
            created_by: Actor::User,
            modified_by: Actor::User,
        };
        self.put(object, record);
        id
    }

    /// Puts back record maps taken before an all-or-none request that failed.
    pub fn restore(&mut self, tables: Vec<BTreeMap<SfId, Record>>, writes: usize) {
        for (ix, records) in tables.into_iter().enumerate() {
            let ext = self.objects[ix].field_index("HubSpot_Id__c");
            let email = self.objects[ix].field_index("Email");
            let table = &mut self.tables[ix];
            table.ext_index.clear();
            table.email_index.clear();
            if let Some(email) = email {
                for r in records.values() {
                    table.index_email(email, None, r);
                }
            }
            if let Some(ext) = ext {
                for r in records.values().filter(|r| r.deleted.is_none()) {
                    if let Value::Str(key) = r.stored(ext) {
                        table.ext_index.entry(key.clone()).or_default().push(r.id);
                    }
                }
            }
            table.records = records;
        }
        self.writes.truncate(writes);
        self.outbound.clear();
    }

    pub fn live_count(&self, object: usize) -> usize {
        self.tables[object].records.values().filter(|r| r.deleted.is_none()).count()
    }
}

impl Default for Org {
    fn default() -> Self {
        Org::new()
    }
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !s.contains(' ')
}
