//! The operator commands run as processes against a CRM sandbox started by
//! the test (loopback, port 0): import review / start / status, usage,
//! resync, and `serve` answering on its webhook port until SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::{Sandbox, SandboxOptions};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SETTINGS: &str = "objects:\n  companies: true\nsalesforce_api_cap_per_24h: 5000\n";

fn credentials() -> String {
    json!({
        "salesforce_client_id": crm_sandbox::salesforce::DEFAULT_CLIENT_ID,
        "salesforce_client_secret": crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET,
        "hubspot_access_token": crm_sandbox::hubspot::DEFAULT_TOKEN,
        "hubspot_client_secret": crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET,
    })
    .to_string()
}

fn command(dir: &Path, sandbox: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-sync"));
    cmd.args(args)
        .env("CRM_SYNC_CONFIG_FILE", dir.join("crm-sync.yaml"))
        .env("CRM_SYNC_STATE", dir.join("state.sqlite"))
        .env("CRM_SYNC_SALESFORCE_LOGIN_URL", sandbox.salesforce_url())
        .env("CRM_SYNC_HUBSPOT_BASE_URL", sandbox.hubspot_url())
        .env("CRM_SYNC_CREDENTIALS", credentials())
        .env("RUST_LOG", "warn");
    cmd
}

async fn run(dir: &Path, sandbox: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = command(dir, sandbox, args);
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap_or_else(|error| panic!("joining: {error}"))
        .unwrap_or_else(|error| panic!("running crm-sync: {error}"))
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn sandbox_with_leads(leads: u64) -> (Sandbox, tempfile::TempDir) {
    let mut options = SandboxOptions::default().with_crm_sync_fields();
    options.salesforce.leads = leads;
    let sandbox = Sandbox::start(options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm-sync.yaml"), SETTINGS).unwrap();
    (sandbox, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_is_reviewed_run_and_listed_and_its_calls_show_in_usage() {
    let (sandbox, dir) = sandbox_with_leads(120).await;

    let review = ok(&run(dir.path(), &sandbox, &["import", "review", "--object", "leads"]).await);
    assert!(review.contains("120 records"), "{review}");
    assert_eq!(sandbox.hubspot_control().counts().total, 0, "a review writes nothing to HubSpot");

    let started = ok(&run(dir.path(), &sandbox, &["import", "start", "--object", "leads"]).await);
    assert!(started.contains("completed"), "{started}");
    assert_eq!(sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts), 120);

    let status = ok(&run(dir.path(), &sandbox, &["import", "status"]).await);
    assert!(status.contains("leads"), "{status}");
    assert!(status.contains("1/1"), "{status}");

    let usage = ok(&run(dir.path(), &sandbox, &["usage"]).await);
    let salesforce_row = usage.lines().find(|l| l.contains("salesforce")).unwrap_or_default().to_owned();
    let cells: Vec<&str> = salesforce_row.split(['│', '┆']).map(str::trim).filter(|c| !c.is_empty()).collect();
    let calls: u64 = cells.get(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    assert!(calls > 0, "no Salesforce calls counted: {usage}");
    assert_eq!(cells.get(2).copied(), Some("5000"), "{usage}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_refused_by_hubspot_fails_saying_why_and_a_resume_finishes_it_once_the_token_is_right() {
    let (sandbox, dir) = sandbox_with_leads(120).await;
    // Company sync off: nothing is asked of HubSpot before the chunk runs.
    std::fs::write(dir.path().join("crm-sync.yaml"), "objects:\n  companies: false\n").unwrap();
    let wrong = "pat-na1-00000000-0000-4000-8000-000000000000";
    let mut credentials: serde_json::Value = serde_json::from_str(&credentials()).unwrap();
    credentials["hubspot_access_token"] = json!(wrong);
    let mut cmd = command(dir.path(), &sandbox, &["import", "start", "--object", "leads"]);
    cmd.env("CRM_SYNC_CREDENTIALS", credentials.to_string());
    let output = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(said.contains("failed: hubspot 401: INVALID_AUTHENTICATION"), "says why: {said}");
    assert!(said.contains("import resume"), "says the way on: {said}");
    assert!(!said.contains(wrong), "no credential echoed: {said}");
    let job = said
        .split_whitespace()
        .skip_while(|w| *w != "import")
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no job id in {said}"));
    assert_eq!(sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts), 0);

    let status = ok(&run(dir.path(), &sandbox, &["import", "status"]).await);
    assert!(status.contains("failed: hubspot 401: INVALID_AUTHENTICATION"), "{status}");

    let resumed = ok(&run(dir.path(), &sandbox, &["import", "resume", &job]).await);
    assert!(resumed.contains("completed"), "{resumed}");
    assert_eq!(sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts), 120);
    let status = ok(&run(dir.path(), &sandbox, &["import", "status", &job]).await);
    let row = status.lines().find(|l| l.contains(&job)).unwrap_or_default();
    let cells: Vec<&str> = row.split(['│', '┆']).map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(cells.get(1).copied(), Some("completed"), "{status}");
    assert_eq!(cells.get(5..8), Some(&["120", "120", "0"][..]), "read, written, failed: {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_import_with_company_sync_off_is_refused_with_the_reason() {
    let (sandbox, dir) = sandbox_with_leads(0).await;
    std::fs::write(dir.path().join("crm-sync.yaml"), "objects:\n  companies: false\n").unwrap();
    let output = run(dir.path(), &sandbox, &["import", "review", "--object", "accounts"]).await;
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("company sync is off"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_resync_of_an_unknown_salesforce_object_is_refused_before_any_call() {
    let (sandbox, dir) = sandbox_with_leads(0).await;
    let output = run(
        dir.path(),
        &sandbox,
        &["resync", "record", "--system", "salesforce", "--object", "Case", "500000000000001AAA"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Lead, Contact, Account or Opportunity"));
    assert_eq!(sandbox.salesforce_control().counts().total, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_on_its_webhook_port_and_stops_cleanly_on_sigterm() {
    let (sandbox, dir) = sandbox_with_leads(0).await;
    let mut child = command(dir.path(), &sandbox, &["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (first, first_line) = tokio::sync::oneshot::channel();
    // Keeps reading until the process ends, so that its output never meets a
    // closed pipe.
    let drain = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = first.send(lines.next().and_then(Result::ok).unwrap_or_default());
        lines.count()
    });
    let first_line = first_line.await.unwrap();
    let base = first_line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first_line}");

    let health =
        reqwest::Client::new().get(format!("{base}/healthz")).timeout(Duration::from_secs(10)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let unsigned = reqwest::Client::new()
        .post(format!("{base}/webhooks/hubspot"))
        .body("[]")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401, "an unsigned delivery is refused");

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "serve exited with {status:?}");
    drain.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_detached_import_is_worked_by_a_running_serve_on_the_same_state_file() {
    let (sandbox, dir) = sandbox_with_leads(40).await;
    let queued = ok(&run(dir.path(), &sandbox, &["import", "start", "--object", "leads", "--detach"]).await);
    assert!(queued.contains("queued"), "{queued}");
    assert_eq!(sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts), 0);

    let mut child = command(dir.path(), &sandbox, &["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut imported = 0;
    for _ in 0..300 {
        imported = sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts);
        if imported == 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert_eq!(imported, 40, "serve did not work the queued import");
    assert!(status.success(), "serve exited with {status:?}");

    let status = ok(&run(dir.path(), &sandbox, &["import", "status"]).await);
    assert!(status.contains("completed"), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jwt_bearer_flow_with_credentials_from_a_secrets_file_reaches_both_crms() {
    // The connected app's consumer secret is not the default one, so only the
    // JWT bearer flow (the key and the username) can sign in.
    let mut options = SandboxOptions::default().with_crm_sync_fields();
    options.salesforce.leads = 3;
    options.salesforce.client_secret = "a-secret-nobody-was-given".into();
    let sandbox = Sandbox::start(options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm-sync.yaml"), SETTINGS).unwrap();
    let refused = run(dir.path(), &sandbox, &["import", "review", "--object", "leads"]).await;
    assert!(!refused.status.success(), "the default client credentials are refused");
    let secrets = dir.path().join("secrets.json");
    std::fs::write(
        &secrets,
        json!({
            "salesforce_client_id": crm_sandbox::salesforce::DEFAULT_CLIENT_ID,
            "salesforce_username": crm_sandbox::salesforce::DEFAULT_USERNAME,
            "salesforce_private_key_pem": crm_sandbox::salesforce::DEFAULT_JWT_PRIVATE_KEY_PEM,
            "hubspot_access_token": crm_sandbox::hubspot::DEFAULT_TOKEN,
            "hubspot_client_secret": crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET,
        })
        .to_string(),
    )
    .unwrap();
    let secrets_arg = secrets.to_string_lossy().into_owned();
    let mut cmd =
        command(dir.path(), &sandbox, &["import", "start", "--object", "leads", "--secrets-file", &secrets_arg]);
    cmd.env_remove("CRM_SYNC_CREDENTIALS");
    let output = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    let stdout = ok(&output);
    assert!(stdout.contains("3"), "{stdout}");
    assert_eq!(sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts), 3);
    // The private key never shows in what the command printed.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains("PRIVATE KEY") && !stderr.contains("PRIVATE KEY"));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_org_move_shows_what_it_will_do_asks_first_and_relinks_the_contacts() {
    let (sandbox, dir) = sandbox_with_leads(120).await;
    ok(&run(dir.path(), &sandbox, &["import", "start", "--object", "leads"]).await);
    let hubspot_calls = sandbox.hubspot_control().counts().total;

    // Not agreed to (no answer on stdin): nothing happens, and it says so.
    let refused = run(dir.path(), &sandbox, &["org-move"]).await;
    assert_eq!(refused.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(stdout.contains("contact         120"), "{stdout}");
    assert!(stdout.contains("about 4 Salesforce API calls"), "{stdout}");
    assert!(stdout.contains("not started"), "{stdout}");
    assert_eq!(sandbox.hubspot_control().counts().total, hubspot_calls, "nothing was read");

    // The same org: every contact finds its record again.
    let moved = ok(&run(dir.path(), &sandbox, &["org-move", "--yes"]).await);
    assert!(moved.contains("120 contact link(s) moved to the new org, 0 dropped"), "{moved}");
    assert_eq!(sandbox.hubspot_control().counts().total, hubspot_calls + 2, "one read per 100 contacts");
}
