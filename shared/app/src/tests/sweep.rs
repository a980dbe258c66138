//! sweep_once: windows from the cursors, cursors moved after queueing,
//! bounded HubSpot listings resumed, deletions, usage.

use super::{drain_sync_queue, queued_keys};
use crate::testing::{TestApp, crm_error};
use crate::usecases::sweep::{FIRST_SWEEP_LOOKBACK, sweep_once};
use crate::{AppError, AppSettings};
use crm_sync_crm::error::System as CrmSystem;
use crm_sync_domain::System;
use crm_sync_domain::intent::Trigger;
use serde_json::json;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_first_sweep_queues_what_changed_in_the_last_fifteen_minutes_and_the_overlap() {
    let t = TestApp::new();
    let too_old = t.salesforce.insert("Contact", json!({"Email": "old@x.com"}));
    t.advance(5 * MINUTE);
    let recent = t.salesforce.insert("Contact", json!({"Email": "new@x.com"}));
    t.advance(15 * MINUTE);
    let report = sweep_once(&t.app).await.unwrap();
    let keys = queued_keys(&t).await;
    assert_eq!(keys, vec![format!("salesforce:contact:{recent}")]);
    assert!(!keys.iter().any(|k| k.contains(&too_old)));
    assert_eq!(report.intents_queued, 1);
    let overlap = chrono::Duration::from_std(AppSettings::default().sweep_overlap).unwrap();
    let lookback = chrono::Duration::from_std(FIRST_SWEEP_LOOKBACK).unwrap();
    assert!(report.objects.iter().all(|o| o.from == t.now() - lookback - overlap));
}

#[tokio::test]
async fn a_sweep_lists_leads_contacts_and_hubspot_contacts_when_only_contacts_sync() {
    let t = TestApp::new();
    let report = sweep_once(&t.app).await.unwrap();
    let objects: Vec<&str> = report.objects.iter().map(|o| o.object.as_str()).collect();
    assert_eq!(objects, vec!["Lead", "Contact", "contacts"]);
    assert!(report.complete);
}

#[tokio::test]
async fn a_sweep_with_companies_on_also_lists_accounts_and_companies() {
    let t = TestApp::builder().config_yaml("version: 1\nobjects:\n  companies: true\n").build();
    t.hubspot.insert("companies", json!({"name": "Acme"}));
    t.advance(MINUTE);
    let report = sweep_once(&t.app).await.unwrap();
    let objects: Vec<&str> = report.objects.iter().map(|o| o.object.as_str()).collect();
    assert_eq!(objects, vec!["Lead", "Contact", "contacts", "Account", "companies"]);
    assert_eq!(queued_keys(&t).await.len(), 1);
}

#[tokio::test]
async fn the_salesforce_cursor_moves_to_the_last_whole_minute_and_hubspot_to_now() {
    let t = TestApp::new();
    t.advance(Duration::from_secs(90));
    sweep_once(&t.app).await.unwrap();
    let sf = t.app.store().get_cursor(System::Salesforce, "Contact").await.unwrap().unwrap();
    assert_eq!(sf.position, t.now() - chrono::Duration::seconds(30));
    assert!(!sf.partial);
    let hs = t.app.store().get_cursor(System::HubSpot, "contacts").await;
    assert_eq!(hs.unwrap().unwrap().position, t.now());
}

#[tokio::test]
async fn the_next_window_starts_one_overlap_before_the_cursor() {
    let t = TestApp::new();
    sweep_once(&t.app).await.unwrap();
    let cursor = t.app.store().get_cursor(System::Salesforce, "Lead").await.unwrap().unwrap().position;
    t.advance(5 * MINUTE);
    let report = sweep_once(&t.app).await.unwrap();
    let lead = report.objects.iter().find(|o| o.object == "Lead").unwrap();
    assert_eq!(lead.from, cursor - chrono::Duration::seconds(120));
    assert_eq!(lead.to, t.now());
}

#[tokio::test]
async fn a_record_changed_within_the_overlap_is_queued_again_by_the_next_sweep() {
    let t = TestApp::new();
    t.advance(MINUTE);
    let id = t.hubspot.insert("contacts", json!({"email": "a@x.com"}));
    t.advance(MINUTE);
    sweep_once(&t.app).await.unwrap();
    assert_eq!(queued_keys(&t).await, vec![format!("hubspot:contact:{id}")]);
    t.advance(MINUTE);
    sweep_once(&t.app).await.unwrap();
    assert_eq!(queued_keys(&t).await, vec![format!("hubspot:contact:{id}")], "harmless duplicate from the overlap");
}

#[tokio::test]
async fn a_deleted_salesforce_record_is_queued_and_counted_as_deleted() {
    let t = TestApp::new();
    let id = t.salesforce.insert("Lead", json!({"Email": "a@x.com"}));
    t.advance(20 * MINUTE);
    t.salesforce.delete("Lead", &id);
    t.advance(2 * MINUTE);
    let report = sweep_once(&t.app).await.unwrap();
    let lead = report.objects.iter().find(|o| o.object == "Lead").unwrap();
    assert_eq!((lead.changed, lead.deleted), (0, 1));
    assert_eq!(queued_keys(&t).await, vec![format!("salesforce:contact:{id}")]);
}

#[tokio::test]
async fn sweep_intents_carry_the_sweep_trigger_and_time() {
    let t = TestApp::new();
    t.hubspot.insert("contacts", json!({"email": "a@x.com"}));
    t.advance(MINUTE);
    sweep_once(&t.app).await.unwrap();
    let (intents, _) = drain_sync_queue(&t).await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].trigger, Trigger::Sweep);
    assert_eq!(intents[0].at, t.now());
}

fn bounded(records: usize, budget: Duration) -> TestApp {
    TestApp::builder()
        .settings(AppSettings { sweep_batch_records: records, sweep_time_budget: budget, ..AppSettings::default() })
        .build()
}

#[tokio::test]
async fn a_bounded_hubspot_listing_goes_on_part_by_part_until_the_window_is_done() {
    let t = bounded(200, Duration::from_secs(600));
    for i in 0..450 {
        t.hubspot.insert("contacts", json!({"email": format!("c{i}@x.com")}));
        t.advance(Duration::from_millis(20));
    }
    let report = sweep_once(&t.app).await.unwrap();
    assert!(report.complete);
    let parts: Vec<_> = report.objects.iter().filter(|o| o.object == "contacts").collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    let mut keys = queued_keys(&t).await;
    keys.dedup();
    assert_eq!(keys.len(), 450, "every record queued at least once");
    let cursor = t.app.store().get_cursor(System::HubSpot, "contacts").await;
    let cursor = cursor.unwrap().unwrap();
    assert_eq!(cursor.position, t.now());
    assert!(!cursor.partial);
}

#[tokio::test]
async fn a_sweep_out_of_time_leaves_a_partial_cursor_that_the_next_sweep_resumes_exactly() {
    let t = bounded(200, Duration::ZERO);
    for i in 0..450 {
        t.hubspot.insert("contacts", json!({"email": format!("c{i}@x.com")}));
        t.advance(Duration::from_millis(20));
    }
    let first = sweep_once(&t.app).await.unwrap();
    assert!(!first.complete);
    let system = System::HubSpot;
    let cursor = t.app.store().get_cursor(system, "contacts").await.unwrap().unwrap();
    assert!(cursor.partial);
    assert!(cursor.position < t.now());
    let second = sweep_once(&t.app).await.unwrap();
    let resumed = second.objects.iter().find(|o| o.object == "contacts").unwrap();
    assert_eq!(resumed.from, cursor.position, "no overlap after a partial listing");
}

#[tokio::test]
async fn a_failed_listing_fails_the_sweep_and_leaves_the_cursor_where_it_was() {
    let t = TestApp::new();
    t.salesforce.calls().fail_next(
        "changed_since",
        1,
        &crm_error(CrmSystem::Salesforce, 503, "SERVER_UNAVAILABLE", true),
    );
    let error = sweep_once(&t.app).await.unwrap_err();
    assert!(matches!(error, AppError::Crm(_)), "{error:?}");
    assert!(error.retry_after().is_some());
    assert!(t.app.store().get_cursor(System::Salesforce, "Lead").await.unwrap().is_none());
    assert!(queued_keys(&t).await.is_empty());
}

#[tokio::test]
async fn a_sweep_writes_the_api_calls_it_made_to_the_usage_figures() {
    let t = TestApp::new();
    sweep_once(&t.app).await.unwrap();
    // Lead and Contact: getUpdated and getDeleted each; contacts: one search page.
    assert_eq!(t.app.store().api_calls_last_24h(System::Salesforce).await.unwrap(), 4);
    assert_eq!(t.app.store().api_calls_last_24h(System::HubSpot).await.unwrap(), 1);
}

/// Receives the queue's one message `times` times, the worker stopping
/// each time before it settles it (a timeout, a killed process).
async fn received_and_abandoned(queue: &dyn crm_sync_store::Queue, t: &TestApp, times: u32) -> String {
    let mut id = String::new();
    for _ in 0..times {
        let got = queue.receive(1, MINUTE).await.unwrap();
        assert_eq!(got.len(), 1, "the message is visible again");
        id = got[0].id.clone();
        t.advance(2 * MINUTE);
    }
    assert!(queue.receive(1, MINUTE).await.unwrap().is_empty(), "moved to the dead letters at the next receive");
    id
}

#[tokio::test]
async fn a_message_whose_worker_stopped_on_its_last_attempt_is_reported_by_the_next_sweep() {
    let t = TestApp::new();
    let contact = t.salesforce.insert("Contact", json!({"Email": "stopped@x.com"}));
    t.advance(MINUTE);
    sweep_once(&t.app).await.unwrap();
    let id = received_and_abandoned(t.app.sync_queue(), &t, crate::retry::MAX_RECEIVES).await;
    let key = crate::retry::dead_letter_key(&id);
    assert!(t.app.store().get_error(&key).await.unwrap().is_none(), "no attempt ended, so nothing said why");

    let report = sweep_once(&t.app).await.unwrap();
    assert_eq!(report.dead_letters_reported, 1);
    let entry = t.app.store().get_error(&key).await.unwrap().expect("the dead letter is in sync health");
    assert_eq!(entry.salesforce_id.as_deref(), Some(contact.as_str()), "it names the record");
    assert!(entry.message.contains("worker stopped") && entry.message.contains("dead-letters replay"), "{entry:?}");
    let again = sweep_once(&t.app).await.unwrap();
    assert_eq!(again.dead_letters_reported, 0, "reported once");
    assert_eq!(t.app.store().get_error(&key).await.unwrap().unwrap().attempts, 1);
}

#[tokio::test]
async fn an_import_chunk_whose_worker_stopped_on_its_last_attempt_names_the_job_to_resume() {
    let t = TestApp::new();
    let body = serde_json::to_string(&crate::usecases::import::ChunkMessage {
        job_id: "job-7".into(),
        index: 3,
        waits: 0,
        relays: 2,
    })
    .unwrap();
    t.app.import_queue().send_batch(&[crm_sync_store::OutgoingMessage::new(body)]).await.unwrap();
    let id = received_and_abandoned(t.app.import_queue(), &t, crate::retry::MAX_RECEIVES).await;
    let report = sweep_once(&t.app).await.unwrap();
    assert_eq!(report.dead_letters_reported, 1);
    let entry = t.app.store().get_error(&crate::retry::dead_letter_key(&id)).await.unwrap().unwrap();
    assert!(
        entry.message.contains("import job job-7 chunk 3") && entry.message.contains("import resume job-7"),
        "{entry:?}"
    );
}
