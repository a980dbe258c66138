//! Accounts and companies: an account creates a company; a company with no
//! associated contacts creates no account until a manual resync forces it
//! (SPEC section 5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::{RecordRef, resync_record};
use crm_sync_domain::{ObjectPair, SyncConfig};
use crm_sync_e2e::{Harness, HarnessOptions};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn company_config() -> SyncConfig {
    SyncConfig::from_yaml_str(
        r#"
version: 1
objects:
  companies: true
mappings:
  company:
    - name: Company Name
      hubspot: name
      hubspot_type: single_line_text
      salesforce: Name
      salesforce_type: string
"#,
    )
    .unwrap()
}

fn accounts_created(h: &Harness) -> Vec<String> {
    h.sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == "Account" && w.op == Op::Create && w.actor == Actor::Integration)
        .map(|w| w.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_creates_a_hubspot_company_with_its_name() {
    let h = Harness::start(HarnessOptions { config: company_config(), ..HarnessOptions::default() }).await.unwrap();
    let account = h.sandbox.salesforce().create_as_user("Account", json!({"Name": "Acme Corp"})).unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Companies) == 1).await.unwrap();
    h.settle(Duration::from_millis(1500)).await.unwrap();
    let link = h
        .app
        .store()
        .get_link_by_salesforce(crm_sync_store::ObjectPair::Company, &account)
        .await
        .unwrap()
        .expect("the account is linked");
    let company = h.sandbox.hubspot().properties(ObjectType::Companies, link.hubspot_id.parse().unwrap()).unwrap();
    assert_eq!(company["name"], "Acme Corp");
    assert_eq!(company["salesforce_id"], account);
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Companies), 1, "one company, whatever the echoes");
    assert!(accounts_created(&h).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_without_contacts_creates_no_account_until_a_resync_forces_it() {
    let h = Harness::start(HarnessOptions { config: company_config(), ..HarnessOptions::default() }).await.unwrap();
    let mut properties = serde_json::Map::new();
    properties.insert("name".into(), json!("Lonely Ltd"));
    let company =
        h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Companies, properties }).unwrap();
    h.settle(Duration::from_millis(1500)).await.unwrap();
    assert!(accounts_created(&h).is_empty(), "no associated contacts: no account");

    let report = resync_record(&h.app, &RecordRef::Hubspot { object: ObjectPair::Company, id: company.to_string() })
        .await
        .unwrap();
    assert_eq!(report.error, None);
    let created = accounts_created(&h);
    assert_eq!(created.len(), 1, "the resync forces the account");
    let account = h.sandbox.salesforce().record("Account", &created[0]).unwrap();
    assert_eq!(account["Name"], "Lonely Ltd");
    assert_eq!(account["HubSpot_Id__c"], company.to_string());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_contact_of_a_synced_account_is_associated_with_its_company() {
    let h = Harness::start(HarnessOptions { config: company_config(), ..HarnessOptions::default() }).await.unwrap();
    let account = h.sandbox.salesforce().create_as_user("Account", json!({"Name": "Initech"})).unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Companies) == 1).await.unwrap();
    h.settle(Duration::from_millis(1000)).await.unwrap();
    let contact = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Contact",
            json!({"LastName": "Lumbergh", "Email": "bill@initech.example.com", "AccountId": account}),
        )
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    h.settle(Duration::from_millis(1000)).await.unwrap();

    let store = h.app.store();
    let company = store.get_link_by_salesforce(crm_sync_store::ObjectPair::Company, &account).await.unwrap().unwrap();
    let person = store.get_link_by_salesforce(crm_sync_store::ObjectPair::Contact, &contact).await.unwrap().unwrap();
    let mut config = crm_sync_crm::hubspot::HubSpotConfig::new(
        h.sandbox.hubspot_url(),
        crm_sync_crm::hubspot::Secret::new(h.sandbox.hubspot().options().token.clone()),
    );
    config.max_rate_limit_retries = 1;
    let reader = crm_sync_crm::hubspot::HubSpotClient::new(config).unwrap();
    let associated =
        reader.associations_read("contacts", "companies", std::slice::from_ref(&person.hubspot_id)).await.unwrap();
    let companies: Vec<String> =
        associated.get(&person.hubspot_id).map(|v| v.iter().map(|a| a.to_id.clone()).collect()).unwrap_or_default();
    assert_eq!(companies, vec![company.hubspot_id], "the contact follows its account's company");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_creates_an_account_only_when_one_of_its_contacts_qualifies() {
    let h = Harness::start(HarnessOptions { config: company_config(), ..HarnessOptions::default() }).await.unwrap();
    let hubspot = h.sandbox.hubspot();
    let mut lead_person = serde_json::Map::new();
    lead_person.insert("email".into(), json!("peter@initrode.example.com"));
    lead_person.insert("lastname".into(), json!("Gibbons"));
    let lead_contact =
        hubspot.user_edit(UserEdit::Create { object: ObjectType::Contacts, properties: lead_person }).unwrap();
    h.sync_until(WAIT, |h| h.sandbox.salesforce().live_count("Lead") == 1).await.unwrap();

    let mut properties = serde_json::Map::new();
    properties.insert("name".into(), json!("Initrode"));
    let company = hubspot.user_edit(UserEdit::Create { object: ObjectType::Companies, properties }).unwrap();
    hubspot
        .user_edit(UserEdit::Associate {
            from: ObjectType::Contacts,
            id: lead_contact,
            to: ObjectType::Companies,
            to_id: company,
        })
        .unwrap();
    h.settle(Duration::from_millis(1500)).await.unwrap();
    assert!(accounts_created(&h).is_empty(), "every associated contact syncs with a lead: no account");

    // A Salesforce Contact without an account syncs to HubSpot and joins the company.
    let sf_contact = h
        .sandbox
        .salesforce()
        .create_as_user("Contact", json!({"LastName": "Bolton", "Email": "michael@initrode.example.com"}))
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 2).await.unwrap();
    let link =
        h.app.store().get_link_by_salesforce(crm_sync_store::ObjectPair::Contact, &sf_contact).await.unwrap().unwrap();
    hubspot
        .user_edit(UserEdit::Associate {
            from: ObjectType::Contacts,
            id: link.hubspot_id.parse().unwrap(),
            to: ObjectType::Companies,
            to_id: company,
        })
        .unwrap();
    let mut rename = serde_json::Map::new();
    rename.insert("name".into(), json!("Initrode Inc"));
    hubspot.user_edit(UserEdit::Update { object: ObjectType::Companies, id: company, properties: rename }).unwrap();
    h.sync_until(WAIT, |h| !accounts_created(h).is_empty()).await.unwrap();
    h.settle(Duration::from_millis(1000)).await.unwrap();
    let created = accounts_created(&h);
    assert_eq!(created.len(), 1);
    assert_eq!(h.sandbox.salesforce().record("Account", &created[0]).unwrap()["Name"], "Initrode Inc");
    h.stop().await;
}
