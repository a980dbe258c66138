//! `crm-sync dead-letters list|replay` as processes over the state file of
//! a local runtime that gave a message up: Salesforce answers 503 on every
//! write for longer than the retries last (simulated time), the message
//! ends as a sync-health entry and a dead letter, and once Salesforce is
//! back, `replay` puts it on the queue and it syncs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::Fault;
use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::retry::{MAX_RECEIVES, dead_letter_key};
use crm_sync_e2e::{Harness, HarnessOptions};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn crm_sync(dir: &Path, args: &[&str]) -> String {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(args)
        .arg("--config")
        .arg(dir.join("crm-sync.yaml"))
        .arg("--state")
        .arg(dir.join("state.sqlite"))
        .output()
        .unwrap();
    assert!(output.status.success(), "exit {:?}: {}", output.status.code(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn leads_created(h: &Harness) -> usize {
    h.sandbox
        .salesforce()
        .writes()
        .iter()
        .filter(|w| w.object == "Lead" && w.op == Op::Create && w.actor == Actor::Integration)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_outlasts_its_retries_is_a_health_entry_and_a_dead_letter_that_replay_brings_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("crm-sync.yaml"), "salesforce_api_cap_per_24h: 100000\n").unwrap();
    let h = Harness::start(HarnessOptions {
        state_path: Some(dir.path().join("state.sqlite")),
        ..HarnessOptions::default()
    })
    .await
    .unwrap();
    let outage = Fault::new(503, u32::MAX, "/services/data/v66.0/composite/sobjects").with_method("PATCH");
    h.sandbox.salesforce_control().add_fault(outage);
    let properties = serde_json::json!({"email": "outage@example.com", "lastname": "Outage"});
    let serde_json::Value::Object(properties) = properties else { unreachable!() };
    let hs_id = h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();
    let started = std::time::Instant::now();
    while h.app.sync_queue().depth().await.unwrap().visible == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the webhook arrives");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every retry meets the outage; 15 minutes of simulated time per step is
    // at least each backoff, so each step is one receive.
    let mut retried = 0;
    for _ in 0..MAX_RECEIVES + 2 {
        retried += h.runtime.run_ready().await.unwrap().retried;
        h.later(Duration::from_secs(15 * 60));
    }
    assert_eq!(retried, MAX_RECEIVES as usize, "one failed attempt per receive, then it gave up");
    let dead = h.app.sync_queue().list_dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "the message is a dead letter");
    let entry = h.app.store().get_error(&dead_letter_key(&dead[0].id)).await.unwrap().expect("a sync-health entry");
    assert_eq!(entry.category, "other");
    assert!(entry.message.contains("SERVER_UNAVAILABLE: Service temporarily unavailable"), "{}", entry.message);
    assert_eq!(entry.hubspot_id, Some(hs_id.to_string()));
    assert_eq!(leads_created(&h), 0);

    let listed = crm_sync(dir.path(), &["dead-letters", "list"]);
    assert!(listed.contains(&dead[0].id) && listed.contains("Service temporarily unavailable"), "{listed}");
    let other = crm_sync(dir.path(), &["dead-letters", "list", "--category", "validation"]);
    assert!(other.contains("no dead letters"), "{other}");
    assert!(crm_sync(dir.path(), &["dead-letters", "replay", "--category", "duplicates"]).contains("no dead letters"));

    // Salesforce is back; the operator replays.
    h.sandbox.salesforce_control().clear_faults();
    let replayed = crm_sync(dir.path(), &["dead-letters", "replay", "--category", "other"]);
    assert!(replayed.contains("1 put back on the sync queue"), "{replayed}");
    assert!(h.app.sync_queue().list_dead_letters(10).await.unwrap().is_empty(), "no longer a dead letter");
    assert!(h.app.store().get_error(&dead_letter_key(&dead[0].id)).await.unwrap().is_none(), "entry resolved");
    h.runtime.run_ready().await.unwrap();
    assert_eq!(leads_created(&h), 1, "the contact syncs once replayed");
    assert!(crm_sync(dir.path(), &["dead-letters", "list"]).contains("no dead letters"));
    h.stop().await;
}
