//! Stage 5a: deleted records (SPEC section 1: "a deleted record's link is
//! dropped, and what happens to its counterpart is a setting").
//!
//! Owns what happens once the planner said a linked record is gone from its
//! own side ([`PlannedAction::LinkGone`](crm_sync_domain::plan::PlannedAction)):
//! the link is always dropped; with `deleted_records: delete_counterpart`
//! for the pair, the record it linked to on the other side is deleted too,
//! batched (HubSpot `batch/archive`, 100 per call; Salesforce sObject
//! Collections DELETE, 200 per call). Merges and conversions never get
//! here: the moves stage turned or finished those units before planning.
//!
//! A HubSpot record counts as deleted only when HubSpot has it in the
//! recycle bin (one read per 100 such records, only when the setting asks
//! for deletions): a merged-away record is not there, and one named by a
//! stray intent before its merge was followed must not delete anything. A
//! Salesforce record gone without a `MasterRecordId` was deleted (the moves
//! stage asked `queryAll`).
//!
//! The echo of a deletion we made (HubSpot's deletion webhook, the sweep's
//! deleted list) finds no link, or both records gone, and does nothing. A
//! deletion the CRM refuses is filed in sync health under the counterpart's
//! id with the CRM's message, and the link is dropped all the same; a
//! retryable failure keeps the link and retries the record.

use super::{PairSync, RACE_RETRY, RecordResult};
use crate::codec::category_name;
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH, WriteResult};
use crm_sync_crm::error::{self as crm_error, CrmError, System};
use crm_sync_store::ErrorReport;
use std::collections::HashSet;
use tracing::{info, warn};

/// The error code of a Salesforce record already in the Recycle Bin: the
/// counterpart is gone, which is what was asked.
const ENTITY_IS_DELETED: &str = "ENTITY_IS_DELETED";

impl PairSync<'_> {
    /// Drops the links of these units (records deleted on their own side)
    /// and, when the pair's setting says so, deletes their counterparts.
    pub(super) async fn follow_deletions(&mut self, gone: Vec<usize>) {
        let delete = self.app.config().deleted_records.deletes_counterpart(self.pair);
        let (mut in_salesforce, mut in_hubspot) = (Vec::new(), Vec::new());
        for u in gone {
            *self.stats.skipped.entry("deleted".into()).or_default() += 1;
            let unit = &self.units[u];
            match (delete, unit.link.is_some(), unit.sf.is_some(), unit.hs.is_some()) {
                (true, true, true, false) => in_salesforce.push(u),
                (true, true, false, true) => in_hubspot.push(u),
                // Kept, or nothing left to delete (an echo of our own
                // deletion finds both records gone).
                _ => self.drop_deleted_link(u).await,
            }
        }
        let in_salesforce = self.deleted_in_hubspot(in_salesforce).await;
        self.delete_in_hubspot(&in_hubspot).await;
        self.delete_in_salesforce(&in_salesforce).await;
    }

    /// The units whose HubSpot record is in HubSpot's recycle bin; the
    /// others (merged away) only lose their link.
    async fn deleted_in_hubspot(&mut self, units: Vec<usize>) -> Vec<usize> {
        let object = self.pair.hubspot_object_type();
        let mut deleted = Vec::new();
        for chunk in units.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
            match self.app.hubspot().archived_ids(object, &ids).await {
                Ok(archived) => {
                    let archived: HashSet<String> = archived.into_iter().collect();
                    for &u in chunk {
                        if self.units[u].hs_id.as_ref().is_some_and(|id| archived.contains(id)) {
                            deleted.push(u);
                        } else {
                            info!(pair = self.pair.as_str(), "GoneButNotDeleted");
                            self.drop_deleted_link(u).await;
                        }
                    }
                }
                Err(error) => self.fail_units(chunk, &error),
            }
        }
        deleted
    }

    /// Archives the HubSpot counterparts of Salesforce records deleted.
    async fn delete_in_hubspot(&mut self, units: &[usize]) {
        let object = self.pair.hubspot_object_type();
        for chunk in units.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|&u| self.counterpart(u, System::HubSpot)).collect();
            match self.app.hubspot().batch_archive(object, &ids).await {
                Ok(()) => {
                    for &u in chunk {
                        self.counterpart_deleted(u, System::HubSpot).await;
                    }
                }
                Err(error) => self.deletion_failed(chunk, &error, System::HubSpot).await,
            }
        }
    }

    /// Deletes the Salesforce counterparts of HubSpot records deleted.
    async fn delete_in_salesforce(&mut self, units: &[usize]) {
        for chunk in units.chunks(SALESFORCE_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|&u| self.counterpart(u, System::Salesforce)).collect();
            match self.app.salesforce().delete_records(&ids).await {
                Ok(results) => {
                    for (i, &u) in chunk.iter().enumerate() {
                        match results.get(i) {
                            Some(WriteResult::Ok { .. }) => self.counterpart_deleted(u, System::Salesforce).await,
                            Some(WriteResult::Err { code, .. }) if code == ENTITY_IS_DELETED => {
                                self.drop_deleted_link(u).await;
                            }
                            Some(WriteResult::Err { code, message }) => {
                                let (code, message) = (code.clone(), message.clone());
                                self.deletion_refused(u, System::Salesforce, &code, &message).await;
                            }
                            None => {
                                let message = "the CRM returned no result for this record";
                                self.deletion_refused(u, System::Salesforce, "MISSING_RESULT", message).await;
                            }
                        }
                    }
                }
                Err(error) => self.deletion_failed(chunk, &error, System::Salesforce).await,
            }
        }
    }

    /// The id on `side` of a unit's link: the counterpart to delete.
    fn counterpart(&self, u: usize, side: System) -> Option<String> {
        let link = self.units[u].link.as_ref()?;
        Some(match side {
            System::HubSpot => link.hubspot_id.clone(),
            System::Salesforce => link.salesforce_id.clone(),
        })
    }

    /// A counterpart on `side` deleted: counted, and the link goes.
    async fn counterpart_deleted(&mut self, u: usize, side: System) {
        let object = match side {
            System::HubSpot => self.pair.as_str().to_owned(),
            System::Salesforce => self.units[u].link.as_ref().map(|l| l.salesforce_object.clone()).unwrap_or_default(),
        };
        info!(pair = self.pair.as_str(), %side, "CounterpartDeleted");
        *self.stats.deleted.entry(format!("{side}:{object}")).or_default() += 1;
        self.drop_deleted_link(u).await;
    }

    /// A whole deletion call failed: retried when the CRM says so (the links
    /// stay, so the retry finds the counterparts again), else refused.
    async fn deletion_failed(&mut self, units: &[usize], error: &CrmError, side: System) {
        if error.is_retryable() {
            self.fail_units(units, error);
            return;
        }
        for &u in units {
            self.deletion_refused(u, side, &error.code, &error.message).await;
        }
    }

    /// The CRM refused to delete a unit's counterpart on `side`: a sync
    /// health entry under the counterpart's id, with the CRM's message, and
    /// the link is dropped all the same.
    async fn deletion_refused(&mut self, u: usize, side: System, code: &str, message: &str) {
        warn!(pair = self.pair.as_str(), %side, code, "CounterpartNotDeleted");
        let Some(link) = self.units[u].link.clone() else { return };
        let (key, deleted_side) = match side {
            System::HubSpot => (format!("{}:hubspot:{}", self.pair.as_str(), link.hubspot_id), System::Salesforce),
            System::Salesforce => {
                (format!("{}:salesforce:{}", self.pair.as_str(), link.salesforce_id), System::HubSpot)
            }
        };
        let report = ErrorReport {
            key,
            category: category_name(crm_error::category(side, code, message)),
            pair: self.pair,
            salesforce_id: Some(link.salesforce_id.clone()),
            hubspot_id: Some(link.hubspot_id.clone()),
            message: format!(
                "{code}: {message} (the record linked to a record deleted in {deleted_side} was not deleted; \
                 the link was dropped)"
            ),
            retryable: false,
        };
        *self.stats.errors.entry(report.category.clone()).or_default() += 1;
        match self.app.store().record_error(&report).await {
            Ok(_) => {
                self.units[u].result = Some(RecordResult::Failed(report.message));
                self.drop_deleted_link(u).await;
            }
            Err(error) => {
                // Keep the link: the retry meets the refusal again.
                warn!(%error, "ErrorNotRecorded");
                self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
            }
        }
    }

    /// Deletes a unit's link at the version read; losing that condition
    /// means another worker dropped or moved it first.
    async fn drop_deleted_link(&mut self, u: usize) {
        let Some(link) = self.units[u].link.take() else { return };
        if let Err(error) = self.app.store().delete_link(self.pair, &link.salesforce_id, link.version).await {
            warn!(%error, "LinkNotDeleted");
        }
    }
}
