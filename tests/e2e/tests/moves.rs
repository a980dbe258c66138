//! Links move with their records (SPEC section 1): a converted Lead's link
//! passes to the Contact it became, a merge keeps the survivor's link (on
//! either side) and reports the loser's, and a survivor with no link of its
//! own inherits the loser's instead of being created again on the other side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::sweep_once;
use crm_sync_domain::{ObjectPair, SalesforceId};
use crm_sync_e2e::{Harness, HarnessOptions, QUIET, WAIT, props};
use crm_sync_store::{ErrorFilter, Link, SyncHealthError};
use serde_json::{Value, json};
use std::time::Duration;

/// A Salesforce id in the 18-character form links are stored with.
fn sf(id: &str) -> String {
    SalesforceId::parse(id).unwrap().as_str().to_owned()
}

fn integration_writes(h: &Harness, object: &str, op: Op) -> Vec<String> {
    h.sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == object && w.op == op && w.actor == Actor::Integration)
        .map(|w| w.id)
        .collect()
}

/// Every write the sync made to Salesforce records, creates included.
fn integration_write_count(h: &Harness) -> usize {
    h.sandbox.salesforce().writes().iter().filter(|w| w.actor == Actor::Integration).count()
}

async fn health(h: &Harness) -> Vec<SyncHealthError> {
    h.app.store().list_errors(&ErrorFilter::default()).await.unwrap()
}

async fn link_of_hubspot(h: &Harness, id: u64) -> Option<Link> {
    h.app.store().get_link_by_hubspot(ObjectPair::Contact, &id.to_string()).await.unwrap()
}

async fn link_of_salesforce(h: &Harness, id: &str) -> Option<Link> {
    h.app.store().get_link_by_salesforce(ObjectPair::Contact, &sf(id)).await.unwrap()
}

fn hubspot_property(h: &Harness, id: u64, property: &str) -> Option<String> {
    h.sandbox.hubspot().properties(ObjectType::Contacts, id).and_then(|p| p.get(property).cloned())
}

fn create_hubspot_contact(h: &Harness, email: &str, first_name: &str) -> u64 {
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(json!({"email": email, "firstname": first_name, "lastname": "Lovelace",
                                     "jobtitle": "Analyst"})),
        })
        .expect("the sandbox creates the contact")
}

/// The Lead the sync created for a HubSpot contact.
fn lead_of(h: &Harness, hubspot_id: u64) -> Option<String> {
    integration_writes(h, "Lead", Op::Create).into_iter().find(|id| {
        h.sandbox
            .salesforce()
            .record("Lead", id)
            .is_some_and(|l| l["HubSpot_Id__c"].as_str().and_then(|s| s.parse().ok()) == Some(hubspot_id))
    })
}

/// HubSpot contacts, each synced to a new Lead; returns the Lead ids.
async fn synced_leads(h: &Harness, contacts: &[u64]) -> Vec<String> {
    h.sync_until(WAIT, |h| contacts.iter().all(|&c| lead_of(h, c).is_some())).await.unwrap();
    h.settle(QUIET).await.unwrap();
    contacts.iter().map(|&c| lead_of(h, c).unwrap()).collect()
}

/// Salesforce Contacts created as a user, each synced to a new HubSpot
/// contact; returns the HubSpot ids.
async fn synced_contacts(h: &Harness, contacts: &[String]) -> Vec<u64> {
    let mut linked = Vec::new();
    let started = tokio::time::Instant::now();
    while linked.len() < contacts.len() {
        assert!(started.elapsed() < WAIT, "the Contacts were not linked in time");
        h.sync_until(WAIT, |_| true).await.unwrap();
        linked.clear();
        for c in contacts {
            match link_of_salesforce(h, c).await {
                Some(link) => linked.push(link.hubspot_id.parse().unwrap()),
                None => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.settle(QUIET).await.unwrap();
    linked
}

fn create_salesforce_contact(h: &Harness, email: &str, last_name: &str) -> String {
    h.sandbox
        .salesforce()
        .create_as_user("Contact", json!({"FirstName": "Grace", "LastName": last_name, "Email": email}))
        .unwrap()
}

/// The Salesforce deletions of the window reach the sync through the sweep
/// (deletions send no outbound message); the replication API covers whole
/// minutes, so the sweep runs as the next scheduled one would, later.
async fn sweep_later(h: &Harness) {
    h.later(Duration::from_secs(120));
    sweep_once(&h.app).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converted_lead_passes_its_link_to_the_contact_it_became() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let hs_id = create_hubspot_contact(&h, "convert@example.com", "Ada");
    let lead = synced_leads(&h, &[hs_id]).await.remove(0);
    let writes_before = integration_write_count(&h);

    let (contact, _account) = h.sandbox.salesforce().convert_lead_as_user(&lead).unwrap();
    // A HubSpot edit of a field blank in Salesforce lands on the new Contact.
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: hs_id,
            properties: props(json!({"phone": "+1 555 0199"})),
        })
        .unwrap();
    h.sync_until(WAIT, |h| {
        h.sandbox.salesforce().record("Contact", &contact).is_some_and(|c| c["Phone"] == "+1 555 0199")
    })
    .await
    .unwrap();
    h.settle(QUIET).await.unwrap();

    let errors = health(&h).await;
    assert!(errors.iter().all(|e| !e.message.contains("CANNOT_UPDATE_CONVERTED_LEAD")), "{errors:?}");
    let link = link_of_hubspot(&h, hs_id).await.expect("the HubSpot contact stays linked");
    assert_eq!((link.salesforce_object.as_str(), link.salesforce_id.as_str()), ("Contact", sf(&contact).as_str()));
    assert!(link_of_salesforce(&h, &lead).await.is_none(), "the converted Lead has no link left");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1, "no second HubSpot contact");
    let lead_writes: Vec<_> = h.sandbox.salesforce().writes()[writes_before..]
        .iter()
        .filter(|w| w.actor == Actor::Integration && w.object == "Lead")
        .cloned()
        .collect();
    assert!(lead_writes.is_empty(), "nothing is written to the converted Lead: {lead_writes:?}");
    assert_eq!(h.sandbox.salesforce().record("Contact", &contact).unwrap()["Title"], "Analyst");

    // An edit of the Contact syncs to the same HubSpot contact.
    h.sandbox.salesforce().update_as_user("Contact", &contact, json!({"Title": "VP Research"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_property(h, hs_id, "jobtitle").as_deref() == Some("VP Research")).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1);
    assert_eq!(link_of_hubspot(&h, hs_id).await.unwrap().salesforce_id, sf(&contact));
    assert!(health(&h).await.is_empty(), "{:?}", health(&h).await);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_merge_keeps_the_survivors_link_and_reports_the_losers() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let survivor = create_hubspot_contact(&h, "keep@example.com", "Ada");
    let loser = create_hubspot_contact(&h, "gone@example.com", "Augusta");
    let leads = synced_leads(&h, &[survivor, loser]).await;
    let writes_before = integration_write_count(&h);

    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Merge { object: ObjectType::Contacts, primary: survivor, merged: loser })
        .unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();

    assert_eq!(link_of_hubspot(&h, survivor).await.unwrap().salesforce_id, sf(&leads[0]), "the survivor's link");
    assert!(link_of_hubspot(&h, loser).await.is_none(), "the loser's link is dropped");
    assert!(link_of_salesforce(&h, &leads[1]).await.is_none());
    let errors = health(&h).await;
    let entry = errors
        .iter()
        .find(|e| e.salesforce_id.as_deref() == Some(sf(&leads[1]).as_str()))
        .expect("the dropped link is reported");
    assert_eq!(entry.category, "duplicates");
    assert!(entry.message.contains(&survivor.to_string()), "the entry names the survivor: {}", entry.message);
    assert_eq!(entry.hubspot_id.as_deref(), Some(loser.to_string().as_str()));
    assert!(h.sandbox.salesforce().record("Lead", &leads[1]).is_some_and(|l| l["IsDeleted"] == false));
    assert!(integration_writes(&h, "Lead", Op::Create).len() == 2, "no new Salesforce record");
    assert!(integration_writes(&h, "Contact", Op::Create).is_empty());
    assert!(
        h.sandbox.salesforce().writes()[writes_before..]
            .iter()
            .all(|w| w.actor != Actor::Integration || w.id == leads[0]),
        "only the survivor's Lead may be written"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_contact_with_no_link_inherits_the_link_of_a_contact_merged_into_it() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    // A contact the sync never saw (seeded: no webhook).
    h.sandbox.hubspot().seed(1, 1, 0, 0);
    let email = ["email".to_owned()];
    let found = h.app.hubspot().batch_read("contacts", &["person1@example.com".into()], Some("email"), &email).await;
    let survivor: u64 = found.unwrap().remove(0).id.parse().unwrap();
    let loser = create_hubspot_contact(&h, "merged.away@example.com", "Ada");
    let lead = synced_leads(&h, &[loser]).await.remove(0);
    assert!(link_of_hubspot(&h, survivor).await.is_none());
    let survivor_phone = hubspot_property(&h, survivor, "phone");

    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Merge { object: ObjectType::Contacts, primary: survivor, merged: loser })
        .unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();

    let link = link_of_hubspot(&h, survivor).await.expect("the survivor inherits the loser's link");
    assert_eq!(link.salesforce_id, sf(&lead));
    assert!(link_of_hubspot(&h, loser).await.is_none());
    assert_eq!(integration_writes(&h, "Lead", Op::Create).len(), 1, "no new Salesforce record");
    assert!(integration_writes(&h, "Contact", Op::Create).is_empty());
    assert!(health(&h).await.is_empty(), "nothing was dropped: {:?}", health(&h).await);

    // The survivor syncs with the Lead by the rules: its phone fills the
    // Lead's blank, the Lead's first name wins, and later edits travel.
    let phone = survivor_phone.expect("the seeded contact has a phone");
    let lead_record = h.sandbox.salesforce().record("Lead", &lead).unwrap();
    assert_eq!(lead_record["Phone"], phone.as_str());
    assert_eq!(hubspot_property(&h, survivor, "firstname").as_deref(), Some("Ada"));
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: survivor,
            properties: props(json!({"fax": "+1 555 0142"})),
        })
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.salesforce().record("Lead", &lead).is_some_and(|l| l["Fax"] == "+1 555 0142"))
        .await
        .unwrap();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_merge_keeps_the_survivors_link_and_reports_the_losers() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let survivor = create_salesforce_contact(&h, "grace@example.com", "Hopper");
    let loser = create_salesforce_contact(&h, "g.hopper@example.com", "Hopper");
    let hubspot = synced_contacts(&h, &[survivor.clone(), loser.clone()]).await;

    h.sandbox.salesforce().merge_as_user("Contact", &survivor, &loser).unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    sweep_later(&h).await;
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();

    assert_eq!(link_of_salesforce(&h, &survivor).await.unwrap().hubspot_id, hubspot[0].to_string());
    assert!(link_of_salesforce(&h, &loser).await.is_none(), "the loser's link is dropped");
    assert!(link_of_hubspot(&h, hubspot[1]).await.is_none());
    let errors = health(&h).await;
    let entry = errors
        .iter()
        .find(|e| e.salesforce_id.as_deref() == Some(sf(&loser).as_str()))
        .expect("the dropped link is reported");
    assert_eq!(entry.category, "duplicates");
    assert!(entry.message.contains(&sf(&survivor)), "the entry names the survivor: {}", entry.message);
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 2, "the loser's HubSpot contact is kept");
    assert!(integration_writes(&h, "Contact", Op::Create).is_empty(), "no new Salesforce record");
    assert!(integration_writes(&h, "Lead", Op::Create).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_contact_with_no_link_inherits_the_link_of_a_contact_merged_into_it() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    // A Contact the sync never saw (seeded: no outbound message).
    h.sandbox.salesforce().seed("Contact", 1).unwrap();
    let survivor = h.app.salesforce().query("SELECT Id FROM Contact").await.unwrap().remove(0).id;
    let loser = create_salesforce_contact(&h, "merged.away@example.com", "Hopper");
    let hubspot = synced_contacts(&h, std::slice::from_ref(&loser)).await.remove(0);
    assert!(link_of_salesforce(&h, &survivor).await.is_none());

    // The user merging keeps the loser's email on the survivor: the same
    // person, by the contact match key.
    h.sandbox.salesforce().update_as_user("Contact", &survivor, json!({"Email": "merged.away@example.com"})).unwrap();
    h.sandbox.salesforce().merge_as_user("Contact", &survivor, &loser).unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();

    let link = link_of_salesforce(&h, &survivor).await.expect("the survivor inherits the loser's link");
    assert_eq!(link.hubspot_id, hubspot.to_string());
    assert!(link_of_salesforce(&h, &loser).await.is_none());
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1, "no new HubSpot contact");
    assert!(integration_writes(&h, "Contact", Op::Create).is_empty(), "no new Salesforce record");
    assert!(integration_writes(&h, "Lead", Op::Create).is_empty());
    // The survivor's own values travel to its HubSpot contact by the rules.
    let last_name = h.sandbox.salesforce().record("Contact", &survivor).unwrap()["LastName"].clone();
    assert_eq!(hubspot_property(&h, hubspot, "lastname").as_deref(), last_name.as_str());

    // The loser's deletion, seen later by the sweep, changes nothing.
    sweep_later(&h).await;
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(link_of_salesforce(&h, &survivor).await.unwrap().hubspot_id, hubspot.to_string());
    assert!(health(&h).await.is_empty(), "{:?}", health(&h).await);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_record_loses_its_link_and_its_counterpart_is_kept() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let contact = create_salesforce_contact(&h, "deleted@example.com", "Hopper");
    let hubspot = synced_contacts(&h, std::slice::from_ref(&contact)).await.remove(0);

    h.sandbox.salesforce().delete_as_user("Contact", &contact).unwrap();
    sweep_later(&h).await;
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();

    assert!(link_of_salesforce(&h, &contact).await.is_none(), "the link is dropped");
    assert!(link_of_hubspot(&h, hubspot).await.is_none());
    assert!(hubspot_property(&h, hubspot, "email").is_some());
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1, "the HubSpot contact is kept");
    assert!(health(&h).await.is_empty(), "a deletion is not a merge: {:?}", health(&h).await);
    h.stop().await;
}

fn edit_hubspot(h: &Harness, id: u64, properties: Value) {
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update { object: ObjectType::Contacts, id, properties: props(properties) })
        .unwrap();
}

/// Converts a linked Lead and deletes the Contact it became; the next sync
/// drops the link as for a deletion and keeps the HubSpot contact.
async fn convert_and_delete_contact(h: &Harness, lead: &str, hubspot: u64) {
    let (contact, _account) = h.sandbox.salesforce().convert_lead_as_user(lead).unwrap();
    h.sandbox.salesforce().delete_as_user("Contact", &contact).unwrap();
    sweep_later(h).await;
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert!(link_of_hubspot(h, hubspot).await.is_none(), "the link is dropped");
    assert!(link_of_salesforce(h, lead).await.is_none() && link_of_salesforce(h, &contact).await.is_none());
    assert!(hubspot_property(h, hubspot, "email").is_some(), "the HubSpot contact is kept");
    assert!(health(h).await.is_empty(), "a deletion is not reported: {:?}", health(h).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_whose_converted_lead_lost_its_contact_gets_a_new_lead_at_its_next_sync() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user("Lead", json!({"LastName": "Hopper", "Company": "Navy", "Email": "converted@example.com"}))
        .unwrap();
    let hubspot = synced_contacts(&h, std::slice::from_ref(&lead)).await.remove(0);
    convert_and_delete_contact(&h, &lead, hubspot).await;

    // The next sync of the HubSpot contact creates its counterpart again,
    // as for any record whose counterpart was deleted; the converted Lead,
    // read-only, is never its match.
    edit_hubspot(&h, hubspot, json!({"phone": "+1 555 0199"}));
    h.sync_until(WAIT, |h| !integration_writes(h, "Lead", Op::Create).is_empty()).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let created = integration_writes(&h, "Lead", Op::Create);
    assert_eq!(created.len(), 1, "one new Lead");
    assert_eq!(link_of_hubspot(&h, hubspot).await.unwrap().salesforce_id, sf(&created[0]));
    let new_lead = h.sandbox.salesforce().record("Lead", &created[0]).unwrap();
    assert_eq!(
        (new_lead["Email"].as_str(), new_lead["Phone"].as_str()),
        (Some("converted@example.com"), Some("+1 555 0199"))
    );
    assert!(
        integration_writes(&h, "Lead", Op::Update).iter().all(|id| *id != lead),
        "the converted Lead is not written"
    );
    assert!(health(&h).await.is_empty(), "{:?}", health(&h).await);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_whose_id_a_converted_lead_holds_is_reported_once_its_contact_is_gone() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let hubspot = create_hubspot_contact(&h, "held@example.com", "Ada");
    // The sync creates the Lead, keyed by the contact's HubSpot id.
    let lead = synced_leads(&h, &[hubspot]).await.remove(0);
    convert_and_delete_contact(&h, &lead, hubspot).await;
    let writes_before = integration_write_count(&h);

    // A new Lead for the contact would be keyed by the id the converted,
    // read-only Lead still holds: Salesforce refuses it, and the contact
    // is reported once, not retried.
    edit_hubspot(&h, hubspot, json!({"phone": "+1 555 0199"}));
    h.sync_until(WAIT, |_| true).await.unwrap();
    let report = h.settle(QUIET).await.unwrap();
    assert_eq!(report.retried, 0, "nothing retries");
    let errors = health(&h).await;
    let entry = errors
        .iter()
        .find(|e| e.hubspot_id.as_deref() == Some(hubspot.to_string().as_str()))
        .expect("the contact is in sync health");
    assert!(!entry.retryable && entry.attempts == 1, "{entry:?}");
    assert!(entry.message.contains("converted Lead holds this HubSpot contact's id"), "{}", entry.message);
    assert_eq!(integration_write_count(&h), writes_before, "nothing is written to Salesforce");
    assert!(link_of_hubspot(&h, hubspot).await.is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_into_a_survivor_whose_link_was_dropped_never_links_two_emails() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let survivor = create_salesforce_contact(&h, "kept@example.com", "Hopper");
    let loser = create_salesforce_contact(&h, "merged@example.com", "Hopper");
    let hubspot = synced_contacts(&h, &[survivor.clone(), loser.clone()]).await;
    // The survivor's HubSpot contact is deleted: its link is dropped.
    h.sandbox.hubspot().user_edit(UserEdit::Delete { object: ObjectType::Contacts, id: hubspot[0] }).unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert!(link_of_salesforce(&h, &survivor).await.is_none());

    h.sandbox.salesforce().merge_as_user("Contact", &survivor, &loser).unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    sweep_later(&h).await;
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();

    // A later delivery for the loser's HubSpot contact (an echo of an
    // earlier write, late under load) may sync it as any unlinked contact,
    // which gets a new Lead: never the survivor, of another email.
    let left = link_of_hubspot(&h, hubspot[1]).await;
    assert!(
        left.as_ref().is_none_or(|l| l.salesforce_id != sf(&survivor) && l.salesforce_id != sf(&loser)),
        "the loser's HubSpot contact is not linked to the survivor: {left:?}"
    );
    let errors = health(&h).await;
    let entry = errors
        .iter()
        .find(|e| e.salesforce_id.as_deref() == Some(sf(&loser).as_str()))
        .expect("the loser's dropped link is reported");
    assert_eq!(entry.category, "duplicates");
    assert!(entry.message.contains(&sf(&survivor)), "{}", entry.message);
    assert!(hubspot_property(&h, hubspot[1], "email").is_some(), "the loser's HubSpot contact is kept");
    // The survivor syncs as any unlinked record, by its own email.
    let link = link_of_salesforce(&h, &survivor).await.expect("the survivor is linked again");
    let email = hubspot_property(&h, link.hubspot_id.parse().unwrap(), "email");
    assert_eq!(email.as_deref(), Some("kept@example.com"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_merges_report_every_link_dropped() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let first = create_salesforce_contact(&h, "first@example.com", "Hopper");
    let second = create_salesforce_contact(&h, "second@example.com", "Hopper");
    let last = create_salesforce_contact(&h, "last@example.com", "Hopper");
    let hubspot = synced_contacts(&h, &[first.clone(), second.clone(), last.clone()]).await;

    // The first into the second, then the second into the last, before a
    // sync: the second's outbound message comes first, the first's
    // deletion with the sweep.
    h.sandbox.salesforce().merge_as_user("Contact", &second, &first).unwrap();
    h.sandbox.salesforce().merge_as_user("Contact", &last, &second).unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
    sweep_later(&h).await;
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();

    assert_eq!(link_of_salesforce(&h, &last).await.unwrap().hubspot_id, hubspot[2].to_string());
    let errors = health(&h).await;
    for (lost, contact) in [(&first, hubspot[0]), (&second, hubspot[1])] {
        assert!(link_of_salesforce(&h, lost).await.is_none());
        assert!(link_of_hubspot(&h, contact).await.is_none_or(|l| l.salesforce_id != sf(lost)));
        let entry = errors.iter().find(|e| e.salesforce_id.as_deref() == Some(sf(lost).as_str()));
        assert!(entry.is_some_and(|e| e.category == "duplicates"), "{lost} is reported: {errors:?}");
    }
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 3, "every HubSpot contact is kept");
    h.stop().await;
}

/// An import meeting the Contact of a converted Lead before any sync has
/// followed the conversion: the Lead's link passes to the Contact with what
/// it remembers (SPEC section 1) and the two are synced in full, so a HubSpot
/// edit made after the conversion wins under a two-way rule, instead of the
/// import taking the Contact for a new record and writing Salesforce's
/// values over the HubSpot contact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_follows_a_conversion_no_sync_has_met_yet() {
    let config = crm_sync_e2e::title_two_way("").unwrap();
    // No webhooks: nothing reaches the sync but the sweep and the import.
    let h = Harness::start(HarnessOptions { config, webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Lead",
            json!({"LastName": "Hopper", "Company": "Navy", "Email": "import-convert@example.com", "Title": "Analyst"}),
        )
        .unwrap();
    sweep_later(&h).await;
    let hubspot = synced_contacts(&h, std::slice::from_ref(&lead)).await.remove(0);
    assert_eq!(hubspot_property(&h, hubspot, "jobtitle").as_deref(), Some("Analyst"));

    let (contact, _account) = h.sandbox.salesforce().convert_lead_as_user(&lead).unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    edit_hubspot(&h, hubspot, json!({"jobtitle": "Director"}));
    let request = crm_sync_app::ImportRequest {
        objects: crm_sync_app::ImportObjects::LeadsAndContacts,
        filter: None,
        chunk_size: None,
        add_to_segment: false,
    };
    crm_sync_app::import_start(&h.app, &request).await.unwrap();
    h.sync_until(WAIT, |h| {
        h.sandbox.salesforce().record("Contact", &contact).is_some_and(|c| c["Title"] == "Director")
    })
    .await
    .unwrap();
    h.settle(QUIET).await.unwrap();

    assert_eq!(hubspot_property(&h, hubspot, "jobtitle").as_deref(), Some("Director"), "the HubSpot edit is kept");
    let link = link_of_hubspot(&h, hubspot).await.expect("the HubSpot contact stays linked");
    assert_eq!((link.salesforce_object.as_str(), link.salesforce_id.as_str()), ("Contact", sf(&contact).as_str()));
    assert!(link_of_salesforce(&h, &lead).await.is_none(), "the converted Lead has no link left");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1, "no second HubSpot contact");
    assert!(health(&h).await.is_empty(), "{:?}", health(&h).await);
    h.stop().await;
}
