//! Moving to a new Salesforce production org (SPEC section 10): contact
//! links are kept, re-matched by email in the new org (one record per
//! email), company and deal links are dropped, and the next sync of a
//! re-matched contact is a first sync: it creates nothing and blanks
//! nothing in HubSpot.
//!
//! The "new org" is the same sandbox with the old records deleted and new
//! ones (new ids) created with the same emails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::ObjectType;
use crm_sync_app::{ImportObjects, ImportRequest, import_start, move_to_new_org, org_move_review};
use crm_sync_domain::{SalesforceId, SyncConfig};
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::{Link, ObjectPair};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(1500);

fn config() -> SyncConfig {
    SyncConfig::from_yaml_str(
        "version: 1\nobjects:\n  companies: true\n  deals: true\nmappings:\n  company:\n    - name: Company Name\n      \
         hubspot: name\n      hubspot_type: single_line_text\n      salesforce: Name\n      salesforce_type: string\n",
    )
    .unwrap()
}

fn id18(id: &str) -> String {
    SalesforceId::parse(id).unwrap().as_str().to_owned()
}

async fn link_of(h: &Harness, pair: ObjectPair, salesforce_id: &str) -> Option<Link> {
    h.app.store().get_link_by_salesforce(pair, &id18(salesforce_id)).await.unwrap()
}

async fn link_of_hubspot(h: &Harness, hubspot_id: &str) -> Option<Link> {
    h.app.store().get_link_by_hubspot(ObjectPair::Contact, hubspot_id).await.unwrap()
}

fn hubspot_contact(h: &Harness, id: &str) -> BTreeMap<String, String> {
    h.sandbox.hubspot().properties(ObjectType::Contacts, id.parse().unwrap()).expect("the HubSpot contact exists")
}

async fn run_import(h: &Harness, objects: ImportObjects) {
    let request = ImportRequest { objects, filter: None, chunk_size: None, add_to_segment: false };
    import_start(&h.app, &request).await.unwrap();
    h.settle(QUIET).await.unwrap();
}

/// The old org: an account with two contacts, a third contact and an
/// opportunity, all imported. Returns the Salesforce ids by name and the
/// HubSpot contact ids by email.
async fn old_org(h: &Harness) -> (BTreeMap<&'static str, String>, BTreeMap<&'static str, String>) {
    let sf = h.sandbox.salesforce();
    let account = sf.create_as_user("Account", json!({"Name": "Acme Corp"})).unwrap();
    let mut ids = BTreeMap::from([("account", account.clone())]);
    for (name, email, title) in [
        ("ann", "ann@acme.example.com", "CTO"),
        ("bob", "bob@acme.example.com", "CFO"),
        ("cat", "cat@acme.example.com", "COO"),
    ] {
        let fields =
            json!({"LastName": name, "Email": email, "Title": title, "Phone": "+1 555 0100", "AccountId": account});
        ids.insert(name, sf.create_as_user("Contact", fields).unwrap());
    }
    let deal = json!({"Name": "Anvils", "StageName": "Qualification", "CloseDate": "2026-12-31", "AccountId": account});
    ids.insert("opportunity", sf.create_as_user("Opportunity", deal).unwrap());
    run_import(h, ImportObjects::Accounts).await;
    run_import(h, ImportObjects::Contacts).await;
    run_import(h, ImportObjects::Opportunities).await;
    let mut contacts = BTreeMap::new();
    for name in ["ann", "bob", "cat"] {
        let link = link_of(h, ObjectPair::Contact, &ids[name]).await.expect("the contact is linked");
        contacts.insert(name, link.hubspot_id);
    }
    assert!(link_of(h, ObjectPair::Company, &ids["account"]).await.is_some(), "the account is linked");
    assert!(link_of(h, ObjectPair::Deal, &ids["opportunity"]).await.is_some(), "the opportunity is linked");
    (ids, contacts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_org_keeps_contact_links_by_email_and_drops_company_and_deal_links() {
    let h = Harness::start(HarnessOptions { config: config(), ..HarnessOptions::default() }).await.unwrap();
    let (old, hubspot) = old_org(&h).await;
    let before: BTreeMap<&str, BTreeMap<String, String>> =
        hubspot.iter().map(|(name, id)| (*name, hubspot_contact(&h, id))).collect();
    let hubspot_contacts = h.sandbox.hubspot().live_count(ObjectType::Contacts);

    // The new org: the old records are gone; Ann has a record with another
    // title and no phone, Bob two (a Lead made first, then a Contact: the Contact is
    // the pick), Cat none.
    let sf = h.sandbox.salesforce();
    for (object, name) in [
        ("Opportunity", "opportunity"),
        ("Contact", "ann"),
        ("Contact", "bob"),
        ("Contact", "cat"),
        ("Account", "account"),
    ] {
        sf.delete_as_user(object, &old[name]).unwrap();
    }
    let ann = sf
        .create_as_user(
            "Contact",
            json!({"LastName": "ann", "Email": "ann@acme.example.com", "Title": "Chief Technology"}),
        )
        .unwrap();
    let bob_lead = sf
        .create_as_user("Lead", json!({"LastName": "bob", "Email": "bob@acme.example.com", "Company": "Acme Corp"}))
        .unwrap();
    let bob = sf.create_as_user("Contact", json!({"LastName": "bob", "Email": "BOB@acme.example.com"})).unwrap();

    let review = org_move_review(&h.app).await.unwrap();
    assert_eq!((review.contact_links, review.company_links, review.deal_links), (3, 1, 1), "{review:?}");
    assert_eq!((review.salesforce_calls, review.hubspot_calls), (2, 1), "{review:?}");
    assert!(review.within_budget);

    h.reset_counts();
    let report = move_to_new_org(&h.app).await.unwrap();
    assert_eq!(report.contacts_relinked, 2, "{report:?}");
    assert_eq!(report.contacts_unmatched, 1, "{report:?}");
    assert_eq!(report.duplicates, 1, "{report:?}");
    assert_eq!((report.company_links_dropped, report.deal_links_dropped), (1, 1), "{report:?}");
    let (sf_calls, hs_calls) = h.counts();
    assert_eq!((sf_calls.total, hs_calls.total), (2, 1), "the cost said: {:?} {:?}", sf_calls, hs_calls);

    // The links name the new org's records, with nothing known of them.
    let link = link_of_hubspot(&h, &hubspot["ann"]).await.expect("Ann keeps her link");
    assert_eq!((link.salesforce_id.as_str(), link.salesforce_object.as_str()), (id18(&ann).as_str(), "Contact"));
    assert!(!link.fingerprints.keys().any(|k| k.contains("<->")), "no fingerprints: {link:?}");
    let link = link_of_hubspot(&h, &hubspot["bob"]).await.expect("Bob keeps his link");
    assert_eq!(link.salesforce_id, id18(&bob), "the Contact is picked over the Lead");
    assert!(link_of_hubspot(&h, &hubspot["cat"]).await.is_none(), "Cat has no record in the new org");
    let entry = h.app.store().get_error(&format!("contact:salesforce:{}", id18(&bob_lead))).await.unwrap();
    let entry = entry.expect("Bob's Lead is reported");
    assert_eq!(entry.category, "duplicates");
    assert!(entry.message.contains(&id18(&bob)), "{}", entry.message);
    for pair in [ObjectPair::Company, ObjectPair::Deal] {
        assert!(h.app.store().list_links(pair, None, 10).await.unwrap().links.is_empty(), "{pair:?} links dropped");
    }

    // The new records' first sync: nothing created, nothing blanked.
    h.settle(QUIET).await.unwrap();
    let first = hubspot_contact(&h, &hubspot["ann"]);
    assert_eq!(first["jobtitle"], "Chief Technology", "the first-sync rules: the new record's title wins");
    sf.update_as_user("Contact", &ann, json!({"Title": "CEO"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_contact(h, &hubspot["ann"])["jobtitle"] == "CEO").await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), hubspot_contacts, "no HubSpot contact created");
    let ann_now = hubspot_contact(&h, &hubspot["ann"]);
    assert_eq!(ann_now["phone"], before["ann"]["phone"], "Ann's phone is kept in HubSpot");
    assert_eq!(sf.record("Contact", &ann).unwrap()["Phone"], "+1 555 0100", "and fills the new record's blank");
    let bob_now = hubspot_contact(&h, &hubspot["bob"]);
    for property in ["jobtitle", "phone", "lastname"] {
        assert_eq!(bob_now[property], before["bob"][property], "Bob's {property} is kept in HubSpot");
    }
    assert_eq!(hubspot_contact(&h, &hubspot["cat"]), before["cat"], "Cat is left as she was");
    assert_eq!(link_of(&h, ObjectPair::Contact, &ann).await.unwrap().hubspot_id, hubspot["ann"]);
    assert_eq!(link_of(&h, ObjectPair::Contact, &bob).await.unwrap().hubspot_id, hubspot["bob"]);
    assert!(link_of(&h, ObjectPair::Contact, &bob_lead).await.is_none(), "the Lead stays unlinked");
    h.stop().await;
}
