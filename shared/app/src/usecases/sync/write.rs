//! Stage 5: the write executor.
//!
//! Owns deciding each unit (with the domain's planner) and applying the
//! writes: Salesforce updates and upserts per object (200 per call), HubSpot
//! updates and upserts (100 per call), opt-outs through the communication
//! preferences API, then settling each per-record result into the unit and
//! the statistics. A unit counts as synced only when every one of its writes
//! succeeded; only then is its link stored.

use super::{HsRecord, PairSync, pair_name, store_pair};
use crate::codec::{
    ACCOUNT_ID_PROPERTY, HUBSPOT_OPT_OUT_PROPERTY, HUBSPOT_SALESFORCE_ID_PROPERTY, NOT_PROVIDED,
    SALESFORCE_HUBSPOT_ID_FIELD, STAGE_FIELD, decode_link_state, email_in, hs_snapshot, sf_snapshot,
    stage_to_salesforce,
};
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH, WriteResult};
use crm_sync_crm::error::CrmError;
use crm_sync_domain::config::InclusionSegment;
use crm_sync_domain::decision::{Action, HUBSPOT_EMAIL_PROPERTY};
use crm_sync_domain::rules::{FieldReason, Fingerprint};
use crm_sync_domain::special::{CompanyAssociation, SALESFORCE_CAMPAIGNS_PROPERTY, company_association};
use crm_sync_domain::{DecisionContext, DecisionInput, LinkState, ObjectPair, SalesforceId, SfObject, decide};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use tracing::{debug, warn};

/// An update of one record by id: (unit, id, fields).
type IdWrite = (usize, String, Map<String, Value>);
/// A create keyed by its External ID: (unit, fields).
type KeyedWrite = (usize, Map<String, Value>);

/// A write waiting for its batch call.
pub(super) struct PendingWrite {
    pub(super) unit: usize,
    pub(super) decision_link: LinkState,
}

impl PairSync<'_> {
    pub(super) async fn decide_and_write(&mut self) {
        let company_creates = self.company_creation().await;
        let deal_accounts = self.deal_accounts().await;
        let owners = self.owner_directory().await;
        let list_members = self.segment_members().await;
        let campaigns = self.campaign_names().await;
        let config = self.app.config();
        let mut sf_updates: BTreeMap<SfObject, Vec<IdWrite>> = BTreeMap::new();
        let mut sf_creates: BTreeMap<SfObject, Vec<KeyedWrite>> = BTreeMap::new();
        let mut hs_updates: Vec<(usize, String, Map<String, Value>)> = Vec::new();
        let mut hs_creates: Vec<(usize, String, Map<String, Value>)> = Vec::new();
        let mut pending: HashMap<usize, PendingWrite> = HashMap::new();
        let mut opt_outs: Vec<(usize, String)> = Vec::new();
        // Contacts whose account changed (or first synced): the HubSpot
        // contact-to-company association follows the account link.
        let mut follow_account: Vec<(usize, SalesforceId)> = Vec::new();

        for u in 0..self.units.len() {
            if self.units[u].result.is_some() {
                continue;
            }
            let unit = &self.units[u];
            if unit.origin_missing {
                // Deleted (or merged away) on its own side: the link goes,
                // the other side's record stays (deletions do not travel).
                if let Some(link) = &unit.link
                    && let Err(error) =
                        self.app.store().delete_link(store_pair(self.pair), &link.salesforce_id, link.version).await
                {
                    warn!(%error, "LinkNotDeleted");
                }
                *self.stats.skipped.entry("deleted".into()).or_default() += 1;
                continue;
            }
            let sf_snap = unit.sf.as_ref().and_then(|r| sf_snapshot(r, unit.sf_object.unwrap_or(SfObject::Lead)));
            let hs_snap = unit.hs.as_ref().and_then(|r| hs_snapshot(r, self.pair));
            let link_state = unit.link.as_ref().map(|l| decode_link_state(&l.fingerprints));
            let in_segment = match (&config.inclusion_segment, &hs_snap) {
                (Some(InclusionSegment::HubspotList(_)), Some(_)) => {
                    // Read above; a unit whose list could not be read has
                    // already been set to retry.
                    let id = unit.hs_id.as_deref().unwrap_or_default();
                    list_members.as_ref().is_some_and(|m| m.contains(id))
                }
                (Some(segment), Some(hs)) => segment.admits(hs).unwrap_or(true),
                // A record not yet in HubSpot joins as it is created.
                _ => true,
            };
            let create_allowed = match self.pair {
                ObjectPair::Contact => true,
                ObjectPair::Company => {
                    if hs_snap.is_some() && sf_snap.is_none() {
                        // SPEC section 5; a resync or import forces it.
                        unit.forced || company_creates.get(&u).copied().unwrap_or(false)
                    } else {
                        crm_sync_domain::special::account_creates_company(config)
                    }
                }
                ObjectPair::Deal => true,
            };
            let mut decision = decide(&DecisionInput {
                config,
                pair: self.pair,
                salesforce: sf_snap.as_ref(),
                hubspot: hs_snap.as_ref(),
                link: link_state.as_ref(),
                owners: owners.as_deref(),
                context: DecisionContext { forced: unit.forced, in_inclusion_segment: in_segment, create_allowed },
            });
            debug!(action = ?decision.action, "RecordDecided");
            if let Some(value) = campaigns.get(&u)
                && matches!(decision.action, Action::Update | Action::CreateHubSpot { .. })
            {
                let current = unit
                    .hs
                    .as_ref()
                    .and_then(|r| r.properties.get(SALESFORCE_CAMPAIGNS_PROPERTY))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if current != value {
                    decision.hubspot_writes.insert(SALESFORCE_CAMPAIGNS_PROPERTY.into(), Value::String(value.clone()));
                }
            }
            if let Some(Value::String(stage)) = decision.salesforce_writes.get_mut(STAGE_FIELD) {
                *stage = stage_to_salesforce(stage).to_owned();
            }
            if self.pair == ObjectPair::Deal
                && let Some(sf) = unit.sf.as_ref()
                && let Some(account) =
                    sf.fields.get("AccountId").and_then(Value::as_str).and_then(|a| SalesforceId::parse(a).ok())
                && (matches!(decision.action, Action::CreateHubSpot { .. }) || unit.link.is_none())
            {
                follow_account.push((u, account));
            }
            let unmatched = decision.fields.iter().filter(|f| f.reason == FieldReason::OwnerNotMatched).count();
            if unmatched > 0 {
                // SPEC section 2: an owner with no exact match is not written.
                debug!(mapping = "owner", "OwnerNotMatched");
                *self.stats.skipped.entry("owner_not_matched".into()).or_default() += unmatched as u64;
            }
            if self.pair == ObjectPair::Contact
                && let (Some(object), Some(sf)) = (unit.sf_object, unit.sf.as_ref())
            {
                let account =
                    sf.fields.get("AccountId").and_then(Value::as_str).and_then(|a| SalesforceId::parse(a).ok());
                let account_travels = decision.hubspot_writes.contains_key(ACCOUNT_ID_PROPERTY)
                    || matches!(decision.action, Action::CreateHubSpot { .. })
                    || unit.link.is_none();
                if account_travels
                    && let CompanyAssociation::FollowAccount(account) =
                        company_association(config, object, account.as_ref())
                {
                    follow_account.push((u, account));
                }
            }
            let mut link_state = decision.link.clone();
            match &decision.action {
                Action::Skip { reason } => {
                    let name = serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| format!("{reason:?}"));
                    *self.stats.skipped.entry(name).or_default() += 1;
                    continue;
                }
                Action::Update => {
                    let (Some(sf_id), Some(hs_id)) = (unit.sf_id.clone(), unit.hs_id.clone()) else { continue };
                    if decision.writes_nothing() {
                        self.stats.unchanged += 1;
                        // Keep the fingerprints current (first match, new mappings).
                        if unit.link.as_ref().map(|l| decode_link_state(&l.fingerprints)) != Some(link_state.clone())
                            || self.lifecycle_change(u).is_some()
                        {
                            pending.insert(u, PendingWrite { unit: u, decision_link: link_state });
                        }
                        continue;
                    }
                    if !decision.salesforce_writes.is_empty() {
                        let object = unit.sf_object.unwrap_or(SfObject::Lead);
                        let fields: Map<String, Value> = decision.salesforce_writes.clone().into_iter().collect();
                        sf_updates.entry(object).or_default().push((u, sf_id, fields));
                    }
                    if !decision.hubspot_writes.is_empty() {
                        let mut props: Map<String, Value> = decision.hubspot_writes.clone().into_iter().collect();
                        if let Some(email) = take_opt_out(&mut props, unit.hs.as_ref()) {
                            opt_outs.push((u, email));
                        }
                        if !props.is_empty() {
                            hs_updates.push((u, hs_id, props));
                        }
                    }
                    pending.insert(u, PendingWrite { unit: u, decision_link: link_state });
                }
                Action::CreateSalesforce { object } => {
                    let Some(hs_id) = unit.hs_id.clone() else { continue };
                    let mut fields: Map<String, Value> = decision.salesforce_writes.clone().into_iter().collect();
                    fields.insert(SALESFORCE_HUBSPOT_ID_FIELD.into(), Value::String(hs_id));
                    if let Some(account) = deal_accounts.get(&u) {
                        fields.insert("AccountId".into(), Value::String(account.clone()));
                    }
                    self.fill_required(*object, &mut fields, &mut link_state);
                    self.units[u].sf_object = Some(*object);
                    sf_creates.entry(*object).or_default().push((u, fields));
                    pending.insert(u, PendingWrite { unit: u, decision_link: link_state });
                }
                Action::CreateHubSpot { .. } => {
                    let props: Map<String, Value> = decision.hubspot_writes.clone().into_iter().collect();
                    let key = if self.pair == ObjectPair::Contact {
                        props.get(HUBSPOT_EMAIL_PROPERTY).and_then(Value::as_str).map(str::to_owned)
                    } else {
                        unit.sf_id.clone()
                    };
                    let Some(key) = key else { continue };
                    let mut props = props;
                    // A first sync carries no opt-out (SPEC section 4).
                    props.remove(HUBSPOT_OPT_OUT_PROPERTY);
                    if self.pair != ObjectPair::Contact {
                        props.insert(HUBSPOT_SALESFORCE_ID_PROPERTY.into(), Value::String(key.clone()));
                    }
                    if self.pair == ObjectPair::Deal && !props.contains_key("pipeline") {
                        props.insert("pipeline".into(), Value::String("default".into()));
                    }
                    hs_creates.push((u, key, props));
                    pending.insert(u, PendingWrite { unit: u, decision_link: link_state });
                }
            }
        }

        // Salesforce writes.
        for (object, items) in sf_updates {
            for chunk in items.chunks(SALESFORCE_BATCH) {
                let records: Vec<(String, Map<String, Value>)> =
                    chunk.iter().map(|(_, id, f)| (id.clone(), f.clone())).collect();
                let result = self.app.salesforce().update(object.api_name(), &records).await;
                self.settle(chunk.iter().map(|(u, _, _)| *u).collect(), result, &format!("salesforce:{object}")).await;
            }
        }
        for (object, items) in sf_creates {
            for chunk in items.chunks(SALESFORCE_BATCH) {
                let records: Vec<Map<String, Value>> = chunk.iter().map(|(_, f)| f.clone()).collect();
                let result =
                    self.app.salesforce().upsert(object.api_name(), SALESFORCE_HUBSPOT_ID_FIELD, &records).await;
                let units: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                if let Ok(results) = &result {
                    for (&u, r) in units.iter().zip(results) {
                        if let WriteResult::Ok { id, .. } = r {
                            self.units[u].sf_id = SalesforceId::parse(id).ok().map(|i| i.as_str().to_owned());
                        }
                    }
                }
                self.settle(units, result, &format!("salesforce:{object}")).await;
            }
        }
        // HubSpot writes.
        let hs_object = self.pair.hubspot_object_type();
        for chunk in hs_updates.chunks(HUBSPOT_BATCH) {
            let inputs: Vec<(String, Map<String, Value>)> =
                chunk.iter().map(|(_, id, p)| (id.clone(), p.clone())).collect();
            let result = self.app.hubspot().batch_update(hs_object, &inputs).await;
            self.settle(
                chunk.iter().map(|(u, _, _)| *u).collect(),
                result,
                &format!("hubspot:{}", pair_name(self.pair)),
            )
            .await;
        }
        let id_property =
            if self.pair == ObjectPair::Contact { HUBSPOT_EMAIL_PROPERTY } else { HUBSPOT_SALESFORCE_ID_PROPERTY };
        for chunk in hs_creates.chunks(HUBSPOT_BATCH) {
            let inputs: Vec<(String, Map<String, Value>)> =
                chunk.iter().map(|(_, k, p)| (k.clone(), p.clone())).collect();
            let result = self.app.hubspot().batch_upsert(hs_object, id_property, &inputs).await;
            let units: Vec<usize> = chunk.iter().map(|(u, _, _)| *u).collect();
            if let Ok(results) = &result {
                for (&u, r) in units.iter().zip(results) {
                    if let WriteResult::Ok { id, .. } = r {
                        self.units[u].hs_id = Some(id.clone());
                    }
                }
            }
            self.settle(units, result, &format!("hubspot:{}", pair_name(self.pair))).await;
        }
        let emails: Vec<String> =
            opt_outs.iter().filter(|(u, _)| self.units[*u].result.is_none()).map(|(_, e)| e.clone()).collect();
        if !emails.is_empty() {
            let units: Vec<usize> = opt_outs.iter().map(|(u, _)| *u).collect();
            match self.app.hubspot().unsubscribe_all(&emails).await {
                Ok(()) => {
                    *self.stats.updated.entry("hubspot:opt_out".into()).or_default() += emails.len() as u64;
                }
                Err(error) if error.is_retryable() => self.fail_units(&units, &error),
                Err(error) => {
                    for u in units {
                        let (code, message) = (error.code.clone(), error.message.clone());
                        self.record_failure(u, &code, &message, false).await;
                    }
                }
            }
        }
        let stage_changes: Vec<(usize, Option<String>, String)> = (0..self.units.len())
            .filter(|&u| pending.contains_key(&u))
            .filter_map(|u| self.lifecycle_change(u).map(|(previous, stage)| (u, previous, stage)))
            .collect();
        self.store_links(pending).await;
        self.associate_companies(follow_account).await;
        self.carry_lifecycle_stages(stage_changes).await;
    }

    /// A new Lead needs `LastName` and `Company`; when HubSpot has none, the
    /// placeholder goes in and the fingerprint records it, so that the value
    /// does not travel back.
    pub(super) fn fill_required(&self, object: SfObject, fields: &mut Map<String, Value>, link: &mut LinkState) {
        let required: &[&str] = match object {
            SfObject::Lead => &["LastName", "Company"],
            SfObject::Contact => &["LastName"],
            SfObject::Account => &["Name"],
            SfObject::Opportunity => &["Name"],
        };
        for &field in required {
            let blank = fields.get(field).is_none_or(|v| v.is_null() || v.as_str() == Some(""));
            if !blank {
                continue;
            }
            fields.insert(field.to_owned(), Value::String(NOT_PROVIDED.to_owned()));
            for mapping in self.app.config().mappings_for(object) {
                if mapping.salesforce_field == field {
                    let key = mapping.key();
                    if let Some(print) = link.fingerprints.get_mut(&key) {
                        print.salesforce = Fingerprint::of(&key, &Some(NOT_PROVIDED.to_owned()));
                    }
                }
            }
        }
    }

    pub(super) async fn settle(&mut self, units: Vec<usize>, result: Result<Vec<WriteResult>, CrmError>, stat: &str) {
        match result {
            Ok(results) => {
                for (i, u) in units.iter().enumerate() {
                    match results.get(i) {
                        Some(WriteResult::Ok { created, .. }) => {
                            let map = if *created { &mut self.stats.created } else { &mut self.stats.updated };
                            *map.entry(stat.to_owned()).or_default() += 1;
                        }
                        Some(WriteResult::Err { code, message }) => {
                            let (code, message) = (code.clone(), message.clone());
                            self.record_failure(*u, &code, &message, false).await;
                        }
                        None => {
                            self.record_failure(
                                *u,
                                "MISSING_RESULT",
                                "the CRM returned no result for this record",
                                true,
                            )
                            .await;
                        }
                    }
                }
            }
            Err(error) => {
                if error.is_retryable() {
                    self.fail_units(&units, &error);
                } else {
                    for u in units {
                        let (code, message) = (error.code.clone(), error.message.clone());
                        self.record_failure(u, &code, &message, false).await;
                    }
                }
            }
        }
    }
}

/// Takes HubSpot's read-only opt-out property out of a write; returns the
/// contact's email when the write was an opt-out (opt-ins never travel).
fn take_opt_out(props: &mut Map<String, Value>, contact: Option<&HsRecord>) -> Option<String> {
    let value = props.remove(HUBSPOT_OPT_OUT_PROPERTY)?;
    if value.as_str() != Some("true") {
        return None;
    }
    contact.and_then(|c| email_in(&c.properties, HUBSPOT_EMAIL_PROPERTY)).map(|e| e.as_str().to_owned())
}
