//! The DynamoDB adapter of [`StateStore`].
//!
//! Owns the item layout of the state and seen-events tables (documented in
//! `docs/storage.md`) and maps every invariant onto a conditional write:
//! `attribute_not_exists` for creates, version checks for updates,
//! `TransactWriteItems` where two items must change together. Expiry is read
//! from `expires_ms` against the injected clock; `expires_at` (epoch seconds)
//! is only the table's TTL attribute, so DynamoDB's lazy TTL deletion never
//! changes an answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, SecondsFormat, Utc};
use crm_sync_store::clock::{self, Clock};
use crm_sync_store::*;
use futures::{StreamExt, TryStreamExt};
use tracing::debug;

const BACKEND: &str = "dynamodb";
/// Name of the global secondary index used for listing jobs and errors.
pub const GSI1: &str = "gsi1";
/// Partition of the GSI holding every import job, newest last.
const JOBS_PARTITION: &str = "IMPORT_JOBS";
/// Partition of the GSI holding every sync-health error by last-seen time.
const ERRORS_PARTITION: &str = "SYNC_ERRORS";
/// Link writes in flight at once in `put_links`.
const LINK_WRITE_CONCURRENCY: usize = 16;
/// Most chunks a job may have: one transaction of at most 100 items.
pub const MAX_CHUNKS_PER_JOB: usize = 99;

type Item = HashMap<String, AttributeValue>;

/// Names of the tables the store uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// Links, claims, cursors, jobs, chunks, errors, usage (pk + sk, GSI `gsi1`).
    pub state: String,
    /// Seen webhook event ids (pk only), with TTL.
    pub seen_events: String,
}

/// [`StateStore`] over DynamoDB.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore").field("tables", &self.tables).finish_non_exhaustive()
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Zero-padded so that string order is numeric order.
fn padded(v: i64) -> String {
    format!("{:020}", v.max(0))
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn link_pk(pair: ObjectPair, side: &str, id: &str) -> String {
    format!("LINK#{pair}#{side}#{id}")
}

fn job_pk(id: &str) -> String {
    format!("IMPORT#{id}")
}

fn chunk_sk(index: u32) -> String {
    format!("CHUNK#{index:010}")
}

fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt { what: format!("attribute {name} missing or not a string"), source: None }),
    }
}

fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|e| StoreError::corrupt(format!("attribute {name}"), e)),
        None => Ok(0),
        _ => Err(StoreError::Corrupt { what: format!("attribute {name} is not a number"), source: None }),
    }
}

fn get_u64(item: &Item, name: &str) -> Result<u64, StoreError> {
    Ok(u64::try_from(get_n(item, name)?).unwrap_or(0))
}

fn get_u32(item: &Item, name: &str) -> Result<u32, StoreError> {
    Ok(u32::try_from(get_n(item, name)?).unwrap_or(0))
}

fn get_json(item: &Item, name: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(&get_s(item, name)?).map_err(|e| StoreError::corrupt(format!("attribute {name}"), e))
}

fn pair_of(item: &Item) -> Result<ObjectPair, StoreError> {
    let pair = get_s(item, "pair")?;
    ObjectPair::parse(&pair).ok_or_else(|| StoreError::Corrupt { what: format!("unknown pair {pair}"), source: None })
}

fn sdk_err<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::backend(BACKEND, operation, e)
}

/// True when a single-item write failed its condition.
fn is_condition_failed<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// A transaction cancelled because one of its conditions failed.
fn transaction_condition_failed<R>(e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
            t.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
        }
        _ => false,
    }
}

fn build_err(operation: &'static str) -> impl FnOnce(aws_sdk_dynamodb::error::BuildError) -> StoreError {
    move |e| StoreError::backend(BACKEND, operation, e)
}

fn link_item(link: &Link, pk: String, version: u64, now: DateTime<Utc>) -> Result<Item, StoreError> {
    let fingerprints = serde_json::to_string(&link.fingerprints)
        .map_err(|e| StoreError::Invalid(format!("fingerprints not serialisable: {e}")))?;
    Ok(HashMap::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s("LINK")),
        ("pair".to_owned(), s(link.pair.as_str())),
        ("salesforce_object".to_owned(), s(&link.salesforce_object)),
        ("salesforce_id".to_owned(), s(&link.salesforce_id)),
        ("hubspot_id".to_owned(), s(&link.hubspot_id)),
        ("fingerprints".to_owned(), s(fingerprints)),
        ("version".to_owned(), n(version)),
        ("updated_at".to_owned(), n(millis(now))),
    ]))
}

fn link_from_item(item: &Item) -> Result<Link, StoreError> {
    let fingerprints = get_s(item, "fingerprints")?;
    Ok(Link {
        pair: pair_of(item)?,
        salesforce_object: get_s(item, "salesforce_object")?,
        salesforce_id: get_s(item, "salesforce_id")?,
        hubspot_id: get_s(item, "hubspot_id")?,
        fingerprints: serde_json::from_str(&fingerprints).map_err(|e| StoreError::corrupt("link fingerprints", e))?,
        version: get_u64(item, "version")?,
        updated_at: from_millis(get_n(item, "updated_at")?),
    })
}

fn counts_of(item: &Item) -> Result<ChunkCounts, StoreError> {
    Ok(ChunkCounts { read: get_u64(item, "read")?, queued: get_u64(item, "queued")?, failed: get_u64(item, "failed")? })
}

fn job_from_item(item: &Item) -> Result<ImportJob, StoreError> {
    let status = get_s(item, "status")?;
    Ok(ImportJob {
        id: get_s(item, "job_id")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt { what: format!("job status {status}"), source: None })?,
        spec: get_json(item, "spec")?,
        chunks_total: get_u32(item, "chunks_total")?,
        chunks_done: get_u32(item, "chunks_done")?,
        counts: counts_of(item)?,
        created_at: from_millis(get_n(item, "created_at")?),
        updated_at: from_millis(get_n(item, "updated_at")?),
    })
}

fn chunk_from_item(item: &Item) -> Result<ImportChunk, StoreError> {
    let status = get_s(item, "status")?;
    Ok(ImportChunk {
        job_id: get_s(item, "job_id")?,
        index: get_u32(item, "chunk_index")?,
        spec: get_json(item, "spec")?,
        status: ChunkStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt { what: format!("chunk status {status}"), source: None })?,
        owner: get_opt_s(item, "owner"),
        lease_until: match item.get("lease_until") {
            Some(AttributeValue::N(_)) => Some(from_millis(get_n(item, "lease_until")?)),
            _ => None,
        },
        checkpoint: get_opt_s(item, "checkpoint"),
        counts: counts_of(item)?,
        attempts: get_u32(item, "attempts")?,
        error: get_opt_s(item, "error"),
        updated_at: from_millis(get_n(item, "updated_at")?),
    })
}

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

fn cursor_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames, clock: Arc<dyn Clock>) -> Self {
        DynamoStore { client, tables, clock }
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    async fn get_item(&self, operation: &'static str, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.state)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err(operation))?;
        Ok(out.item)
    }

    async fn get_link(&self, pk: String) -> StoreResult<Option<Link>> {
        self.get_item("get link", key(pk, "LINK")).await?.as_ref().map(link_from_item).transpose()
    }

    async fn transact(&self, operation: &'static str, items: Vec<TransactWriteItem>, what: String) -> StoreResult<()> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) if transaction_condition_failed(&e) => Err(StoreError::condition(what)),
            Err(e) => Err(StoreError::backend(BACKEND, operation, e)),
        }
    }

    async fn write_link(&self, link: &Link, condition: LinkCondition) -> StoreResult<u64> {
        let now = self.clock.now();
        let sf_pk = link_pk(link.pair, "SF", &link.salesforce_id);
        let hs_pk = link_pk(link.pair, "HS", &link.hubspot_id);
        let (version, condition_sf, condition_hs, values) = match condition {
            LinkCondition::MustNotExist => (1, "attribute_not_exists(pk)", "attribute_not_exists(pk)", None),
            LinkCondition::VersionIs(v) => (
                v + 1,
                "version = :v AND hubspot_id = :hs",
                "version = :v AND salesforce_id = :sf",
                Some(HashMap::from([
                    (":v".to_owned(), n(v)),
                    (":hs".to_owned(), s(&link.hubspot_id)),
                    (":sf".to_owned(), s(&link.salesforce_id)),
                ])),
            ),
        };
        let put = |pk: String, cond: &str, values: Option<Item>| -> StoreResult<TransactWriteItem> {
            // Each side's condition names only the placeholders it uses.
            let values = values.map(|mut vals| {
                vals.retain(|k, _| cond.contains(k.as_str()));
                vals
            });
            let put = Put::builder()
                .table_name(&self.tables.state)
                .set_item(Some(link_item(link, pk, version, now)?))
                .condition_expression(cond)
                .set_expression_attribute_values(values)
                .build()
                .map_err(build_err("put link"))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let items = vec![put(sf_pk, condition_sf, values.clone())?, put(hs_pk, condition_hs, values)?];
        let what = match condition {
            LinkCondition::MustNotExist => format!(
                "{} link for salesforce {} or hubspot {} already exists",
                link.pair, link.salesforce_id, link.hubspot_id
            ),
            LinkCondition::VersionIs(v) => {
                format!(
                    "{} link {} is not at version {v} with hubspot {}",
                    link.pair, link.salesforce_id, link.hubspot_id
                )
            }
        };
        self.transact("put link", items, what).await?;
        Ok(version)
    }

    async fn mark_one_seen(&self, id: String, ttl: Duration, now: DateTime<Utc>) -> StoreResult<bool> {
        let expires = clock::add(now, ttl);
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.seen_events)
            .item("pk", s(format!("EVENT#{id}")))
            .item("expires_ms", n(millis(expires)))
            .item("expires_at", n(expires.timestamp()))
            .condition_expression("attribute_not_exists(pk) OR expires_ms <= :now")
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(BACKEND, "mark event seen", e)),
        }
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn get_link_by_salesforce(&self, pair: ObjectPair, salesforce_id: &str) -> StoreResult<Option<Link>> {
        self.get_link(link_pk(pair, "SF", salesforce_id)).await
    }

    async fn get_link_by_hubspot(&self, pair: ObjectPair, hubspot_id: &str) -> StoreResult<Option<Link>> {
        self.get_link(link_pk(pair, "HS", hubspot_id)).await
    }

    async fn put_link(&self, link: &Link, condition: LinkCondition) -> StoreResult<u64> {
        self.write_link(link, condition).await
    }

    async fn put_links(&self, writes: &[LinkWrite]) -> StoreResult<Vec<StoreResult<u64>>> {
        let results: Vec<StoreResult<u64>> = futures::stream::iter(0..writes.len())
            .map(|i| self.write_link(&writes[i].link, writes[i].condition))
            .buffered(LINK_WRITE_CONCURRENCY)
            .collect()
            .await;
        if let Some(pos) = results.iter().position(|r| matches!(r, Err(StoreError::Backend { .. }))) {
            let mut results = results;
            return Err(results.swap_remove(pos).err().unwrap_or_else(|| StoreError::Invalid("unreachable".into())));
        }
        debug!(links = writes.len(), "LinksWritten");
        Ok(results)
    }

    async fn delete_link(&self, pair: ObjectPair, salesforce_id: &str, expected_version: u64) -> StoreResult<bool> {
        let Some(link) = self.get_link(link_pk(pair, "SF", salesforce_id)).await? else {
            return Ok(false);
        };
        if link.version != expected_version {
            return Err(StoreError::condition(format!(
                "{pair} link {salesforce_id} is at version {}, not {expected_version}",
                link.version
            )));
        }
        let delete = |pk: String| -> StoreResult<TransactWriteItem> {
            let d = Delete::builder()
                .table_name(&self.tables.state)
                .set_key(Some(key(pk, "LINK")))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected_version))
                .build()
                .map_err(build_err("delete link"))?;
            Ok(TransactWriteItem::builder().delete(d).build())
        };
        let items =
            vec![delete(link_pk(pair, "SF", &link.salesforce_id))?, delete(link_pk(pair, "HS", &link.hubspot_id))?];
        self.transact("delete link", items, format!("{pair} link {salesforce_id} changed")).await?;
        Ok(true)
    }

    async fn list_links(&self, pair: ObjectPair, after: Option<&str>, limit: usize) -> StoreResult<LinkPage> {
        // An administrative scan (relinking, org moves): links are keyed for
        // point reads, not for listing.
        let limit = limit.max(1);
        let prefix = link_pk(pair, "SF", "");
        let mut start = after.map(|id| key(link_pk(pair, "SF", id), "LINK"));
        let mut links = Vec::new();
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.tables.state)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", s(&prefix))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err("list links"))?;
            for item in out.items() {
                links.push(link_from_item(item)?);
                if links.len() == limit {
                    let next = links.last().map(|l| l.salesforce_id.clone());
                    return Ok(LinkPage { links, next });
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(LinkPage { links, next: None }),
            }
        }
    }

    async fn claim(&self, claim_key: &str, owner: &str, ttl: Duration) -> StoreResult<Claim> {
        let now = self.clock.now();
        let expires = clock::add(now, ttl);
        let pk = format!("CLAIM#{claim_key}");
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.state)
            .set_item(Some(HashMap::from([
                ("pk".to_owned(), s(&pk)),
                ("sk".to_owned(), s("CLAIM")),
                ("owner".to_owned(), s(owner)),
                ("expires_ms".to_owned(), n(millis(expires))),
                ("expires_at".to_owned(), n(expires.timestamp())),
            ])))
            .condition_expression("attribute_not_exists(pk) OR expires_ms <= :now OR #owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(e) if is_condition_failed(&e) => {
                let held = self.get_item("claim", key(&pk, "CLAIM")).await?;
                match held {
                    Some(item) => Ok(Claim::HeldBy {
                        owner: get_s(&item, "owner")?,
                        expires_at: from_millis(get_n(&item, "expires_ms")?),
                    }),
                    // Released between the two calls: the caller may try again.
                    None => Err(StoreError::condition(format!("claim {claim_key} changed hands"))),
                }
            }
            Err(e) => Err(StoreError::backend(BACKEND, "claim", e)),
        }
    }

    async fn release_claim(&self, claim_key: &str, owner: &str) -> StoreResult<bool> {
        let now = self.clock.now();
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(format!("CLAIM#{claim_key}"), "CLAIM")))
            .condition_expression("#owner = :owner AND expires_ms > :now")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(BACKEND, "release claim", e)),
        }
    }

    async fn get_cursor(&self, system: System, object: &str) -> StoreResult<Option<SweepCursor>> {
        let item = self.get_item("get cursor", key(format!("CURSOR#{system}#{object}"), "CURSOR")).await?;
        item.map(|item| {
            let position = get_s(&item, "position")?;
            let position = DateTime::parse_from_rfc3339(&position)
                .map_err(|e| StoreError::corrupt(format!("cursor {system}/{object}"), e))?
                .with_timezone(&Utc);
            Ok(SweepCursor {
                system,
                object: object.to_owned(),
                position,
                updated_at: from_millis(get_n(&item, "updated_at")?),
                partial: matches!(item.get("partial"), Some(AttributeValue::Bool(true))),
            })
        })
        .transpose()
    }

    async fn advance_cursor(
        &self,
        system: System,
        object: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        partial: bool,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let pk = format!("CURSOR#{system}#{object}");
        let result = match expected {
            None => self
                .client
                .put_item()
                .table_name(&self.tables.state)
                .set_item(Some(HashMap::from([
                    ("pk".to_owned(), s(&pk)),
                    ("sk".to_owned(), s("CURSOR")),
                    ("position".to_owned(), s(cursor_text(to))),
                    ("updated_at".to_owned(), n(millis(now))),
                    ("partial".to_owned(), AttributeValue::Bool(partial)),
                ])))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_condition_failed(&e), StoreError::backend(BACKEND, "advance cursor", e))),
            Some(from) => self
                .client
                .update_item()
                .table_name(&self.tables.state)
                .set_key(Some(key(&pk, "CURSOR")))
                .update_expression("SET #position = :to, updated_at = :now, #partial = :partial")
                .condition_expression("#position = :from")
                .expression_attribute_names("#position", "position")
                .expression_attribute_names("#partial", "partial")
                .expression_attribute_values(":to", s(cursor_text(to)))
                .expression_attribute_values(":from", s(cursor_text(from)))
                .expression_attribute_values(":now", n(millis(now)))
                .expression_attribute_values(":partial", AttributeValue::Bool(partial))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| (is_condition_failed(&e), StoreError::backend(BACKEND, "advance cursor", e))),
        };
        match result {
            Ok(()) => Ok(()),
            Err((true, _)) => Err(StoreError::condition(format!("cursor {system}/{object} moved"))),
            Err((false, e)) => Err(e),
        }
    }

    async fn create_import_job(
        &self,
        id: &str,
        spec: &serde_json::Value,
        chunks: &[NewChunk],
    ) -> StoreResult<ImportJob> {
        if chunks.len() > MAX_CHUNKS_PER_JOB {
            return Err(StoreError::Invalid(format!(
                "an import job has at most {MAX_CHUNKS_PER_JOB} chunks, not {}",
                chunks.len()
            )));
        }
        let now = self.clock.now();
        let job = ImportJob {
            id: id.to_owned(),
            status: JobStatus::Planned,
            spec: spec.clone(),
            chunks_total: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
            chunks_done: 0,
            counts: ChunkCounts::default(),
            created_at: from_millis(millis(now)),
            updated_at: from_millis(millis(now)),
        };
        let mut job_item = key(job_pk(id), "JOB");
        job_item.extend([
            ("job_id".to_owned(), s(id)),
            ("status".to_owned(), s(job.status.as_str())),
            ("spec".to_owned(), s(spec.to_string())),
            ("chunks_total".to_owned(), n(job.chunks_total)),
            ("chunks_done".to_owned(), n(0)),
            ("read".to_owned(), n(0)),
            ("queued".to_owned(), n(0)),
            ("failed".to_owned(), n(0)),
            ("created_at".to_owned(), n(millis(now))),
            ("updated_at".to_owned(), n(millis(now))),
            ("gsi1pk".to_owned(), s(JOBS_PARTITION)),
            ("gsi1sk".to_owned(), s(format!("{}#{id}", padded(millis(now))))),
        ]);
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.tables.state)
                        .set_item(Some(job_item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(build_err("create import job"))?,
                )
                .build(),
        ];
        for chunk in chunks {
            let mut item = key(job_pk(id), chunk_sk(chunk.index));
            item.extend([
                ("job_id".to_owned(), s(id)),
                ("chunk_index".to_owned(), n(chunk.index)),
                ("spec".to_owned(), s(chunk.spec.to_string())),
                ("status".to_owned(), s(ChunkStatus::Pending.as_str())),
                ("read".to_owned(), n(0)),
                ("queued".to_owned(), n(0)),
                ("failed".to_owned(), n(0)),
                ("attempts".to_owned(), n(0)),
                ("updated_at".to_owned(), n(millis(now))),
            ]);
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.tables.state)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_err("create import job"))?,
                    )
                    .build(),
            );
        }
        self.transact("create import job", items, format!("import job {id} exists")).await?;
        Ok(job)
    }

    async fn get_import_job(&self, id: &str) -> StoreResult<Option<ImportJob>> {
        self.get_item("get import job", key(job_pk(id), "JOB")).await?.as_ref().map(job_from_item).transpose()
    }

    async fn list_import_jobs(&self) -> StoreResult<Vec<ImportJob>> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.tables.state)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(JOBS_PARTITION))
            .scan_index_forward(false)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("list import jobs"))?;
        items.iter().map(job_from_item).collect()
    }

    async fn set_import_job_status(&self, id: &str, status: JobStatus) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(id), "JOB")))
            .update_expression("SET #status = :s, updated_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":s", s(status.as_str()))
            .expression_attribute_values(":now", n(millis(self.clock.now())))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::not_found(format!("import job {id}"))),
            Err(e) => Err(StoreError::backend(BACKEND, "set import job status", e)),
        }
    }

    async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<ImportChunk>> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.tables.state)
            .key_condition_expression("pk = :pk AND begins_with(sk, :chunk)")
            .expression_attribute_values(":pk", s(job_pk(job_id)))
            .expression_attribute_values(":chunk", s("CHUNK#"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk_err("list chunks"))?;
        items.iter().map(chunk_from_item).collect()
    }

    async fn claim_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<ImportChunk>> {
        let now = self.clock.now();
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression(
                "SET #status = :running, #owner = :owner, lease_until = :lease, updated_at = :now ADD attempts :one",
            )
            .condition_expression(
                "#status = :pending OR (#status = :running AND (lease_until <= :now OR #owner = :owner))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":pending", s(ChunkStatus::Pending.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":lease", n(millis(clock::add(now, lease))))
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let chunk = match result {
            Ok(out) => match out.attributes {
                Some(item) => chunk_from_item(&item)?,
                None => return Err(StoreError::not_found(format!("chunk {job_id}/{index}"))),
            },
            Err(e) if is_condition_failed(&e) => return Ok(None),
            Err(e) => return Err(StoreError::backend(BACKEND, "claim chunk", e)),
        };
        // The first claimed chunk starts the job; later claims find it running.
        let started = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), "JOB")))
            .update_expression("SET #status = :running, updated_at = :now")
            .condition_expression("#status = :planned")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":planned", s(JobStatus::Planned.as_str()))
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        match started {
            Ok(_) => {}
            Err(e) if is_condition_failed(&e) => {}
            Err(e) => return Err(StoreError::backend(BACKEND, "start import job", e)),
        }
        Ok(Some(chunk))
    }

    async fn checkpoint_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        checkpoint: &str,
        counts: ChunkCounts,
        lease: Duration,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression(
                "SET checkpoint = :cp, #read = :read, queued = :queued, failed = :failed, lease_until = :lease, updated_at = :now",
            )
            .condition_expression("#status = :running AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":cp", s(checkpoint))
            .expression_attribute_values(":read", n(counts.read))
            .expression_attribute_values(":queued", n(counts.queued))
            .expression_attribute_values(":failed", n(counts.failed))
            .expression_attribute_values(":lease", n(millis(clock::add(now, lease))))
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")))
            }
            Err(e) => Err(StoreError::backend(BACKEND, "checkpoint chunk", e)),
        }
    }

    async fn complete_chunk(
        &self,
        job_id: &str,
        index: u32,
        owner: &str,
        counts: ChunkCounts,
    ) -> StoreResult<ImportJob> {
        let now = self.clock.now();
        let chunk = Update::builder()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression(
                "SET #status = :done, #read = :read, queued = :queued, failed = :failed, updated_at = :now REMOVE lease_until",
            )
            .condition_expression("#status = :running AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":done", s(ChunkStatus::Done.as_str()))
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":read", n(counts.read))
            .expression_attribute_values(":queued", n(counts.queued))
            .expression_attribute_values(":failed", n(counts.failed))
            .expression_attribute_values(":now", n(millis(now)))
            .build()
            .map_err(build_err("complete chunk"))?;
        let job = Update::builder()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), "JOB")))
            .update_expression(
                "SET updated_at = :now ADD chunks_done :one, #read :read, queued :queued, failed :failed",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":read", n(counts.read))
            .expression_attribute_values(":queued", n(counts.queued))
            .expression_attribute_values(":failed", n(counts.failed))
            .build()
            .map_err(build_err("complete chunk"))?;
        self.transact(
            "complete chunk",
            vec![TransactWriteItem::builder().update(chunk).build(), TransactWriteItem::builder().update(job).build()],
            format!("chunk {job_id}/{index} is not held by {owner}"),
        )
        .await?;
        // The last chunk completes the job (idempotent: any finisher may do it).
        let finished = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), "JOB")))
            .update_expression("SET #status = :completed")
            .condition_expression("chunks_done >= chunks_total")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(JobStatus::Completed.as_str()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match finished {
            Ok(out) => match out.attributes {
                Some(item) => job_from_item(&item),
                None => Err(StoreError::not_found(format!("import job {job_id}"))),
            },
            Err(e) if is_condition_failed(&e) => {
                self.get_import_job(job_id).await?.ok_or_else(|| StoreError::not_found(format!("import job {job_id}")))
            }
            Err(e) => Err(StoreError::backend(BACKEND, "complete import job", e)),
        }
    }

    async fn fail_chunk(&self, job_id: &str, index: u32, owner: &str, message: &str) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(job_pk(job_id), chunk_sk(index))))
            .update_expression("SET #status = :failed, #error = :msg, updated_at = :now REMOVE lease_until")
            .condition_expression("#status = :running AND #owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", s(ChunkStatus::Failed.as_str()))
            .expression_attribute_values(":running", s(ChunkStatus::Running.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":msg", s(message))
            .expression_attribute_values(":now", n(millis(self.clock.now())))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                Err(StoreError::condition(format!("chunk {job_id}/{index} is not held by {owner}")))
            }
            Err(e) => Err(StoreError::backend(BACKEND, "fail chunk", e)),
        }
    }

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

    async fn api_calls_last_24h(&self, system: System) -> StoreResult<u64> {
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
        items.iter().try_fold(0u64, |sum, item| Ok(sum + get_u64(item, "calls")?))
    }

    async fn mark_events_seen(&self, event_ids: &[String], ttl: Duration) -> StoreResult<Vec<bool>> {
        let now = self.clock.now();
        // An id repeated within the call is answered locally: only its first
        // occurrence asks the table.
        let mut first = std::collections::HashSet::new();
        let asks: Vec<Option<String>> =
            event_ids.iter().map(|id| first.insert(id.as_str()).then(|| id.clone())).collect();
        futures::stream::iter(asks)
            .map(|ask| async move {
                match ask {
                    Some(id) => self.mark_one_seen(id, ttl, now).await,
                    None => Ok(false),
                }
            })
            .buffered(LINK_WRITE_CONCURRENCY)
            .try_collect()
            .await
    }
}
