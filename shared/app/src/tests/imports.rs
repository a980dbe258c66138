//! Imports: the review (counts and API cost, nothing written), start
//! (chunks planned and queued), run_import_chunk (writes and links), status.

use super::{contact_link, drain_sync_queue};
use crate::messages::IntentBatch;
use crate::sync_batch;
use crate::testing::{TestApp, crm_error};
use crate::usecases::import::{ChunkMessage, ImportFilter, ImportObjects, ImportRequest};
use crate::{AppError, AppSettings, ChunkReport, import_review, import_start, import_status, run_import_chunk};
use crm_sync_crm::error::System as CrmSystem;
use crm_sync_domain::intent::{SyncIntent, Trigger};
use crm_sync_domain::{HubSpotId, ObjectPair};
use crm_sync_store::{ErrorFilter, JobStatus, Queue, ReceivedMessage};
use serde_json::json;
use std::time::Duration;

fn request(objects: ImportObjects) -> ImportRequest {
    ImportRequest { objects, filter: None, chunk_size: None, add_to_segment: false }
}

fn contacts(t: &TestApp, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            t.salesforce.insert("Contact", json!({"Email": format!("c{i}@example.com"), "LastName": format!("L{i}")}))
        })
        .collect()
}

/// Receives every queued chunk message and runs it as the runtime does.
async fn run_chunks(t: &TestApp) -> Vec<ChunkReport> {
    let mut reports = Vec::new();
    loop {
        let messages = t.import_queue.receive(10, Duration::from_secs(60)).await.unwrap();
        if messages.is_empty() {
            return reports;
        }
        for message in messages {
            let (result, settlement) = crate::retry::run_chunk(&t.app, &message).await;
            reports.push(result.unwrap());
            assert_eq!(settlement, crate::retry::Settlement::Delete);
            t.import_queue.delete(&message.receipt_handle).await.unwrap();
        }
    }
}

/// Whether each queued chunk message ran its chunk ([`run_chunks`]).
async fn run_received_chunks(t: &TestApp) -> Vec<bool> {
    run_chunks(t).await.iter().map(|r| r.ran).collect()
}

#[tokio::test]
async fn a_review_counts_the_records_and_says_the_cost_without_writing_anything() {
    let t = TestApp::new();
    contacts(&t, 3);
    let review = import_review(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    assert_eq!(review.records, 3);
    assert_eq!(review.objects.len(), 1);
    assert!(!review.objects[0].bulk);
    assert_eq!(review.objects[0].chunks, 1);
    // Count and one query page, the email rule's Lead and Contact queries,
    // plus the owner directory's Users query.
    assert_eq!(review.salesforce_calls, 5);
    // One upsert batch, plus the owner directory's owners call.
    assert_eq!(review.hubspot_calls, 2);
    assert!(review.within_budget);
    assert!(review.blocked.is_none());
    assert!(t.hubspot.records("contacts").is_empty());
    assert_eq!(t.import_queue.depth().await.unwrap().visible, 0);
    assert_eq!(t.salesforce.calls().invocations("count"), 1, "the review itself only counts");
}

#[tokio::test]
async fn a_review_of_an_empty_object_costs_its_count_and_nothing_more() {
    let t = TestApp::new();
    let review = import_review(&t.app, &request(ImportObjects::Leads)).await.unwrap();
    assert_eq!((review.records, review.salesforce_calls, review.hubspot_calls), (0, 1, 0));
}

#[tokio::test]
async fn a_review_above_the_bulk_threshold_counts_bulk_jobs_per_chunk_and_the_id_scan() {
    let t = TestApp::builder().settings(AppSettings { bulk_threshold: 2, ..AppSettings::default() }).build();
    contacts(&t, 5);
    let review = import_review(&t.app, &ImportRequest { chunk_size: Some(2), ..request(ImportObjects::Contacts) })
        .await
        .unwrap();
    assert_eq!(review.objects[0].chunks, 3);
    assert!(review.objects[0].bulk);
    // count 1 + id scan (2 + 1 page) + 3 chunks x (2 + 1 page) + the email
    // rule (Leads and Contacts with an email counted, 2; per chunk a
    // Contact Bulk job of 2 + 1 page, and no Lead job in an org without
    // leads) + owner directory 1.
    assert_eq!(review.salesforce_calls, 1 + 3 + 9 + 2 + 3 * 3 + 1);
}

#[tokio::test]
async fn a_review_of_leads_and_contacts_counts_both_objects() {
    let t = TestApp::new();
    contacts(&t, 2);
    t.salesforce.insert("Lead", json!({"Email": "lead@example.com", "LastName": "L", "Company": "Acme"}));
    let review = import_review(&t.app, &request(ImportObjects::LeadsAndContacts)).await.unwrap();
    let objects: Vec<(&str, u64)> = review.objects.iter().map(|o| (o.object.as_str(), o.records)).collect();
    assert_eq!(objects, vec![("Lead", 1), ("Contact", 2)]);
    assert_eq!(review.records, 3);
}

#[tokio::test]
async fn a_filter_is_applied_in_salesforce_so_only_matching_records_count() {
    let t = TestApp::new();
    contacts(&t, 3);
    let filter = ImportFilter { field: "LastName".into(), operator: "=".into(), value: "L1".into() };
    let review = import_review(&t.app, &ImportRequest { filter: Some(filter), ..request(ImportObjects::Contacts) })
        .await
        .unwrap();
    assert_eq!(review.records, 1);
}

#[tokio::test]
async fn a_filter_with_an_unknown_operator_or_a_bad_field_name_is_refused_before_any_call() {
    let t = TestApp::new();
    for (field, operator) in [("LastName", "~"), ("Last Name; DELETE", "=")] {
        let filter = ImportFilter { field: field.into(), operator: operator.into(), value: "x".into() };
        let error = import_review(&t.app, &ImportRequest { filter: Some(filter), ..request(ImportObjects::Contacts) })
            .await
            .unwrap_err();
        assert!(matches!(error, AppError::Invalid(_)), "{error:?}");
    }
    assert_eq!(t.salesforce.calls().invocations("count"), 0);
}

#[tokio::test]
async fn an_account_import_while_company_sync_is_off_is_reviewed_as_blocked_and_refused_at_start() {
    let t = TestApp::new();
    t.salesforce.insert("Account", json!({"Name": "Acme"}));
    let review = import_review(&t.app, &request(ImportObjects::Accounts)).await.unwrap();
    assert!(review.blocked.as_deref().unwrap_or_default().contains("company sync is off"));
    let error = import_start(&t.app, &request(ImportObjects::Accounts)).await.unwrap_err();
    assert!(matches!(error, AppError::Invalid(ref reason) if reason.contains("objects.companies")), "{error:?}");
    assert!(t.app.store().list_import_jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn adding_to_the_segment_without_a_list_segment_is_refused_with_the_reason() {
    let t = TestApp::new();
    let error = import_review(&t.app, &ImportRequest { add_to_segment: true, ..request(ImportObjects::Contacts) })
        .await
        .unwrap_err();
    assert!(matches!(error, AppError::Invalid(ref r) if r.contains("no inclusion segment")), "{error:?}");
}

#[tokio::test]
async fn a_review_says_when_the_salesforce_budget_does_not_allow_the_import() {
    let t = TestApp::builder()
        .config_yaml("version: 1\nsalesforce_api_cap_per_24h: 501\n")
        .settings(AppSettings { live_reserve: 500, ..AppSettings::default() })
        .build();
    contacts(&t, 1);
    let review = import_review(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    assert!(!review.within_budget);
}

#[tokio::test]
async fn starting_an_import_plans_one_chunk_per_object_within_the_chunk_size_and_queues_it() {
    let t = TestApp::new();
    contacts(&t, 3);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.chunks_total, 1);
    let messages = t.import_queue.receive(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(messages.len(), 1);
    let body: ChunkMessage = serde_json::from_str(&messages[0].body).unwrap();
    assert_eq!(body, ChunkMessage { job_id: job.id.clone(), index: 0, waits: 0, relays: 0 });
}

#[tokio::test]
async fn starting_an_import_larger_than_a_chunk_splits_it_into_id_ranges() {
    let t = TestApp::new();
    contacts(&t, 5);
    let job =
        import_start(&t.app, &ImportRequest { chunk_size: Some(2), ..request(ImportObjects::Contacts) }).await.unwrap();
    assert_eq!(job.chunks_total, 3);
    assert_eq!(t.salesforce.calls().invocations("bulk_query"), 1, "one id scan");
    let (_, chunks) = import_status(&t.app, &job.id).await.unwrap();
    let records: Vec<u64> = chunks.iter().map(|c| c.spec["records"].as_u64().unwrap()).collect();
    assert_eq!(records, vec![2, 2, 1]);
}

#[tokio::test]
async fn starting_an_import_of_nothing_completes_the_job_at_once() {
    let t = TestApp::new();
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.chunks_total, 0);
}

#[tokio::test]
async fn starting_an_import_makes_sure_the_hubspot_key_property_exists_when_companies_sync() {
    let t = TestApp::builder().config_yaml("version: 1\nobjects:\n  companies: true\n").build();
    t.salesforce.insert("Account", json!({"Name": "Acme"}));
    import_start(&t.app, &request(ImportObjects::Accounts)).await.unwrap();
    assert_eq!(t.hubspot.property("companies", "salesforce_id"), Some(true));
}

#[tokio::test]
async fn a_chunk_writes_unlinked_contacts_to_hubspot_by_email_and_links_them() {
    let t = TestApp::new();
    let ids = contacts(&t, 3);
    import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    let reports = run_chunks(&t).await;
    assert_eq!(reports.len(), 1);
    assert!(reports[0].ran);
    assert_eq!((reports[0].counts.read, reports[0].counts.queued, reports[0].counts.failed), (3, 3, 0));
    let created = t.hubspot.records("contacts");
    assert_eq!(created.len(), 3);
    for id in &ids {
        let hubspot_id = contact_link(&t, id).await.expect("linked");
        let email = t.salesforce.get("Contact", id).unwrap()["Email"].clone();
        assert_eq!(created[&hubspot_id]["email"], email);
    }
    assert_eq!(t.hubspot.calls().invocations("batch_upsert"), 1, "one upsert per 100 records, no read first");
    assert_eq!(t.hubspot.calls().invocations("batch_read"), 0);
}

#[tokio::test]
async fn a_chunk_queues_already_linked_records_for_the_normal_sync_instead_of_writing_them() {
    let t = TestApp::new();
    let ids = contacts(&t, 2);
    t.put_link(ObjectPair::Contact, "Contact", &ids[0], "900").await;
    import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    run_chunks(&t).await;
    let (intents, _) = drain_sync_queue(&t).await;
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0].record_id().as_str(), ids[0]);
    assert_eq!(intents[0].trigger, Trigger::Import);
    assert_eq!(t.hubspot.records("contacts").len(), 1, "only the unlinked one was written");
}

#[tokio::test]
async fn a_contact_without_an_email_is_recorded_in_sync_health_not_written() {
    let t = TestApp::new();
    let id = t.salesforce.insert("Contact", json!({"LastName": "NoMail"}));
    import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    let report = run_chunks(&t).await.remove(0);
    assert_eq!(report.counts.failed, 1);
    assert!(t.hubspot.records("contacts").is_empty());
    let errors = t.app.store().list_errors(&ErrorFilter::default()).await.unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].salesforce_id.as_deref(), Some(id.as_str()));
    assert!(errors[0].message.contains("no valid email"));
}

#[tokio::test]
async fn of_two_contacts_sharing_an_email_one_is_imported_and_the_other_reported_as_a_duplicate() {
    let t = TestApp::new();
    t.salesforce.insert("Contact", json!({"Email": "same@example.com", "LastName": "First"}));
    t.advance(Duration::from_secs(60));
    t.salesforce.insert("Contact", json!({"Email": "same@example.com", "LastName": "Second"}));
    import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    let report = run_chunks(&t).await.remove(0);
    assert_eq!((report.counts.queued, report.counts.failed), (1, 1));
    assert_eq!(t.hubspot.records("contacts").len(), 1);
    let errors = t.app.store().list_errors(&ErrorFilter::default()).await.unwrap();
    assert!(errors[0].message.contains("shares this email"), "{errors:?}");
}

#[tokio::test]
async fn a_lead_sharing_a_contacts_email_is_not_imported_though_its_chunk_runs_first() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "same@example.com", "LastName": "Lead", "Company": "X"}));
    t.advance(Duration::from_secs(60));
    let contact = t.salesforce.insert("Contact", json!({"Email": "same@example.com", "LastName": "Contact"}));
    import_start(&t.app, &request(ImportObjects::LeadsAndContacts)).await.unwrap();
    let reports = run_chunks(&t).await;
    assert_eq!(reports.len(), 2);
    let created = t.hubspot.records("contacts");
    assert_eq!(created.len(), 1);
    let hubspot_id = contact_link(&t, &contact).await.expect("the Contact is linked");
    assert_eq!(created[&hubspot_id]["lastname"], "Contact");
    assert!(contact_link(&t, &lead).await.is_none());
    let entry = t.app.store().get_error(&format!("contact:salesforce:{lead}")).await.unwrap().unwrap();
    assert_eq!(entry.category, "duplicates");
    assert!(entry.message.contains(&contact), "{}", entry.message);
}

/// A Bulk import in several chunks resolves the email rule over the whole
/// org with one Bulk job per chunk for the Leads, the chunk's own read for
/// the Contacts, and a query only for an email also met outside the chunk:
/// a duplicate in another chunk, and a Lead that is not imported at all,
/// still decide the pick.
#[tokio::test]
async fn bulk_chunks_resolve_the_email_rule_over_the_whole_org_from_their_own_reads() {
    let t = TestApp::builder().settings(AppSettings { bulk_threshold: 2, ..AppSettings::default() }).build();
    let lead = t.salesforce.insert("Lead", json!({"Email": "lead@example.com", "LastName": "Lead", "Company": "X"}));
    let older = t.salesforce.insert("Contact", json!({"Email": "same@example.com", "LastName": "Older"}));
    t.advance(Duration::from_secs(60));
    let mut ids = contacts(&t, 4);
    let newer = t.salesforce.insert("Contact", json!({"Email": "same@example.com", "LastName": "Newer"}));
    t.advance(Duration::from_secs(60));
    // Unconverted, newer than the Lead: a Contact wins over a Lead.
    let contact_of_lead = t.salesforce.insert("Contact", json!({"Email": "lead@example.com", "LastName": "Person"}));
    ids.extend([older.clone(), newer.clone(), contact_of_lead.clone()]);

    let job =
        import_start(&t.app, &ImportRequest { chunk_size: Some(2), ..request(ImportObjects::Contacts) }).await.unwrap();
    assert_eq!(job.chunks_total, 4);
    let scans_before = t.salesforce.calls().invocations("bulk_query");
    let queries_before = t.salesforce.calls().invocations("query");
    let reports = run_chunks(&t).await;
    assert_eq!(reports.len(), 4);
    // Per chunk: its own read (every Contact, the chunk's range kept: the
    // Contact side of the rule) and a Lead job. SOQL: the owner directory
    // (Users, read once), and one query in each of the two chunks holding a
    // contact of the shared email (the other met outside their range);
    // none for the emails met once.
    assert_eq!(t.salesforce.calls().invocations("bulk_query") - scans_before, 4 * 2);
    assert_eq!(t.salesforce.calls().invocations("query") - queries_before, 1 + 2);

    let created = t.hubspot.records("contacts");
    assert_eq!(created.len(), 6, "the seven contacts less the newer of the shared email");
    let same = contact_link(&t, &older).await.expect("the older contact of the shared email is linked");
    assert_eq!(created[&same]["lastname"], "Older");
    assert!(contact_link(&t, &newer).await.is_none());
    let entry = t.app.store().get_error(&format!("contact:salesforce:{newer}")).await.unwrap().unwrap();
    assert_eq!(entry.category, "duplicates");
    assert!(entry.message.contains(&older), "{}", entry.message);
    assert!(contact_link(&t, &contact_of_lead).await.is_some(), "a Contact beats a Lead of its email");
    assert!(contact_link(&t, &lead).await.is_none(), "the Lead was not imported");
}

/// A chunk weighs only the emails another record may share: two contacts of
/// one email inside the same Bulk chunk are still one pick and one
/// duplicate, while the emails met once are written without a pick.
#[tokio::test]
async fn two_contacts_of_one_email_in_the_same_bulk_chunk_are_one_pick_and_one_duplicate() {
    let t = TestApp::builder().settings(AppSettings { bulk_threshold: 2, ..AppSettings::default() }).build();
    let older = t.salesforce.insert("Contact", json!({"Email": "Twice@Example.com", "LastName": "Older"}));
    t.advance(Duration::from_secs(60));
    let mut ids = contacts(&t, 3);
    let newer = t.salesforce.insert("Contact", json!({"Email": "twice@example.com", "LastName": "Newer"}));
    ids.extend([older.clone(), newer.clone()]);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    assert_eq!(job.chunks_total, 1);
    run_chunks(&t).await;
    assert_eq!(t.hubspot.records("contacts").len(), 4, "the five contacts less the newer of the shared email");
    assert!(contact_link(&t, &older).await.is_some(), "the older contact of the email is the pick");
    assert!(contact_link(&t, &newer).await.is_none());
    let entry = t.app.store().get_error(&format!("contact:salesforce:{newer}")).await.unwrap().unwrap();
    assert_eq!(entry.category, "duplicates");
    assert!(entry.message.contains(&older), "{}", entry.message);
    for id in &ids[..3] {
        assert!(contact_link(&t, id).await.is_some(), "a contact of an email met once is written");
    }
}

/// When a chunk meets more of its emails outside its range than a Bulk job
/// over its object would cost in queries, it scans the object instead: the
/// picks are the same, at no more calls than the job.
#[tokio::test]
async fn a_chunk_sharing_many_emails_with_other_chunks_scans_its_object_instead_of_querying() {
    let t = TestApp::builder().settings(AppSettings { bulk_threshold: 2, ..AppSettings::default() }).build();
    const SHARED: usize = 3 * 200 + 1;
    let first = contacts(&t, SHARED);
    t.advance(Duration::from_secs(60));
    let second = contacts(&t, SHARED);
    let job =
        import_start(&t.app, &ImportRequest { chunk_size: Some(SHARED as u64), ..request(ImportObjects::Contacts) })
            .await
            .unwrap();
    assert_eq!(job.chunks_total, 2);
    let scans_before = t.salesforce.calls().invocations("bulk_query");
    let queries_before = t.salesforce.calls().invocations("query");
    run_chunks(&t).await;
    // Per chunk: its own read and a Contact job (no Lead has an email); no
    // query per email (only the owner directory's).
    assert_eq!(t.salesforce.calls().invocations("bulk_query") - scans_before, 2 * 2);
    assert_eq!(t.salesforce.calls().invocations("query") - queries_before, 1);
    assert_eq!(t.hubspot.records("contacts").len(), SHARED, "one contact per email");
    for (older, newer) in first.iter().zip(&second).step_by(100) {
        assert!(contact_link(&t, older).await.is_some(), "the older of each email is the pick");
        let entry = t.app.store().get_error(&format!("contact:salesforce:{newer}")).await.unwrap().unwrap();
        assert_eq!(entry.category, "duplicates");
    }
}

#[tokio::test]
async fn an_imported_contact_takes_over_the_hubspot_contact_of_a_linked_lead_with_its_email() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "same@example.com", "LastName": "Lead", "Company": "X"}));
    let hubspot_id = t.hubspot.insert("contacts", json!({"email": "same@example.com", "lastname": "Lead"}));
    t.put_link(ObjectPair::Contact, "Lead", &lead, &hubspot_id).await;
    let contact = t.salesforce.insert("Contact", json!({"Email": "same@example.com", "LastName": "Contact"}));
    import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    let report = run_chunks(&t).await.remove(0);
    assert_eq!((report.counts.queued, report.counts.failed), (1, 1));
    assert_eq!(contact_link(&t, &contact).await.as_deref(), Some(hubspot_id.as_str()));
    assert!(contact_link(&t, &lead).await.is_none());
    assert_eq!(t.hubspot.records("contacts")[&hubspot_id]["lastname"], "Contact");
    assert!(t.app.store().get_error(&format!("contact:salesforce:{lead}")).await.unwrap().is_some());
}

#[tokio::test]
async fn a_record_hubspot_refuses_is_recorded_as_a_failure_and_the_others_are_written() {
    let t = TestApp::new();
    contacts(&t, 2);
    t.hubspot.refuse_record("contacts", "c1@example.com", "VALIDATION_ERROR", "bad value");
    import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    let report = run_chunks(&t).await.remove(0);
    assert_eq!((report.counts.queued, report.counts.failed), (1, 1));
    let errors = t.app.store().list_errors(&ErrorFilter::default()).await.unwrap();
    assert!(errors[0].message.starts_with("VALIDATION_ERROR"), "{errors:?}");
}

#[tokio::test]
async fn a_chunk_already_done_is_not_run_again_when_its_message_comes_back() {
    let t = TestApp::new();
    contacts(&t, 1);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    run_chunks(&t).await;
    let again = crm_sync_store::ReceivedMessage {
        id: "again".into(),
        receipt_handle: String::new(),
        body: serde_json::to_string(&ChunkMessage { job_id: job.id.clone(), index: 0, waits: 0, relays: 0 }).unwrap(),
        receive_count: 2,
    };
    let report = run_import_chunk(&t.app, &again).await.unwrap();
    assert!(!report.ran);
    assert_eq!(t.hubspot.calls().invocations("batch_upsert"), 1);
}

#[tokio::test]
async fn the_status_of_a_finished_import_shows_every_chunk_done_with_its_counts() {
    let t = TestApp::new();
    contacts(&t, 3);
    let job =
        import_start(&t.app, &ImportRequest { chunk_size: Some(2), ..request(ImportObjects::Contacts) }).await.unwrap();
    run_chunks(&t).await;
    let (job, chunks) = import_status(&t.app, &job.id).await.unwrap();
    assert_eq!(job.chunks_done, 2);
    assert_eq!(job.counts.queued, 3);
    assert!(chunks.iter().all(|c| c.status == crm_sync_store::ChunkStatus::Done));
}

#[tokio::test]
async fn the_status_of_an_unknown_job_is_not_found() {
    let t = TestApp::new();
    assert!(matches!(import_status(&t.app, "nope").await, Err(AppError::NotFound(_))));
}

#[tokio::test]
async fn a_chunk_whose_read_fails_returns_the_error_and_writes_nothing() {
    let t = TestApp::new();
    contacts(&t, 2);
    import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    t.salesforce.calls().fail_next("query", 1, &crm_error(CrmSystem::Salesforce, 503, "SERVER_UNAVAILABLE", true));
    let message = t.import_queue.receive(1, Duration::from_secs(60)).await.unwrap().remove(0);
    let error = run_import_chunk(&t.app, &message).await.unwrap_err();
    assert!(error.retry_after().is_some(), "{error:?}");
    assert!(t.hubspot.records("contacts").is_empty());
}

#[tokio::test]
async fn imported_contacts_are_added_to_the_segment_list_when_asked() {
    let t = TestApp::builder().config_yaml("version: 1\ninclusion_segment:\n  hubspot_list: \"42\"\n").build();
    t.hubspot.set_list("42", &[]);
    contacts(&t, 2);
    let job = import_start(&t.app, &ImportRequest { add_to_segment: true, ..request(ImportObjects::Contacts) })
        .await
        .unwrap();
    assert_eq!(job.chunks_total, 1);
    run_chunks(&t).await;
    let members = t.hubspot.list("42").unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(t.hubspot.calls().invocations("add_list_members"), 1);
}

/// The example settings' shape: a list as the inclusion segment, Title two-way.
const TITLE_TWO_WAY_WITH_A_LIST_SEGMENT: &str = "version: 1
inclusion_segment:
  hubspot_list: \"42\"
mappings:
  contact:
    - hubspot: jobtitle
      salesforce: Title
      rule: two_way
";

/// SPEC sections 1 and 7: a contact imported outside the inclusion segment
/// gets its email only, and its link remembers only that. When it joins the
/// segment and a HubSpot change syncs it, its Salesforce values fill the
/// HubSpot blanks; they are never read as cleared in HubSpot.
#[tokio::test]
async fn an_email_only_import_links_the_email_only_so_joining_the_segment_fills_hubspot_not_blanks_salesforce() {
    let t = TestApp::builder().config_yaml(TITLE_TWO_WAY_WITH_A_LIST_SEGMENT).build();
    t.hubspot.set_list("42", &[]);
    let id = t.salesforce.insert(
        "Contact",
        json!({"Email": "ada@example.com", "FirstName": "Ada", "LastName": "Lovelace", "Title": "Rear Admiral"}),
    );
    import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    run_chunks(&t).await;
    let hubspot_id = contact_link(&t, &id).await.expect("linked");
    let contact = t.hubspot.get("contacts", &hubspot_id).unwrap();
    assert_eq!(contact.get("jobtitle"), None, "outside the segment: the email only");
    let link = t.app.store().get_link_by_salesforce(ObjectPair::Contact, &id).await.unwrap().unwrap();
    assert!(!link.fingerprints.contains_key("jobtitle<->Title"), "{:?}", link.fingerprints);
    assert!(!link.fingerprints.contains_key("lastname<->LastName"), "{:?}", link.fingerprints);

    // The contact joins the segment; a HubSpot change brings it to the sync.
    t.hubspot.set_list("42", &[hubspot_id.as_str()]);
    t.app.forget_segment_members().await;
    t.advance(Duration::from_secs(60));
    let intent =
        SyncIntent::hubspot(ObjectPair::Contact, HubSpotId::parse(&hubspot_id).unwrap(), Trigger::Webhook, t.now());
    let message = ReceivedMessage {
        id: "m1".into(),
        receipt_handle: "h1".into(),
        body: serde_json::to_string(&IntentBatch::new(vec![intent])).unwrap(),
        receive_count: 1,
    };
    sync_batch(&t.app, &[message]).await;

    let lead = t.salesforce.get("Contact", &id).unwrap();
    assert_eq!(lead["Title"], "Rear Admiral", "Salesforce keeps its Title");
    assert_eq!(lead["LastName"], "Lovelace");
    let contact = t.hubspot.get("contacts", &hubspot_id).unwrap();
    assert_eq!(contact["jobtitle"], "Rear Admiral", "HubSpot gets the Title");
    assert_eq!(contact["lastname"], "Lovelace");
}

/// Receives the one chunk message until its `n`-th receive, as a queue does
/// for a worker that stops during each attempt.
async fn receive_until(t: &TestApp, n: u32) -> ReceivedMessage {
    loop {
        let message = t.import_queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
        if message.receive_count >= n {
            return message;
        }
    }
}

#[tokio::test]
async fn a_chunk_on_its_last_receive_is_handed_on_to_a_fresh_copy_before_it_runs() {
    let t = TestApp::new();
    contacts(&t, 2);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    let last = receive_until(&t, crate::retry::MAX_RECEIVES).await;
    // The queue's copy is gone before the attempt: a worker stopping now
    // leaves the fresh copy, not a dead letter.
    let (result, settlement) = crate::retry::run_chunk(&t.app, &last).await;
    assert!(result.unwrap().ran);
    assert_eq!(settlement, crate::retry::Settlement::Gone);
    assert!(t.import_queue.receive(1, Duration::ZERO).await.unwrap().is_empty(), "the copy waits its delay");
    t.advance(crate::retry::MAX_DELAY);
    let fresh = t.import_queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    let body: ChunkMessage = serde_json::from_str(&fresh.body).unwrap();
    assert_eq!((body.job_id.as_str(), body.relays), (job.id.as_str(), 1));
    let (again, settlement) = crate::retry::run_chunk(&t.app, &fresh).await;
    assert!(!again.unwrap().ran, "the chunk is done: nothing to run again");
    assert_eq!(settlement, crate::retry::Settlement::Delete);
    assert!(t.import_queue.list_dead_letters(10).await.unwrap().is_empty());
    assert_eq!(t.hubspot.calls().invocations("batch_upsert"), 1);
}

/// Runs a chunk message as a worker that stops (`kill -9`, a Lambda
/// timeout) at its call to write the chunk to HubSpot.
async fn stop_at_hubspot_write(t: &TestApp, message: &ReceivedMessage) {
    t.hubspot.calls().stop_worker_at("batch_upsert");
    let (app, message) = (t.app.clone(), message.clone());
    let attempt = tokio::spawn(async move { crate::retry::run_chunk(&app, &message).await });
    assert!(attempt.await.unwrap_err().is_panic(), "the worker did not stop");
}

#[tokio::test]
async fn a_chunk_whose_worker_stops_on_its_last_receive_is_taken_over_by_the_fresh_copy() {
    let t = TestApp::new();
    let ids = contacts(&t, 2);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    let last = receive_until(&t, crate::retry::MAX_RECEIVES).await;
    stop_at_hubspot_write(&t, &last).await;
    // The received copy is gone (no dead letter at the next receive); the
    // fresh one comes after the lease and finishes the chunk.
    t.advance(crate::retry::MAX_DELAY + Duration::from_secs(1));
    let fresh = t.import_queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    let (result, settlement) = crate::retry::run_chunk(&t.app, &fresh).await;
    assert!(result.unwrap().ran);
    assert_eq!(settlement, crate::retry::Settlement::Delete);
    t.import_queue.delete(&fresh.receipt_handle).await.unwrap();
    assert!(t.import_queue.list_dead_letters(10).await.unwrap().is_empty());
    assert_eq!(import_status(&t.app, &job.id).await.unwrap().0.status, JobStatus::Completed);
    for id in &ids {
        assert!(contact_link(&t, id).await.is_some(), "{id} not linked");
    }
    assert_eq!(t.hubspot.records("contacts").len(), 2);
}

/// Replaces a job's planned chunk message by one relayed as often as
/// allowed.
async fn relayed_as_often_as_allowed(t: &TestApp, job_id: &str) {
    let planned = t.import_queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
    t.import_queue.delete(&planned.receipt_handle).await.unwrap();
    let body = ChunkMessage { job_id: job_id.to_owned(), index: 0, waits: 0, relays: crate::retry::MAX_CHUNK_RELAYS };
    t.import_queue
        .send_batch(&[crm_sync_store::OutgoingMessage { body: serde_json::to_string(&body).unwrap(), delay: None }])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_chunk_relayed_as_often_as_allowed_announces_its_last_attempt_in_sync_health() {
    let t = TestApp::new();
    let ids = contacts(&t, 1);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    relayed_as_often_as_allowed(&t, &job.id).await;
    let last = receive_until(&t, crate::retry::MAX_RECEIVES).await;
    stop_at_hubspot_write(&t, &last).await;
    // Not handed on again: the queue dead-letters it, and sync health names
    // the job to resume.
    t.advance(crate::retry::MAX_DELAY + Duration::from_secs(1));
    assert!(t.import_queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(t.import_queue.list_dead_letters(10).await.unwrap().len(), 1);
    let entry = t.app.store().get_error(&crate::retry::dead_letter_key(&last.id)).await.unwrap().expect("announced");
    assert!(entry.message.contains(&format!("crm-sync import resume {}", job.id)), "{}", entry.message);
    crate::import_resume(&t.app, &job.id).await.unwrap();
    // The resume supersedes the dead letter: it leaves the dead letters
    // and its entry, which asked for the resume, is resolved.
    assert!(t.import_queue.list_dead_letters(10).await.unwrap().is_empty());
    assert!(t.app.store().get_error(&crate::retry::dead_letter_key(&last.id)).await.unwrap().is_none());
    run_chunks(&t).await;
    assert_eq!(import_status(&t.app, &job.id).await.unwrap().0.status, JobStatus::Completed);
    assert!(contact_link(&t, &ids[0]).await.is_some());
    assert!(t.import_queue.list_dead_letters(10).await.unwrap().is_empty());
    assert_eq!(t.import_queue.depth().await.unwrap().visible, 0);
}

#[tokio::test]
async fn an_announced_last_attempt_that_ends_the_chunk_resolves_its_entry() {
    let t = TestApp::new();
    contacts(&t, 1);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    relayed_as_often_as_allowed(&t, &job.id).await;
    let last = receive_until(&t, crate::retry::MAX_RECEIVES).await;
    let (result, settlement) = crate::retry::run_chunk(&t.app, &last).await;
    assert!(result.unwrap().ran);
    assert_eq!(settlement, crate::retry::Settlement::Delete);
    assert!(t.app.store().get_error(&crate::retry::dead_letter_key(&last.id)).await.unwrap().is_none());
}

/// Receives the chunk message until its last receive, and the worker
/// stops there, before anything ran: the queue moves it to the dead letters
/// at its next receive.
async fn stopped_at_the_last_receive(t: &TestApp) -> ReceivedMessage {
    let last = receive_until(t, crate::retry::MAX_RECEIVES).await;
    assert!(t.import_queue.receive(1, Duration::ZERO).await.unwrap().is_empty(), "the received copy is dead");
    assert_eq!(t.import_queue.list_dead_letters(10).await.unwrap().len(), 1);
    last
}

#[tokio::test]
async fn a_chunk_whose_worker_stopped_before_handing_it_on_is_taken_back_by_the_sweep_and_finishes() {
    let t = TestApp::new();
    let ids = contacts(&t, 2);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    // No fresh copy was queued: nothing would ever run the chunk again.
    let last = stopped_at_the_last_receive(&t).await;
    let report = crate::usecases::sweep::sweep_once(&t.app).await.unwrap();
    assert_eq!((report.dead_letters_reported, report.chunks_taken_back), (0, 1));
    assert!(t.import_queue.list_dead_letters(10).await.unwrap().is_empty());
    assert!(t.app.store().get_error(&crate::retry::dead_letter_key(&last.id)).await.unwrap().is_none());
    assert_eq!(run_received_chunks(&t).await, vec![true]);
    assert_eq!(import_status(&t.app, &job.id).await.unwrap().0.status, JobStatus::Completed);
    for id in &ids {
        assert!(contact_link(&t, id).await.is_some());
    }
}

#[tokio::test]
async fn a_chunk_dead_letter_is_reported_not_taken_back_once_it_was_handed_on_as_often_as_allowed() {
    let t = TestApp::new();
    contacts(&t, 1);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    relayed_as_often_as_allowed(&t, &job.id).await;
    let last = stopped_at_the_last_receive(&t).await;
    let report = crate::usecases::sweep::sweep_once(&t.app).await.unwrap();
    assert_eq!((report.dead_letters_reported, report.chunks_taken_back), (1, 0));
    let entry = t.app.store().get_error(&crate::retry::dead_letter_key(&last.id)).await.unwrap().expect("reported");
    assert!(entry.message.contains(&format!("crm-sync import resume {}", job.id)), "{}", entry.message);
    assert_eq!(t.import_queue.list_dead_letters(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_dead_letter_left_while_a_chunk_was_handed_on_is_taken_back_and_deleted_once_the_fresh_copy_finished() {
    let t = TestApp::new();
    let ids = contacts(&t, 1);
    let job = import_start(&t.app, &request(ImportObjects::Contacts)).await.unwrap();
    let last = receive_until(&t, crate::retry::MAX_RECEIVES).await;
    // The worker hands the chunk on to a fresh copy, as `run_chunk` does at
    // the last receive, and stops before it deletes the received copy.
    let mut handed_on: ChunkMessage = serde_json::from_str(&last.body).unwrap();
    handed_on.relays += 1;
    let fresh = crm_sync_store::OutgoingMessage {
        body: serde_json::to_string(&handed_on).unwrap(),
        delay: Some(crate::retry::MAX_DELAY),
    };
    t.import_queue.send_batch(&[fresh]).await.unwrap();
    assert!(t.import_queue.receive(1, Duration::ZERO).await.unwrap().is_empty(), "the received copy is dead");
    t.advance(crate::retry::MAX_DELAY);
    assert_eq!(run_received_chunks(&t).await, vec![true], "the fresh copy finishes the chunk");
    assert_eq!(import_status(&t.app, &job.id).await.unwrap().0.status, JobStatus::Completed);
    assert!(contact_link(&t, &ids[0]).await.is_some());

    let report = crate::usecases::sweep::sweep_once(&t.app).await.unwrap();
    assert_eq!((report.dead_letters_reported, report.chunks_taken_back), (0, 1));
    assert!(t.import_queue.list_dead_letters(10).await.unwrap().is_empty());
    assert!(t.app.store().get_error(&crate::retry::dead_letter_key(&last.id)).await.unwrap().is_none());
    assert_eq!(run_received_chunks(&t).await, vec![false], "a done chunk is not run again");
    let depth = t.import_queue.depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight + depth.dead, 0);
}
