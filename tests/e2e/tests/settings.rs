//! SPEC section 2's contact settings and section 4's first-sync opt-out,
//! through the sandbox as users edit: where new records go, whether a new
//! Salesforce record creates a HubSpot contact, what happens to one created
//! outside the inclusion segment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::sweep_once;
use crm_sync_domain::{ObjectPair, SyncConfig};
use crm_sync_e2e::{Harness, HarnessOptions, QUIET, WAIT, props};
use serde_json::{Value, json};
use std::time::Duration;

fn config(yaml: &str) -> SyncConfig {
    SyncConfig::from_yaml_str(&format!("version: 1\n{yaml}")).unwrap()
}

fn integration_creates(h: &Harness, object: &str) -> Vec<String> {
    h.sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == object && w.op == Op::Create && w.actor == Actor::Integration)
        .map(|w| w.id)
        .collect()
}

fn create_hubspot_contact(h: &Harness, properties: Value) -> u64 {
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Create { object: ObjectType::Contacts, properties: props(properties) })
        .unwrap()
}

async fn hubspot_id_of(h: &Harness, salesforce_id: &str) -> Option<u64> {
    let link = h.app.store().get_link_by_salesforce(ObjectPair::Contact, salesforce_id).await.unwrap()?;
    link.hubspot_id.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_creation_from_salesforce_off_a_new_lead_creates_no_hubspot_contact() {
    let options =
        HarnessOptions { config: config("create_hubspot_contact_from_salesforce: false\n"), ..Default::default() };
    let h = Harness::start(options).await.unwrap();
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user("Lead", json!({"LastName": "Liskov", "Company": "MIT", "Email": "barbara@example.com"}))
        .unwrap();
    h.settle(QUIET).await.unwrap();
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "Professor"})).unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0, "no HubSpot contact was created");
    assert!(hubspot_id_of(&h, &lead).await.is_none());

    // The default creates one.
    let h2 = Harness::start(HarnessOptions::default()).await.unwrap();
    let lead = h2
        .sandbox
        .salesforce()
        .create_as_user("Lead", json!({"LastName": "Liskov", "Company": "MIT", "Email": "barbara@example.com"}))
        .unwrap();
    h2.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    assert!(hubspot_id_of(&h2, &lead).await.is_some());
    h.stop().await;
    h2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_created_from_salesforce_outside_the_segment_gets_no_further_updates() {
    // The segment is list 1, which the lead's new contact is not in.
    let options =
        HarnessOptions { config: config("inclusion_segment:\n  hubspot_list: \"1\"\n"), ..Default::default() };
    let h = Harness::start(options).await.unwrap();
    h.sandbox.hubspot().create_list("Sync these", &[]).unwrap();
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Lead",
            json!({"LastName": "Hamilton", "Company": "NASA", "Email": "margaret@example.com", "Title": "Engineer"}),
        )
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let hs = hubspot_id_of(&h, &lead).await.expect("the contact is created and linked");
    let title =
        |h: &Harness| h.sandbox.hubspot().properties(ObjectType::Contacts, hs).unwrap().get("jobtitle").cloned();
    let created_title = title(&h);

    // Neither direction updates it afterwards.
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "Director"})).unwrap();
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: hs,
            properties: props(json!({"phone": "+1 555 0199"})),
        })
        .unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(title(&h), created_title, "a Salesforce edit does not reach the contact");
    let record = h.sandbox.salesforce().record("Lead", &lead).unwrap();
    assert!(record["Phone"].is_null(), "a HubSpot edit does not reach the lead: {record}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_hubspot_contact_becomes_a_salesforce_contact_when_configured() {
    let options = HarnessOptions { config: config("new_contact_object: contact\n"), ..Default::default() };
    let h = Harness::start(options).await.unwrap();
    let hs = create_hubspot_contact(
        &h,
        json!({"email": "katherine@example.com", "lastname": "Johnson", "company": "NASA", "jobtitle": "Mathematician"}),
    );
    h.sync_until(WAIT, |h| !integration_creates(h, "Contact").is_empty()).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert!(integration_creates(&h, "Lead").is_empty(), "no Lead");
    let contact_id = integration_creates(&h, "Contact").remove(0);
    let contact = h.sandbox.salesforce().record("Contact", &contact_id).unwrap();
    assert_eq!(contact["Title"], "Mathematician");
    assert_eq!(contact["HubSpot_Id__c"], hs.to_string());
    // The company text is a Lead's field: a Contact gets no account from it.
    assert!(contact["AccountId"].is_null(), "{contact}");
    assert_eq!(h.sandbox.salesforce().live_count("Account"), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_made_before_the_first_sync_does_not_travel_and_stays_in_hubspot() {
    // Webhooks off: the contact is created and opted out before any sync.
    let h = Harness::start(HarnessOptions { webhooks: false, ..Default::default() }).await.unwrap();
    let hs = create_hubspot_contact(&h, json!({"email": "early@example.com", "lastname": "Early"}));
    h.sandbox.hubspot().user_edit(UserEdit::OptOut { contact: hs, opted_out: true }).unwrap();
    h.later(Duration::from_secs(120));
    sweep_once(&h.app).await.unwrap();
    h.sync_until(WAIT, |h| !integration_creates(h, "Lead").is_empty()).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let lead = integration_creates(&h, "Lead").remove(0);
    let opted_out = |h: &Harness| h.sandbox.salesforce().record("Lead", &lead).unwrap()["HasOptedOutOfEmail"] == true;
    assert!(!opted_out(&h), "the first sync does not carry the opt-out");

    // Nor is the HubSpot contact re-subscribed by it.
    let hubspot_opted_out =
        h.sandbox.hubspot().properties(ObjectType::Contacts, hs).unwrap().get("hs_email_optout").cloned();
    assert_eq!(hubspot_opted_out.as_deref(), Some("true"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_lead_from_a_campaign_triggers_no_sync_and_the_next_change_shows_it() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let salesforce = h.sandbox.salesforce();
    let lead = salesforce
        .create_as_user("Lead", json!({"LastName": "Member", "Company": "Acme", "Email": "campaigns@example.com"}))
        .unwrap();
    let mut members = Vec::new();
    for name in ["Spring Webinar", "Autumn Expo"] {
        let campaign = salesforce.create_as_user("Campaign", json!({"Name": name})).unwrap();
        members.push(
            salesforce.create_as_user("CampaignMember", json!({"CampaignId": campaign, "LeadId": lead})).unwrap(),
        );
    }
    // The membership shows once the lead next syncs.
    salesforce.update_as_user("Lead", &lead, json!({"Title": "Attendee"})).unwrap();
    let campaigns = |h: &Harness, hs: u64| {
        h.sandbox.hubspot().properties(ObjectType::Contacts, hs).and_then(|p| p.get("salesforce_campaigns").cloned())
    };
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let hs = hubspot_id_of(&h, &lead).await.unwrap();
    assert_eq!(campaigns(&h, hs).as_deref(), Some("Autumn Expo;Spring Webinar"));
    h.reset_counts();
    // No outbound message, no webhook: nothing is queued for the removal.
    salesforce.delete_as_user("CampaignMember", &members[0]).unwrap();
    let report = h.settle(QUIET).await.unwrap();
    assert_eq!(report.messages, 0, "{report:?}");
    let (_, hubspot_calls) = h.counts();
    assert_eq!(hubspot_calls.matching("batch/update") + hubspot_calls.matching("batch/upsert"), 0);
    assert_eq!(campaigns(&h, hs).as_deref(), Some("Autumn Expo;Spring Webinar"));

    salesforce.update_as_user("Lead", &lead, json!({"Title": "Speaker"})).unwrap();
    h.sync_until(WAIT, |h| campaigns(h, hs).as_deref() == Some("Autumn Expo")).await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_with_a_filter_reviews_and_imports_only_the_matching_records() {
    use crm_sync_app::{ImportFilter, ImportObjects, ImportRequest, import_review, import_start};
    let h = Harness::start(HarnessOptions { webhooks: false, ..Default::default() }).await.unwrap();
    for (i, source) in ["Web", "Phone Inquiry", "Web"].iter().enumerate() {
        h.sandbox
            .salesforce()
            .create_as_user(
                "Lead",
                json!({"LastName": format!("Filtered {i}"), "Company": "Acme", "Email": format!("filtered{i}@example.com"), "LeadSource": source}),
            )
            .unwrap();
    }
    let filter = ImportFilter { field: "LeadSource".into(), operator: "=".into(), value: "Web".into() };
    let request =
        ImportRequest { objects: ImportObjects::Leads, filter: Some(filter), chunk_size: None, add_to_segment: false };
    let review = import_review(&h.app, &request).await.unwrap();
    assert_eq!(review.records, 2, "{review:?}");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0, "a review writes nothing");

    import_start(&h.app, &request).await.unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 2).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 2, "the Phone Inquiry lead is not imported");
    h.stop().await;
}
