//! The Salesforce client (crm-api.md part A): OAuth (JWT bearer, client
//! credentials) with one token refresh per call on `INVALID_SESSION_ID`;
//! query/queryAll with paging; sObject rows and upsert by External ID;
//! sObject Collections in 200s; Bulk API 2.0 query jobs; getUpdated /
//! getDeleted; describe; `/limits`. Every answer's `Sforce-Limit-Info` is
//! read into [`ApiUsage`], every write carries `Sforce-Call-Options`, and
//! every HTTP request is counted ([`SalesforceClient::calls_made`]).
//!
//! It shapes requests and classifies failures; it makes no sync decisions
//! and does not retry on its own beyond the token refresh.

pub mod config;
pub mod error;
pub mod types;

pub use config::{SalesforceAuth, SalesforceConfig, Secret};
pub use types::*;

use crate::error::CrmError;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::Stream;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use url::Url;

/// Records per sObject Collections call.
pub const COLLECTION_LIMIT: usize = 200;
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Clone)]
struct Session {
    token: Secret,
    instance_url: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, CrmError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| error::unexpected(self.status, "the answer was not the expected JSON", Some(Box::new(e))))
    }

    fn error(&self) -> CrmError {
        let (code, message) = error::parse_body(&self.body);
        let retry_after = self
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        error::from_answer(self.status, &code, &message, retry_after)
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    instance_url: String,
}

#[derive(serde::Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

#[derive(Deserialize)]
struct RecordResult {
    #[serde(default)]
    id: Option<String>,
    success: bool,
    #[serde(default)]
    created: Option<bool>,
    #[serde(default)]
    errors: Vec<Value>,
}

impl RecordResult {
    fn into_result(self) -> Result<Written, CrmError> {
        if self.success {
            return Ok(Written { id: self.id.unwrap_or_default(), created: self.created });
        }
        let first = self.errors.first().cloned().unwrap_or_default();
        let text = |k: &str| first.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        Err(error::from_answer(200, &text("statusCode"), &text("message"), None))
    }
}

/// A Salesforce org, reached as one integration user.
pub struct SalesforceClient {
    http: reqwest::Client,
    config: SalesforceConfig,
    session: RwLock<Option<Session>>,
    calls: AtomicU64,
    usage: Mutex<Option<ApiUsage>>,
}

impl std::fmt::Debug for SalesforceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("login_url", &self.config.login_url)
            .field("calls", &self.calls_made())
            .finish_non_exhaustive()
    }
}

fn path_url(instance: &str, segments: &[&str]) -> Result<Url, CrmError> {
    let mut url = Url::parse(instance)
        .map_err(|e| error::config(format!("bad Salesforce instance URL {instance}"), Some(Box::new(e))))?;
    url.path_segments_mut()
        .map_err(|()| error::config(format!("bad Salesforce instance URL {instance}"), None))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl SalesforceClient {
    pub fn new(config: SalesforceConfig) -> Result<Self, CrmError> {
        let mut builder = reqwest::Client::builder().timeout(config.timeout).user_agent("crm-sync");
        if let Some(pem) = &config.extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| error::config("the extra root certificate is not valid PEM", Some(Box::new(e))))?;
            builder = builder.tls_certs_merge([cert]);
        }
        let http = builder.build().map_err(|e| error::config("could not build the HTTP client", Some(Box::new(e))))?;
        Ok(SalesforceClient {
            http,
            config,
            session: RwLock::new(None),
            calls: AtomicU64::new(0),
            usage: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &SalesforceConfig {
        &self.config
    }

    /// HTTP requests sent to Salesforce so far, token requests included.
    pub fn calls_made(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The org's API usage from the latest `Sforce-Limit-Info` header.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        *self.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The instance URL of the current session, once authenticated.
    pub fn instance_url(&self) -> Option<String> {
        self.cached_session().map(|s| s.instance_url)
    }

    fn data_segments<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut s = vec!["services", "data", self.config.api_version.as_str()];
        s.extend_from_slice(rest);
        s
    }

    // ---- transport ----

    async fn execute(&self, request: reqwest::RequestBuilder) -> Result<Answer, CrmError> {
        let request = request.build().map_err(error::transport)?;
        let (method, path) = (request.method().clone(), request.url().path().to_owned());
        self.calls.fetch_add(1, Ordering::SeqCst);
        let response = self.http.execute(request).await.map_err(error::transport)?;
        let status = response.status().as_u16();
        // The path only: query strings can hold personal data (emails in SOQL).
        tracing::debug!(%method, path, status, "salesforce call answered");
        let headers = response.headers().clone();
        if let Some(usage) = headers.get("sforce-limit-info").and_then(|v| v.to_str().ok()).and_then(ApiUsage::parse) {
            *self.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(usage);
        }
        let body = response.bytes().await.map_err(error::transport)?.to_vec();
        Ok(Answer { status, headers, body })
    }

    fn cached_session(&self) -> Option<Session> {
        self.session.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Fetches a new access token (also done lazily by every call).
    pub async fn authenticate(&self) -> Result<(), CrmError> {
        let session = self.fetch_token().await?;
        *self.session.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(session);
        Ok(())
    }

    async fn fetch_token(&self) -> Result<Session, CrmError> {
        let login = self.config.login_url.trim_end_matches('/');
        let url = format!("{login}/services/oauth2/token");
        let form: Vec<(&str, String)> = match &self.config.auth {
            SalesforceAuth::JwtBearer { username, private_key_pem } => {
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes())
                    .map_err(|e| error::config("the JWT private key is not an RSA PEM key", Some(Box::new(e))))?;
                let claims = JwtClaims {
                    iss: &self.config.client_id,
                    sub: username,
                    aud: self.config.audience.as_deref().unwrap_or(login),
                    exp: Utc::now().timestamp() + 180,
                };
                let assertion =
                    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key)
                        .map_err(|e| error::config("could not sign the JWT assertion", Some(Box::new(e))))?;
                vec![("grant_type", JWT_GRANT.to_owned()), ("assertion", assertion)]
            }
            SalesforceAuth::ClientCredentials { client_secret } => vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", self.config.client_id.clone()),
                ("client_secret", client_secret.expose().to_owned()),
            ],
        };
        let answer = self.execute(self.http.post(url).form(&form)).await?;
        if answer.status != 200 {
            return Err(answer.error());
        }
        let token: TokenAnswer = answer.json()?;
        tracing::debug!("salesforce access token obtained");
        Ok(Session {
            token: Secret::new(token.access_token),
            instance_url: self
                .config
                .instance_url
                .clone()
                .unwrap_or(token.instance_url)
                .trim_end_matches('/')
                .to_owned(),
        })
    }

    async fn session(&self) -> Result<Session, CrmError> {
        if let Some(s) = self.cached_session() {
            return Ok(s);
        }
        self.authenticate().await?;
        self.cached_session().ok_or_else(|| error::unexpected(0, "no session after authenticating", None))
    }

    /// Sends one API request; on 401 re-authenticates once and resends.
    /// Answers of 400 and above become classified errors.
    async fn send(
        &self,
        method: Method,
        url_for: &(dyn Fn(&str) -> Result<Url, CrmError> + Sync),
        body: Option<&Value>,
        write: bool,
        headers: &[(&str, String)],
    ) -> Result<Answer, CrmError> {
        let mut refreshed = false;
        loop {
            let session = self.session().await?;
            let mut request =
                self.http.request(method.clone(), url_for(&session.instance_url)?).bearer_auth(session.token.expose());
            if write {
                request = request.header("Sforce-Call-Options", format!("client={}", self.config.call_client));
            }
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let answer = self.execute(request).await?;
            if answer.status == StatusCode::UNAUTHORIZED.as_u16() && !refreshed {
                refreshed = true;
                tracing::debug!("salesforce session expired; re-authenticating");
                let mut guard = self.session.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                if guard.as_ref().is_some_and(|s| s.token == session.token) {
                    *guard = None;
                }
                continue;
            }
            if answer.status >= 400 {
                return Err(answer.error());
            }
            return Ok(answer);
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url_for: &(dyn Fn(&str) -> Result<Url, CrmError> + Sync),
    ) -> Result<T, CrmError> {
        self.send(Method::GET, url_for, None, false, &[]).await?.json()
    }

    // ---- query ----

    async fn query_first(&self, soql: &str, all: bool, batch_size: Option<u32>) -> Result<QueryPage, CrmError> {
        let resource = if all { "queryAll" } else { "query" };
        let headers: Vec<(&str, String)> =
            batch_size.map(|b| vec![("Sforce-Query-Options", format!("batchSize={b}"))]).unwrap_or_default();
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.data_segments(&[resource]))?;
            url.query_pairs_mut().append_pair("q", soql);
            Ok(url)
        };
        self.send(Method::GET, &url_for, None, false, &headers).await?.json()
    }

    /// The first page of a query (`batch_size` within 200..=2000 is a hint).
    pub async fn query_page(&self, soql: &str, batch_size: Option<u32>) -> Result<QueryPage, CrmError> {
        self.query_first(soql, false, batch_size).await
    }

    /// The first page of a queryAll (deleted and merged records included).
    pub async fn query_all_page(&self, soql: &str, batch_size: Option<u32>) -> Result<QueryPage, CrmError> {
        self.query_first(soql, true, batch_size).await
    }

    /// The page behind a `nextRecordsUrl`.
    pub async fn query_more(&self, next_records_url: &str) -> Result<QueryPage, CrmError> {
        let url_for = |instance: &str| {
            Url::parse(instance)
                .and_then(|u| u.join(next_records_url))
                .map_err(|e| error::config(format!("bad nextRecordsUrl {next_records_url}"), Some(Box::new(e))))
        };
        self.get_json(&url_for).await
    }

    async fn collect(&self, mut page: QueryPage) -> Result<Vec<SObject>, CrmError> {
        let mut records = std::mem::take(&mut page.records);
        while let (false, Some(next)) = (page.done, page.next_records_url.clone()) {
            page = self.query_more(&next).await?;
            records.append(&mut page.records);
        }
        Ok(records)
    }

    /// Every record of a query, following `nextRecordsUrl`.
    pub async fn query(&self, soql: &str) -> Result<Vec<SObject>, CrmError> {
        let first = self.query_first(soql, false, None).await?;
        self.collect(first).await
    }

    /// Every record of a queryAll, following `nextRecordsUrl`.
    pub async fn query_all(&self, soql: &str) -> Result<Vec<SObject>, CrmError> {
        let first = self.query_first(soql, true, None).await?;
        self.collect(first).await
    }

    /// The records of a query as a stream, one page fetched at a time.
    pub fn query_stream<'a>(
        &'a self,
        soql: &'a str,
        batch_size: Option<u32>,
    ) -> impl Stream<Item = Result<SObject, CrmError>> + 'a {
        use futures::StreamExt;
        enum Next {
            First,
            More(String),
            Done,
        }
        futures::stream::try_unfold(Next::First, move |next| async move {
            let page = match next {
                Next::First => self.query_first(soql, false, batch_size).await?,
                Next::More(url) => self.query_more(&url).await?,
                Next::Done => return Ok(None),
            };
            let following = match (page.done, page.next_records_url) {
                (false, Some(url)) => Next::More(url),
                _ => Next::Done,
            };
            Ok(Some((futures::stream::iter(page.records.into_iter().map(Ok)), following)))
        })
        .flat_map(|page: Result<_, CrmError>| match page {
            Ok(records) => records.left_stream(),
            Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
        })
    }

    /// `totalSize` of a `SELECT COUNT() ...` query.
    pub async fn count(&self, soql: &str) -> Result<u64, CrmError> {
        Ok(self.query_first(soql, false, None).await?.total_size)
    }

    // ---- sObject rows ----

    /// One record; `fields` empty means all fields.
    pub async fn get(&self, object: &str, id: &str, fields: &[&str]) -> Result<SObject, CrmError> {
        let list = fields.join(",");
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.data_segments(&["sobjects", object, id]))?;
            if !list.is_empty() {
                url.query_pairs_mut().append_pair("fields", &list);
            }
            Ok(url)
        };
        self.get_json(&url_for).await
    }

    /// One record by an External ID field value.
    pub async fn get_by_external_id(&self, object: &str, field: &str, value: &str) -> Result<SObject, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, field, value]));
        let answer = self.send(Method::GET, &url_for, None, false, &[]).await?;
        if answer.status == 300 {
            return Err(error::from_answer(300, "MULTIPLE_CHOICES", &String::from_utf8_lossy(&answer.body), None));
        }
        answer.json()
    }

    /// Creates a record and returns its id.
    pub async fn create(&self, object: &str, fields: &SObject) -> Result<String, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object]));
        let body = Value::Object(fields.clone());
        let written: Written = self.send(Method::POST, &url_for, Some(&body), true, &[]).await?.json()?;
        Ok(written.id)
    }

    pub async fn update(&self, object: &str, id: &str, fields: &SObject) -> Result<(), CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, id]));
        let body = Value::Object(fields.clone());
        self.send(Method::PATCH, &url_for, Some(&body), true, &[]).await.map(|_| ())
    }

    pub async fn delete(&self, object: &str, id: &str) -> Result<(), CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, id]));
        self.send(Method::DELETE, &url_for, None, true, &[]).await.map(|_| ())
    }

    /// Upsert by External ID: creates (201) or updates (200) the one record
    /// whose `field` equals `value`; several matches fail with `MULTIPLE_CHOICES`.
    pub async fn upsert(&self, object: &str, field: &str, value: &str, fields: &SObject) -> Result<Written, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, field, value]));
        let mut body = fields.clone();
        body.remove(field);
        let answer = self.send(Method::PATCH, &url_for, Some(&Value::Object(body)), true, &[]).await?;
        match answer.status {
            300 => Err(error::from_answer(300, "MULTIPLE_CHOICES", &String::from_utf8_lossy(&answer.body), None)),
            // Before v46.0 an update answered 204 without a body.
            204 => Ok(Written { id: String::new(), created: Some(false) }),
            _ => answer.json(),
        }
    }

    // ---- sObject Collections ----

    async fn collection_write(
        &self,
        method: Method,
        segments: &[&str],
        records: Vec<Value>,
    ) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_LIMIT) {
            let url_for = |instance: &str| path_url(instance, &self.data_segments(segments));
            let body = json!({"allOrNone": false, "records": chunk});
            let results: Vec<RecordResult> =
                self.send(method.clone(), &url_for, Some(&body), true, &[]).await?.json()?;
            out.extend(results.into_iter().map(RecordResult::into_result));
        }
        Ok(out)
    }

    fn collection_body(record: &CollectionRecord) -> Value {
        let mut body = record.fields.clone();
        body.insert("attributes".into(), json!({"type": record.object}));
        if let Some(id) = &record.id {
            body.insert("id".into(), Value::from(id.as_str()));
        }
        Value::Object(body)
    }

    /// Creates records, 200 per call; one result per record, in order.
    pub async fn create_many(&self, records: &[CollectionRecord]) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let body = records.iter().map(Self::collection_body).collect();
        self.collection_write(Method::POST, &["composite", "sobjects"], body).await
    }

    /// Updates records (each with `id`), 200 per call.
    pub async fn update_many(&self, records: &[CollectionRecord]) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let body = records.iter().map(Self::collection_body).collect();
        self.collection_write(Method::PATCH, &["composite", "sobjects"], body).await
    }

    /// Upserts records of one object by an External ID field each record
    /// carries, 200 per call; results say `created`.
    pub async fn upsert_many(
        &self,
        object: &str,
        field: &str,
        records: &[SObject],
    ) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let body = records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.insert("attributes".into(), json!({"type": object}));
                Value::Object(r)
            })
            .collect();
        self.collection_write(Method::PATCH, &["composite", "sobjects", object, field], body).await
    }

    /// Deletes records by id, 200 per call.
    pub async fn delete_many(&self, ids: &[String]) -> Result<Vec<Result<Written, CrmError>>, CrmError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(COLLECTION_LIMIT) {
            let list = chunk.join(",");
            let url_for = |instance: &str| {
                let mut url = path_url(instance, &self.data_segments(&["composite", "sobjects"]))?;
                url.query_pairs_mut().append_pair("ids", &list).append_pair("allOrNone", "false");
                Ok(url)
            };
            let results: Vec<RecordResult> = self.send(Method::DELETE, &url_for, None, true, &[]).await?.json()?;
            out.extend(results.into_iter().map(RecordResult::into_result));
        }
        Ok(out)
    }

    /// Reads records by id, 200 per call; `None` where a record is missing.
    pub async fn retrieve_many(
        &self,
        object: &str,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<Option<SObject>>, CrmError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(COLLECTION_LIMIT) {
            let url_for = |instance: &str| path_url(instance, &self.data_segments(&["composite", "sobjects", object]));
            let body = json!({"ids": chunk, "fields": fields});
            let records: Vec<Option<SObject>> =
                self.send(Method::POST, &url_for, Some(&body), false, &[]).await?.json()?;
            out.extend(records);
        }
        Ok(out)
    }

    // ---- replication, describe, limits ----

    async fn replication<T: serde::de::DeserializeOwned>(
        &self,
        object: &str,
        kind: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<T, CrmError> {
        let (start, end) = (iso(start), iso(end));
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.data_segments(&["sobjects", object, kind, ""]))?;
            url.query_pairs_mut().append_pair("start", &start).append_pair("end", &end);
            Ok(url)
        };
        self.get_json(&url_for).await
    }

    /// Ids changed (by `SystemModstamp`) within the window (last 30 days).
    pub async fn get_updated(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Updated, CrmError> {
        self.replication(object, "updated", start, end).await
    }

    /// Records deleted within the window (last 15 days).
    pub async fn get_deleted(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Deleted, CrmError> {
        self.replication(object, "deleted", start, end).await
    }

    /// Field metadata, including formula (`calculated`) fields and picklists.
    pub async fn describe(&self, object: &str) -> Result<ObjectDescribe, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["sobjects", object, "describe"]));
        self.get_json(&url_for).await
    }

    /// The org's limits (`DailyApiRequests`, Bulk allocations, ...).
    pub async fn limits(&self) -> Result<Limits, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["limits"]));
        self.get_json(&url_for).await
    }

    // ---- Bulk API 2.0 query ----

    /// Creates a Bulk query job (`all` = queryAll) with CSV, comma, LF.
    pub async fn bulk_query_create(&self, soql: &str, all: bool) -> Result<BulkJob, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["jobs", "query"]));
        let body = json!({
            "operation": if all { "queryAll" } else { "query" },
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        self.send(Method::POST, &url_for, Some(&body), false, &[]).await?.json()
    }

    pub async fn bulk_job(&self, job_id: &str) -> Result<BulkJob, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["jobs", "query", job_id]));
        self.get_json(&url_for).await
    }

    pub async fn bulk_abort(&self, job_id: &str) -> Result<BulkJob, CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["jobs", "query", job_id]));
        self.send(Method::PATCH, &url_for, Some(&json!({"state": "Aborted"})), false, &[]).await?.json()
    }

    pub async fn bulk_delete(&self, job_id: &str) -> Result<(), CrmError> {
        let url_for = |instance: &str| path_url(instance, &self.data_segments(&["jobs", "query", job_id]));
        self.send(Method::DELETE, &url_for, None, false, &[]).await.map(|_| ())
    }

    /// Polls with growing waits until the job completes, fails or times out.
    pub async fn bulk_wait(&self, job_id: &str) -> Result<BulkJob, CrmError> {
        let started = Instant::now();
        let mut wait = self.config.bulk_poll_initial;
        loop {
            let job = self.bulk_job(job_id).await?;
            match job.state.as_str() {
                "JobComplete" => return Ok(job),
                "Failed" | "Aborted" => {
                    let message = job.error_message.clone().unwrap_or_else(|| format!("bulk job {}", job.state));
                    return Err(error::from_answer(200, "BULK_JOB_FAILED", &message, None));
                }
                _ => {}
            }
            if started.elapsed() >= self.config.bulk_timeout {
                return Err(error::from_answer(
                    0,
                    "BULK_JOB_TIMEOUT",
                    &format!("bulk job {job_id} still {}", job.state),
                    None,
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.config.bulk_poll_max);
        }
    }

    /// One page of a completed job's CSV results.
    pub async fn bulk_results_page(
        &self,
        job_id: &str,
        locator: Option<&str>,
        max_records: Option<u64>,
    ) -> Result<BulkPage, CrmError> {
        let url_for = |instance: &str| {
            let mut url = path_url(instance, &self.data_segments(&["jobs", "query", job_id, "results"]))?;
            {
                let mut q = url.query_pairs_mut();
                if let Some(locator) = locator {
                    q.append_pair("locator", locator);
                }
                if let Some(max) = max_records {
                    q.append_pair("maxRecords", &max.to_string());
                }
            }
            Ok(url)
        };
        let answer = self.send(Method::GET, &url_for, None, false, &[("Accept", "text/csv".to_owned())]).await?;
        let next_locator = answer
            .headers
            .get("sforce-locator")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && *v != "null")
            .map(str::to_owned);
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(answer.body.as_slice());
        let bad_csv =
            |e: csv::Error| error::unexpected(answer.status, "the Bulk results were not valid CSV", Some(Box::new(e)));
        let columns = reader.headers().map_err(bad_csv)?.iter().map(str::to_owned).collect();
        let mut rows = Vec::new();
        for row in reader.records() {
            rows.push(row.map_err(bad_csv)?.iter().map(str::to_owned).collect());
        }
        Ok(BulkPage { columns, rows, next_locator })
    }

    /// A whole Bulk query: create, wait, and read every result page.
    pub async fn bulk_query(
        &self,
        soql: &str,
        all: bool,
        max_records: Option<u64>,
    ) -> Result<BulkQueryResult, CrmError> {
        let job = self.bulk_query_create(soql, all).await?;
        self.bulk_wait(&job.id).await?;
        let mut result = BulkQueryResult { job_id: job.id.clone(), columns: Vec::new(), rows: Vec::new(), pages: 0 };
        let mut locator: Option<String> = None;
        loop {
            let mut page = self.bulk_results_page(&job.id, locator.as_deref(), max_records).await?;
            result.pages += 1;
            if result.columns.is_empty() {
                result.columns = std::mem::take(&mut page.columns);
            }
            result.rows.append(&mut page.rows);
            match page.next_locator {
                Some(next) => locator = Some(next),
                None => return Ok(result),
            }
        }
    }
}
