//! The long-running local runtime and API budget accounting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::local::Progress;
use crm_sync_app::{AppError, ImportObjects, ImportRequest, api_usage, import_start};
use crm_sync_domain::SyncConfig;
use crm_sync_e2e::{Harness, HarnessOptions};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_runtime_syncs_a_change_reports_progress_and_stops_gracefully() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let mut progress = h.runtime.subscribe();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runtime = h.runtime.clone();
    let running = tokio::spawn(async move { runtime.run(stopped).await });

    let mut properties = serde_json::Map::new();
    properties.insert("email".into(), json!("live@example.com"));
    properties.insert("lastname".into(), json!("Live"));
    h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();

    let synced = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Progress::BatchSynced { stats, .. }) = progress.recv().await
                && stats.created.get("salesforce:Lead").copied().unwrap_or(0) == 1
            {
                return;
            }
        }
    })
    .await;
    assert!(synced.is_ok(), "a progress event reports the lead created");
    stop.send(true).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "the runtime stops when told");
    let leads = h
        .sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == "Lead" && w.op == Op::Create && w.actor == Actor::Integration)
        .count();
    assert_eq!(leads, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_usage_matches_the_calls_made_and_an_import_pauses_before_the_cap() {
    let config = SyncConfig::from_yaml_str("version: 1\nsalesforce_api_cap_per_24h: 503\n").unwrap();
    let mut options = HarnessOptions { config, webhooks: false, ..HarnessOptions::default() };
    options.settings.live_reserve = 500;
    let h = Harness::start(options).await.unwrap();
    h.sandbox.salesforce().seed("Contact", 50).unwrap();

    let request =
        ImportRequest { objects: ImportObjects::Contacts, filter: None, chunk_size: None, add_to_segment: false };
    let refused = import_start(&h.app, &request).await;
    assert!(matches!(refused, Err(AppError::BudgetSpent { system: "salesforce", .. })), "{refused:?}");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0, "nothing was written");
    assert!(h.app.store().list_import_jobs().await.unwrap().is_empty(), "no job was created");

    let usage = api_usage(&h.app).await.unwrap();
    let (sf, hs) = h.counts();
    assert_eq!(usage.salesforce.used, sf.total, "every Salesforce call is counted");
    assert_eq!(usage.hubspot.used, hs.total);
    assert_eq!(usage.salesforce.cap, 503);
    h.stop().await;
}

/// Starts the running loop, waits until it has synced a HubSpot-created
/// contact, stops it, and returns whether it swept in the meantime.
async fn swept_while_running(sweep_at_start: bool) -> bool {
    let mut options = HarnessOptions::default();
    options.local.sweep_at_start = sweep_at_start;
    let h = Harness::start(options).await.unwrap();
    let mut progress = h.runtime.subscribe();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runtime = h.runtime.clone();
    let running = tokio::spawn(async move { runtime.run(stopped).await });
    let mut properties = serde_json::Map::new();
    properties.insert("email".into(), json!("timer@example.com"));
    properties.insert("lastname".into(), json!("Timer"));
    h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();
    let (mut swept, mut created) = (false, false);
    // With sweep_at_start the sweep must show up; without it, none may by
    // the time the change has synced (the first is due in 15 minutes).
    let synced = tokio::time::timeout(Duration::from_secs(30), async {
        while !(created && (swept || !sweep_at_start)) {
            match progress.recv().await {
                Ok(Progress::Swept { .. }) => swept = true,
                Ok(Progress::BatchSynced { stats, .. })
                    if stats.created.get("salesforce:Lead").copied().unwrap_or(0) == 1 =>
                {
                    created = true
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(synced.is_ok(), "the webhook-driven change synced");
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    let cursor = h.app.store().get_cursor(crm_sync_store::System::HubSpot, "contacts").await.unwrap();
    assert_eq!(cursor.is_some(), swept, "a sweep leaves its cursor behind");
    h.stop().await;
    swept
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_loop_sweeps_at_start_unless_told_to_wait_for_the_first_interval() {
    assert!(swept_while_running(true).await, "by default the loop catches up at once");
    assert!(!swept_while_running(false).await, "with sweep_at_start off the first sweep waits 15 minutes");
}
