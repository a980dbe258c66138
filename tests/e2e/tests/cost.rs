//! API cost of live changes, asserted from the sandbox's counters: 1,000
//! records changed at once in Salesforce, picked up by one sweep.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::ObjectType;
use crm_sync_app::{ImportObjects, ImportRequest, import_start, sweep_once};
use crm_sync_e2e::{Harness, HarnessOptions};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_salesforce_changes_cost_a_few_calls_per_hundred_records() {
    let mut options = HarnessOptions { webhooks: false, ..HarnessOptions::default() };
    options.sandbox.hubspot.rate_limit_per_10s = 100_000;
    let h = Harness::start(options).await.unwrap();
    h.sandbox.salesforce().seed("Contact", 1_000).unwrap();
    import_start(
        &h.app,
        &ImportRequest { objects: ImportObjects::Contacts, filter: None, chunk_size: None, add_to_segment: false },
    )
    .await
    .unwrap();
    h.runtime.run_until_idle().await.unwrap();
    // A first sweep takes in the import's own writes.
    sweep_once(&h.app).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();

    let ids: Vec<String> =
        h.app.salesforce().query("SELECT Id FROM Contact").await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 1_000);
    for (n, id) in ids.iter().enumerate() {
        h.sandbox.salesforce().update_as_user("Contact", id, json!({"Title": format!("Director {n}")})).unwrap();
    }

    // Salesforce's replication API covers whole minutes only; the next
    // scheduled sweep runs well after the edits, so this one does too.
    h.later(std::time::Duration::from_secs(120));
    h.reset_counts();
    let swept = sweep_once(&h.app).await.unwrap();
    let salesforce_changed: usize = swept.objects.iter().filter(|o| o.object == "Contact").map(|o| o.changed).sum();
    assert_eq!(salesforce_changed, 1_000, "{swept:?}");
    let report = h.runtime.run_until_idle().await.unwrap();
    let (sf, hs) = h.counts();

    let updated = report.stats.updated.get("hubspot:contact").copied().unwrap_or(0);
    assert_eq!(updated, 1_000, "{report:?}");
    let link =
        h.app.store().get_link_by_salesforce(crm_sync_store::ObjectPair::Contact, &ids[7]).await.unwrap().unwrap();
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, link.hubspot_id.parse().unwrap()).unwrap();
    assert_eq!(contact["jobtitle"], "Director 7");
    eprintln!("salesforce calls: {}, hubspot calls: {}", sf.total, hs.total);
    assert!(sf.total as f64 / 1_000.0 <= 0.05, "Salesforce: {} calls {:?}", sf.total, sf.endpoints);
    assert!(hs.total as f64 / 1_000.0 <= 0.03, "HubSpot: {} calls {:?}", hs.total, hs.endpoints);
    h.stop().await;
}
