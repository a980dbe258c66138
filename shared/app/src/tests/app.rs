//! What [`crate::App`] keeps per process: the owner directory, the segment
//! list's members, and the one-time HubSpot schema checks.

use crate::testing::{TestApp, crm_error};
use crm_sync_crm::error::System as CrmSystem;
use crm_sync_domain::Email;
use crm_sync_domain::special::Person;
use serde_json::json;
use std::time::Duration;

fn owners(t: &TestApp) -> String {
    t.hubspot.add_owner(Person {
        id: "77".into(),
        name: "Ada Lovelace".into(),
        email: Email::parse("ada@x.com").unwrap(),
    });
    t.hubspot.add_owner(Person {
        id: "78".into(),
        name: "Bob Other".into(),
        email: Email::parse("bob@x.com").unwrap(),
    });
    t.salesforce
        .insert("User", json!({"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@x.com", "IsActive": true}))
}

#[tokio::test]
async fn owners_are_matched_to_active_users_by_name_and_email() {
    let t = TestApp::new();
    let user = owners(&t);
    t.salesforce
        .insert("User", json!({"FirstName": "Bob", "LastName": "Other", "Email": "bob@x.com", "IsActive": false}));
    let dir = t.app.owner_directory().await.unwrap();
    assert_eq!(dir.len(), 1, "the inactive user matches nobody");
    assert_eq!(dir.hubspot_owner_for(&user), Some("77"));
    assert_eq!(dir.salesforce_user_for("77"), Some(user.as_str()));
}

#[tokio::test]
async fn the_owner_directory_is_read_once_until_its_lifetime_ends() {
    let t = TestApp::new();
    owners(&t);
    t.app.owner_directory().await.unwrap();
    t.advance(Duration::from_secs(14 * 60));
    t.app.owner_directory().await.unwrap();
    assert_eq!(t.hubspot.calls().invocations("owners"), 1);
    t.advance(Duration::from_secs(2 * 60));
    t.app.owner_directory().await.unwrap();
    assert_eq!(t.hubspot.calls().invocations("owners"), 2);
    assert_eq!(t.salesforce.calls().invocations("query"), 2);
}

#[tokio::test]
async fn a_failed_owner_read_is_not_kept_and_the_next_call_reads_again() {
    let t = TestApp::new();
    owners(&t);
    t.salesforce.calls().fail_next("query", 1, &crm_error(CrmSystem::Salesforce, 503, "SERVER_UNAVAILABLE", true));
    assert!(t.app.owner_directory().await.is_err());
    assert_eq!(t.app.owner_directory().await.unwrap().len(), 1);
}

#[tokio::test]
async fn segment_members_are_kept_for_a_minute_or_until_forgotten() {
    let t = TestApp::new();
    t.hubspot.set_list("9", &["1", "2"]);
    assert_eq!(t.app.segment_members("9").await.unwrap().len(), 2);
    t.hubspot.set_list("9", &["1", "2", "3"]);
    assert_eq!(t.app.segment_members("9").await.unwrap().len(), 2, "still the kept members");
    t.app.forget_segment_members().await;
    assert_eq!(t.app.segment_members("9").await.unwrap().len(), 3);
    t.hubspot.set_list("9", &["1"]);
    t.advance(Duration::from_secs(61));
    assert_eq!(t.app.segment_members("9").await.unwrap().len(), 1);
    assert_eq!(t.hubspot.calls().invocations("list_members"), 3);
}

#[tokio::test]
async fn the_hubspot_key_property_is_ensured_once_and_only_for_the_pairs_that_sync() {
    let t = TestApp::builder().config_yaml("version: 1\nobjects:\n  deals: true\n").build();
    t.app.ensure_hubspot_schema().await.unwrap();
    t.app.ensure_hubspot_schema().await.unwrap();
    assert_eq!(t.hubspot.property("deals", "salesforce_id"), Some(true));
    assert_eq!(t.hubspot.property("companies", "salesforce_id"), None);
    assert_eq!(t.hubspot.calls().invocations("ensure_unique_property"), 1);
}

#[tokio::test]
async fn a_failed_schema_check_is_tried_again_on_the_next_call() {
    let t = TestApp::builder().config_yaml("version: 1\nobjects:\n  companies: true\n").build();
    let outage = crm_error(CrmSystem::HubSpot, 502, "BAD_GATEWAY", true);
    t.hubspot.calls().fail_next("ensure_unique_property", 1, &outage);
    assert!(t.app.ensure_hubspot_schema().await.is_err());
    t.app.ensure_hubspot_schema().await.unwrap();
    assert_eq!(t.hubspot.property("companies", "salesforce_id"), Some(true));
}

#[tokio::test]
async fn the_campaigns_property_is_created_as_plain_text_once() {
    let t = TestApp::new();
    t.app.ensure_campaigns_property().await.unwrap();
    t.app.ensure_campaigns_property().await.unwrap();
    let name = crm_sync_domain::special::SALESFORCE_CAMPAIGNS_PROPERTY;
    assert_eq!(t.hubspot.property("contacts", name), Some(false));
    assert_eq!(t.hubspot.calls().invocations("ensure_text_property"), 1);
}
