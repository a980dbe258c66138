//! Stage 1: units from intents and links.
//!
//! Owns turning the batch's intents into one [`Unit`] per record, joined
//! through the stored links, so that a Salesforce intent and a HubSpot intent
//! for two linked records become one unit (and one sync), and reading links
//! for the whole pipeline: every stage that needs links gathers its ids
//! first and reads them through [`read_links`], one store call per batch
//! (never one per record). It reads the store only, never a CRM, and writes
//! nothing.

use super::{PairSync, Unit};
use crate::App;
use crm_sync_domain::intent::IntentObject;
use crm_sync_domain::model::RecordId;
use crm_sync_domain::{ObjectPair, SfObject, SyncIntent};
use crm_sync_store::{Link, StoreResult};
use std::collections::{BTreeSet, HashMap};

/// The stored links of one object pair, found by either id.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkIndex {
    by_salesforce: HashMap<String, Link>,
    by_hubspot: HashMap<String, Link>,
}

impl LinkIndex {
    /// Files a link under both of its ids.
    fn insert(&mut self, link: Link) {
        self.by_hubspot.insert(link.hubspot_id.clone(), link.clone());
        self.by_salesforce.insert(link.salesforce_id.clone(), link);
    }

    /// The link of a Salesforce record.
    pub(crate) fn by_salesforce(&self, id: &str) -> Option<&Link> {
        self.by_salesforce.get(id)
    }

    /// The link of a HubSpot record.
    pub(crate) fn by_hubspot(&self, id: &str) -> Option<&Link> {
        self.by_hubspot.get(id)
    }
}

/// Reads the links of `pair` for these Salesforce and HubSpot ids with the
/// store's batch reads: one store call per side that has ids (a batch from
/// one trigger names one side, so usually one call), never one per record.
/// Ids that appear twice are read once; ids with no link are simply absent
/// from the index.
pub(crate) async fn read_links(
    app: &App,
    pair: ObjectPair,
    salesforce_ids: &[String],
    hubspot_ids: &[String],
) -> StoreResult<LinkIndex> {
    let store = app.store();
    let salesforce_ids: Vec<String> = salesforce_ids.iter().collect::<BTreeSet<_>>().into_iter().cloned().collect();
    let hubspot_ids: Vec<String> = hubspot_ids.iter().collect::<BTreeSet<_>>().into_iter().cloned().collect();
    let mut index = LinkIndex::default();
    if !salesforce_ids.is_empty() {
        for link in store.get_links_by_salesforce_ids(pair, &salesforce_ids).await? {
            index.insert(link);
        }
    }
    if !hubspot_ids.is_empty() {
        for link in store.get_links_by_hubspot_ids(pair, &hubspot_ids).await? {
            index.insert(link);
        }
    }
    Ok(index)
}

impl PairSync<'_> {
    /// Builds one unit per record, joined through stored links (read for all
    /// the intents at once).
    pub(super) async fn collect(&mut self, intents: &[SyncIntent]) -> StoreResult<()> {
        let mut salesforce_ids = Vec::new();
        let mut hubspot_ids = Vec::new();
        for intent in intents {
            match intent.record_id() {
                RecordId::Salesforce(id) => salesforce_ids.push(id.as_str().to_owned()),
                RecordId::HubSpot(id) => hubspot_ids.push(id.as_str().to_owned()),
            }
        }
        let links = read_links(self.app, self.pair, &salesforce_ids, &hubspot_ids).await?;
        self.join(intents, &links);
        Ok(())
    }

    /// One unit per record: an intent whose record (or whose linked record)
    /// already has a unit joins it.
    pub(super) fn join(&mut self, intents: &[SyncIntent], links: &LinkIndex) {
        let mut by_sf: HashMap<String, usize> = HashMap::new();
        let mut by_hs: HashMap<String, usize> = HashMap::new();
        for intent in intents {
            let forced = intent.trigger.is_forced();
            let key = intent.record_key();
            match intent.record_id() {
                RecordId::Salesforce(id) => {
                    let id = id.as_str().to_owned();
                    if let Some(&u) = by_sf.get(&id) {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        continue;
                    }
                    let link = links.by_salesforce(&id).cloned();
                    if let Some(hs) = link.as_ref().map(|l| l.hubspot_id.clone())
                        && let Some(&u) = by_hs.get(&hs)
                    {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        by_sf.insert(id, u);
                        continue;
                    }
                    let object = match intent.object() {
                        IntentObject::Salesforce(o) => o,
                        IntentObject::HubSpot(_) => continue,
                    };
                    let unit = Unit {
                        intent_keys: vec![key],
                        forced,
                        hs_id: link.as_ref().map(|l| l.hubspot_id.clone()),
                        sf_object: Some(
                            link.as_ref().and_then(|l| SfObject::parse(&l.salesforce_object)).unwrap_or(object),
                        ),
                        sf_id: Some(id.clone()),
                        link,
                        ..Unit::default()
                    };
                    by_sf.insert(id, self.units.len());
                    if let Some(hs) = &unit.hs_id {
                        by_hs.insert(hs.clone(), self.units.len());
                    }
                    self.units.push(unit);
                }
                RecordId::HubSpot(id) => {
                    let id = id.as_str().to_owned();
                    let merged = intent.merged().iter().map(|m| m.as_str().to_owned());
                    if let Some(&u) = by_hs.get(&id) {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        self.units[u].merged.extend(merged);
                        continue;
                    }
                    let link = links.by_hubspot(&id).cloned();
                    if let Some(sf) = link.as_ref().map(|l| l.salesforce_id.clone())
                        && let Some(&u) = by_sf.get(&sf)
                    {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        self.units[u].merged.extend(merged);
                        by_hs.insert(id, u);
                        continue;
                    }
                    let unit = Unit {
                        intent_keys: vec![key],
                        forced,
                        merged: merged.collect(),
                        sf_id: link.as_ref().map(|l| l.salesforce_id.clone()),
                        sf_object: link.as_ref().and_then(|l| SfObject::parse(&l.salesforce_object)),
                        hs_id: Some(id.clone()),
                        link,
                        ..Unit::default()
                    };
                    by_hs.insert(id, self.units.len());
                    if let Some(sf) = &unit.sf_id {
                        by_sf.insert(sf.clone(), self.units.len());
                    }
                    self.units.push(unit);
                }
            }
        }
    }
}

impl PairSync<'_> {
    /// After matching: two units that turned out to be the same pair of
    /// records (a Lead and a HubSpot contact, both new and unlinked, found
    /// each other by email in one batch) become one, so that the pair is
    /// planned once and neither CRM is sent the same record twice in one
    /// call. The later unit's intents are answered by the first.
    pub(super) fn join_matched(&mut self) {
        let mut first: HashMap<(String, String), usize> = HashMap::new();
        for u in 0..self.units.len() {
            let unit = &self.units[u];
            let (Some(sf), Some(hs), None) = (&unit.sf_id, &unit.hs_id, &unit.result) else { continue };
            match first.get(&(sf.clone(), hs.clone())) {
                None => {
                    first.insert((sf.clone(), hs.clone()), u);
                }
                Some(&kept) => {
                    let joined = std::mem::take(&mut self.units[u]);
                    let into = &mut self.units[kept];
                    into.intent_keys.extend(joined.intent_keys);
                    into.forced |= joined.forced;
                    into.link = into.link.take().or(joined.link);
                    into.sf_object = into.sf_object.or(joined.sf_object);
                    into.sf = into.sf.take().or(joined.sf);
                    into.hs = into.hs.take().or(joined.hs);
                    self.units[u].result = Some(super::RecordResult::Done);
                }
            }
        }
    }
}
