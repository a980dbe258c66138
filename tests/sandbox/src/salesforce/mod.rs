//! The fake Salesforce API (contract: `SalesforceOptions`, `SalesforceState::new`, `router`).
//!
//! Serves the OAuth token endpoint, the REST data paths under
//! `/services/data/vNN.0/` (Composite included), the Tooling API calls setup
//! makes, Bulk API 2.0 query jobs and outbound messages
//! from one in-memory org, plus the Salesforce part of the control API under
//! `/__sandbox/salesforce/` (edits "as a user", expiring sessions, limits).

pub mod auth;
pub mod bulk;
pub mod composite;
pub mod data;
pub mod ids;
pub mod outbound;
pub mod rest;
pub mod schema;
pub mod soql;
pub mod tooling;

use axum::routing::{get, post};
use data::{Actor, Org, SfError, Value, WriteEvent};
use rand::Rng;
use serde_json::{Map, Value as Json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Default OAuth client id (consumer key) of the fake connected app.
pub const DEFAULT_CLIENT_ID: &str = "crm-sync-sandbox";
/// Default client secret of the fake connected app.
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-secret";
/// Default integration user (the JWT `sub`).
pub const DEFAULT_USERNAME: &str = "integration@crm-sync.sandbox";
/// The RSA key pair of the JWT bearer flow: the sandbox trusts the public key,
/// clients sign with the private one. Test fixtures, not secrets.
pub const DEFAULT_JWT_PRIVATE_KEY_PEM: &str = include_str!("../../keys/jwt-private.pem");
pub const DEFAULT_JWT_PUBLIC_KEY_PEM: &str = include_str!("../../keys/jwt-public.pem");
/// The fake org's id.
pub const ORG_ID: &str = "00DRO0000000001AAA";

#[derive(Debug, Clone)]
pub struct SalesforceOptions {
    /// Seed number for generated records.
    pub seed: u64,
    pub leads: u64,
    pub contacts: u64,
    pub accounts: u64,
    pub opportunities: u64,
    /// The org's rolling 24-hour API request allocation.
    pub daily_api_limit: u64,
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    /// PEM of the RSA public key JWT assertions are verified with.
    pub jwt_public_key_pem: String,
    /// Where outbound messages (SOAP) go; none are sent when unset.
    pub outbound_url: Option<String>,
    /// Keep outbound messages instead of sending them, until a test takes
    /// them with [`SalesforceState::take_outbound_messages`] and delivers
    /// them itself (deterministic delivery: dropped, repeated, reordered).
    pub outbound_hold: bool,
    /// First retry delay of an unacknowledged outbound message (doubles, up to 30 s).
    pub outbound_retry: Duration,
    /// Attempts before an outbound message is dropped.
    pub outbound_max_attempts: u32,
    /// Status polls a Bulk query job takes to reach `JobComplete`.
    pub bulk_polls_to_complete: u32,
    /// Rows per Bulk result page when the client sends no `maxRecords`.
    pub bulk_default_page: usize,
    /// Ids one getUpdated window may hold before `EXCEEDED_ID_LIMIT`
    /// (600,000 in a real org; lowered in tests).
    pub replication_id_limit: usize,
    /// Start with crm-sync's own custom fields (`HubSpot_Id__c`, External
    /// ID, unique, on Lead, Contact, Account and Opportunity) as `crm-sync
    /// setup --apply` creates them. Off: the org is bare, as a real one is.
    pub crm_sync_fields: bool,
}

impl Default for SalesforceOptions {
    fn default() -> Self {
        SalesforceOptions {
            seed: 42,
            leads: 0,
            contacts: 0,
            accounts: 0,
            opportunities: 0,
            daily_api_limit: 100_000,
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            username: DEFAULT_USERNAME.into(),
            jwt_public_key_pem: DEFAULT_JWT_PUBLIC_KEY_PEM.into(),
            outbound_url: None,
            outbound_hold: false,
            outbound_retry: Duration::from_millis(200),
            outbound_max_attempts: 20,
            bulk_polls_to_complete: 2,
            bulk_default_page: 50_000,
            replication_id_limit: 600_000,
            crm_sync_fields: false,
        }
    }
}

/// Outbound-message delivery figures.
#[derive(Debug, Default)]
pub struct OutboundStats {
    /// POSTs made, including retries.
    pub attempts: AtomicU64,
    /// Messages acknowledged with `<Ack>true</Ack>`.
    pub delivered: AtomicU64,
    /// Notifications inside acknowledged messages.
    pub notifications: AtomicU64,
    /// Messages given up after the last attempt.
    pub dropped: AtomicU64,
}

/// The fake org and everything around it.
#[derive(Debug)]
pub struct SalesforceState {
    pub options: SalesforceOptions,
    base_url: RwLock<String>,
    org: RwLock<Org>,
    pub(crate) sessions: Mutex<HashSet<String>>,
    pub(crate) api_used: AtomicU64,
    pub(crate) api_max: AtomicU64,
    pub(crate) cursors: Mutex<HashMap<String, rest::Cursor>>,
    pub(crate) jobs: Mutex<HashMap<String, bulk::Job>>,
    pub(crate) counter: AtomicU64,
    outbound_tx: Mutex<Option<tokio::sync::mpsc::UnboundedSender<(usize, ids::SfId)>>>,
    /// Notifications kept by `outbound_hold`.
    outbound_held: Mutex<Vec<(usize, ids::SfId)>>,
    pub outbound_stats: OutboundStats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SalesforceState {
    pub fn new(options: SalesforceOptions) -> Arc<Self> {
        let mut org = Org::with_fields(options.crm_sync_fields);
        seed_org(&mut org, &options);
        Arc::new(SalesforceState {
            api_max: AtomicU64::new(options.daily_api_limit),
            options,
            base_url: RwLock::new("http://127.0.0.1".into()),
            org: RwLock::new(org),
            sessions: Mutex::new(HashSet::new()),
            api_used: AtomicU64::new(0),
            cursors: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(1),
            outbound_tx: Mutex::new(None),
            outbound_held: Mutex::new(Vec::new()),
            outbound_stats: OutboundStats::default(),
        })
    }

    pub fn set_base_url(&self, url: &str) {
        if let Ok(mut b) = self.base_url.write() {
            *b = url.trim_end_matches('/').to_owned();
        }
    }

    pub fn base_url(&self) -> String {
        self.base_url.read().map(|b| b.clone()).unwrap_or_default()
    }

    pub(crate) fn org_read(&self) -> RwLockReadGuard<'_, Org> {
        self.org.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn org_write(&self) -> RwLockWriteGuard<'_, Org> {
        self.org.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands queued outbound notifications to the sender task.
    pub(crate) fn flush_outbound(&self, org: &mut Org) {
        let pending = std::mem::take(&mut org.outbound);
        if self.options.outbound_hold {
            lock(&self.outbound_held).extend(pending);
            return;
        }
        if let Some(tx) = lock(&self.outbound_tx).as_ref() {
            for item in pending {
                let _ = tx.send(item);
            }
        }
    }

    pub(crate) fn next_number(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    /// The outbound messages kept since the last call (`outbound_hold`), as
    /// the SOAP bodies the sender would POST now: grouped per object, at most
    /// 100 notifications each, with the records' latest values.
    pub fn take_outbound_messages(&self) -> Vec<String> {
        let held = std::mem::take(&mut *lock(&self.outbound_held));
        let org = self.org_read();
        outbound::messages(self, &held)
            .into_iter()
            .map(|(object, records)| outbound::envelope(&org, object, &records, &self.base_url()))
            .collect()
    }

    /// Stops the outbound sender.
    pub fn stop(&self) {
        lock(&self.outbound_tx).take();
    }

    /// True once [`stop`](Self::stop) ran (or no outbound URL was set).
    pub(crate) fn outbound_stopped(&self) -> bool {
        lock(&self.outbound_tx).is_none()
    }

    // ---- in-process control, for tests ----

    /// Creates a record as a person in the UI (not the integration user).
    pub fn create_as_user(&self, object: &str, fields: Json) -> Result<String, SfError> {
        let mut org = self.org_write();
        let ix = org.find_object(object)?;
        let id = org.insert(ix, &as_map(fields)?, Actor::User, None, true)?;
        self.flush_outbound(&mut org);
        Ok(id.to_string())
    }

    /// Updates a record as a person in the UI.
    pub fn update_as_user(&self, object: &str, id: &str, fields: Json) -> Result<(), SfError> {
        let mut org = self.org_write();
        let ix = org.find_object(object)?;
        org.update(ix, id, &as_map(fields)?, Actor::User, None)?;
        self.flush_outbound(&mut org);
        Ok(())
    }

    /// Deletes (to the Recycle Bin) as a person in the UI.
    pub fn delete_as_user(&self, object: &str, id: &str) -> Result<(), SfError> {
        let mut org = self.org_write();
        let ix = org.find_object(object)?;
        org.delete(ix, id, Actor::User, None).map(|_| ())
    }

    /// Merges `loser` into `winner` as a person in the UI.
    pub fn merge_as_user(&self, object: &str, winner: &str, loser: &str) -> Result<(), SfError> {
        let mut org = self.org_write();
        let ix = org.find_object(object)?;
        org.merge(ix, winner, loser, Actor::User)?;
        self.flush_outbound(&mut org);
        Ok(())
    }

    /// Converts a Lead as a person in the UI; returns (contact id, account id).
    pub fn convert_lead_as_user(&self, lead: &str) -> Result<(String, String), SfError> {
        let mut org = self.org_write();
        let (contact, account) = org.convert_lead(lead, Actor::User)?;
        self.flush_outbound(&mut org);
        Ok((contact.to_string(), account.to_string()))
    }

    /// A record with every field, deleted ones included; `None` if unknown.
    pub fn record(&self, object: &str, id: &str) -> Option<Json> {
        let org = self.org_read();
        let ix = org.object_index(object)?;
        let rec = org.get(ix, &ids::SfId::parse(id)?)?;
        Some(org.record_json(ix, rec, None, "v66.0"))
    }

    /// Sets the integration user's field-level security on a field: `Edit`,
    /// `Read` (describe says read-only, writes are refused) or `Hidden`
    /// (absent from describe, unknown to queries and writes).
    pub fn set_field_access(&self, object: &str, field: &str, access: schema::Access) -> Result<(), SfError> {
        let mut org = self.org_write();
        let ix = org.find_object(object)?;
        org.set_access(ix, field, access)
    }

    /// Whether an object has a field (standard, or custom as created).
    pub fn has_field(&self, object: &str, field: &str) -> bool {
        let org = self.org_read();
        org.object_index(object).is_some_and(|ix| org.objects[ix].field(field).is_some())
    }

    /// Live records of one object.
    pub fn live_count(&self, object: &str) -> usize {
        let org = self.org_read();
        org.object_index(object).map(|ix| org.live_count(ix)).unwrap_or(0)
    }

    /// Every write made through the API or the control API, in order.
    pub fn writes(&self) -> Vec<WriteEvent> {
        self.org_read().writes.clone()
    }

    /// Makes every issued access token invalid (the next call gets 401).
    pub fn expire_sessions(&self) {
        lock(&self.sessions).clear();
    }

    /// Sets the API calls used and the allocation.
    pub fn set_api_usage(&self, used: u64, max: u64) {
        self.api_used.store(used, Ordering::SeqCst);
        self.api_max.store(max, Ordering::SeqCst);
    }

    /// (used, max) of the daily API allocation.
    pub fn api_usage(&self) -> (u64, u64) {
        (self.api_used.load(Ordering::SeqCst), self.api_max.load(Ordering::SeqCst))
    }

    /// Adds `count` generated records of `object` (Lead, Contact, Account,
    /// Opportunity) without validation or outbound messages: fast enough for
    /// hundreds of thousands of records. Returns the object's record count.
    pub fn seed(&self, object: &str, count: u64) -> Result<usize, SfError> {
        let mut org = self.org_write();
        let ix = org.find_object(object)?;
        seed_object(&mut org, ix, count, self.options.seed);
        Ok(org.live_count(ix))
    }
}

fn as_map(fields: Json) -> Result<Map<String, Json>, SfError> {
    match fields {
        Json::Object(m) => Ok(m),
        _ => Err(SfError::new(400, "JSON_PARSER_ERROR", "expected a JSON object")),
    }
}

fn seed_org(org: &mut Org, options: &SalesforceOptions) {
    for (name, n) in [
        ("Account", options.accounts),
        ("Contact", options.contacts),
        ("Lead", options.leads),
        ("Opportunity", options.opportunities),
    ] {
        if let Some(ix) = org.object_index(name) {
            seed_object(org, ix, n, options.seed);
        }
    }
}

/// Generated records: emails come from the shared pool (contacts even,
/// leads odd numbers; every 25th lead reuses a contact's email so the org
/// has the duplicates real orgs have).
fn seed_object(org: &mut Org, object: usize, count: u64, seed: u64) {
    use crate::seed;
    let def = org.objects[object].clone();
    let f = |name: &str| def.field_index(name).map(|i| i as u16);
    let start = org.tables[object].records.len() as u64;
    let mut rng = seed::rng(seed, &format!("salesforce.{}.{start}", def.name));
    let now = chrono::Utc::now().timestamp_millis();
    let accounts: Vec<ids::SfId> = org
        .object_index("Account")
        .map(|a| org.tables[a].records.keys().take(10_000).copied().collect())
        .unwrap_or_default();
    let text = |s: String| Value::Str(s.into_boxed_str());
    for i in start..start + count {
        let created = now - rng.random_range(86_400_000i64..30 * 86_400_000);
        let modified = created + rng.random_range(0..86_400_000i64);
        let modified = modified.min(now - 1);
        let mut fields: Vec<(u16, Value)> = Vec::with_capacity(8);
        let mut push = |name: &str, v: Value| {
            if let Some(ix) = f(name) {
                fields.push((ix, v));
            }
        };
        match def.name {
            "Lead" => {
                push("FirstName", text(seed::first_name(i).into()));
                push("LastName", text(seed::last_name(i).into()));
                push("Company", text(format!("{} {}", seed::company(i), i)));
                let email = if i % 25 == 24 { seed::email(2 * i) } else { seed::email(2 * i + 1) };
                push("Email", text(email));
            }
            "Contact" => {
                push("FirstName", text(seed::first_name(i).into()));
                push("LastName", text(seed::last_name(i).into()));
                push("Email", text(seed::email(2 * i)));
                if !accounts.is_empty() {
                    push("AccountId", text(accounts[(i as usize) % accounts.len()].to_string()));
                }
            }
            "Account" => {
                push("Name", text(format!("{} {}", seed::company(i), i)));
                push(
                    "Website",
                    text(format!("https://{}{i}.example.com", seed::company(i).to_lowercase().replace(' ', ""))),
                );
                push("Industry", text("Technology".into()));
            }
            "Opportunity" => {
                push("Name", text(format!("Deal {i}")));
                push("StageName", text("Prospecting".into()));
                push("CloseDate", Value::Date((now / 86_400_000) as i32 + rng.random_range(1..90)));
                push("Amount", Value::Num(f64::from(rng.random_range(1..500u32)) * 100.0));
                push("Probability", Value::Num(10.0));
                if !accounts.is_empty() {
                    push("AccountId", text(accounts[(i as usize) % accounts.len()].to_string()));
                }
            }
            _ => {
                push("Name", text(format!("{} {i}", def.name)));
            }
        }
        org.seed_record(object, fields, created, modified);
    }
}

/// The HTTP surface: token endpoint, data paths behind the bearer check,
/// and the Salesforce control API.
pub fn router(state: Arc<SalesforceState>) -> axum::Router {
    if state.options.outbound_url.is_some()
        && let Ok(handle) = tokio::runtime::Handle::try_current()
    {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *lock(&state.outbound_tx) = Some(tx);
        handle.spawn(outbound::run(state.clone(), rx));
    }
    let data = rest::routes()
        .merge(bulk::routes())
        .merge(composite::routes())
        .merge(tooling::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard));
    let control = axum::Router::new()
        .route("/__sandbox/salesforce/records/{object}", post(control_create))
        .route(
            "/__sandbox/salesforce/records/{object}/{id}",
            get(control_get).patch(control_update).delete(control_delete),
        )
        .route("/__sandbox/salesforce/records/{object}/{id}/merge", post(control_merge))
        .route("/__sandbox/salesforce/leads/{id}/convert", post(control_convert))
        .route("/__sandbox/salesforce/sessions/expire", post(control_expire))
        .route("/__sandbox/salesforce/limits", get(control_limits).put(control_set_limits))
        .route("/__sandbox/salesforce/writes", get(control_writes))
        .route("/__sandbox/salesforce/outbound", get(control_outbound))
        .route("/__sandbox/salesforce/seed/{object}", post(control_seed))
        .route("/__sandbox/salesforce/fields/{object}/{field}/access", axum::routing::put(control_field_access));
    let routes = axum::Router::new()
        .route("/services/oauth2/token", post(auth::token))
        .route("/services/data", get(rest::versions))
        .merge(data)
        .merge(control)
        .with_state(state);
    // Salesforce takes a path with a trailing slash as the path without it.
    let exact = routes.clone();
    routes.fallback_service(tower::service_fn(move |mut request: axum::extract::Request| {
        let exact = exact.clone();
        async move {
            let path = request.uri().path();
            if path.len() > 1 && path.ends_with('/') {
                let trimmed = path.trim_end_matches('/');
                let rewritten = match request.uri().query() {
                    Some(query) => format!("{trimmed}?{query}"),
                    None => trimmed.to_owned(),
                };
                if let Ok(uri) = rewritten.parse() {
                    *request.uri_mut() = uri;
                }
            }
            tower::ServiceExt::oneshot(exact, request).await
        }
    }))
}

use axum::{
    Json as AxJson,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

fn control_error(e: SfError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, AxJson(e.rest_body())).into_response()
}

async fn control_create(
    State(s): State<Arc<SalesforceState>>,
    Path(object): Path<String>,
    AxJson(body): AxJson<Json>,
) -> Response {
    match s.create_as_user(&object, body) {
        Ok(id) => {
            (StatusCode::CREATED, AxJson(serde_json::json!({"id": id, "success": true, "errors": []}))).into_response()
        }
        Err(e) => control_error(e),
    }
}

async fn control_get(State(s): State<Arc<SalesforceState>>, Path((object, id)): Path<(String, String)>) -> Response {
    match s.record(&object, &id) {
        Some(r) => AxJson(r).into_response(),
        None => control_error(SfError::not_found()),
    }
}

async fn control_update(
    State(s): State<Arc<SalesforceState>>,
    Path((object, id)): Path<(String, String)>,
    AxJson(body): AxJson<Json>,
) -> Response {
    match s.update_as_user(&object, &id, body) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_delete(State(s): State<Arc<SalesforceState>>, Path((object, id)): Path<(String, String)>) -> Response {
    match s.delete_as_user(&object, &id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

#[derive(Debug, serde::Deserialize)]
struct MergeBody {
    loser: String,
}

async fn control_merge(
    State(s): State<Arc<SalesforceState>>,
    Path((object, id)): Path<(String, String)>,
    AxJson(body): AxJson<MergeBody>,
) -> Response {
    match s.merge_as_user(&object, &id, &body.loser) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_convert(State(s): State<Arc<SalesforceState>>, Path(id): Path<String>) -> Response {
    match s.convert_lead_as_user(&id) {
        Ok((contact, account)) => {
            AxJson(serde_json::json!({"contactId": contact, "accountId": account})).into_response()
        }
        Err(e) => control_error(e),
    }
}

async fn control_expire(State(s): State<Arc<SalesforceState>>) -> StatusCode {
    s.expire_sessions();
    StatusCode::NO_CONTENT
}

async fn control_limits(State(s): State<Arc<SalesforceState>>) -> AxJson<Json> {
    let (used, max) = s.api_usage();
    AxJson(serde_json::json!({"used": used, "max": max}))
}

#[derive(Debug, serde::Deserialize)]
struct LimitsBody {
    used: Option<u64>,
    max: Option<u64>,
}

async fn control_set_limits(State(s): State<Arc<SalesforceState>>, AxJson(b): AxJson<LimitsBody>) -> StatusCode {
    let (used, max) = s.api_usage();
    s.set_api_usage(b.used.unwrap_or(used), b.max.unwrap_or(max));
    StatusCode::NO_CONTENT
}

async fn control_writes(State(s): State<Arc<SalesforceState>>) -> AxJson<Json> {
    let writes: Vec<Json> = s
        .writes()
        .into_iter()
        .map(|w| {
            serde_json::json!({
                "object": w.object,
                "id": w.id,
                "op": format!("{:?}", w.op).to_lowercase(),
                "actor": format!("{:?}", w.actor).to_lowercase(),
                "client": w.client,
                "at": data::format_datetime(w.at),
            })
        })
        .collect();
    AxJson(Json::Array(writes))
}

async fn control_outbound(State(s): State<Arc<SalesforceState>>) -> AxJson<Json> {
    let st = &s.outbound_stats;
    AxJson(serde_json::json!({
        "attempts": st.attempts.load(Ordering::SeqCst),
        "delivered": st.delivered.load(Ordering::SeqCst),
        "notifications": st.notifications.load(Ordering::SeqCst),
        "dropped": st.dropped.load(Ordering::SeqCst),
    }))
}

#[derive(Debug, serde::Deserialize)]
struct AccessBody {
    access: String,
}

async fn control_field_access(
    State(s): State<Arc<SalesforceState>>,
    Path((object, field)): Path<(String, String)>,
    AxJson(b): AxJson<AccessBody>,
) -> Response {
    let Some(access) = schema::Access::parse(&b.access) else {
        return control_error(SfError::new(400, "INVALID_INPUT", "access is one of edit, read, none"));
    };
    match s.set_field_access(&object, &field, access) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(e),
    }
}

#[derive(Debug, serde::Deserialize)]
struct SeedBody {
    count: u64,
}

async fn control_seed(
    State(s): State<Arc<SalesforceState>>,
    Path(object): Path<String>,
    AxJson(b): AxJson<SeedBody>,
) -> Response {
    match s.seed(&object, b.count) {
        Ok(total) => AxJson(serde_json::json!({"total": total})).into_response(),
        Err(e) => control_error(e),
    }
}
