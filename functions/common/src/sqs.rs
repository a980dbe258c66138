//! SQS event records <-> the queue port's messages, and the partial batch
//! response Lambda expects with `ReportBatchItemFailures`.
//!
//! Lambda deletes every message of a batch that is not listed as failed, so a
//! record this module cannot read is reported as failed (SQS then redelivers
//! it and, after `maxReceiveCount`, moves it to the dead-letter queue); it is
//! never silently acknowledged.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use crm_sync_app::store::ReceivedMessage;
use thiserror::Error;

/// A record of an SQS event that is not a usable queue message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    /// No message id: it cannot even be reported as failed.
    #[error("SQS record without a message id")]
    NoMessageId,
    /// No receipt handle: it could not be deleted or delayed.
    #[error("SQS record {0} has no receipt handle")]
    NoReceiptHandle(String),
}

/// Converts one SQS record into the queue port's message. The receive count
/// comes from the `ApproximateReceiveCount` attribute (1 when absent).
pub fn received_message(record: &SqsMessage) -> Result<ReceivedMessage, RecordError> {
    let id = record.message_id.clone().ok_or(RecordError::NoMessageId)?;
    let receipt_handle = record.receipt_handle.clone().ok_or_else(|| RecordError::NoReceiptHandle(id.clone()))?;
    let receive_count = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
    Ok(ReceivedMessage { id, receipt_handle, body: record.body.clone().unwrap_or_default(), receive_count })
}

/// The messages of an event, and the ids of records that could not be read
/// (to report as failed).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReadBatch {
    /// The usable messages, in event order.
    pub messages: Vec<ReceivedMessage>,
    /// Ids of records that are not usable messages.
    pub unreadable: Vec<String>,
}

/// Reads every record of an SQS event.
pub fn read_batch(event: &SqsEvent) -> ReadBatch {
    let mut batch = ReadBatch::default();
    for record in &event.records {
        match received_message(record) {
            Ok(message) => batch.messages.push(message),
            Err(RecordError::NoReceiptHandle(id)) => {
                tracing::warn!(message_id = %id, "SqsRecordRejected");
                batch.unreadable.push(id);
            }
            Err(RecordError::NoMessageId) => tracing::warn!("SqsRecordWithoutIdIgnored"),
        }
    }
    batch
}

/// The partial batch response listing `failed` message ids.
// `..Default::default()`: the event types gain a catch-all field when
// `aws_lambda_events`' `catch-all-fields` feature is on somewhere in the build.
#[allow(clippy::needless_update)]
pub fn batch_response<I, S>(failed: I) -> SqsBatchResponse
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    SqsBatchResponse {
        batch_item_failures: failed
            .into_iter()
            .map(|id| BatchItemFailure { item_identifier: id.into(), ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

/// Builds the SQS event Lambda would deliver for messages received from a
/// queue: tests and local tooling use it to invoke the handlers in-process.
// `..Default::default()`: the event types gain a catch-all field when
// `aws_lambda_events`' `catch-all-fields` feature is on somewhere in the build.
#[allow(clippy::needless_update)]
pub fn event_from_messages(messages: &[ReceivedMessage], queue_arn: &str) -> SqsEvent {
    SqsEvent {
        records: messages
            .iter()
            .map(|m| SqsMessage {
                message_id: Some(m.id.clone()),
                receipt_handle: Some(m.receipt_handle.clone()),
                body: Some(m.body.clone()),
                attributes: [("ApproximateReceiveCount".to_owned(), m.receive_count.to_string())].into_iter().collect(),
                event_source: Some("aws:sqs".into()),
                event_source_arn: Some(queue_arn.to_owned()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(id: &str, count: u32) -> ReceivedMessage {
        ReceivedMessage {
            id: id.into(),
            receipt_handle: format!("rh-{id}"),
            body: format!("{{\"n\":\"{id}\"}}"),
            receive_count: count,
        }
    }

    #[test]
    fn messages_survive_the_trip_through_an_sqs_event() {
        let sent = vec![message("a", 1), message("b", 3)];
        let event = event_from_messages(&sent, "arn:aws:sqs:us-east-1:1:sync");
        let json = serde_json::to_string(&event).unwrap();
        let parsed: SqsEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(read_batch(&parsed), ReadBatch { messages: sent, unreadable: vec![] });
    }

    #[test]
    fn a_record_without_receipt_handle_is_reported_failed_not_dropped() {
        let mut event = event_from_messages(&[message("a", 1)], "arn");
        event.records[0].receipt_handle = None;
        let batch = read_batch(&event);
        assert!(batch.messages.is_empty());
        assert_eq!(batch.unreadable, vec!["a".to_owned()]);
    }

    #[test]
    fn the_batch_response_lists_failed_ids_in_lambdas_wire_format() {
        let response = batch_response(["m-2", "m-5"]);
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"batchItemFailures": [
                {"itemIdentifier": "m-2"}, {"itemIdentifier": "m-5"}
            ]})
        );
    }

    #[test]
    fn a_missing_receive_count_counts_as_the_first_receive() {
        let mut event = event_from_messages(&[message("a", 4)], "arn");
        event.records[0].attributes.clear();
        assert_eq!(read_batch(&event).messages[0].receive_count, 1);
    }
}
