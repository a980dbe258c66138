//! Matching records across the two systems (SPEC section 1): contacts by
//! normalised email, with one deterministic pick when several Salesforce
//! records share an email; companies by stored link, else by the links of
//! their associated contacts.
//!
//! Owns the choice only; reading candidates and storing links is the use
//! cases' job. Deals (and later tasks) match by their stored link alone,
//! which needs no logic here: no link means create.

use crate::model::{Email, SalesforceId, SfObject};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A Salesforce Lead or Contact that carries an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesforceCandidate {
    /// The record's 18-character id.
    pub id: SalesforceId,
    /// Lead or Contact.
    pub object: SfObject,
    /// The normalised email the candidates are grouped by.
    pub email: Email,
    /// `CreatedDate`: the oldest record wins among equals.
    pub created: DateTime<Utc>,
    /// A converted Lead (`IsConverted`): read-only, its person lives on.
    pub converted: bool,
}

/// The pick among Salesforce records sharing one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMatch {
    /// The record the HubSpot contact syncs with.
    pub chosen: SalesforceCandidate,
    /// The records not chosen, to report in sync health as duplicates.
    pub others: Vec<SalesforceCandidate>,
}

/// The documented order of preference, best first:
/// 1. an unconverted record over a converted Lead;
/// 2. a Contact over a Lead;
/// 3. the oldest `CreatedDate`;
/// 4. the smallest 18-character id.
///
/// The order is total, so the pick never depends on the order the
/// candidates were read in, and a HubSpot contact never flips between them.
fn preference(c: &SalesforceCandidate) -> (bool, u8, DateTime<Utc>, &SalesforceId) {
    let object_rank = match c.object {
        SfObject::Contact => 0,
        _ => 1,
    };
    (c.converted, object_rank, c.created, &c.id)
}

/// Picks the Salesforce record for one email. `None` when there is no
/// candidate.
pub fn pick_salesforce_match(candidates: &[SalesforceCandidate]) -> Option<ContactMatch> {
    let mut sorted: Vec<&SalesforceCandidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| preference(a).cmp(&preference(b)));
    sorted.dedup_by(|a, b| a.id == b.id);
    let (first, rest) = sorted.split_first()?;
    Some(ContactMatch { chosen: (*first).clone(), others: rest.iter().map(|c| (*c).clone()).collect() })
}

/// Groups candidates by email and picks one per email.
pub fn match_contacts_by_email(candidates: &[SalesforceCandidate]) -> BTreeMap<Email, ContactMatch> {
    let mut by_email: BTreeMap<Email, Vec<SalesforceCandidate>> = BTreeMap::new();
    for c in candidates {
        by_email.entry(c.email.clone()).or_default().push(c.clone());
    }
    by_email.into_iter().filter_map(|(email, group)| pick_salesforce_match(&group).map(|m| (email, m))).collect()
}

/// How a company was matched to its counterpart. `Id` is the other side's
/// id: a Salesforce Account for a HubSpot company (the default), a HubSpot
/// company for a Salesforce Account; the rule is the same both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyMatch<Id = SalesforceId> {
    /// The stored link.
    Linked(Id),
    /// The counterpart most of the company's linked contacts belong to.
    ByAssociatedContacts(Id),
    /// No match: create (subject to SPEC section 5).
    None,
}

/// Matches a company (SPEC section 1): by its stored link, else by the
/// counterparts its linked contacts belong to on the other side: for a
/// HubSpot company, the accounts of the Salesforce Contacts its associated
/// contacts are linked to; for an Account, the companies the HubSpot
/// contacts linked to its Contacts are associated with. The counterpart
/// shared by the most contacts wins; ties go to the smallest id.
///
/// Candidates that are already linked to another record must be left out
/// by the caller: a link pairs one record with one record.
pub fn match_company<Id: Ord + Clone>(linked: Option<&Id>, contact_counterparts: &[Option<Id>]) -> CompanyMatch<Id> {
    if let Some(id) = linked {
        return CompanyMatch::Linked(id.clone());
    }
    let mut counts: BTreeMap<&Id, usize> = BTreeMap::new();
    for counterpart in contact_counterparts.iter().flatten() {
        *counts.entry(counterpart).or_default() += 1;
    }
    // BTreeMap iterates ids ascending; max_by_key keeps the last maximum, so
    // reverse to keep the smallest id among equals.
    counts
        .into_iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(CompanyMatch::None, |(id, _)| CompanyMatch::ByAssociatedContacts(id.clone()))
}
