//! SPEC section 5: whether a HubSpot company with no Salesforce account
//! creates one, from how its associated contacts are synced.
//!
//! Reads the companies' associated contacts, their links, and whether their
//! Salesforce Contacts have an account; the verdict itself is the domain's
//! `company_creates_account`. A resync or import forces creation and is not
//! asked about here.

use crate::ports::SALESFORCE_BATCH;
use crate::usecases::sync::PairSync;
use crate::usecases::sync::units::{LinkIndex, read_links};
use crm_sync_domain::{ObjectPair, SalesforceId, SfObject};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use tracing::{debug, warn};

impl PairSync<'_> {
    /// SPEC section 5 for HubSpot companies with no account yet: reads their
    /// associated contacts (one call per 100 companies), how those contacts
    /// are linked, and, for linked Salesforce Contacts, whether they have an
    /// account (one call per 200). Units whose reads fail are marked.
    pub(in crate::usecases::sync) async fn company_creation(&mut self) -> HashMap<usize, bool> {
        let config = self.app.config();
        let mut verdicts = HashMap::new();
        let units: Vec<usize> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none() && !unit.origin_missing && unit.hs.is_some() && unit.sf.is_none() && !unit.forced
            })
            .collect();
        if self.pair != ObjectPair::Company || units.is_empty() {
            return verdicts;
        }
        let ids: Vec<String> = units.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
        let associated = match self.app.hubspot().associated_ids("companies", "contacts", &ids).await {
            Ok(found) => found,
            Err(error) => {
                self.fail_units(&units, &error);
                return verdicts;
            }
        };
        // How each associated contact is linked: one read for the batch.
        let contact_ids: Vec<String> = associated.values().flatten().cloned().collect();
        let links = match read_links(self.app, ObjectPair::Contact, &[], &contact_ids).await {
            Ok(links) => links,
            Err(error) => {
                warn!(%error, "LinkUnreadable");
                LinkIndex::default()
            }
        };
        let sf_contacts: Vec<String> = contact_ids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|c| links.by_hubspot(c))
            .filter(|l| l.salesforce_object == SfObject::Contact.api_name())
            .map(|l| l.salesforce_id.clone())
            .collect();
        let mut has_account: HashMap<String, bool> = HashMap::new();
        for chunk in sf_contacts.chunks(SALESFORCE_BATCH) {
            match self.app.salesforce().retrieve("Contact", chunk, &["Id".into(), "AccountId".into()]).await {
                Ok(records) => {
                    for r in records {
                        let id = SalesforceId::parse(&r.id).map(|i| i.as_str().to_owned()).unwrap_or(r.id.clone());
                        has_account.insert(
                            id,
                            r.fields.get("AccountId").and_then(Value::as_str).is_some_and(|a| !a.is_empty()),
                        );
                    }
                }
                Err(error) => {
                    self.fail_units(&units, &error);
                    return verdicts;
                }
            }
        }
        for &u in &units {
            let id = self.units[u].hs_id.clone().unwrap_or_default();
            let contacts: Vec<crm_sync_domain::special::AssociatedContact> = associated
                .get(&id)
                .into_iter()
                .flatten()
                .map(|c| {
                    let link = links.by_hubspot(c);
                    let synced_with = link.and_then(|l| SfObject::parse(&l.salesforce_object));
                    crm_sync_domain::special::AssociatedContact {
                        synced_with,
                        salesforce_contact_has_account: link
                            .and_then(|l| has_account.get(&l.salesforce_id).copied())
                            .unwrap_or(false),
                        // Segment membership of associated contacts is not read:
                        // with a segment configured, a contact counts when it syncs.
                        in_inclusion_segment: config.inclusion_segment.is_none() || synced_with.is_some(),
                    }
                })
                .collect();
            let verdict = crm_sync_domain::special::company_creates_account(config, false, &contacts, false);
            debug!(?verdict, "CompanyCreationDecided");
            verdicts.insert(u, verdict.creates());
        }
        verdicts
    }
}
