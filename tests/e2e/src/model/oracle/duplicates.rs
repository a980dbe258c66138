//! Several Salesforce records with one email (SPEC section 1), read from
//! SPEC and docs/config.md ("Duplicates by email"), not from the product:
//!
//! - The rule picks one record per email: a Contact over a Lead, then the
//!   oldest (the records of a sequence are never converted Leads: the
//!   model's conversions leave the Lead out of the person's records).
//! - A record "enters" when it has no link and a delivery, the sweep, a
//!   resync or an import names it. Entering, the pick syncs (a first sync);
//!   any other record is quarantined: never written, never linked, and
//!   reported under `duplicates`.
//! - A pick that enters while the person's HubSpot contact is linked to
//!   another record (a better record appeared, or the linked one is gone)
//!   takes the link over and syncs as a first sync; the record it beat is
//!   reported (outside the inclusion segment, the beaten record's link is
//!   dropped and reported, nothing is written and nothing linked: the
//!   first sync comes when the contact joins).
//!   With the HubSpot contact gone, the pick gets a new one and
//!   the record it beat keeps its link to the deleted contact until a sync
//!   meets it (then dropped, as for any deletion).
//! - A linked record is not decided again: a sync from HubSpot, or of the
//!   linked record itself, syncs the linked pair.

use super::{Field, Mode, OWNER_DEFAULT, Oracle, Side, Sys, Val};
use std::collections::{BTreeMap, BTreeSet};

/// What the rule reads of a record: whether it is a Lead, and its place
/// in the order of creation. The smallest is picked.
pub type Rank = (bool, u64);

/// One of a person's Salesforce records other than the one it syncs with.
#[derive(Debug, Clone)]
pub struct Other {
    pub id: String,
    pub side: Side,
    pub rank: Rank,
    /// Still linked to a HubSpot contact that was deleted before the pick
    /// took over; the next sync that meets it drops that link.
    pub stale_link: bool,
    /// That link was dropped and the record has not entered since: like a
    /// record kept after its counterpart's deletion, it is not reported yet.
    pub orphaned: bool,
    /// That deleted contact was merged away, and the merge's webhook (which
    /// drops and reports the link) has not come yet.
    pub merge_pending: bool,
    /// The record's Last Name (a field the model does not follow).
    pub last_name: Option<String>,
}

impl Oracle {
    /// A Salesforce user created another record with the group's email.
    pub fn created_duplicate(&mut self, g: usize, id: String, rank: Rank, values: &BTreeMap<Field, Val>) {
        let mut side = Side { values: values.clone(), modified: self.tick() };
        if side.get(Field::Owner).is_none() {
            side.values.insert(Field::Owner, Some(OWNER_DEFAULT.to_owned()));
        }
        let last_name = Some(format!("Other{g}"));
        let other = Other { id, side, rank, stale_link: false, orphaned: false, merge_pending: false, last_name };
        self.groups[g].others.push(other);
    }

    /// A Salesforce user set a field of one of the group's other records.
    pub fn edited_duplicate(&mut self, g: usize, id: &str, f: Field, value: Val) {
        let now = self.tick();
        if let Some(other) = self.groups[g].others.iter_mut().find(|o| o.id == id) {
            other.side.modified = now;
            other.side.values.insert(f, value);
        }
    }

    /// A Salesforce user deleted one of the group's other records.
    pub fn deleted_duplicate(&mut self, g: usize, id: &str) {
        let group = &mut self.groups[g];
        let before = group.others.len();
        group.others.retain(|o| o.id != id);
        if group.others.len() < before {
            group.gone_others.insert(id.to_owned());
        }
    }

    /// The id of the record the rule picks among the group's live records.
    pub fn pick(&self, g: usize) -> Option<String> {
        let group = &self.groups[g];
        let main = group.salesforce.as_ref().and(group.sf_id.as_ref()).map(|id| (group.sf_rank, id));
        let others = group.others.iter().map(|o| (Some(o.rank), &o.id));
        main.into_iter()
            .chain(others)
            .min_by_key(|(rank, _)| rank.unwrap_or((true, u64::MAX)))
            .map(|(_, id)| id.clone())
    }

    /// Makes one of the others the record the group syncs with; the one it
    /// replaces, when live, becomes one of the others (`stale`: still linked
    /// to a deleted HubSpot contact).
    fn promote(&mut self, g: usize, id: &str, stale: bool) {
        let group = &mut self.groups[g];
        let Some(i) = group.others.iter().position(|o| o.id == id) else { return };
        let other = group.others.remove(i);
        let (side, old_id, old_rank) = (group.salesforce.take(), group.sf_id.take(), group.sf_rank.take());
        // A merge still to decide the old link follows it.
        let merge_pending = stale && std::mem::take(&mut group.hs_merge_pending);
        if let (Some(side), Some(old_id)) = (side, old_id) {
            let rank = old_rank.unwrap_or((true, u64::MAX));
            let last_name = group.sf_last_name.take();
            group.others.push(Other {
                id: old_id,
                side,
                rank,
                stale_link: stale,
                orphaned: false,
                merge_pending,
                last_name,
            });
        }
        group.salesforce = Some(other.side);
        group.sf_last_name = other.last_name;
        group.account_unsent = false;
        group.status_unsent = false;
        group.sf_id = Some(other.id);
        group.sf_rank = Some(other.rank);
    }

    /// Without a link, the record the group would sync with is the pick.
    fn relabel(&mut self, g: usize) {
        if self.groups[g].link.is_some() {
            return;
        }
        if let Some(pick) = self.pick(g)
            && self.groups[g].sf_id.as_ref() != Some(&pick)
        {
            self.promote(g, &pick, false);
        }
    }

    /// A live sync step of a group: `named` are the sides named, `sf_ids`
    /// the Salesforce records named (delivered, swept or resynced; the
    /// group's own, live or gone).
    pub fn enter(&mut self, g: usize, mode: Mode, named: &[Sys], sf_ids: &BTreeSet<String>) {
        self.forget_dropped_merge(g);
        self.relabel(g);
        for other in &mut self.groups[g].others {
            if !sf_ids.contains(&other.id) {
                continue;
            }
            if std::mem::take(&mut other.stale_link) {
                other.orphaned = true;
                other.merge_pending = false;
            } else {
                // It entered and lost: quarantined, and reported.
                other.orphaned = false;
            }
        }
        let group = &self.groups[g];
        if let Some(pick) = self.pick(g)
            && sf_ids.contains(&pick)
            && group.sf_id.as_ref() != Some(&pick)
        {
            // The pick takes the HubSpot contact over (a first sync), or
            // gets a new one when it is gone.
            let stale = group.hubspot.is_none();
            self.promote(g, &pick, stale);
            let group = &mut self.groups[g];
            group.link = None;
            group.orphaned = false;
            // Outside the segment nothing is written and nothing linked:
            // the link of the record it beat is dropped, and the pick's
            // first sync comes when the contact joins.
            self.sync(g, Mode::Live, &[Sys::Salesforce]);
            return;
        }
        let others: BTreeSet<&String> = group.others.iter().map(|o| &o.id).collect();
        // A deleted other record named meets nothing: it has no link left
        // to the person's records.
        let main_named = sf_ids
            .iter()
            .any(|id| Some(id) == group.sf_id.as_ref() || (!others.contains(id) && !group.gone_others.contains(id)));
        let named: Vec<Sys> = named.iter().copied().filter(|&s| s == Sys::HubSpot || main_named).collect();
        if named.is_empty() {
            // Only other records entered (and were quarantined): the sync
            // does not meet the person's linked records.
            return;
        }
        let made = self.groups[g].salesforce.is_none() && self.groups[g].hubspot.is_some();
        self.sync(g, mode, &named);
        self.forget_dropped_merge(g);
        let group = &mut self.groups[g];
        if made && group.salesforce.is_some() {
            group.lead_defaults = group.sf_id.clone();
        }
    }

    /// A link a HubSpot merge was to decide, dropped meanwhile as for a
    /// deletion: the merge's webhook coming later finds nothing of it, nor
    /// of any link made after.
    fn forget_dropped_merge(&mut self, g: usize) {
        let group = &mut self.groups[g];
        if group.link.is_none() {
            group.hs_merge_pending = false;
        }
    }

    /// Before an import: it reads every record, so each email's pick is
    /// decided over all of them. The others are reported (a linked one
    /// keeps its link); a pick that is not the linked record takes the
    /// link over (the import upserts its HubSpot contact and moves the link).
    pub(super) fn import_picks(&mut self) {
        for g in 0..self.groups.len() {
            self.forget_dropped_merge(g);
            self.relabel(g);
            for other in &mut self.groups[g].others {
                other.orphaned = false;
            }
            if let Some(pick) = self.pick(g)
                && self.groups[g].sf_id.as_ref() != Some(&pick)
            {
                let stale = self.groups[g].hubspot.is_none();
                self.promote(g, &pick, stale);
                let group = &mut self.groups[g];
                group.link = None;
                group.orphaned = false;
            }
        }
    }
}
