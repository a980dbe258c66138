//! The batch as a whole: fan-in of messages, the write stage's effects
//! through the full pipeline, settling results into messages.

use super::*;
use crate::testing::crm_error;
use crm_sync_crm::error::System;

#[tokio::test]
async fn a_message_that_is_not_an_intent_is_recorded_and_failed_alone() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "ada@example.com", "LastName": "L", "Company": "X"}));
    let good = message("good", &[sf_intent(&t, SfObject::Lead, &lead)]);
    let bad = ReceivedMessage { body: "not json".into(), ..message("bad", &[]) };
    let outcome = sync_batch(&t.app, &[bad, good]).await;
    assert!(matches!(outcome.items[0].result, ItemResult::Failed { .. }), "{:?}", outcome.items[0]);
    assert_eq!(outcome.items[1].result, ItemResult::Done);
    assert_eq!(outcome.items[0].receipt_handle, "handle-bad");
    assert!(t.app.store().get_error("message:bad").await.unwrap().is_some());
}

#[tokio::test]
async fn two_messages_naming_one_record_share_one_sync_and_both_are_done() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "ada@example.com", "LastName": "L", "Company": "X"}));
    let intent = sf_intent(&t, SfObject::Lead, &lead);
    let outcome = sync_batch(&t.app, &[message("a", std::slice::from_ref(&intent)), message("b", &[intent])]).await;
    assert_eq!(outcome.items.len(), 2);
    assert!(outcome.items.iter().all(|i| i.result == ItemResult::Done), "{:?}", outcome.items);
    assert_eq!(t.hubspot.records("contacts").len(), 1, "one record, one create");
    assert_eq!(outcome.stats.created.get("hubspot:contact"), Some(&1));
    assert_eq!(t.hubspot.calls().invocations("batch_upsert"), 1);
}

#[tokio::test]
async fn a_new_lead_creates_a_hubspot_contact_keyed_by_email_and_is_linked() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "Ada@Example.com", "LastName": "Lovelace", "Company": "X"}));
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert_eq!(outcome.items[0].result, ItemResult::Done);
    let contacts = t.hubspot.records("contacts");
    let (id, props) = contacts.iter().next().unwrap();
    assert_eq!(props["lastname"], "Lovelace");
    let link = link_of(&t, ObjectPair::Contact, &lead).await.unwrap();
    assert_eq!(&link.hubspot_id, id);
    assert_eq!(link.salesforce_object, "Lead");
}

#[tokio::test]
async fn a_new_hubspot_contact_creates_a_lead_with_placeholders_for_its_required_fields() {
    let t = TestApp::new();
    let contact = t.hubspot.insert("contacts", json!({"email": "ada@example.com", "firstname": "Ada"}));
    let outcome = sync(&t, &[hs_intent(&t, ObjectPair::Contact, &contact)]).await;
    assert_eq!(outcome.items[0].result, ItemResult::Done);
    let leads = t.salesforce.records("Lead");
    let lead = leads.values().next().unwrap();
    assert_eq!(lead["LastName"], NOT_PROVIDED);
    assert_eq!(lead[SALESFORCE_HUBSPOT_ID_FIELD], Value::String(contact.clone()));
    assert_eq!(outcome.stats.created.get("salesforce:Lead"), Some(&1));
}

#[tokio::test]
async fn a_change_is_written_once_and_the_next_sync_writes_nothing_back() {
    let t = TestApp::new();
    let (lead, contact) = linked_contact(&t, "ada@example.com").await;
    sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    t.advance(Duration::from_secs(60));
    t.salesforce.edit("Lead", &lead, json!({"Title": "CTO"}));
    let first = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert_eq!(hs_prop(&t, "contacts", &contact, "jobtitle").as_deref(), Some("CTO"));
    assert_eq!(first.stats.updated.get("hubspot:contact"), Some(&1));
    let writes = t.hubspot.calls().invocations("batch_update") + t.salesforce.calls().invocations("update");
    t.advance(Duration::from_secs(60));
    let echo = sync(&t, &[hs_intent(&t, ObjectPair::Contact, &contact)]).await;
    assert_eq!(echo.stats.unchanged, 1, "{:?}", echo.stats);
    let after = t.hubspot.calls().invocations("batch_update") + t.salesforce.calls().invocations("update");
    assert_eq!(after, writes, "no echo write");
}

#[tokio::test]
async fn a_record_refused_by_the_crm_is_recorded_in_sync_health_and_fails_its_message() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "bad@example.com", "LastName": "L", "Company": "X"}));
    t.hubspot.refuse_record("contacts", "bad@example.com", "INVALID_EMAIL", "no");
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(matches!(outcome.items[0].result, ItemResult::Failed { .. }), "{:?}", outcome.items);
    assert_eq!(outcome.stats.errors.get("property_value_or_validation"), Some(&1), "{:?}", outcome.stats);
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none(), "no link for a failed write");
}

#[tokio::test]
async fn a_retryable_write_failure_retries_the_message_and_stores_no_link() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "ada@example.com", "LastName": "L", "Company": "X"}));
    t.hubspot.calls().fail_next("batch_upsert", 1, &crm_error(System::HubSpot, 503, "SERVER_ERROR", true));
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(matches!(outcome.items[0].result, ItemResult::RetryAfter(_)), "{:?}", outcome.items);
    let cause = outcome.items[0].cause.clone().expect("the CRM error is kept for sync health");
    assert_eq!((cause.category.as_str(), cause.message.as_str()), ("other", "SERVER_ERROR: injected SERVER_ERROR"));
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none());
}

#[tokio::test]
async fn a_rate_limited_write_makes_the_message_wait_rather_than_fail_an_attempt() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "ada@example.com", "LastName": "L", "Company": "X"}));
    t.hubspot.calls().fail_next("batch_upsert", 1, &crm_error(System::HubSpot, 429, "RATE_LIMIT", true));
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert_eq!(outcome.items[0].result, ItemResult::Wait(Duration::from_secs(1)), "{:?}", outcome.items);
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none());
}

#[tokio::test]
async fn an_opt_out_travels_through_the_unsubscribe_call_not_a_property_write() {
    let t = TestApp::new();
    let (lead, contact) = linked_contact(&t, "ada@example.com").await;
    sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    t.advance(Duration::from_secs(60));
    t.salesforce.edit("Lead", &lead, json!({"HasOptedOutOfEmail": true}));
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(t.hubspot.unsubscribed().contains("ada@example.com"), "{:?}", outcome.stats);
    assert_eq!(outcome.stats.updated.get("hubspot:opt_out"), Some(&1));
    assert_ne!(hs_prop(&t, "contacts", &contact, HUBSPOT_OPT_OUT_PROPERTY).as_deref(), Some("true"));
}

#[tokio::test]
async fn an_opt_out_hubspot_refuses_is_in_sync_health_with_its_message() {
    let t = TestApp::new();
    let (lead, _) = linked_contact(&t, "ada@example.com").await;
    sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    t.advance(Duration::from_secs(60));
    let refusal = "No contact with this email exists";
    t.hubspot.refuse_record(crate::testing::UNSUBSCRIBE_ALL, "ada@example.com", "OBJECT_NOT_FOUND", refusal);
    t.salesforce.edit("Lead", &lead, json!({"HasOptedOutOfEmail": true}));
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(matches!(outcome.items[0].result, ItemResult::Failed { .. }), "{:?}", outcome.items);
    assert!(!t.hubspot.unsubscribed().contains("ada@example.com"));
    let errors = t.app.store().list_errors(&crm_sync_store::ErrorFilter::default()).await.unwrap();
    assert!(errors.iter().any(|e| e.message.contains(refusal)), "{errors:?}");
}

#[tokio::test]
async fn a_record_deleted_on_its_own_side_loses_its_link_and_the_other_side_stays() {
    let t = TestApp::new();
    let (lead, contact) = linked_contact(&t, "ada@example.com").await;
    t.salesforce.delete("Lead", &lead);
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert_eq!(outcome.stats.skipped.get("deleted"), Some(&1));
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none());
    assert!(t.hubspot.get("contacts", &contact).is_some(), "deletions do not travel");
}

/// The sync-health categories a record's failure was counted under.
fn error_categories(outcome: &BatchOutcome) -> Vec<String> {
    outcome.stats.errors.keys().cloned().collect()
}

#[tokio::test]
async fn hubspot_per_record_codes_are_categorised_by_the_hubspot_table() {
    for (code, category) in [
        ("INVALID_AUTHENTICATION", "permissions_or_access"),
        ("MISSING_SCOPES", "permissions_or_access"),
        ("CONFLICT", "duplicates"),
        ("INVALID_EMAIL", "property_value_or_validation"),
    ] {
        let t = TestApp::new();
        let lead = t.salesforce.insert("Lead", json!({"Email": "ada@example.com", "LastName": "L", "Company": "X"}));
        t.hubspot.refuse_record("contacts", "ada@example.com", code, "refused");
        let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
        assert_eq!(error_categories(&outcome), vec![category.to_owned()], "{code}");
        let entry = t.app.store().get_error(&format!("contact:salesforce:{lead}")).await.unwrap().unwrap();
        assert_eq!(entry.category, category, "{code}");
    }
}

#[tokio::test]
async fn salesforce_per_record_codes_are_categorised_by_the_salesforce_table() {
    for (code, category) in [
        ("CANNOT_UPDATE_CONVERTED_LEAD", "permissions_or_access"),
        ("ENTITY_IS_DELETED", "associations"),
        ("INVALID_CROSS_REFERENCE_KEY", "associations"),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "property_value_or_validation"),
        ("DUPLICATES_DETECTED", "duplicates"),
    ] {
        let t = TestApp::new();
        let (lead, contact) = linked_contact(&t, "ada@example.com").await;
        sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
        t.advance(Duration::from_secs(60));
        t.salesforce.refuse_record("Lead", &lead, code, "refused");
        t.hubspot.edit("contacts", &contact, json!({"jobtitle": "Analyst"}));
        let outcome = sync(&t, &[hs_intent(&t, ObjectPair::Contact, &contact)]).await;
        assert_eq!(error_categories(&outcome), vec![category.to_owned()], "{code}");
        let entry = t.app.store().get_error(&format!("contact:hubspot:{contact}")).await.unwrap().unwrap();
        assert_eq!(entry.category, category, "{code}");
    }
}

#[tokio::test]
async fn a_record_that_failed_before_it_had_a_hubspot_id_is_resolved_when_it_syncs() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "ada@bad.example", "LastName": "L", "Company": "X"}));
    t.hubspot.refuse_record("contacts", "ada@bad.example", "INVALID_EMAIL", "Email address ada@bad.example is invalid");
    let failed = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(matches!(failed.items[0].result, ItemResult::Failed { .. }), "{:?}", failed.items);
    let open = t.app.store().list_errors(&crm_sync_store::ErrorFilter::default()).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    // The user corrects the email in Salesforce; the record now syncs.
    t.advance(Duration::from_secs(60));
    t.salesforce.edit("Lead", &lead, json!({"Email": "ada@example.com"}));
    let fixed = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert_eq!(fixed.items[0].result, ItemResult::Done, "{:?}", fixed.items);
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_some());
    let open = t.app.store().list_errors(&crm_sync_store::ErrorFilter::default()).await.unwrap();
    assert!(open.is_empty(), "the entry keyed by the Salesforce id is resolved: {open:?}");
}

#[tokio::test]
async fn a_contact_takes_over_the_hubspot_contact_of_a_linked_lead_and_the_lead_then_writes_nothing() {
    let t = TestApp::new();
    let (lead, contact) = linked_contact(&t, "ada@example.com").await;
    let person = t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "Byron"}));
    let outcome = sync_batch(
        &t.app,
        &[
            message("m1", &[sf_intent(&t, SfObject::Lead, &lead)]),
            message("m2", &[sf_intent(&t, SfObject::Contact, &person)]),
        ],
    )
    .await;
    assert!(matches!(outcome.items[0].result, ItemResult::RetryAfter(_)), "{:?}", outcome.items);
    assert_eq!(outcome.items[1].result, ItemResult::Done);
    assert_eq!(link_of(&t, ObjectPair::Contact, &person).await.unwrap().hubspot_id, contact);
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none());
    assert_eq!(hs_prop(&t, "contacts", &contact, "lastname").as_deref(), Some("Byron"));
    assert!(t.app.store().get_error(&format!("contact:salesforce:{lead}")).await.unwrap().is_some());
    assert_eq!(outcome.stats.errors.get("duplicates"), Some(&1));

    // The Lead's message comes back: the Lead is now a duplicate.
    t.salesforce.edit("Lead", &lead, json!({"LastName": "Lovelace-King"}));
    let writes = t.hubspot.calls().invocations("batch_update") + t.hubspot.calls().invocations("batch_upsert");
    let again = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(matches!(again.items[0].result, ItemResult::Failed { .. }), "{:?}", again.items);
    assert_eq!(t.hubspot.calls().invocations("batch_update") + t.hubspot.calls().invocations("batch_upsert"), writes);
    assert_eq!(hs_prop(&t, "contacts", &contact, "lastname").as_deref(), Some("Byron"));
}
