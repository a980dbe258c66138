//! Stage 3, continued: companies with no link matched by their contacts
//! (SPEC section 1, "else an existing company with the same associated
//! contacts"), before anything is created; and, once an Account is newly
//! linked, its linked contacts associated with its company.
//!
//! Runs after the `salesforce_id` lookup of [`super::matching`], on the
//! company units still unmatched, both ways: a HubSpot company looks for
//! the Account its associated contacts' Salesforce Contacts belong to; an
//! Account looks for the HubSpot company its Contacts' linked HubSpot
//! contacts are associated with. The reads and the rule are the shared
//! [`crate::usecases::companies`]; what is read is kept for SPEC section 5
//! and for the associations after the writes. Like every match, it stores
//! no link: the link is stored once the writes succeed.

use super::{HsRecord, PairSync, RACE_RETRY, RecordResult, Unit};
use crate::AppError;
use crate::ports::HUBSPOT_BATCH;
use crate::usecases::companies::{
    associate_account_contacts, match_accounts, match_companies, read_account_contacts, read_company_contacts,
};
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::{ObjectPair, SfObject};
use std::collections::{BTreeMap, HashMap};

impl PairSync<'_> {
    /// Marks units after a failed read that was not only a CRM's: the CRM's
    /// verdict when it was one, else a retry.
    pub(super) fn fail_units_with(&mut self, units: &[usize], error: &AppError) {
        match error {
            AppError::Crm(error) => self.fail_units(units, error),
            other => self.retry_units(units, other, RACE_RETRY),
        }
    }

    /// Companies with no link and no match yet, matched by their contacts.
    pub(super) async fn match_companies_by_contacts(&mut self) {
        if self.pair != ObjectPair::Company {
            return;
        }
        let pending = |u: &Unit| u.result.is_none() && u.link.is_none() && !u.origin_missing;
        let hubspot_only: Vec<usize> = (0..self.units.len())
            .filter(|&u| pending(&self.units[u]) && self.units[u].hs.is_some() && self.units[u].sf.is_none())
            .collect();
        if !hubspot_only.is_empty() {
            let matched = self.match_hubspot_companies(&hubspot_only).await;
            self.join_matched_accounts(&matched);
        }
        let salesforce_only: Vec<usize> = (0..self.units.len())
            .filter(|&u| pending(&self.units[u]) && self.units[u].sf.is_some() && self.units[u].hs.is_none())
            .collect();
        if !salesforce_only.is_empty() {
            self.match_salesforce_accounts(&salesforce_only).await;
        }
    }

    /// HubSpot companies: the Account their contacts belong to, read in the
    /// same pass. What was read of their contacts is kept for SPEC section 5.
    async fn match_hubspot_companies(&mut self, units: &[usize]) -> Vec<usize> {
        let ids: Vec<String> = units.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
        let found = async {
            let contacts = read_company_contacts(self.app, &ids).await?;
            let matches = match_accounts(self.app, &ids, &contacts).await?;
            Ok::<_, AppError>((contacts, matches))
        }
        .await;
        let (contacts, matches) = match found {
            Ok(found) => found,
            Err(error) => {
                self.fail_units_with(units, &error);
                return Vec::new();
            }
        };
        let mut matched = Vec::new();
        for &u in units {
            let account = self.units[u].hs_id.as_ref().and_then(|id| matches.get(id));
            if let Some(account) = account {
                self.units[u].sf_id = Some(account.clone());
                self.units[u].sf_object = Some(SfObject::Account);
                matched.push(u);
            }
        }
        self.read_salesforce(SfObject::Account, &matched).await;
        for &u in &matched {
            if self.units[u].result.is_none() && self.units[u].sf.is_none() {
                // Gone since its contacts named it: nothing to link.
                self.units[u].sf_id = None;
                self.units[u].sf_object = None;
            }
        }
        self.company_contacts = Some(contacts);
        matched.retain(|&u| self.units[u].result.is_none() && self.units[u].sf.is_some());
        matched
    }

    /// An Account of this batch that a HubSpot company of the same batch
    /// just matched is that company's unit from now on: its intents join
    /// it, so that the pair is written and linked once.
    fn join_matched_accounts(&mut self, matched: &[usize]) {
        let by_account: HashMap<String, usize> =
            matched.iter().filter_map(|&u| Some((self.units[u].sf_id.clone()?, u))).collect();
        for other in 0..self.units.len() {
            let unit = &self.units[other];
            if matched.contains(&other) || unit.result.is_some() || unit.link.is_some() || unit.hs_id.is_some() {
                continue;
            }
            let Some(&into) = unit.sf_id.as_ref().and_then(|id| by_account.get(id)) else { continue };
            let keys = std::mem::take(&mut self.units[other].intent_keys);
            let forced = self.units[other].forced;
            self.units[into].intent_keys.extend(keys);
            self.units[into].forced |= forced;
            self.units[other].result = Some(RecordResult::Done);
        }
    }

    /// Accounts: the HubSpot company their Contacts' linked HubSpot
    /// contacts are associated with, read in the same pass (one call per
    /// 100). Their linked contacts are kept for the associations.
    async fn match_salesforce_accounts(&mut self, units: &[usize]) {
        let ids: Vec<String> = units.iter().filter_map(|&u| self.units[u].sf_id.clone()).collect();
        let found = async {
            let contacts = read_account_contacts(self.app, &ids).await?;
            let matches = match_companies(self.app, &ids, &contacts).await?;
            Ok::<_, AppError>((contacts, matches))
        }
        .await;
        let (contacts, matches) = match found {
            Ok(found) => found,
            Err(error) => {
                self.fail_units_with(units, &error);
                return;
            }
        };
        let matched: Vec<(usize, String)> =
            units.iter().filter_map(|&u| Some((u, matches.get(self.units[u].sf_id.as_ref()?)?.clone()))).collect();
        let props = self.hubspot_properties();
        for chunk in matched.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().map(|(_, c)| c.clone()).collect();
            match self.app.hubspot().batch_read("companies", &ids, None, &props).await {
                Ok(records) => {
                    let by_id: HashMap<String, HsRecord> = records.into_iter().map(|r| (r.id.clone(), r)).collect();
                    for (u, company) in chunk {
                        if let Some(record) = by_id.get(company) {
                            self.units[*u].hs_id = Some(company.clone());
                            self.units[*u].hs = Some(record.clone());
                        }
                    }
                }
                Err(error) => {
                    let us: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                    self.fail_units(&us, &error);
                }
            }
        }
        self.account_contacts = Some(contacts);
    }

    /// After the links are stored: the linked contacts of Accounts linked
    /// in this batch are associated with their companies. A refusal is in
    /// sync health (`associations`) and undoes nothing.
    pub(super) async fn associate_new_account_contacts(&mut self) {
        let Some(contacts) = self.account_contacts.take() else { return };
        let companies: BTreeMap<String, String> = self
            .units
            .iter()
            .filter(|u| u.link.is_none() && matches!(u.result, Some(RecordResult::Done)))
            .filter_map(|u| Some((u.sf_id.clone()?, u.hs_id.clone()?)))
            .collect();
        if companies.is_empty() {
            return;
        }
        let done = associate_account_contacts(self.app, &contacts, &companies).await;
        *self.stats.updated.entry("hubspot:association".into()).or_default() += done.associated;
        if done.failed > 0 {
            *self.stats.errors.entry(super::category_name(ErrorCategory::Associations)).or_default() += done.failed;
        }
    }
}
