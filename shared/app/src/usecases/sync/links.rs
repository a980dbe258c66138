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
//! Lead's link to its Contact, a merged-away record's link to the survivor,
//! and a HubSpot contact's link to the record the email rule picks over the
//! one it named (SPEC section 1), stored here once the pick's writes
//! succeeded, the record losing it being reported. Outside the inclusion
//! segment the pick writes nothing and is not linked: the beaten record's
//! link is only dropped (and reported).

use super::write::PendingWrite;
use super::{PairSync, RACE_RETRY, RecordResult, health_keys};
use crm_sync_domain::SfObject;
use crm_sync_store::{ErrorReport, Link, LinkCondition, LinkStore, LinkWrite, StoreError, StoreResult};
use std::collections::BTreeMap;
use tracing::{debug, warn};

impl PairSync<'_> {
    /// Stores the links of every unit whose writes all succeeded.
    pub(super) async fn store_links(&mut self, pending: BTreeMap<usize, PendingWrite>) {
        let now = self.app.clock().now();
        let mut writes = Vec::new();
        let mut order = Vec::new();
        let mut moves = Vec::new();
        let mut drops = Vec::new();
        for (_, write) in pending {
            let unit = &self.units[write.unit];
            if unit.result.is_some() {
                continue;
            }
            let (Some(sf_id), Some(hs_id)) = (unit.sf_id.clone(), unit.hs_id.clone()) else { continue };
            let condition = match &unit.link {
                Some(link) if unit.noted.is_none() => LinkCondition::VersionIs(link.version),
                _ => LinkCondition::MustNotExist,
            };
            let link = Link {
                pair: self.pair,
                salesforce_object: unit.sf_object.unwrap_or(SfObject::Lead).api_name().to_owned(),
                salesforce_id: sf_id,
                hubspot_id: hs_id,
                fingerprints: write.fingerprints(),
                version: 0,
                updated_at: now,
            };
            if let Some(takeover) = unit.takeover.clone() {
                if write.unlinked {
                    drops.push((write.unit, takeover));
                } else {
                    moves.push((write.unit, takeover, link));
                }
                continue;
            }
            writes.push(LinkWrite { link, condition });
            order.push(write.unit);
        }
        for (u, takeover, link) in moves {
            match relink(self.app.store(), &takeover.link, link).await {
                Ok(_) => {
                    self.link_stored(u).await;
                    self.report_beaten(takeover.report).await;
                }
                Err(error) => {
                    // The old link changed meanwhile, or the store failed:
                    // the pick is matched and decided again.
                    debug!(%error, "LinkNotMoved");
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
            }
        }
        for (u, takeover) in drops {
            let old = &takeover.link;
            match self.app.store().delete_link(old.pair, &old.salesforce_id, old.version).await {
                Ok(true) => {
                    debug!("TakenOverLinkDropped");
                    self.units[u].result = Some(RecordResult::Done);
                    self.report_beaten(takeover.report).await;
                }
                Ok(false) => {
                    debug!("LinkNotDropped");
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
                Err(error) => {
                    debug!(%error, "LinkNotDropped");
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
            }
        }
        if writes.is_empty() {
            return;
        }
        match self.app.store().put_links(&writes).await {
            Ok(results) => {
                for (u, r) in order.into_iter().zip(results) {
                    match r {
                        Ok(_) => self.link_stored(u).await,
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

    /// Files the `duplicates` entry of the record a pick took the HubSpot
    /// contact from, once its link is gone.
    async fn report_beaten(&mut self, report: Option<ErrorReport>) {
        let Some(report) = report else { return };
        *self.stats.errors.entry(report.category.clone()).or_default() += 1;
        if let Err(error) = self.app.store().record_error(&report).await {
            warn!(%error, "ErrorNotRecorded");
        }
    }

    /// A unit whose link is stored is done, and its open sync-health
    /// entries are resolved.
    async fn link_stored(&mut self, u: usize) {
        self.units[u].result = Some(RecordResult::Done);
        let unit = &self.units[u];
        for key in health_keys(self.pair, unit.sf_id.as_deref(), unit.hs_id.as_deref()) {
            if let Err(error) = self.app.store().resolve_error(&key).await {
                warn!(%error, "ErrorNotResolved");
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
