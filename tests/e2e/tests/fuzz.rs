//! Hostile bytes against every parser and both webhook doors: HubSpot event
//! deliveries, Salesforce outbound messages (SOAP), SOQL query answers as
//! the Salesforce client reads them, the settings file, and the webhook
//! endpoints of `crm-sync serve` and of the Lambda function. Seeded and
//! repeatable; the corpora live in `tests/e2e/fuzz/` (see `src/fuzz.rs`).
//!
//! Each target states what a correct answer is, beyond "no panic": the
//! endpoints answer 4xx, never 5xx, to what they cannot use, and accept
//! exactly what the parsers accept; the parsers and the client return an
//! error instead of failing any other way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sync_app::webhook::{hubspot_events, outbound};
use crm_sync_crm::salesforce::{SalesforceAuth, SalesforceClient, SalesforceConfig, Secret};
use crm_sync_domain::SyncConfig;
use crm_sync_e2e::fuzz;
use crm_sync_e2e::{Harness, HarnessOptions};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn hubspot_event_deliveries_parse_or_are_refused() {
    fuzz::run("hubspot_events", 10_000, |body| {
        if let Ok(events) = hubspot_events::parse(body) {
            for event in &events {
                // What the webhook use case reads of each event.
                let _ = (event.object(), event.action(), event.record_ids(), event.merged_ids());
            }
        }
        Ok(())
    });
}

#[test]
fn outbound_messages_parse_or_are_refused() {
    fuzz::run("outbound_soap", 10_000, |body| {
        let Ok(text) = std::str::from_utf8(body) else { return Ok(()) };
        match outbound::parse(text) {
            Ok(message) if message.notifications.len() > outbound::MAX_NOTIFICATIONS => {
                Err(format!("{} notifications accepted", message.notifications.len()))
            }
            Ok(message) if message.notifications.iter().any(|n| n.id.is_empty() || n.record_id.is_empty()) => {
                Err("a notification without its id or record id was accepted".into())
            }
            _ => Ok(()),
        }
    });
}

#[test]
fn settings_files_load_or_name_what_is_wrong() {
    fuzz::run("settings_yaml", 5000, |body| {
        let text = String::from_utf8_lossy(body);
        match SyncConfig::from_yaml_str(&text) {
            Ok(_) => Ok(()),
            Err(error) if error.to_string().trim().is_empty() => Err("an error with no message".into()),
            Err(_) => Ok(()),
        }
    });
}

/// The status and body the stand-in answers with.
type Answer = Arc<Mutex<(u16, Vec<u8>)>>;

/// A Salesforce stand-in on loopback: a valid token answer, then `body`
/// (with `status`) for every other request.
struct Answering {
    body: Answer,
    url: String,
}

async fn answering() -> Answering {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::{any, post};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body: Answer = Arc::new(Mutex::new((200, Vec::new())));
    let token = serde_json::json!({
        "access_token": "00Dfuzz!token",
        "instance_url": url,
        "id": format!("{url}/id/{}/005RO0000000001AAA", crm_sandbox::salesforce::ORG_ID),
        "token_type": "Bearer",
        "issued_at": "1764672000000",
        "signature": "c2ln"
    })
    .to_string();
    let router = axum::Router::new()
        .route("/services/oauth2/token", post(move || async move { token }))
        .fallback(any(|State(body): State<Answer>| async move {
            let (status, bytes) = body.lock().unwrap().clone();
            (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), [("content-type", "application/json")], bytes)
        }))
        .with_state(body.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Answering { body, url }
}

#[test]
fn soql_answers_are_read_or_reported_as_errors() {
    let rt = runtime();
    let server = rt.block_on(answering());
    let auth = SalesforceAuth::ClientCredentials { client_secret: Secret::new("fuzz") };
    let mut config = SalesforceConfig::new(&server.url, "fuzz", auth);
    config.timeout = WAIT;
    let client = rt.block_on(async { SalesforceClient::new(config) }).unwrap();
    let statuses = [200u16, 200, 200, 400, 500];
    let n = std::cell::Cell::new(0usize);
    fuzz::run("soql_answer", 3000, |body| {
        n.set(n.get() + 1);
        *server.body.lock().unwrap() = (statuses[n.get() % statuses.len()], body.to_vec());
        let answer = rt.block_on(async {
            tokio::time::timeout(WAIT, async {
                let query = client.query_page("SELECT Id, Email FROM Contact", None).await.map(|_| ());
                let count = client.count("SELECT COUNT() FROM Contact").await.map(|_| ());
                (query, count)
            })
            .await
        });
        match answer {
            Err(_) => Err("the client did not answer within its own timeout".into()),
            Ok(_) => Ok(()),
        }
    });
}

/// The harness with its webhooks turned off: only the fuzzer posts.
fn quiet_harness(rt: &tokio::runtime::Runtime) -> Harness {
    rt.block_on(Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() })).unwrap()
}

#[test]
fn the_hubspot_endpoint_refuses_what_it_cannot_use_and_never_fails() {
    let rt = runtime();
    let h = quiet_harness(&rt);
    let url = format!("{}/webhooks/hubspot", h.server.base_url());
    let http = reqwest::Client::new();
    let secret = crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET;
    let n = std::cell::Cell::new(0u64);
    fuzz::run("hubspot_events", 2000, |body| {
        n.set(n.get() + 1);
        // Two in three are signed as HubSpot signs, so that the bytes reach
        // the parser; the rest carry a signature of other bytes.
        let signed = !n.get().is_multiple_of(3);
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let signed_bytes = if signed { body.to_vec() } else { [body, b" "].concat() };
        let signature = crm_sandbox::hubspot::sign_v3(secret, "POST", &url, &signed_bytes, &timestamp);
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("x-hubspot-signature-v3", signature),
            ("x-hubspot-request-timestamp", timestamp),
        ];
        let expected = match (signed, hubspot_events::parse(body).is_ok()) {
            (false, _) => 401,
            (true, true) => 200,
            (true, false) => 400,
        };
        answered(&rt, &http, &url, &headers, body, expected)
    });
    work_off_and_stop(&rt, h);
}

/// Posts `body` with `headers`; `Err` unless the answer is `expected`.
fn answered(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
    expected: u16,
) -> Result<(), String> {
    let status = rt.block_on(async {
        let mut request = http.post(url).body(body.to_vec()).timeout(WAIT);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
        Ok::<u16, String>(response.status().as_u16())
    })?;
    if status != expected {
        return Err(format!("answered {status}, expected {expected}"));
    }
    Ok(())
}

/// What was accepted is worked off: no message retries without end.
fn work_off_and_stop(rt: &tokio::runtime::Runtime, h: Harness) {
    rt.block_on(async {
        h.runtime.run_until_idle().await.unwrap();
        let depth = h.app.sync_queue().depth().await.unwrap();
        assert_eq!(depth.visible + depth.in_flight, 0, "messages left on the queue: {depth:?}");
        h.stop().await;
    });
}

#[test]
fn the_salesforce_endpoint_refuses_what_it_cannot_use_and_never_fails() {
    let rt = runtime();
    let h = quiet_harness(&rt);
    let url = format!("{}/webhooks/salesforce", h.server.base_url());
    let http = reqwest::Client::new();
    fuzz::run("outbound_soap", 2000, |body| {
        let parsed = std::str::from_utf8(body).ok().map(outbound::parse);
        let expected = match parsed {
            Some(Ok(message)) if names_the_sandbox_org(&message.organization_id) => 200,
            Some(Ok(_)) => 401,
            _ => 400,
        };
        answered(&rt, &http, &url, &[("content-type", "text/xml; charset=utf-8".to_owned())], body, expected)
    });
    work_off_and_stop(&rt, h);
}

/// An org id (15 or 18 letters and digits) whose first 15 characters, which
/// name the org, are the sandbox org's.
fn names_the_sandbox_org(id: &str) -> bool {
    matches!(id.len(), 15 | 18)
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && id[..15] == crm_sandbox::salesforce::ORG_ID[..15]
}

#[test]
fn the_lambda_webhook_function_answers_every_event_without_a_server_error() {
    let rt = runtime();
    let h = quiet_harness(&rt);
    fuzz::run("lambda_event", 3000, |body| {
        let Ok(text) = std::str::from_utf8(body) else { return Ok(()) };
        // The Lambda runtime refuses an event it cannot read as a Function
        // URL request before the function runs: an error, or (lambda_http
        // 0.17, for a domain and path that form no URL, which AWS never
        // sends) a panic the runtime reports as the invocation's error.
        let read = std::panic::catch_unwind(|| lambda_http::request::from_str(text));
        let Ok(Ok(request)) = read else { return Ok(()) };
        let response =
            rt.block_on(crm_sync_webhook::handle(&h.app, request)).map_err(|e| format!("the function failed: {e}"))?;
        if response.status().is_server_error() {
            return Err(format!("answered {}", response.status()));
        }
        Ok(())
    });
    rt.block_on(h.stop());
}
