//! The DynamoDB adapter of every state-store capability.
//!
//! This module owns the table names, the client and the helpers every
//! capability shares; each capability's item layout and calls live in its own
//! file (`links.rs`, `claims.rs`, ...), implementing that capability's trait
//! for [`DynamoStore`]. The item layouts are documented in
//! `docs/storage.md`; storage keys use [`System::as_str`] and
//! [`ObjectPair::as_str`], unchanged since before the ports were split, so
//! existing tables read back as they are.
//!
//! Every invariant is a conditional write: `attribute_not_exists` for
//! creates, version or owner checks for updates, `TransactWriteItems` where
//! two items must change together (the two copies of a link, a chunk and its
//! job). A lost condition becomes [`StoreError::ConditionFailed`], any other
//! failure [`StoreError::Backend`] with the SDK error as its source. Reads
//! that must see the caller's own writes are strongly consistent.
//!
//! Expiry (claims, seen events, chunk leases) is read from millisecond
//! attributes (`expires_ms`, `lease_until`) against the injected clock;
//! `expires_at` (epoch seconds) is only the table's TTL attribute, so
//! DynamoDB's lazy TTL deletion never changes an answer.
//!
//! Adding to the store: a new capability gets its trait in
//! `crm_sync_store::ports`, its checks in the contract suite, a file here and
//! one in `crm_sync_store::sqlite`; a new kind of item gets its own `pk`
//! prefix and a row in the table of `docs/storage.md`. Keys and attribute
//! names are a stored format: DynamoDB has no schema to migrate, so changing
//! one means reading both forms until every live item is rewritten.
//!
//! [`System::as_str`]: crm_sync_store::System::as_str
//! [`ObjectPair::as_str`]: crm_sync_store::ObjectPair::as_str

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::TransactWriteItem;
use crm_sync_store::clock::Clock;
use crm_sync_store::{StoreError, StoreResult};

mod claims;
mod cursors;
mod events;
mod health;
mod imports;
mod item;
mod links;
mod settings;
mod usage;

pub use item::UnprocessedKeys;
pub use settings::{MAX_SETTINGS_BYTES, StoredSettings};

use item::{BACKEND, Item, sdk_err, transaction_condition_failed};

/// Most chunks a job may have: its creation is one transaction of the job
/// and its chunks, and a transaction holds at most 100 items.
pub const MAX_CHUNKS_PER_JOB: usize = 99;
/// Name of the global secondary index used for listing jobs and errors. It
/// is sparse: only import jobs and sync-health errors carry `gsi1pk`/`gsi1sk`.
pub const GSI1: &str = "gsi1";

/// Names of the tables the store uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    /// Links, claims, cursors, jobs, chunks, errors, usage (pk + sk, GSI `gsi1`).
    pub state: String,
    /// Seen webhook event ids (pk only), with TTL.
    pub seen_events: String,
}

/// The state store over DynamoDB: implements every capability trait, hence
/// [`StateStore`](crm_sync_store::StateStore). Cheap to clone (the SDK client
/// is a handle); clones share the clock.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    /// The only source of "now": expiry, leases, usage buckets, timestamps.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore").field("tables", &self.tables).finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store over existing tables (see `provision::create_tables` for
    /// their shape); nothing is called until the first port call.
    pub fn new(client: Client, tables: TableNames, clock: Arc<dyn Clock>) -> Self {
        DynamoStore { client, tables, clock }
    }

    /// The tables this store reads and writes.
    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// A strongly consistent `GetItem` on the state table: it sees every
    /// write that returned before it, which the conditional protocols rely on.
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

    /// Runs a `TransactWriteItems`; a cancellation because a condition failed
    /// becomes `ConditionFailed { what }`, anything else a backend error.
    async fn transact(&self, operation: &'static str, items: Vec<TransactWriteItem>, what: String) -> StoreResult<()> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) if transaction_condition_failed(&e) => Err(StoreError::condition(what)),
            Err(e) => Err(StoreError::backend(BACKEND, operation, e)),
        }
    }
}
