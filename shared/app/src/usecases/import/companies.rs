//! Imports and companies (SPEC sections 1, 4 and 7), when company sync is
//! on: an account import matches existing HubSpot companies by their
//! contacts before it creates any, and associates each account's linked
//! contacts with its company; a contact or opportunity import associates
//! each record with the company linked to its account. The matching and
//! the associations are the sync's own ([`crate::usecases::companies`]).
//!
//! An account matched to a company is not created: it is handed to the sync
//! as a forced intent, which matches it the same way, writes both sides by
//! the first-sync rules and links it. Association failures are recorded in
//! sync health (`associations`) and never fail the record or the page.

use super::where_clause;
use crate::messages::queue_intents;
use crate::ports::{HUBSPOT_BATCH, SALESFORCE_BATCH, SfRecord};
use crate::usecases::companies::{
    AccountContacts, AccountMember, associate_account_contacts, associate_with_account_companies, match_companies,
    read_account_contacts,
};
use crate::usecases::sync::read_links;
use crate::{App, AppError};
use crm_sync_domain::{ObjectPair, SalesforceId, SfObject, SyncIntent, Trigger};
use crm_sync_store::ChunkCounts;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use tracing::info;

/// Rows per SOQL page, for the estimate of the accounts' contacts query.
const QUERY_ROWS_PER_PAGE: u64 = 2_000;

/// What an account page read of its accounts' contacts, kept for the
/// associations once the page is written.
#[derive(Debug, Default)]
pub(super) struct PageCompanies {
    contacts: AccountContacts,
}

/// The 18-character ids of rows.
fn row_ids(rows: &[SfRecord]) -> Vec<String> {
    rows.iter().filter_map(|r| SalesforceId::parse(&r.id).ok().map(|i| i.as_str().to_owned())).collect()
}

/// Account pages, before any create: reads the page's accounts' contacts
/// (one query per 200 accounts) and matches the unlinked accounts in
/// `fresh` to HubSpot companies by them. The matched accounts leave `fresh`
/// and are queued for the sync (counted as queued). Other pages: nothing.
pub(super) async fn match_before_create(
    app: &App,
    object: SfObject,
    rows: &[SfRecord],
    fresh: &mut Vec<usize>,
    counts: &mut ChunkCounts,
) -> Result<Option<PageCompanies>, AppError> {
    if object != SfObject::Account || !app.config().objects.companies {
        return Ok(None);
    }
    let contacts = read_account_contacts(app, &row_ids(rows)).await?;
    let unlinked: Vec<String> =
        fresh.iter().filter_map(|&i| SalesforceId::parse(&rows[i].id).ok()).map(|i| i.as_str().to_owned()).collect();
    let matches = match_companies(app, &unlinked, &contacts).await?;
    if !matches.is_empty() {
        let now = app.clock().now();
        let mut intents = Vec::new();
        fresh.retain(|&i| {
            let Ok(id) = SalesforceId::parse(&rows[i].id) else { return true };
            if matches.contains_key(id.as_str()) {
                intents.push(SyncIntent::salesforce(object, id, Trigger::Import, now));
                false
            } else {
                true
            }
        });
        info!(matched = intents.len(), "AccountsMatchedToCompanies");
        counts.queued += intents.len() as u64;
        queue_intents(app, intents).await?;
    }
    Ok(Some(PageCompanies { contacts }))
}

/// What [`associate_page`] needs of a page's rows, taken from them before
/// the page is written (its fresh rows move into their snapshots): the
/// rows' ids, and each record's account.
#[derive(Debug, Default)]
pub(super) struct PageAccounts {
    ids: Vec<String>,
    /// (Salesforce id, account id) of the rows with an account.
    with_account: Vec<(String, String)>,
}

impl PageAccounts {
    /// Nothing when company sync is off.
    pub(super) fn of(app: &App, object: SfObject, rows: &[SfRecord]) -> Self {
        if !app.config().objects.companies {
            return PageAccounts::default();
        }
        let with_account = if matches!(object, SfObject::Contact | SfObject::Opportunity) {
            rows.iter()
                .filter_map(|r| {
                    let account = r.fields.get("AccountId").and_then(Value::as_str).filter(|a| !a.is_empty())?;
                    Some((SalesforceId::parse(&r.id).ok()?.as_str().to_owned(), account.to_owned()))
                })
                .collect()
        } else {
            Vec::new()
        };
        PageAccounts { ids: row_ids(rows), with_account }
    }
}

/// After a page is written and linked: account pages associate each linked
/// account's linked contacts with its company; contact and opportunity
/// pages associate each linked record with the company of its account.
/// Links are read in one store call; associations go 100 per call.
pub(super) async fn associate_page(
    app: &App,
    pair: ObjectPair,
    object: SfObject,
    rows: PageAccounts,
    page: Option<PageCompanies>,
) -> Result<(), AppError> {
    if !app.config().objects.companies {
        return Ok(());
    }
    if let Some(page) = page {
        let links = read_links(app, ObjectPair::Company, &rows.ids, &[]).await?;
        let companies: BTreeMap<String, String> = page
            .contacts
            .linked
            .keys()
            .filter_map(|account| Some((account.clone(), links.by_salesforce(account)?.hubspot_id.clone())))
            .collect();
        associate_account_contacts(app, &page.contacts, &companies).await;
        return Ok(());
    }
    if !matches!(object, SfObject::Contact | SfObject::Opportunity) {
        return Ok(());
    }
    let with_account = rows.with_account;
    if with_account.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = with_account.iter().map(|(id, _)| id.clone()).collect();
    let links = read_links(app, pair, &ids, &[]).await?;
    let members: Vec<AccountMember> = with_account
        .into_iter()
        .filter_map(|(id, account)| {
            let link = links.by_salesforce(&id)?;
            Some(AccountMember { hubspot_id: link.hubspot_id.clone(), salesforce_id: Some(id), account })
        })
        .collect();
    associate_with_account_companies(app, pair, &members).await;
    Ok(())
}

/// The extra (Salesforce, HubSpot) calls companies add to importing
/// `records` of `object`, at most: for accounts, the query of their contacts
/// (one per 200 accounts, plus its pages), and for each contact with an
/// account a share of the reads of their companies and of the associations
/// (100 per call each); for contacts and opportunities, the associations
/// (100 per call). Counting the contacts with an account is one call.
pub(super) async fn company_calls(app: &App, object: SfObject, records: u64) -> Result<(u64, u64), AppError> {
    if records == 0 || !app.config().objects.companies {
        return Ok((0, 0));
    }
    let per_hubspot_call = HUBSPOT_BATCH as u64;
    Ok(match object {
        SfObject::Account => {
            let soql = format!("SELECT COUNT() FROM Contact{}", where_clause(Some("AccountId != null")));
            let contacts = app.salesforce().count(&soql).await?;
            let queries = records.div_ceil(SALESFORCE_BATCH as u64);
            (1 + queries + contacts.div_ceil(QUERY_ROWS_PER_PAGE), 2 * contacts.div_ceil(per_hubspot_call))
        }
        SfObject::Contact | SfObject::Opportunity => (0, records.div_ceil(per_hubspot_call)),
        SfObject::Lead => (0, 0),
    })
}

/// The fields a page needs for its associations, added to what it reads.
pub(super) fn association_fields(app: &App, object: SfObject, fields: &mut BTreeSet<String>) {
    if app.config().objects.companies && matches!(object, SfObject::Contact | SfObject::Opportunity) {
        fields.insert("AccountId".into());
    }
}
