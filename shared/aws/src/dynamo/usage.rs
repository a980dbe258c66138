//! API usage on DynamoDB: one partition per system, `USAGE#<system>`, one
//! item per five-minute bucket (sort key: the bucket's start in epoch
//! seconds, 20 digits so text order is time order).
//!
//! Adding is an atomic `ADD calls :n`, so concurrent workers never lose a
//! count; each bucket carries a TTL two days out. The rolling day is one
//! `Query` of at most 289 buckets.

use async_trait::async_trait;
use crm_sync_store::clock;
use crm_sync_store::*;

use super::DynamoStore;
use super::item::*;

#[async_trait]
impl ApiUsageStore for DynamoStore {
    /// `ADD calls :n` on the current bucket (created on first use) and a TTL
    /// two days out: atomic under any number of concurrent workers.
    async fn add_api_calls(&self, system: System, calls: u64) -> StoreResult<()> {
        let bucket = clock::usage_bucket(self.clock.now());
        self.client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(format!("USAGE#{system}"), padded(bucket))))
            .update_expression("SET expires_at = :ttl ADD calls :n")
            .expression_attribute_values(":ttl", n(bucket + 2 * 86_400))
            .expression_attribute_values(":n", n(calls))
            .send()
            .await
            .map_err(sdk_err("add api calls"))?;
        Ok(())
    }

    /// The sum of [`ApiUsageStore::api_usage_buckets_last_24h`].
    async fn api_calls_last_24h(&self, system: System) -> StoreResult<u64> {
        Ok(self.api_usage_buckets_last_24h(system).await?.iter().map(|b| b.calls).sum())
    }

    /// One strongly consistent `Query` of the buckets from a day before the
    /// current bucket up to now, in sort-key (time) order.
    async fn api_usage_buckets_last_24h(&self, system: System) -> StoreResult<Vec<UsageBucket>> {
        let now = self.clock.now();
        let from = clock::usage_bucket(now) - 86_400;
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.tables.state)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(format!("USAGE#{system}")))
            .expression_attribute_values(":from", s(padded(from)))
            .expression_attribute_values(":to", s(padded(now.timestamp())))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("api calls"))?;
        let mut buckets = Vec::with_capacity(items.len());
        for item in &items {
            let calls = get_u64(item, "calls")?;
            let sk = get_s(item, "sk")?;
            let start =
                sk.parse::<i64>().ok().and_then(|secs| chrono::DateTime::from_timestamp(secs, 0)).ok_or_else(|| {
                    StoreError::Corrupt { what: format!("usage bucket key {sk} is not a time"), source: None }
                })?;
            if calls > 0 {
                buckets.push(UsageBucket { start, calls });
            }
        }
        Ok(buckets)
    }
}
