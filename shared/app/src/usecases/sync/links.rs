//! Stage 6: store links.
//!
//! Owns storing the link (both ids and the fingerprints of what each side
//! now holds) of every unit whose writes all succeeded, with conditional
//! writes: a new link must not exist yet, an old one must still have the
//! version read. Losing that race retries the record, so two workers never
//! both create. A stored link resolves the record's open sync-health error,
//! whether it was filed by the record's HubSpot id or by its Salesforce id
//! (see `health_keys`).
//!
//! It also owns moving a link to other records ([`relink`]): a converted
//! Lead's link to its Contact, a merged-away record's link to the survivor.

use super::write::PendingWrite;
use super::{PairSync, RACE_RETRY, RecordResult, health_keys};
use crate::codec::{LIFECYCLE_KEY, encode_link_state};
use crm_sync_domain::SfObject;
use crm_sync_store::{Link, LinkCondition, LinkStore, LinkWrite, StoreError, StoreResult};
use std::collections::BTreeMap;
use tracing::{debug, warn};

impl PairSync<'_> {
    /// Stores the links of every unit whose writes all succeeded.
    pub(super) async fn store_links(&mut self, pending: BTreeMap<usize, PendingWrite>) {
        let now = self.app.clock().now();
        let mut writes = Vec::new();
        let mut order = Vec::new();
        for (_, write) in pending {
            let unit = &self.units[write.unit];
            if unit.result.is_some() {
                continue;
            }
            let (Some(sf_id), Some(hs_id)) = (unit.sf_id.clone(), unit.hs_id.clone()) else { continue };
            let condition = match &unit.link {
                Some(link) => LinkCondition::VersionIs(link.version),
                None => LinkCondition::MustNotExist,
            };
            writes.push(LinkWrite {
                link: Link {
                    pair: self.pair,
                    salesforce_object: unit.sf_object.unwrap_or(SfObject::Lead).api_name().to_owned(),
                    salesforce_id: sf_id,
                    hubspot_id: hs_id,
                    fingerprints: {
                        let mut map = encode_link_state(&write.decision_link);
                        if let Some(stage) = &write.lifecycle_stage {
                            map.insert(LIFECYCLE_KEY.to_owned(), stage.clone());
                        }
                        map
                    },
                    version: 0,
                    updated_at: now,
                },
                condition,
            });
            order.push(write.unit);
        }
        if writes.is_empty() {
            return;
        }
        match self.app.store().put_links(&writes).await {
            Ok(results) => {
                for (u, r) in order.into_iter().zip(results) {
                    match r {
                        Ok(_) => {
                            self.units[u].result = Some(RecordResult::Done);
                            let unit = &self.units[u];
                            for key in health_keys(self.pair, unit.sf_id.as_deref(), unit.hs_id.as_deref()) {
                                if let Err(error) = self.app.store().resolve_error(&key).await {
                                    warn!(%error, "ErrorNotResolved");
                                }
                            }
                        }
                        Err(error) if error.is_condition_failed() => {
                            // Another worker linked it first: look again.
                            debug!("LinkRaced");
                            self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                        }
                        Err(error) => {
                            warn!(%error, "LinkNotStored");
                            self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                        }
                    }
                }
            }
            Err(error) => {
                warn!(%error, "LinksNotStored");
                for u in order {
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
            }
        }
    }
}

/// Moves a link: `from` (as read) is replaced by `to`, which names other
/// records on one side or both and carries its own fingerprints. The ids of
/// a link never change in place, so this is a delete at the version read
/// followed by a create that must not find either id linked; losing either
/// condition to another worker is `ConditionFailed`, and the caller reads
/// again. Returns the new link as stored.
pub(crate) async fn relink(store: &dyn LinkStore, from: &Link, to: Link) -> StoreResult<Link> {
    if !store.delete_link(from.pair, &from.salesforce_id, from.version).await? {
        return Err(StoreError::condition(format!("the link of {} is gone", from.salesforce_id)));
    }
    let version = store.put_link(&to, LinkCondition::MustNotExist).await?;
    Ok(Link { version, ..to })
}
