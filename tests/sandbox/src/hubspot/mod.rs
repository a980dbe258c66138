//! The fake HubSpot API (contract: `HubSpotOptions`, `HubSpotState::new`, `router`).
//!
//! Serves CRM v3 objects (contacts, companies, deals), batch and search,
//! properties, associations v4, communication preferences, rate limits with
//! HubSpot's headers and 429 bodies, and webhook deliveries, from memory.
//! The control API under `/__sandbox/hubspot/` seeds data and makes edits
//! "as a user" (those fire webhooks with `changeSource: CRM_UI`; writes made
//! through the API fire them with `changeSource: INTEGRATION`).
//!
//! Layout: `model` (records and write rules), `search`, `api` (HTTP
//! handlers), `webhooks` (the sender), `control` (seeding, user edits).
//! Call counting, injected faults and latency are the common frame's
//! (`crate::control`), not this module's.

mod account;
mod api;
mod cli;
mod control;
pub mod model;
pub mod search;
pub mod webhooks;

pub use cli::HubSpotArgs;
pub use control::{SeedCounts, UserEdit};
pub use model::{ApiError, ObjectType};
pub use webhooks::{DeliveryLog, sign_v1, sign_v2, sign_v3};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::{NaiveDate, Utc};
use model::Db;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use webhooks::{WebhookConfig, WebhookSender};

/// The private-app token the fake accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "pat-na1-11111111-2222-4333-8444-555555555555";
/// The app's client secret that signs webhook deliveries.
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-hubspot-client-secret";
pub const DEFAULT_APP_ID: u64 = 987_654;
pub const DEFAULT_PORTAL_ID: u64 = 12_345_678;

#[derive(Debug, Clone)]
pub struct HubSpotOptions {
    /// The accepted private-app bearer token.
    pub token: String,
    /// Records seeded at start (no webhooks fire for them).
    pub seed_contacts: u64,
    pub seed_companies: u64,
    pub seed_deals: u64,
    /// Seed number: the same number gives the same records.
    pub seed: u64,
    /// Users who may own records, added at start: (first name, last name,
    /// email).
    pub owners: Vec<(String, String, String)>,
    /// Where webhook deliveries go; none are sent when unset.
    pub webhook_url: Option<String>,
    /// The app's client secret: the key of the v1/v2/v3 signatures.
    pub client_secret: String,
    pub app_id: u64,
    pub portal_id: u64,
    /// Requests allowed per rolling 10 seconds (search excluded).
    pub rate_limit_per_10s: u32,
    /// Requests allowed per UTC day (search included).
    pub daily_limit: u64,
    /// Search requests allowed per second.
    pub search_per_second: u32,
    /// Records modified within this lag do not yet appear in search.
    pub search_indexing_lag: Option<Duration>,
    /// First webhook retry delay (doubling per attempt).
    pub webhook_retry_base: Duration,
    /// Webhook attempts in all, first one included.
    pub webhook_max_attempts: u32,
    /// How long the sender gathers events into one request.
    pub webhook_batch_window: Duration,
    /// Send every delivered batch twice (tests of at-least-once handling).
    pub webhook_duplicates: bool,
    /// Reverse the order of events within each request.
    pub webhook_reorder: bool,
    /// HubSpot's "automatically create and associate companies with
    /// contacts" setting: each new contact is associated with the company of
    /// its email domain, created (record source `CRM_SETTING`) if missing.
    pub auto_create_companies: bool,
    /// Keep webhook events instead of sending them, until a test takes them
    /// with [`HubSpotState::take_webhook_batches`] and delivers them itself.
    pub webhook_hold: bool,
    /// Start with crm-sync's own properties (`salesforce_id`,
    /// `salesforce_campaigns`) as `crm-sync setup --apply` creates them.
    /// Off: the account has HubSpot's standard properties only.
    pub crm_sync_properties: bool,
    /// The scopes the private-app token was granted (token info).
    pub scopes: Vec<String>,
}

/// The scopes a private app for crm-sync is given (docs/deploy.md).
pub const DEFAULT_SCOPES: &[&str] = &[
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.schemas.deals.read",
    "crm.schemas.deals.write",
    "crm.lists.read",
    "crm.lists.write",
    "communication_preferences.read_write",
];

impl Default for HubSpotOptions {
    fn default() -> Self {
        Self {
            token: DEFAULT_TOKEN.to_owned(),
            seed_contacts: 0,
            seed_companies: 0,
            seed_deals: 0,
            seed: 1,
            owners: Vec::new(),
            webhook_url: None,
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            app_id: DEFAULT_APP_ID,
            portal_id: DEFAULT_PORTAL_ID,
            rate_limit_per_10s: 190,
            daily_limit: 1_000_000,
            search_per_second: 5,
            search_indexing_lag: None,
            webhook_retry_base: Duration::from_secs(1),
            webhook_max_attempts: 10,
            webhook_batch_window: Duration::from_millis(50),
            webhook_duplicates: false,
            webhook_reorder: false,
            auto_create_companies: false,
            webhook_hold: false,
            crm_sync_properties: false,
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// Rolling-window and daily counters of one token.
#[derive(Debug)]
struct Limiter {
    per_10s: u32,
    daily: u64,
    per_second_search: u32,
    window: VecDeque<Instant>,
    search_window: VecDeque<Instant>,
    day: NaiveDate,
    used_today: u64,
}

/// What a rate-limited request gets.
enum Verdict {
    /// Allowed; the headers to send (none for search).
    Allowed(Option<(u32, u64)>),
    /// Refused by a policy; the daily requests left.
    Denied(&'static str, u64),
}

impl Limiter {
    fn check(&mut self, search: bool) -> Verdict {
        let now = Instant::now();
        let today = Utc::now().date_naive();
        if today != self.day {
            self.day = today;
            self.used_today = 0;
        }
        if self.used_today >= self.daily {
            return Verdict::Denied("DAILY", 0);
        }
        if search {
            while self.search_window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
                self.search_window.pop_front();
            }
            if self.search_window.len() >= self.per_second_search as usize {
                return Verdict::Denied("SECONDLY", self.daily.saturating_sub(self.used_today));
            }
            self.search_window.push_back(now);
            self.used_today += 1;
            return Verdict::Allowed(None);
        }
        while self.window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(10)) {
            self.window.pop_front();
        }
        if self.window.len() >= self.per_10s as usize {
            return Verdict::Denied("TEN_SECONDLY_ROLLING", self.daily.saturating_sub(self.used_today));
        }
        self.window.push_back(now);
        self.used_today += 1;
        let remaining = self.per_10s.saturating_sub(self.window.len() as u32);
        Verdict::Allowed(Some((remaining, self.daily.saturating_sub(self.used_today))))
    }
}

#[derive(Debug)]
pub struct HubSpotState {
    options: HubSpotOptions,
    db: Mutex<Db>,
    limiter: Mutex<Limiter>,
    webhooks: Mutex<Option<Arc<WebhookSender>>>,
}

impl HubSpotState {
    /// Builds the state and seeds it. Call inside a tokio runtime when a
    /// webhook URL is set, so the sender can start.
    pub fn new(options: HubSpotOptions) -> Arc<Self> {
        let target = options.webhook_url.clone().or_else(|| options.webhook_hold.then(String::new));
        let webhooks = Mutex::new(target.as_deref().map(|url| Self::sender(&options, url)));
        let limiter = Limiter {
            per_10s: options.rate_limit_per_10s,
            daily: options.daily_limit,
            per_second_search: options.search_per_second,
            window: VecDeque::new(),
            search_window: VecDeque::new(),
            day: Utc::now().date_naive(),
            used_today: 0,
        };
        let mut db = Db::new();
        if options.crm_sync_properties {
            db.define_crm_sync_properties();
        }
        db.auto_create_companies = options.auto_create_companies;
        let state = Arc::new(Self { db: Mutex::new(db), limiter: Mutex::new(limiter), webhooks, options });
        state.seed(
            state.options.seed,
            state.options.seed_contacts,
            state.options.seed_companies,
            state.options.seed_deals,
        );
        for (first, last, email) in &state.options.owners {
            state.add_owner(first, last, email);
        }
        state
    }

    fn sender(options: &HubSpotOptions, url: &str) -> Arc<WebhookSender> {
        WebhookSender::start(WebhookConfig {
            target_url: url.to_owned(),
            client_secret: options.client_secret.clone(),
            app_id: options.app_id,
            portal_id: options.portal_id,
            retry_base: options.webhook_retry_base,
            max_attempts: options.webhook_max_attempts.max(1),
            batch_window: options.webhook_batch_window,
            duplicate: options.webhook_duplicates,
            reorder: options.webhook_reorder,
            hold: options.webhook_hold,
        })
    }

    /// Points webhook deliveries somewhere else (or nowhere) from now on;
    /// must be called inside a tokio runtime. Queued events of the old
    /// target are dropped with it.
    pub fn set_webhook_target(&self, url: Option<&str>) {
        let sender = url.map(|u| Self::sender(&self.options, u));
        *self.webhooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = sender;
    }

    fn webhook_sender(&self) -> Option<Arc<WebhookSender>> {
        self.webhooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn options(&self) -> &HubSpotOptions {
        &self.options
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        // The data stays consistent between statements, so a poisoned lock is usable.
        self.db.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn limiter(&self) -> MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Live records of a type.
    pub fn live_count(&self, ty: ObjectType) -> usize {
        self.db().tables[&ty].records.values().filter(|r| r.is_live()).count()
    }

    /// Whether a record exists and is neither archived nor merged away.
    pub fn is_live(&self, ty: ObjectType, id: u64) -> bool {
        self.db().get(ty, id).is_some_and(|r| r.is_live())
    }

    /// A record's properties (live or archived).
    pub fn properties(&self, ty: ObjectType, id: u64) -> Option<std::collections::BTreeMap<String, String>> {
        self.db().get(ty, id).map(|r| r.props.clone())
    }

    /// The events kept since the last call (`webhook_hold`), as the
    /// requests the sender would make: JSON arrays of at most 100 events.
    pub fn take_webhook_batches(&self) -> Vec<Vec<serde_json::Value>> {
        self.webhook_sender().map(|w| w.take_held()).unwrap_or_default()
    }

    /// Webhook deliveries attempted so far.
    pub fn webhook_log(&self) -> Vec<DeliveryLog> {
        self.webhook_sender().map(|w| w.log()).unwrap_or_default()
    }

    /// Webhook events made so far, delivered or not.
    pub fn webhook_events_made(&self) -> u64 {
        self.webhook_sender().map(|w| w.events_made()).unwrap_or_default()
    }

    /// Webhook events whose delivery was answered 2xx so far.
    pub fn webhook_events_acknowledged(&self) -> u64 {
        self.webhook_log().iter().filter(|d| (200..300).contains(&d.status)).map(|d| d.events as u64).sum()
    }

    fn emit(&self, events: Vec<model::EventDraft>, actor: model::Actor) {
        let Some(w) = self.webhook_sender() else { return };
        let source = match actor {
            model::Actor::User => webhooks::Source { change_source: "CRM_UI", source_id: "userId:4242".into() },
            model::Actor::Api => {
                webhooks::Source { change_source: "INTEGRATION", source_id: self.options.app_id.to_string() }
            }
            model::Actor::System => webhooks::Source { change_source: "CRM", source_id: String::new() },
        };
        w.enqueue(events, &source);
    }

    /// When search hides fresh writes, the newest visible modification time.
    fn search_horizon(&self) -> Option<i64> {
        self.options
            .search_indexing_lag
            .map(|lag| Utc::now().timestamp_millis() - i64::try_from(lag.as_millis()).unwrap_or(i64::MAX))
    }
}

fn rate_limit_body(policy: &str, portal: u64) -> serde_json::Value {
    let (message, group) = match policy {
        "SECONDLY" => ("You have reached your secondly limit.", "publicapi:private-app-api-calls-secondly"),
        "DAILY" => ("You have reached your daily limit.", "publicapi:private-app-api-calls-daily"),
        _ => ("You have reached your ten_secondly_rolling limit.", "publicapi:private-app-api-calls-ten-secondly"),
    };
    json!({
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": uuid::Uuid::new_v4().to_string(),
        "policyName": policy,
        "groupName": format!("{group}:{portal}"),
    })
}

/// Bearer auth, then the rate limits; adds the `X-HubSpot-RateLimit-*`
/// headers to every non-search answer.
async fn gate(State(state): State<Arc<HubSpotState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/__sandbox/") {
        return next.run(request).await;
    }
    let token_ok = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == state.options.token);
    if !token_ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
        .into_response();
    }
    let search = path.ends_with("/search");
    let verdict = state.limiter().check(search);
    match verdict {
        Verdict::Denied(policy, daily_remaining) => {
            let mut resp =
                (StatusCode::TOO_MANY_REQUESTS, axum::Json(rate_limit_body(policy, state.options.portal_id)))
                    .into_response();
            if !search {
                add_limit_headers(resp.headers_mut(), &state.options, 0, daily_remaining);
            }
            resp
        }
        Verdict::Allowed(headers) => {
            let mut resp = next.run(request).await;
            if let Some((remaining, daily_remaining)) = headers {
                add_limit_headers(resp.headers_mut(), &state.options, remaining, daily_remaining);
            }
            resp
        }
    }
}

fn add_limit_headers(h: &mut HeaderMap, o: &HubSpotOptions, remaining: u32, daily_remaining: u64) {
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("x-hubspot-ratelimit-daily", o.daily_limit.to_string());
    put("x-hubspot-ratelimit-daily-remaining", daily_remaining.to_string());
    put("x-hubspot-ratelimit-interval-milliseconds", "10000".into());
    put("x-hubspot-ratelimit-max", o.rate_limit_per_10s.to_string());
    put("x-hubspot-ratelimit-remaining", remaining.to_string());
}

/// A body the web framework cannot read (not JSON, or of the wrong shape)
/// is answered as HubSpot answers it: a 400 JSON validation error, not the
/// framework's plain-text 400, 415 or 422.
async fn json_rejections(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !plain || !matches!(response.status().as_u16(), 400 | 415 | 422) {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    model::ApiError::validation(format!("Invalid input JSON: {}", String::from_utf8_lossy(&bytes))).into_response()
}

pub fn router(state: Arc<HubSpotState>) -> Router {
    api::routes()
        .layer(axum::middleware::from_fn(json_rejections))
        .merge(account::routes())
        .merge(control::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}
