//! `crm-sync health` and `crm-sync usage` run as processes over a state file
//! written through the store's own API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sync_app::store::prelude::*;
use crm_sync_app::store::{ErrorReport, ObjectPair, SqliteStore, System, SystemClock};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

const SETTINGS: &str = "salesforce_api_cap_per_24h: 1000\n";

fn crm_sync(dir: &Path, args: &[&str]) -> Output {
    let config = dir.join("crm-sync.yaml");
    let state = dir.join("state.sqlite");
    Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap_or_else(|error| panic!("running crm-sync failed: {error}"))
}

fn report(key: &str, category: &str, message: &str) -> ErrorReport {
    ErrorReport {
        key: key.into(),
        category: category.into(),
        pair: ObjectPair::Contact,
        salesforce_id: Some(format!("00Q{key}")),
        hubspot_id: Some("501".into()),
        message: message.into(),
        retryable: false,
    }
}

/// A state folder with two sync-health errors and some API usage.
async fn seeded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm-sync.yaml"), SETTINGS).unwrap();
    let store = SqliteStore::open(dir.path().join("state.sqlite"), Arc::new(SystemClock)).unwrap();
    store.record_error(&report("1", "duplicates", "two leads share this email")).await.unwrap();
    store.record_error(&report("2", "property_value_or_validation", "bad picklist value, Rating")).await.unwrap();
    store.record_error(&report("2", "property_value_or_validation", "bad picklist value, Rating")).await.unwrap();
    store.add_api_calls(System::Salesforce, 250).await.unwrap();
    store.add_api_calls(System::HubSpot, 31).await.unwrap();
    dir
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn health_lists_every_error_in_a_table() {
    let dir = seeded().await;
    let out = stdout(&crm_sync(dir.path(), &["health"]));
    assert!(out.contains("two leads share this email"), "{out}");
    assert!(out.contains("bad picklist value"), "{out}");
    assert!(out.contains("2 error(s)"), "{out}");
}

#[tokio::test]
async fn health_filtered_by_category_exports_only_that_category_as_json() {
    let dir = seeded().await;
    let out = stdout(&crm_sync(dir.path(), &["health", "--category", "validation", "--format", "json"]));
    let entries: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{out}");
    assert_eq!(entries[0]["category"], "property_value_or_validation");
    assert_eq!(entries[0]["attempts"], 2);
}

#[tokio::test]
async fn health_exports_csv_with_one_row_per_error() {
    let dir = seeded().await;
    let out = stdout(&crm_sync(dir.path(), &["health", "--format", "csv"]));
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(out.contains("\"bad picklist value, Rating\""), "{out}");
}

#[tokio::test]
async fn health_rejects_an_unknown_category_naming_the_valid_ones() {
    let dir = seeded().await;
    let output = crm_sync(dir.path(), &["health", "--category", "typos"]);
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("duplicates"), "{message}");
}

#[tokio::test]
async fn usage_shows_calls_of_the_last_day_against_the_cap() {
    let dir = seeded().await;
    let out = stdout(&crm_sync(dir.path(), &["usage"]));
    assert!(out.contains("250"), "{out}");
    assert!(out.contains("1000"), "{out}");
    assert!(out.contains("25.0%"), "{out}");
    assert!(out.contains("31"), "{out}");
}
