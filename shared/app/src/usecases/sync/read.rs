//! Stage 2: read both sides.
//!
//! Owns reading every known id of the units, batched (HubSpot 100 ids per
//! call, Salesforce 200 ids per call and object), and which properties and
//! fields are read. A record that is not found is left empty: when its own
//! side sent the intent, the unit is marked `origin_missing` (deleted or
//! merged away). A failed call marks the units of its chunk only.
//!
//! It must not decide or write: a record read here is only a snapshot for
//! the planner. Reads are the largest share of a batch's API calls, so the
//! number of calls per record must not grow with the batch (the cost tests
//! hold it to a few calls per hundred records).

use super::moves::CONVERTED_CONTACT_FIELD;
use super::{HsRecord, PairSync, SfRecord};
use crate::codec::HUBSPOT_SALESFORCE_ID_PROPERTY;
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH};
use crm_sync_domain::config::InclusionSegment;
use crm_sync_domain::decision::{HUBSPOT_EMAIL_PROPERTY, SALESFORCE_EMAIL_FIELD};
use crm_sync_domain::special::{HUBSPOT_OBJECT_SOURCE_PROPERTY, LIFECYCLE_STAGE, SALESFORCE_CAMPAIGNS_PROPERTY};
use crm_sync_domain::{ObjectPair, SalesforceId, SfObject};
use std::collections::{BTreeMap, BTreeSet, HashMap};

impl PairSync<'_> {
    /// The HubSpot properties a read asks for: every mapped property, the
    /// modification dates, and what matching and the special fields look at
    /// (email, campaigns, lifecycle stage, `salesforce_id`, the segment's
    /// filter property).
    pub(super) fn hubspot_properties(&self) -> Vec<String> {
        let mut props: BTreeSet<String> =
            self.app.config().mappings(self.pair).iter().map(|m| m.hubspot_property.clone()).collect();
        props.insert("hs_lastmodifieddate".into());
        props.insert("lastmodifieddate".into());
        match self.pair {
            ObjectPair::Contact => {
                props.insert(HUBSPOT_EMAIL_PROPERTY.into());
                props.insert(SALESFORCE_CAMPAIGNS_PROPERTY.into());
                if self.app.config().objects.companies {
                    props.insert(LIFECYCLE_STAGE.into());
                }
            }
            ObjectPair::Company => {
                props.insert(HUBSPOT_SALESFORCE_ID_PROPERTY.into());
                // SPEC section 5: whether HubSpot made it from a contact.
                props.insert(HUBSPOT_OBJECT_SOURCE_PROPERTY.into());
            }
            _ => {
                props.insert(HUBSPOT_SALESFORCE_ID_PROPERTY.into());
            }
        }
        if let Some(InclusionSegment::PropertyFilter { property, .. }) = &self.app.config().inclusion_segment {
            props.insert(property.clone());
        }
        props.into_iter().collect()
    }

    /// The Salesforce fields a read of `object` asks for: every mapped field
    /// of the object, the dates, and what matching and moved links look at
    /// (email, created date, conversion and the Contact a Lead became, the
    /// Opportunity's account).
    pub(super) fn salesforce_fields(&self, object: SfObject) -> Vec<String> {
        let mut fields: BTreeSet<String> =
            self.app.config().mappings_for(object).map(|m| m.salesforce_field.clone()).collect();
        fields.insert("Id".into());
        fields.insert("LastModifiedDate".into());
        fields.insert("SystemModstamp".into());
        if matches!(object, SfObject::Lead | SfObject::Contact) {
            fields.insert(SALESFORCE_EMAIL_FIELD.into());
            fields.insert("CreatedDate".into());
        }
        if object == SfObject::Lead {
            fields.insert("IsConverted".into());
            fields.insert(CONVERTED_CONTACT_FIELD.into());
        }
        if object == SfObject::Opportunity {
            fields.insert("AccountId".into());
        }
        fields.into_iter().collect()
    }

    /// Reads every known id on both sides, batched.
    pub(super) async fn read(&mut self) {
        let all: Vec<usize> = (0..self.units.len()).collect();
        self.read_units(&all).await;
    }

    /// Reads both sides of these units by their known ids, batched, and
    /// marks the units whose record is gone.
    pub(super) async fn read_units(&mut self, units: &[usize]) {
        let hs_units: Vec<usize> = units.iter().copied().filter(|&u| self.units[u].hs_id.is_some()).collect();
        self.read_hubspot(&hs_units).await;
        // Salesforce by id, per object.
        let mut by_object: BTreeMap<SfObject, Vec<usize>> = BTreeMap::new();
        for &u in units {
            let unit = &self.units[u];
            if let (Some(object), Some(_)) = (unit.sf_object, &unit.sf_id) {
                by_object.entry(object).or_default().push(u);
            }
        }
        for (object, units) in by_object {
            self.read_salesforce(object, &units).await;
        }
        for &u in units {
            let unit = &mut self.units[u];
            let sf_missing = unit.sf_id.is_some() && unit.sf.is_none();
            let hs_missing = unit.hs_id.is_some() && unit.hs.is_none();
            unit.origin_missing = unit.result.is_none() && (sf_missing || hs_missing);
        }
    }

    /// Reads the HubSpot records behind these units' ids, 100 per call,
    /// into each unit's `hs` (left `None` when the record is gone).
    async fn read_hubspot(&mut self, units: &[usize]) {
        let hs_object = self.pair.hubspot_object_type();
        let props = self.hubspot_properties();
        for chunk in units.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
            match self.app.hubspot().batch_read(hs_object, &ids, None, &props).await {
                Ok(records) => {
                    let by_id: HashMap<String, HsRecord> = records.into_iter().map(|r| (r.id.clone(), r)).collect();
                    for &u in chunk {
                        let id = self.units[u].hs_id.clone().unwrap_or_default();
                        self.units[u].hs = by_id.get(&id).cloned();
                    }
                }
                Err(error) => self.fail_units(chunk, &error),
            }
        }
    }

    /// Reads the Salesforce records of `object` behind these units' ids,
    /// 200 per call, into each unit's `sf` (left `None` when the record is
    /// gone). A call that fails fails the units of its chunk, with the CRM's
    /// error; the other chunks go on.
    pub(super) async fn read_salesforce(&mut self, object: SfObject, units: &[usize]) {
        let fields = self.salesforce_fields(object);
        for chunk in units.chunks(SALESFORCE_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|&u| self.units[u].sf_id.clone()).collect();
            match self.app.salesforce().retrieve(object.api_name(), &ids, &fields).await {
                Ok(records) => {
                    let by_id: HashMap<String, SfRecord> = records
                        .into_iter()
                        .filter_map(|r| Some((SalesforceId::parse(&r.id).ok()?.as_str().to_owned(), r)))
                        .collect();
                    for &u in chunk {
                        let id = self.units[u].sf_id.clone().unwrap_or_default();
                        self.units[u].sf = by_id.get(&id).cloned();
                    }
                }
                Err(error) => self.fail_units(chunk, &error),
            }
        }
    }
}
