//! The sync-health page (feature `server`): the operator's view of one
//! deployment, served under `/ui` by `crm-sync serve` on its own listener,
//! or by `crm-sync ui` on its own, never by the webhook function.
//!
//! It shows, over an [`App`] (so any backend's store and queues will do):
//! counts of sync-health errors by category and object; the errors, filtered
//! by category, object and text, with the CRM's message and links to both
//! records; a Resync button per record and per category (a forced sync
//! queued through the resync use case, which checks the API budget); the CSV
//! export of `crm-sync health --format csv`; API usage over the rolling day
//! against the cap, as an inline SVG chart; import jobs with their progress;
//! dead letters by category with replay.
//!
//! Layout: [`access`] (login token, session cookie, cross-site refusal),
//! `page` (the HTML, maud), `chart` (the SVG), [`links`] (record URLs);
//! this file holds the routes. Server-rendered HTML, no script.

pub mod access;
mod chart;
pub mod links;
mod page;

use crate::usecases::dead_letters::{DeadLetter, list_dead_letters, replay_dead_letters};
use crate::usecases::health::{HealthCounts, HealthFilter, category_names, list_health, record_of, write_health_csv};
use crate::usecases::import::import_progress;
use crate::{App, AppError, Segment, resync_segment};
use access::same_origin;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crm_sync_domain::ObjectPair;
use crm_sync_store::{ImportChunk, ImportJob};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::{info, warn};

pub use access::UiAccess;
pub use links::RecordLinks;

/// The most error rows one page shows (the export has them all).
pub const MOST_ROWS: usize = 500;

/// How the page is set up.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// Where the CRMs' record pages are.
    pub links: RecordLinks,
    /// Whether sync workers run in the same process (`crm-sync serve`), so
    /// that what the page queues syncs at once; else the page says that a
    /// running `serve` (or the deployment) syncs it.
    pub workers_here: bool,
}

#[derive(Clone)]
struct Ui {
    app: App,
    access: UiAccess,
    options: Arc<UiOptions>,
}

/// The page's routes, all under `/ui`; merge them into a server's router.
pub fn router(app: App, access: UiAccess, options: UiOptions) -> Router {
    Router::new()
        .route("/ui", get(show))
        .route("/ui/", get(show))
        .route("/ui/login", post(login))
        .route("/ui/export.csv", get(export))
        .route("/ui/resync/record", post(resync_one))
        .route("/ui/resync/category", post(resync_category))
        .route("/ui/dead-letters/replay", post(replay))
        .layer(axum::middleware::map_response(protect))
        .with_state(Ui { app, access, options: Arc::new(options) })
}

/// Headers on every answer: never cached, never framed, no referrer to other sites, and a
/// policy that allows no script at all.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, "cache-control", "no-store");
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    // `same-origin`, not `no-referrer`: under the latter a browser sends
    // `Origin: null` with the page's own form posts, which are then refused.
    set(headers, "referrer-policy", "same-origin");
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    response
}

/// The filters of the error list, as the page's GET form sends them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub(crate) struct Filters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub object: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub q: String,
}

impl Filters {
    /// The filter they stand for; unknown names filter nothing.
    fn health(&self) -> HealthFilter {
        let category = Some(self.category.trim().to_owned()).filter(|c| category_names().contains(c));
        HealthFilter {
            category,
            object: ObjectPair::parse(self.object.trim()),
            text: Some(self.q.trim().to_owned()).filter(|q| !q.is_empty()),
        }
    }

    /// `category=…&object=…&q=…`, what POST forms carry back.
    pub(crate) fn encoded(&self) -> String {
        self.query(&[]).trim_start_matches('?').to_owned()
    }

    /// `?category=…&object=…&q=…` (empty when there is no filter).
    pub(crate) fn query(&self, extra: &[(&str, String)]) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (name, value) in [("category", &self.category), ("object", &self.object), ("q", &self.q)] {
            if !value.trim().is_empty() {
                pairs.push((name, value.trim().to_owned()));
            }
        }
        pairs.extend(extra.iter().cloned());
        match serde_urlencoded::to_string(&pairs) {
            Ok(text) if !text.is_empty() => format!("?{text}"),
            _ => String::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    token: Option<String>,
    #[serde(flatten)]
    filters: Filters,
    notice: Option<String>,
    /// A count for the notice (text: flattened fields arrive as text).
    n: Option<String>,
}

/// A note at the top of the page after an action (by code, so that no
/// request can put text of its own on the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    Queued(u64),
    Replayed(u64),
    Gone,
}

impl Notice {
    fn parse(code: Option<&str>, n: Option<u64>) -> Option<Self> {
        match code? {
            "queued" => Some(Notice::Queued(n.unwrap_or(0))),
            "replayed" => Some(Notice::Replayed(n.unwrap_or(0))),
            "gone" => Some(Notice::Gone),
            _ => None,
        }
    }

    fn code(self) -> (&'static str, u64) {
        match self {
            Notice::Queued(n) => ("queued", n),
            Notice::Replayed(n) => ("replayed", n),
            Notice::Gone => ("gone", 0),
        }
    }
}

/// Everything the page shows, read at request time.
pub(crate) struct PageData {
    pub now: chrono::DateTime<chrono::Utc>,
    pub counts: HealthCounts,
    pub filters: Filters,
    /// The errors passing the filters, at most [`MOST_ROWS`].
    pub errors: Vec<crm_sync_store::SyncHealthError>,
    /// How many pass the filters in all.
    pub matching: usize,
    pub usage: crate::UsageReport,
    pub history: crate::UsageHistory,
    pub imports: Vec<(ImportJob, Vec<ImportChunk>)>,
    pub dead_letters: Vec<DeadLetter>,
}

async fn read_page(app: &App, filters: Filters) -> Result<PageData, AppError> {
    let all = list_health(app.store(), &HealthFilter::default()).await?;
    let counts = HealthCounts::of(&all);
    let filter = filters.health();
    let mut errors: Vec<_> = all.into_iter().filter(|e| filter.admits(e)).collect();
    let matching = errors.len();
    errors.truncate(MOST_ROWS);
    let usage = crate::api_usage(app).await?;
    let history = crate::api_usage_history(app).await?;
    let mut imports = Vec::new();
    for job in app.store().list_import_jobs().await? {
        imports.push(import_progress(app.store(), job).await?);
    }
    let dead_letters = list_dead_letters(app.sync_queue(), app.store(), None).await?;
    Ok(PageData { now: app.clock().now(), counts, filters, errors, matching, usage, history, imports, dead_letters })
}

fn html(status: StatusCode, markup: maud::Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

fn login_form(message: Option<&str>) -> Response {
    html(StatusCode::UNAUTHORIZED, page::login(message))
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn logged_in(ui: &Ui) -> Response {
    info!("SyncHealthPageLoggedIn");
    let mut response = see_other("/ui");
    if let Ok(cookie) = HeaderValue::from_str(&ui.access.session_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn failed(error: &AppError) -> Response {
    warn!(%error, "SyncHealthPageFailed");
    html(StatusCode::INTERNAL_SERVER_ERROR, page::problem("The page could not be read", &error.to_string()))
}

async fn show(State(ui): State<Ui>, headers: HeaderMap, Query(query): Query<PageQuery>) -> Response {
    if let Some(token) = query.token.as_deref() {
        return if ui.access.token_matches(token) {
            logged_in(&ui)
        } else {
            login_form(Some("That token is not valid."))
        };
    }
    if !ui.access.has_session(&headers) {
        return login_form(None);
    }
    match read_page(&ui.app, query.filters).await {
        Ok(data) => {
            let n = query.n.as_deref().and_then(|n| n.parse().ok());
            let notice = Notice::parse(query.notice.as_deref(), n);
            html(StatusCode::OK, page::page(&data, notice, ui.access.csrf(), &ui.options))
        }
        Err(error) => failed(&error),
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

async fn login(State(ui): State<Ui>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    if !same_origin(&headers) {
        return refused();
    }
    if ui.access.token_matches(&form.token) { logged_in(&ui) } else { login_form(Some("That token is not valid.")) }
}

async fn export(State(ui): State<Ui>, headers: HeaderMap, Query(filters): Query<Filters>) -> Response {
    if !ui.access.has_session(&headers) {
        return login_form(None);
    }
    let errors = match list_health(ui.app.store(), &filters.health()).await {
        Ok(errors) => errors,
        Err(error) => return failed(&error),
    };
    let mut body = Vec::new();
    if let Err(error) = write_health_csv(&errors, &mut body) {
        return failed(&AppError::Invalid(error.to_string()));
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"sync-health.csv\""),
        ],
        body,
    )
        .into_response()
}

fn refused() -> Response {
    warn!("SyncHealthPageCrossSiteRefused");
    html(
        StatusCode::FORBIDDEN,
        page::problem("Refused", "This request did not come from the sync-health page; nothing was changed."),
    )
}

/// The checks of every state-changing request: a session, the same origin,
/// the form's CSRF token. `Some` is the answer that refuses it.
fn check_post(ui: &Ui, headers: &HeaderMap, csrf: &str) -> Option<Response> {
    if !ui.access.has_session(headers) {
        return Some(login_form(None));
    }
    if !same_origin(headers) || !ui.access.csrf_matches(csrf) {
        return Some(refused());
    }
    None
}

fn back(filters: &Filters, notice: Notice) -> Response {
    let (code, n) = notice.code();
    see_other(&format!("/ui{}", filters.query(&[("notice", code.to_owned()), ("n", n.to_string())])))
}

fn not_done(error: &AppError) -> Response {
    warn!(%error, "SyncHealthPageActionRefused");
    let status =
        if matches!(error, AppError::BudgetSpent { .. }) { StatusCode::CONFLICT } else { StatusCode::BAD_REQUEST };
    html(status, page::problem("Nothing was queued", &error.to_string()))
}

#[derive(Debug, Deserialize)]
struct RecordForm {
    #[serde(default)]
    csrf: String,
    key: String,
    /// The page's filters (`category=…&object=…&q=…`), to go back to.
    #[serde(default)]
    back: String,
}

async fn resync_one(State(ui): State<Ui>, headers: HeaderMap, Form(form): Form<RecordForm>) -> Response {
    if let Some(refusal) = check_post(&ui, &headers, &form.csrf) {
        return refusal;
    }
    let entry = match ui.app.store().get_error(&form.key).await {
        Ok(entry) => entry,
        Err(error) => return failed(&error.into()),
    };
    let Some(record) = entry.as_ref().and_then(record_of) else {
        return back(&filters_from(&form.back), Notice::Gone);
    };
    match resync_segment(&ui.app, &Segment::Records { records: vec![record] }).await {
        Ok(queued) => {
            info!(queued, "SyncHealthPageResyncQueued");
            back(&filters_from(&form.back), Notice::Queued(queued))
        }
        Err(error) => not_done(&error),
    }
}

#[derive(Debug, Deserialize)]
struct CategoryForm {
    #[serde(default)]
    csrf: String,
    /// A category name; empty: every category.
    #[serde(default)]
    category: String,
    /// The page's filters, to go back to.
    #[serde(default)]
    back: String,
}

/// The filters a form carries back (`back`); odd text: none.
fn filters_from(back: &str) -> Filters {
    serde_urlencoded::from_str(back).unwrap_or_default()
}

impl CategoryForm {
    fn category(&self) -> Result<Option<String>, AppError> {
        let given = self.category.trim();
        if given.is_empty() {
            return Ok(None);
        }
        if category_names().iter().any(|c| c == given) {
            Ok(Some(given.to_owned()))
        } else {
            Err(AppError::Invalid(format!("unknown category `{given}`")))
        }
    }
}

async fn resync_category(State(ui): State<Ui>, headers: HeaderMap, Form(form): Form<CategoryForm>) -> Response {
    if let Some(refusal) = check_post(&ui, &headers, &form.csrf) {
        return refusal;
    }
    let category = match form.category() {
        Ok(category) => category,
        Err(error) => return not_done(&error),
    };
    match resync_segment(&ui.app, &Segment::HealthErrors { category }).await {
        Ok(queued) => {
            info!(queued, "SyncHealthPageResyncQueued");
            back(&filters_from(&form.back), Notice::Queued(queued))
        }
        Err(error) => not_done(&error),
    }
}

async fn replay(State(ui): State<Ui>, headers: HeaderMap, Form(form): Form<CategoryForm>) -> Response {
    if let Some(refusal) = check_post(&ui, &headers, &form.csrf) {
        return refusal;
    }
    let category = match form.category() {
        Ok(category) => category,
        Err(error) => return not_done(&error),
    };
    match replay_dead_letters(ui.app.sync_queue(), ui.app.store(), category.as_deref()).await {
        Ok(replayed) => back(&filters_from(&form.back), Notice::Replayed(replayed.len() as u64)),
        Err(error) => not_done(&error),
    }
}
