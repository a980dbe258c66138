//! Merges on either side: the survivor keeps its own link and each loser's
//! link is dropped and reported; a survivor with no link inherits a loser's
//! (the person is the same, so it is not matched or created again).
//!
//! - Salesforce (Lead, Contact, Account): the loser goes to the Recycle Bin
//!   with `MasterRecordId` naming the survivor, and only `queryAll` still
//!   sees it. A linked unit whose record is gone asks whether it was merged
//!   (else it is a deletion, left to the write stage); a unit with no link
//!   asks whether linked records were merged into it. Both are one
//!   `queryAll` per 200 records and object, and only for those units.
//! - HubSpot: the merge's webhook names the records merged away (HubSpot no
//!   longer answers for them), and the survivor's intent carries them.

use super::{KEEPS_ITS_OWN, Moves, Survivor};
use crate::codec::soql_escape;
use crate::ports::SALESFORCE_BATCH;
use crate::usecases::sync::PairSync;
use crm_sync_domain::{SalesforceId, SfObject, System};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The field of a merged-away Salesforce record naming its survivor.
const MASTER_RECORD_FIELD: &str = "MasterRecordId";

/// Whether records of `object` merge in Salesforce.
fn merges(object: Option<SfObject>) -> bool {
    matches!(object, Some(SfObject::Lead | SfObject::Contact | SfObject::Account))
}

fn merged_into_salesforce(object: SfObject, survivor: &str) -> Survivor {
    Survivor { lost_side: System::Salesforce, text: format!("merged into Salesforce {object} {survivor}"), merge: true }
}

impl PairSync<'_> {
    /// Linked units whose Salesforce record is gone: when it was merged
    /// away, the survivor keeps its own link (this one is dropped) or, with
    /// none, inherits this one and the unit turns to it.
    pub(in crate::usecases::sync) async fn salesforce_merge_losers(&mut self, moves: &mut Moves) {
        let gone: Vec<usize> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none()
                    && unit.link.is_some()
                    && unit.sf_id.is_some()
                    && unit.sf.is_none()
                    && unit.hs.is_some()
                    && merges(unit.sf_object)
                    && !moves.turned(u)
            })
            .collect();
        if gone.is_empty() {
            return;
        }
        let survivors = self.merged_into(&gone, "Id").await;
        if survivors.is_empty() {
            return;
        }
        let survivor_ids: Vec<String> = survivors.values().cloned().collect();
        let Some(links) = self.links_or_retry(&survivor_ids, &[], &gone).await else { return };
        let mut gone: Vec<(String, usize)> =
            gone.into_iter().filter_map(|u| Some((self.units[u].sf_id.clone()?, u))).collect();
        gone.sort();
        for (loser, u) in gone {
            let (Some(survivor), Some(from)) = (survivors.get(&loser).cloned(), self.units[u].link.clone()) else {
                continue;
            };
            if self.units[u].result.is_some() || !moves.claim(&from) {
                continue;
            }
            let object = self.units[u].sf_object.unwrap_or(SfObject::Contact);
            let into = merged_into_salesforce(object, &survivor);
            if links.by_salesforce(&survivor).is_none() {
                self.turn_salesforce(u, object, &survivor, None, moves);
                if self.plan_relink(u, from.clone(), System::Salesforce, &into, moves) {
                    continue;
                }
            }
            self.drop_link(&from, &into, KEEPS_ITS_OWN, moves).await;
        }
    }

    /// Units with no link whose Salesforce record survived merges: the
    /// first linked loser (by id) passes its link to it, the other losers'
    /// links are dropped and reported.
    pub(in crate::usecases::sync) async fn salesforce_merge_survivors(&mut self, moves: &mut Moves) {
        let unlinked: Vec<usize> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none()
                    && unit.link.is_none()
                    && !unit.origin_missing
                    && unit.sf.is_some()
                    && unit.sf_id.is_some()
                    && merges(unit.sf_object)
                    && !moves.turned(u)
            })
            .collect();
        if unlinked.is_empty() {
            return;
        }
        let survivors = self.merged_into(&unlinked, MASTER_RECORD_FIELD).await;
        if survivors.is_empty() {
            return;
        }
        let loser_ids: Vec<String> = survivors.keys().cloned().collect();
        let Some(links) = self.links_or_retry(&loser_ids, &[], &unlinked).await else { return };
        let mut losers_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (loser, survivor) in survivors {
            losers_of.entry(survivor).or_default().push(loser);
        }
        for u in unlinked {
            let (Some(survivor), Some(object)) = (self.units[u].sf_id.clone(), self.units[u].sf_object) else {
                continue;
            };
            let Some(losers) = losers_of.get_mut(&survivor) else { continue };
            self.inherit_first(u, losers, &links, &merged_into_salesforce(object, &survivor), moves).await;
        }
    }

    /// Units of a HubSpot merge's survivor: with a link of its own it keeps
    /// it and the merged records' links are dropped; without one it inherits
    /// the first merged record's link (the primary's, when the merge made a
    /// new record) and the others are dropped.
    pub(in crate::usecases::sync) async fn hubspot_merges(&mut self, moves: &mut Moves) {
        let survivors: Vec<usize> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none() && !unit.merged.is_empty() && unit.hs.is_some()
            })
            .collect();
        if survivors.is_empty() {
            return;
        }
        let merged: Vec<String> = survivors.iter().flat_map(|&u| self.units[u].merged.clone()).collect();
        let Some(links) = self.links_or_retry(&[], &merged, &survivors).await else { return };
        for u in survivors {
            let survivor = self.units[u].hs_id.clone().unwrap_or_default();
            for merged in self.units[u].merged.clone() {
                let Some(from) = links.by_hubspot(&merged).cloned() else { continue };
                if self.units[u].result.is_some() || !moves.claim(&from) {
                    continue;
                }
                let into = Survivor {
                    lost_side: System::HubSpot,
                    text: format!("merged into HubSpot {} {survivor}", self.pair.as_str()),
                    merge: true,
                };
                if self.units[u].link.is_none() && !moves.turned(u) {
                    let unit = &mut self.units[u];
                    unit.sf_id = Some(from.salesforce_id.clone());
                    unit.sf_object = SfObject::parse(&from.salesforce_object);
                    if self.plan_relink(u, from.clone(), System::HubSpot, &into, moves) {
                        continue;
                    }
                    self.units[u].sf_id = None;
                }
                self.drop_link(&from, &into, KEEPS_ITS_OWN, moves).await;
            }
        }
    }

    /// Merged-away Salesforce records (`IsDeleted`, with a `MasterRecordId`)
    /// whose `field` is one of these units' ids, by `queryAll`: loser id ->
    /// survivor id. A failed query fails the units of its chunk.
    async fn merged_into(&mut self, units: &[usize], field: &str) -> HashMap<String, String> {
        let mut by_object: BTreeMap<SfObject, Vec<usize>> = BTreeMap::new();
        for &u in units {
            if let Some(object) = self.units[u].sf_object {
                by_object.entry(object).or_default().push(u);
            }
        }
        let mut survivors = HashMap::new();
        for (object, units) in by_object {
            for chunk in units.chunks(SALESFORCE_BATCH) {
                let list = chunk
                    .iter()
                    .filter_map(|&u| self.units[u].sf_id.as_deref().map(|id| format!("'{}'", soql_escape(id))))
                    .collect::<Vec<_>>()
                    .join(",");
                let soql = format!(
                    "SELECT Id, {MASTER_RECORD_FIELD} FROM {} WHERE IsDeleted = true AND {field} IN ({list})",
                    object.api_name()
                );
                match self.app.salesforce().query_all(&soql).await {
                    Ok(rows) => {
                        for row in rows {
                            let master = row.fields.get(MASTER_RECORD_FIELD).and_then(Value::as_str);
                            if let (Ok(loser), Some(Ok(survivor))) =
                                (SalesforceId::parse(&row.id), master.map(SalesforceId::parse))
                            {
                                survivors.insert(loser.as_str().to_owned(), survivor.as_str().to_owned());
                            }
                        }
                    }
                    Err(error) => self.fail_units(chunk, &error),
                }
            }
        }
        survivors
    }
}
