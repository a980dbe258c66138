//! The OAuth token endpoint (JWT bearer and client credentials, crm-api.md
//! A1) and the bearer-token check in front of every data path.

use super::SalesforceState;
use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn oauth_error(error: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error, "error_description": description}))).into_response()
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    prn: Option<String>,
    exp: i64,
}

/// `POST /services/oauth2/token`.
pub async fn token(State(state): State<Arc<SalesforceState>>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    let opts = &state.options;
    match grant {
        "client_credentials" => {
            let (mut id, mut secret) = (form.get("client_id").cloned(), form.get("client_secret").cloned());
            if let Some(basic) = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok())
                && let Some((i, s)) = basic.split_once(':')
            {
                id = Some(i.to_owned());
                secret = Some(s.to_owned());
            }
            if id.as_deref() != Some(opts.client_id.as_str()) {
                return oauth_error("invalid_client_id", "client identifier invalid");
            }
            if secret.as_deref() != Some(opts.client_secret.as_str()) {
                return oauth_error("invalid_client", "invalid client credentials");
            }
            issue(&state)
        }
        JWT_GRANT => {
            let Some(assertion) = form.get("assertion") else {
                return oauth_error("invalid_request", "assertion is missing");
            };
            let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(opts.jwt_public_key_pem.as_bytes()) else {
                return oauth_error("invalid_grant", "invalid assertion");
            };
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            let base = state.base_url();
            validation.set_audience(&["https://login.salesforce.com", "https://test.salesforce.com", base.as_str()]);
            validation.leeway = 0;
            let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
                Ok(data) => data.claims,
                Err(e) => {
                    let description = match e.kind() {
                        jsonwebtoken::errors::ErrorKind::ExpiredSignature => "expired authorization code",
                        jsonwebtoken::errors::ErrorKind::InvalidAudience => "audience is invalid",
                        _ => "invalid assertion",
                    };
                    return oauth_error("invalid_grant", description);
                }
            };
            if claims.exp > chrono::Utc::now().timestamp() + 300 {
                return oauth_error("invalid_grant", "invalid assertion");
            }
            if claims.iss != opts.client_id {
                return oauth_error("invalid_client_id", "client identifier invalid");
            }
            let subject = claims.prn.or(claims.sub).unwrap_or_default();
            if subject != opts.username {
                return oauth_error("invalid_grant", "user hasn't approved this consumer");
            }
            issue(&state)
        }
        "refresh_token" => oauth_error("invalid_grant", "expired access/refresh token"),
        "" => oauth_error("invalid_request", "grant type not supported"),
        _ => oauth_error("unsupported_grant_type", "grant type not supported"),
    }
}

fn issue(state: &SalesforceState) -> Response {
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes);
    let access_token = format!("{}!{}", super::ORG_ID, hex::encode(bytes));
    state.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(access_token.clone());
    let base = state.base_url();
    let user = state.org_read().integration_user;
    let id = format!("{base}/id/{}/{user}", super::ORG_ID);
    let issued_at = chrono::Utc::now().timestamp_millis().to_string();
    let signature = Hmac::<Sha256>::new_from_slice(state.options.client_secret.as_bytes())
        .map(|mut mac| {
            mac.update(id.as_bytes());
            mac.update(issued_at.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    tracing::debug!("salesforce access token issued");
    Json(json!({
        "access_token": access_token,
        "signature": signature,
        "scope": "api",
        "instance_url": base,
        "id": id,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }))
    .into_response()
}

fn limit_header(state: &SalesforceState) -> HeaderValue {
    let used = state.api_used.load(Ordering::SeqCst);
    let max = state.api_max.load(Ordering::SeqCst);
    HeaderValue::from_str(&format!("api-usage={used}/{max}")).unwrap_or(HeaderValue::from_static("api-usage=0/0"))
}

/// Checks the bearer token, counts the call against the daily allocation
/// (refusing it once spent), and adds `Sforce-Limit-Info` to the answer.
pub async fn guard(State(state): State<Arc<SalesforceState>>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("OAuth ")))
        .map(str::to_owned);
    let known =
        token.is_some_and(|t| state.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&t));
    if !known {
        let body = json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let max = state.api_max.load(Ordering::SeqCst);
    let admitted = state
        .api_used
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| (used < max).then_some(used + 1))
        .is_ok();
    let mut response = if admitted {
        next.run(request).await
    } else {
        let body = json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]);
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    };
    response.headers_mut().insert("sforce-limit-info", limit_header(&state));
    response
}
