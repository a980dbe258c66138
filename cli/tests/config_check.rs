//! `crm-sync config check` run as a process on good and bad settings files:
//! exit code and the message people see.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn crm_sync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|error| panic!("running crm-sync failed: {error}"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Writes `yaml` to a fresh temporary file and checks it.
fn check(yaml: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    let path = dir.path().join("crm-sync.yaml");
    std::fs::write(&path, yaml).unwrap_or_else(|error| panic!("writing config: {error}"));
    let output = crm_sync(&["config", "check", path.to_str().unwrap_or_default()]);
    (output, dir)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_example_settings_file_passes_the_check() {
    let output = crm_sync(&["config", "check"]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("crm-sync.example.yaml: ok"), "stdout: {stdout}");
    assert!(stdout.contains("contacts"), "stdout: {stdout}");
}

#[test]
fn a_type_mismatch_fails_naming_the_line_the_mapping_and_the_fix() {
    let yaml = "\
version: 1
mappings:
  contact:
    - name: Shoe size
      hubspot: shoe_size
      hubspot_type: number
      salesforce: Shoe_Size__c
      salesforce_type: boolean
      rule: two_way
";
    let (output, _dir) = check(yaml);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("crm-sync.yaml:4"), "no line in: {message}");
    assert!(message.contains("Shoe size"), "no mapping name in: {message}");
    assert!(message.contains("number"), "no HubSpot type in: {message}");
    assert!(message.contains("boolean"), "no Salesforce type in: {message}");
    assert!(message.contains("fix:"), "no fix in: {message}");
}

#[test]
fn an_unknown_rule_fails_listing_the_rules_that_exist() {
    let yaml = "\
mappings:
  contact:
    - hubspot: jobtitle
      salesforce: Title
      rule: sometimes
";
    let (output, _dir) = check(yaml);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("crm-sync.yaml:3"), "no line in: {message}");
    assert!(message.contains("sometimes"), "no bad rule in: {message}");
    assert!(message.contains("two_way"), "no list of rules in: {message}");
    assert!(message.contains("jobtitle"), "no mapping in: {message}");
}

#[test]
fn deleting_a_default_mapping_fails_and_says_to_use_dont_sync() {
    let yaml = "\
mappings:
  contact:
    - hubspot: firstname
      salesforce: FirstName
      deleted: true
";
    let (output, _dir) = check(yaml);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("crm-sync.yaml:3"), "no line in: {message}");
    assert!(message.contains("cannot be deleted"), "no reason in: {message}");
    assert!(message.contains("dont_sync"), "no fix in: {message}");
    assert!(message.contains("firstname"), "no mapping in: {message}");
}

#[test]
fn a_missing_settings_file_fails_with_the_path() {
    let output = crm_sync(&["config", "check", "config/does-not-exist.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("does-not-exist.yaml"), "{message}");
}
