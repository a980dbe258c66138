//! Unit tests of the sync pipeline over the in-memory CRMs
//! ([`crate::testing`]): each stage and each special field on its own, and
//! the batch fan-in/out. No HTTP, no emulators; time moves by hand.
//!
//! Test names are sentences saying the behaviour they hold the code to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod batch;
mod creations;
mod deletions;
mod moves;
mod special;
mod stages;

use super::*;
use crate::messages::IntentBatch;
use crate::testing::TestApp;
use crm_sync_domain::{HubSpotId, SalesforceId, Trigger};
use crm_sync_store::Link;
use serde_json::{Value, json};

/// An intent for a Salesforce record, from a webhook.
fn sf_intent(t: &TestApp, object: SfObject, id: &str) -> SyncIntent {
    SyncIntent::salesforce(object, SalesforceId::parse(id).unwrap(), Trigger::Webhook, t.now())
}

/// An intent for a HubSpot record, from a webhook.
fn hs_intent(t: &TestApp, pair: ObjectPair, id: &str) -> SyncIntent {
    SyncIntent::hubspot(pair, HubSpotId::parse(id).unwrap(), Trigger::Webhook, t.now())
}

/// A queue message carrying these intents.
fn message(id: &str, intents: &[SyncIntent]) -> ReceivedMessage {
    ReceivedMessage {
        id: id.to_owned(),
        receipt_handle: format!("handle-{id}"),
        body: serde_json::to_string(&IntentBatch::new(intents.to_vec())).unwrap(),
        receive_count: 1,
    }
}

/// Runs the whole pipeline over one message.
async fn sync(t: &TestApp, intents: &[SyncIntent]) -> BatchOutcome {
    sync_batch(&t.app, &[message("m1", intents)]).await
}

/// The stored link of a Salesforce record.
async fn link_of(t: &TestApp, pair: ObjectPair, salesforce_id: &str) -> Option<Link> {
    t.app.store().get_link_by_salesforce(pair, salesforce_id).await.unwrap()
}

/// An app whose config has companies (and so associations and lifecycle
/// stages) switched on.
fn with_companies() -> TestApp {
    TestApp::builder().config_yaml("objects: {companies: true, deals: true}\n").build()
}

/// A Lead and a HubSpot contact with one email, linked.
async fn linked_contact(t: &TestApp, email: &str) -> (String, String) {
    let lead = t.salesforce.insert("Lead", json!({"Email": email, "LastName": "Lovelace", "Company": "X"}));
    let contact = t.hubspot.insert("contacts", json!({"email": email, "lastname": "Lovelace", "company": "X"}));
    t.put_link(ObjectPair::Contact, "Lead", &lead, &contact).await;
    (lead, contact)
}

/// The text of a HubSpot property.
fn hs_prop(t: &TestApp, object: &str, id: &str, name: &str) -> Option<String> {
    t.hubspot.get(object, id)?.get(name).and_then(Value::as_str).map(str::to_owned)
}

#[test]
fn a_retry_outweighs_a_failure_and_a_failure_outweighs_success() {
    let retry = RecordResult::Retry(Duration::from_secs(2));
    assert_eq!(RecordResult::Done.worse(retry.clone()), retry);
    assert_eq!(RecordResult::Failed("x".into()).worse(RecordResult::Done), RecordResult::Failed("x".into()));
    assert_eq!(
        RecordResult::Retry(Duration::from_secs(1)).worse(RecordResult::Retry(Duration::from_secs(5))),
        RecordResult::Retry(Duration::from_secs(5))
    );
}

#[test]
fn batch_statistics_add_up_per_key() {
    let mut total = SyncStats::default();
    let mut one = SyncStats::default();
    one.created.insert("hubspot:contact".into(), 2);
    one.skipped.insert("deleted".into(), 1);
    one.unchanged = 3;
    total.add(&one);
    total.add(&one);
    assert_eq!(total.created["hubspot:contact"], 4);
    assert_eq!(total.skipped["deleted"], 2);
    assert_eq!(total.unchanged, 6);
}
