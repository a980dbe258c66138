//! Rate limits and error classes: the fake's windows and headers, the
//! client's budget, its retry of short-window 429s, and every error class.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hubspot_support;

use crm_sandbox::Fault;
use crm_sandbox::hubspot::{DEFAULT_TOKEN, HubSpotOptions};
use crm_sync_crm::hubspot::{Filter, FilterGroup, SearchRequest};
use crm_sync_domain::error::ErrorCategory;
use hubspot_support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// A recorded answer (`tests/fixtures`, checked against HubSpot's schema).
fn recorded(json: &str) -> Value {
    serde_json::from_str(json).expect("a recorded answer is JSON")
}

fn ten_secondly_body() -> Value {
    recorded(include_str!("fixtures/hubspot/rate-limit-error.ten-secondly.json"))
}

#[tokio::test]
async fn the_fake_enforces_the_ten_second_window_with_hubspots_headers_and_body() {
    let sb = sandbox(HubSpotOptions { rate_limit_per_10s: 3, daily_limit: 100, ..HubSpotOptions::default() }).await;
    let http = reqwest::Client::new();
    let url = format!("{}/crm/v3/objects/contacts", sb.hubspot_url());
    let mut last = None;
    for expected_remaining in ["2", "1", "0"] {
        let resp = http.get(&url).bearer_auth(DEFAULT_TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-hubspot-ratelimit-remaining"], expected_remaining);
        assert_eq!(resp.headers()["x-hubspot-ratelimit-max"], "3");
        assert_eq!(resp.headers()["x-hubspot-ratelimit-interval-milliseconds"], "10000");
        last = Some(resp.headers()["x-hubspot-ratelimit-daily-remaining"].to_str().unwrap().to_owned());
    }
    assert_eq!(last.as_deref(), Some("97"));
    let resp = http.get(&url).bearer_auth(DEFAULT_TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(body["message"], "You have reached your ten_secondly_rolling limit.");
}

#[tokio::test]
async fn the_fake_limits_search_per_second_without_rate_headers() {
    let sb = sandbox(HubSpotOptions { search_per_second: 2, ..HubSpotOptions::default() }).await;
    let http = reqwest::Client::new();
    let url = format!("{}/crm/v3/objects/contacts/search", sb.hubspot_url());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = http.post(&url).bearer_auth(DEFAULT_TOKEN).json(&json!({"filterGroups": []})).send().await.unwrap();
        assert!(resp.headers().get("x-hubspot-ratelimit-remaining").is_none());
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["policyName"], "SECONDLY");
            assert_eq!(body["message"], "You have reached your secondly limit.");
        }
    }
    assert_eq!(statuses, vec![200, 200, 429]);
}

#[tokio::test]
async fn the_budget_reflects_the_rate_limit_headers() {
    let sb = sandbox(HubSpotOptions { rate_limit_per_10s: 50, daily_limit: 1000, ..HubSpotOptions::default() }).await;
    let hs = client(&sb);
    assert_eq!(hs.budget().interval_remaining, None);
    hs.list_page("contacts", &[], None, 10, false).await.unwrap();
    hs.list_page("contacts", &[], None, 10, false).await.unwrap();
    let b = hs.budget();
    assert_eq!((b.interval_max, b.interval_remaining), (Some(50), Some(48)));
    assert_eq!((b.daily_max, b.daily_remaining), (Some(1000), Some(998)));
    assert_eq!(b.interval, Duration::from_secs(10));
}

#[tokio::test]
async fn the_client_waits_for_a_spent_window_instead_of_hitting_the_limit() {
    let sb = sandbox(HubSpotOptions { rate_limit_per_10s: 2, ..HubSpotOptions::default() }).await;
    let hs = client(&sb);
    for _ in 0..3 {
        hs.list_page("contacts", &[], None, 10, false).await.unwrap();
    }
    assert_eq!(hs.calls_made(), 3, "no call was refused and resent");
    assert_eq!(sb.hubspot_control().counts().total, 3);
}

/// Calls in flight at once share the window: the first call learns its
/// size, and the client counts its own sends, so none is refused.
#[tokio::test]
async fn concurrent_calls_stay_within_the_rolling_window() {
    let sb = sandbox(HubSpotOptions { rate_limit_per_10s: 4, ..HubSpotOptions::default() }).await;
    let hs = client(&sb);
    let calls = (0..8).map(|_| hs.list_page("contacts", &[], None, 10, false));
    for answer in futures::future::join_all(calls).await {
        answer.unwrap();
    }
    assert_eq!(hs.calls_made(), 8, "no call was refused and resent");
    assert_eq!(sb.hubspot_control().counts().total, 8);
}

#[tokio::test]
async fn a_ten_secondly_429_is_retried_after_its_window() {
    let sb = sandbox(HubSpotOptions::default()).await;
    sb.hubspot_control().add_fault(
        Fault::new(429, 1, "/crm/v3/objects/contacts").with_body(ten_secondly_body()).with_header("Retry-After", "1"),
    );
    let hs = client(&sb);
    let created = hs.create("contacts", &props(&[("email", "retry@example.com")])).await.unwrap();
    assert_eq!(created.property("email"), Some("retry@example.com"));
    assert_eq!(hs.calls_made(), 2);
    assert_eq!(sb.hubspot_control().counts().total, 2);
}

#[tokio::test]
async fn a_secondly_search_429_is_retried() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let body = recorded(include_str!("fixtures/hubspot/rate-limit-error.secondly.json"));
    sb.hubspot_control().add_fault(Fault::new(429, 2, "/crm/v3/objects/contacts/search").with_body(body));
    let hs = client(&sb);
    let req = SearchRequest {
        filter_groups: vec![FilterGroup { filters: vec![Filter::presence("email", true)] }],
        limit: 10,
        ..SearchRequest::default()
    };
    let page = hs.search_page("contacts", &req).await.unwrap();
    assert_eq!(page.total, Some(0));
    assert_eq!(hs.calls_made(), 3);
}

#[tokio::test]
async fn retries_stop_after_the_configured_number() {
    let sb = sandbox(HubSpotOptions::default()).await;
    sb.hubspot_control().add_fault(
        Fault::new(429, 10, "/crm/v3/objects").with_body(ten_secondly_body()).with_header("Retry-After", "0"),
    );
    let mut config =
        crm_sync_crm::hubspot::HubSpotConfig::new(sb.hubspot_url(), crm_sync_crm::hubspot::Secret::new(DEFAULT_TOKEN));
    config.max_rate_limit_retries = 2;
    let hs = crm_sync_crm::hubspot::HubSpotClient::new(config).unwrap();
    let err = hs.list_page("contacts", &[], None, 10, false).await.unwrap_err();
    assert_eq!((err.status, err.code.as_str(), err.category), (429, "TEN_SECONDLY_ROLLING", ErrorCategory::ApiLimit));
    assert!(err.is_retryable());
    assert_eq!(hs.calls_made(), 3);
}

#[tokio::test]
async fn the_daily_limit_is_not_retried_and_waits_past_midnight() {
    let sb = sandbox(HubSpotOptions { daily_limit: 2, ..HubSpotOptions::default() }).await;
    let hs = client(&sb);
    hs.list_page("contacts", &[], None, 10, false).await.unwrap();
    hs.list_page("contacts", &[], None, 10, false).await.unwrap();
    let err = hs.list_page("contacts", &[], None, 10, false).await.unwrap_err();
    assert_eq!((err.status, err.code.as_str(), err.category), (429, "DAILY", ErrorCategory::ApiLimit));
    let wait = err.retry_after().unwrap();
    assert!(wait > Duration::from_secs(60) && wait <= Duration::from_secs(24 * 3600 + 60), "{wait:?}");
    assert_eq!(hs.calls_made(), 3);
}

#[tokio::test]
async fn server_errors_come_back_retryable_without_a_resend() {
    let sb = sandbox(HubSpotOptions::default()).await;
    sb.hubspot_control().add_fault(Fault::new(503, 1, "/crm/v3/objects/contacts"));
    let hs = client(&sb);
    let err = hs.list_page("contacts", &[], None, 10, false).await.unwrap_err();
    assert_eq!(err.status, 503);
    assert!(err.is_retryable());
    assert_eq!(err.category, ErrorCategory::Other);
    assert_eq!(hs.calls_made(), 1);
}

#[tokio::test]
async fn a_missing_scope_is_a_permanent_access_error_with_hubspots_message() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let body = recorded(include_str!("fixtures/hubspot/error.missing-scopes.json"));
    sb.hubspot_control().add_fault(Fault::new(403, 1, "/crm/v3/objects/deals").with_body(body));
    let hs = client(&sb);
    let err = hs.list_page("deals", &[], None, 10, false).await.unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str(), err.category),
        (403, "MISSING_SCOPES", ErrorCategory::PermissionsOrAccess)
    );
    assert_eq!(err.message, "This app hasn't been granted all required scopes to make this call.");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_unreachable_host_is_a_retryable_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let hs = crm_sync_crm::hubspot::HubSpotClient::new(crm_sync_crm::hubspot::HubSpotConfig::new(
        url,
        crm_sync_crm::hubspot::Secret::new("t"),
    ))
    .unwrap();
    let err = hs.list_page("contacts", &[], None, 10, false).await.unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (0, "TRANSPORT"));
    assert!(err.is_retryable());
    assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
}

#[tokio::test]
async fn the_token_never_prints() {
    let config = crm_sync_crm::hubspot::HubSpotConfig::new(
        "http://127.0.0.1:1",
        crm_sync_crm::hubspot::Secret::new(DEFAULT_TOKEN),
    );
    let printed = format!("{config:?}");
    assert!(!printed.contains(DEFAULT_TOKEN), "{printed}");
    assert!(printed.contains("Secret(***)"));
}
