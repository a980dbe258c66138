//! Stage 3: match unlinked records.
//!
//! Owns finding the other side of records that have no link yet: contacts
//! by email (Salesforce Leads and Contacts by SOQL, HubSpot contacts by the
//! email property), companies and deals by HubSpot's `salesforce_id`
//! property. Among several Salesforce records with one email, the domain's
//! deterministic rule picks one and the others are reported as duplicates.
//! It stores no link: a match only becomes a link once its writes succeed.
//!
//! Only units with no link, no result and a record on their own side are
//! matched; a match found here is read in the same pass (the records come
//! back with the match), so no further read is needed before planning.

use super::{HsRecord, PairSync, SfRecord, Unit};
use crate::codec::{HUBSPOT_SALESFORCE_ID_PROPERTY, category_name, email_in, parse_time, soql_escape};
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH};
use chrono::{DateTime, Utc};
use crm_sync_domain::decision::{HUBSPOT_EMAIL_PROPERTY, SALESFORCE_EMAIL_FIELD};
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::matching::{SalesforceCandidate, pick_salesforce_match};
use crm_sync_domain::{Email, ObjectPair, SalesforceId, SfObject};
use crm_sync_store::ErrorReport;
use serde_json::Value;
use std::collections::HashMap;
use tracing::warn;

impl PairSync<'_> {
    /// Finds the other side of records with no link: contacts by email,
    /// companies and deals by the `salesforce_id` HubSpot property.
    pub(super) async fn match_unlinked(&mut self) {
        let pending = |u: &Unit| u.result.is_none() && u.link.is_none() && !u.origin_missing;
        // HubSpot records without a Salesforce side.
        let hs_only: Vec<usize> = (0..self.units.len())
            .filter(|&u| pending(&self.units[u]) && self.units[u].hs.is_some() && self.units[u].sf.is_none())
            .collect();
        if self.pair == ObjectPair::Contact && !hs_only.is_empty() {
            self.match_contacts_in_salesforce(&hs_only).await;
        } else if !hs_only.is_empty() {
            // A company or deal created from Salesforce carries the id.
            for &u in &hs_only {
                let sf_id = self.units[u]
                    .hs
                    .as_ref()
                    .and_then(|r| r.properties.get(HUBSPOT_SALESFORCE_ID_PROPERTY))
                    .and_then(Value::as_str)
                    .and_then(|s| SalesforceId::parse(s).ok());
                if let Some(id) = sf_id {
                    self.units[u].sf_id = Some(id.as_str().to_owned());
                    self.units[u].sf_object = self.pair.salesforce_objects().first().copied();
                }
            }
            let object = self.pair.salesforce_objects().first().copied();
            let ids: Vec<usize> = hs_only.iter().copied().filter(|&u| self.units[u].sf_id.is_some()).collect();
            if let Some(object) = object {
                self.read_salesforce(object, &ids).await;
                // A carried id whose record is gone links nothing; the
                // record is then matched or created as if it had no id.
                for &u in &ids {
                    if self.units[u].result.is_none() && self.units[u].sf.is_none() {
                        self.units[u].sf_id = None;
                    }
                }
            }
        }
        // Salesforce records without a HubSpot side.
        let sf_only: Vec<usize> = (0..self.units.len())
            .filter(|&u| pending(&self.units[u]) && self.units[u].sf.is_some() && self.units[u].hs.is_none())
            .collect();
        if sf_only.is_empty() {
            return;
        }
        let hs_object = self.pair.hubspot_object_type();
        let props = self.hubspot_properties();
        let (id_property, keys): (&str, Vec<(usize, String)>) = if self.pair == ObjectPair::Contact {
            (
                HUBSPOT_EMAIL_PROPERTY,
                sf_only
                    .iter()
                    .filter_map(|&u| {
                        let email = email_in(&self.units[u].sf.as_ref()?.fields, SALESFORCE_EMAIL_FIELD)?;
                        Some((u, email.as_str().to_owned()))
                    })
                    .collect(),
            )
        } else {
            (
                HUBSPOT_SALESFORCE_ID_PROPERTY,
                sf_only.iter().filter_map(|&u| Some((u, self.units[u].sf_id.clone()?))).collect(),
            )
        };
        for chunk in keys.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().map(|(_, k)| k.clone()).collect();
            match self.app.hubspot().batch_read(hs_object, &ids, Some(id_property), &props).await {
                Ok(records) => {
                    let mut by_key: HashMap<String, HsRecord> = HashMap::new();
                    for r in records {
                        let key = r.properties.get(id_property).and_then(Value::as_str).map(|s| {
                            if id_property == HUBSPOT_EMAIL_PROPERTY { s.trim().to_lowercase() } else { s.to_owned() }
                        });
                        if let Some(key) = key {
                            by_key.insert(key, r);
                        }
                    }
                    for (u, key) in chunk {
                        if let Some(r) = by_key.get(key) {
                            self.units[*u].hs_id = Some(r.id.clone());
                            self.units[*u].hs = Some(r.clone());
                        }
                    }
                }
                Err(error) => {
                    let units: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                    self.fail_units(&units, &error);
                }
            }
        }
    }

    /// HubSpot contacts with no link: find Salesforce Leads and Contacts with
    /// the same email (SOQL `IN`, 200 emails per query and object), pick one by
    /// the core's deterministic rule, report the others as duplicates.
    pub(super) async fn match_contacts_in_salesforce(&mut self, units: &[usize]) {
        let mut wanted: Vec<(usize, Email)> = Vec::new();
        for &u in units {
            if let Some(email) = self.units[u].hs.as_ref().and_then(|r| email_in(&r.properties, HUBSPOT_EMAIL_PROPERTY))
            {
                wanted.push((u, email));
            }
        }
        let mut candidates: HashMap<Email, Vec<(SalesforceCandidate, SfRecord)>> = HashMap::new();
        for object in [SfObject::Lead, SfObject::Contact] {
            let fields = self.salesforce_fields(object);
            for chunk in wanted.chunks(SALESFORCE_BATCH) {
                let list =
                    chunk.iter().map(|(_, e)| format!("'{}'", soql_escape(e.as_str()))).collect::<Vec<_>>().join(",");
                let soql = format!("SELECT {} FROM {} WHERE Email IN ({})", fields.join(", "), object.api_name(), list);
                match self.app.salesforce().query(&soql).await {
                    Ok(records) => {
                        for record in records {
                            let (Some(email), Ok(id)) =
                                (email_in(&record.fields, SALESFORCE_EMAIL_FIELD), SalesforceId::parse(&record.id))
                            else {
                                continue;
                            };
                            let candidate = SalesforceCandidate {
                                id,
                                object,
                                email: email.clone(),
                                created: parse_time(record.fields.get("CreatedDate"))
                                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                                converted: record.fields.get("IsConverted").and_then(Value::as_bool).unwrap_or(false),
                            };
                            candidates.entry(email).or_default().push((candidate, record));
                        }
                    }
                    Err(error) => {
                        let us: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                        self.fail_units(&us, &error);
                    }
                }
            }
        }
        for (u, email) in wanted {
            if self.units[u].result.is_some() {
                continue;
            }
            let Some(found) = candidates.get(&email) else { continue };
            let list: Vec<SalesforceCandidate> = found.iter().map(|(c, _)| c.clone()).collect();
            let Some(choice) = pick_salesforce_match(&list) else { continue };
            if let Some((_, record)) = found.iter().find(|(c, _)| c.id == choice.chosen.id) {
                self.units[u].sf_id = Some(choice.chosen.id.as_str().to_owned());
                self.units[u].sf_object = Some(choice.chosen.object);
                self.units[u].sf = Some(record.clone());
            }
            for other in &choice.others {
                let report = ErrorReport {
                    key: format!("contact:salesforce:{}", other.id),
                    category: category_name(ErrorCategory::Duplicates),
                    pair: crm_sync_domain::ObjectPair::Contact,
                    salesforce_id: Some(other.id.as_str().to_owned()),
                    hubspot_id: self.units[u].hs_id.clone(),
                    message: format!(
                        "another Salesforce record ({} {}) shares this email and was chosen; this one is not synced",
                        choice.chosen.object, choice.chosen.id
                    ),
                    retryable: false,
                };
                if let Err(error) = self.app.store().record_error(&report).await {
                    warn!(%error, "ErrorNotRecorded");
                }
                *self.stats.errors.entry(report.category.clone()).or_default() += 1;
            }
        }
    }
}
