//! Deleted records (SPEC section 1): a deleted record's link is dropped, and
//! what happens to its counterpart is the `deleted_records` setting: kept by
//! default, deleted with `delete_counterpart`. Merges are moves, never
//! deletions, whatever the setting says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::{RecordRef, api_usage, resync_record, sweep_once};
use crm_sync_domain::{ObjectPair, SalesforceId, SyncConfig};
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::{ErrorFilter, Link, SyncHealthError};
use serde_json::{Map, Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(1500);

async fn start(deleted_records: Option<&str>) -> Harness {
    let config = match deleted_records {
        Some(value) => SyncConfig::from_yaml_str(&format!("deleted_records:\n  contact: {value}\n")).unwrap(),
        None => SyncConfig::default(),
    };
    Harness::start(HarnessOptions { config, ..HarnessOptions::default() }).await.unwrap()
}

fn sf(id: &str) -> String {
    SalesforceId::parse(id).unwrap().as_str().to_owned()
}

fn integration_writes(h: &Harness, op: Op) -> Vec<(String, String)> {
    h.sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.op == op && w.actor == Actor::Integration)
        .map(|w| (w.object.to_owned(), w.id))
        .collect()
}

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

fn live_lead(h: &Harness, id: &str) -> bool {
    h.sandbox.salesforce().record("Lead", id).is_some_and(|l| l["IsDeleted"] == false)
}

fn live_contact(h: &Harness, id: u64) -> bool {
    h.sandbox.hubspot().is_live(ObjectType::Contacts, id)
}

fn create_hubspot_contact(h: &Harness, email: &str) -> u64 {
    let properties: Map<String, Value> =
        json!({"email": email, "firstname": "Ada", "lastname": "Lovelace"}).as_object().cloned().unwrap();
    h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap()
}

/// The Lead the sync created for a HubSpot contact.
fn lead_of(h: &Harness, hubspot_id: u64) -> Option<String> {
    integration_writes(h, Op::Create).into_iter().map(|(_, id)| id).find(|id| {
        h.sandbox
            .salesforce()
            .record("Lead", id)
            .is_some_and(|l| l["HubSpot_Id__c"].as_str().and_then(|s| s.parse().ok()) == Some(hubspot_id))
    })
}

/// HubSpot contacts made by a user, each synced to a new Lead.
async fn synced_leads(h: &Harness, emails: &[&str]) -> Vec<(u64, String)> {
    let contacts: Vec<u64> = emails.iter().map(|e| create_hubspot_contact(h, e)).collect();
    h.sync_until(WAIT, |h| contacts.iter().all(|&c| lead_of(h, c).is_some())).await.unwrap();
    h.settle(QUIET).await.unwrap();
    contacts.iter().map(|&c| (c, lead_of(h, c).unwrap())).collect()
}

/// Salesforce deletions reach the sync through the sweep's deleted list
/// (they send no outbound message); the sweep runs as the next one would.
async fn sweep_later(h: &Harness) {
    h.later(Duration::from_secs(120));
    sweep_once(&h.app).await.unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
}

async fn delete_in_hubspot(h: &Harness, id: u64) {
    h.sandbox.hubspot().user_edit(UserEdit::Delete { object: ObjectType::Contacts, id }).unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
}

fn hubspot_archive_calls(h: &Harness) -> u64 {
    h.counts().1.matching("batch/archive")
}

fn salesforce_delete_calls(h: &Harness) -> u64 {
    h.counts().0.endpoints.iter().filter(|(k, _)| k.starts_with("DELETE ")).map(|(_, v)| v).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_deletion_on_either_side_keeps_the_counterpart() {
    let h = start(None).await;
    let pairs = synced_leads(&h, &["sf.deleted@example.com", "hs.deleted@example.com"]).await;
    let ((kept_contact, deleted_lead), (deleted_contact, kept_lead)) = (pairs[0].clone(), pairs[1].clone());

    h.sandbox.salesforce().delete_as_user("Lead", &deleted_lead).unwrap();
    sweep_later(&h).await;
    delete_in_hubspot(&h, deleted_contact).await;

    assert!(link_of_hubspot(&h, kept_contact).await.is_none(), "the deleted Lead's link is dropped");
    assert!(link_of_salesforce(&h, &kept_lead).await.is_none(), "the deleted contact's link is dropped");
    assert!(live_contact(&h, kept_contact), "the deleted Lead's HubSpot contact is kept");
    assert!(live_lead(&h, &kept_lead), "the deleted HubSpot contact's Lead is kept");
    assert_eq!((hubspot_archive_calls(&h), salesforce_delete_calls(&h)), (0, 0));
    assert!(health(&h).await.is_empty(), "{:?}", health(&h).await);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_deleted_by_a_user_archives_its_hubspot_contact_once() {
    let h = start(Some("delete_counterpart")).await;
    let (contact, lead) = synced_leads(&h, &["lead.deleted@example.com"]).await.remove(0);
    let writes_before = integration_write_count(&h);

    h.sandbox.salesforce().delete_as_user("Lead", &lead).unwrap();
    sweep_later(&h).await;
    // The archive's own deletion webhook and a later sweep change nothing.
    sweep_later(&h).await;

    assert!(!live_contact(&h, contact), "the HubSpot contact is archived");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0);
    assert_eq!(hubspot_archive_calls(&h), 1, "one archive call");
    assert!(link_of_hubspot(&h, contact).await.is_none() && link_of_salesforce(&h, &lead).await.is_none());
    assert_eq!(integration_write_count(&h), writes_before, "no write to Salesforce");
    assert_eq!(salesforce_delete_calls(&h), 0);
    assert!(health(&h).await.is_empty(), "{:?}", health(&h).await);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_contact_deleted_by_a_user_deletes_its_lead_once_and_the_call_is_counted() {
    let h = start(Some("delete_counterpart")).await;
    let (contact, lead) = synced_leads(&h, &["contact.deleted@example.com"]).await.remove(0);
    let writes_before = integration_write_count(&h);

    delete_in_hubspot(&h, contact).await;
    // The Lead's deletion, seen by the sweep, changes nothing.
    sweep_later(&h).await;

    assert!(!live_lead(&h, &lead), "the Lead is in the Recycle Bin");
    let writes: Vec<(String, String)> = integration_writes(&h, Op::Delete);
    assert_eq!(writes, vec![("Lead".to_owned(), lead.clone())], "one deletion, of the Lead");
    assert_eq!(integration_write_count(&h), writes_before + 1, "no other write to Salesforce");
    assert_eq!(salesforce_delete_calls(&h), 1, "one Collections delete call");
    assert_eq!(hubspot_archive_calls(&h), 0);
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0, "nothing was created again");
    assert!(link_of_hubspot(&h, contact).await.is_none() && link_of_salesforce(&h, &lead).await.is_none());
    assert!(health(&h).await.is_empty(), "{:?}", health(&h).await);
    let usage = api_usage(&h.app).await.unwrap();
    assert_eq!(usage.salesforce.used, h.counts().0.total, "the delete counts against the API cap");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_merge_deletes_nothing_even_when_the_merged_record_is_named_first() {
    let h = start(Some("delete_counterpart")).await;
    let pairs = synced_leads(&h, &["keep@example.com", "merged@example.com"]).await;
    let ((survivor, survivor_lead), (merged, merged_lead)) = (pairs[0].clone(), pairs[1].clone());

    h.sandbox.hubspot().user_edit(UserEdit::Merge { object: ObjectType::Contacts, primary: survivor, merged }).unwrap();
    // An operator resyncs the merged-away record before the merge's webhook
    // is worked: HubSpot has it nowhere, but not in its recycle bin.
    let record = RecordRef::Hubspot { object: ObjectPair::Contact, id: merged.to_string() };
    resync_record(&h.app, &record).await.unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();

    assert!(live_lead(&h, &survivor_lead) && live_lead(&h, &merged_lead), "no Lead is deleted");
    assert!(integration_writes(&h, Op::Delete).is_empty());
    assert_eq!(salesforce_delete_calls(&h), 0);
    assert_eq!(link_of_hubspot(&h, survivor).await.unwrap().salesforce_id, sf(&survivor_lead));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_merge_deletes_nothing_in_hubspot() {
    let h = start(Some("delete_counterpart")).await;
    let contacts: Vec<String> = ["grace@example.com", "g.hopper@example.com"]
        .iter()
        .map(|email| {
            let fields = json!({"FirstName": "Grace", "LastName": "Hopper", "Email": email});
            h.sandbox.salesforce().create_as_user("Contact", fields).unwrap()
        })
        .collect();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 2).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let loser_contact = link_of_salesforce(&h, &contacts[1]).await.unwrap().hubspot_id;

    h.sandbox.salesforce().merge_as_user("Contact", &contacts[0], &contacts[1]).unwrap();
    sweep_later(&h).await;

    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 2, "both HubSpot contacts are kept");
    assert_eq!(hubspot_archive_calls(&h), 0);
    assert!(link_of_salesforce(&h, &contacts[1]).await.is_none(), "the loser's link is dropped (and reported)");
    assert!(live_contact(&h, loser_contact.parse().unwrap()));
    h.stop().await;
}
