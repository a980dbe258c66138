//! The sample scheduled event parses as the EventBridge event the sweep takes.

#![allow(clippy::unwrap_used)]

use aws_lambda_events::eventbridge::EventBridgeEvent;

#[test]
fn the_schedule_sample_is_an_eventbridge_scheduled_event() {
    let path = format!("{}/../../events/sweep-schedule.json", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(path).unwrap();
    let event: EventBridgeEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(event.detail_type, "Scheduled Event");
    assert_eq!(event.source, "aws.events");
    assert!(event.time.is_some());
}
