//! The fake HubSpot's own control API under `/__sandbox/hubspot/`: fast
//! deterministic seeding and edits made "as a user" in the HubSpot UI (they
//! fire webhooks with `changeSource: CRM_UI`), plus the webhook delivery log.
//!
//! Routes (JSON bodies):
//! - `POST /__sandbox/hubspot/seed` `{"contacts":N,"companies":N,"deals":N,"seed":S}`
//! - `POST /__sandbox/hubspot/users/{object}` `{"properties":{..}}` -> record
//! - `PATCH|DELETE /__sandbox/hubspot/users/{object}/{id}`
//! - `POST /__sandbox/hubspot/users/{object}/merge` `{"primaryObjectId":..,"objectIdToMerge":..}`
//! - `POST /__sandbox/hubspot/users/contacts/{id}/opt-out` `{"optedOut":true}`
//! - `PUT /__sandbox/hubspot/users/associations/{from}/{id}/{to}/{to_id}`
//! - `POST /__sandbox/hubspot/lists` `{"name":..,"recordIds":[..]}` -> `{"listId":..}` (a static contact list)
//! - `GET /__sandbox/hubspot/webhooks` -> delivery attempts
//! - `PUT /__sandbox/hubspot/webhooks/target` `{"url":"http://..."}` (or `null`): where deliveries go
//! - `GET /__sandbox/hubspot/records/{object}/{id}` -> all properties, archived or not
//! - `POST /__sandbox/hubspot/batch-read/{object}` `{"ids":[..],"properties":[..]}` -> `{"records":{id:{..}}}`
//! - `GET /__sandbox/hubspot/live-count/{object}` -> `{"live":N}`: records not archived

use super::HubSpotState;
use super::model::{Actor, ApiError, ObjectType, default_association_type};
use crate::seed;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

type S = State<Arc<HubSpotState>>;

/// Records created by one seeding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedCounts {
    pub contacts: u64,
    pub companies: u64,
    pub deals: u64,
}

/// A change a person makes in HubSpot.
#[derive(Debug, Clone)]
pub enum UserEdit {
    Create { object: ObjectType, properties: Map<String, Value> },
    Update { object: ObjectType, id: u64, properties: Map<String, Value> },
    Delete { object: ObjectType, id: u64 },
    Merge { object: ObjectType, primary: u64, merged: u64 },
    OptOut { contact: u64, opted_out: bool },
    Associate { from: ObjectType, id: u64, to: ObjectType, to_id: u64 },
}

/// 2025-01-01T00:00:00Z: seeded records are dated from here, one second apart.
const SEED_EPOCH_MS: i64 = 1_735_689_600_000;

impl HubSpotState {
    /// Adds deterministic records without firing webhooks: contacts use the
    /// shared email pool (`person{n}@example.com`, n from 1), companies get
    /// `company{n}.example.com` domains, contact n is associated with company
    /// n mod companies, deal n with company n mod companies.
    pub fn seed(&self, seed_number: u64, contacts: u64, companies: u64, deals: u64) -> SeedCounts {
        let mut db = self.db();
        let mut rng = seed::rng(seed_number, "hubspot");
        let base_contact = db.count(ObjectType::Contacts) as u64;
        let base_company = db.count(ObjectType::Companies) as u64;
        let base_deal = db.count(ObjectType::Deals) as u64;
        let mut company_ids = Vec::with_capacity(companies as usize);
        let stamp = |rng: &mut rand_chacha::ChaCha8Rng, i: u64| {
            let created = SEED_EPOCH_MS + i64::try_from(i).unwrap_or(i64::MAX / 2) * 1000;
            (created, created + rng.random_range(0..86_400_000))
        };
        for i in 1..=companies {
            let n = base_company + i;
            let mut p = BTreeMap::new();
            p.insert("name".to_owned(), format!("{} {n}", seed::company(n)));
            p.insert("domain".to_owned(), format!("company{n}.example.com"));
            p.insert("city".to_owned(), ["Berlin", "Boston", "Lyon", "Osaka"][rng.random_range(0..4)].to_owned());
            let at = stamp(&mut rng, n);
            company_ids.push(db.insert(ObjectType::Companies, p, Some(at)).0);
        }
        for i in 1..=contacts {
            let n = base_contact + i;
            let mut p = BTreeMap::new();
            p.insert("email".to_owned(), seed::email(n));
            p.insert("firstname".to_owned(), seed::first_name(n).to_owned());
            p.insert("lastname".to_owned(), seed::last_name(n).to_owned());
            p.insert("phone".to_owned(), format!("+1 555 {:04}", rng.random_range(0..10_000)));
            p.insert(
                "lifecyclestage".to_owned(),
                ["lead", "subscriber", "customer"][rng.random_range(0..3)].to_owned(),
            );
            let at = stamp(&mut rng, n);
            let (id, _) = db.insert(ObjectType::Contacts, p, Some(at));
            if !company_ids.is_empty() {
                let company = company_ids[(n % company_ids.len() as u64) as usize];
                db.link(ObjectType::Contacts, id, ObjectType::Companies, company, 279);
            }
        }
        for i in 1..=deals {
            let n = base_deal + i;
            let mut p = BTreeMap::new();
            p.insert("dealname".to_owned(), format!("Deal {n}"));
            p.insert("amount".to_owned(), rng.random_range(1_000..100_000).to_string());
            p.insert(
                "dealstage".to_owned(),
                ["appointmentscheduled", "qualifiedtobuy", "closedwon"][rng.random_range(0..3)].to_owned(),
            );
            p.insert("pipeline".to_owned(), "default".to_owned());
            let at = stamp(&mut rng, n);
            let (id, _) = db.insert(ObjectType::Deals, p, Some(at));
            if !company_ids.is_empty() {
                let company = company_ids[(n % company_ids.len() as u64) as usize];
                db.link(ObjectType::Deals, id, ObjectType::Companies, company, 341);
            }
        }
        tracing::info!(contacts, companies, deals, "hubspot seeded");
        SeedCounts { contacts, companies, deals }
    }

    /// Adds a HubSpot user who may own records; returns the owner id.
    pub fn add_owner(&self, first_name: &str, last_name: &str, email: &str) -> u64 {
        self.db().add_owner(super::model::Owner {
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            email: email.to_owned(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
    }

    /// Makes a static contact list with these members; returns its id.
    pub fn create_list(&self, name: &str, members: &[u64]) -> Result<u64, ApiError> {
        let mut db = self.db();
        let id = db.create_list(name);
        db.add_to_list(id, members)?;
        Ok(id)
    }

    /// Adds a contact to a static list or takes it out, as a person would
    /// (list membership changes no record and fires no webhook).
    pub fn set_list_membership(&self, list: u64, contact: u64, member: bool) -> Result<(), ApiError> {
        let mut db = self.db();
        if member { db.add_to_list(list, &[contact]).map(|_| ()) } else { db.remove_from_list(list, &[contact]) }
    }

    /// Applies an edit as a person would, firing webhooks; returns the id
    /// of the record it made or changed.
    pub fn user_edit(&self, edit: UserEdit) -> Result<u64, ApiError> {
        let mut db = self.db();
        let (id, events) = match edit {
            UserEdit::Create { object, properties } => db.create(object, &properties, Actor::User)?,
            UserEdit::Update { object, id, properties } => (id, db.update(object, id, &properties, Actor::User)?),
            UserEdit::Delete { object, id } => (id, db.archive(object, id)?),
            UserEdit::Merge { object, primary, merged } => (primary, db.merge(object, primary, merged)?),
            UserEdit::OptOut { contact, opted_out } => {
                let email = db
                    .get(ObjectType::Contacts, contact)
                    .filter(|r| r.is_live())
                    .and_then(|r| r.props.get("email").cloned())
                    .ok_or_else(|| ApiError::not_found(format!("No live contact {contact} with an email")))?;
                db.set_opt_out(&email, opted_out)?
            }
            UserEdit::Associate { from, id, to, to_id } => {
                let t = default_association_type(from, to)
                    .ok_or_else(|| ApiError::validation("No default association between these objects"))?;
                (id, db.associate(from, id, to, to_id, t)?)
            }
        };
        drop(db);
        self.emit(events, Actor::User);
        Ok(id)
    }
}

pub fn routes() -> Router<Arc<HubSpotState>> {
    Router::new()
        .route("/__sandbox/hubspot/seed", post(seed_route))
        .route("/__sandbox/hubspot/lists", post(create_list))
        .route("/__sandbox/hubspot/owners", post(create_owner))
        .route("/__sandbox/hubspot/webhooks", get(webhook_log))
        .route("/__sandbox/hubspot/webhooks/target", put(set_target))
        .route("/__sandbox/hubspot/records/{object}/{id}", get(raw_record))
        .route("/__sandbox/hubspot/batch-read/{object}", post(batch_read))
        .route("/__sandbox/hubspot/live-count/{object}", get(live_count))
        .route("/__sandbox/hubspot/users/associations/{from}/{id}/{to}/{to_id}", put(user_associate))
        .route("/__sandbox/hubspot/users/contacts/{id}/opt-out", post(user_opt_out))
        .route("/__sandbox/hubspot/users/{object}/merge", post(user_merge))
        .route("/__sandbox/hubspot/users/{object}", post(user_create))
        .route("/__sandbox/hubspot/users/{object}/{id}", axum::routing::patch(user_update).delete(user_delete))
}

#[derive(Deserialize)]
struct SeedBody {
    #[serde(default)]
    contacts: u64,
    #[serde(default)]
    companies: u64,
    #[serde(default)]
    deals: u64,
    #[serde(default = "one")]
    seed: u64,
}

fn one() -> u64 {
    1
}

fn object(s: &str) -> Result<ObjectType, ApiError> {
    ObjectType::parse(s).ok_or_else(|| ApiError::validation(format!("Unknown object type {s}")))
}

fn num(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::validation(format!("Invalid id {s}")))
}

async fn seed_route(State(st): S, Json(b): Json<SeedBody>) -> Json<SeedCounts> {
    Json(st.seed(b.seed, b.contacts, b.companies, b.deals))
}

async fn webhook_log(State(st): S) -> Response {
    Json(json!({ "deliveries": st.webhook_log() })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListBody {
    name: String,
    #[serde(default)]
    record_ids: Vec<u64>,
}

async fn create_list(State(st): S, Json(b): Json<ListBody>) -> Result<Response, ApiError> {
    let mut db = st.db();
    let id = db.create_list(&b.name);
    let missing = db.add_to_list(id, &b.record_ids)?;
    Ok((StatusCode::CREATED, Json(json!({ "listId": id.to_string(), "recordIdsMissing": missing }))).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OwnerBody {
    first_name: String,
    last_name: String,
    email: String,
}

/// `POST /__sandbox/hubspot/owners`: adds a HubSpot user who may own records.
async fn create_owner(State(st): S, Json(b): Json<OwnerBody>) -> Response {
    let id = st.add_owner(&b.first_name, &b.last_name, &b.email);
    (StatusCode::CREATED, Json(json!({ "id": id.to_string() }))).into_response()
}

#[derive(Deserialize)]
struct TargetBody {
    url: Option<String>,
}

async fn set_target(State(st): S, Json(b): Json<TargetBody>) -> StatusCode {
    st.set_webhook_target(b.url.as_deref());
    StatusCode::NO_CONTENT
}

async fn raw_record(State(st): S, Path((obj, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let ty = object(&obj)?;
    let db = st.db();
    let r = db.get(ty, num(&id)?).ok_or_else(|| ApiError::not_found("No such record"))?;
    Ok(Json(json!({ "id": r.id.to_string(), "properties": r.props, "archived": !r.is_live() })).into_response())
}

#[derive(Deserialize)]
struct BatchReadBody {
    ids: Vec<String>,
    /// Only these properties; every one when absent.
    #[serde(default)]
    properties: Option<Vec<String>>,
}

/// `POST /__sandbox/hubspot/batch-read/{object}`: many records in one call,
/// archived or not, never counted or rate limited (for tests and the bench,
/// which must not spend the API allowance they measure). Unknown ids are
/// left out.
async fn batch_read(State(st): S, Path(obj): Path<String>, Json(b): Json<BatchReadBody>) -> Result<Response, ApiError> {
    let ty = object(&obj)?;
    let db = st.db();
    let mut records = Map::new();
    for id in &b.ids {
        let Some(r) = db.get(ty, num(id)?) else { continue };
        let props: Map<String, Value> = r
            .props
            .iter()
            .filter(|(k, _)| b.properties.as_ref().is_none_or(|wanted| wanted.iter().any(|w| w == *k)))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        records.insert(id.clone(), Value::Object(props));
    }
    Ok(Json(json!({ "records": records })).into_response())
}

/// `GET /__sandbox/hubspot/live-count/{object}`: records not archived.
async fn live_count(State(st): S, Path(obj): Path<String>) -> Result<Response, ApiError> {
    let ty = object(&obj)?;
    Ok(Json(json!({ "live": st.live_count(ty) })).into_response())
}

#[derive(Deserialize)]
struct PropsBody {
    #[serde(default)]
    properties: Map<String, Value>,
}

fn edited(st: &HubSpotState, ty: ObjectType, id: u64, status: StatusCode) -> Response {
    let body = st.db().get(ty, id).map(|r| r.to_json(ty, Some(&r.props.keys().cloned().collect::<Vec<_>>())));
    (status, Json(body)).into_response()
}

async fn user_create(State(st): S, Path(obj): Path<String>, Json(b): Json<PropsBody>) -> Result<Response, ApiError> {
    let ty = object(&obj)?;
    let id = st.user_edit(UserEdit::Create { object: ty, properties: b.properties })?;
    Ok(edited(&st, ty, id, StatusCode::CREATED))
}

async fn user_update(
    State(st): S,
    Path((obj, id)): Path<(String, String)>,
    Json(b): Json<PropsBody>,
) -> Result<Response, ApiError> {
    let ty = object(&obj)?;
    let id = st.user_edit(UserEdit::Update { object: ty, id: num(&id)?, properties: b.properties })?;
    Ok(edited(&st, ty, id, StatusCode::OK))
}

async fn user_delete(State(st): S, Path((obj, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let ty = object(&obj)?;
    st.user_edit(UserEdit::Delete { object: ty, id: num(&id)? })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeBody {
    primary_object_id: Value,
    object_id_to_merge: Value,
}

fn id_value(v: &Value) -> Result<u64, ApiError> {
    match v {
        Value::String(s) => num(s),
        Value::Number(n) => n.as_u64().ok_or_else(|| ApiError::validation("Invalid id")),
        _ => Err(ApiError::validation("Invalid id")),
    }
}

async fn user_merge(State(st): S, Path(obj): Path<String>, Json(b): Json<MergeBody>) -> Result<Response, ApiError> {
    let ty = object(&obj)?;
    let id = st.user_edit(UserEdit::Merge {
        object: ty,
        primary: id_value(&b.primary_object_id)?,
        merged: id_value(&b.object_id_to_merge)?,
    })?;
    Ok(edited(&st, ty, id, StatusCode::OK))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OptOutBody {
    #[serde(default = "yes")]
    opted_out: bool,
}

fn yes() -> bool {
    true
}

async fn user_opt_out(State(st): S, Path(id): Path<String>, Json(b): Json<OptOutBody>) -> Result<Response, ApiError> {
    let id = st.user_edit(UserEdit::OptOut { contact: num(&id)?, opted_out: b.opted_out })?;
    Ok(edited(&st, ObjectType::Contacts, id, StatusCode::OK))
}

async fn user_associate(
    State(st): S,
    Path((from, id, to, to_id)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    st.user_edit(UserEdit::Associate { from: object(&from)?, id: num(&id)?, to: object(&to)?, to_id: num(&to_id)? })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::hubspot::HubSpotOptions;

    #[test]
    fn the_same_seed_number_gives_the_same_records() {
        let a = HubSpotState::new(HubSpotOptions {
            seed_contacts: 20,
            seed_companies: 3,
            seed_deals: 4,
            seed: 9,
            ..HubSpotOptions::default()
        });
        let b = HubSpotState::new(HubSpotOptions {
            seed_contacts: 20,
            seed_companies: 3,
            seed_deals: 4,
            seed: 9,
            ..HubSpotOptions::default()
        });
        for ty in ObjectType::ALL {
            let ids: Vec<u64> = a.db().tables[&ty].records.keys().copied().collect();
            for id in ids {
                assert_eq!(a.properties(ty, id), b.properties(ty, id));
            }
        }
        assert_eq!(a.properties(ObjectType::Contacts, 10_004).unwrap()["email"], "person1@example.com");
        let assoc = a.db().associations(ObjectType::Contacts, 10_004, ObjectType::Companies);
        assert_eq!(assoc.len(), 1);
    }

    #[test]
    fn a_quarter_million_contacts_seed_in_process() {
        let st = HubSpotState::new(HubSpotOptions::default());
        let counts = st.seed(1, 250_001, 0, 0);
        assert_eq!(counts.contacts, 250_001);
        assert_eq!(st.live_count(ObjectType::Contacts), 250_001);
        assert_eq!(
            st.db().find(ObjectType::Contacts, "person250001@example.com", Some("email"), false).map(|_| ()).ok(),
            Some(())
        );
    }

    #[test]
    fn with_auto_created_companies_a_new_contact_finds_or_makes_the_company_of_its_email_domain() {
        let st = HubSpotState::new(HubSpotOptions { auto_create_companies: true, ..HubSpotOptions::default() });
        let person = |email: &str| {
            let mut p = Map::new();
            p.insert("email".into(), json!(email));
            st.user_edit(UserEdit::Create { object: ObjectType::Contacts, properties: p }).unwrap()
        };
        let ada = person("ada@globex.example.com");
        let companies = st.db().associations(ObjectType::Contacts, ada, ObjectType::Companies);
        assert_eq!(companies.len(), 1);
        let company = st.properties(ObjectType::Companies, companies[0].0).unwrap();
        assert_eq!(company["domain"], "globex.example.com");
        assert_eq!(company["hs_object_source"], "CRM_SETTING");
        assert_eq!(st.properties(ObjectType::Contacts, ada).unwrap()["hs_object_source"], "CRM_UI");

        let bob = person("bob@globex.example.com");
        assert_eq!(
            st.db().associations(ObjectType::Contacts, bob, ObjectType::Companies),
            companies,
            "the same company"
        );
        assert_eq!(st.live_count(ObjectType::Companies), 1);

        let plain = HubSpotState::new(HubSpotOptions::default());
        let mut p = Map::new();
        p.insert("email".into(), json!("ada@globex.example.com"));
        plain.user_edit(UserEdit::Create { object: ObjectType::Contacts, properties: p }).unwrap();
        assert_eq!(plain.live_count(ObjectType::Companies), 0, "the setting is off by default");
    }

    #[test]
    fn user_edits_obey_the_same_rules_as_the_api() {
        let st = HubSpotState::new(HubSpotOptions::default());
        let mut p = Map::new();
        p.insert("email".into(), json!("u@example.com"));
        st.user_edit(UserEdit::Create { object: ObjectType::Contacts, properties: p.clone() }).unwrap();
        let err = st.user_edit(UserEdit::Create { object: ObjectType::Contacts, properties: p }).unwrap_err();
        assert_eq!(err.category, "CONFLICT");
        let err = st.user_edit(UserEdit::Delete { object: ObjectType::Deals, id: 1 }).unwrap_err();
        assert_eq!(err.category, "OBJECT_NOT_FOUND");
    }
}
