//! The oracle: what every modelled field must hold on each side, written
//! again from SPEC sections 1-4 and 6-8 without the domain's rule functions.
//!
//! It follows the people of one sequence (one group per email: at most one
//! HubSpot contact and one Salesforce Lead or Contact it syncs with, plus
//! the other records of that email, see [`duplicates`]) and is told what the
//! users did and which groups a step synced. For every sync it applies the
//! rules to what both sides hold and what the link remembers, and it counts
//! the writes each field needed, which bound the writes the sync may make.
//!
//! Reading of SPEC used here (and documented in docs/model-test.md):
//! - A link remembers, per field, what both sides held right after the sync
//!   that wrote (or compared) it; a field never written (before the first
//!   sync) gets the first-sync rules.
//! - "Most recent change" compares the records' modification times as the
//!   CRMs report them (Salesforce keeps no per-field times): Salesforce moves
//!   its time on every save, HubSpot only when a value changed.
//! - A first sync, a resync or an import applies the rules in full: a value
//!   fills a blank, Salesforce wins where the rule prefers it, a two-way
//!   conflict goes to the newer record, and a blank Salesforce value does not
//!   clear HubSpot.

use std::collections::{BTreeMap, BTreeSet};

mod duplicates;
mod hubspot_merges;

pub use duplicates::{Other, Rank};

/// A normalised value: `None` is blank. The opt-out is `Some("true")` when
/// opted out and `None` when not.
pub type Val = Option<String>;

/// The modelled fields, one per sync rule plus the opt-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Prefer Salesforce unless blank (the default rule).
    FirstName,
    /// Two-way (the example settings' Title).
    Title,
    /// Always use Salesforce.
    Phone,
    /// Don't sync.
    Fax,
    /// Email opt-out (SPEC section 4).
    OptOut,
    /// The owner (SPEC section 2): always two-way, translated through exact
    /// user matches. Values name people: `sam` has a HubSpot owner and a
    /// Salesforce user with the same name and email; `other` is a HubSpot
    /// owner and `integration` a Salesforce user with no match.
    Owner,
}

impl Field {
    pub const ALL: [Field; 6] = [Field::FirstName, Field::Title, Field::Phone, Field::Fax, Field::OptOut, Field::Owner];
    /// The fields a user edits as text.
    pub const TEXT: [Field; 4] = [Field::FirstName, Field::Title, Field::Phone, Field::Fax];

    pub fn hubspot(self) -> &'static str {
        match self {
            Field::FirstName => "firstname",
            Field::Title => "jobtitle",
            Field::Phone => "phone",
            Field::Fax => "fax",
            Field::OptOut => "hs_email_optout",
            Field::Owner => "hubspot_owner_id",
        }
    }

    pub fn salesforce(self) -> &'static str {
        match self {
            Field::FirstName => "FirstName",
            Field::Title => "Title",
            Field::Phone => "Phone",
            Field::Fax => "Fax",
            Field::OptOut => "HasOptedOutOfEmail",
            Field::Owner => "OwnerId",
        }
    }

    /// Values a user of `sys` picks from: few, so that edits collide. A
    /// Salesforce record always has an owner; a HubSpot contact may have none.
    pub fn values(self, sys: Sys) -> &'static [&'static str] {
        match self {
            Field::Owner if sys == Sys::Salesforce => &[OWNER_MATCHED, "integration"],
            Field::Owner => &[OWNER_MATCHED, "other"],
            Field::FirstName => &["Ada", "Grace", "Alan"],
            Field::Title => &["CEO", "CTO", "Rear Admiral"],
            Field::Phone => &["+1 555 0100", "+1 555 0199"],
            Field::Fax => &["+1 555 0300", "+1 555 0301"],
            Field::OptOut => &["true"],
        }
    }
}

/// The one owner with an exact match on the other side.
pub const OWNER_MATCHED: &str = "sam";
/// Who owns a Salesforce record the sync creates without a matched owner.
pub const OWNER_DEFAULT: &str = "integration";

/// Which system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sys {
    HubSpot,
    Salesforce,
}

/// How a sync applies the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A webhook, an outbound message or the sweep.
    Live,
    /// A manual resync (SPEC section 8): the rules in full.
    Forced,
}

/// One record as the oracle expects it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Side {
    pub values: BTreeMap<Field, Val>,
    /// Logical time of the record's last modification.
    pub modified: u64,
}

impl Side {
    pub fn get(&self, f: Field) -> Val {
        self.values.get(&f).cloned().flatten()
    }
}

/// One person: the records sharing an email, and what their link remembers.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub hubspot: Option<Side>,
    pub in_segment: bool,
    pub salesforce: Option<Side>,
    /// `None` until linked; per field, both sides' values after the last sync
    /// that wrote or compared it (`None`: never written).
    pub link: Option<BTreeMap<Field, Option<(Val, Val)>>>,
    /// The link was dropped because one side was deleted: the record left
    /// is kept, unlinked (SPEC section 1), until a sync links it again.
    pub orphaned: bool,
    /// The Salesforce record was merged into another person's record: its
    /// link, once dropped, is reported (SPEC section 1).
    pub merged_away: bool,
    /// The group whose Salesforce record this group's record was merged
    /// into (the survivor).
    pub merged_into: Option<usize>,
    /// The linked Lead was converted; its link has not moved yet.
    pub converted: bool,
    /// The id of the Salesforce record above, as the world names it.
    pub sf_id: Option<String>,
    /// What the pick rule reads of that record.
    pub sf_rank: Option<Rank>,
    /// The person's other Salesforce records (sharing the email), which the
    /// sync never writes or links ([`duplicates`]).
    pub others: Vec<Other>,
    /// Ids of other records a user deleted: a delivery or sweep naming one
    /// meets nothing (it has no link and no record left).
    pub gone_others: BTreeSet<String>,
    /// The contact was merged into another person's; the merge's webhook
    /// has not been delivered yet ([`hubspot_merges`]).
    pub hs_merge_pending: bool,
    /// The link was dropped by a HubSpot merge: it must be reported.
    pub hs_merge_dropped: bool,
    /// Counts the person's HubSpot contacts deleted or merged away: a
    /// contact made later is another record, so a merge into the one gone
    /// finds its survivor gone.
    pub hs_generation: u64,
    /// For a pending merge of this person's contact: the survivor's
    /// generation when the merge was made.
    pub hs_merge_survivor_generation: u64,
    /// The HubSpot contact holds a Lead's Company and its Status (fields
    /// the model does not follow), brought by the sync or an import from a
    /// Lead: a HubSpot merge carries either into a survivor without it,
    /// which moves the survivor's modification time.
    pub hs_lead_values: LeadValues,
    /// The Salesforce record is a Lead the sync made, with Salesforce's
    /// default Status, which no sync has read yet: the next sync of the
    /// pair that goes on (any trigger) brings it to a contact without one,
    /// which moves HubSpot's modification time.
    pub status_unsent: bool,
    /// The Last Name of the Salesforce record and of the HubSpot contact (a
    /// field the model does not follow, prefer-Salesforce): a first sync
    /// that finds them different writes Salesforce's to HubSpot, which
    /// moves HubSpot's modification time. The model's duplicates are named
    /// `Other<n>`, its other records and contacts `Person<n>`.
    pub sf_last_name: Option<String>,
    pub hs_last_name: Option<String>,
    /// The link was inherited from another contact: its Last Name is not
    /// remembered, so the next sync decides it as at a first sync.
    pub last_name_unsynced: bool,
    /// A HubSpot merge's survivor inherited a link to a record of another
    /// email: the sequence leaves both people alone from then on.
    pub frozen: bool,
    /// The other person of such a merge: writes are counted for the two
    /// together (a write lands before the world learns where the record went).
    pub partner: Option<usize>,
    /// A HubSpot merge's webhook dropped the link in this step: the records
    /// of that link sync no further in it (another record may enter).
    pub done_this_step: bool,
    /// The Lead the sync made for the HubSpot contact, while no sync in
    /// full has run since.
    pub lead_defaults: Option<String>,
    /// The Salesforce record is a Lead the sync created for the current
    /// HubSpot contact: it carries the contact's HubSpot id, its create key.
    pub lead_by_sync: bool,
    /// A converted Lead carries the current HubSpot contact's id: a new
    /// Lead for the contact, keyed by that id, lands on the read-only Lead
    /// and is refused (the contact is in sync health instead).
    pub id_held: bool,
    /// The Salesforce record is a converted Lead's Contact, whose Account
    /// (a field the model does not follow) no sync has written to HubSpot
    /// yet: the first sync that writes the contact brings its id over,
    /// which moves HubSpot's modification time.
    pub account_unsent: bool,
}

/// Which of a Lead's Company and Status a HubSpot contact holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeadValues {
    pub company: bool,
    pub status: bool,
}

impl LeadValues {
    pub const BOTH: LeadValues = LeadValues { company: true, status: true };
    pub const STATUS: LeadValues = LeadValues { company: false, status: true };

    /// Whether `other` holds one that this does not.
    pub fn lacks_any_of(self, other: LeadValues) -> bool {
        (other.company && !self.company) || (other.status && !self.status)
    }

    pub fn add(&mut self, other: LeadValues) {
        self.company |= other.company;
        self.status |= other.status;
    }
}

impl Group {
    pub fn side(&self, sys: Sys) -> Option<&Side> {
        match sys {
            Sys::HubSpot => self.hubspot.as_ref(),
            Sys::Salesforce => self.salesforce.as_ref(),
        }
    }
}

/// Writes the oracle expects per (system, group, field): all, and clears.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needed {
    pub writes: u32,
    pub clears: u32,
}

#[derive(Debug, Clone)]
pub struct Oracle {
    pub groups: Vec<Group>,
    /// Whether an inclusion segment is configured.
    pub segment: bool,
    pub needed: BTreeMap<(Sys, usize, Field), Needed>,
    clock: u64,
}

/// Which way one field travels.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Write {
    None,
    ToHubSpot(Val),
    ToSalesforce(Val),
    /// The rule would write a value with no exact owner match: not written
    /// (SPEC section 2). The link remembers what both sides hold, unequal:
    /// "the most recent change" of the owner is a user's change of the
    /// owner, so the sync's own writes to other fields, which move the
    /// records' modification times, never make an older owner win later.
    Unmatched,
}

/// The rule of one field under SPEC section 3 (and 4 for the opt-out).
/// `memory` is what the link remembers; `full` applies the rule in full.
fn rule(f: Field, sf: &Val, hs: &Val, memory: Option<&(Val, Val)>, full: bool, sf_newer: bool) -> Write {
    if f == Field::Fax || sf == hs {
        return Write::None;
    }
    let sf_changed = memory.is_none_or(|(m, _)| m != sf);
    let hs_changed = memory.is_none_or(|(_, m)| m != hs);
    if f == Field::OptOut {
        // Opting out is an act: only from the side where it happened since
        // the last sync, never before the first one, never an opt-in.
        if memory.is_none() {
            return Write::None;
        }
        return match (sf.is_some(), hs.is_some()) {
            (true, false) if sf_changed => Write::ToHubSpot(sf.clone()),
            (false, true) if hs_changed => Write::ToSalesforce(hs.clone()),
            _ => Write::None,
        };
    }
    if !full && !sf_changed && !hs_changed {
        return Write::None;
    }
    if f == Field::Owner {
        return match two_way(sf, hs, full, sf_changed, hs_changed, sf_newer) {
            Write::ToHubSpot(v) | Write::ToSalesforce(v) if v.as_deref() != Some(OWNER_MATCHED) => Write::Unmatched,
            write => write,
        };
    }
    match f {
        Field::FirstName => match (sf, hs) {
            (Some(_), _) => Write::ToHubSpot(sf.clone()),
            // Cleared in Salesforce: the clear travels, unless HubSpot
            // changed after it (then Salesforce is blank and takes HubSpot's).
            (None, _) if !full && sf_changed && (!hs_changed || sf_newer) => Write::ToHubSpot(None),
            (None, _) => Write::ToSalesforce(hs.clone()),
        },
        Field::Phone => match sf {
            Some(_) => Write::ToHubSpot(sf.clone()),
            None if full => Write::None,
            None => Write::ToHubSpot(None),
        },
        _ => two_way(sf, hs, full, sf_changed, hs_changed, sf_newer),
    }
}

/// The two-way rule: the changed side wins; both changed (or a first sync
/// with two values), the newer record; a first sync fills a blank.
fn two_way(sf: &Val, hs: &Val, full: bool, sf_changed: bool, hs_changed: bool, sf_newer: bool) -> Write {
    let newer = if sf_newer { Write::ToHubSpot(sf.clone()) } else { Write::ToSalesforce(hs.clone()) };
    if full {
        return match (sf, hs) {
            (None, _) => Write::ToSalesforce(hs.clone()),
            (_, None) => Write::ToHubSpot(sf.clone()),
            _ => newer,
        };
    }
    match (sf_changed, hs_changed) {
        (true, false) => Write::ToHubSpot(sf.clone()),
        (false, true) => Write::ToSalesforce(hs.clone()),
        _ => newer,
    }
}

impl Oracle {
    pub fn new(people: usize, segment: bool) -> Self {
        Oracle { groups: vec![Group::default(); people], segment, needed: BTreeMap::new(), clock: 0 }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// A user made a record (values blank unless given).
    pub fn created(&mut self, sys: Sys, g: usize, values: &BTreeMap<Field, Val>, in_segment: bool) {
        let mut side = Side { values: values.clone(), modified: self.tick() };
        if sys == Sys::Salesforce && side.get(Field::Owner).is_none() {
            side.values.insert(Field::Owner, Some(OWNER_DEFAULT.to_owned()));
        }
        let group = &mut self.groups[g];
        match sys {
            Sys::HubSpot => {
                group.hubspot = Some(side);
                group.in_segment = in_segment;
                group.hs_lead_values = LeadValues::default();
                group.hs_last_name = Some(format!("Person{g}"));
            }
            Sys::Salesforce => {
                group.salesforce = Some(side);
                group.sf_last_name = Some(format!("Person{g}"));
            }
        }
    }

    /// Whether the person's Salesforce record is a Lead.
    fn is_lead(&self, g: usize) -> bool {
        self.groups[g].sf_rank.is_some_and(|(lead, _)| lead)
    }

    /// A user set a field. Salesforce moves its modification time on every
    /// save; HubSpot only when the value changed.
    pub fn edited(&mut self, sys: Sys, g: usize, f: Field, value: Val) {
        let now = self.tick();
        let group = &mut self.groups[g];
        let side = match sys {
            Sys::HubSpot => group.hubspot.as_mut(),
            Sys::Salesforce => group.salesforce.as_mut(),
        };
        let Some(side) = side else { return };
        if sys == Sys::Salesforce || side.get(f) != value {
            side.modified = now;
        }
        side.values.insert(f, value);
    }

    pub fn segment(&mut self, g: usize, member: bool) {
        self.groups[g].in_segment = member;
    }

    fn count(&mut self, sys: Sys, g: usize, f: Field, old: &Val, new: &Val) {
        if old == new {
            return;
        }
        let n = self.needed.entry((sys, g, f)).or_default();
        n.writes += 1;
        if new.is_none() {
            n.clears += 1;
        }
    }

    /// A user deleted the group's record on one side. Its link is dropped
    /// by the next sync that meets the group (the deletion's webhook, or a
    /// sync of the record left); deletions do not travel (SPEC section 1).
    pub fn deleted(&mut self, sys: Sys, g: usize) {
        let group = &mut self.groups[g];
        match sys {
            Sys::HubSpot => {
                group.hubspot = None;
                group.hs_last_name = None;
                group.hs_lead_values = LeadValues::default();
                group.hs_generation += 1;
                group.in_segment = false;
                group.id_held = false;
            }
            Sys::Salesforce => {
                group.salesforce = None;
                group.sf_last_name = None;
                group.account_unsent = false;
                group.status_unsent = false;
            }
        }
        group.merged_away = false;
        group.lead_by_sync = false;
    }

    /// A Salesforce user merged the loser's linked record into the
    /// survivor's (SPEC section 1). The survivor keeps its values and its
    /// link, and its modification time moves. The loser's record is gone:
    /// its link is dropped, and reported, by the next sync that meets it
    /// (as for a deletion); its HubSpot contact is kept.
    pub fn merged_salesforce(&mut self, survivor: usize, loser: usize) {
        let now = self.tick();
        if let Some(side) = self.groups[survivor].salesforce.as_mut() {
            side.modified = now;
        }
        self.deleted(Sys::Salesforce, loser);
        // Reported only while its HubSpot contact is kept: with both
        // records gone, the link goes as for a deletion.
        self.groups[loser].merged_away = self.groups[loser].hubspot.is_some();
        self.groups[loser].merged_into = Some(survivor);
    }

    /// A sync from the Salesforce record of a survivor with no link of its
    /// own meets the links of the records merged into it: each goes (and
    /// is reported when its HubSpot contact is kept), since a link never
    /// joins two emails; the survivor then syncs as any unlinked record.
    /// As for a deletion, nothing else happens to the loser's records in
    /// that step (its HubSpot contact, named too, is not synced unlinked).
    fn drop_losers_of(&mut self, survivor: usize) {
        for group in &mut self.groups {
            if group.merged_into == Some(survivor) {
                group.merged_into = None;
                if group.link.take().is_some() {
                    group.orphaned = true;
                    group.done_this_step = true;
                }
            }
        }
    }

    /// A Salesforce user converted the group's linked Lead (SPEC section
    /// 1: its link passes to the Contact it became, at the next sync that
    /// meets the person). The Contact holds the Lead's First Name, Title and
    /// Phone, no Fax, no opt-out and the default owner.
    pub fn converted(&mut self, g: usize) {
        let now = self.tick();
        let group = &mut self.groups[g];
        let Some(lead) = &group.salesforce else { return };
        let mut values: BTreeMap<Field, Val> =
            [Field::FirstName, Field::Title, Field::Phone].into_iter().map(|f| (f, lead.get(f))).collect();
        values.insert(Field::Owner, Some(OWNER_DEFAULT.to_owned()));
        group.salesforce = Some(Side { values, modified: now });
        group.converted = true;
        group.account_unsent = true;
        group.status_unsent = false;
        group.id_held |= std::mem::take(&mut group.lead_by_sync);
    }

    /// The link of a converted Lead passes to its Contact: it keeps what it
    /// remembers of a field the Contact holds unchanged at that moment (a
    /// user's change since the conversion included), the owner as any
    /// other field; every other field gets the first-sync rules.
    fn move_converted(&mut self, g: usize) {
        let group = &mut self.groups[g];
        if !std::mem::take(&mut group.converted) {
            return;
        }
        let (Some(link), Some(contact)) = (&mut group.link, &group.salesforce) else { return };
        for (f, memory) in link.iter_mut() {
            if memory.as_ref().is_some_and(|(sf, _)| *sf != contact.get(*f)) {
                *memory = None;
            }
        }
    }

    /// A manual resync of a segment of every linked record (SPEC section
    /// 8): each is synced in full from its HubSpot side.
    pub fn resync_linked(&mut self) {
        for g in 0..self.groups.len() {
            if self.groups[g].link.is_some() {
                self.sync(g, Mode::Forced, &[Sys::HubSpot]);
            }
        }
    }

    /// An import of leads and contacts (SPEC section 7). A linked record is
    /// synced in full; any other creates or finds the HubSpot contact by its
    /// email, which gets Salesforce's values of every mapped field when it
    /// is in the inclusion segment (or the import adds it), else the email
    /// only. Only non-blank values are written (an import brings
    /// Salesforce's data; a blank brings nothing), no opt-out (a first
    /// sync), no owner without an exact match; the link remembers only what
    /// was written (and, for a contact it creates, counts as the first sync
    /// of the opt-out). A contact it creates holds blanks where Salesforce
    /// is blank: those fields are in sync at blank, as after a live sync
    /// that creates a record.
    pub fn import(&mut self, add_to_segment: bool) {
        self.import_picks();
        for g in 0..self.groups.len() {
            let group = self.groups[g].clone();
            let Some(sf) = group.salesforce else { continue };
            if group.link.is_some() {
                if add_to_segment && group.hubspot.is_some() {
                    self.groups[g].in_segment = true;
                }
                self.sync(g, Mode::Forced, &[Sys::Salesforce]);
                continue;
            }
            let created = group.hubspot.is_none();
            let mut hs = group.hubspot.unwrap_or_default();
            let in_segment = add_to_segment || (!created && group.in_segment);
            let full = !self.segment || in_segment;
            // A contact the import creates starts not opted out: that link is
            // its first sync for the opt-out, and an opt-out on either side
            // after it travels. One it finds has not had its first sync.
            let mut memory: BTreeMap<Field, Option<(Val, Val)>> = BTreeMap::new();
            if created {
                memory.insert(Field::OptOut, Some((sf.get(Field::OptOut), None)));
            }
            let mut wrote = false;
            for f in [Field::FirstName, Field::Title, Field::Phone, Field::Owner] {
                let value = sf.get(f);
                if value.is_none() && created {
                    // The contact it creates is blank there too: the import
                    // made that record, so the field is in sync (as after a
                    // live sync that creates a record).
                    memory.insert(f, Some((None, None)));
                    continue;
                }
                if !full || value.is_none() || (f == Field::Owner && value.as_deref() != Some(OWNER_MATCHED)) {
                    continue;
                }
                self.count(Sys::HubSpot, g, f, &hs.get(f), &value);
                wrote |= hs.get(f) != value;
                hs.values.insert(f, value.clone());
                memory.insert(f, Some((value.clone(), value)));
            }
            wrote |= full && !created && group.sf_last_name.is_some() && group.sf_last_name != group.hs_last_name;
            if wrote || created {
                hs.modified = self.tick();
            }
            let lead_values = full && self.is_lead(g);
            let group = &mut self.groups[g];
            if lead_values {
                group.hs_lead_values.add(LeadValues::BOTH);
            }
            // The import writes Salesforce's Last Name unless email only.
            if full {
                group.hs_last_name = group.sf_last_name.clone();
            } else if created {
                group.hs_last_name = None;
            }
            group.hubspot = Some(hs);
            group.in_segment = in_segment;
            group.link = Some(memory);
            group.orphaned = false;
        }
    }

    /// One sync of a group, triggered from the records of `named` sides.
    pub fn sync(&mut self, g: usize, mode: Mode, named: &[Sys]) {
        self.move_converted(g);
        let group = &self.groups[g];
        if named.contains(&Sys::Salesforce) && group.salesforce.is_some() && group.link.is_none() {
            self.drop_losers_of(g);
        }
        let group = self.groups[g].clone();
        // SPEC section 1: a linked record whose counterpart is gone loses
        // its link; nothing travels.
        if group.link.is_some() && (group.hubspot.is_none() || group.salesforce.is_none()) {
            let group = &mut self.groups[g];
            group.link = None;
            group.orphaned = true;
            group.merged_into = None;
            return;
        }
        // A deleted record with no link has nothing to sync.
        if !named.iter().any(|&sys| group.side(sys).is_some()) {
            return;
        }
        // SPEC section 2: an existing HubSpot contact outside the segment
        // gets no updates in either direction.
        if self.segment && group.hubspot.is_some() && !group.in_segment {
            return;
        }
        // A converted Lead holds the contact's id: no new Lead (reported).
        if group.salesforce.is_none() && group.id_held {
            return;
        }
        let mut sf = group.salesforce.clone().unwrap_or_else(|| Side {
            values: BTreeMap::from([(Field::Owner, Some(OWNER_DEFAULT.to_owned()))]),
            modified: 0,
        });
        let mut hs = group.hubspot.clone().unwrap_or_default();
        let sf_newer = sf.modified > hs.modified;
        let mut memory = BTreeMap::new();
        let mut wrote = (false, false);
        for f in Field::ALL {
            let last = group.link.as_ref().and_then(|l| l.get(&f).cloned().flatten());
            let full = mode == Mode::Forced || last.is_none();
            let (s, h) = (sf.get(f), hs.get(f));
            match rule(f, &s, &h, last.as_ref(), full, sf_newer) {
                Write::None => {}
                Write::Unmatched => {
                    // Both sides keep their owners, and the link remembers
                    // them: the owner is decided again only when a user
                    // changes it (see `Write::Unmatched`).
                    memory.insert(f, Some((s, h)));
                    continue;
                }
                Write::ToHubSpot(v) => {
                    self.count(Sys::HubSpot, g, f, &h, &v);
                    hs.values.insert(f, v);
                    wrote.1 = true;
                }
                Write::ToSalesforce(v) => {
                    self.count(Sys::Salesforce, g, f, &s, &v);
                    sf.values.insert(f, v);
                    wrote.0 = true;
                }
            }
            if f != Field::Fax {
                memory.insert(f, Some((sf.get(f), hs.get(f))));
            }
        }
        let created = (group.salesforce.is_none(), group.hubspot.is_none());
        // A conversion's Account id comes across with the first sync that
        // writes the contact.
        wrote.1 |= group.account_unsent && group.salesforce.is_some();
        // A made Lead's default Status comes across with the next sync.
        let status_came = group.status_unsent && !created.0 && !group.hs_lead_values.status;
        wrote.1 |= status_came;
        // A first sync (or one in full) sets HubSpot's Last Name to
        // Salesforce's.
        let last_name_first = group.link.is_none() || mode == Mode::Forced || group.last_name_unsynced;
        let last_name_came = last_name_first
            && !created.0
            && !created.1
            && group.sf_last_name.is_some()
            && group.sf_last_name != group.hs_last_name;
        wrote.1 |= last_name_came;
        if wrote.0 || created.0 {
            sf.modified = self.tick();
        }
        // A Lead the sync made holds Salesforce's defaults of fields the
        // model does not follow (Company, Status); the first sync in full
        // fills HubSpot's blanks with them, which moves its time.
        let defaults = mode == Mode::Forced
            && group.link.is_some()
            && group.hubspot.is_some()
            && group.lead_defaults.is_some()
            && group.lead_defaults == group.sf_id;
        if wrote.1 || created.1 || defaults {
            hs.modified = self.tick();
        }
        // A contact the sync makes from a Lead, or first syncs with an
        // existing one (a value fills a blank), or fills with a made Lead's
        // defaults, gets the Lead's Company and Status (a Lead the sync
        // makes brings none to the contact).
        let first_with_existing = group.link.is_none() && !created.0;
        let lead_values = self.is_lead(g) && (created.1 || first_with_existing || defaults);
        let status_read = group.status_unsent && !created.0;
        let group = &mut self.groups[g];
        if created.0 {
            group.sf_last_name = group.hs_last_name.clone();
        } else if (created.1 || last_name_first) && group.sf_last_name.is_some() {
            group.hs_last_name = group.sf_last_name.clone();
        }
        group.last_name_unsynced = false;
        if lead_values {
            group.hs_lead_values.add(LeadValues::BOTH);
        }
        if status_read {
            group.hs_lead_values.add(LeadValues::STATUS);
        }
        if status_read {
            group.status_unsent = false;
        }
        if created.0 {
            group.status_unsent = true;
        }
        group.salesforce = Some(sf);
        group.hubspot = Some(hs);
        group.link = Some(memory);
        group.orphaned = false;
        group.account_unsent = false;
        if defaults {
            group.lead_defaults = None;
        }
        group.lead_by_sync |= created.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_salesforce_clear_travels_but_a_first_sync_fills_blanks() {
        let v = |s: &str| Some(s.to_owned());
        let memory = (v("Ada"), v("Ada"));
        assert_eq!(rule(Field::FirstName, &None, &v("Ada"), Some(&memory), false, true), Write::ToHubSpot(None));
        assert_eq!(rule(Field::FirstName, &None, &v("Ada"), None, true, true), Write::ToSalesforce(v("Ada")));
        assert_eq!(rule(Field::Phone, &None, &v("1"), None, true, false), Write::None);
        assert_eq!(rule(Field::OptOut, &v("true"), &None, None, true, true), Write::None);
        assert_eq!(
            rule(Field::Title, &v("a"), &v("b"), Some(&(v("c"), v("c"))), false, false),
            Write::ToSalesforce(v("b"))
        );
    }
}
