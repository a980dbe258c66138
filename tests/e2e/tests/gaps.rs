//! Product behaviour around the plain field sync: owners matched between the
//! CRMs, deals and opportunities, webhook retries after a failed queue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_e2e::{Harness, HarnessOptions};
use serde_json::{Map, Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(1500);

fn props(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
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

async fn salesforce_user(h: &Harness, email: &str) -> String {
    let users = h.app.salesforce().query("SELECT Id, Email FROM User").await.unwrap();
    users.into_iter().find(|u| u.fields["Email"] == email).expect("the sandbox has this user").id
}

async fn hubspot_contact_for(h: &Harness, salesforce_id: &str) -> std::collections::BTreeMap<String, String> {
    let link = h
        .app
        .store()
        .get_link_by_salesforce(crm_sync_store::ObjectPair::Contact, salesforce_id)
        .await
        .unwrap()
        .expect("the record is linked");
    h.sandbox.hubspot().properties(ObjectType::Contacts, link.hubspot_id.parse().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_travel_between_exactly_matched_users_and_unmatched_owners_are_not_written() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    // Sam exists in both CRMs with the same name and email; the integration
    // user has no HubSpot owner, and HubSpot's Sam Other matches nobody.
    let sam_owner = h.sandbox.hubspot().add_owner("Sam", "Seller", "sam.seller@crm-sync.sandbox");
    let other_owner = h.sandbox.hubspot().add_owner("Sam", "Other", "sam.other@crm-sync.sandbox");
    let sam_user = salesforce_user(&h, "sam.seller@crm-sync.sandbox").await;

    let owned = h
        .sandbox
        .salesforce()
        .create_as_user("Contact", json!({"LastName": "Owned", "Email": "owned@example.com", "OwnerId": sam_user}))
        .unwrap();
    let unowned = h
        .sandbox
        .salesforce()
        .create_as_user("Contact", json!({"LastName": "Unowned", "Email": "unowned@example.com"}))
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 2).await.unwrap();
    h.settle(QUIET).await.unwrap();

    let contact = hubspot_contact_for(&h, &owned).await;
    assert_eq!(contact.get("hubspot_owner_id").map(String::as_str), Some(sam_owner.to_string().as_str()));
    let contact = hubspot_contact_for(&h, &unowned).await;
    assert_eq!(contact.get("hubspot_owner_id"), None, "the integration user has no HubSpot owner");

    // HubSpot to Salesforce: a new contact owned by Sam becomes a Lead owned
    // by Sam; one owned by an unmatched owner keeps Salesforce's default.
    for (email, owner) in [("hs-owned@example.com", sam_owner), ("hs-other@example.com", other_owner)] {
        h.sandbox
            .hubspot()
            .user_edit(UserEdit::Create {
                object: ObjectType::Contacts,
                properties: props(json!({"email": email, "lastname": "FromHubSpot", "hubspot_owner_id": owner.to_string()})),
            })
            .unwrap();
    }
    h.sync_until(WAIT, |h| integration_creates(h, "Lead").len() == 2).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let leads = h.app.salesforce().query("SELECT Id, Email, OwnerId FROM Lead").await.unwrap();
    let owner_of = |email: &str| {
        let lead = leads.iter().find(|l| l.fields["Email"] == email).expect("the lead exists");
        lead.fields["OwnerId"].as_str().unwrap().to_owned()
    };
    assert_eq!(crm_sync_domain::SalesforceId::parse(&owner_of("hs-owned@example.com")).unwrap().as_str(), sam_user);
    assert_ne!(owner_of("hs-other@example.com"), sam_user, "an unmatched owner is not guessed");
    h.stop().await;
}
