//! The fakes keep the promises of the ports they stand for; the use-case
//! tests rely on these.

use crate::ports::{
    ApiCalls, HubspotRecords, SalesforceQueries, SalesforceRecords, SalesforceReplication, WriteResult,
};
use crate::testing::{TestApp, crm_error};
use crm_sync_crm::error::System;
use serde_json::{Map, Value, json};
use std::time::Duration;

fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_salesforce_upsert_creates_then_updates_by_external_id() {
    let t = TestApp::new();
    let a = [map(json!({"HubSpot_Id__c": "7", "LastName": "A"}))];
    let first = t.salesforce.upsert("Contact", "HubSpot_Id__c", &a).await.unwrap();
    let WriteResult::Ok { id, created: true } = &first[0] else { panic!("not created: {first:?}") };
    let b = [map(json!({"HubSpot_Id__c": "7", "LastName": "B"}))];
    let second = t.salesforce.upsert("Contact", "HubSpot_Id__c", &b).await.unwrap();
    assert_eq!(second, vec![WriteResult::Ok { id: id.clone(), created: false }]);
    assert_eq!(t.salesforce.get("Contact", id).unwrap()["LastName"], "B");
    assert!(id.starts_with("003") && id.len() == 18);
}

#[tokio::test]
async fn a_salesforce_retrieve_leaves_unknown_and_deleted_ids_out() {
    let t = TestApp::new();
    let kept = t.salesforce.insert("Lead", json!({"Email": "a@x.com"}));
    let gone = t.salesforce.insert("Lead", json!({"Email": "b@x.com"}));
    t.salesforce.delete("Lead", &gone);
    let ids = vec![kept.clone(), gone, "00Q000000000999".to_owned()];
    let found = t.salesforce.retrieve("Lead", &ids, &["Email".into()]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, kept);
    assert_eq!(found[0].fields["Email"], "a@x.com");
}

#[tokio::test]
async fn a_salesforce_window_covers_whole_minutes_and_reports_deletions() {
    let t = TestApp::new();
    let start = t.now();
    let changed = t.salesforce.insert("Account", json!({"Name": "Acme"}));
    let deleted = t.salesforce.insert("Account", json!({"Name": "Gone"}));
    t.advance(Duration::from_secs(61));
    t.salesforce.delete("Account", &deleted);
    t.advance(Duration::from_secs(30));
    let window = t.salesforce.changed_since("Account", start, t.now()).await.unwrap();
    assert_eq!(window.covered_to, start + chrono::Duration::minutes(1));
    assert_eq!(window.changes.len(), 1, "a record deleted since is no longer listed as updated: {window:?}");
    assert_eq!(window.changes[0].id, changed);
    let not_yet = t.salesforce.changed_since("Account", window.covered_to, t.now()).await.unwrap();
    assert!(not_yet.changes.is_empty(), "the minute of the deletion is not over yet");
    t.advance(Duration::from_secs(60));
    let later = t.salesforce.changed_since("Account", window.covered_to, t.now()).await.unwrap();
    assert!(later.changes.iter().any(|c| c.id == deleted && c.deleted));
    assert!(!later.changes.iter().any(|c| c.id == changed));
}

#[tokio::test]
async fn soql_queries_and_counts_are_answered_from_the_stored_records() {
    let t = TestApp::new();
    t.salesforce.insert("User", json!({"FirstName": "Ada", "Email": "ada@x.com", "IsActive": true}));
    t.salesforce.insert("User", json!({"FirstName": "Bob", "Email": "bob@x.com", "IsActive": false}));
    let rows = t.salesforce.query("SELECT Id, FirstName FROM User WHERE IsActive = true").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].fields["FirstName"], "Ada");
    assert_eq!(t.salesforce.count("SELECT COUNT() FROM User").await.unwrap(), 2);
    assert_eq!(t.salesforce.calls_made(), 2);
}

#[tokio::test]
async fn an_injected_fault_fails_exactly_the_next_calls_of_that_method() {
    let t = TestApp::new();
    t.hubspot.calls().fail_next("batch_read", 2, &crm_error(System::HubSpot, 429, "RATE_LIMITS", true));
    for _ in 0..2 {
        let error = t.hubspot.batch_read("contacts", &["1".into()], None, &[]).await.unwrap_err();
        assert_eq!(error.status, 429);
        assert!(error.is_retryable());
    }
    assert!(t.hubspot.batch_read("contacts", &["1".into()], None, &[]).await.is_ok());
    assert_eq!(t.hubspot.calls().invocations("batch_read"), 3);
    assert_eq!(t.hubspot.calls().pending_faults("batch_read"), 0);
}

#[tokio::test]
async fn a_hubspot_upsert_by_email_ignores_case_and_reports_creation() {
    let t = TestApp::new();
    let existing = t.hubspot.insert("contacts", json!({"email": "Ada@Example.com", "firstname": "Ada"}));
    let inputs = vec![
        ("ada@example.com".to_owned(), map(json!({"lastname": "Lovelace"}))),
        ("new@example.com".to_owned(), map(json!({"firstname": "New"}))),
    ];
    let results = t.hubspot.batch_upsert("contacts", "email", &inputs).await.unwrap();
    assert_eq!(results[0], WriteResult::Ok { id: existing.clone(), created: false });
    let WriteResult::Ok { id: created, created: true } = &results[1] else { panic!("{results:?}") };
    assert_eq!(t.hubspot.get("contacts", created).unwrap()["email"], "new@example.com");
    assert_eq!(t.hubspot.get("contacts", &existing).unwrap()["lastname"], "Lovelace");
}

#[tokio::test]
async fn a_hubspot_listing_stops_at_a_page_boundary_once_the_budget_is_reached() {
    let t = TestApp::new();
    let start = t.now();
    for i in 0..450 {
        t.hubspot.insert("companies", json!({"name": format!("c{i}")}));
        t.advance(Duration::from_millis(10));
    }
    let window = t.hubspot.changed_since("companies", start, t.now(), 300).await.unwrap();
    assert!(!window.complete);
    assert_eq!(window.changes.len(), 400, "two pages of 200");
    assert!(window.covered_to > start && window.covered_to < t.now());
    assert_eq!(t.hubspot.calls_made(), 2);
}

#[tokio::test]
async fn hubspot_property_values_are_stored_as_text() {
    let t = TestApp::new();
    let id = t.hubspot.insert("deals", json!({"amount": 12.5, "closed": true, "note": null}));
    let record = t.hubspot.get("deals", &id).unwrap();
    assert_eq!(record["amount"], "12.5");
    assert_eq!(record["closed"], "true");
    assert_eq!(record["note"], "");
}
