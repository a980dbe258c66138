//! Sync health through the local runtime and the sandbox: a CRM's refusal of
//! one record is filed under the category that CRM's own error table gives
//! its code, and the entry leaves sync health once the record syncs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::Fault;
use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_domain::ObjectPair;
use crm_sync_e2e::{Harness, HarnessOptions, QUIET, WAIT, props};
use crm_sync_store::{ErrorFilter, SyncHealthError};
use serde_json::json;

async fn health(h: &Harness) -> Vec<SyncHealthError> {
    h.app.store().list_errors(&ErrorFilter::default()).await.unwrap()
}

fn integration_writes(h: &Harness, object: &str, op: Op) -> Vec<String> {
    h.sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == object && w.op == op && w.actor == Actor::Integration)
        .map(|w| w.id)
        .collect()
}

/// A 207 answer of HubSpot's batch upsert refusing the one input keyed by
/// `email` with `category`.
fn hubspot_refusal(email: &str, category: &str) -> Fault {
    Fault::new(207, 1, "/crm/v3/objects/contacts/batch/upsert").with_body(json!({
        "status": "COMPLETE",
        "results": [],
        "startedAt": "2026-01-01T00:00:00.000Z",
        "completedAt": "2026-01-01T00:00:00.100Z",
        "numErrors": 1,
        "errors": [{"status": "error", "category": category, "message": format!("{category} for {email}"),
                    "context": {"ids": [email]}, "errors": [], "links": {}}],
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_refusal_of_one_record_is_filed_by_the_salesforce_table() {
    for (code, category) in [
        ("INVALID_CROSS_REFERENCE_KEY", "associations"),
        ("CANNOT_UPDATE_CONVERTED_LEAD", "permissions_or_access"),
        ("ENTITY_IS_DELETED", "associations"),
    ] {
        let h = Harness::start(HarnessOptions::default()).await.unwrap();
        // A collection answer: the call succeeds, the one record is refused.
        h.sandbox.salesforce_control().add_fault(
            Fault::new(200, 1, "/services/data/v66.0/composite/sobjects").with_body(
                json!([{"success": false, "errors": [{"statusCode": code, "message": "refused", "fields": []}]}]),
            ),
        );
        let hs_id = h
            .sandbox
            .hubspot()
            .user_edit(UserEdit::Create {
                object: ObjectType::Contacts,
                properties: props(json!({"email": "ada@example.com", "lastname": "Lovelace"})),
            })
            .unwrap();
        h.sync_until(WAIT, |_| true).await.unwrap();
        h.settle(QUIET).await.unwrap();
        let errors = health(&h).await;
        let entry = errors.iter().find(|e| e.hubspot_id.as_deref() == Some(&hs_id.to_string())).expect("an entry");
        assert_eq!(entry.category, category, "{code}: {entry:?}");
        assert!(entry.message.starts_with(code), "{}", entry.message);
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_refusal_of_one_record_is_filed_by_the_hubspot_table() {
    for (code, category) in
        [("MISSING_SCOPES", "permissions_or_access"), ("INVALID_AUTHENTICATION", "permissions_or_access")]
    {
        let h = Harness::start(HarnessOptions::default()).await.unwrap();
        h.sandbox.hubspot_control().add_fault(hubspot_refusal("ada@example.com", code));
        let lead = h
            .sandbox
            .salesforce()
            .create_as_user("Lead", json!({"Email": "ada@example.com", "LastName": "Lovelace", "Company": "X"}))
            .unwrap();
        h.sync_until(WAIT, |_| true).await.unwrap();
        h.settle(QUIET).await.unwrap();
        let errors = health(&h).await;
        let entry = errors.iter().find(|e| e.salesforce_id.as_deref() == Some(lead.as_str())).expect("an entry");
        assert_eq!(entry.category, category, "{code}: {entry:?}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_refused_by_hubspot_leaves_sync_health_once_it_syncs() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    h.sandbox.hubspot_control().add_fault(hubspot_refusal("grace@example.com", "VALIDATION_ERROR"));
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user("Lead", json!({"Email": "grace@example.com", "LastName": "Hopper", "Company": "Navy"}))
        .unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let errors = health(&h).await;
    let entry = errors.iter().find(|e| e.salesforce_id.as_deref() == Some(lead.as_str())).expect("an entry");
    assert_eq!(entry.category, "property_value_or_validation");
    assert_eq!(entry.hubspot_id, None, "the record failed before it had a HubSpot contact");

    // The user edits the Lead; this time HubSpot takes it.
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "Rear Admiral"})).unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let link = h.app.store().get_link_by_salesforce(ObjectPair::Contact, &lead).await.unwrap().expect("linked");
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, link.hubspot_id.parse().unwrap()).unwrap();
    assert_eq!(contact["jobtitle"], "Rear Admiral");
    let errors = health(&h).await;
    assert!(errors.iter().all(|e| e.salesforce_id.as_deref() != Some(lead.as_str())), "still listed: {errors:?}");
    assert!(integration_writes(&h, "Lead", Op::Create).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_in_sync_health_are_resynced_as_a_segment_and_leave_it() {
    use crm_sync_app::{Segment, resync_segment, resync_segment_review};
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    h.sandbox.hubspot_control().add_fault(hubspot_refusal("ada@example.com", "VALIDATION_ERROR"));
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user("Lead", json!({"Email": "ada@example.com", "LastName": "Lovelace", "Company": "Engines"}))
        .unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(health(&h).await.len(), 1, "the refusal is listed");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0);

    // The operator resyncs what sync health lists, by category.
    let segment = Segment::HealthErrors { category: Some("property_value_or_validation".into()) };
    let review = resync_segment_review(&h.app, &segment).await.unwrap();
    assert_eq!(review.records, 1, "{review:?}");
    resync_segment(&h.app, &segment).await.unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert!(h.app.store().get_link_by_salesforce(ObjectPair::Contact, &lead).await.unwrap().is_some());
    assert!(health(&h).await.is_empty(), "the entry is resolved");
    h.stop().await;
}
