//! HubSpot merges (SPEC section 1: "a merge keeps the link of the survivor
//! (on either side) and reports the loser's"; docs/architecture.md: a
//! survivor with no link of its own inherits the loser's).
//!
//! What HubSpot does to the records, as the sandbox does it: the survivor
//! keeps its email and its values, and each of its blank properties takes
//! the loser's value (the opt-out is never blank: a contact is created
//! "false"); its modification time moves when a value came across. The
//! loser's contact is gone (not in the recycle bin) and its email is free.
//!
//! The links are decided when the merge's webhook reaches the sync (the
//! sweep does not list merges): then the survivor keeps its own link and
//! the loser's is dropped and reported, or, with no link of its own, the
//! survivor inherits it. A merge webhook that never arrives leaves the
//! loser's link to be dropped as for a deletion, by the next sync that
//! meets its Salesforce record.

use super::{Field, Oracle};

impl Oracle {
    /// A HubSpot user merged the loser's contact into the survivor's.
    pub fn merged_hubspot(&mut self, survivor: usize, loser: usize) {
        let Some(lost) = self.groups[loser].hubspot.take() else { return };
        let lost_lead_values = std::mem::take(&mut self.groups[loser].hs_lead_values);
        let lost_last_name = self.groups[loser].hs_last_name.take();
        let now = self.tick();
        let survivor_group = &mut self.groups[survivor];
        // A Lead's Company and Status come across into a survivor without.
        let lead_values_came = survivor_group.hs_lead_values.lacks_any_of(lost_lead_values);
        if let Some(kept) = survivor_group.hubspot.as_mut() {
            survivor_group.hs_lead_values.add(lost_lead_values);
            let mut moved = lead_values_came;
            if survivor_group.hs_last_name.is_none() && lost_last_name.is_some() {
                survivor_group.hs_last_name = lost_last_name;
                moved = true;
            }
            for f in Field::ALL.into_iter().filter(|&f| f != Field::OptOut) {
                if kept.get(f).is_none() && lost.get(f).is_some() {
                    kept.values.insert(f, lost.get(f));
                    moved = true;
                }
            }
            if moved {
                kept.modified = now;
            }
        }
        let survivor_generation = self.groups[survivor].hs_generation;
        let group = &mut self.groups[loser];
        // The contact merged away is gone: one made later is another.
        group.hs_generation += 1;
        group.in_segment = false;
        // Only a link of the contact merged away is the merge's to decide.
        group.hs_merge_pending = group.link.is_some();
        group.hs_merge_survivor_generation = survivor_generation;
    }

    /// The person whose writes are counted with this one's (the smaller of
    /// a merge's pair that inherited a link of another email).
    pub fn counted_with(&self, g: usize) -> usize {
        self.groups[g].partner.map_or(g, |p| p.min(g))
    }

    /// The merge's webhook reached the sync. Returns whether the survivor
    /// inherited the loser's link (and with it the loser's Salesforce
    /// record, of another email: the sequence then leaves both alone).
    /// The inherited link remembers a field only where the survivor holds
    /// what the loser's contact held at the last sync; the owner is
    /// compared again.
    pub fn hubspot_merge_delivered(&mut self, survivor: usize, loser: usize) -> bool {
        // A link left on a record the pick beat: dropped and reported.
        for other in &mut self.groups[loser].others {
            if std::mem::take(&mut other.merge_pending) && other.stale_link {
                other.stale_link = false;
                other.orphaned = false;
            }
        }
        // The survivor deleted since (a contact of its email made later is
        // another record): the merge is not followed.
        let survivor_gone = self.groups[survivor].hubspot.is_none()
            || self.groups[survivor].hs_generation != self.groups[loser].hs_merge_survivor_generation;
        if !std::mem::take(&mut self.groups[loser].hs_merge_pending)
            || self.groups[loser].link.is_none()
            || survivor_gone
        {
            return false;
        }
        if self.groups[survivor].link.is_some() {
            let group = &mut self.groups[loser];
            group.link = None;
            group.orphaned = true;
            group.hs_merge_dropped = true;
            // The sync of the dropped link's records ends there.
            group.done_this_step = true;
            return false;
        }
        let lost = &mut self.groups[loser];
        let (salesforce, sf_id, sf_rank) = (lost.salesforce.take(), lost.sf_id.take(), lost.sf_rank.take());
        let sf_last_name = lost.sf_last_name.take();
        let mut link = lost.link.take().unwrap_or_default();
        lost.frozen = true;
        lost.partner = Some(survivor);
        let group = &mut self.groups[survivor];
        let Some(kept) = &group.hubspot else { return false };
        for (f, memory) in link.iter_mut() {
            if *f == Field::Owner || memory.as_ref().is_some_and(|(_, hs)| *hs != kept.get(*f)) {
                *memory = None;
            }
        }
        group.salesforce = salesforce;
        group.sf_id = sf_id;
        group.sf_rank = sf_rank;
        group.sf_last_name = sf_last_name;
        group.last_name_unsynced = true;
        group.link = Some(link);
        group.orphaned = false;
        group.frozen = true;
        group.partner = Some(loser);
        true
    }
}
