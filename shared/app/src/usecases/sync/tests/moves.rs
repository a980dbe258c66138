//! The moves stage over the in-memory CRMs: a Lead converted between the
//! read and the write, and the intents of a conversion arriving together.

use super::*;

/// Converts a Lead in the fake org: a new Contact with the Lead's person,
/// and the Lead marked converted, naming it. Returns the Contact's id.
fn convert(t: &TestApp, lead: &str, email: &str) -> String {
    let contact = t.salesforce.insert("Contact", json!({"Email": email, "LastName": "Lovelace"}));
    t.salesforce.edit("Lead", lead, json!({"IsConverted": true, "ConvertedContactId": contact}));
    contact
}

#[tokio::test]
async fn a_lead_converted_between_the_read_and_the_write_is_retried_and_its_link_moves_to_the_contact() {
    let t = TestApp::new();
    let (lead, hs) = linked_contact(&t, "ada@example.com").await;
    sync(&t, &[hs_intent(&t, ObjectPair::Contact, &hs)]).await;
    t.advance(Duration::from_secs(60));
    t.hubspot.edit("contacts", &hs, json!({"phone": "+1 555 0100"}));
    // Salesforce refuses the update: the Lead was converted meanwhile.
    t.salesforce.refuse_record("Lead", &lead, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead");

    let refused = sync(&t, &[hs_intent(&t, ObjectPair::Contact, &hs)]).await;
    assert!(matches!(refused.items[0].result, ItemResult::RetryAfter(_)), "{:?}", refused.items);
    let key = format!("contact:hubspot:{hs}");
    assert!(t.app.store().get_error(&key).await.unwrap().is_some(), "the refusal is in sync health meanwhile");

    let contact = convert(&t, &lead, "ada@example.com");
    let retried = sync(&t, &[hs_intent(&t, ObjectPair::Contact, &hs)]).await;
    assert_eq!(retried.items[0].result, ItemResult::Done, "{:?}", retried.items);
    let link = t.app.store().get_link_by_hubspot(ObjectPair::Contact, &hs).await.unwrap().unwrap();
    assert_eq!((link.salesforce_object.as_str(), link.salesforce_id.as_str()), ("Contact", contact.as_str()));
    assert_eq!(t.salesforce.get("Contact", &contact).unwrap()["Phone"], "+1 555 0100");
    assert!(t.app.store().get_error(&key).await.unwrap().is_none(), "the success resolves the entry");
}

#[tokio::test]
async fn the_intents_of_a_conversion_in_one_batch_sync_the_contact_once_with_the_leads_link() {
    let t = TestApp::new();
    let (lead, hs) = linked_contact(&t, "ada@example.com").await;
    sync(&t, &[hs_intent(&t, ObjectPair::Contact, &hs)]).await;
    t.advance(Duration::from_secs(60));
    let contact = convert(&t, &lead, "ada@example.com");
    t.salesforce.edit("Contact", &contact, json!({"Title": "CTO"}));
    let writes_before = t.hubspot.calls().invocations("batch_update") + t.hubspot.calls().invocations("batch_upsert");

    let outcome = sync(
        &t,
        &[
            sf_intent(&t, SfObject::Contact, &contact),
            sf_intent(&t, SfObject::Lead, &lead),
            hs_intent(&t, ObjectPair::Contact, &hs),
        ],
    )
    .await;
    assert_eq!(outcome.items[0].result, ItemResult::Done, "{:?}", outcome.items);
    assert_eq!(t.hubspot.records("contacts").len(), 1, "no second HubSpot contact");
    assert_eq!(hs_prop(&t, "contacts", &hs, "jobtitle").as_deref(), Some("CTO"));
    let writes = t.hubspot.calls().invocations("batch_update") + t.hubspot.calls().invocations("batch_upsert");
    assert_eq!(writes - writes_before, 1, "one write for the one person");
    assert!(link_of(&t, ObjectPair::Contact, &lead).await.is_none());
    assert_eq!(link_of(&t, ObjectPair::Contact, &contact).await.unwrap().hubspot_id, hs);
    assert!(t.salesforce.calls().invocations("update") == 0, "nothing is written to Salesforce");
}
