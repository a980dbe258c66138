//! Companies matched and associated as SPEC sections 1, 4, 5 and 7 say, at
//! import and live: imported contacts and opportunities join their
//! account's company whichever was imported first; an existing company
//! with an account's contacts is linked rather than duplicated; a company
//! HubSpot made from a contact creates an account only when new records
//! are Contacts; a company's contacts count for the segment only when they
//! are members.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::messages::queue_intents;
use crm_sync_app::{ImportObjects, ImportRequest, import_review, import_start};
use crm_sync_domain::{SalesforceId, SfObject, SyncConfig, SyncIntent, Trigger};
use crm_sync_e2e::{Harness, HarnessOptions, QUIET, WAIT, props};
use crm_sync_store::ObjectPair;
use serde_json::json;
use std::time::Duration;

const COMPANY_MAPPING: &str = r#"
mappings:
  company:
    - name: Company Name
      hubspot: name
      hubspot_type: single_line_text
      salesforce: Name
      salesforce_type: string
"#;

fn config(extra: &str) -> SyncConfig {
    SyncConfig::from_yaml_str(&format!(
        "version: 1\nobjects:\n  companies: true\n  deals: true\n{extra}{COMPANY_MAPPING}"
    ))
    .unwrap()
}

fn import(objects: ImportObjects) -> ImportRequest {
    ImportRequest { objects, filter: None, chunk_size: None, add_to_segment: false }
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

/// Runs an import to its end, with its sync intents.
async fn run_import(h: &Harness, objects: ImportObjects) {
    import_start(&h.app, &import(objects)).await.unwrap();
    h.settle(Duration::from_millis(300)).await.unwrap();
}

async fn linked(h: &Harness, pair: ObjectPair, salesforce_id: &str) -> String {
    h.app.store().get_link_by_salesforce(pair, salesforce_id).await.unwrap().expect("the record is linked").hubspot_id
}

/// The companies a HubSpot contact or deal is associated with.
async fn companies_of(h: &Harness, object: &str, id: &str) -> Vec<String> {
    let found = h.app.hubspot().associated_ids(object, "companies", &[id.to_owned()]).await.unwrap();
    found.get(id).cloned().unwrap_or_default()
}

/// An account with one contact and one opportunity, in Salesforce.
fn acme(h: &Harness) -> (String, String, String) {
    let sf = h.sandbox.salesforce();
    let account = sf.create_as_user("Account", json!({"Name": "Acme Corp"})).unwrap();
    let contact = sf
        .create_as_user(
            "Contact",
            json!({"LastName": "Coyote", "Email": "wile@acme.example.com", "AccountId": account}),
        )
        .unwrap();
    let opportunity = sf
        .create_as_user(
            "Opportunity",
            json!({"Name": "Acme anvils", "StageName": "Qualification", "CloseDate": "2026-12-31", "AccountId": account}),
        )
        .unwrap();
    (account, contact, opportunity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_contacts_and_opportunities_join_the_company_of_their_account_imported_before() {
    let h = Harness::start(HarnessOptions { config: config(""), webhooks: false, ..HarnessOptions::default() })
        .await
        .unwrap();
    let (account, contact, opportunity) = acme(&h);
    run_import(&h, ImportObjects::Accounts).await;
    run_import(&h, ImportObjects::Contacts).await;
    run_import(&h, ImportObjects::Opportunities).await;

    let company = linked(&h, ObjectPair::Company, &account).await;
    let person = linked(&h, ObjectPair::Contact, &contact).await;
    let deal = linked(&h, ObjectPair::Deal, &opportunity).await;
    assert_eq!(companies_of(&h, "contacts", &person).await, vec![company.clone()], "the contact joins its company");
    assert_eq!(companies_of(&h, "deals", &deal).await, vec![company], "the deal joins its company");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_import_associates_the_contacts_imported_before_with_its_company() {
    let h = Harness::start(HarnessOptions { config: config(""), webhooks: false, ..HarnessOptions::default() })
        .await
        .unwrap();
    let (account, contact, _) = acme(&h);
    run_import(&h, ImportObjects::Contacts).await;
    let person = linked(&h, ObjectPair::Contact, &contact).await;
    assert!(companies_of(&h, "contacts", &person).await.is_empty(), "no company yet");

    let review = import_review(&h.app, &import(ImportObjects::Accounts)).await.unwrap();
    h.reset_counts();
    run_import(&h, ImportObjects::Accounts).await;
    let company = linked(&h, ObjectPair::Company, &account).await;
    assert_eq!(companies_of(&h, "contacts", &person).await, vec![company], "the contact joins its company");
    let (sf, hs) = h.counts();
    // Both counts include the one association read the assertion above made.
    assert!(
        review.salesforce_calls >= sf.total,
        "review {} < {} ({:?})",
        review.salesforce_calls,
        sf.total,
        sf.endpoints
    );
    assert!(
        review.hubspot_calls + 1 >= hs.total,
        "review {} < {} ({:?})",
        review.hubspot_calls,
        hs.total,
        hs.endpoints
    );
    h.stop().await;
}

/// Salesforce: an Account with one Contact, imported to HubSpot; there a
/// user makes a company and associates that contact with it.
async fn a_company_with_the_accounts_contact(h: &Harness) -> (String, u64) {
    let sf = h.sandbox.salesforce();
    let account = sf.create_as_user("Account", json!({"Name": "Globex"})).unwrap();
    let contact = sf
        .create_as_user(
            "Contact",
            json!({"LastName": "Scorpio", "Email": "hank@globex.example.com", "AccountId": account}),
        )
        .unwrap();
    run_import(h, ImportObjects::Contacts).await;
    let person: u64 = linked(h, ObjectPair::Contact, &contact).await.parse().unwrap();
    let hubspot = h.sandbox.hubspot();
    let company = hubspot
        .user_edit(UserEdit::Create {
            object: ObjectType::Companies,
            properties: props(json!({"name": "Globex Corporation"})),
        })
        .unwrap();
    hubspot
        .user_edit(UserEdit::Associate {
            from: ObjectType::Contacts,
            id: person,
            to: ObjectType::Companies,
            to_id: company,
        })
        .unwrap();
    (account, company)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_import_links_the_company_that_has_its_contacts_instead_of_making_a_second() {
    let h = Harness::start(HarnessOptions { config: config(""), webhooks: false, ..HarnessOptions::default() })
        .await
        .unwrap();
    let (account, company) = a_company_with_the_accounts_contact(&h).await;
    run_import(&h, ImportObjects::Accounts).await;

    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Companies), 1, "no second company");
    assert_eq!(linked(&h, ObjectPair::Company, &account).await, company.to_string());
    let name = &h.sandbox.hubspot().properties(ObjectType::Companies, company).unwrap()["name"];
    assert_eq!(name, "Globex", "the first sync's rules apply (Salesforce wins unless blank)");
    assert!(accounts_created(&h).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sync_of_an_account_links_the_company_that_has_its_contacts_instead_of_making_a_second() {
    let h = Harness::start(HarnessOptions { config: config(""), webhooks: false, ..HarnessOptions::default() })
        .await
        .unwrap();
    let (account, company) = a_company_with_the_accounts_contact(&h).await;
    // The Account's change arrives as an outbound message would bring it.
    let id = SalesforceId::parse(&account).unwrap();
    let intent = SyncIntent::salesforce(SfObject::Account, id, Trigger::Webhook, chrono::Utc::now());
    queue_intents(&h.app, vec![intent]).await.unwrap();
    h.settle(QUIET).await.unwrap();

    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Companies), 1, "no second company");
    assert_eq!(linked(&h, ObjectPair::Company, &account).await, company.to_string());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sync_of_a_company_links_the_account_its_contacts_belong_to_instead_of_making_a_second() {
    let h = Harness::start(HarnessOptions { config: config(""), webhooks: false, ..HarnessOptions::default() })
        .await
        .unwrap();
    let (account, company) = a_company_with_the_accounts_contact(&h).await;
    let id = crm_sync_domain::HubSpotId::parse(&company.to_string()).unwrap();
    let intent = SyncIntent::hubspot(crm_sync_domain::ObjectPair::Company, id, Trigger::Webhook, chrono::Utc::now());
    queue_intents(&h.app, vec![intent]).await.unwrap();
    h.settle(QUIET).await.unwrap();

    assert_eq!(linked(&h, ObjectPair::Company, &account).await, company.to_string());
    assert!(accounts_created(&h).is_empty(), "no second account");
    assert_eq!(h.sandbox.salesforce().live_count("Account"), 1);
    h.stop().await;
}

/// A company HubSpot makes from a new contact (its automatic-companies
/// setting), the contact outside the segment list.
async fn company_made_from_a_contact(extra: &str) -> (Harness, u64) {
    let mut options = HarnessOptions {
        config: config(&format!("inclusion_segment:\n  hubspot_list: \"1\"\n{extra}")),
        ..HarnessOptions::default()
    };
    options.sandbox.hubspot.auto_create_companies = true;
    let h = Harness::start(options).await.unwrap();
    assert_eq!(h.sandbox.hubspot().create_list("Synced with Salesforce", &[]).unwrap(), 1);
    let contact = h
        .sandbox
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(json!({"email": "peter@initech.example.com", "lastname": "Gibbons"})),
        })
        .unwrap();
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Companies), 1, "HubSpot made the company");
    (h, contact)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_made_from_a_contact_creates_an_account_when_new_records_are_contacts() {
    let (h, _) = company_made_from_a_contact("new_contact_object: contact\n").await;
    h.sync_until(WAIT, |h| !accounts_created(h).is_empty()).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let created = accounts_created(&h);
    assert_eq!(created.len(), 1);
    assert_eq!(h.sandbox.salesforce().record("Account", &created[0]).unwrap()["Name"], "initech");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_made_from_a_contact_creates_no_account_when_new_records_are_leads() {
    let (h, _) = company_made_from_a_contact("").await;
    let report = h.settle(QUIET).await.unwrap();
    assert!(report.messages > 0, "the company was synced");
    assert!(accounts_created(&h).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_whose_only_contact_is_linked_but_not_a_list_member_creates_no_account_until_it_joins() {
    let h = Harness::start(HarnessOptions {
        config: config("inclusion_segment:\n  hubspot_list: \"1\"\n"),
        ..HarnessOptions::default()
    })
    .await
    .unwrap();
    let hubspot = h.sandbox.hubspot();
    assert_eq!(hubspot.create_list("Synced with Salesforce", &[]).unwrap(), 1);
    // A Salesforce Contact of an Account makes a HubSpot contact (linked,
    // outside the list) and the Account a company.
    let sf = h.sandbox.salesforce();
    let account = sf.create_as_user("Account", json!({"Name": "Umbrella"})).unwrap();
    let contact = sf
        .create_as_user(
            "Contact",
            json!({"LastName": "Wesker", "Email": "albert@umbrella.example.com", "AccountId": account}),
        )
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let person: u64 = linked(&h, ObjectPair::Contact, &contact).await.parse().unwrap();

    // In HubSpot, a second company gets that contact.
    let labs = hubspot
        .user_edit(UserEdit::Create {
            object: ObjectType::Companies,
            properties: props(json!({"name": "Umbrella Labs"})),
        })
        .unwrap();
    hubspot
        .user_edit(UserEdit::Associate {
            from: ObjectType::Contacts,
            id: person,
            to: ObjectType::Companies,
            to_id: labs,
        })
        .unwrap();
    let report = h.settle(QUIET).await.unwrap();
    assert!(report.messages > 0, "the company was synced");
    assert!(accounts_created(&h).is_empty(), "its only contact is not a member: no account");

    // The contact joins the list; the company's next change creates the account.
    h.app.hubspot().add_list_members("1", &[person.to_string()]).await.unwrap();
    h.app.forget_segment_members().await;
    hubspot
        .user_edit(UserEdit::Update {
            object: ObjectType::Companies,
            id: labs,
            properties: props(json!({"name": "Umbrella Labs Inc"})),
        })
        .unwrap();
    h.sync_until(WAIT, |h| !accounts_created(h).is_empty()).await.unwrap();
    let created = accounts_created(&h);
    assert_eq!(created.len(), 1);
    assert_eq!(h.sandbox.salesforce().record("Account", &created[0]).unwrap()["Name"], "Umbrella Labs Inc");
    h.stop().await;
}
