//! Echoes recognised at the webhook door: the HubSpot events of the sync's
//! own writes cost no sync (no CRM read), while a user's edit made right
//! after a sync write still travels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sync_domain::{ObjectPair, SalesforceId};
use crm_sync_e2e::{Harness, HarnessOptions, QUIET, WAIT, props};
use crm_sync_store::LinkCondition;
use serde_json::json;
use std::time::Duration;

async fn hubspot_of(h: &Harness, lead: &str) -> Option<u64> {
    let id = SalesforceId::parse(lead).unwrap();
    let link = h.app.store().get_link_by_salesforce(ObjectPair::Contact, id.as_str()).await.unwrap()?;
    link.hubspot_id.parse().ok()
}

fn create_lead(h: &Harness, n: usize) -> String {
    h.sandbox
        .salesforce()
        .create_as_user(
            "Lead",
            json!({"LastName": format!("Echo {n}"), "Company": "Acme", "Email": format!("echo{n}@example.com"),
                   "Title": "Analyst"}),
        )
        .unwrap()
}

/// Twenty Leads made in Salesforce become twenty HubSpot contacts; the
/// HubSpot events of those creations come back and are recognised as
/// echoes: no sync runs to find nothing to write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hubspot_events_of_the_syncs_own_creations_run_no_sync() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let leads: Vec<String> = (0..20).map(|n| create_lead(&h, n)).collect();
    let mut report =
        h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == leads.len()).await.unwrap();
    let settled = h.settle(QUIET).await.unwrap();
    report.stats.add(&settled.stats);
    for lead in &leads {
        assert!(hubspot_of(&h, lead).await.is_some(), "every Lead is linked");
    }
    assert!(
        h.app.echoes_recognised() >= leads.len() as u64,
        "every creation came back as an echo: {} recognised",
        h.app.echoes_recognised()
    );
    assert_eq!(report.stats.unchanged, 0, "no sync ran to find nothing to write: {report:?}");
    assert_eq!(report.stats.created.get("hubspot:contact"), Some(&(leads.len() as u64)), "{report:?}");
    h.stop().await;
}

/// A HubSpot user edits a contact right after the sync created it (well
/// within 100 ms of the write, before its events are delivered): the edit
/// is not taken for an echo and reaches Salesforce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_right_after_a_sync_write_still_syncs() {
    let config = crm_sync_domain::SyncConfig::from_yaml_str(
        "version: 1
mappings:
  contact:
    - hubspot: jobtitle
      salesforce: Title
      rule: two_way
",
    )
    .unwrap();
    let h = Harness::start(HarnessOptions { config, ..HarnessOptions::default() }).await.unwrap();
    let lead = create_lead(&h, 1);
    let mut hubspot = None;
    let started = tokio::time::Instant::now();
    while hubspot.is_none() {
        assert!(started.elapsed() < WAIT, "the Lead was not synced in time");
        h.runtime.run_until_idle().await.unwrap();
        hubspot = hubspot_of(&h, &lead).await;
    }
    let hubspot = hubspot.unwrap();
    let written = tokio::time::Instant::now();
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: hubspot,
            properties: props(json!({"jobtitle": "Director"})),
        })
        .unwrap();
    assert!(written.elapsed() < Duration::from_millis(100), "the edit follows the write at once");
    h.sync_until(WAIT, |h| h.sandbox.salesforce().record("Lead", &lead).is_some_and(|l| l["Title"] == "Director"))
        .await
        .unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(h.sandbox.salesforce().record("Lead", &lead).unwrap()["Title"], "Director");

    // Back to the value the sync first wrote: the link now holds the edit,
    // so this is a change too and travels.
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: hubspot,
            properties: props(json!({"jobtitle": "Analyst"})),
        })
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.salesforce().record("Lead", &lead).is_some_and(|l| l["Title"] == "Analyst"))
        .await
        .unwrap();
    h.stop().await;
}

/// The events of the sync's own writes can come before their links are
/// stored (the store slow for a moment, the write still in flight): the
/// webhook cannot tell them from a change and queues them with what they
/// reported. The worker looks again once the links are there: the
/// creations are echoes after all (no sync, no API call), while a user's
/// edit reported in the same deliveries still travels to Salesforce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_come_before_their_link_are_recognised_by_the_worker() {
    let mut options = HarnessOptions { config: crm_sync_e2e::title_two_way("").unwrap(), ..HarnessOptions::default() };
    options.sandbox.hubspot.webhook_hold = true;
    let h = Harness::start(options).await.unwrap();
    let leads: Vec<String> = (0..5).map(|n| create_lead(&h, n)).collect();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == leads.len()).await.unwrap();
    let store = h.app.store();
    let mut links = Vec::new();
    for lead in &leads {
        let id = SalesforceId::parse(lead).unwrap();
        let link = store.get_link_by_salesforce(ObjectPair::Contact, id.as_str()).await.unwrap().unwrap();
        links.push(link);
    }
    // A HubSpot user retitles the last one before any event is delivered.
    let edited: u64 = links[4].hubspot_id.parse().unwrap();
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: edited,
            properties: props(json!({"jobtitle": "Director"})),
        })
        .unwrap();
    // The events come while no link is stored yet.
    for link in &links {
        assert!(store.delete_link(ObjectPair::Contact, &link.salesforce_id, link.version).await.unwrap());
    }
    let before = h.app.echoes_recognised();
    assert!(h.release_held_webhooks().await.unwrap() > 0, "the writes came back as events");
    assert_eq!(h.app.echoes_recognised(), before, "with no link, nothing is taken for an echo at the door");
    for link in &links {
        store.put_link(link, LinkCondition::MustNotExist).await.unwrap();
    }
    let report = h
        .sync_until(WAIT, |h| {
            h.sandbox.salesforce().record("Lead", &leads[4]).is_some_and(|l| l["Title"] == "Director")
        })
        .await
        .unwrap();
    assert_eq!(h.app.echoes_recognised() - before, 4, "the four creations are echoes once their links are there");
    let echoed = h.app.echoed_records_since(before);
    assert!(!echoed.contains(&(ObjectPair::Contact, edited)), "the edited contact is no echo: {echoed:?}");
    // At most one sync finds nothing to write: the Salesforce outbound
    // message of the sync's own write to the Lead, if it came in time.
    assert!(report.stats.unchanged <= 1, "the creations ran no sync: {report:?}");
    assert_eq!(report.stats.updated.get("salesforce:Lead"), Some(&1), "{report:?}");
    h.stop().await;
}
