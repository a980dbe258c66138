//! Messages delivered by Lambda's SQS event source, as the queue port's
//! [`ReceivedMessage`], so a sync worker treats polled and pushed messages
//! alike (and can back off with `change_visibility` on the receipt handle).

use aws_lambda_events::event::sqs::SqsMessage;
use crm_sync_store::ReceivedMessage;

/// An SQS event record lacked a field every real record carries.
#[derive(Debug, thiserror::Error)]
#[error("SQS event record without {field}")]
pub struct IncompleteRecord {
    /// The missing field, by its name in the event JSON.
    pub field: &'static str,
}

/// Converts one record of an `SqsEvent`. The receive count comes from the
/// record's `ApproximateReceiveCount` attribute (1 if absent), as a polled
/// message's does, so backoff and dead-lettering decisions are the same.
pub fn received_message(record: &SqsMessage) -> Result<ReceivedMessage, IncompleteRecord> {
    Ok(ReceivedMessage {
        id: record.message_id.clone().ok_or(IncompleteRecord { field: "messageId" })?,
        receipt_handle: record.receipt_handle.clone().ok_or(IncompleteRecord { field: "receiptHandle" })?,
        body: record.body.clone().unwrap_or_default(),
        receive_count: record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lambda_sqs_record_becomes_a_received_message_with_its_receive_count() {
        let record: SqsMessage = serde_json::from_value(serde_json::json!({
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
            "body": "{\"object\":\"contact\"}",
            "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1545082649183"},
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:sync",
            "awsRegion": "us-east-1"
        }))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
        let m = received_message(&record).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.id, "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert_eq!(m.receipt_handle, "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a");
        assert_eq!(m.body, "{\"object\":\"contact\"}");
        assert_eq!(m.receive_count, 3);
    }

    #[test]
    fn a_record_without_a_receipt_handle_is_refused() {
        let record: SqsMessage = serde_json::from_value(serde_json::json!({"messageId": "m1", "body": "{}"}))
            .unwrap_or_else(|e| panic!("fixture: {e}"));
        let err = received_message(&record).err().map(|e| e.field);
        assert_eq!(err, Some("receiptHandle"));
    }
}
