//! `crm-sync demo` run as a process with a small seed: every scripted change
//! must arrive, and the summary must show what synced and what it cost.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_demo_with_a_small_seed_syncs_every_scripted_change_and_prints_a_summary() {
    let output = Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(["demo", "--records", "30", "--timeout", "60"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|error| panic!("running crm-sync demo failed: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status.code());
    assert!(stdout.contains("every scripted change arrived (5 of 5)"), "{stdout}");
    for heading in ["written in", "API calls", "per record handled", "error category"] {
        assert!(stdout.contains(heading), "no `{heading}` in the summary:\n{stdout}");
    }
    assert!(stdout.contains("Lead"), "no leads in the import review:\n{stdout}");
    // The sandbox starts bare: setup reports the fields missing, --apply
    // creates them, and the pair is ready before the import.
    let setup = stdout.find("setup will:").unwrap_or_else(|| panic!("setup did not apply:\n{stdout}"));
    let import = stdout.find("1/4 importing").unwrap_or_default();
    assert!(setup < import, "setup runs first:\n{stdout}");
    assert!(stdout[..setup].contains("Lead: HubSpot_Id__c"), "{stdout}");
    assert!(stdout[setup..import].contains("\nready"), "{stdout}");
}
