//! The deletions stage over the in-memory CRMs: counterparts deleted in
//! batches, and a refusal filed in sync health with the link dropped.

use super::*;

fn deleting() -> TestApp {
    TestApp::builder().config_yaml("deleted_records:\n  contact: delete_counterpart\n").build()
}

#[tokio::test]
async fn hubspot_contacts_deleted_together_delete_their_leads_in_one_call() {
    let t = deleting();
    let mut pairs = Vec::new();
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        pairs.push(linked_contact(&t, email).await);
    }
    for (_, hs) in &pairs {
        t.hubspot.archive("contacts", hs);
    }
    let intents: Vec<SyncIntent> = pairs.iter().map(|(_, hs)| hs_intent(&t, ObjectPair::Contact, hs)).collect();

    let outcome = sync(&t, &intents).await;
    assert_eq!(outcome.items[0].result, ItemResult::Done, "{:?}", outcome.items);
    assert_eq!(outcome.stats.deleted["salesforce:Lead"], 3);
    assert_eq!(t.salesforce.calls().invocations("delete_records"), 1, "one Collections delete for the batch");
    assert_eq!(t.hubspot.calls().invocations("archived_ids"), 1, "one recycle-bin read for the batch");
    for (lead, _) in &pairs {
        assert!(t.salesforce.get("Lead", lead).is_none(), "the Lead is deleted");
        assert!(link_of(&t, ObjectPair::Contact, lead).await.is_none());
    }
}

#[tokio::test]
async fn a_lead_salesforce_refuses_to_delete_is_in_sync_health_and_its_link_is_dropped() {
    let t = deleting();
    let (lead, hs) = linked_contact(&t, "ada@example.com").await;
    t.hubspot.archive("contacts", &hs);
    let message = "insufficient access rights on object id";
    t.salesforce.refuse_record("Lead", &lead, "INSUFFICIENT_ACCESS_OR_READONLY", message);

    let outcome = sync(&t, &[hs_intent(&t, ObjectPair::Contact, &hs)]).await;
    assert!(matches!(outcome.items[0].result, ItemResult::Failed { .. }), "{:?}", outcome.items);
    let entry = t.app.store().get_error(&format!("contact:salesforce:{lead}")).await.unwrap().expect("filed");
    assert!(entry.message.contains(message), "{}", entry.message);
    assert!(entry.message.contains("INSUFFICIENT_ACCESS_OR_READONLY"), "{}", entry.message);
    assert!(t.salesforce.get("Lead", &lead).is_some(), "the Lead stays");
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none(), "the link is dropped all the same");
}

#[tokio::test]
async fn a_hubspot_contact_hubspot_refuses_to_archive_is_in_sync_health_and_its_link_is_dropped() {
    let t = deleting();
    let (lead, hs) = linked_contact(&t, "ada@example.com").await;
    t.salesforce.delete("Lead", &lead);
    t.hubspot.refuse_record("contacts", &hs, "VALIDATION_ERROR", "this record cannot be archived");

    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(matches!(outcome.items[0].result, ItemResult::Failed { .. }), "{:?}", outcome.items);
    let entry = t.app.store().get_error(&format!("contact:hubspot:{hs}")).await.unwrap().expect("filed");
    assert!(entry.message.contains("this record cannot be archived"), "{}", entry.message);
    assert!(t.hubspot.get("contacts", &hs).is_some(), "the contact stays");
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none(), "the link is dropped all the same");
}

#[tokio::test]
async fn with_the_default_a_deletion_deletes_nothing_and_asks_nothing() {
    let t = TestApp::new();
    let (lead, hs) = linked_contact(&t, "ada@example.com").await;
    t.hubspot.archive("contacts", &hs);

    sync(&t, &[hs_intent(&t, ObjectPair::Contact, &hs)]).await;
    assert!(t.salesforce.get("Lead", &lead).is_some());
    assert_eq!(t.salesforce.calls().invocations("delete_records"), 0);
    assert_eq!(t.hubspot.calls().invocations("archived_ids"), 0);
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none());
}
