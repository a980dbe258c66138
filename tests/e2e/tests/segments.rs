//! The inclusion segment on imports (SPEC section 7) and segment resyncs
//! after a cost review (SPEC section 8).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::ObjectType;
use crm_sync_app::{ImportObjects, ImportRequest, Segment, import_start, resync_segment, resync_segment_review};
use crm_sync_domain::{ObjectPair, SyncConfig};
use crm_sync_e2e::{Harness, HarnessOptions};

fn leads() -> ImportRequest {
    ImportRequest { objects: ImportObjects::Leads, filter: None, chunk_size: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_leads_outside_the_inclusion_segment_get_their_email_only() {
    let config = SyncConfig::from_yaml_str(
        "version: 1\ninclusion_segment:\n  property_filter:\n    property: lifecyclestage\n    operator: eq\n    value: customer\n",
    )
    .unwrap();
    let h = Harness::start(HarnessOptions { config, webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    h.sandbox.salesforce().seed("Lead", 20).unwrap();
    import_start(&h.app, &leads()).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 20);
    let link = h.app.store().list_links(crm_sync_store::ObjectPair::Contact, None, 1).await.unwrap().links.remove(0);
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, link.hubspot_id.parse().unwrap()).unwrap();
    assert!(contact.get("email").is_some_and(|e| e.contains('@')));
    assert!(contact.get("lastname").is_none_or(String::is_empty), "outside the segment: the email only, got {contact:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_resync_says_its_cost_first_and_rewrites_nothing_already_in_sync() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    h.sandbox.salesforce().seed("Lead", 300).unwrap();
    import_start(&h.app, &leads()).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();
    let contact = h.app.store().list_links(crm_sync_store::ObjectPair::Contact, None, 1).await.unwrap().links.remove(0);
    let props = h.sandbox.hubspot().properties(ObjectType::Contacts, contact.hubspot_id.parse().unwrap()).unwrap();
    assert!(props.get("lastname").is_some_and(|l| !l.is_empty()), "with no segment every mapped field is imported");

    let segment = Segment::Linked { pair: ObjectPair::Contact };
    let review = resync_segment_review(&h.app, &segment).await.unwrap();
    assert_eq!(review.records, 300);
    assert_eq!(
        review.salesforce_calls, 7,
        "a read, a campaign-membership query and at most a write per 200 records, and the owner directory's users"
    );
    assert!(review.within_budget);

    h.reset_counts();
    assert_eq!(resync_segment(&h.app, &segment).await.unwrap(), 300);
    let report = h.runtime.run_until_idle().await.unwrap();
    let (sf, hs) = h.counts();
    assert_eq!(report.stats.unchanged, 300, "{report:?}");
    assert!(report.stats.updated.is_empty() && report.stats.created.is_empty(), "{report:?}");
    assert!(sf.total <= review.salesforce_calls, "Salesforce: {} > {}", sf.total, review.salesforce_calls);
    assert!(hs.total <= review.hubspot_calls, "HubSpot: {} > {}", hs.total, review.hubspot_calls);
    h.stop().await;
}
