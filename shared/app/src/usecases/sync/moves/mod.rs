//! Stage 2b: links move with their records (SPEC section 1).
//!
//! Owns what happens to a link when its record became another record: a
//! converted Lead's link passes to the Contact it became ([`conversion`]);
//! a merge keeps the survivor's link and drops the loser's, reported in sync
//! health under `duplicates` with the survivor named, and a survivor with no
//! link of its own inherits the loser's instead of being matched or created
//! again on the other side ([`merges`]). It runs after the read and before
//! matching, so that a unit whose link moved is planned against the records
//! it now names, and the email matching never sees it.
//!
//! A unit whose link moves is turned to the new record (its ids change), the
//! records it now names are read, and the link is moved with
//! [`relink`](super::links::relink) under the link state of
//! [`moved_link_state`]: fields the new record holds unchanged keep their
//! fingerprints, the others get the first-sync rules, so that what the
//! conversion or merge did not carry over is never read as cleared. Units
//! that now name the same record are folded into one.
//!
//! A deleted record (no merge, no conversion) is not handled here: its link
//! goes in the write stage ([`deletions`](super::deletions)), which keeps or
//! deletes the other side's record as the config says.

mod conversion;
mod merges;

pub(super) use conversion::CONVERTED_CONTACT_FIELD;

use super::links::relink;
use super::units::{LinkIndex, read_links};
use super::{PairSync, RACE_RETRY, RecordResult, Unit};
use crate::codec::{
    LIFECYCLE_KEY, category_name, decode_link_state, email_in, encode_link_state, hs_snapshot, sf_snapshot,
};
use crm_sync_domain::decision::{HUBSPOT_EMAIL_PROPERTY, SALESFORCE_EMAIL_FIELD};
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::moves::moved_link_state;
use crm_sync_domain::{SfObject, System};
use crm_sync_store::{ErrorReport, Link};
use std::collections::{BTreeSet, HashMap, HashSet};
use tracing::{info, warn};

/// A link to move to the records its unit now names, once they are read.
#[derive(Clone)]
struct Relink {
    unit: usize,
    /// The link as read, at the records it named before.
    from: Link,
    /// The side whose record changed.
    side: System,
    /// The record it moves to, for the sync-health entry when it cannot.
    to: Survivor,
}

/// The moves found in one batch.
#[derive(Default)]
pub(super) struct Moves {
    relinks: Vec<Relink>,
    /// Salesforce ids of the links being moved or dropped: each once.
    claimed: HashSet<String>,
    /// Records given a moved link in this batch (`salesforce:<id>`,
    /// `hubspot:<id>`): a second link for one of them is dropped instead.
    taken: HashSet<String>,
    /// Salesforce ids of the links dropped.
    dropped: HashSet<String>,
    /// Units turned to other records: read again.
    turned: BTreeSet<usize>,
}

impl Moves {
    /// Claims a link for a move or a drop; false when already claimed.
    fn claim(&mut self, link: &Link) -> bool {
        self.claimed.insert(link.salesforce_id.clone())
    }

    /// Whether a unit was turned to another record in this batch.
    fn turned(&self, u: usize) -> bool {
        self.turned.contains(&u)
    }
}

/// The record a dropped link's record went into, for its sync-health entry.
#[derive(Clone)]
pub(super) struct Survivor {
    /// The side of the record that went: its entry is filed by that id.
    lost_side: System,
    /// "merged into HubSpot contact 512", "converted to Salesforce Contact
    /// 003...".
    text: String,
    /// A merge: a link that cannot move (the survivor is gone too, or has
    /// another email) is dropped and reported. A conversion's link that
    /// cannot move (its Contact was deleted) goes as for a deletion.
    merge: bool,
}

/// Why a link was dropped instead of moved, in its sync-health entry.
const KEEPS_ITS_OWN: &str = "which keeps its own link";
const IS_GONE: &str = "which is gone too";
const OTHER_EMAIL: &str = "whose email is not the HubSpot contact's (a link never joins two emails)";

impl Unit {
    /// Forgets the unit's record on `side` (id and record read), so that
    /// the record on the other side goes on alone.
    fn clear_side(&mut self, side: System) {
        match side {
            System::Salesforce => (self.sf_id, self.sf) = (None, None),
            System::HubSpot => (self.hs_id, self.hs) = (None, None),
        }
    }
}

impl PairSync<'_> {
    /// Follows every record of the batch that moved: conversions, then
    /// Salesforce merges, then HubSpot merges.
    pub(super) async fn follow_moves(&mut self) {
        let mut moves = Moves::default();
        self.converted_leads(&mut moves).await;
        self.contacts_of_converted_leads(&mut moves).await;
        self.salesforce_merge_losers(&mut moves).await;
        self.salesforce_merge_survivors(&mut moves).await;
        self.hubspot_merges(&mut moves).await;
        if moves.turned.is_empty() && moves.dropped.is_empty() {
            return;
        }
        let turned: Vec<usize> = moves.turned.iter().copied().filter(|&u| self.units[u].result.is_none()).collect();
        for &u in &turned {
            self.units[u].sf = None;
            self.units[u].hs = None;
        }
        self.read_units(&turned).await;
        self.store_moved_links(&mut moves).await;
        self.fold(&moves);
    }

    /// Turns a unit to another Salesforce record (the Contact of its Lead,
    /// a merge survivor), with the link that record has, if any.
    fn turn_salesforce(&mut self, u: usize, object: SfObject, id: &str, own_link: Option<&Link>, moves: &mut Moves) {
        let unit = &mut self.units[u];
        unit.sf_object = Some(object);
        unit.sf_id = Some(id.to_owned());
        if let Some(link) = own_link {
            unit.hs_id = Some(link.hubspot_id.clone());
            unit.link = Some(link.clone());
        }
        moves.turned.insert(u);
    }

    /// Plans moving `from` to the records the unit names once turned, read
    /// later in the stage. False, with nothing planned, when the new record
    /// already received a moved link in this batch: the caller drops `from`.
    fn plan_relink(&mut self, u: usize, from: Link, side: System, to: &Survivor, moves: &mut Moves) -> bool {
        let unit = &self.units[u];
        let target = match side {
            System::Salesforce => format!("salesforce:{}", unit.sf_id.clone().unwrap_or_default()),
            System::HubSpot => format!("hubspot:{}", unit.hs_id.clone().unwrap_or_default()),
        };
        if !moves.taken.insert(target) {
            return false;
        }
        moves.turned.insert(u);
        moves.relinks.push(Relink { unit: u, from, side, to: to.clone() });
        true
    }

    /// A Salesforce record with no link that other records went into (the
    /// Contact of converted Leads, a merge survivor): the first of their
    /// links, by id, moves to it; the others are dropped and reported.
    async fn inherit_first(
        &mut self,
        u: usize,
        losers: &mut [String],
        links: &LinkIndex,
        survivor: &Survivor,
        moves: &mut Moves,
    ) {
        losers.sort();
        for loser in losers.iter() {
            let Some(from) = links.by_salesforce(loser).cloned() else { continue };
            // Claimed by the loser's own unit, which turned to this record:
            // the two units fold into one.
            if self.units[u].result.is_some() || !moves.claim(&from) {
                continue;
            }
            if self.units[u].hs_id.is_none() {
                self.units[u].hs_id = Some(from.hubspot_id.clone());
                if self.plan_relink(u, from.clone(), System::Salesforce, survivor, moves) {
                    continue;
                }
                self.units[u].hs_id = None;
            }
            self.drop_link(&from, survivor, KEEPS_ITS_OWN, moves).await;
        }
    }

    /// Drops a link whose record went into a survivor it cannot move to
    /// (`why`: the survivor keeps its own link, is gone too, or has another
    /// email), and reports it in sync health under `duplicates`, naming the
    /// survivor. The other side's record is kept.
    pub(super) async fn drop_link(&mut self, link: &Link, survivor: &Survivor, why: &str, moves: &mut Moves) {
        moves.dropped.insert(link.salesforce_id.clone());
        match self.app.store().delete_link(self.pair, &link.salesforce_id, link.version).await {
            Ok(true) => {}
            // Another worker moved or dropped it first.
            Ok(false) => return,
            Err(error) if error.is_condition_failed() => return,
            Err(error) => {
                warn!(%error, "LinkNotDropped");
                return;
            }
        }
        info!(pair = self.pair.as_str(), "MergedLinkDropped");
        let (key_side, key_id) = match survivor.lost_side {
            System::HubSpot => ("hubspot", &link.hubspot_id),
            System::Salesforce => ("salesforce", &link.salesforce_id),
        };
        let report = ErrorReport {
            key: format!("{}:{key_side}:{key_id}", self.pair.as_str()),
            category: category_name(ErrorCategory::Duplicates),
            pair: self.pair,
            salesforce_id: Some(link.salesforce_id.clone()),
            hubspot_id: Some(link.hubspot_id.clone()),
            message: format!(
                "{}, {why}: the link between Salesforce {} {} and HubSpot {} was dropped",
                survivor.text, link.salesforce_object, link.salesforce_id, link.hubspot_id
            ),
            retryable: false,
        };
        if let Err(error) = self.app.store().record_error(&report).await {
            warn!(%error, "ErrorNotRecorded");
        }
        *self.stats.errors.entry(report.category).or_default() += 1;
    }

    /// Moves the planned links to the records their units now name, read
    /// just before. A link that cannot move is dropped: a conversion's
    /// whose Contact is gone as for a deleted record (nothing else happens
    /// in this sync); a merge's whose survivor is gone too, or whose
    /// survivor's email is not the HubSpot contact's, with a report (the
    /// survivor is then matched by its own email, as any unlinked record).
    async fn store_moved_links(&mut self, moves: &mut Moves) {
        let now = self.app.clock().now();
        for planned in moves.relinks.clone() {
            let u = planned.unit;
            if self.units[u].result.is_some() {
                continue;
            }
            let unit = &self.units[u];
            let object = unit.sf_object.unwrap_or(SfObject::Lead);
            let moved_to = match planned.side {
                System::Salesforce => unit.sf.as_ref().and_then(|r| sf_snapshot(r, object)),
                System::HubSpot => unit.hs.as_ref().and_then(|r| hs_snapshot(r, self.pair)),
            };
            let (Some(moved_to), Some(sf_id), Some(hs_id), true) =
                (moved_to, unit.sf_id.clone(), unit.hs_id.clone(), unit.sf.is_some() && unit.hs.is_some())
            else {
                let survivor_gone = match planned.side {
                    System::Salesforce => unit.sf.is_none(),
                    System::HubSpot => unit.hs.is_none(),
                };
                if planned.to.merge && survivor_gone {
                    // The unit keeps the dropped link: it is folded away.
                    self.drop_link(&planned.from, &planned.to, IS_GONE, moves).await;
                    continue;
                }
                // The record at the other end, or a converted Lead's
                // Contact, was deleted: the link goes as for a deletion.
                if let Err(error) =
                    self.app.store().delete_link(self.pair, &planned.from.salesforce_id, planned.from.version).await
                {
                    warn!(%error, "LinkNotDeleted");
                }
                info!(pair = self.pair.as_str(), "MovedRecordGone");
                self.units[u].link = None;
                if survivor_gone {
                    // Nothing else happens in this sync, as for a deletion.
                    self.units[u].result = Some(RecordResult::Done);
                } else {
                    // The survivor goes on alone, matched by its own key.
                    self.units[u].clear_side(planned.side.other());
                }
                continue;
            };
            if planned.to.merge && planned.side == System::Salesforce && !self.one_email(u) {
                self.drop_link(&planned.from, &planned.to, OTHER_EMAIL, moves).await;
                self.units[u].link = None;
                self.units[u].clear_side(System::HubSpot);
                continue;
            }
            let state = moved_link_state(
                self.app.config(),
                self.pair,
                object,
                &decode_link_state(&planned.from.fingerprints),
                &moved_to,
            );
            let mut fingerprints = encode_link_state(&state);
            if let Some(stage) = planned.from.fingerprints.get(LIFECYCLE_KEY) {
                fingerprints.insert(LIFECYCLE_KEY.to_owned(), stage.clone());
            }
            let to = Link {
                pair: self.pair,
                salesforce_object: object.api_name().to_owned(),
                salesforce_id: sf_id,
                hubspot_id: hs_id,
                fingerprints,
                version: 0,
                updated_at: now,
            };
            match relink(self.app.store(), &planned.from, to).await {
                Ok(link) => {
                    info!(pair = self.pair.as_str(), side = %planned.side, "LinkMoved");
                    self.units[u].link = Some(link);
                }
                Err(error) => {
                    // Another worker moved it first, or the store failed:
                    // read everything again.
                    warn!(%error, "LinkNotMoved");
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
            }
        }
    }

    /// Whether a unit's Salesforce record and HubSpot contact carry the
    /// same email (the contact match key), both read.
    fn one_email(&self, u: usize) -> bool {
        let unit = &self.units[u];
        let salesforce = unit.sf.as_ref().and_then(|r| email_in(&r.fields, SALESFORCE_EMAIL_FIELD));
        let hubspot = unit.hs.as_ref().and_then(|r| email_in(&r.properties, HUBSPOT_EMAIL_PROPERTY));
        salesforce.is_some() && salesforce == hubspot
    }

    /// Folds units that now name the same record into one (the unit that
    /// moved the link first), and finishes units whose link was dropped.
    fn fold(&mut self, moves: &Moves) {
        let movers: Vec<usize> = moves.relinks.iter().map(|r| r.unit).collect();
        let order = movers.iter().copied().chain((0..self.units.len()).filter(|u| !movers.contains(u)));
        let mut by_sf: HashMap<String, usize> = HashMap::new();
        let mut by_hs: HashMap<String, usize> = HashMap::new();
        for u in order.collect::<Vec<_>>() {
            let holds_dropped = self.units[u].link.as_ref().is_some_and(|l| moves.dropped.contains(&l.salesforce_id));
            if holds_dropped {
                self.units[u].link = None;
                self.units[u].result.get_or_insert(RecordResult::Done);
                continue;
            }
            let (sf_id, hs_id) = (self.units[u].sf_id.clone(), self.units[u].hs_id.clone());
            let twin =
                sf_id.as_ref().and_then(|id| by_sf.get(id)).or_else(|| hs_id.as_ref().and_then(|id| by_hs.get(id)));
            if let Some(&twin) = twin {
                let keys = std::mem::take(&mut self.units[u].intent_keys);
                let forced = self.units[u].forced;
                self.units[twin].intent_keys.extend(keys);
                self.units[twin].forced |= forced;
                self.units[u].result = Some(RecordResult::Done);
                continue;
            }
            if let Some(id) = sf_id {
                by_sf.insert(id, u);
            }
            if let Some(id) = hs_id {
                by_hs.insert(id, u);
            }
        }
    }

    /// The links of these ids; when the store cannot be read, the units
    /// are tried again and `None` comes back.
    async fn links_or_retry(
        &mut self,
        salesforce_ids: &[String],
        hubspot_ids: &[String],
        units: &[usize],
    ) -> Option<LinkIndex> {
        match read_links(self.app, self.pair, salesforce_ids, hubspot_ids).await {
            Ok(links) => Some(links),
            Err(error) => {
                warn!(%error, "LinksUnreadable");
                for &u in units {
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
                None
            }
        }
    }
}
