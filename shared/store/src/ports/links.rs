//! The links capability: which Salesforce record is which HubSpot record.
//!
//! A link is the most expensive state the product keeps (rebuilding it means
//! matching every record again), and the one the sync reads most: every
//! intent of a batch needs the link of its record. So:
//!
//! - **Uniqueness.** Within a pair, a Salesforce id and a HubSpot id each
//!   belong to at most one link. A create ([`LinkCondition::MustNotExist`])
//!   fails if either id is linked already; two workers racing to link the
//!   same record produce one link and one `ConditionFailed`.
//! - **Optimistic concurrency.** Every link carries a version (1 after
//!   creation, +1 per update). An update ([`LinkCondition::VersionIs`]) and a
//!   delete succeed only at the version the caller read, so a stale worker
//!   can never overwrite newer fingerprints. The ids of a link never change
//!   in place: relinking is delete + create.
//! - **Strongly consistent reads.** A lookup by either id sees every write
//!   that returned before it, so a worker that just wrote a link finds it.
//! - **Batch reads.** [`LinkStore::get_links_by_salesforce_ids`] and
//!   [`LinkStore::get_links_by_hubspot_ids`] read the links of a whole batch
//!   of records in as few backend calls as the adapter allows, instead of one
//!   call per record.
//! - **Creation notes.** A record the sync creates has no link until the
//!   create has answered, and a worker can stop in between. Just before its
//!   creates, the sync writes a [`CreationNote`] per record, keyed by the
//!   record it creates from, holding the link it is about to store; once the
//!   link is stored the note is deleted. A note left behind tells the next
//!   sync that the two records it meets unlinked are its own creation, with
//!   the values it wrote, rather than two strangers. Notes older than
//!   [`CREATION_NOTE_LIFETIME`] are not answered.

use async_trait::async_trait;

use super::types::{CreationNote, Link, LinkCondition, LinkPage, LinkWrite, ObjectPair, StoreResult, System};

/// How long a creation note is answered after it was written: longer than a
/// queue message lives (four days), so that every retry of an interrupted
/// creation finds it.
pub const CREATION_NOTE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);

/// The links between Salesforce and HubSpot records, per [`ObjectPair`].
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// The link of a Salesforce record, if any.
    async fn get_link_by_salesforce(&self, pair: ObjectPair, salesforce_id: &str) -> StoreResult<Option<Link>>;

    /// The link of a HubSpot record, if any.
    async fn get_link_by_hubspot(&self, pair: ObjectPair, hubspot_id: &str) -> StoreResult<Option<Link>>;

    /// The links of many Salesforce records at once. Ids without a link are
    /// simply absent from the answer; an id given twice is answered once.
    /// Links come back in the order of their ids' first occurrence in `ids`.
    async fn get_links_by_salesforce_ids(&self, pair: ObjectPair, ids: &[String]) -> StoreResult<Vec<Link>>;

    /// The links of many HubSpot records at once, with the same rules as
    /// [`LinkStore::get_links_by_salesforce_ids`].
    async fn get_links_by_hubspot_ids(&self, pair: ObjectPair, ids: &[String]) -> StoreResult<Vec<Link>>;

    /// Writes one link under `condition`; returns the stored version.
    /// A failed condition is [`crate::StoreError::ConditionFailed`].
    async fn put_link(&self, link: &Link, condition: LinkCondition) -> StoreResult<u64>;

    /// Writes many links; each succeeds or fails on its own condition. The
    /// outer error is for the store failing as a whole.
    async fn put_links(&self, writes: &[LinkWrite]) -> StoreResult<Vec<StoreResult<u64>>>;

    /// Deletes a link if its version matches; false if there was none.
    async fn delete_link(&self, pair: ObjectPair, salesforce_id: &str, expected_version: u64) -> StoreResult<bool>;

    /// Lists the links of a pair in pages (order is the adapter's own). An
    /// administrative read (resync of a segment, the demo); the sync itself
    /// reads links by id.
    async fn list_links(&self, pair: ObjectPair, after: Option<&str>, limit: usize) -> StoreResult<LinkPage>;

    /// Writes creation notes (replacing any note of the same source record),
    /// stamped with the store's clock.
    async fn put_creation_notes(&self, notes: &[CreationNote]) -> StoreResult<()>;

    /// The notes of these source records (side, id) written less than
    /// [`CREATION_NOTE_LIFETIME`] ago; records without one are absent.
    async fn get_creation_notes(
        &self,
        pair: ObjectPair,
        sources: &[(System, String)],
    ) -> StoreResult<Vec<CreationNote>>;

    /// Deletes the notes of these source records, if any.
    async fn delete_creation_notes(&self, pair: ObjectPair, sources: &[(System, String)]) -> StoreResult<()>;
}
