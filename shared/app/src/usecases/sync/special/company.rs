//! SPEC section 5: whether a HubSpot company with no Salesforce account
//! creates one, from how it was made and how its associated contacts are
//! synced.
//!
//! Uses what the company matching read of the companies' contacts (their
//! links, and whether their Salesforce Contacts have an account), reading
//! it only when matching did not; reads the contacts' real segment
//! membership (the list's members, cached by the app, or the filter's
//! property, 100 contacts per call); and takes "created automatically from
//! a contact" from the company's record source. The verdict itself is the
//! domain's `company_creates_account`. A resync or import forces creation
//! and is not asked about here.

use crate::AppError;
use crate::codec::hs_snapshot;
use crate::ports::HUBSPOT_BATCH;
use crate::usecases::companies::{CompanyContacts, read_company_contacts};
use crate::usecases::sync::PairSync;
use crm_sync_domain::config::InclusionSegment;
use crm_sync_domain::special::{
    AssociatedContact, HUBSPOT_OBJECT_SOURCE_PROPERTY, company_created_from_contact, company_creates_account,
};
use crm_sync_domain::{ObjectPair, SfObject};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use tracing::debug;

impl PairSync<'_> {
    /// SPEC section 5 for HubSpot companies with no account yet. Units whose
    /// reads fail are marked (retried, or failed on a permanent error).
    pub(in crate::usecases::sync) async fn company_creation(&mut self) -> HashMap<usize, bool> {
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
        let read = async {
            // Matching read every unlinked company of the batch, these included.
            let contacts = match self.company_contacts.take() {
                Some(contacts) => contacts,
                None => read_company_contacts(self.app, &ids).await?,
            };
            let members = self.segment_membership(&contacts).await?;
            Ok::<_, AppError>((contacts, members))
        }
        .await;
        let (contacts, members) = match read {
            Ok(found) => found,
            Err(error) => {
                self.fail_units_with(&units, &error);
                return verdicts;
            }
        };
        let config = self.app.config();
        for &u in &units {
            let id = self.units[u].hs_id.clone().unwrap_or_default();
            let associated: Vec<AssociatedContact> = contacts
                .associated
                .get(&id)
                .into_iter()
                .flatten()
                .map(|c| {
                    let link = contacts.links.by_hubspot(c);
                    AssociatedContact {
                        synced_with: link.and_then(|l| SfObject::parse(&l.salesforce_object)),
                        salesforce_contact_has_account: link
                            .and_then(|l| contacts.accounts.get(&l.salesforce_id))
                            .is_some_and(Option::is_some),
                        in_inclusion_segment: members.as_ref().is_none_or(|m| m.contains(c)),
                    }
                })
                .collect();
            let source = self.units[u]
                .hs
                .as_ref()
                .and_then(|r| r.properties.get(HUBSPOT_OBJECT_SOURCE_PROPERTY))
                .and_then(Value::as_str);
            let verdict = company_creates_account(config, company_created_from_contact(source), &associated, false);
            debug!(?verdict, "CompanyCreationDecided");
            verdicts.insert(u, verdict.creates());
        }
        verdicts
    }

    /// The companies' associated contacts that are in the inclusion
    /// segment; `None` when no segment is configured (every contact is in).
    /// A list: its members as the app has them (one call per 250 members,
    /// cached). A property filter: the contacts' property, 100 per call.
    async fn segment_membership(&self, contacts: &CompanyContacts) -> Result<Option<HashSet<String>>, AppError> {
        let ids: Vec<String> =
            contacts.associated.values().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let Some(segment) = &self.app.config().inclusion_segment else { return Ok(None) };
        if ids.is_empty() {
            return Ok(Some(HashSet::new()));
        }
        match segment {
            InclusionSegment::HubspotList(list) => {
                let members = self.app.segment_members(list).await?;
                Ok(Some(ids.into_iter().filter(|c| members.contains(c)).collect()))
            }
            InclusionSegment::PropertyFilter { property, .. } => {
                let mut inside = HashSet::new();
                for chunk in ids.chunks(HUBSPOT_BATCH) {
                    let records =
                        self.app.hubspot().batch_read("contacts", chunk, None, std::slice::from_ref(property)).await?;
                    for record in records {
                        let admitted =
                            hs_snapshot(&record, ObjectPair::Contact).and_then(|s| segment.admits(&s)).unwrap_or(false);
                        if admitted {
                            inside.insert(record.id);
                        }
                    }
                }
                Ok(Some(inside))
            }
        }
    }
}
