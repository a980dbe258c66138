//! Stage 1: units from intents and links.
//!
//! Owns turning the batch's intents into one [`Unit`] per record, joined
//! through the stored links, so that a Salesforce intent and a HubSpot intent
//! for two linked records become one unit (and one sync). It reads the store
//! only, never a CRM, and writes nothing.

use super::{PairSync, Unit, store_pair};
use crm_sync_domain::model::RecordId;
use crm_sync_domain::{SfObject, SyncIntent};
use std::collections::HashMap;

impl PairSync<'_> {
    /// Builds one unit per record, joined through stored links.
    pub(super) async fn collect(&mut self, intents: &[SyncIntent]) -> Result<(), crm_sync_store::StoreError> {
        let store = self.app.store();
        let spair = store_pair(self.pair);
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
                    let link = store.get_link_by_salesforce(spair, &id).await?;
                    if let Some(hs) = link.as_ref().map(|l| l.hubspot_id.clone())
                        && let Some(&u) = by_hs.get(&hs)
                    {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        by_sf.insert(id, u);
                        continue;
                    }
                    let object = match intent.object() {
                        crm_sync_domain::intent::IntentObject::Salesforce(o) => o,
                        crm_sync_domain::intent::IntentObject::HubSpot(_) => continue,
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
                    if let Some(&u) = by_hs.get(&id) {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        continue;
                    }
                    let link = store.get_link_by_hubspot(spair, &id).await?;
                    if let Some(sf) = link.as_ref().map(|l| l.salesforce_id.clone())
                        && let Some(&u) = by_sf.get(&sf)
                    {
                        self.units[u].intent_keys.push(key);
                        self.units[u].forced |= forced;
                        by_hs.insert(id, u);
                        continue;
                    }
                    let unit = Unit {
                        intent_keys: vec![key],
                        forced,
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
        Ok(())
    }
}
