//! `crm-sync setup` and its alias `doctor` as processes against a fresh CRM
//! sandbox (loopback, port 0): not ready and exit 1 on a bare pair of
//! accounts, ready and exit 0 after `--apply`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::{Sandbox, SandboxOptions};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn credentials() -> String {
    json!({
        "salesforce_client_id": crm_sandbox::salesforce::DEFAULT_CLIENT_ID,
        "salesforce_client_secret": crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET,
        "hubspot_access_token": crm_sandbox::hubspot::DEFAULT_TOKEN,
    })
    .to_string()
}

async fn run(dir: &Path, sandbox: &Sandbox, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-sync"));
    cmd.args(args)
        .env("CRM_SYNC_CONFIG_FILE", dir.join("crm-sync.yaml"))
        .env("CRM_SYNC_SALESFORCE_LOGIN_URL", sandbox.salesforce_url())
        .env("CRM_SYNC_HUBSPOT_BASE_URL", sandbox.hubspot_url())
        .env("CRM_SYNC_PUBLIC_URL", "https://sync.example")
        .env("CRM_SYNC_CREDENTIALS", credentials())
        .env("RUST_LOG", "warn");
    let output: Output = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), text)
}

/// The cells of the table row whose item is `item`.
fn row(output: &str, item: &str) -> Vec<String> {
    output
        .lines()
        .map(|l| l.split(['│', '┆']).map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect::<Vec<_>>())
        .rfind(|cells| cells.get(1).is_some_and(|c| c == item))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_finds_a_bare_org_not_ready_and_apply_makes_it_ready() {
    let mut options = SandboxOptions::default();
    options.salesforce.outbound_url = Some("https://sync.example/webhooks/salesforce".into());
    let sandbox = Sandbox::start(options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm-sync.yaml"), "objects:\n  companies: true\n").unwrap();

    let (code, said) = run(dir.path(), &sandbox, &["setup"]).await;
    assert_eq!(code, Some(1), "{said}");
    assert_eq!(row(&said, "Lead: HubSpot_Id__c").get(2).map(String::as_str), Some("missing"), "{said}");
    assert_eq!(row(&said, "Account: HubSpot_Id__c").get(2).map(String::as_str), Some("missing"), "{said}");
    assert!(said.contains("`crm-sync setup --apply` would:"), "{said}");
    assert!(!sandbox.salesforce().has_field("Lead", "HubSpot_Id__c"), "a check creates nothing");

    let (code, said) = run(dir.path(), &sandbox, &["doctor", "--apply"]).await;
    assert_eq!(code, Some(0), "{said}");
    let plan = said.find("setup will:").unwrap_or_else(|| panic!("no plan printed: {said}"));
    let created = said.find("done: Salesforce: create the field HubSpot_Id__c").unwrap_or(0);
    assert!(plan < created, "the plan comes before the work: {said}");
    assert_eq!(row(&said, "Lead: HubSpot_Id__c").get(2).map(String::as_str), Some("ok"), "{said}");
    assert!(said.contains("ready; 1 to check by hand"), "{said}");

    let (code, said) = run(dir.path(), &sandbox, &["setup"]).await;
    assert_eq!(code, Some(0), "{said}");
}
