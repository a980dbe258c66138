//! The sample SQS batch parses as the event Lambda delivers to the
//! sync-worker, and every body is a sync-queue message the use case reads.

#![allow(clippy::unwrap_used)]

use aws_lambda_events::sqs::SqsEvent;
use crm_sync_app::messages::parse_intents;
use crm_sync_lambda::sqs::read_batch;

#[test]
fn the_sqs_sample_holds_three_intents_in_two_readable_messages() {
    let path = format!("{}/../../events/sync-worker-sqs.json", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(path).unwrap();
    let event: SqsEvent = serde_json::from_str(&json).unwrap();
    let batch = read_batch(&event);
    assert!(batch.unreadable.is_empty());
    assert_eq!(batch.messages.len(), 2);
    assert_eq!(batch.messages[1].receive_count, 3);
    let intents: usize = batch.messages.iter().map(|m| parse_intents(&m.body).unwrap().len()).sum();
    assert_eq!(intents, 3);
}

/// The deployed sync queue dead-letters a message after as many receives
/// as the settlement gives it before recording that it gave up.
#[test]
fn the_templates_sync_queue_receive_limit_is_the_one_the_settlement_gives_up_at() {
    let path = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(path).unwrap();
    let queue = template.split("\n  SyncQueue:\n").nth(1).unwrap();
    let limit: u32 = queue
        .lines()
        .find_map(|line| line.trim().strip_prefix("maxReceiveCount:"))
        .map(|n| n.trim().parse().unwrap())
        .unwrap();
    assert_eq!(limit, crm_sync_app::retry::MAX_RECEIVES);
}
