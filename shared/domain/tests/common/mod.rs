//! A two-sided world for tests: one Salesforce record, one HubSpot record,
//! the stored link, and a clock; `sync` decides and applies the writes the
//! way a worker would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use crm_sync_domain::SyncConfig;
use crm_sync_domain::decision::{Action, Decision, DecisionContext, DecisionInput, LinkState, decide};
use crm_sync_domain::model::{FieldMap, HubSpotId, ObjectPair, RecordSnapshot, SalesforceId, SfObject};
use crm_sync_domain::special::OwnerDirectory;
use serde_json::{Value, json};

pub fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::minutes(minutes)
}

pub fn sf_id(object: SfObject) -> SalesforceId {
    SalesforceId::parse(match object {
        SfObject::Lead => "00Q000000000001",
        SfObject::Contact => "003000000000001",
        SfObject::Account => "001000000000001",
        SfObject::Opportunity => "006000000000001",
    })
    .unwrap()
}

pub fn fields(pairs: &[(&str, Value)]) -> FieldMap {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

pub fn sf(object: SfObject, pairs: &[(&str, Value)], at: DateTime<Utc>) -> RecordSnapshot {
    RecordSnapshot::salesforce(sf_id(object), object, fields(pairs), at)
}

pub fn hs(pair: ObjectPair, pairs: &[(&str, &str)], at: DateTime<Utc>) -> RecordSnapshot {
    let f = pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    RecordSnapshot::hubspot(HubSpotId::parse("512").unwrap(), pair, f, at)
}

pub struct World {
    pub config: SyncConfig,
    pub pair: ObjectPair,
    pub sf_object: SfObject,
    pub sf: Option<RecordSnapshot>,
    pub hs: Option<RecordSnapshot>,
    pub link: Option<LinkState>,
    pub owners: Option<OwnerDirectory>,
    pub context: DecisionContext,
    pub clock: i64,
    /// Writes per side applied so far: (salesforce, hubspot).
    pub writes: (usize, usize),
}

impl World {
    pub fn new(config: SyncConfig, pair: ObjectPair, sf: Option<RecordSnapshot>, hs: Option<RecordSnapshot>) -> Self {
        let sf_object = sf.as_ref().and_then(RecordSnapshot::salesforce_object).unwrap_or(pair.salesforce_objects()[0]);
        Self {
            config,
            pair,
            sf_object,
            sf,
            hs,
            link: None,
            owners: None,
            context: DecisionContext::default(),
            clock: 100,
            writes: (0, 0),
        }
    }

    /// A contact pair: a Lead and a HubSpot contact holding these values.
    pub fn contact(config: SyncConfig, sf_fields: &[(&str, Value)], hs_fields: &[(&str, &str)]) -> Self {
        Self::new(
            config,
            ObjectPair::Contact,
            Some(sf(SfObject::Lead, sf_fields, t(0))),
            Some(hs(ObjectPair::Contact, hs_fields, t(0))),
        )
    }

    pub fn decide(&self) -> Decision {
        decide(&DecisionInput {
            config: &self.config,
            pair: self.pair,
            salesforce: self.sf.as_ref(),
            hubspot: self.hs.as_ref(),
            link: self.link.as_ref(),
            owners: self.owners.as_ref(),
            context: self.context,
        })
    }

    fn tick(&mut self) -> DateTime<Utc> {
        self.clock += 1;
        t(self.clock)
    }

    /// Applies a decision's writes as the CRMs would, then stores the link.
    pub fn apply(&mut self, decision: &Decision) {
        if decision.is_skip() {
            return;
        }
        let now = self.tick();
        match decision.action {
            Action::CreateSalesforce { object } => {
                self.sf_object = object;
                self.sf = Some(RecordSnapshot::salesforce(sf_id(object), object, FieldMap::new(), now));
            }
            Action::CreateHubSpot { object } => {
                self.hs = Some(RecordSnapshot::hubspot(HubSpotId::parse("512").unwrap(), object, FieldMap::new(), now));
            }
            _ => {}
        }
        if !decision.salesforce_writes.is_empty() {
            let sf = self.sf.as_mut().unwrap();
            for (k, v) in &decision.salesforce_writes {
                sf.fields.insert(k.clone(), v.clone());
            }
            sf.last_modified = now;
            self.writes.0 += decision.salesforce_writes.len();
        }
        if !decision.hubspot_writes.is_empty() {
            let hs = self.hs.as_mut().unwrap();
            for (k, v) in &decision.hubspot_writes {
                hs.fields.insert(k.clone(), v.clone());
            }
            hs.last_modified = now;
            self.writes.1 += decision.hubspot_writes.len();
        }
        let mut link = decision.link.clone();
        // What a worker stores: the Salesforce modification time after its writes.
        if let Some(sf) = &self.sf {
            link.salesforce_last_modified = Some(sf.last_modified);
        }
        self.link = Some(link);
    }

    /// Decide and apply.
    pub fn sync(&mut self) -> Decision {
        let decision = self.decide();
        self.apply(&decision);
        decision
    }

    pub fn edit_sf(&mut self, field: &str, value: Value) {
        let now = self.tick();
        let sf = self.sf.as_mut().unwrap();
        sf.fields.insert(field.to_owned(), value);
        sf.last_modified = now;
    }

    pub fn edit_hs(&mut self, property: &str, value: &str) {
        let now = self.tick();
        let hs = self.hs.as_mut().unwrap();
        hs.fields.insert(property.to_owned(), json!(value));
        hs.last_modified = now;
    }

    pub fn sf_value(&self, field: &str) -> Value {
        self.sf.as_ref().and_then(|r| r.fields.get(field)).cloned().unwrap_or(Value::Null)
    }

    pub fn hs_value(&self, property: &str) -> Value {
        self.hs.as_ref().and_then(|r| r.fields.get(property)).cloned().unwrap_or(Value::Null)
    }
}

/// A config whose contact mappings change one default's rule.
pub fn config_with_rule(hubspot: &str, salesforce: &str, rule: &str) -> SyncConfig {
    SyncConfig::from_yaml_str(&format!(
        "mappings:\n  contact:\n    - hubspot: {hubspot}\n      salesforce: {salesforce}\n      rule: {rule}\n"
    ))
    .unwrap()
}
