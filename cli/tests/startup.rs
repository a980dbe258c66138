//! What `crm-sync` refuses at start, run as a process: credentials missing
//! for real CRMs or of the wrong type, a state file of a newer schema, a
//! settings file nested beyond reason; and the mode of the state it creates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `crm-sync` with the settings and state of `dir`, against the real CRMs'
/// default URLs, with no credentials from the environment.
fn crm_sync(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-sync"));
    cmd.args(args)
        .env("CRM_SYNC_CONFIG_FILE", dir.join("crm-sync.yaml"))
        .env("CRM_SYNC_STATE", dir.join("state").join("state.sqlite"))
        .env("RUST_LOG", "warn")
        .env_remove("CRM_SYNC_CREDENTIALS")
        .env_remove("CRM_SYNC_SECRETS_FILE")
        .env_remove("CRM_SYNC_SALESFORCE_LOGIN_URL")
        .env_remove("CRM_SYNC_HUBSPOT_BASE_URL")
        .env_remove("CRM_SYNC_SALESFORCE_ORG_ID");
    cmd
}

fn settings_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm-sync.yaml"), "version: 1\n").unwrap();
    dir
}

/// Runs the command to its end; a command still running after `limit` is
/// killed and reported as such (it did not refuse to start).
fn finish(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}; stdout: {}", String::from_utf8_lossy(&output.stdout));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn serve_against_the_real_crms_without_credentials_refuses_to_start_naming_each_missing_one() {
    let dir = settings_dir();
    let output = finish(crm_sync(dir.path(), &["serve", "--listen", "127.0.0.1:0"]), Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = stderr(&output);
    for name in ["salesforce_client_id", "salesforce_client_secret", "hubspot_access_token", "hubspot_client_secret"] {
        assert!(error.contains(name), "{name} is not named: {error}");
    }
    assert!(error.contains("CRM_SYNC_CREDENTIALS"), "says where they go: {error}");
}

#[test]
fn a_credential_of_the_wrong_type_is_refused_without_echoing_it() {
    let dir = settings_dir();
    let mut cmd = crm_sync(dir.path(), &["import", "review", "--object", "leads"]);
    cmd.env("CRM_SYNC_CREDENTIALS", r#"{"hubspot_access_token": 31415926535, "salesforce_client_id": true}"#);
    let output = finish(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains("CRM_SYNC_CREDENTIALS"), "{error}");
    assert!(!error.contains("31415926535"), "the value is echoed: {error}");
}

#[test]
fn a_state_file_of_a_newer_schema_is_refused_naming_the_file_the_version_and_the_fix() {
    let dir = settings_dir();
    let state = dir.path().join("state").join("state.sqlite");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    rusqlite::Connection::open(&state).unwrap().execute_batch("PRAGMA user_version = 7;").unwrap();
    let output = finish(crm_sync(dir.path(), &["health"]), Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = stderr(&output);
    assert!(error.contains(&state.display().to_string()), "names the file: {error}");
    assert!(error.contains("schema version 7"), "names the version: {error}");
    assert!(error.contains("Run that version"), "says the fix: {error}");
}

#[cfg(unix)]
#[test]
fn the_state_folder_and_file_are_created_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = settings_dir();
    let output = finish(crm_sync(dir.path(), &["usage"]), Duration::from_secs(60));
    assert!(output.status.success(), "{}", stderr(&output));
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let folder = dir.path().join("state");
    assert_eq!(mode(&folder), 0o700, "the state folder");
    assert_eq!(mode(&folder.join("state.sqlite")), 0o600, "the state file");
}

#[test]
fn a_settings_file_nested_100000_levels_deep_is_refused_with_its_line() {
    let dir = settings_dir();
    let nested = format!("version: 1\nmappings: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(dir.path().join("crm-sync.yaml"), nested).unwrap();
    let file = dir.path().join("crm-sync.yaml");
    let output = finish(crm_sync(dir.path(), &["config", "check", file.to_str().unwrap()]), Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains("crm-sync.yaml:2"), "names the file and line: {error}");
    assert!(error.contains("deeper than 64 levels"), "names the limit: {error}");
    assert!(error.len() < 2_000, "the offending line is not echoed whole ({} bytes)", error.len());
}
