//! `crm-sync bench` run as a process on a small import: the figures it
//! writes must count what it was asked to measure, no more.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::Value;

fn bench(dir: &std::path::Path, changes: &str) -> Value {
    let output_file = dir.join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(["bench", "--records", "300", "--changes", changes, "--burst", "0", "--output"])
        .arg(&output_file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|error| panic!("running crm-sync bench failed: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status.code());
    let figures: Value = serde_json::from_slice(&std::fs::read(&output_file).unwrap()).unwrap();
    assert_eq!(figures["import"]["records"], 300, "{figures}");
    assert_eq!(figures["import"]["hubspot_contacts_after"], 300, "{figures}");
    figures
}

#[test]
fn the_bench_times_exactly_the_single_changes_it_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let none = bench(dir.path(), "0");
    assert_eq!(none["latency"]["changes"], 0, "{none}");
    assert_eq!(none["latency"]["arrived"], 0, "{none}");
    let three = bench(dir.path(), "3");
    assert_eq!(three["latency"]["changes"], 3, "{three}");
    assert_eq!(three["latency"]["arrived"], 3, "{three}");
}
