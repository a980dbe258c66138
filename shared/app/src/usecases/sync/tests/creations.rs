//! A worker stopping between a create and its link: the next sync of the
//! pair starts from the creation note, not from the first-sync rules.

use super::*;
use crm_sync_domain::System;

/// Title and phone both two-way, so that a field's newer side would win a
/// first sync by the whole record's modification time.
fn two_way_app() -> TestApp {
    TestApp::builder()
        .config_yaml(
            "version: 1
mappings:
  contact:
    - hubspot: jobtitle
      salesforce: Title
      rule: two_way
    - hubspot: phone
      salesforce: Phone
      rule: two_way
",
        )
        .build()
}

/// Syncs `intents` as a worker that stops right after `method` (`upsert`
/// for Salesforce, `batch_upsert` for HubSpot) took effect.
async fn stop_after(t: &TestApp, system: System, method: &'static str, intents: Vec<SyncIntent>) {
    match system {
        System::Salesforce => t.salesforce.calls().stop_worker_after(method),
        System::HubSpot => t.hubspot.calls().stop_worker_after(method),
    }
    let app = t.app.clone();
    let attempt = tokio::spawn(async move { sync_batch(&app, &[message("m0", &intents)]).await });
    assert!(attempt.await.unwrap_err().is_panic(), "the worker did not stop");
}

async fn notes_left(t: &TestApp, sources: &[(System, String)]) -> usize {
    t.app.store().get_creation_notes(ObjectPair::Contact, sources).await.unwrap().len()
}

#[tokio::test]
async fn a_user_edit_of_a_record_created_just_before_the_worker_stopped_is_kept() {
    let t = two_way_app();
    let lead = t.salesforce.insert(
        "Lead",
        json!({"Email": "ada@example.com", "LastName": "L", "Company": "X", "Title": "Engineer", "Phone": "+1 555 0100"}),
    );
    stop_after(&t, System::HubSpot, "batch_upsert", vec![sf_intent(&t, SfObject::Lead, &lead)]).await;
    let (contact, created) = t.hubspot.records("contacts").into_iter().next().expect("the contact was created");
    assert_eq!(created["jobtitle"], "Engineer");
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none(), "no link: the worker stopped first");
    // A HubSpot user retitles the new contact; later, a Salesforce user
    // changes the Lead's phone, so the Lead is the newer record.
    t.advance(Duration::from_secs(60));
    assert!(t.hubspot.edit("contacts", &contact, json!({"jobtitle": "Architect"})));
    t.advance(Duration::from_secs(60));
    assert!(t.salesforce.edit("Lead", &lead, json!({"Phone": "+1 555 0199"})));
    t.advance(Duration::from_secs(60));

    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead), hs_intent(&t, ObjectPair::Contact, &contact)]).await;
    assert!(outcome.items.iter().all(|i| i.result == ItemResult::Done), "{:?}", outcome.items);
    assert_eq!(hs_prop(&t, "contacts", &contact, "jobtitle").as_deref(), Some("Architect"), "the user's title kept");
    assert_eq!(t.salesforce.get("Lead", &lead).unwrap()["Title"], "Architect");
    assert_eq!(hs_prop(&t, "contacts", &contact, "phone").as_deref(), Some("+1 555 0199"));
    let link = link_of(&t, ObjectPair::Contact, &lead).await.expect("linked");
    assert_eq!(link.hubspot_id, contact);
    assert_eq!(t.hubspot.records("contacts").len(), 1);
    assert_eq!(notes_left(&t, &[(System::Salesforce, lead.clone())]).await, 0, "the note is gone with the link");
}

#[tokio::test]
async fn a_user_edit_of_a_lead_created_just_before_the_worker_stopped_is_kept() {
    let t = two_way_app();
    let contact = t.hubspot.insert(
        "contacts",
        json!({"email": "bea@example.com", "lastname": "B", "company": "X", "jobtitle": "Engineer", "phone": "+1 555 0100"}),
    );
    stop_after(&t, System::Salesforce, "upsert", vec![hs_intent(&t, ObjectPair::Contact, &contact)]).await;
    let (lead, created) = t.salesforce.records("Lead").into_iter().next().expect("the Lead was created");
    assert_eq!(created["Title"], "Engineer");
    t.advance(Duration::from_secs(60));
    assert!(t.salesforce.edit("Lead", &lead, json!({"Title": "Architect"})));
    t.advance(Duration::from_secs(60));
    assert!(t.hubspot.edit("contacts", &contact, json!({"phone": "+1 555 0199"})));
    t.advance(Duration::from_secs(60));

    // The retried message alone: the contact meets the Lead by email.
    let outcome = sync(&t, &[hs_intent(&t, ObjectPair::Contact, &contact)]).await;
    assert!(outcome.items.iter().all(|i| i.result == ItemResult::Done), "{:?}", outcome.items);
    assert_eq!(t.salesforce.get("Lead", &lead).unwrap()["Title"], "Architect", "the user's title kept");
    assert_eq!(hs_prop(&t, "contacts", &contact, "jobtitle").as_deref(), Some("Architect"));
    assert_eq!(t.salesforce.get("Lead", &lead).unwrap()["Phone"], "+1 555 0199");
    assert_eq!(link_of(&t, ObjectPair::Contact, &lead).await.expect("linked").hubspot_id, contact);
    assert_eq!(t.salesforce.records("Lead").len(), 1);
    assert_eq!(notes_left(&t, &[(System::HubSpot, contact.clone())]).await, 0);
}

#[tokio::test]
async fn a_create_that_failed_for_good_leaves_no_note() {
    let t = two_way_app();
    let lead = t.salesforce.insert("Lead", json!({"Email": "cy@example.com", "LastName": "C", "Company": "X"}));
    t.hubspot.refuse_record("contacts", "cy@example.com", "VALIDATION_ERROR", "Property values were not valid");
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(matches!(outcome.items[0].result, ItemResult::Failed { .. }), "{:?}", outcome.items);
    assert_eq!(notes_left(&t, &[(System::Salesforce, lead.clone())]).await, 0);
}
