//! What both fake APIs share: API-call counting, injected faults, added
//! latency, and the control API under `/__sandbox/` on each listener.
//!
//! Owns the per-listener [`Control`] and the tower middleware that applies it.
//! It knows nothing about either CRM's data; the control API itself is never
//! counted, faulted or slowed down.

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::tripwire::{Cut, Tripwire};

/// The reserved path prefix of the control API.
pub const CONTROL_PREFIX: &str = "/__sandbox/";

/// Which fake API a listener serves; decides the default body of a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    Salesforce,
    Hubspot,
}

/// API calls seen by one listener, per endpoint (`"METHOD /path/{template}"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    pub total: u64,
    pub endpoints: BTreeMap<String, u64>,
}

impl CallCounts {
    /// Calls to one endpoint, e.g. `count("GET", "/services/data/{version}/query")`.
    pub fn count(&self, method: &str, template: &str) -> u64 {
        self.endpoints.get(&format!("{method} {template}")).copied().unwrap_or(0)
    }

    /// Calls whose endpoint key contains `needle` (method or path part).
    pub fn matching(&self, needle: &str) -> u64 {
        self.endpoints.iter().filter(|(k, _)| k.contains(needle)).map(|(_, v)| v).sum()
    }
}

/// An injected failure: the next `count` requests whose path starts with
/// `path_prefix` (and whose method matches, if given) get `status` and `body`
/// instead of reaching the fake API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub status: u16,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default)]
    pub method: Option<String>,
    /// Response body; when absent, the API's usual error shape for `status`.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Extra response headers, e.g. `Retry-After`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// `count` answers of `status` for paths under `path_prefix`.
    pub fn new(status: u16, count: u32, path_prefix: impl Into<String>) -> Self {
        Self { status, count, path_prefix: path_prefix.into(), method: None, body: None, headers: BTreeMap::new() }
    }

    pub fn with_body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        path.starts_with(&self.path_prefix)
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
    }
}

#[derive(Debug, Default)]
struct Inner {
    counts: CallCounts,
    faults: Vec<Fault>,
    latency: Duration,
    tripwire: Option<Arc<Tripwire>>,
}

/// Counters, faults and latency of one listener.
#[derive(Debug)]
pub struct Control {
    api: Api,
    inner: Mutex<Inner>,
}

impl Control {
    pub fn new(api: Api) -> Arc<Self> {
        Arc::new(Self { api, inner: Mutex::new(Inner::default()) })
    }

    pub fn api(&self) -> Api {
        self.api
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the counters invalid.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A snapshot of the call counters.
    pub fn counts(&self) -> CallCounts {
        self.lock().counts.clone()
    }

    /// Zeroes the counters, drops pending faults and the added latency.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }

    pub fn reset_counts(&self) {
        self.lock().counts = CallCounts::default();
    }

    pub fn add_fault(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Faults not yet used up.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// Counts this listener's API calls on `tripwire` (shared with the other
    /// listener, so that "the n-th call" spans both CRMs); `None` removes it.
    pub fn set_tripwire(&self, tripwire: Option<Arc<Tripwire>>) {
        self.lock().tripwire = tripwire;
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    fn record(&self, key: String) {
        let mut inner = self.lock();
        inner.counts.total += 1;
        *inner.counts.endpoints.entry(key).or_insert(0) += 1;
    }

    /// Uses up one matching fault, if any.
    fn take_fault(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut inner = self.lock();
        let pos = inner.faults.iter().position(|f| f.count > 0 && f.matches(method, path))?;
        let fault = &mut inner.faults[pos];
        fault.count -= 1;
        let taken = fault.clone();
        if fault.count == 0 {
            inner.faults.remove(pos);
        }
        Some(taken)
    }

    fn default_fault_body(&self, status: u16) -> serde_json::Value {
        match self.api {
            Api::Salesforce => {
                let (code, message) = match status {
                    401 => ("INVALID_SESSION_ID", "Session expired or invalid"),
                    403 => ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
                    404 => ("NOT_FOUND", "The requested resource does not exist"),
                    400 => ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"),
                    503 => ("SERVER_UNAVAILABLE", "Service temporarily unavailable"),
                    _ => ("UNKNOWN_EXCEPTION", "An unexpected error occurred."),
                };
                serde_json::json!([{ "message": message, "errorCode": code }])
            }
            Api::Hubspot if status == 429 => serde_json::json!({
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": uuid::Uuid::new_v4().to_string(),
                "policyName": "SECONDLY",
                "groupName": "publicapi:private-app-api-calls-secondly",
            }),
            Api::Hubspot => {
                let (category, message) = match status {
                    401 => ("INVALID_AUTHENTICATION", "Authentication credentials not found."),
                    404 => ("OBJECT_NOT_FOUND", "Object not found."),
                    400 => ("VALIDATION_ERROR", "Invalid input."),
                    _ => ("INTERNAL_ERROR", "Internal error."),
                };
                serde_json::json!({
                    "status": "error",
                    "message": message,
                    "correlationId": uuid::Uuid::new_v4().to_string(),
                    "category": category,
                })
            }
        }
    }

    fn fault_response(&self, fault: &Fault) -> Response {
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = fault.body.clone().unwrap_or_else(|| self.default_fault_body(fault.status));
        let mut response = (status, Json(body)).into_response();
        for (name, value) in &fault.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
            {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// Counts the call, adds latency, and answers with an injected fault if one
/// matches; control-API paths pass straight through.
pub async fn middleware(State(control): State<Arc<Control>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with(CONTROL_PREFIX) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let template =
        request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| path.clone());
    control.record(format!("{method} {template}"));
    let latency = control.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let tripwire = control.lock().tripwire.clone();
    let cut = tripwire.as_ref().and_then(|t| t.pass());
    if let (Some(tripwire), Some(Cut::BeforeEffect)) = (&tripwire, cut) {
        tripwire.die().await;
    }
    let response = match control.take_fault(&method, &path) {
        Some(fault) => {
            tracing::debug!(status = fault.status, %path, "injected fault answered");
            control.fault_response(&fault)
        }
        None => next.run(request).await,
    };
    if let (Some(tripwire), Some(Cut::AfterEffect)) = (&tripwire, cut) {
        tripwire.die().await;
    }
    response
}

#[derive(Debug, Deserialize)]
struct LatencyBody {
    ms: u64,
}

/// Wraps an API router with the middleware and adds the common control API:
/// `GET /__sandbox/counts`, `POST /__sandbox/reset`, `POST|GET|DELETE
/// /__sandbox/faults`, `PUT /__sandbox/latency` (`{"ms": N}`).
pub fn wrap(api: Router, control: Arc<Control>) -> Router {
    let control_api = Router::new()
        .route("/__sandbox/counts", get(get_counts).delete(reset_counts))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/faults", post(add_fault).get(list_faults).delete(clear_faults))
        .route("/__sandbox/latency", axum::routing::put(set_latency))
        .with_state(control.clone());
    api.merge(control_api).layer(axum::middleware::from_fn_with_state(control, middleware))
}

async fn get_counts(State(c): State<Arc<Control>>) -> Json<CallCounts> {
    Json(c.counts())
}

async fn reset_counts(State(c): State<Arc<Control>>) -> StatusCode {
    c.reset_counts();
    StatusCode::NO_CONTENT
}

async fn reset(State(c): State<Arc<Control>>) -> StatusCode {
    c.reset();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(c): State<Arc<Control>>, Json(fault): Json<Fault>) -> StatusCode {
    c.add_fault(fault);
    StatusCode::CREATED
}

async fn list_faults(State(c): State<Arc<Control>>) -> Json<Vec<Fault>> {
    Json(c.faults())
}

async fn clear_faults(State(c): State<Arc<Control>>) -> StatusCode {
    c.clear_faults();
    StatusCode::NO_CONTENT
}

async fn set_latency(State(c): State<Arc<Control>>, Json(body): Json<LatencyBody>) -> StatusCode {
    c.set_latency(Duration::from_millis(body.ms));
    StatusCode::NO_CONTENT
}
