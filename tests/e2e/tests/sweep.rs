//! The sweep after a mass change: a bounded HubSpot listing queues what it
//! has, moves the cursor to where it stopped and carries on, in the same
//! sweep while its time budget lasts, else in the next one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sync_app::sweep_once;
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::System;
use serde_json::json;
use std::time::Duration;

const CONTACTS: usize = 450;

async fn harness_with_hubspot_contacts(time_budget: Duration) -> Harness {
    let mut options = HarnessOptions { webhooks: false, ..HarnessOptions::default() };
    options.settings.sweep_batch_records = 100;
    options.settings.sweep_time_budget = time_budget;
    let h = Harness::start(options).await.unwrap();
    for n in 0..CONTACTS {
        let mut properties = serde_json::Map::new();
        properties.insert("email".into(), json!(format!("swept{n}@example.com")));
        properties.insert("lastname".into(), json!(format!("Swept {n}")));
        h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();
    }
    // The sandbox stamps each write a millisecond after the last, so a burst
    // runs ahead of the wall clock; the sweep comes a little later.
    h.later(Duration::from_secs(5));
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_lists_a_large_hubspot_window_in_bounded_parts_and_queues_every_record() {
    let h = harness_with_hubspot_contacts(Duration::from_secs(600)).await;
    let report = sweep_once(&h.app).await.unwrap();
    assert!(report.complete, "{report:?}");
    let listings: Vec<_> = report.objects.iter().filter(|o| o.system == System::HubSpot).collect();
    assert_eq!(listings.len(), 3, "pages of 200 against a budget of 100: 200 + 200 + the rest; {report:?}");
    assert!(
        listings.windows(2).all(|w| w[1].from == w[0].to),
        "each part starts where the last stopped, without overlap"
    );
    assert!(listings.iter().map(|o| o.changed).sum::<usize>() >= CONTACTS);
    // Salesforce's listing covers whole minutes.
    let salesforce = report.objects.iter().find(|o| o.system == System::Salesforce).unwrap();
    assert_eq!(salesforce.to.timestamp() % 60, 0, "{salesforce:?}");

    h.runtime.run_until_idle().await.unwrap();
    assert_eq!(h.sandbox.salesforce().live_count("Lead"), CONTACTS, "every contact became one lead");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_out_of_time_leaves_the_rest_to_the_next_sweep_from_its_cursor() {
    let h = harness_with_hubspot_contacts(Duration::ZERO).await;
    let first = sweep_once(&h.app).await.unwrap();
    assert!(!first.complete, "{first:?}");
    let cursor = h.app.store().get_cursor(System::HubSpot, "contacts").await.unwrap().unwrap();
    let listed = first.objects.iter().find(|o| o.system == System::HubSpot).unwrap();
    assert_eq!((listed.changed, listed.to), (200, cursor.position), "one page, the cursor where it stopped");

    let mut sweeps = 1;
    loop {
        let next = sweep_once(&h.app).await.unwrap();
        sweeps += 1;
        if next.complete {
            break;
        }
        assert!(sweeps < 10, "the sweeps make progress");
    }
    assert_eq!(sweeps, 3);
    h.runtime.run_until_idle().await.unwrap();
    assert_eq!(h.sandbox.salesforce().live_count("Lead"), CONTACTS, "nothing was left behind between sweeps");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_window_over_the_replication_id_limit_is_halved_until_it_fits_and_every_change_is_queued_once() {
    const SEEDED: usize = 2_000;
    let mut options = HarnessOptions { webhooks: false, ..HarnessOptions::default() };
    // Seeded contacts were modified over the last 30 days; a real org allows
    // 600,000 ids per getUpdated window, this one 600.
    options.sandbox.salesforce.contacts = SEEDED as u64;
    options.sandbox.salesforce.replication_id_limit = 600;
    let h = Harness::start(options).await.unwrap();
    let month_ago = chrono::Utc::now() - chrono::Duration::days(31);
    h.app.store().advance_cursor(System::Salesforce, "Contact", None, month_ago, false).await.unwrap();
    // Replication covers whole minutes: sweep once the current one is over.
    h.later(Duration::from_secs(120));

    let report = sweep_once(&h.app).await.unwrap();
    assert!(report.complete, "{report:?}");
    let listings: Vec<_> = report.objects.iter().filter(|o| o.object == "Contact").collect();
    assert!(listings.len() > 1, "the month does not fit one window: {listings:?}");
    assert!(listings.iter().all(|o| o.changed <= 600), "{listings:?}");
    assert!(listings.windows(2).all(|w| w[1].from == w[0].to), "each part resumes where the last stopped");
    assert_eq!(
        listings.iter().map(|o| o.changed).sum::<usize>(),
        SEEDED,
        "every change once, no overlap between parts"
    );
    let cursor = h.app.store().get_cursor(System::Salesforce, "Contact").await.unwrap().unwrap();
    assert!(!cursor.partial, "the last part reached the end");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_and_a_lead_with_one_email_swept_together_link_once() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let mut properties = serde_json::Map::new();
    properties.insert("email".into(), json!("both@example.com"));
    properties.insert("firstname".into(), json!("Grace"));
    let contact = h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Lead",
            json!({"Email": "both@example.com", "LastName": "Hopper", "Company": "Navy", "FirstName": "Ada"}),
        )
        .unwrap();
    // Salesforce lists whole minutes: the sweep comes after this one.
    h.later(Duration::from_secs(120));
    // Both records are in the window: one batch holds both of their intents.
    sweep_once(&h.app).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();

    let errors = h.app.store().list_errors(&crm_sync_store::ErrorFilter::default()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let link = h.app.store().get_link_by_hubspot(crm_sync_store::ObjectPair::Contact, &contact.to_string()).await;
    assert_eq!(link.unwrap().map(|l| l.salesforce_id), Some(lead));
    let props = h.sandbox.hubspot().properties(ObjectType::Contacts, contact).unwrap();
    assert_eq!(props["firstname"], "Ada", "Salesforce's value wins under the default rule");
    h.stop().await;
}
