//! Attribute helpers shared by the capabilities: building and reading item
//! attributes, the common key shape, and classifying SDK errors.
//!
//! Reading is strict where a missing attribute would be a bug (`get_s` fails
//! with [`StoreError::Corrupt`]) and lenient for counters (`get_n` reads a
//! missing number as 0, as `ADD` would start from).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use crm_sync_store::{ObjectPair, StoreError};

/// Backend name in [`StoreError::Backend`].
pub(super) const BACKEND: &str = "dynamodb";

/// One DynamoDB item (or key), as the SDK takes and returns it.
pub(super) type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute (DynamoDB numbers travel as decimal text).
pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The stored form of an instant: Unix milliseconds, a number attribute.
pub(super) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// An instant read back from [`millis`]; out of range reads as the minimum.
pub(super) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Zero-padded so that string order is numeric order.
pub(super) fn padded(v: i64) -> String {
    format!("{:020}", v.max(0))
}

/// The primary key of a state-table item. Every item kind has its own `pk`
/// prefix (`LINK#`, `CLAIM#`, `CURSOR#`, `IMPORT#`, `ERROR#`, `USAGE#`), so
/// kinds never collide and a key says what it holds.
pub(super) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// A required string attribute; missing or mistyped is corrupt.
pub(super) fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt { what: format!("attribute {name} missing or not a string"), source: None }),
    }
}

/// An optional string attribute (absent when the value is `None`).
pub(super) fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

/// A number attribute; missing reads as 0, as `ADD` starts from 0.
pub(super) fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|e| StoreError::corrupt(format!("attribute {name}"), e)),
        None => Ok(0),
        _ => Err(StoreError::Corrupt { what: format!("attribute {name} is not a number"), source: None }),
    }
}

/// A count attribute (negative, i.e. corrupt, reads as 0).
pub(super) fn get_u64(item: &Item, name: &str) -> Result<u64, StoreError> {
    Ok(u64::try_from(get_n(item, name)?).unwrap_or(0))
}

/// A small count or index attribute (out of range reads as 0).
pub(super) fn get_u32(item: &Item, name: &str) -> Result<u32, StoreError> {
    Ok(u32::try_from(get_n(item, name)?).unwrap_or(0))
}

/// A JSON document stored as text (specs of jobs and chunks).
pub(super) fn get_json(item: &Item, name: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(&get_s(item, name)?).map_err(|e| StoreError::corrupt(format!("attribute {name}"), e))
}

/// The `pair` attribute as the domain's [`ObjectPair`].
pub(super) fn pair_of(item: &Item) -> Result<ObjectPair, StoreError> {
    let pair = get_s(item, "pair")?;
    ObjectPair::parse(&pair).ok_or_else(|| StoreError::Corrupt { what: format!("unknown pair {pair}"), source: None })
}

/// Maps an SDK error of `operation` to [`StoreError::Backend`], keeping the
/// SDK error (with its service code and request id) as the source.
pub(super) fn sdk_err<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::backend(BACKEND, operation, e)
}

/// True when a single-item write (`PutItem`, `UpdateItem`, `DeleteItem`)
/// failed its condition: the expected outcome of a lost race, not an error.
pub(super) fn is_condition_failed<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// A transaction cancelled because one of its conditions failed. Other
/// cancellation reasons (a transaction conflict with a concurrent one,
/// throttling) stay backend errors: they are worth retrying as they are.
pub(super) fn transaction_condition_failed<R>(
    e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>,
) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
            t.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
        }
        _ => false,
    }
}

/// Maps a request-builder error (a required field missing: a bug here) to a
/// backend error rather than a panic.
pub(super) fn build_err(operation: &'static str) -> impl FnOnce(aws_sdk_dynamodb::error::BuildError) -> StoreError {
    move |e| StoreError::backend(BACKEND, operation, e)
}

/// DynamoDB kept answering part of a batch read with `UnprocessedKeys`
/// (throttling) through every retry.
#[derive(Debug, thiserror::Error)]
#[error("{left} keys of a batch read still unprocessed after {retries} retries")]
pub struct UnprocessedKeys {
    pub left: usize,
    pub retries: u32,
}
