//! Companies and the people and deals around them, shared by the live sync
//! and imports (SPEC sections 1 and 4):
//!
//! - matching a company with no link by its contacts, both ways: a HubSpot
//!   company finds the Account its associated contacts' Salesforce Contacts
//!   belong to ([`read_company_contacts`], [`match_accounts`]); an Account
//!   finds the HubSpot company its Contacts' linked HubSpot contacts are
//!   associated with ([`read_account_contacts`], [`match_companies`]). The
//!   rule is the domain's `match_company`; candidates already linked to
//!   another record are left out, and one candidate goes to one record;
//! - associating HubSpot contacts and deals with the company linked to their
//!   Salesforce account ([`associate_with_account_companies`]), and the
//!   linked contacts of accounts with their companies
//!   ([`associate_account_contacts`]).
//!
//! Every read and write is batched (HubSpot 100 per call, Salesforce 200 ids
//! per query, links one store call per side). An association that HubSpot
//! refuses is recorded in sync health (`associations`) and never fails the
//! record it belongs to.

use crate::codec::{category_name, soql_escape};
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH};
use crate::usecases::sync::{LinkIndex, read_links};
use crate::{App, AppError};
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::matching::{CompanyMatch, match_company};
use crm_sync_domain::{HubSpotId, ObjectPair, SalesforceId, SfObject};
use crm_sync_store::ErrorReport;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tracing::{debug, warn};

/// The 18-character form of a Salesforce id, or `None` when it is not one.
fn salesforce_key(id: &str) -> Option<String> {
    SalesforceId::parse(id).ok().map(|i| i.as_str().to_owned())
}

/// The contacts of HubSpot companies, as matching and SPEC section 5 see
/// them.
#[derive(Debug, Default)]
pub(crate) struct CompanyContacts {
    /// The associated HubSpot contact ids of each company read.
    pub(crate) associated: BTreeMap<String, Vec<String>>,
    /// The contact links of those contacts.
    pub(crate) links: LinkIndex,
    /// For each linked Salesforce Contact (18-character id): its account,
    /// `None` when it has none. Contacts not read are absent.
    pub(crate) accounts: HashMap<String, Option<String>>,
}

impl CompanyContacts {
    /// The accounts of the Salesforce Contacts a company's contacts are
    /// linked to, one entry per associated contact.
    fn contact_accounts(&self, company: &str) -> Vec<Option<String>> {
        self.associated
            .get(company)
            .into_iter()
            .flatten()
            .map(|c| self.links.by_hubspot(c).and_then(|l| self.accounts.get(&l.salesforce_id).cloned().flatten()))
            .collect()
    }
}

/// Reads what [`CompanyContacts`] holds for these HubSpot companies: their
/// associated contacts (one call per 100 companies), the contacts' links
/// (one store call), and the account of each linked Salesforce Contact (one
/// call per 200).
pub(crate) async fn read_company_contacts(app: &App, companies: &[String]) -> Result<CompanyContacts, AppError> {
    let mut out = CompanyContacts::default();
    if companies.is_empty() {
        return Ok(out);
    }
    out.associated = app.hubspot().associated_ids("companies", "contacts", companies).await?;
    let contacts: Vec<String> = out.associated.values().flatten().cloned().collect();
    out.links = read_links(app, ObjectPair::Contact, &[], &contacts).await?;
    let salesforce_contacts: Vec<String> = contacts
        .iter()
        .filter_map(|c| out.links.by_hubspot(c))
        .filter(|l| l.salesforce_object == SfObject::Contact.api_name())
        .map(|l| l.salesforce_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for chunk in salesforce_contacts.chunks(SALESFORCE_BATCH) {
        let records = app.salesforce().retrieve("Contact", chunk, &["Id".into(), "AccountId".into()]).await?;
        for r in records {
            let Some(id) = salesforce_key(&r.id) else { continue };
            let account = r.fields.get("AccountId").and_then(Value::as_str).and_then(salesforce_key);
            out.accounts.insert(id, account);
        }
    }
    Ok(out)
}

/// For HubSpot companies with no link: the Account each matches by its
/// contacts (company id -> 18-character account id). Accounts already
/// linked are left out (one store call); an account goes to one company
/// only, the first in id order.
pub(crate) async fn match_accounts(
    app: &App,
    companies: &[String],
    contacts: &CompanyContacts,
) -> Result<BTreeMap<String, String>, AppError> {
    let candidates: Vec<String> = companies
        .iter()
        .flat_map(|c| contacts.contact_accounts(c))
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut matches = BTreeMap::new();
    if candidates.is_empty() {
        return Ok(matches);
    }
    let linked = read_links(app, ObjectPair::Company, &candidates, &[]).await?;
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut ordered: Vec<&String> = companies.iter().collect();
    ordered.sort();
    ordered.dedup();
    for company in ordered {
        let accounts: Vec<Option<SalesforceId>> = contacts
            .contact_accounts(company)
            .into_iter()
            .map(|a| {
                a.filter(|a| linked.by_salesforce(a).is_none() && !taken.contains(a))
                    .and_then(|a| SalesforceId::parse(&a).ok())
            })
            .collect();
        if let CompanyMatch::ByAssociatedContacts(account) = match_company(None, &accounts) {
            debug!("CompanyMatchedByContacts");
            taken.insert(account.as_str().to_owned());
            matches.insert(company.clone(), account.as_str().to_owned());
        }
    }
    Ok(matches)
}

/// The Salesforce Contacts of Accounts that are linked to HubSpot
/// contacts: (HubSpot contact id, Salesforce Contact id) per account
/// (18-character ids).
#[derive(Debug, Default)]
pub(crate) struct AccountContacts {
    pub(crate) linked: BTreeMap<String, Vec<(String, String)>>,
}

/// Reads the Contacts of these Accounts (one query per 200 accounts) and
/// their links (one store call).
pub(crate) async fn read_account_contacts(app: &App, accounts: &[String]) -> Result<AccountContacts, AppError> {
    let mut out = AccountContacts::default();
    let accounts: Vec<String> =
        accounts.iter().filter_map(|a| salesforce_key(a)).collect::<BTreeSet<_>>().into_iter().collect();
    let mut account_of: HashMap<String, String> = HashMap::new();
    for chunk in accounts.chunks(SALESFORCE_BATCH) {
        let list = chunk.iter().map(|a| format!("'{}'", soql_escape(a))).collect::<Vec<_>>().join(",");
        let soql = format!("SELECT Id, AccountId FROM Contact WHERE AccountId IN ({list})");
        for row in app.salesforce().query(&soql).await? {
            let account = row.fields.get("AccountId").and_then(Value::as_str).and_then(salesforce_key);
            if let (Some(id), Some(account)) = (salesforce_key(&row.id), account) {
                account_of.insert(id, account);
            }
        }
    }
    if account_of.is_empty() {
        return Ok(out);
    }
    let ids: Vec<String> = account_of.keys().cloned().collect();
    let links = read_links(app, ObjectPair::Contact, &ids, &[]).await?;
    for (contact, account) in account_of {
        if let Some(link) = links.by_salesforce(&contact) {
            out.linked.entry(account).or_default().push((link.hubspot_id.clone(), contact));
        }
    }
    for list in out.linked.values_mut() {
        list.sort();
    }
    Ok(out)
}

/// For Accounts with no link: the HubSpot company each matches by its
/// Contacts' linked HubSpot contacts (account id -> company id). Reads the
/// companies of those contacts (one call per 100) and their links (one
/// store call); companies already linked are left out, and a company goes
/// to one account only, the first in id order.
pub(crate) async fn match_companies(
    app: &App,
    accounts: &[String],
    contacts: &AccountContacts,
) -> Result<BTreeMap<String, String>, AppError> {
    let mut matches = BTreeMap::new();
    let people: Vec<String> = accounts
        .iter()
        .filter_map(|a| contacts.linked.get(a))
        .flatten()
        .map(|(hs, _)| hs.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if people.is_empty() {
        return Ok(matches);
    }
    let companies_of = app.hubspot().associated_ids("contacts", "companies", &people).await?;
    let candidates: Vec<String> =
        companies_of.values().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    if candidates.is_empty() {
        return Ok(matches);
    }
    let linked = read_links(app, ObjectPair::Company, &[], &candidates).await?;
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut ordered: Vec<&String> = accounts.iter().collect();
    ordered.sort();
    ordered.dedup();
    for account in ordered {
        let counterparts: Vec<Option<HubSpotId>> = contacts
            .linked
            .get(account)
            .into_iter()
            .flatten()
            .flat_map(|(hs, _)| companies_of.get(hs).into_iter().flatten())
            .map(|c| {
                Some(c)
                    .filter(|c| linked.by_hubspot(c).is_none() && !taken.contains(*c))
                    .and_then(|c| HubSpotId::parse(c).ok())
            })
            .collect();
        if let CompanyMatch::ByAssociatedContacts(company) = match_company(None, &counterparts) {
            debug!("AccountMatchedByContacts");
            taken.insert(company.as_str().to_owned());
            matches.insert(account.clone(), company.as_str().to_owned());
        }
    }
    Ok(matches)
}

/// A HubSpot contact or deal whose Salesforce record belongs to an account.
#[derive(Debug, Clone)]
pub(crate) struct AccountMember {
    /// The HubSpot contact or deal.
    pub(crate) hubspot_id: String,
    /// Its Salesforce Contact or Opportunity, for the sync-health entry.
    pub(crate) salesforce_id: Option<String>,
    /// The account (any id form).
    pub(crate) account: String,
}

/// What an association pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Associated {
    /// Pairs HubSpot accepted.
    pub(crate) associated: u64,
    /// Pairs refused or not sent, each recorded in sync health.
    pub(crate) failed: u64,
}

/// Associates HubSpot contacts (`pair` Contact) or deals (`pair` Deal) with
/// the companies linked to their accounts: the accounts' links in one store
/// call, then one call per 100 pairs. Members whose account is not linked
/// are left alone (the account's own link associates them later).
pub(crate) async fn associate_with_account_companies(
    app: &App,
    pair: ObjectPair,
    members: &[AccountMember],
) -> Associated {
    let accounts: Vec<String> = members.iter().filter_map(|m| salesforce_key(&m.account)).collect();
    if accounts.is_empty() || !app.config().objects.companies {
        return Associated::default();
    }
    let links = match read_links(app, ObjectPair::Company, &accounts, &[]).await {
        Ok(links) => links,
        Err(error) => {
            warn!(%error, "LinkUnreadable");
            return Associated::default();
        }
    };
    let pairs: Vec<(String, String, Option<String>)> = members
        .iter()
        .filter_map(|m| {
            let company = links.by_salesforce(&salesforce_key(&m.account)?)?;
            Some((m.hubspot_id.clone(), company.hubspot_id.clone(), m.salesforce_id.clone()))
        })
        .collect();
    if pairs.len() < members.len() {
        debug!(not_linked = members.len() - pairs.len(), "AccountNotLinkedYet");
    }
    send_associations(app, pair, pairs).await
}

/// Associates the linked contacts of accounts with the companies now linked
/// to them: `companies` maps account -> company (one call per 100 pairs).
pub(crate) async fn associate_account_contacts(
    app: &App,
    contacts: &AccountContacts,
    companies: &BTreeMap<String, String>,
) -> Associated {
    if !app.config().objects.companies {
        return Associated::default();
    }
    let pairs: Vec<(String, String, Option<String>)> = companies
        .iter()
        .flat_map(|(account, company)| {
            contacts
                .linked
                .get(account)
                .into_iter()
                .flatten()
                .map(move |(hs, sf)| (hs.clone(), company.clone(), Some(sf.clone())))
        })
        .collect();
    send_associations(app, ObjectPair::Contact, pairs).await
}

/// Sends (member, company, Salesforce member id) associations, 100 per
/// call; a refused call files each of its pairs in sync health.
async fn send_associations(app: &App, pair: ObjectPair, pairs: Vec<(String, String, Option<String>)>) -> Associated {
    let (from_object, name) = match pair {
        ObjectPair::Deal => ("deals", "deal"),
        _ => ("contacts", "contact"),
    };
    let mut pairs = pairs;
    pairs.sort();
    pairs.dedup();
    let mut done = Associated::default();
    for chunk in pairs.chunks(HUBSPOT_BATCH) {
        let ids: Vec<(String, String)> = chunk.iter().map(|(m, c, _)| (m.clone(), c.clone())).collect();
        match app.hubspot().associate(from_object, "companies", &ids).await {
            Ok(()) => done.associated += ids.len() as u64,
            Err(error) => {
                warn!(%error, pairs = ids.len(), "AssociationsRefused");
                for (member, _, salesforce_id) in chunk {
                    done.failed += 1;
                    let report = ErrorReport {
                        key: format!("{name}:association:{member}"),
                        category: category_name(ErrorCategory::Associations),
                        pair,
                        salesforce_id: salesforce_id.clone(),
                        hubspot_id: Some(member.clone()),
                        message: format!("{}: {}", error.code, error.message),
                        retryable: error.is_retryable(),
                    };
                    if let Err(error) = app.store().record_error(&report).await {
                        warn!(%error, "ErrorNotRecorded");
                    }
                }
            }
        }
    }
    done
}
