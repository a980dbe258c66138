//! Links on DynamoDB: two items per link, one keyed by each id.
//!
//! `LINK#<pair>#SF#<salesforce id>` and `LINK#<pair>#HS#<hubspot id>` (sort
//! key `LINK`) hold the same copy of the link and are always written and
//! deleted together in one `TransactWriteItems`, each conditional
//! (`attribute_not_exists(pk)` to create; `version = :v` and the other id
//! unchanged to update), so both ids are unique per pair and a lookup by
//! either id is one strongly consistent `GetItem`.
//!
//! Creation notes are items `NOTE#<pair>#<SF|HS>#<source id>` (sort key
//! `CREATING`) with the TTL attribute set to the end of their lifetime;
//! they are written and deleted with one `PutItem`/`DeleteItem` each (several
//! at once) and read like links.
//!
//! Batch reads know every key up front, so they are `BatchGetItem`s of at most
//! [`BATCH_GET_LIMIT`] keys, strongly consistent, with `UnprocessedKeys`
//! retried after a short backoff until every key is answered.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, KeysAndAttributes, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use crm_sync_store::*;
use futures::StreamExt;
use tracing::debug;

use super::DynamoStore;
use super::item::*;

/// Link writes in flight at once in `put_links`.
const LINK_WRITE_CONCURRENCY: usize = 16;
/// Most keys in one `BatchGetItem` (DynamoDB's own limit).
const BATCH_GET_LIMIT: usize = 100;
/// Retries of a page's `UnprocessedKeys` before a batch read gives up.
const BATCH_GET_RETRIES: u32 = 8;

/// Which copy of a link a batch read looks up: the item keyed by the
/// Salesforce id (`SF`) or the one keyed by the HubSpot id (`HS`).
#[derive(Debug, Clone, Copy)]
enum LinkCopy {
    Salesforce,
    HubSpot,
}

impl LinkCopy {
    fn key_part(self) -> &'static str {
        match self {
            LinkCopy::Salesforce => "SF",
            LinkCopy::HubSpot => "HS",
        }
    }

    fn id_of(self, link: &Link) -> &str {
        match self {
            LinkCopy::Salesforce => &link.salesforce_id,
            LinkCopy::HubSpot => &link.hubspot_id,
        }
    }
}

/// Wait before retry `n` (1-based) of unprocessed keys: 50 ms doubling, at
/// most 2 s, as AWS advises for `BatchGetItem`.
fn backoff(retry: u32) -> Duration {
    Duration::from_millis(50u64.saturating_mul(1 << retry.min(6)).min(2_000))
}

/// The key of one copy of a link: `LINK#<pair>#<SF|HS>#<id>`.
fn link_pk(pair: ObjectPair, side: &str, id: &str) -> String {
    format!("LINK#{pair}#{side}#{id}")
}

/// The item of one copy of a link, at `version`, stamped `now`.
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

/// A link read back from either copy.
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

impl DynamoStore {
    /// The links of `ids` (one copy each, by `side`), in order of the ids'
    /// first occurrence: one `BatchGetItem` per [`BATCH_GET_LIMIT`] distinct
    /// ids, plus retries of unprocessed keys.
    async fn get_links_by(&self, pair: ObjectPair, side: LinkCopy, ids: &[String]) -> StoreResult<Vec<Link>> {
        let mut seen = HashSet::with_capacity(ids.len());
        let unique: Vec<&str> = ids.iter().map(String::as_str).filter(|id| seen.insert(*id)).collect();
        let mut found: HashMap<String, Link> = HashMap::with_capacity(unique.len());
        for page in unique.chunks(BATCH_GET_LIMIT) {
            let keys: Vec<Item> = page.iter().map(|id| key(link_pk(pair, side.key_part(), id), "LINK")).collect();
            for item in self.batch_get(keys).await? {
                let link = link_from_item(&item)?;
                found.insert(side.id_of(&link).to_owned(), link);
            }
        }
        debug!(asked = unique.len(), found = found.len(), "LinksRead");
        Ok(unique.into_iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Reads up to [`BATCH_GET_LIMIT`] keys of the state table, strongly
    /// consistent, retrying what DynamoDB leaves unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let table = self.tables.state.as_str();
        let mut items = Vec::with_capacity(keys.len());
        let mut pending = keys;
        let mut retries = 0;
        while !pending.is_empty() {
            if retries > 0 {
                tokio::time::sleep(backoff(retries)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(build_err("get links"))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(sdk_err("get links"))?;
            if let Some(mut responses) = out.responses {
                items.extend(responses.remove(table).unwrap_or_default());
            }
            pending = out.unprocessed_keys.and_then(|mut left| left.remove(table)).map(|k| k.keys).unwrap_or_default();
            if !pending.is_empty() {
                retries += 1;
                if retries > BATCH_GET_RETRIES {
                    let left = pending.len();
                    return Err(StoreError::backend(
                        BACKEND,
                        "get links",
                        UnprocessedKeys { left, retries: BATCH_GET_RETRIES },
                    ));
                }
            }
        }
        Ok(items)
    }

    /// One copy of a link by its key, strongly consistent.
    async fn get_link(&self, pk: String) -> StoreResult<Option<Link>> {
        self.get_item("get link", key(pk, "LINK")).await?.as_ref().map(link_from_item).transpose()
    }

    /// Writes both copies of a link in one transaction, each under the
    /// condition that matches `condition`: a create needs both keys free; an
    /// update needs both copies at the expected version and still naming each
    /// other. Either both copies change or neither does.
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
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn get_link_by_salesforce(&self, pair: ObjectPair, salesforce_id: &str) -> StoreResult<Option<Link>> {
        self.get_link(link_pk(pair, "SF", salesforce_id)).await
    }

    async fn get_link_by_hubspot(&self, pair: ObjectPair, hubspot_id: &str) -> StoreResult<Option<Link>> {
        self.get_link(link_pk(pair, "HS", hubspot_id)).await
    }

    async fn get_links_by_salesforce_ids(&self, pair: ObjectPair, ids: &[String]) -> StoreResult<Vec<Link>> {
        self.get_links_by(pair, LinkCopy::Salesforce, ids).await
    }

    async fn get_links_by_hubspot_ids(&self, pair: ObjectPair, ids: &[String]) -> StoreResult<Vec<Link>> {
        self.get_links_by(pair, LinkCopy::HubSpot, ids).await
    }

    async fn put_link(&self, link: &Link, condition: LinkCondition) -> StoreResult<u64> {
        self.write_link(link, condition).await
    }

    /// Up to `LINK_WRITE_CONCURRENCY` (16) transactions at once. A lost condition
    /// is that write's own result; a backend failure fails the whole call
    /// (writes already made stay, as they would after a crash).
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

    /// Reads the link (to learn its HubSpot id), then deletes both copies in
    /// one transaction conditional on the version, so a concurrent update
    /// between the read and the delete makes the delete fail, not half-apply.
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

    /// A filtered `Scan` of the whole table, paged by the Salesforce-keyed
    /// copy: links are keyed for point reads, and listing is administrative
    /// (segment resyncs, the demo), so no index is paid for it.
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

    async fn put_creation_notes(&self, notes: &[CreationNote]) -> StoreResult<()> {
        let now = self.clock.now();
        let expires = now + chrono::Duration::from_std(CREATION_NOTE_LIFETIME).unwrap_or(chrono::Duration::days(14));
        let mut items = Vec::with_capacity(notes.len());
        for note in notes {
            let fingerprints = serde_json::to_string(&note.fingerprints)
                .map_err(|e| StoreError::Invalid(format!("fingerprints not serialisable: {e}")))?;
            items.push(HashMap::from([
                ("pk".to_owned(), s(note_pk(note.pair, note.source, &note.source_id))),
                ("sk".to_owned(), s(NOTE_SK)),
                ("pair".to_owned(), s(note.pair.as_str())),
                ("source".to_owned(), s(note.source.as_str())),
                ("source_id".to_owned(), s(&note.source_id)),
                ("target_key".to_owned(), s(&note.target_key)),
                ("fingerprints".to_owned(), s(fingerprints)),
                ("written_at".to_owned(), n(millis(now))),
                ("expires_at".to_owned(), n(expires.timestamp())),
            ]));
        }
        at_once(items, |item| async move {
            let put = self.client.put_item().table_name(&self.tables.state).set_item(Some(item));
            put.send().await.map(|_| ()).map_err(sdk_err("put creation note"))
        })
        .await
    }

    async fn get_creation_notes(
        &self,
        pair: ObjectPair,
        sources: &[(System, String)],
    ) -> StoreResult<Vec<CreationNote>> {
        let oldest =
            self.clock.now() - chrono::Duration::from_std(CREATION_NOTE_LIFETIME).unwrap_or(chrono::Duration::days(14));
        let mut seen = HashSet::with_capacity(sources.len());
        let unique: Vec<&(System, String)> = sources.iter().filter(|k| seen.insert(*k)).collect();
        let mut notes = Vec::new();
        for page in unique.chunks(BATCH_GET_LIMIT) {
            let keys: Vec<Item> = page.iter().map(|(side, id)| key(note_pk(pair, *side, id), NOTE_SK)).collect();
            for item in self.batch_get(keys).await? {
                let source = get_s(&item, "source")?;
                let note = CreationNote {
                    pair: pair_of(&item)?,
                    source: System::parse(&source)
                        .ok_or_else(|| StoreError::corrupt("creation note", format!("unknown side {source}")))?,
                    source_id: get_s(&item, "source_id")?,
                    target_key: get_s(&item, "target_key")?,
                    fingerprints: serde_json::from_str(&get_s(&item, "fingerprints")?)
                        .map_err(|e| StoreError::corrupt("creation note fingerprints", e))?,
                    written_at: from_millis(get_n(&item, "written_at")?),
                };
                if note.written_at >= oldest {
                    notes.push(note);
                }
            }
        }
        Ok(notes)
    }

    async fn delete_creation_notes(&self, pair: ObjectPair, sources: &[(System, String)]) -> StoreResult<()> {
        let keys: Vec<Item> = sources.iter().map(|(side, id)| key(note_pk(pair, *side, id), NOTE_SK)).collect();
        at_once(keys, |k| async move {
            let delete = self.client.delete_item().table_name(&self.tables.state).set_key(Some(k));
            delete.send().await.map(|_| ()).map_err(sdk_err("delete creation note"))
        })
        .await
    }
}

/// Runs `call` on every item, [`LINK_WRITE_CONCURRENCY`] at once; the first
/// error, if any, once all have answered.
async fn at_once<T, F, Fut>(items: Vec<T>, call: F) -> StoreResult<()>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = StoreResult<()>>,
{
    let results: Vec<StoreResult<()>> =
        futures::stream::iter(items).map(call).buffer_unordered(LINK_WRITE_CONCURRENCY).collect().await;
    results.into_iter().collect()
}

/// The sort key of creation notes.
const NOTE_SK: &str = "CREATING";

/// The key of a creation note: `NOTE#<pair>#<SF|HS>#<source id>`.
fn note_pk(pair: ObjectPair, source: System, id: &str) -> String {
    let side = match source {
        System::Salesforce => "SF",
        System::HubSpot => "HS",
    };
    format!("NOTE#{pair}#{side}#{id}")
}
