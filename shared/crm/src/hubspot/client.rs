//! The HubSpot client's core: the [`HubSpotClient`] value and the one
//! `call` every endpoint goes through.
//!
//! Owns the bearer token on every request, the request counter, pacing (the
//! 10-second window from the rate-limit headers, searches at their own
//! per-second pace), decoding success bodies and resending a 429 of the short
//! windows. Anything else comes back as a classified [`CrmError`] from
//! [`super::classify`]. It knows no endpoint: those live in sibling modules as
//! `impl HubSpotClient` blocks.

use super::budget::{DEFAULT_WINDOW_MAX, RateBudget, SendLog};
use super::classify;
use super::config::HubSpotConfig;
use super::webhook;
use crate::error::CrmError;
use chrono::Utc;
use reqwest::Method;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Most inputs HubSpot takes in one batch call.
pub const BATCH_LIMIT: usize = 100;

/// A HubSpot API client. Cheap to share (`Arc`); counts every request sent.
#[derive(Debug)]
pub struct HubSpotClient {
    http: reqwest::Client,
    base: String,
    config: HubSpotConfig,
    calls: AtomicU64,
    budget: Mutex<RateBudget>,
    /// The sends of the current rolling window (searches apart).
    sends: Mutex<SendLog>,
    /// When the latest search was sent, to pace searches.
    last_search: tokio::sync::Mutex<Option<Instant>>,
    /// Held by the one call in flight while HubSpot has not yet said how
    /// many calls the window allows.
    probe: tokio::sync::Mutex<()>,
    /// An answer came back (with or without the rate headers): calls no
    /// longer wait for one another's answers.
    answered: std::sync::atomic::AtomicBool,
}

/// A decoded success answer.
pub(crate) struct Answer {
    /// The 2xx status (201 for creates, 207 for partial batch answers).
    pub status: u16,
    /// The decoded JSON body; `Null` when the answer had none (204).
    pub body: Value,
}

impl HubSpotClient {
    /// A client for one account; no request is sent until the first call.
    /// Fails only on a bad extra root certificate or HTTP client setup.
    pub fn new(config: HubSpotConfig) -> Result<Self, CrmError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("crm-sync/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.extra_root_cert_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                let mut err = classify::invalid("the extra root certificate is not valid PEM");
                err.source = Some(Box::new(e));
                err
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(classify::transport)?;
        let base = config.base_url.trim_end_matches('/').to_owned();
        Ok(Self {
            http,
            base,
            config,
            calls: AtomicU64::new(0),
            budget: Mutex::new(RateBudget::default()),
            sends: Mutex::new(SendLog::default()),
            probe: tokio::sync::Mutex::new(()),
            answered: std::sync::atomic::AtomicBool::new(false),
            last_search: tokio::sync::Mutex::new(None),
        })
    }

    /// Requests sent since the client was built, retries included (monotonic).
    pub fn calls_made(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The rate-limit figures of the latest answer that carried them.
    pub fn budget(&self) -> RateBudget {
        *self.budget_lock()
    }

    /// The settings the client was built with.
    pub fn config(&self) -> &HubSpotConfig {
        &self.config
    }

    fn budget_lock(&self) -> MutexGuard<'_, RateBudget> {
        // Plain numbers: a panic elsewhere cannot leave them inconsistent.
        self.budget.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Until the first answer (which says how many calls the window
    /// allows), lets one call at a time go, returning its guard, held until
    /// its answer is read; after it, nothing. Answers without the rate
    /// headers leave the window at [`DEFAULT_WINDOW_MAX`].
    async fn probe_if_unknown(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.answered.load(Ordering::Relaxed) {
            return None;
        }
        let guard = self.probe.lock().await;
        (!self.answered.load(Ordering::Relaxed)).then_some(guard)
    }

    /// Waits for the 10-second window (or, for search, the per-second pace);
    /// the send's time in the log, for a call of the window.
    async fn pace(&self, is_search: bool) -> Option<Instant> {
        if is_search {
            let rate = self.config.search_per_second.max(1);
            let gap = Duration::from_millis(1000 / u64::from(rate));
            let mut last = self.last_search.lock().await;
            if let Some(t) = *last {
                tokio::time::sleep_until(t + gap).await;
            }
            *last = Some(Instant::now());
            return None;
        }
        // The client's own count first: however many calls are in flight,
        // no rolling window gets more than HubSpot allows.
        let sent_at = loop {
            let (max, interval) = {
                let budget = self.budget_lock();
                (budget.interval_max.unwrap_or(DEFAULT_WINDOW_MAX), budget.interval)
            };
            let now = Instant::now();
            let wait = {
                let mut sends = self.sends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let wait = sends.wait_before_send(now, max, interval);
                if wait.is_none() {
                    sends.record(now);
                }
                wait
            };
            match wait {
                None => break now,
                Some(wait) => {
                    tracing::debug!(wait_ms = wait.as_millis() as u64, "hubspot rate window full, waiting");
                    tokio::time::sleep(wait).await;
                }
            }
        };
        self.budget_lock().spend_one();
        Some(sent_at)
    }

    /// Sends one API request; resends 429s of the short windows.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, CrmError> {
        let body = body.map(serde_json::to_vec).transpose().map_err(|e| classify::decode(0, e))?;
        self.call_with(method, path, query, body).await
    }

    /// [`HubSpotClient::call`] with a JSON body already serialised (a large
    /// batch is written straight from its records, with no `Value` copy).
    pub(crate) async fn call_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, CrmError> {
        let (status, bytes) = self.call_for_bytes(method, path, query, body).await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| classify::decode(status, e))?
        };
        Ok(Answer { status, body })
    }

    /// [`HubSpotClient::call_with`], answering a success's status and body
    /// as sent, for a caller that reads the body into a shape of its own.
    pub(crate) async fn call_for_bytes(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), CrmError> {
        let url = format!("{}{}", self.base, path);
        let is_search = method == Method::POST && path.ends_with("/search");
        let mut retries = 0;
        loop {
            // Until an answer has told the window's size, one call at a time.
            let probe = if is_search { None } else { self.probe_if_unknown().await };
            let sent_at = self.pace(is_search).await;
            let mut request =
                self.http.request(method.clone(), &url).bearer_auth(self.config.token.expose()).query(query);
            if let Some(body) = &body {
                request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.clone());
            }
            self.calls.fetch_add(1, Ordering::Relaxed);
            let response = request.send().await.map_err(classify::transport)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            // What HubSpot counted that the log does not hold (arrivals
            // lagging sends, other processes of the app) is noted in it.
            let now = Instant::now();
            let remaining = self.budget_lock().observe(&headers, now);
            {
                let mut sends = self.sends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // HubSpot counted the request on arrival, before this
                // answer: the log keeps it until a window after the answer.
                if let Some(sent_at) = sent_at {
                    sends.answered(sent_at, now);
                }
                if let Some(remaining) = remaining {
                    let (max, interval) = {
                        let budget = self.budget_lock();
                        (budget.interval_max.unwrap_or(DEFAULT_WINDOW_MAX), budget.interval)
                    };
                    sends.reconcile(now, max, remaining, interval);
                }
            }
            self.answered.store(true, Ordering::Relaxed);
            drop(probe);
            let bytes = response.bytes().await.map_err(classify::transport)?;
            if (200..300).contains(&status) {
                tracing::debug!(%method, status, "hubspot call answered");
                return Ok((status, bytes.into()));
            }
            let error = classify::classify(status, &headers, &bytes, Utc::now());
            let short_window = status == 429 && error.retry_after().is_some_and(|d| d <= Duration::from_secs(60));
            if short_window && retries < self.config.max_rate_limit_retries {
                let wait = error.retry_after().unwrap_or(classify::TEN_SECONDLY_WAIT);
                retries += 1;
                tracing::warn!(code = %error.code, wait_ms = wait.as_millis() as u64, retries, "hubspot rate limited, retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            tracing::debug!(%method, status, code = %error.code, "hubspot call failed");
            return Err(error);
        }
    }

    /// Checks a webhook delivery with the configured client secret (v3
    /// only); see [`webhook::verify_request`].
    pub fn verify_webhook(
        &self,
        method: &str,
        uri: &str,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
        now: chrono::DateTime<Utc>,
    ) -> Result<webhook::SignatureVersion, webhook::SignatureError> {
        let secret = self.config.client_secret.as_ref().ok_or(webhook::SignatureError::NoSecret)?;
        webhook::verify_request(secret.expose(), method, uri, headers, body, now)
    }
}

/// Percent-encodes one path segment (ids may be emails).
pub(crate) fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}
