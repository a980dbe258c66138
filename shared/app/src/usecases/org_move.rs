//! Moving to a new Salesforce production org (SPEC section 10): contact
//! links are kept, re-matched by email in the new org; company and deal
//! links are dropped.
//!
//! Runs against the app's current Salesforce connection, which is the new
//! org once the operator has changed the credentials. Nothing is written to
//! either CRM: only the links change.
//!
//! - Every company and deal link is deleted. Their records are matched (or
//!   created) again by the usual rules the next time they sync.
//! - Contact links are worked a page of 100 at a time: one HubSpot read for
//!   the contacts' emails, then the new org's Leads and Contacts of those
//!   emails with the one-record-per-email rule ([`resolve_emails`]). Each
//!   link is replaced by one to the pick, with no fingerprints and every
//!   field marked never written ([`unwritten_link_state`]): nothing was
//!   written to the new record, so its next sync is a first sync and reads
//!   no value as "cleared". The others of an email get the usual
//!   `duplicates` entry ([`duplicate_report`]). A contact whose email has no
//!   record in the new org (or that has no email, or is gone) loses its
//!   link; its next sync matches or creates by the usual rules.
//! - The sweep cursors are kept: the store moves them only forward, and a
//!   cursor is a point in time, as valid for the new org as for the old
//!   one. Every change the new org receives after the last sweep is seen by
//!   the next one; records loaded into it before are brought in by an
//!   import.
//!
//! Run it with the sync stopped. It can be run again after a failure: a
//! contact link already moved names the pick and is left as it is.

use crate::codec::{email_in, encode_link_state};
use crate::ports::HUBSPOT_BATCH;
use crate::usage::{Priority, api_usage, ensure_budget, flush_usage};
use crate::usecases::sync::{EmailPicks, duplicate_report, relink, resolve_emails};
use crate::{App, AppError};
use crm_sync_domain::decision::HUBSPOT_EMAIL_PROPERTY;
use crm_sync_domain::matching::SalesforceCandidate;
use crm_sync_domain::moves::unwritten_link_state;
use crm_sync_domain::{Email, ObjectPair};
use crm_sync_store::{Link, StoreResult};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use tracing::{info, instrument, warn};

/// Contact links worked per step: one HubSpot batch read.
const PAGE: usize = HUBSPOT_BATCH;

/// What a move will do and cost, said before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgMoveReview {
    /// Contact links to re-match by email in the new org.
    pub contact_links: u64,
    /// Company links to drop.
    pub company_links: u64,
    /// Deal links to drop.
    pub deal_links: u64,
    pub salesforce_calls: u64,
    pub hubspot_calls: u64,
    pub salesforce_remaining: u64,
    pub within_budget: bool,
}

/// What a move did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrgMoveReport {
    /// Contact links now naming the new org's record of their email.
    pub contacts_relinked: u64,
    /// Contact links dropped: no record of their email in the new org (or
    /// no email, the contact gone, or the pick linked already).
    pub contacts_unmatched: u64,
    /// New-org records sharing an email with the pick, reported under
    /// `duplicates` in sync health.
    pub duplicates: u64,
    pub company_links_dropped: u64,
    pub deal_links_dropped: u64,
}

/// The (Salesforce, HubSpot) calls of moving `contacts` contact links: per
/// page of 100, one HubSpot read and a Lead and a Contact query.
fn cost(contacts: u64) -> (u64, u64) {
    let pages = contacts.div_ceil(PAGE as u64);
    (2 * pages, pages)
}

/// Every link of a pair, page by page.
async fn count_links(app: &App, pair: ObjectPair) -> Result<u64, AppError> {
    let (mut count, mut after) = (0, None::<String>);
    loop {
        let page = app.store().list_links(pair, after.as_deref(), 1000).await?;
        count += page.links.len() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(count),
        }
    }
}

/// How many links of each pair a move touches, and what it costs.
#[instrument(skip_all)]
pub async fn org_move_review(app: &App) -> Result<OrgMoveReview, AppError> {
    let contact_links = count_links(app, ObjectPair::Contact).await?;
    let (salesforce_calls, hubspot_calls) = cost(contact_links);
    let usage = api_usage(app).await?;
    let salesforce_remaining = usage.salesforce.remaining(Priority::Bulk);
    Ok(OrgMoveReview {
        contact_links,
        company_links: count_links(app, ObjectPair::Company).await?,
        deal_links: count_links(app, ObjectPair::Deal).await?,
        salesforce_calls,
        hubspot_calls,
        salesforce_remaining,
        within_budget: salesforce_calls <= salesforce_remaining
            && hubspot_calls <= usage.hubspot.remaining(Priority::Bulk),
    })
}

/// Moves the links to the new org (see the module documentation); refuses
/// when the budget does not allow the contacts' reads.
#[instrument(skip_all)]
pub async fn move_to_new_org(app: &App) -> Result<OrgMoveReport, AppError> {
    let (salesforce, hubspot) = cost(count_links(app, ObjectPair::Contact).await?);
    ensure_budget(app, Priority::Bulk, salesforce, hubspot).await?;
    let mut report = OrgMoveReport {
        company_links_dropped: drop_links(app, ObjectPair::Company).await?,
        deal_links_dropped: drop_links(app, ObjectPair::Deal).await?,
        ..OrgMoveReport::default()
    };
    // Links made by this move name new-org ids; a listing may come across
    // them again.
    let mut moved = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = app.store().list_links(ObjectPair::Contact, after.as_deref(), PAGE).await?;
        let links: Vec<Link> = page.links.into_iter().filter(|l| !moved.contains(&l.salesforce_id)).collect();
        move_contacts(app, links, &mut moved, &mut report).await?;
        flush_usage(app).await?;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    info!(
        relinked = report.contacts_relinked,
        unmatched = report.contacts_unmatched,
        duplicates = report.duplicates,
        companies = report.company_links_dropped,
        deals = report.deal_links_dropped,
        "OrgMoved"
    );
    Ok(report)
}

/// Deletes every link of a pair; returns how many.
async fn drop_links(app: &App, pair: ObjectPair) -> Result<u64, AppError> {
    let (mut dropped, mut after) = (0, None::<String>);
    loop {
        let page = app.store().list_links(pair, after.as_deref(), PAGE).await?;
        for link in &page.links {
            if drop_link(app, link).await? {
                dropped += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(dropped),
        }
    }
}

/// Deletes one link; a link updated since it was listed is read again and
/// deleted at its new version. False when it was gone already.
async fn drop_link(app: &App, link: &Link) -> StoreResult<bool> {
    let mut version = link.version;
    loop {
        match app.store().delete_link(link.pair, &link.salesforce_id, version).await {
            Err(error) if error.is_condition_failed() => {
                match app.store().get_link_by_salesforce(link.pair, &link.salesforce_id).await? {
                    Some(current) => version = current.version,
                    None => return Ok(false),
                }
            }
            other => return other,
        }
    }
}

/// Moves one page of contact links to the new org's picks.
async fn move_contacts(
    app: &App,
    links: Vec<Link>,
    moved: &mut HashSet<String>,
    report: &mut OrgMoveReport,
) -> Result<(), AppError> {
    if links.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = links.iter().map(|l| l.hubspot_id.clone()).collect();
    let contacts = app.hubspot().batch_read("contacts", &ids, None, &[HUBSPOT_EMAIL_PROPERTY.to_owned()]).await?;
    let emails: HashMap<String, Email> = contacts
        .into_iter()
        .filter_map(|c| email_in(&c.properties, HUBSPOT_EMAIL_PROPERTY).map(|e| (c.id, e)))
        .collect();
    let wanted: Vec<Email> = emails.values().cloned().collect();
    let picks = resolve_emails(app, &wanted, |_| Vec::new()).await.complete()?;
    for link in links {
        match emails.get(&link.hubspot_id).and_then(|email| picks.of(email)) {
            Some(found) => {
                let chosen = found.chosen.clone();
                let relinked = move_contact(app, &link, &chosen, moved).await?;
                if relinked {
                    report.contacts_relinked += 1;
                    report.duplicates += report_duplicates(app, &picks, &link, &found.others, &chosen).await?;
                } else {
                    report.contacts_unmatched += 1;
                }
            }
            None => {
                drop_link(app, &link).await?;
                report.contacts_unmatched += 1;
            }
        }
    }
    Ok(())
}

/// Replaces a contact's link by one to `chosen`; false when the link was
/// dropped instead (the pick is linked to another contact already).
async fn move_contact(
    app: &App,
    link: &Link,
    chosen: &SalesforceCandidate,
    moved: &mut HashSet<String>,
) -> Result<bool, AppError> {
    if link.salesforce_id == chosen.id.as_str() {
        // Moved by an earlier run.
        return Ok(true);
    }
    let state = unwritten_link_state(app.config(), ObjectPair::Contact, chosen.object);
    let to = Link {
        pair: ObjectPair::Contact,
        salesforce_object: chosen.object.api_name().to_owned(),
        salesforce_id: chosen.id.as_str().to_owned(),
        hubspot_id: link.hubspot_id.clone(),
        fingerprints: encode_link_state(&state),
        version: 0,
        updated_at: app.clock().now(),
    };
    match relink(app.store(), link, to).await {
        Ok(stored) => {
            moved.insert(stored.salesforce_id);
            Ok(true)
        }
        Err(error) if error.is_condition_failed() => {
            // The pick is linked to another contact already, or the link
            // changed meanwhile: the contact is matched again at its next sync.
            warn!(%error, "OrgMoveLinkDropped");
            drop_link(app, link).await?;
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// Files the `duplicates` entry of each record that lost the email to
/// `chosen` (a converted Lead is the Contact it became, not a duplicate).
async fn report_duplicates(
    app: &App,
    picks: &EmailPicks,
    link: &Link,
    others: &[SalesforceCandidate],
    chosen: &SalesforceCandidate,
) -> Result<u64, AppError> {
    let mut count = 0;
    for other in others.iter().filter(|o| picks.winner_over(o.id.as_str()).is_some()) {
        app.store().record_error(&duplicate_report(other.id.as_str(), chosen, Some(link.hubspot_id.clone()))).await?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::cost;

    #[test]
    fn a_page_of_contacts_costs_one_hubspot_read_and_two_salesforce_queries() {
        assert_eq!(cost(0), (0, 0));
        assert_eq!(cost(1), (2, 1));
        assert_eq!(cost(100), (2, 1));
        assert_eq!(cost(101), (4, 2));
    }
}
