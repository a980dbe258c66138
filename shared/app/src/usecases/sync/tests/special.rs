//! The special fields' IO: what each reads for the planner, and what is
//! carried after the writes.

use super::*;
use crate::ports::SfRecord;
use crate::testing::crm_error;
use crm_sync_crm::error::System;
use crm_sync_domain::special::Person;

/// Collects, reads and matches the units of these intents.
async fn prepared<'a>(sync: &mut PairSync<'a>, intents: &[SyncIntent]) {
    sync.collect(intents).await.unwrap();
    sync.read().await;
    sync.match_unlinked().await;
}

// --- company creation (SPEC section 5) ---------------------------------------

#[tokio::test]
async fn a_company_whose_contact_syncs_with_an_accountless_salesforce_contact_creates_an_account() {
    let t = with_companies();
    let company = t.hubspot.insert("companies", json!({"name": "Acme"}));
    let contact = t.hubspot.insert("contacts", json!({"email": "ada@example.com"}));
    t.hubspot.link("companies", &company, "contacts", &contact);
    let person = t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "L"}));
    t.put_link(ObjectPair::Contact, "Contact", &person, &contact).await;
    let mut stats = SyncStats::default();
    let mut sync = PairSync::new(&t.app, ObjectPair::Company, &mut stats);
    prepared(&mut sync, &[hs_intent(&t, ObjectPair::Company, &company)]).await;
    let verdicts = sync.company_creation().await;
    assert_eq!(verdicts.get(&0), Some(&true));
}

#[tokio::test]
async fn a_company_with_no_associated_contacts_creates_no_account() {
    let t = with_companies();
    let company = t.hubspot.insert("companies", json!({"name": "Lonely"}));
    let outcome = sync(&t, &[hs_intent(&t, ObjectPair::Company, &company)]).await;
    assert_eq!(outcome.stats.skipped.get("create_not_allowed"), Some(&1), "{:?}", outcome.stats);
    assert!(t.salesforce.records("Account").is_empty());
}

#[tokio::test]
async fn an_unreadable_association_leaves_the_company_to_retry() {
    let t = with_companies();
    let company = t.hubspot.insert("companies", json!({"name": "Acme"}));
    t.hubspot.calls().fail_next("associated_ids", 1, &crm_error(System::HubSpot, 503, "UNAVAILABLE", true));
    let outcome = sync(&t, &[hs_intent(&t, ObjectPair::Company, &company)]).await;
    assert!(matches!(outcome.items[0].result, ItemResult::RetryAfter(_)), "{:?}", outcome.items);
}

// --- campaigns ------------------------------------------------------------------

#[tokio::test]
async fn a_contacts_campaigns_are_read_from_its_campaign_member_rows() {
    let t = TestApp::new();
    let (lead, _) = linked_contact(&t, "ada@example.com").await;
    let row = |name: &str| SfRecord {
        sobject: "CampaignMember".into(),
        id: "00v000000000001".into(),
        fields: [("LeadId".to_owned(), Value::String(lead.clone())), ("Campaign".to_owned(), json!({"Name": name}))]
            .into_iter()
            .collect(),
    };
    t.salesforce.answer_query("FROM CampaignMember", vec![row("Spring"), row("Autumn")]);
    let mut stats = SyncStats::default();
    let mut sync = PairSync::new(&t.app, ObjectPair::Contact, &mut stats);
    prepared(&mut sync, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    let names = sync.campaign_names().await;
    let value = names.get(&0).unwrap();
    assert!(value.contains("Spring") && value.contains("Autumn"), "{value}");
}

#[tokio::test]
async fn a_failed_campaign_query_retries_its_contacts_and_writes_no_value() {
    let t = TestApp::new();
    let (lead, _) = linked_contact(&t, "ada@example.com").await;
    let mut stats = SyncStats::default();
    let mut sync = PairSync::new(&t.app, ObjectPair::Contact, &mut stats);
    prepared(&mut sync, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    t.salesforce.calls().fail_next("query", 1, &crm_error(System::Salesforce, 503, "UNAVAILABLE", true));
    let names = sync.campaign_names().await;
    assert!(names.is_empty());
    assert!(matches!(sync.units[0].result, Some(RecordResult::Retry(_))));
}

// --- owners -----------------------------------------------------------------------

#[tokio::test]
async fn an_owner_matched_exactly_travels_as_the_other_sides_id() {
    let t = TestApp::new();
    let email = crm_sync_domain::Email::parse("sam@example.com").unwrap();
    t.hubspot.add_owner(Person { id: "77".into(), name: "Sam Smith".into(), email });
    let user = t
        .salesforce
        .insert("User", json!({"Email": "sam@example.com", "FirstName": "Sam", "LastName": "Smith", "IsActive": true}));
    let (lead, contact) = linked_contact(&t, "ada@example.com").await;
    sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    t.advance(Duration::from_secs(60));
    t.salesforce.edit("Lead", &lead, json!({"OwnerId": user}));
    sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert_eq!(hs_prop(&t, "contacts", &contact, "hubspot_owner_id").as_deref(), Some("77"));
}

#[tokio::test]
async fn an_unreadable_owner_directory_writes_no_owner_and_counts_it_not_matched() {
    let t = TestApp::new();
    t.hubspot.calls().fail_next("owners", 1, &crm_error(System::HubSpot, 503, "UNAVAILABLE", false));
    let fields = json!({"Email": "ada@example.com", "LastName": "L", "Company": "X", "OwnerId": "005000000000001"});
    let lead = t.salesforce.insert("Lead", fields);
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert_eq!(outcome.stats.skipped.get("owner_not_matched"), Some(&1), "{:?}", outcome.stats);
    let contact = link_of(&t, ObjectPair::Contact, &lead).await.unwrap().hubspot_id;
    assert_eq!(hs_prop(&t, "contacts", &contact, "hubspot_owner_id"), None);
}

// --- segment --------------------------------------------------------------------

#[tokio::test]
async fn a_contact_outside_the_segment_list_is_skipped_and_a_member_syncs() {
    let t = TestApp::builder().config_yaml("inclusion_segment: {hubspot_list: \"9\"}\n").build();
    let lead_in = t.salesforce.insert("Lead", json!({"Email": "in@example.com", "Title": "CTO"}));
    let lead_out = t.salesforce.insert("Lead", json!({"Email": "out@example.com", "Title": "CTO"}));
    let member = t.hubspot.insert("contacts", json!({"email": "in@example.com"}));
    let outsider = t.hubspot.insert("contacts", json!({"email": "out@example.com"}));
    t.hubspot.set_list("9", &[member.as_str()]);
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Lead, &lead_in), sf_intent(&t, SfObject::Lead, &lead_out)]).await;
    assert_eq!(outcome.stats.skipped.get("not_in_inclusion_segment"), Some(&1), "{:?}", outcome.stats);
    assert_eq!(hs_prop(&t, "contacts", &member, "jobtitle").as_deref(), Some("CTO"));
    assert_eq!(hs_prop(&t, "contacts", &outsider, "jobtitle"), None);
}

#[tokio::test]
async fn an_unreadable_segment_list_retries_the_hubspot_contacts() {
    let t = TestApp::builder().config_yaml("inclusion_segment: {hubspot_list: \"9\"}\n").build();
    let (lead, _) = linked_contact(&t, "ada@example.com").await;
    t.hubspot.calls().fail_next("list_members", 1, &crm_error(System::HubSpot, 503, "UNAVAILABLE", true));
    let mut stats = SyncStats::default();
    let mut sync = PairSync::new(&t.app, ObjectPair::Contact, &mut stats);
    prepared(&mut sync, &[sf_intent(&t, SfObject::Lead, &lead)]).await;
    assert!(sync.segment_members().await.is_none());
    assert!(matches!(sync.units[0].result, Some(RecordResult::Retry(_))));
}

// --- associations -----------------------------------------------------------------

#[tokio::test]
async fn a_deal_about_to_create_an_opportunity_gets_the_account_of_its_linked_company() {
    let t = with_companies();
    let account = t.salesforce.insert("Account", json!({"Name": "Acme"}));
    let company = t.hubspot.insert("companies", json!({"name": "Acme"}));
    t.put_link(ObjectPair::Company, "Account", &account, &company).await;
    let deal = t.hubspot.insert("deals", json!({"dealname": "Big", "dealstage": "closedwon"}));
    t.hubspot.link("deals", &deal, "companies", &company);
    let outcome = sync(&t, &[hs_intent(&t, ObjectPair::Deal, &deal)]).await;
    assert_eq!(outcome.items[0].result, ItemResult::Done, "{:?}", outcome.stats);
    let opportunities = t.salesforce.records("Opportunity");
    let opportunity = opportunities.values().next().unwrap();
    assert_eq!(opportunity["AccountId"], Value::String(account));
    assert_eq!(opportunity["StageName"], "Closed Won");
}

#[tokio::test]
async fn a_synced_contact_is_associated_with_the_company_linked_to_its_account() {
    let t = with_companies();
    let account = t.salesforce.insert("Account", json!({"Name": "Acme"}));
    let company = t.hubspot.insert("companies", json!({"name": "Acme"}));
    t.put_link(ObjectPair::Company, "Account", &account, &company).await;
    let person =
        t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "L", "AccountId": account}));
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Contact, &person)]).await;
    assert_eq!(outcome.stats.updated.get("hubspot:association"), Some(&1), "{:?}", outcome.stats);
    let contact = link_of(&t, ObjectPair::Contact, &person).await.unwrap().hubspot_id;
    assert_eq!(t.hubspot.associations("contacts", &contact, "companies"), vec![company]);
}

#[tokio::test]
async fn a_failed_association_is_reported_and_the_contact_stays_synced() {
    let t = with_companies();
    let account = t.salesforce.insert("Account", json!({"Name": "Acme"}));
    let company = t.hubspot.insert("companies", json!({"name": "Acme"}));
    t.put_link(ObjectPair::Company, "Account", &account, &company).await;
    let person =
        t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "L", "AccountId": account}));
    t.hubspot.calls().fail_next("associate", 1, &crm_error(System::HubSpot, 400, "INVALID_ASSOCIATION", false));
    let outcome = sync(&t, &[sf_intent(&t, SfObject::Contact, &person)]).await;
    assert_eq!(outcome.items[0].result, ItemResult::Done);
    assert_eq!(outcome.stats.errors.get("associations"), Some(&1), "{:?}", outcome.stats);
    assert!(link_of(&t, ObjectPair::Contact, &person).await.is_some());
}

// --- lifecycle stage ----------------------------------------------------------------

#[tokio::test]
async fn a_contacts_new_lifecycle_stage_is_carried_to_its_company() {
    let t = with_companies();
    let (lead, contact) = linked_contact(&t, "ada@example.com").await;
    let company = t.hubspot.insert("companies", json!({"name": "Acme", "lifecyclestage": "lead"}));
    t.hubspot.link("contacts", &contact, "companies", &company);
    t.hubspot.edit("contacts", &contact, json!({"lifecyclestage": "customer"}));
    let outcome = sync(&t, &[hs_intent(&t, ObjectPair::Contact, &contact)]).await;
    assert_eq!(outcome.stats.updated.get("hubspot:company_lifecycle_stage"), Some(&1), "{:?}", outcome.stats);
    assert_eq!(hs_prop(&t, "companies", &company, "lifecyclestage").as_deref(), Some("customer"));
    let link = link_of(&t, ObjectPair::Contact, &lead).await.unwrap();
    assert_eq!(link.fingerprints.get(crate::codec::LIFECYCLE_KEY).map(String::as_str), Some("customer"));
}
