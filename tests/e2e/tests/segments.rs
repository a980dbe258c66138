//! The inclusion segment on imports (SPEC section 7) and segment resyncs
//! after a cost review (SPEC section 8).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sync_app::{
    AppError, ImportObjects, ImportRequest, Segment, import_review, import_start, resync_segment,
    resync_segment_review, sweep_once,
};
use crm_sync_domain::{ObjectPair, SyncConfig};
use crm_sync_e2e::{Harness, HarnessOptions};
use serde_json::{Map, json};
use std::time::Duration;

fn leads() -> ImportRequest {
    ImportRequest { objects: ImportObjects::Leads, filter: None, chunk_size: None, add_to_segment: false }
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
    assert!(
        contact.get("lastname").is_none_or(String::is_empty),
        "outside the segment: the email only, got {contact:?}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_can_add_its_contacts_to_the_segment_list_and_then_imports_every_field() {
    let config = SyncConfig::from_yaml_str("version: 1\ninclusion_segment:\n  hubspot_list: \"1\"\n").unwrap();
    let h = Harness::start(HarnessOptions { config, webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    assert_eq!(h.sandbox.hubspot().create_list("Synced with Salesforce", &[]).unwrap(), 1);
    h.sandbox.salesforce().seed("Lead", 30).unwrap();
    let request = ImportRequest { add_to_segment: true, ..leads() };

    let review = import_review(&h.app, &request).await.unwrap();
    let plain = import_review(&h.app, &leads()).await.unwrap();
    // Adding: one membership call per 1,000 contacts. Not adding: the list's
    // members and one email lookup per 100 records, which find the existing
    // contacts already in the list (they get every field).
    assert_eq!(review.hubspot_calls - 1, plain.hubspot_calls - 2, "{review:?} vs {plain:?}");

    h.reset_counts();
    import_start(&h.app, &request).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();
    let (_, hs) = h.counts();
    assert_eq!(hs.count("PUT", "/crm/v3/lists/{list}/memberships/add"), 1, "{:?}", hs.endpoints);

    let links = h.app.store().list_links(crm_sync_store::ObjectPair::Contact, None, 100).await.unwrap().links;
    assert_eq!(links.len(), 30);
    let members: std::collections::HashSet<String> =
        h.app.hubspot().list_members("1").await.unwrap().into_iter().collect();
    for link in &links {
        assert!(members.contains(&link.hubspot_id), "contact {} joined the list", link.hubspot_id);
        let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, link.hubspot_id.parse().unwrap()).unwrap();
        assert!(contact.get("lastname").is_some_and(|l| !l.is_empty()), "in the segment: every field, got {contact:?}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_to_a_segment_that_is_not_a_list_is_refused_with_the_reason_before_anything_is_written() {
    let with_filter = SyncConfig::from_yaml_str(
        "version: 1\ninclusion_segment:\n  property_filter:\n    property: lifecyclestage\n    operator: eq\n    value: customer\n",
    )
    .unwrap();
    for (config, says) in
        [(with_filter, "property filter on `lifecyclestage`"), (SyncConfig::default(), "no inclusion segment")]
    {
        let h = Harness::start(HarnessOptions { config, webhooks: false, ..HarnessOptions::default() }).await.unwrap();
        h.sandbox.salesforce().seed("Lead", 5).unwrap();
        let request = ImportRequest { add_to_segment: true, ..leads() };
        for refused in
            [import_review(&h.app, &request).await.map(|_| ()), import_start(&h.app, &request).await.map(|_| ())]
        {
            assert!(matches!(&refused, Err(AppError::Invalid(m)) if m.contains(says)), "{refused:?}");
        }
        assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 0, "nothing written");
        h.stop().await;
    }
}

/// SPEC sections 1 and 7 (issue: a contact lost its Title). A lead imported
/// outside the inclusion segment gets its email only, and its link
/// remembers only the email. When a HubSpot user later brings the contact
/// into the segment and the sweep syncs it, HubSpot's empty fields are not
/// "cleared in HubSpot": Salesforce keeps its Title and HubSpot gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_imported_with_its_email_only_keeps_its_title_when_it_joins_the_segment() {
    let config = crm_sync_e2e::title_two_way(
        "  property_filter:\n    property: lifecyclestage\n    operator: eq\n    value: customer\n",
    )
    .unwrap();
    let h = Harness::start(HarnessOptions { config, webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Lead",
            json!({"Email": "grace@example.com", "FirstName": "Grace", "LastName": "Hopper",
                   "Company": "US Navy", "Title": "Rear Admiral"}),
        )
        .unwrap();
    import_start(&h.app, &leads()).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();
    let link = h
        .app
        .store()
        .get_link_by_salesforce(crm_sync_store::ObjectPair::Contact, &lead)
        .await
        .unwrap()
        .expect("linked");
    let hs_id: u64 = link.hubspot_id.parse().unwrap();
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, hs_id).unwrap();
    assert!(
        contact.get("jobtitle").is_none_or(String::is_empty),
        "outside the segment: the email only, got {contact:?}"
    );
    // A first sweep takes in the import's own write.
    sweep_once(&h.app).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();

    // A HubSpot user makes the contact a customer: it joins the segment.
    h.later(Duration::from_secs(120));
    let mut joins = Map::new();
    joins.insert("lifecyclestage".into(), json!("customer"));
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update { object: ObjectType::Contacts, id: hs_id, properties: joins })
        .unwrap();
    h.later(Duration::from_secs(120));
    sweep_once(&h.app).await.unwrap();
    let report = h.runtime.run_until_idle().await.unwrap();

    let lead = h.sandbox.salesforce().record("Lead", &lead).unwrap();
    assert_eq!(lead["Title"], "Rear Admiral", "Salesforce keeps its Title ({report:?})");
    assert_eq!(lead["LastName"], "Hopper");
    assert_eq!(lead["FirstName"], "Grace");
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, hs_id).unwrap();
    assert_eq!(contact.get("jobtitle").map(String::as_str), Some("Rear Admiral"), "HubSpot gets the Title");
    assert_eq!(contact.get("lastname").map(String::as_str), Some("Hopper"));
    assert_eq!(contact.get("firstname").map(String::as_str), Some("Grace"));
    h.stop().await;
}

/// SPEC section 7 with the segment as a HubSpot list: a contact the import
/// finds by email that is already a member of the list is in the inclusion
/// segment, so it gets every mapped field (not the email only), even though
/// the import does not add anything to the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_contact_already_in_the_segment_list_gets_every_field_from_an_import() {
    let config = crm_sync_e2e::title_two_way(crm_sync_e2e::SEGMENT_LIST_ONE).unwrap();
    let h = Harness::start(HarnessOptions { config, webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let mut properties = Map::new();
    properties.insert("email".into(), json!("member@example.com"));
    let member = h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();
    let mut properties = Map::new();
    properties.insert("email".into(), json!("outsider@example.com"));
    let outsider =
        h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();
    h.sandbox.hubspot().create_list("Synced with Salesforce", &[member]).unwrap();
    for email in ["member@example.com", "outsider@example.com"] {
        h.sandbox
            .salesforce()
            .create_as_user(
                "Lead",
                json!({"Email": email, "FirstName": "Grace", "LastName": "Hopper", "Company": "US Navy",
                       "Title": "Rear Admiral"}),
            )
            .unwrap();
    }
    import_start(&h.app, &leads()).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();

    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 2, "both found by email, none created");
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, member).unwrap();
    assert_eq!(contact.get("jobtitle").map(String::as_str), Some("Rear Admiral"), "in the segment: every field");
    assert_eq!(contact.get("firstname").map(String::as_str), Some("Grace"));
    assert_eq!(contact.get("lastname").map(String::as_str), Some("Hopper"));
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, outsider).unwrap();
    assert!(contact.get("jobtitle").is_none_or(String::is_empty), "outside the segment: the email only, {contact:?}");
    assert!(contact.get("lastname").is_none_or(String::is_empty), "outside the segment: the email only");
    h.stop().await;
}
