//! The sync-health page as the operator starts it, as processes against a
//! CRM sandbox started by the test (loopback, port 0): `serve` prints the
//! page's login address beside its webhook addresses and serves both;
//! `crm-sync ui` serves the page alone over the same state file. The login
//! token reaches stdout only, never the logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::{Sandbox, SandboxOptions};
use serde_json::json;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn credentials() -> String {
    json!({
        "salesforce_client_id": crm_sandbox::salesforce::DEFAULT_CLIENT_ID,
        "salesforce_client_secret": crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET,
        "hubspot_access_token": crm_sandbox::hubspot::DEFAULT_TOKEN,
        "hubspot_client_secret": crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET,
    })
    .to_string()
}

/// Starts `crm-sync <args>` with info logs on stderr; returns the child and
/// the stdout line that holds the page's login address.
async fn start(dir: &Path, sandbox: &Sandbox, args: &[&str]) -> (Child, String, tokio::task::JoinHandle<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(args)
        .env("CRM_SYNC_CONFIG_FILE", dir.join("crm-sync.yaml"))
        .env("CRM_SYNC_STATE", dir.join("state.sqlite"))
        .env("CRM_SYNC_SALESFORCE_LOGIN_URL", sandbox.salesforce_url())
        .env("CRM_SYNC_HUBSPOT_BASE_URL", sandbox.hubspot_url())
        .env("CRM_SYNC_CREDENTIALS", credentials())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (found, login_line) = tokio::sync::oneshot::channel();
    // Keeps reading until the process ends, so that it never meets a closed pipe.
    tokio::task::spawn_blocking(move || {
        let mut found = Some(found);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("/ui?token=")
                && let Some(found) = found.take()
            {
                let _ = found.send(line);
            }
        }
    });
    let logs = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let line = tokio::time::timeout(Duration::from_secs(60), login_line).await.unwrap().unwrap();
    (child, line, logs)
}

async fn stop(child: Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut child = child;
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exited with {status:?}");
}

/// Logs in with the printed address and returns the session cookie.
async fn login(http: &reqwest::Client, address: &str) -> String {
    let response = http.get(address).send().await.unwrap();
    assert_eq!(response.status(), 303, "the token is exchanged for a session");
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

fn address_in(line: &str) -> String {
    line.split_whitespace().find(|word| word.contains("/ui?token=")).unwrap().to_owned()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn sandbox_and_settings() -> (Sandbox, tempfile::TempDir) {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm-sync.yaml"), "salesforce_api_cap_per_24h: 5000\n").unwrap();
    (sandbox, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_prints_the_page_s_login_address_once_and_serves_the_page_beside_the_webhooks() {
    let (sandbox, dir) = sandbox_and_settings().await;
    let (child, line, logs) = start(dir.path(), &sandbox, &["serve", "--listen", "127.0.0.1:0"]).await;
    let address = address_in(&line);
    assert!(address.starts_with("http://127.0.0.1:"), "{line}");
    let base = address.split("/ui?").next().unwrap().to_owned();
    let http = no_redirects();
    assert_eq!(http.get(format!("{base}/ui")).send().await.unwrap().status(), 401, "no session, no page");
    let cookie = login(&http, &address).await;
    let page = http.get(format!("{base}/ui")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Errors by category"));
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    stop(child).await;
    let token = address.rsplit('=').next().unwrap();
    let logs = logs.await.unwrap();
    assert!(logs.contains("ServeStarted"), "the logs were read: {logs}");
    assert!(!logs.contains(token), "the login token is never logged: {logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn crm_sync_ui_serves_the_page_alone_over_the_state_file() {
    let (sandbox, dir) = sandbox_and_settings().await;
    let (child, line, logs) = start(dir.path(), &sandbox, &["ui", "--listen", "127.0.0.1:0"]).await;
    let address = address_in(&line);
    let base = address.split("/ui?").next().unwrap().to_owned();
    let http = no_redirects();
    let cookie = login(&http, &address).await;
    let page = http.get(format!("{base}/ui")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("No sync-health errors"), "{body}");
    let webhook = http.post(format!("{base}/webhooks/hubspot")).body("[]").send().await.unwrap();
    assert_eq!(webhook.status(), 404, "the page's server takes no webhooks");
    stop(child).await;
    let token = address.rsplit('=').next().unwrap();
    let logs = logs.await.unwrap();
    assert!(logs.contains("SyncHealthPageStarted") && !logs.contains(token), "{logs}");
}
