//! The sync-queue message codec and intent batching.

use super::drain_sync_queue;
use crate::AppSettings;
use crate::messages::{IntentBatch, parse_intents, queue_intents};
use crate::testing::{TestApp, test_epoch};
use crm_sync_domain::intent::{SyncIntent, Trigger};
use crm_sync_domain::{HubSpotId, ObjectPair};

fn intents(n: u64) -> Vec<SyncIntent> {
    (1..=n)
        .map(|i| {
            SyncIntent::hubspot(
                ObjectPair::Contact,
                HubSpotId::parse(&i.to_string()).unwrap(),
                Trigger::Sweep,
                test_epoch(),
            )
        })
        .collect()
}

#[test]
fn an_intent_batch_round_trips_through_a_message_body() {
    let batch = IntentBatch::new(intents(3));
    let body = serde_json::to_string(&batch).unwrap();
    assert_eq!(parse_intents(&body).unwrap(), batch.intents);
}

#[test]
fn a_body_holding_a_single_intent_object_is_read_as_a_batch_of_one() {
    let one = intents(1).remove(0);
    assert_eq!(parse_intents(&one.to_json().unwrap()).unwrap(), vec![one]);
}

#[test]
fn a_body_that_is_neither_a_batch_nor_an_intent_is_an_error() {
    assert!(parse_intents(r#"{"hello": "world"}"#).is_err());
    assert!(parse_intents("not json").is_err());
}

#[tokio::test]
async fn intents_are_queued_in_messages_of_the_configured_size() {
    let t = TestApp::builder().settings(AppSettings { intents_per_message: 2, ..AppSettings::default() }).build();
    assert_eq!(queue_intents(&t.app, intents(5)).await.unwrap(), 3);
    let (read, messages) = drain_sync_queue(&t).await;
    assert_eq!(messages, 3);
    let mut ids: Vec<String> = read.iter().map(|i| i.record_id().as_str().to_owned()).collect();
    ids.sort();
    assert_eq!(ids, vec!["1", "2", "3", "4", "5"]);
}

#[tokio::test]
async fn queueing_no_intents_sends_no_message() {
    let t = TestApp::new();
    assert_eq!(queue_intents(&t.app, Vec::new()).await.unwrap(), 0);
    assert_eq!(drain_sync_queue(&t).await.1, 0);
}
