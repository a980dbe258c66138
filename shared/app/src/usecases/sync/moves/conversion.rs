//! Converted Leads: the link passes to the Contact the Lead became.
//!
//! A converted Lead is read-only (Salesforce refuses its updates with
//! `CANNOT_UPDATE_CONVERTED_LEAD`) and names its Contact in
//! `ConvertedContactId`. Met from either end, the conversion is followed
//! through that field alone: a unit reading a converted Lead turns to its
//! Contact (moving the Lead's link), and a Contact with no link looks for a
//! converted Lead that became it (the outbound message of a conversion's
//! new Contact may come first). Nothing is written to a converted Lead.
//! When the Contact has a link of its own, the Lead's link is dropped and
//! reported.

use super::{KEEPS_ITS_OWN, Moves, Survivor};
use crate::codec::soql_escape;
use crate::ports::{SALESFORCE_BATCH, WriteResult};
use crate::usecases::sync::{PairSync, RACE_RETRY, RecordResult};
use crm_sync_crm::error::{self as crm_error, CrmError};
use crm_sync_domain::model::FieldMap;
use crm_sync_domain::{SalesforceId, SfObject, System};
use serde_json::Value;
use std::collections::BTreeMap;
use tracing::debug;

/// The Lead field naming the Contact a converted Lead became.
pub(crate) const CONVERTED_CONTACT_FIELD: &str = "ConvertedContactId";
/// The Lead field saying it was converted.
const CONVERTED_FIELD: &str = "IsConverted";
/// Salesforce's refusal of an update to a converted Lead.
const CONVERTED_LEAD_REFUSAL: &str = "CANNOT_UPDATE_CONVERTED_LEAD";

/// The Contact a converted Lead became, in the 18-character form; `None`
/// for a Lead that is not converted (or names no Contact).
fn converted_contact(fields: &FieldMap) -> Option<String> {
    if fields.get(CONVERTED_FIELD).and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let contact = fields.get(CONVERTED_CONTACT_FIELD).and_then(Value::as_str)?;
    SalesforceId::parse(contact).ok().map(|id| id.as_str().to_owned())
}

fn converted_to(contact: &str) -> Survivor {
    Survivor { lost_side: System::Salesforce, text: format!("converted to Salesforce Contact {contact}"), merge: false }
}

impl PairSync<'_> {
    /// Units whose record is a converted Lead turn to the Contact it became:
    /// the Lead's link moves to it, or is dropped when the Contact has a
    /// link of its own; an unlinked Lead's unit takes the Contact's link.
    pub(in crate::usecases::sync) async fn converted_leads(&mut self, moves: &mut Moves) {
        let converted: Vec<(usize, String)> = (0..self.units.len())
            .filter_map(|u| {
                let unit = &self.units[u];
                if unit.result.is_some() || unit.origin_missing || unit.sf_object != Some(SfObject::Lead) {
                    return None;
                }
                Some((u, converted_contact(&unit.sf.as_ref()?.fields)?))
            })
            .collect();
        if converted.is_empty() {
            return;
        }
        let contacts: Vec<String> = converted.iter().map(|(_, c)| c.clone()).collect();
        let units: Vec<usize> = converted.iter().map(|(u, _)| *u).collect();
        let Some(links) = self.links_or_retry(&contacts, &[], &units).await else { return };
        for (u, contact) in converted {
            let own = self.units[u].link.clone();
            let theirs = links.by_salesforce(&contact).cloned();
            debug!(linked = own.is_some(), contact_linked = theirs.is_some(), "ConvertedLeadFollowed");
            match own {
                Some(from) if theirs.is_some() => {
                    // Converted into a Contact that is linked already.
                    if moves.claim(&from) {
                        self.drop_link(&from, &converted_to(&contact), KEEPS_ITS_OWN, moves).await;
                    }
                }
                Some(from) => {
                    self.turn_salesforce(u, SfObject::Contact, &contact, None, moves);
                    let to = converted_to(&contact);
                    if moves.claim(&from) && !self.plan_relink(u, from.clone(), System::Salesforce, &to, moves) {
                        self.drop_link(&from, &to, KEEPS_ITS_OWN, moves).await;
                    }
                }
                None => self.turn_salesforce(u, SfObject::Contact, &contact, theirs.as_ref(), moves),
            }
        }
    }

    /// Contacts with no link: a converted Lead that became one of them (its
    /// `ConvertedContactId`, one SOQL query per 200 Contacts) passes its
    /// link to it; when several did, the first by Lead id does and the
    /// others are dropped and reported.
    pub(in crate::usecases::sync) async fn contacts_of_converted_leads(&mut self, moves: &mut Moves) {
        let contacts: Vec<(usize, String)> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none()
                    && unit.link.is_none()
                    && !unit.origin_missing
                    && unit.sf.is_some()
                    && unit.sf_object == Some(SfObject::Contact)
                    && !moves.turned(u)
            })
            .filter_map(|u| Some((u, self.units[u].sf_id.clone()?)))
            .collect();
        if contacts.is_empty() {
            return;
        }
        let mut leads_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for chunk in contacts.chunks(SALESFORCE_BATCH) {
            let list = chunk.iter().map(|(_, c)| format!("'{}'", soql_escape(c))).collect::<Vec<_>>().join(",");
            let soql = format!(
                "SELECT Id, {CONVERTED_FIELD}, {CONVERTED_CONTACT_FIELD} FROM Lead \
                 WHERE {CONVERTED_FIELD} = true AND {CONVERTED_CONTACT_FIELD} IN ({list})"
            );
            match self.app.salesforce().query(&soql).await {
                Ok(rows) => {
                    for row in rows {
                        if let (Ok(lead), Some(contact)) =
                            (SalesforceId::parse(&row.id), converted_contact(&row.fields))
                        {
                            leads_of.entry(contact).or_default().push(lead.as_str().to_owned());
                        }
                    }
                }
                Err(error) => {
                    let units: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                    self.fail_units(&units, &error);
                }
            }
        }
        if leads_of.is_empty() {
            return;
        }
        let lead_ids: Vec<String> = leads_of.values().flatten().cloned().collect();
        let units: Vec<usize> = contacts.iter().map(|(u, _)| *u).collect();
        let Some(links) = self.links_or_retry(&lead_ids, &[], &units).await else { return };
        for (u, contact) in contacts {
            let Some(leads) = leads_of.get_mut(&contact) else { continue };
            self.inherit_first(u, leads, &links, &converted_to(&contact), moves).await;
        }
    }

    /// Explains Salesforce's refusal of a Lead create keyed by a HubSpot id
    /// that a converted Lead still holds (the Lead the sync once created
    /// for that contact, whose Contact is gone): the upsert lands on the
    /// read-only Lead. Nothing can be created for the contact while it
    /// holds the id, so the refusal is filed as it is, not retried.
    pub(in crate::usecases::sync) fn explain_converted_holders(result: &mut Result<Vec<WriteResult>, CrmError>) {
        let Ok(results) = result else { return };
        for r in results.iter_mut() {
            if let WriteResult::Err { code, message } = r
                && code == CONVERTED_LEAD_REFUSAL
            {
                message.push_str(
                    " (a converted Lead holds this HubSpot contact's id and the Contact it became is gone: \
                     no new Lead is created for the contact)",
                );
            }
        }
    }

    /// Takes Salesforce's refusals of updates to converted Leads out of a
    /// batch call's answer, before it is settled: the Lead was converted
    /// after it was read. The refusal is filed in sync health and the record
    /// is tried again; the next attempt reads the conversion and moves the
    /// link to the Contact, and that success resolves the entry.
    pub(in crate::usecases::sync) async fn hold_converted_leads(
        &mut self,
        units: Vec<usize>,
        result: Result<Vec<WriteResult>, CrmError>,
    ) -> (Vec<usize>, Result<Vec<WriteResult>, CrmError>) {
        let Ok(results) = result else { return (units, result) };
        let mut kept_units = Vec::with_capacity(units.len());
        let mut kept = Vec::with_capacity(results.len());
        for (i, u) in units.into_iter().enumerate() {
            match results.get(i) {
                Some(WriteResult::Err { code, message }) if code == CONVERTED_LEAD_REFUSAL => {
                    let category = crm_error::category(crm_error::System::Salesforce, code, message);
                    self.record_failure(u, category, code, message, true).await;
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
                other => {
                    kept_units.push(u);
                    kept.extend(other.cloned());
                }
            }
        }
        (kept_units, Ok(kept))
    }
}
