//! Several Salesforce records with one email (SPEC section 1): wherever a
//! record enters (an outbound message, the sweep, a resync, an import), the
//! documented rule picks one, the others are never written to HubSpot and
//! get a `duplicates` entry naming the pick, and nothing keeps retrying.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::ObjectType;
use crm_sync_app::{ImportObjects, ImportRequest, RecordRef, import_review, import_start, resync_record, sweep_once};
use crm_sync_domain::{ObjectPair, SalesforceId, SfObject};
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::{ErrorFilter, JobStatus, Link, SyncHealthError};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const QUIET: Duration = Duration::from_millis(1500);

/// The 18-character form the sync stores.
fn id18(id: &str) -> String {
    SalesforceId::parse(id).unwrap().as_str().to_owned()
}

async fn link_of(h: &Harness, salesforce_id: &str) -> Option<Link> {
    h.app.store().get_link_by_salesforce(ObjectPair::Contact, &id18(salesforce_id)).await.unwrap()
}

async fn link_of_hubspot(h: &Harness, hubspot_id: u64) -> Option<Link> {
    h.app.store().get_link_by_hubspot(ObjectPair::Contact, &hubspot_id.to_string()).await.unwrap()
}

/// The `duplicates` entry of a Salesforce record, if any.
async fn duplicate_entry(h: &Harness, salesforce_id: &str) -> Option<SyncHealthError> {
    let key = format!("contact:salesforce:{}", id18(salesforce_id));
    h.app.store().get_error(&key).await.unwrap().filter(|e| e.category == "duplicates")
}

/// Writes the sync sent to HubSpot contacts since the counters were reset.
fn hubspot_contact_writes(h: &Harness) -> u64 {
    let (_, hs) = h.counts();
    hs.endpoints
        .iter()
        .filter(|(endpoint, _)| {
            ["batch/update", "batch/upsert", "batch/create", "unsubscribe"].iter().any(|w| endpoint.contains(w))
        })
        .map(|(_, n)| n)
        .sum()
}

fn hubspot_contact(h: &Harness, id: u64) -> std::collections::BTreeMap<String, String> {
    h.sandbox.hubspot().properties(ObjectType::Contacts, id).expect("the HubSpot contact exists")
}

fn create(h: &Harness, object: &str, fields: Value) -> String {
    h.sandbox.salesforce().create_as_user(object, fields).unwrap()
}

/// A Salesforce Contact synced and linked: its HubSpot contact's id.
async fn linked_contact(h: &Harness, fields: Value) -> (String, u64) {
    let id = create(h, "Contact", fields);
    h.sync_until(WAIT, |_| true).await.unwrap();
    let link = wait_for_link(h, &id).await;
    (id, link.hubspot_id.parse().unwrap())
}

async fn wait_for_link(h: &Harness, salesforce_id: &str) -> Link {
    for _ in 0..600 {
        if let Some(link) = link_of(h, salesforce_id).await {
            return link;
        }
        h.runtime.run_until_idle().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{salesforce_id} was never linked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_sharing_the_email_of_a_linked_contact_never_reaches_hubspot_and_nothing_retries() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let (winner, hs_id) =
        linked_contact(&h, json!({"Email": "pat@example.com", "LastName": "Older", "Title": "Engineer"})).await;
    h.settle(QUIET).await.unwrap();
    h.reset_counts();

    // A second Contact with the same email, created later and edited a few
    // times: each change comes in as an outbound message.
    let loser = create(&h, "Contact", json!({"Email": "Pat@Example.com", "LastName": "Newer", "Title": "Intern"}));
    let mut report = h.settle(QUIET).await.unwrap();
    for n in 0..3 {
        h.sandbox.salesforce().update_as_user("Contact", &loser, json!({"Title": format!("Intern {n}")})).unwrap();
        let more = h.settle(QUIET).await.unwrap();
        report.retried += more.retried;
        report.messages += more.messages;
    }
    assert!(report.messages >= 4, "every change of the loser came in: {report:?}");
    assert_eq!(hubspot_contact_writes(&h), 0, "nothing was written to HubSpot: {:?}", h.counts().1.endpoints);
    let contact = hubspot_contact(&h, hs_id);
    assert_eq!((contact["lastname"].as_str(), contact["jobtitle"].as_str()), ("Older", "Engineer"));
    assert_eq!(report.retried, 0, "no message came back for a retry: {report:?}");
    assert_eq!(h.app.sync_queue().depth().await.unwrap().visible, 0);
    assert!(h.app.sync_queue().list_dead_letters(10).await.unwrap().is_empty());

    let entry = duplicate_entry(&h, &loser).await.expect("the loser is reported as a duplicate");
    assert!(entry.message.contains(&id18(&winner)), "the entry names the record chosen: {}", entry.message);
    assert!(link_of(&h, &loser).await.is_none(), "the loser is not linked");
    assert_eq!(link_of_hubspot(&h, hs_id).await.unwrap().salesforce_id, id18(&winner));

    // The chosen record's own edit syncs as usual.
    h.sandbox.salesforce().update_as_user("Contact", &winner, json!({"Title": "Principal Engineer"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_contact(h, hs_id)["jobtitle"] == "Principal Engineer").await.unwrap();
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_created_with_the_email_of_a_linked_lead_takes_the_link_and_the_lead_is_reported() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let lead = create(
        &h,
        "Lead",
        json!({"Email": "sam@example.com", "LastName": "Lead", "Company": "Acme", "Title": "Buyer"}),
    );
    let hs_id: u64 = wait_for_link(&h, &lead).await.hubspot_id.parse().unwrap();
    h.settle(QUIET).await.unwrap();

    let contact = create(&h, "Contact", json!({"Email": "sam@example.com", "LastName": "Contact", "Title": "CFO"}));
    h.sync_until(WAIT, |_| true).await.unwrap();
    let link = wait_for_link(&h, &contact).await;
    assert_eq!(link.hubspot_id, hs_id.to_string(), "the Contact took over the HubSpot contact");
    assert_eq!(link.salesforce_object, "Contact");
    h.settle(QUIET).await.unwrap();
    assert!(link_of(&h, &lead).await.is_none(), "the Lead lost its link");
    assert_eq!(link_of_hubspot(&h, hs_id).await.unwrap().salesforce_id, id18(&contact), "one link for the contact");
    let properties = hubspot_contact(&h, hs_id);
    assert_eq!((properties["lastname"].as_str(), properties["jobtitle"].as_str()), ("Contact", "CFO"));
    let entry = duplicate_entry(&h, &lead).await.expect("the Lead is reported");
    assert!(entry.message.contains(&id18(&contact)), "{}", entry.message);
    assert!(duplicate_entry(&h, &contact).await.is_none());

    // The Lead's later edits write nothing.
    h.reset_counts();
    h.sandbox.salesforce().update_as_user("Lead", &lead, json!({"Title": "Head of Buying"})).unwrap();
    let report = h.settle(QUIET).await.unwrap();
    assert!(report.messages >= 1, "{report:?}");
    assert_eq!(hubspot_contact_writes(&h), 0, "{:?}", h.counts().1.endpoints);
    assert_eq!(hubspot_contact(&h, hs_id)["jobtitle"], "CFO");
    assert_eq!(report.retried, 0, "{report:?}");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_becomes_the_pick_once_the_chosen_record_is_deleted_and_leaves_sync_health() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let (winner, hs_id) =
        linked_contact(&h, json!({"Email": "max@example.com", "LastName": "Older", "Title": "Baker"})).await;
    let loser = create(&h, "Contact", json!({"Email": "max@example.com", "LastName": "Newer", "Title": "Miller"}));
    h.settle(QUIET).await.unwrap();
    assert!(duplicate_entry(&h, &loser).await.is_some());

    h.sandbox.salesforce().delete_as_user("Contact", &winner).unwrap();
    h.sandbox.salesforce().update_as_user("Contact", &loser, json!({"Title": "Head Miller"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_contact(h, hs_id)["jobtitle"] == "Head Miller").await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(link_of_hubspot(&h, hs_id).await.unwrap().salesforce_id, id18(&loser), "the HubSpot contact passed on");
    assert_eq!(hubspot_contact(&h, hs_id)["lastname"], "Newer");
    assert!(duplicate_entry(&h, &loser).await.is_none(), "its entry left sync health");
    assert!(duplicate_entry(&h, &winner).await.is_none(), "a deleted record is no duplicate");
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_chosen_record_changes_its_email_the_duplicate_takes_its_hubspot_contact() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let (winner, hs_id) =
        linked_contact(&h, json!({"Email": "jo@example.com", "LastName": "Older", "Title": "Potter"})).await;
    let loser = create(&h, "Contact", json!({"Email": "jo@example.com", "LastName": "Newer", "Title": "Weaver"}));
    h.settle(QUIET).await.unwrap();
    assert!(duplicate_entry(&h, &loser).await.is_some());

    // The chosen record moves to another email; the next change of the
    // other one makes it the pick of the first email.
    h.sandbox.salesforce().update_as_user("Contact", &winner, json!({"Email": "jo.potter@example.com"})).unwrap();
    h.settle(QUIET).await.unwrap();
    h.sandbox.salesforce().update_as_user("Contact", &loser, json!({"Title": "Master Weaver"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_contact(h, hs_id)["jobtitle"] == "Master Weaver").await.unwrap();
    assert_eq!(link_of_hubspot(&h, hs_id).await.unwrap().salesforce_id, id18(&loser));
    assert!(duplicate_entry(&h, &loser).await.is_none());
    assert!(duplicate_entry(&h, &winner).await.is_none(), "no longer sharing the email, it is no duplicate");

    // The first record's next change gives it a HubSpot contact of its own.
    h.sandbox.salesforce().update_as_user("Contact", &winner, json!({"Title": "Master Potter"})).unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 2).await.unwrap();
    let own: u64 = wait_for_link(&h, &winner).await.hubspot_id.parse().unwrap();
    assert_ne!(own, hs_id);
    let properties = hubspot_contact(&h, own);
    assert_eq!(
        (properties["email"].as_str(), properties["jobtitle"].as_str()),
        ("jo.potter@example.com", "Master Potter")
    );
    assert_eq!(hubspot_contact(&h, hs_id)["jobtitle"], "Master Weaver");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_keeps_the_same_rule() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let winner = create(&h, "Contact", json!({"Email": "lee@example.com", "LastName": "Older", "Title": "Chef"}));
    // Salesforce's replication API covers whole minutes: each sweep comes
    // after the minute of the changes it should see.
    h.later(Duration::from_secs(120));
    sweep_once(&h.app).await.unwrap();
    h.runtime.run_until_idle().await.unwrap();
    let hs_id: u64 =
        link_of(&h, &winner).await.expect("the sweep synced the first Contact").hubspot_id.parse().unwrap();

    let loser = create(&h, "Contact", json!({"Email": "lee@example.com", "LastName": "Newer", "Title": "Cook"}));
    h.sandbox.salesforce().update_as_user("Contact", &loser, json!({"Title": "Sous-chef"})).unwrap();
    h.later(Duration::from_secs(120));
    h.reset_counts();
    let swept = sweep_once(&h.app).await.unwrap();
    assert!(swept.intents_queued >= 1, "{swept:?}");
    let report = h.runtime.run_until_idle().await.unwrap();
    assert!(report.messages >= 1, "{report:?}");
    assert_eq!(report.retried, 0, "{report:?}");
    assert_eq!(hubspot_contact_writes(&h), 0, "{:?}", h.counts().1.endpoints);
    assert_eq!(hubspot_contact(&h, hs_id)["jobtitle"], "Chef");
    assert!(duplicate_entry(&h, &loser).await.is_some());
    assert!(link_of(&h, &loser).await.is_none());
    assert_eq!(h.app.sync_queue().depth().await.unwrap().visible, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_of_the_loser_writes_nothing_and_reports_it() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let winner = create(&h, "Contact", json!({"Email": "kim@example.com", "LastName": "Older", "Title": "Pilot"}));
    let record = |id: &str| RecordRef::Salesforce { object: SfObject::Contact, id: id.to_owned() };
    let first = resync_record(&h.app, &record(&winner)).await.unwrap();
    assert_eq!(first.error, None);
    let hs_id: u64 = link_of(&h, &winner).await.unwrap().hubspot_id.parse().unwrap();

    let loser = create(&h, "Contact", json!({"Email": "kim@example.com", "LastName": "Newer", "Title": "Navigator"}));
    h.reset_counts();
    let resync = resync_record(&h.app, &record(&loser)).await.unwrap();
    let error = resync.error.expect("the resync says why nothing was synced");
    assert!(error.contains(&id18(&winner)), "{error}");
    assert_eq!(resync.stats.errors.get("duplicates"), Some(&1), "{:?}", resync.stats);
    assert_eq!(hubspot_contact_writes(&h), 0, "{:?}", h.counts().1.endpoints);
    assert_eq!(hubspot_contact(&h, hs_id)["jobtitle"], "Pilot");
    assert!(duplicate_entry(&h, &loser).await.is_some());
    assert!(link_of(&h, &loser).await.is_none());
    h.stop().await;
}

/// Emails of every live Lead and Contact, normalised.
async fn salesforce_emails(h: &Harness) -> BTreeSet<String> {
    let mut emails = BTreeSet::new();
    for object in ["Lead", "Contact"] {
        for row in h.app.salesforce().query(&format!("SELECT Id, Email FROM {object}")).await.unwrap() {
            if let Some(email) = row.fields.get("Email").and_then(Value::as_str) {
                emails.insert(email.trim().to_lowercase());
            }
        }
    }
    emails
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_decides_duplicates_across_pages_and_objects_before_writing_to_hubspot() {
    let mut options = HarnessOptions { webhooks: false, ..HarnessOptions::default() };
    options.sandbox.hubspot.rate_limit_per_10s = 100_000;
    options.sandbox.hubspot.daily_limit = 10_000_000;
    let h = Harness::start(options).await.unwrap();
    // Two Contacts with one email, more than a page (5,000 rows) apart in
    // id order: the older one is on the first page, the newer on the second.
    let older = create(&h, "Contact", json!({"Email": "ann@example.com", "LastName": "Older", "Title": "Editor"}));
    h.sandbox.salesforce().seed("Contact", 5_100).unwrap();
    let newer = create(&h, "Contact", json!({"Email": "ann@example.com", "LastName": "Newer", "Title": "Writer"}));
    // A Lead and a newer Contact with one email: the Contact wins, though
    // the Lead import comes first. Seeded leads add every 25th lead with the
    // email of a seeded Contact.
    let lead = create(
        &h,
        "Lead",
        json!({"Email": "bo@example.com", "LastName": "Lead", "Company": "Acme", "Title": "Analyst"}),
    );
    h.sandbox.salesforce().seed("Lead", 300).unwrap();
    let contact = create(&h, "Contact", json!({"Email": "bo@example.com", "LastName": "Contact", "Title": "Director"}));

    let request = ImportRequest {
        objects: ImportObjects::LeadsAndContacts,
        filter: None,
        chunk_size: None,
        add_to_segment: false,
    };
    let review = import_review(&h.app, &request).await.unwrap();
    h.reset_counts();
    let job = import_start(&h.app, &request).await.unwrap();
    assert_eq!(job.chunks_total, 2, "one chunk per object");
    h.runtime.run_until_idle().await.unwrap();
    let (sf, _) = h.counts();
    assert!(
        review.salesforce_calls + 2 >= sf.total,
        "the review counts every query: {} < {}",
        review.salesforce_calls,
        sf.total
    );
    h.settle(QUIET).await.unwrap();
    let job = h.app.store().get_import_job(&job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Completed);

    // HubSpot holds the chosen records' values, and only theirs.
    let ann: u64 = link_of(&h, &older).await.expect("the older Contact is linked").hubspot_id.parse().unwrap();
    let ann_contact = hubspot_contact(&h, ann);
    assert_eq!((ann_contact["lastname"].as_str(), ann_contact["jobtitle"].as_str()), ("Older", "Editor"));
    let bo: u64 = link_of(&h, &contact).await.expect("the Contact is linked").hubspot_id.parse().unwrap();
    let bo_contact = hubspot_contact(&h, bo);
    assert_eq!((bo_contact["lastname"].as_str(), bo_contact["jobtitle"].as_str()), ("Contact", "Director"));

    // The others are reported, not linked.
    for (loser, chosen) in [(&newer, &older), (&lead, &contact)] {
        let entry = duplicate_entry(&h, loser).await.expect("the record not chosen is reported");
        assert!(entry.message.contains(&id18(chosen)), "{}", entry.message);
        assert!(link_of(&h, loser).await.is_none());
    }
    let duplicates =
        h.app.store().list_errors(&ErrorFilter { category: Some("duplicates".into()), limit: None }).await.unwrap();
    // The two above and the 12 seeded leads sharing a seeded Contact's email.
    assert_eq!(duplicates.len(), 14, "{:?}", duplicates.iter().map(|e| &e.message).collect::<Vec<_>>());

    // One HubSpot contact and one link per email.
    let emails = salesforce_emails(&h).await;
    assert_eq!(h.sandbox.hubspot().live_count(ObjectType::Contacts), emails.len());
    let mut links = 0;
    let mut after = None;
    loop {
        let page = h.app.store().list_links(ObjectPair::Contact, after.as_deref(), 1_000).await.unwrap();
        links += page.links.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(links, emails.len());
    assert_eq!(job.counts.read, job.counts.queued + job.counts.failed);
    h.stop().await;
}

/// The email's HubSpot contact is outside the inclusion segment (the sync
/// created it from a Lead): a Contact with that email, picked over the Lead,
/// ends the Lead's link and the Lead is reported; nothing is written and
/// nothing linked while the contact stays outside, as for any contact
/// outside the segment. Once it joins, the Contact's first sync applies the
/// rules in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_better_record_ends_the_link_of_a_contact_outside_the_segment_and_the_lead_is_reported() {
    let config = crm_sync_e2e::title_two_way(crm_sync_e2e::SEGMENT_LIST_ONE).unwrap();
    let h = Harness::start(HarnessOptions { config, ..HarnessOptions::default() }).await.unwrap();
    h.sandbox.hubspot().create_list("Synced with Salesforce", &[]).unwrap();
    let lead = create(
        &h,
        "Lead",
        json!({"Email": "kim@example.com", "LastName": "Lead", "Company": "Acme", "Title": "Buyer"}),
    );
    let hs_id: u64 = wait_for_link(&h, &lead).await.hubspot_id.parse().unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(hubspot_contact(&h, hs_id)["jobtitle"], "Buyer", "a new contact gets the Lead's values");

    h.reset_counts();
    let contact = create(&h, "Contact", json!({"Email": "kim@example.com", "LastName": "Contact", "Title": "CFO"}));
    let report = h.settle(QUIET).await.unwrap();
    assert!(report.messages >= 1, "{report:?}");
    assert!(link_of_hubspot(&h, hs_id).await.is_none(), "outside the segment the pick is not linked");
    assert!(link_of(&h, &lead).await.is_none(), "the Lead lost its link");
    assert!(link_of(&h, &contact).await.is_none(), "outside the segment the pick is not linked");
    let entry = duplicate_entry(&h, &lead).await.expect("the Lead is reported");
    assert!(entry.message.contains(&id18(&contact)), "{}", entry.message);
    assert_eq!(hubspot_contact_writes(&h), 0, "outside the segment nothing is written");
    assert_eq!(hubspot_contact(&h, hs_id)["jobtitle"], "Buyer");

    // Joining the segment: the next change syncs the Contact as a first
    // sync (the newer record's Title wins), and the Lead stays unwritten.
    h.sandbox.hubspot().set_list_membership(1, hs_id, true).unwrap();
    h.later(crm_sync_app::app::SEGMENT_MEMBERS_TTL + Duration::from_secs(1));
    h.sandbox.salesforce().update_as_user("Contact", &contact, json!({"FirstName": "Kim"})).unwrap();
    h.sync_until(WAIT, |h| hubspot_contact(h, hs_id).get("jobtitle").map(String::as_str) == Some("CFO")).await.unwrap();
    assert_eq!(hubspot_contact(&h, hs_id)["firstname"], "Kim");
    let link = link_of_hubspot(&h, hs_id).await.expect("linked once in the segment");
    assert_eq!(link.salesforce_id, id18(&contact), "the pick syncs with the contact");
    assert_eq!(h.sandbox.salesforce().record("Lead", &lead).unwrap()["Title"], "Buyer");
    h.stop().await;
}
