//! Creates the tables and queues the adapters expect, with the layout of
//! `docs/storage.md`. Used by tests against the emulators and by operators
//! outside SAM; in AWS the SAM template creates the same resources.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use crm_sync_store::StoreError;

use crate::config::QueueUrls;
use crate::dynamo::{GSI1, TableNames};

/// Backend names in [`StoreError::Backend`], as the adapters use them.
const DDB: &str = "dynamodb";
const SQS: &str = "sqs";

/// The TTL attribute (epoch seconds) of both tables.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Maps a DynamoDB SDK error of `operation` to a backend error.
fn ddb<E: std::error::Error + Send + Sync + 'static>(operation: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::backend(DDB, operation, e)
}

/// Maps an SQS SDK error of `operation` to a backend error.
fn sqs<E: std::error::Error + Send + Sync + 'static>(operation: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::backend(SQS, operation, e)
}

/// A string key attribute (every key of both tables is a string).
fn attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(ddb("define attribute"))
}

/// One element of a key schema.
fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(ddb("define key"))
}

/// Turns on TTL deletion by [`TTL_ATTRIBUTE`]. Deletion is lazy (up to days
/// late); the adapters never depend on it, they compare expiry themselves.
async fn enable_ttl(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), StoreError> {
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(ddb("define TTL"))?,
        )
        .send()
        .await
        .map_err(ddb("enable TTL"))?;
    Ok(())
}

/// Creates the state table (pk, sk; GSI `gsi1` on gsi1pk, gsi1sk) and the
/// seen-events table (pk), on demand, with TTL on `expires_at`.
///
/// On-demand billing because the load is bursty (imports, sweeps every 15
/// minutes) and mostly idle between. The index is sparse and projects
/// everything: only jobs and sync-health errors carry its keys, and their
/// listings need every attribute. Seen events get their own table so their
/// high write rate and short TTL never mix with the state.
pub async fn create_tables(client: &aws_sdk_dynamodb::Client, names: &TableNames) -> Result<(), StoreError> {
    client
        .create_table()
        .table_name(&names.state)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("gsi1pk")?)
        .attribute_definitions(attr("gsi1sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(GSI1)
                .key_schema(key("gsi1pk", KeyType::Hash)?)
                .key_schema(key("gsi1sk", KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(ddb("define index"))?,
        )
        .send()
        .await
        .map_err(ddb("create state table"))?;
    client
        .create_table()
        .table_name(&names.seen_events)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .send()
        .await
        .map_err(ddb("create seen-events table"))?;
    enable_ttl(client, &names.state).await?;
    enable_ttl(client, &names.seen_events).await?;
    Ok(())
}

/// Creates `<name>-dlq` and `<name>` with a redrive policy sending messages
/// received more than `max_receive_count` times to the former. Both keep
/// messages 14 days (SQS's maximum), so a dead letter waits for an operator
/// through a long weekend and more.
pub async fn create_queue_pair(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
    visibility_timeout_secs: u32,
) -> Result<QueueUrls, StoreError> {
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(sqs("create dead-letter queue"))?;
    let dead_letter_url = dlq.queue_url().unwrap_or_default().to_owned();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs("read dead-letter queue ARN"))?;
    let arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    let redrive = serde_json::json!({
        "deadLetterTargetArn": arn,
        "maxReceiveCount": max_receive_count.to_string(),
    });
    let main = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_timeout_secs.to_string())
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(sqs("create queue"))?;
    Ok(QueueUrls { url: main.queue_url().unwrap_or_default().to_owned(), dead_letter_url })
}
