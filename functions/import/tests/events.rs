//! The import function's sample events parse into its event type: the
//! on-demand requests as requests, the chunk batch as SQS chunk work.

#![allow(clippy::unwrap_used)]

use crm_sync_app::ImportObjects;
use crm_sync_import::{ImportEvent, ImportInvocation};
use crm_sync_lambda::sqs::read_batch;

fn event(file: &str) -> ImportEvent {
    let path = format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_review_sample_is_a_review_of_leads_and_contacts_with_a_filter() {
    match event("import-review.json") {
        ImportEvent::Request(ImportInvocation::Review(request)) => {
            assert_eq!(request.objects, ImportObjects::LeadsAndContacts);
            assert_eq!(request.filter.map(|f| f.field), Some("LeadSource".to_owned()));
        }
        other => panic!("not a review: {other:?}"),
    }
}

#[test]
fn the_start_sample_is_a_start_request() {
    assert!(matches!(event("import-start.json"), ImportEvent::Request(ImportInvocation::Start(_))));
}

#[test]
fn the_chunk_sample_is_sqs_chunk_work_with_a_chunk_message_body() {
    let ImportEvent::Chunks(sqs) = event("import-chunks-sqs.json") else {
        panic!("not chunk work");
    };
    let batch = read_batch(&sqs);
    assert_eq!(batch.messages.len(), 1);
    let body: crm_sync_app::usecases::import::ChunkMessage = serde_json::from_str(&batch.messages[0].body).unwrap();
    assert_eq!(body.index, 0);
}

#[test]
fn a_status_request_names_its_job() {
    let parsed: ImportEvent = serde_json::from_str(r#"{"action":"status","job_id":"imp-1"}"#).unwrap();
    assert!(matches!(
        parsed,
        ImportEvent::Request(ImportInvocation::Status { job_id }) if job_id == "imp-1"
    ));
}

#[test]
fn a_resume_request_names_its_job() {
    let parsed: ImportEvent = serde_json::from_str(r#"{"action":"resume","job_id":"imp-1"}"#).unwrap();
    assert!(matches!(
        parsed,
        ImportEvent::Request(ImportInvocation::Resume { job_id }) if job_id == "imp-1"
    ));
}

#[test]
fn an_unknown_action_is_rejected() {
    assert!(serde_json::from_str::<ImportEvent>(r#"{"action":"delete_everything"}"#).is_err());
}
