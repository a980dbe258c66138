//! The Salesforce client's core: the [`SalesforceClient`] value, OAuth
//! sessions, and the one `send` every endpoint goes through.
//!
//! Owns authentication (JWT bearer or client credentials, the cached session,
//! one re-authentication on a 401), the request counter, the latest
//! `Sforce-Limit-Info` figures, the `Sforce-Call-Options` header on writes and
//! the turning of any answer of 400 or above into a classified
//! [`CrmError`]. It knows no endpoint: queries, rows, collections,
//! replication and Bulk jobs live in sibling modules and call
//! [`SalesforceClient::send`]. It never retries beyond that one token refresh.

use super::config::{SalesforceAuth, SalesforceConfig, Secret};
use super::error;
use super::types::ApiUsage;
use crate::error::CrmError;
use crate::gate::{CallGate, GateSlot};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;
use url::Url;

/// The `grant_type` of the JWT bearer flow.
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A live access token, the instance it is valid for, and the org it
/// belongs to (from the token answer's identity URL, when it has one).
#[derive(Clone)]
struct Session {
    token: Secret,
    instance_url: String,
    organization_id: Option<String>,
}

/// One HTTP answer, read whole: status, headers and body bytes.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// The body as JSON of the documented shape, else an `UNEXPECTED_RESPONSE` error.
    pub(super) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, CrmError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| error::unexpected(self.status, "the answer was not the expected JSON", Some(Box::new(e))))
    }

    /// The answer as a classified error (its body's code, its `Retry-After`).
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

/// The OAuth token endpoint's success answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    instance_url: String,
    /// The identity URL, `https://login.salesforce.com/id/{org id}/{user id}`.
    #[serde(default)]
    id: Option<String>,
}

/// The org id in an identity URL (`.../id/{org id}/{user id}`): the
/// second-to-last path segment, when it is an org id (`00D`, 15 or 18
/// letters and digits).
fn organization_of(identity_url: &str) -> Option<String> {
    let url = Url::parse(identity_url).ok()?;
    let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let org = *segments.len().checked_sub(2).and_then(|i| segments.get(i))?;
    let well_formed =
        org.starts_with("00D") && matches!(org.len(), 15 | 18) && org.chars().all(|c| c.is_ascii_alphanumeric());
    well_formed.then(|| org.to_owned())
}

/// The claims of the JWT bearer assertion (crm-api.md A1.1).
#[derive(serde::Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

/// A Salesforce org, reached as one integration user.
///
/// Cheap to share (`Arc`); safe to use from many tasks at once. The session
/// is fetched lazily on the first call and replaced when Salesforce answers
/// 401; the request counter is monotonic and includes token requests.
pub struct SalesforceClient {
    http: reqwest::Client,
    pub(super) config: SalesforceConfig,
    session: RwLock<Option<Session>>,
    calls: AtomicU64,
    usage: Mutex<Option<ApiUsage>>,
    gate: GateSlot,
}

impl std::fmt::Debug for SalesforceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("login_url", &self.config.login_url)
            .field("calls", &self.calls_made())
            .finish_non_exhaustive()
    }
}

/// `instance` with `segments` appended, each percent-encoded (ids and
/// External ID values may hold any character).
pub(super) fn path_url(instance: &str, segments: &[&str]) -> Result<Url, CrmError> {
    let mut url = Url::parse(instance)
        .map_err(|e| error::config(format!("bad Salesforce instance URL {instance}"), Some(Box::new(e))))?;
    url.path_segments_mut()
        .map_err(|()| error::config(format!("bad Salesforce instance URL {instance}"), None))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// A UTC time as Salesforce's replication API takes it (seconds, `Z`).
pub(super) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl SalesforceClient {
    /// A client for one org; no request is sent until the first call.
    /// Fails only on a bad extra root certificate or HTTP client setup.
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
            gate: GateSlot::default(),
        })
    }

    /// The settings the client was built with.
    pub fn config(&self) -> &SalesforceConfig {
        &self.config
    }

    /// HTTP requests sent to Salesforce so far, token requests included.
    pub fn calls_made(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Asks `gate` before every later request (replacing any gate installed
    /// before): a refused request is not sent and not counted.
    pub fn install_gate(&self, gate: std::sync::Arc<dyn CallGate>) {
        self.gate.install(gate);
    }

    /// The org's API usage from the latest `Sforce-Limit-Info` header.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        *self.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The instance URL of the current session, once authenticated.
    pub fn instance_url(&self) -> Option<String> {
        self.cached_session().map(|s| s.instance_url)
    }

    /// The id of the org the integration user belongs to, from the identity
    /// URL of the token answer (one token request when no session is
    /// cached). An answer without one is an `UNEXPECTED_RESPONSE` error.
    pub async fn organization_id(&self) -> Result<String, CrmError> {
        self.session()
            .await?
            .organization_id
            .ok_or_else(|| error::unexpected(200, "the token answer carries no identity URL naming the org", None))
    }

    /// The REST data path of this API version followed by `rest`.
    pub(super) fn data_segments<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut s = vec!["services", "data", self.config.api_version.as_str()];
        s.extend_from_slice(rest);
        s
    }

    // ---- transport ----

    async fn execute(&self, request: reqwest::RequestBuilder) -> Result<Answer, CrmError> {
        let request = request.build().map_err(error::transport)?;
        let (method, path) = (request.method().clone(), request.url().path().to_owned());
        self.gate.admit().await?;
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
            organization_id: token.id.as_deref().and_then(organization_of),
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
    pub(super) async fn send(
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

    /// A GET whose answer is JSON of type `T`.
    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url_for: &(dyn Fn(&str) -> Result<Url, CrmError> + Sync),
    ) -> Result<T, CrmError> {
        self.send(Method::GET, url_for, None, false, &[]).await?.json()
    }
}
