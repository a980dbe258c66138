//! Sync-health errors on DynamoDB: one item `ERROR#<record key>` (sort key
//! `ERROR`), also in the sparse index `gsi1` (`SYNC_ERRORS`, by last-seen
//! time) for listing newest first.
//!
//! Recording is one `UpdateItem`: `ADD attempts 1`,
//! `first_seen = if_not_exists(first_seen, :now)`, and the ids only when the
//! report has them, so a later report never erases an id an earlier one knew.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use crm_sync_store::*;

use super::DynamoStore;
use super::GSI1;
use super::item::*;

/// Partition of the GSI holding every sync-health error by last-seen time.
const ERRORS_PARTITION: &str = "SYNC_ERRORS";

/// A sync-health entry read back from its item.
fn error_from_item(item: &Item) -> Result<SyncHealthError, StoreError> {
    Ok(SyncHealthError {
        key: get_s(item, "error_key")?,
        category: get_s(item, "category")?,
        pair: pair_of(item)?,
        salesforce_id: get_opt_s(item, "salesforce_id"),
        hubspot_id: get_opt_s(item, "hubspot_id"),
        message: get_s(item, "message")?,
        attempts: get_u32(item, "attempts")?,
        first_seen: from_millis(get_n(item, "first_seen")?),
        last_seen: from_millis(get_n(item, "last_seen")?),
        retryable: matches!(item.get("retryable"), Some(AttributeValue::Bool(true))),
    })
}

#[async_trait]
impl SyncHealthStore for DynamoStore {
    /// One `UpdateItem` built from the report: the `SET` list names the ids
    /// only when the report has them, and `gsi1sk` moves to the new last-seen
    /// time so the index lists the entry as the most recent.
    async fn record_error(&self, report: &ErrorReport) -> StoreResult<SyncHealthError> {
        let now = millis(self.clock.now());
        let mut set = vec![
            "category = :category",
            "pair = :pair",
            "error_key = :key",
            "message = :message",
            "last_seen = :now",
            "first_seen = if_not_exists(first_seen, :now)",
            "retryable = :retryable",
            "gsi1pk = :gsi1pk",
            "gsi1sk = :gsi1sk",
        ];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(format!("ERROR#{}", report.key), "ERROR")))
            .expression_attribute_values(":category", s(&report.category))
            .expression_attribute_values(":pair", s(report.pair.as_str()))
            .expression_attribute_values(":key", s(&report.key))
            .expression_attribute_values(":message", s(&report.message))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":retryable", AttributeValue::Bool(report.retryable))
            .expression_attribute_values(":gsi1pk", s(ERRORS_PARTITION))
            .expression_attribute_values(":gsi1sk", s(format!("{}#{}", padded(now), report.key)))
            .expression_attribute_values(":one", n(1));
        if let Some(id) = &report.salesforce_id {
            set.push("salesforce_id = :sf");
            request = request.expression_attribute_values(":sf", s(id));
        }
        if let Some(id) = &report.hubspot_id {
            set.push("hubspot_id = :hs");
            request = request.expression_attribute_values(":hs", s(id));
        }
        let out = request
            .update_expression(format!("SET {} ADD attempts :one", set.join(", ")))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_err("record error"))?;
        match out.attributes {
            Some(item) => error_from_item(&item),
            None => Err(StoreError::not_found(format!("error {}", report.key))),
        }
    }

    /// Queries `gsi1` newest first, filtering by category on the server;
    /// stops reading pages once `limit` entries are in.
    async fn list_errors(&self, filter: &ErrorFilter) -> StoreResult<Vec<SyncHealthError>> {
        let mut request = self
            .client
            .query()
            .table_name(&self.tables.state)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(ERRORS_PARTITION))
            .scan_index_forward(false);
        if let Some(category) = &filter.category {
            request = request.filter_expression("category = :c").expression_attribute_values(":c", s(category));
        }
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut items = request.into_paginator().items().send();
        let mut errors = Vec::new();
        while errors.len() < limit {
            match items.next().await {
                Some(item) => errors.push(error_from_item(&item.map_err(sdk_err("list errors"))?)?),
                None => break,
            }
        }
        Ok(errors)
    }

    async fn get_error(&self, error_key: &str) -> StoreResult<Option<SyncHealthError>> {
        self.get_item("get error", key(format!("ERROR#{error_key}"), "ERROR"))
            .await?
            .as_ref()
            .map(error_from_item)
            .transpose()
    }

    /// `DeleteItem` returning the old item: whether there was one decides the
    /// answer, in the same call.
    async fn resolve_error(&self, error_key: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(format!("ERROR#{error_key}"), "ERROR")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err("resolve error"))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
