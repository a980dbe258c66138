//! Manual resync: one record now, or a segment after its cost review.

use super::{contact_error, contact_link, queued_keys};
use crate::testing::{TestApp, crm_error};
use crate::usecases::resync::{RecordRef, Segment};
use crate::{AppError, AppSettings, resync_record, resync_segment, resync_segment_review};
use crm_sync_crm::error::System as CrmSystem;
use crm_sync_domain::intent::Trigger;
use crm_sync_domain::{ObjectPair, SfObject};
use serde_json::json;

#[tokio::test]
async fn resyncing_a_salesforce_contact_creates_it_in_hubspot_and_links_it() {
    let t = TestApp::new();
    let id = t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "FirstName": "Ada", "LastName": "L"}));
    let report =
        resync_record(&t.app, &RecordRef::Salesforce { object: SfObject::Contact, id: id.clone() }).await.unwrap();
    assert_eq!(report.error, None, "{report:?}");
    let hubspot_id = contact_link(&t, &id).await.expect("linked");
    let contact = t.hubspot.get("contacts", &hubspot_id).unwrap();
    assert_eq!(contact["email"], "ada@example.com");
    assert_eq!(contact["firstname"], "Ada");
}

#[tokio::test]
async fn resyncing_a_record_with_a_malformed_id_is_refused_before_any_call() {
    let t = TestApp::new();
    let bad = RecordRef::Hubspot { object: ObjectPair::Contact, id: "12ab".into() };
    assert!(matches!(resync_record(&t.app, &bad).await, Err(AppError::Invalid(_))));
    let bad = RecordRef::Salesforce { object: SfObject::Lead, id: "short".into() };
    assert!(matches!(resync_record(&t.app, &bad).await, Err(AppError::Invalid(_))));
    use crate::ports::ApiCalls;
    assert_eq!(t.salesforce.calls_made() + t.hubspot.calls_made(), 0);
}

#[tokio::test]
async fn a_resync_that_salesforce_rate_limits_reports_that_it_did_not_sync_yet() {
    let t = TestApp::new();
    let id = t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "L"}));
    t.salesforce.calls().fail_next(
        "retrieve",
        5,
        &crm_error(CrmSystem::Salesforce, 429, "REQUEST_LIMIT_EXCEEDED", true),
    );
    let report =
        resync_record(&t.app, &RecordRef::Salesforce { object: SfObject::Contact, id: id.clone() }).await.unwrap();
    assert!(report.error.is_some(), "{report:?}");
    assert!(contact_link(&t, &id).await.is_none());
    assert!(t.hubspot.records("contacts").is_empty());
}

#[tokio::test]
async fn a_segment_review_of_linked_contacts_counts_them_and_says_their_cost() {
    let t = TestApp::new();
    for i in 0..3 {
        t.put_link(ObjectPair::Contact, "Contact", &format!("003000000000{i:03}"), &format!("{}", 500 + i)).await;
    }
    let review = resync_segment_review(&t.app, &Segment::Linked { pair: ObjectPair::Contact }).await.unwrap();
    assert_eq!(review.records, 3);
    // Read and write per batch on each side; campaigns and the owner
    // directory on Salesforce; owners and the campaigns property on HubSpot.
    assert_eq!((review.salesforce_calls, review.hubspot_calls), (4, 4));
    assert!(review.within_budget);
    assert!(queued_keys(&t).await.is_empty(), "a review queues nothing");
}

#[tokio::test]
async fn with_companies_on_a_contact_segment_also_pays_for_lifecycle_stages() {
    let t = TestApp::builder().config_yaml("version: 1\nobjects:\n  companies: true\n").build();
    t.put_link(ObjectPair::Contact, "Contact", "003000000000001", "501").await;
    let review = resync_segment_review(&t.app, &Segment::Linked { pair: ObjectPair::Contact }).await.unwrap();
    assert_eq!(review.hubspot_calls, 4 + 3);
}

#[tokio::test]
async fn a_segment_of_linked_records_reads_every_page_of_links() {
    let t = TestApp::new();
    for i in 0..1001 {
        t.put_link(ObjectPair::Deal, "Opportunity", &format!("006000000{i:06}"), &format!("{}", 1000 + i)).await;
    }
    let review = resync_segment_review(&t.app, &Segment::Linked { pair: ObjectPair::Deal }).await.unwrap();
    assert_eq!(review.records, 1001);
    assert_eq!((review.salesforce_calls, review.hubspot_calls), (2 * 6, 2 * 11));
}

#[tokio::test]
async fn resyncing_a_segment_queues_one_forced_intent_per_member() {
    let t = TestApp::new();
    let records = vec![
        RecordRef::Hubspot { object: ObjectPair::Company, id: "77".into() },
        RecordRef::Salesforce { object: SfObject::Lead, id: "00Q000000000001".into() },
    ];
    assert_eq!(resync_segment(&t.app, &Segment::Records { records }).await.unwrap(), 2);
    let (intents, _) = super::drain_sync_queue(&t).await;
    assert!(intents.iter().all(|i| i.trigger == Trigger::Resync));
    let mut keys: Vec<String> = intents.iter().map(|i| i.record_key()).collect();
    keys.sort();
    assert_eq!(keys[0], "hubspot:company:77");
    assert!(keys[1].starts_with("salesforce:contact:00Q000000000001"));
}

#[tokio::test]
async fn a_health_error_segment_resyncs_by_hubspot_id_first_else_by_salesforce_id() {
    let t = TestApp::new();
    contact_error(&t, Some("003000000000001"), Some("41"), "duplicates").await;
    contact_error(&t, Some("003000000000002"), None, "other").await;
    let all = Segment::HealthErrors { category: None };
    assert_eq!(resync_segment(&t.app, &all).await.unwrap(), 2);
    let keys = queued_keys(&t).await;
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], "hubspot:contact:41");
    assert!(keys[1].starts_with("salesforce:contact:003000000000002"));
}

#[tokio::test]
async fn a_health_error_segment_of_one_category_leaves_the_others_out() {
    let t = TestApp::new();
    contact_error(&t, None, Some("41"), "duplicates").await;
    contact_error(&t, None, Some("42"), "other").await;
    let segment = Segment::HealthErrors { category: Some("duplicates".into()) };
    assert_eq!(resync_segment_review(&t.app, &segment).await.unwrap().records, 1);
}

#[tokio::test]
async fn a_segment_resync_over_the_budget_is_refused_and_queues_nothing() {
    let t = TestApp::builder()
        .config_yaml("version: 1\nsalesforce_api_cap_per_24h: 502\n")
        .settings(AppSettings { live_reserve: 500, ..AppSettings::default() })
        .build();
    t.put_link(ObjectPair::Contact, "Contact", "003000000000001", "501").await;
    let segment = Segment::Linked { pair: ObjectPair::Contact };
    assert!(!resync_segment_review(&t.app, &segment).await.unwrap().within_budget);
    let error = resync_segment(&t.app, &segment).await.unwrap_err();
    assert!(matches!(error, AppError::BudgetSpent { system: "salesforce", .. }), "{error:?}");
    assert!(queued_keys(&t).await.is_empty());
}
