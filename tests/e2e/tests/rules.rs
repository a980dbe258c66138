//! SPEC section 3, one rule per test, through the sandbox as users edit:
//! what travels each way and what a blank does, for a contact synced with
//! a Salesforce Lead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::sweep_once;
use crm_sync_domain::SyncConfig;
use crm_sync_e2e::{Harness, HarnessOptions, QUIET, WAIT, props};
use serde_json::{Value, json};
use std::time::Duration;

/// Title two-way, City always Salesforce, Website not synced; the rest
/// keep the default rule (prefer Salesforce unless blank).
fn rules_config() -> SyncConfig {
    SyncConfig::from_yaml_str(
        r#"
version: 1
mappings:
  contact:
    - hubspot: jobtitle
      salesforce: Title
      rule: two_way
    - hubspot: city
      salesforce: City
      rule: always_use_salesforce
    - hubspot: website
      salesforce: Website
      rule: dont_sync
"#,
    )
    .unwrap()
}

/// A HubSpot contact created as a user, synced into a new Lead; returns
/// (HubSpot id, Lead id) once the echoes are through.
async fn synced_pair(h: &Harness, email: &str) -> (u64, String) {
    let hs_id = h
        .sandbox
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(json!({"email": email, "firstname": "Ada", "lastname": "Lovelace"})),
        })
        .unwrap();
    sweep(h).await;
    h.sync_until(WAIT, |h| lead_of(h).is_some()).await.unwrap();
    h.settle(QUIET).await.unwrap();
    (hs_id, lead_of(h).unwrap())
}

/// A sweep a while later (with webhooks off, the only way changes arrive).
async fn sweep(h: &Harness) {
    h.later(Duration::from_secs(120));
    sweep_once(&h.app).await.unwrap();
}

fn lead_of(h: &Harness) -> Option<String> {
    h.sandbox
        .salesforce()
        .writes()
        .into_iter()
        .find(|w| w.object == "Lead" && w.op == Op::Create && w.actor == Actor::Integration)
        .map(|w| w.id)
}

fn hubspot_edit(h: &Harness, id: u64, properties: Value) {
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update { object: ObjectType::Contacts, id, properties: props(properties) })
        .unwrap();
}

fn hubspot_value(h: &Harness, id: u64, property: &str) -> Option<String> {
    h.sandbox.hubspot().properties(ObjectType::Contacts, id).unwrap().get(property).filter(|v| !v.is_empty()).cloned()
}

fn lead_value(h: &Harness, lead: &str, field: &str) -> Value {
    h.sandbox.salesforce().record("Lead", lead).unwrap().get(field).cloned().unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_carries_edits_and_blanks_from_either_side() {
    let h = Harness::start(HarnessOptions { config: rules_config(), ..HarnessOptions::default() }).await.unwrap();
    let (hs, lead) = synced_pair(&h, "two.way@example.com").await;

    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "CTO"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "jobtitle").as_deref() == Some("CTO")).await.unwrap();

    // Unlike the default rule, a HubSpot edit overwrites a Salesforce value.
    hubspot_edit(&h, hs, json!({"jobtitle": "CEO"}));
    h.sync_until(WAIT, |h| lead_value(h, &lead, "Title") == "CEO").await.unwrap();

    // A blank in HubSpot clears Salesforce ...
    hubspot_edit(&h, hs, json!({"jobtitle": ""}));
    h.sync_until(WAIT, |h| lead_value(h, &lead, "Title").is_null()).await.unwrap();

    // ... and a blank in Salesforce clears HubSpot.
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "VP"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "jobtitle").as_deref() == Some("VP")).await.unwrap();
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": null})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "jobtitle").is_none()).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert!(lead_value(&h, &lead, "Title").is_null());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_edits_on_both_sides_before_a_sync_go_to_the_most_recent() {
    let options = HarnessOptions { config: rules_config(), webhooks: false, ..HarnessOptions::default() };
    let h = Harness::start(options).await.unwrap();
    let (hs, lead) = synced_pair(&h, "conflict@example.com").await;

    // HubSpot first, Salesforce later: Salesforce's value wins on both sides.
    hubspot_edit(&h, hs, json!({"jobtitle": "From HubSpot"}));
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "From Salesforce"})).unwrap();
    sweep(&h).await;
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "jobtitle").as_deref() == Some("From Salesforce")).await.unwrap();
    assert_eq!(lead_value(&h, &lead, "Title"), "From Salesforce");

    // Salesforce first, HubSpot later: HubSpot's value wins on both sides.
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "Salesforce again"})).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    hubspot_edit(&h, hs, json!({"jobtitle": "HubSpot again"}));
    sweep(&h).await;
    h.sync_until(WAIT, |h| lead_value(h, &lead, "Title") == "HubSpot again").await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(hubspot_value(&h, hs, "jobtitle").as_deref(), Some("HubSpot again"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_use_salesforce_ignores_hubspot_edits_and_carries_salesforce_blanks() {
    let h = Harness::start(HarnessOptions { config: rules_config(), ..HarnessOptions::default() }).await.unwrap();
    let (hs, lead) = synced_pair(&h, "always@example.com").await;

    // A HubSpot value never reaches Salesforce, even into a blank field.
    hubspot_edit(&h, hs, json!({"city": "Lyon"}));
    h.settle(QUIET).await.unwrap();
    assert!(lead_value(&h, &lead, "City").is_null());

    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"City": "Paris"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "city").as_deref() == Some("Paris")).await.unwrap();
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"City": null})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "city").is_none()).await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_salesforce_clears_hubspot_with_salesforce_but_a_hubspot_blank_stays_in_hubspot() {
    let h = Harness::start(HarnessOptions { config: rules_config(), ..HarnessOptions::default() }).await.unwrap();
    let (hs, lead) = synced_pair(&h, "prefer@example.com").await;

    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Phone": "+1 555 0101"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "phone").as_deref() == Some("+1 555 0101")).await.unwrap();

    // Cleared in HubSpot: Salesforce keeps its value (and does not write it back).
    hubspot_edit(&h, hs, json!({"phone": ""}));
    h.settle(QUIET).await.unwrap();
    assert_eq!(lead_value(&h, &lead, "Phone"), "+1 555 0101");

    // Cleared in Salesforce: HubSpot is cleared.
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Phone": "+1 555 0102"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "phone").as_deref() == Some("+1 555 0102")).await.unwrap();
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Phone": null})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "phone").is_none()).await.unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dont_sync_writes_neither_side_nor_blanks() {
    let h = Harness::start(HarnessOptions { config: rules_config(), ..HarnessOptions::default() }).await.unwrap();
    let (hs, lead) = synced_pair(&h, "dont@example.com").await;

    hubspot_edit(&h, hs, json!({"website": "https://hubspot.example"}));
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Website": "https://salesforce.example"})).unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(hubspot_value(&h, hs, "website").as_deref(), Some("https://hubspot.example"));
    assert_eq!(lead_value(&h, &lead, "Website"), "https://salesforce.example");

    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Website": null})).unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(hubspot_value(&h, hs, "website").as_deref(), Some("https://hubspot.example"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_and_a_hubspot_contact_whose_emails_differ_only_in_case_link_without_creating_anything() {
    // Webhooks off: both records exist, unlinked, when the sweep finds them.
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user("Lead", json!({"LastName": "Hopper", "Company": "Navy", "Email": "Grace.Hopper@Example.COM"}))
        .unwrap();
    let hs = h
        .sandbox
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(json!({"email": "grace.hopper@example.com", "lastname": "Hopper"})),
        })
        .unwrap();
    sweep(&h).await;
    h.settle(QUIET).await.unwrap();
    let health = h.app.store().list_errors(&crm_sync_store::ErrorFilter::default()).await.unwrap();
    assert!(health.is_empty(), "{health:?}");
    let pair = crm_sync_domain::ObjectPair::Contact;
    let link = h.app.store().get_link_by_hubspot(pair, &hs.to_string()).await.unwrap();
    assert_eq!(link.map(|l| l.salesforce_id), Some(lead.clone()), "the two records are linked");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1, "no second HubSpot contact");
    assert!(lead_of(&h).is_none(), "no second Lead");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_formula_field_change_alone_does_not_sync_and_travels_with_the_next_real_change() {
    let config = SyncConfig::from_yaml_str(
        r#"
version: 1
mappings:
  contact:
    - name: Account Name
      hubspot: account_name
      hubspot_type: single_line_text
      salesforce: Account_Name__c
      salesforce_type: string
      objects: [contact]
      formula: true
      rule: always_use_salesforce
"#,
    )
    .unwrap();
    let h = Harness::start(HarnessOptions { config, ..HarnessOptions::default() }).await.unwrap();
    h.app.hubspot().ensure_text_property("contacts", "account_name", "Account name").await.unwrap();
    let salesforce = h.sandbox.salesforce();
    let account = salesforce.create_as_user("Account", json!({"Name": "Initech"})).unwrap();
    let contact = salesforce
        .create_as_user("Contact", json!({"LastName": "Gibbons", "Email": "peter@example.com", "AccountId": account}))
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let link = h.app.store().get_link_by_salesforce(crm_sync_domain::ObjectPair::Contact, &contact).await.unwrap();
    let hs: u64 = link.expect("linked").hubspot_id.parse().unwrap();
    assert_eq!(hubspot_value(&h, hs, "account_name").as_deref(), Some("Initech"));

    // Renaming the account changes the formula, not the contact: nothing is
    // written, not even when the first sweep lists the contact again.
    salesforce.update_as_user("Account", &account, json!({"Name": "Initrode"})).unwrap();
    h.later(Duration::from_secs(120));
    let swept = sweep_once(&h.app).await.unwrap();
    assert!(swept.intents_queued >= 1, "the sweep lists the contact: {swept:?}");
    let report = h.settle(QUIET).await.unwrap();
    assert!(report.stats.updated.is_empty(), "{report:?}");
    assert_eq!(hubspot_value(&h, hs, "account_name").as_deref(), Some("Initech"));
    // A change to a mapped field of the contact carries the formula's value.
    salesforce.update_as_user("Contact", &contact, json!({"Title": "Engineer"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_value(h, hs, "jobtitle").as_deref() == Some("Engineer")).await.unwrap();
    assert_eq!(hubspot_value(&h, hs, "account_name").as_deref(), Some("Initrode"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newly_added_mapping_keeps_existing_values_until_a_resync_applies_it() {
    let before = SyncConfig::from_yaml_str(
        "version: 1\nmappings:\n  contact:\n    - hubspot: website\n      salesforce: Website\n      rule: dont_sync\n    - hubspot: fax\n      salesforce: Fax\n      rule: dont_sync\n",
    )
    .unwrap();
    let options = HarnessOptions { config: before, webhooks: false, ..HarnessOptions::default() };
    let h = Harness::start(options).await.unwrap();
    let (hs, lead) = synced_pair(&h, "new.mapping@example.com").await;
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Website": "https://salesforce.example"})).unwrap();
    hubspot_edit(&h, hs, json!({"website": "https://hubspot.example", "fax": "+1 555 0104"}));
    sweep(&h).await;
    h.settle(QUIET).await.unwrap();

    // The settings change: both mappings now use the default rule.
    let app = h.app.with_config(SyncConfig::default());
    let runtime = crm_sync_app::local::LocalRuntime::new(app.clone(), HarnessOptions::default().local);
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "Chief"})).unwrap();
    h.later(Duration::from_secs(120));
    sweep_once(&app).await.unwrap();
    runtime.run_until_idle().await.unwrap();
    assert_eq!(hubspot_value(&h, hs, "jobtitle").as_deref(), Some("Chief"), "the change synced");
    // Existing values are kept on both sides; only the blank side is filled
    // in the direction the rule allows.
    assert_eq!(hubspot_value(&h, hs, "website").as_deref(), Some("https://hubspot.example"));
    assert_eq!(lead_value(&h, &lead, "Website"), "https://salesforce.example");
    assert_eq!(lead_value(&h, &lead, "Fax"), "+1 555 0104");

    // A resync applies the rule in full: Salesforce's value wins.
    let record = crm_sync_app::RecordRef::Salesforce { object: crm_sync_domain::SfObject::Lead, id: lead.clone() };
    let report = crm_sync_app::resync_record(&app, &record).await.unwrap();
    assert_eq!(report.error, None);
    assert_eq!(hubspot_value(&h, hs, "website").as_deref(), Some("https://salesforce.example"));
    h.stop().await;
}
