//! API usage on DynamoDB: one partition per system, `USAGE#<system>`, one
//! item per five-minute bucket (sort key: the bucket's start in epoch
//! seconds, 20 digits so text order is time order).
//!
//! Adding is an atomic `ADD calls :n`, so concurrent workers never lose a
//! count; each bucket carries a TTL two days out. The rolling day is one
//! `Query` of at most 289 buckets.
//!
//! A reservation cannot be one conditional write (its condition is a sum of
//! buckets), so it is optimistic: every reservation bumps a version on one
//! ledger item per system, `USAGE_LEDGER#<system>`, in the same transaction
//! as its add. A reservation reads the version, then the rolling day, and
//! writes only if the version is still the one it read: if another
//! reservation landed in between, the transaction is cancelled and the
//! reservation starts again from fresh figures. So what it granted was
//! decided on the count every other reservation had left.

use async_trait::async_trait;
use crm_sync_store::clock;
use crm_sync_store::*;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::DynamoStore;
use super::item::*;

/// Tries of one reservation against others landing first.
const RESERVE_ATTEMPTS: u32 = 20;

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

    async fn reserve_api_calls(&self, system: System, wanted: u64, cap: u64) -> StoreResult<Reservation> {
        let ledger = || key(format!("USAGE_LEDGER#{system}"), "ledger");
        for attempt in 0..RESERVE_ATTEMPTS {
            let version = match self.get_item("read the usage ledger", ledger()).await? {
                Some(item) => get_u64(&item, "version")?,
                None => 0,
            };
            let used = self.api_calls_last_24h(system).await?;
            let granted = wanted.min(cap.saturating_sub(used));
            let bucket = clock::usage_bucket(self.clock.now());
            let start = chrono::DateTime::from_timestamp(bucket, 0).unwrap_or_else(|| self.clock.now());
            if granted == 0 {
                return Ok(Reservation { granted, used, bucket: start });
            }
            let bump = Update::builder()
                .table_name(&self.tables.state)
                .set_key(Some(ledger()))
                .update_expression("SET version = :next")
                .condition_expression("attribute_not_exists(version) OR version = :seen")
                .expression_attribute_values(":seen", n(version))
                .expression_attribute_values(":next", n(version + 1))
                .build()
                .map_err(build_err("bump the usage ledger"))?;
            let add = Update::builder()
                .table_name(&self.tables.state)
                .set_key(Some(key(format!("USAGE#{system}"), padded(bucket))))
                .update_expression("SET expires_at = :ttl ADD calls :n")
                .expression_attribute_values(":ttl", n(bucket + 2 * 86_400))
                .expression_attribute_values(":n", n(granted))
                .build()
                .map_err(build_err("reserve api calls"))?;
            let items = vec![
                TransactWriteItem::builder().update(bump).build(),
                TransactWriteItem::builder().update(add).build(),
            ];
            match self.transact("reserve api calls", items, format!("usage ledger of {system} moved")).await {
                Ok(()) => return Ok(Reservation { granted, used: used + granted, bucket: start }),
                Err(StoreError::ConditionFailed { .. }) => {
                    // Another reservation landed first: look again, after a
                    // pause that spreads the contenders.
                    let pause = 5 * u64::from(attempt + 1) + rand::random_range(0..10);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::condition(format!(
            "the usage ledger of {system} kept moving: {RESERVE_ATTEMPTS} reservations in a row were overtaken"
        )))
    }

    /// `ADD calls -n` on the reservation's bucket, only while it holds at
    /// least `n` (a bucket gone with its TTL is left alone).
    async fn release_api_calls(
        &self,
        system: System,
        bucket: chrono::DateTime<chrono::Utc>,
        calls: u64,
    ) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(format!("USAGE#{system}"), padded(bucket.timestamp()))))
            .update_expression("ADD calls :less")
            .condition_expression("calls >= :n")
            .expression_attribute_values(":less", n(-i128::from(calls)))
            .expression_attribute_values(":n", n(calls))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failed) => Ok(()),
            Err(e) => Err(sdk_err("release api calls")(e)),
        }
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
