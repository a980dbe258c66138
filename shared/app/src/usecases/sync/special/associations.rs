//! Associations between HubSpot records that follow Salesforce lookups:
//! before planning, the account of a deal about to create an Opportunity
//! (from the deal's first associated company); after the writes, the
//! company association of contacts and deals whose account travelled.
//!
//! Associations never block a record's sync: an association that fails is
//! reported in sync health (`associations`) and the record stays synced.

use crate::codec::category_name;
use crate::ports::HUBSPOT_BATCH;
use crate::usecases::companies::{AccountMember, associate_with_account_companies};
use crate::usecases::sync::read_links;
use crate::usecases::sync::{PairSync, RecordResult};
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::{ObjectPair, SalesforceId};
use std::collections::HashMap;
use tracing::{debug, warn};

impl PairSync<'_> {
    /// For HubSpot deals about to create an Opportunity: the Salesforce
    /// account linked to each deal's first associated company (one call per
    /// 100 deals). A deal whose company is not linked gets no account.
    pub(in crate::usecases::sync) async fn deal_accounts(&mut self) -> HashMap<usize, String> {
        let mut accounts = HashMap::new();
        if self.pair != ObjectPair::Deal {
            return accounts;
        }
        let units: Vec<usize> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none() && !unit.origin_missing && unit.hs.is_some() && unit.sf.is_none()
            })
            .collect();
        // Each deal's first company, then their links in one read.
        let mut firsts: Vec<(usize, String)> = Vec::new();
        for chunk in units.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
            let associated = match self.app.hubspot().associated_ids("deals", "companies", &ids).await {
                Ok(found) => found,
                Err(error) => {
                    self.fail_units(chunk, &error);
                    continue;
                }
            };
            for &u in chunk {
                let id = self.units[u].hs_id.clone().unwrap_or_default();
                if let Some(company) = associated.get(&id).and_then(|c| c.first()) {
                    firsts.push((u, company.clone()));
                }
            }
        }
        if firsts.is_empty() {
            return accounts;
        }
        let companies: Vec<String> = firsts.iter().map(|(_, c)| c.clone()).collect();
        match read_links(self.app, ObjectPair::Company, &[], &companies).await {
            Ok(links) => {
                for (u, company) in firsts {
                    match links.by_hubspot(&company) {
                        Some(link) => {
                            accounts.insert(u, link.salesforce_id.clone());
                        }
                        None => debug!("CompanyNotLinkedYet"),
                    }
                }
            }
            Err(error) => warn!(%error, "LinkUnreadable"),
        }
        accounts
    }

    /// Associates HubSpot contacts (or deals) with the companies linked to
    /// their Salesforce accounts, with the shared
    /// [`associate_with_account_companies`]. A failure is recorded in sync
    /// health (`associations`) and does not undo the record's sync.
    pub(in crate::usecases::sync) async fn associate_companies(&mut self, follow: Vec<(usize, SalesforceId)>) {
        let members: Vec<AccountMember> = follow
            .into_iter()
            .filter(|(u, _)| matches!(self.units[*u].result, Some(RecordResult::Done)))
            .filter_map(|(u, account)| {
                Some(AccountMember {
                    hubspot_id: self.units[u].hs_id.clone()?,
                    salesforce_id: self.units[u].sf_id.clone(),
                    account: account.as_str().to_owned(),
                })
            })
            .collect();
        if members.is_empty() {
            return;
        }
        let done = associate_with_account_companies(self.app, self.pair, &members).await;
        *self.stats.updated.entry("hubspot:association".into()).or_default() += done.associated;
        if done.failed > 0 {
            *self.stats.errors.entry(category_name(ErrorCategory::Associations)).or_default() += done.failed;
        }
    }
}
