//! One Salesforce record per email (SPEC section 1), wherever a contact
//! enters: a live change, the sweep and a resync (all through the sync's
//! matching stage), and an import.
//!
//! [`resolve_emails`] reads every Salesforce Lead and Contact carrying one of
//! the emails (SOQL `Email IN (...)`, 200 emails per query and object) and
//! picks one record per email with the domain's rule
//! ([`pick_salesforce_match`]: unconverted over converted, Contact over Lead,
//! oldest `CreatedDate`, smallest id). The pick is the same whichever record
//! of the email came in, in whatever order, batch, page or chunk. An import
//! chunk read with Bulk API resolves all its emails at once with
//! [`resolve_emails_by_scan`] (one Bulk job per object over the org, a few
//! calls per chunk), the same rule over the same records.
//!
//! It also notes which Contact each converted Lead read became, so that an
//! import meeting that Contact before any sync followed the conversion
//! hands it to the sync, which moves the Lead's link to it.
//!
//! A record that is not the pick is quarantined by its caller: never written
//! to HubSpot, never linked, not retried, and reported in sync health with
//! [`duplicate_report`] (category `duplicates`, keyed by its Salesforce id,
//! naming the pick). Once it becomes the pick (the other record was deleted
//! or its email changed), its next sync links it and resolves the entry.

use super::moves::CONVERTED_CONTACT_FIELD;
use crate::App;
use crate::codec::{category_name, email_in, parse_time, soql_escape};
use crate::ports::{PackedRows, RowView, SALESFORCE_BATCH, SfRecord};
use chrono::{DateTime, Utc};
use crm_sync_crm::error::CrmError;
use crm_sync_domain::decision::SALESFORCE_EMAIL_FIELD;
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::matching::{ContactMatch, SalesforceCandidate, match_contacts_by_email};
use crm_sync_domain::{Email, ObjectPair, SalesforceId, SfObject};
use crm_sync_store::ErrorReport;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The Salesforce records sharing each email, and the one picked per email.
#[derive(Debug, Default)]
pub(crate) struct EmailPicks {
    /// Per normalised email: the pick and the others. An email whose
    /// query failed for either object has no entry (half an answer could
    /// pick the wrong record).
    matches: BTreeMap<Email, ContactMatch>,
    /// Every record read, by 18-character id.
    records: HashMap<String, SfRecord>,
    /// The emails of each failed query, with its error.
    failed: Vec<(BTreeSet<Email>, CrmError)>,
    /// Converted Leads read, by the Contact each became
    /// (`ConvertedContactId`): Lead ids, smallest first.
    conversions: HashMap<String, Vec<String>>,
}

impl EmailPicks {
    /// The pick and the others for an email; `None` when no Salesforce
    /// record carries it or its query failed.
    pub(crate) fn of(&self, email: &Email) -> Option<&ContactMatch> {
        self.matches.get(email)
    }

    /// The pick a record lost to, when it is one of the others of an email
    /// and not a converted Lead: a converted Lead's person lives on in its
    /// Contact, so its link passing on is a conversion, not a duplicate.
    pub(crate) fn winner_over(&self, salesforce_id: &str) -> Option<&SalesforceCandidate> {
        self.matches
            .values()
            .find(|m| m.others.iter().any(|o| o.id.as_str() == salesforce_id && !o.converted))
            .map(|m| &m.chosen)
    }

    /// The converted Leads read that became `contact` (18-character ids,
    /// smallest first): a Contact met before any sync followed its
    /// conversion has a Lead here whose link is to pass to it.
    pub(crate) fn leads_converted_into(&self, contact: &str) -> &[String] {
        self.conversions.get(contact).map(Vec::as_slice).unwrap_or_default()
    }

    /// A record read by the resolver, by id.
    pub(crate) fn record(&self, id: &SalesforceId) -> Option<&SfRecord> {
        self.records.get(id.as_str())
    }

    /// The error of the query that covered `email`, if it failed.
    pub(crate) fn error(&self, email: &Email) -> Option<&CrmError> {
        self.failed.iter().find(|(emails, _)| emails.contains(email)).map(|(_, e)| e)
    }

    /// The picks, or the first failed query's error, for callers that
    /// fail as a whole.
    pub(crate) fn complete(self) -> Result<EmailPicks, CrmError> {
        let mut picks = self;
        match picks.failed.pop() {
            Some((_, error)) => Err(error),
            None => Ok(picks),
        }
    }
}

/// Reads every Salesforce Lead and Contact carrying one of `emails` and
/// picks one record per email. `fields` names what else to read of each
/// object (besides `Id`, `Email`, `CreatedDate` and `IsConverted`, which the
/// rule needs). Two queries per 200 distinct emails; a failed query leaves
/// its emails unanswered and is reported in [`EmailPicks::error`].
pub(crate) async fn resolve_emails(
    app: &App,
    emails: &[Email],
    fields: impl Fn(SfObject) -> Vec<String>,
) -> EmailPicks {
    let emails: Vec<&Email> = emails.iter().collect::<BTreeSet<_>>().into_iter().collect();
    let mut picks = EmailPicks::default();
    let mut candidates = Vec::new();
    for object in [SfObject::Lead, SfObject::Contact] {
        let mut select: BTreeSet<String> = fields(object).into_iter().collect();
        select.extend(pick_fields(object).iter().map(|f| (*f).to_owned()));
        let select = select.into_iter().collect::<Vec<_>>().join(", ");
        query_by_email(app, object, &select, &emails, true, &mut picks, &mut candidates).await;
    }
    finish(picks, candidates)
}

/// Reads the `object` records carrying one of `emails` (SOQL `Email IN`,
/// 200 emails per query) into the candidates; a failed query leaves its
/// emails unanswered.
async fn query_by_email(
    app: &App,
    object: SfObject,
    select: &str,
    emails: &[&Email],
    keep: bool,
    picks: &mut EmailPicks,
    candidates: &mut Vec<SalesforceCandidate>,
) {
    for chunk in emails.chunks(SALESFORCE_BATCH) {
        let list = chunk.iter().map(|e| format!("'{}'", soql_escape(e.as_str()))).collect::<Vec<_>>().join(",");
        let soql = format!("SELECT {select} FROM {} WHERE Email IN ({list})", object.api_name());
        match app.salesforce().query(&soql).await {
            Ok(rows) => {
                for row in rows {
                    absorb(picks, candidates, object, row, keep);
                }
            }
            Err(error) => picks.failed.push((chunk.iter().map(|e| (*e).clone()).collect(), error)),
        }
    }
}

/// What the rule reads of each object: the email, the creation date and
/// the id; of a Lead also whether it was converted, and into what.
fn pick_fields(object: SfObject) -> &'static [&'static str] {
    match object {
        SfObject::Lead => &["Id", SALESFORCE_EMAIL_FIELD, "CreatedDate", "IsConverted", CONVERTED_CONTACT_FIELD],
        _ => &["Id", SALESFORCE_EMAIL_FIELD, "CreatedDate"],
    }
}

/// What an import chunk read of its own object, so that the email rule
/// need not read that object again: every record of `object` was read,
/// `rows` are those the chunk kept (its range; all of them when the chunk
/// covers the whole object), `elsewhere` the [`email_key`]s of the others.
pub(crate) struct ObjectRead<'a> {
    pub object: SfObject,
    pub rows: &'a PackedRows,
    pub elsewhere: &'a EmailKeys,
    /// At most this many SOQL queries for the records outside the chunk
    /// (what a Bulk job over the object would cost); more, and the object
    /// is scanned instead.
    pub max_queries: usize,
}

/// A set of [`email_key`]s. The keys are hashes already, so the set uses
/// them as they are instead of hashing them again (an import chunk adds
/// one for every record of its object outside its range).
pub(crate) type EmailKeys = HashSet<u64, BuildHasherDefault<KeyIsHash>>;

/// The hasher of [`EmailKeys`]: a `u64` key is its own hash.
#[derive(Default)]
pub(crate) struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `u64` keys; any other key still hashes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// The key an email is known by in [`ObjectRead::elsewhere`]: a 64-bit
/// hash of its normalised form. Two emails sharing a key only cost a query.
pub(crate) fn email_key(email: &Email) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(email.as_str(), &mut hasher);
    std::hash::Hasher::finish(&hasher)
}

/// Like [`resolve_emails`] for a large set of emails (an import chunk's):
/// instead of two queries per 200 emails, one Bulk job per object reads
/// every Lead and Contact of the org that has an email (`Email != null`),
/// keeping, page by page, only the rows carrying one of `emails`, so that
/// memory follows the set, not the org. `read` is what the chunk read of
/// its own object ([`ObjectRead`]): its rows stand in for that object's
/// job, and only the emails also seen outside the chunk are looked up, by
/// query (none when every email of the object is unique). An object in
/// `none_with_email` (no record of it had an email when the import was
/// planned) is not read: a record of it made since is a change the live
/// sync meets with the same rule. A failed job leaves every email
/// unanswered. The picks hold no records ([`EmailPicks::record`] answers
/// `None`), and no pick for an email only one record carries (nothing to
/// weigh: that record is written as it is).
pub(crate) async fn resolve_emails_by_scan(
    app: &App,
    emails: &BTreeSet<Email>,
    read: Option<ObjectRead<'_>>,
    none_with_email: &[SfObject],
) -> EmailPicks {
    let mut picks = EmailPicks::default();
    let mut candidates = Vec::new();
    if emails.is_empty() {
        return picks;
    }
    let carries = |r: RowView<'_>| {
        r.text(SALESFORCE_EMAIL_FIELD).and_then(|s| Email::parse(s).ok()).is_some_and(|e| emails.contains(&e))
    };
    for object in [SfObject::Lead, SfObject::Contact] {
        let fields = pick_fields(object);
        if let Some(read) = read.as_ref().filter(|r| r.object == object) {
            let contested = contested_rows(read, &candidates);
            for i in contested {
                absorb(&mut picks, &mut candidates, object, read.rows.trimmed(i, fields), false);
            }
            let also_elsewhere: Vec<&Email> =
                emails.iter().filter(|e| read.elsewhere.contains(&email_key(e))).collect();
            if also_elsewhere.len().div_ceil(SALESFORCE_BATCH) <= read.max_queries {
                let select = fields.join(", ");
                query_by_email(app, object, &select, &also_elsewhere, false, &mut picks, &mut candidates).await;
                continue;
            }
        } else if none_with_email.contains(&object) {
            continue;
        }
        let soql =
            format!("SELECT {} FROM {} WHERE {SALESFORCE_EMAIL_FIELD} != null", fields.join(", "), object.api_name());
        match app.salesforce().bulk_query_filtered(&soql, &carries).await {
            Ok(rows) => {
                for i in 0..rows.len() {
                    absorb(&mut picks, &mut candidates, object, rows.record(i), false);
                }
            }
            Err(error) => picks.failed.push((emails.clone(), error)),
        }
    }
    finish(picks, candidates)
}

/// The rows of a chunk's own read that may share their email with another
/// record, the only ones the rule has to weigh: an email no other record
/// carries has no pick, and its record is written as it is. For the
/// Contacts (read after the Leads): an email met twice in the chunk, met
/// outside it (`elsewhere`), or carried by a Lead read. For another
/// object, every row.
fn contested_rows(read: &ObjectRead<'_>, read_before: &[SalesforceCandidate]) -> Vec<usize> {
    let rows = read.rows;
    let key_of =
        |i: usize| rows.text(i, SALESFORCE_EMAIL_FIELD).and_then(|s| Email::parse(s).ok()).map(|e| email_key(&e));
    if read.object != SfObject::Contact {
        return (0..rows.len()).collect();
    }
    let keys: Vec<Option<u64>> = (0..rows.len()).map(key_of).collect();
    let mut in_chunk: HashMap<u64, u32, BuildHasherDefault<KeyIsHash>> =
        HashMap::with_capacity_and_hasher(keys.len(), BuildHasherDefault::default());
    for key in keys.iter().flatten() {
        *in_chunk.entry(*key).or_default() += 1;
    }
    let on_leads: EmailKeys = read_before.iter().map(|c| email_key(&c.email)).collect();
    keys.iter()
        .enumerate()
        .filter_map(|(i, key)| Some((i, (*key)?)))
        .filter(|(_, key)| in_chunk[key] > 1 || read.elsewhere.contains(key) || on_leads.contains(key))
        .map(|(i, _)| i)
        .collect()
}

/// Takes one Lead or Contact read into the picks: a candidate for its
/// email, the Contact it became when it is a converted Lead, and the record
/// itself when `keep` (a candidate whose email is not wanted is skipped).
fn absorb(
    picks: &mut EmailPicks,
    candidates: &mut Vec<SalesforceCandidate>,
    object: SfObject,
    row: SfRecord,
    keep: bool,
) {
    let (Some(email), Ok(id)) = (email_in(&row.fields, SALESFORCE_EMAIL_FIELD), SalesforceId::parse(&row.id)) else {
        return;
    };
    let converted = row.fields.get("IsConverted").and_then(Value::as_bool).unwrap_or(false);
    let became =
        row.fields.get(CONVERTED_CONTACT_FIELD).and_then(Value::as_str).and_then(|c| SalesforceId::parse(c).ok());
    if let (true, Some(contact)) = (converted, became) {
        picks.conversions.entry(contact.as_str().to_owned()).or_default().push(id.as_str().to_owned());
    }
    candidates.push(SalesforceCandidate {
        object,
        email,
        created: parse_time(row.fields.get("CreatedDate")).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        converted,
        id: id.clone(),
    });
    if keep {
        picks.records.insert(id.as_str().to_owned(), row);
    }
}

/// Picks one record per email among the candidates read (a record read
/// twice, by the chunk and by a query, counts once); an email whose query
/// failed gets no pick.
fn finish(mut picks: EmailPicks, mut candidates: Vec<SalesforceCandidate>) -> EmailPicks {
    for leads in picks.conversions.values_mut() {
        leads.sort();
        leads.dedup();
    }
    let mut seen = HashSet::with_capacity(candidates.len());
    candidates.retain(|c| seen.insert((c.object, c.id.clone())));
    picks.matches = match_contacts_by_email(&candidates);
    let failed: BTreeSet<Email> = picks.failed.iter().flat_map(|(emails, _)| emails.iter().cloned()).collect();
    picks.matches.retain(|email, _| !failed.contains(email));
    picks
}

/// The sync-health entry of a Salesforce record that shares its email with
/// `chosen` and so is not synced (category `duplicates`, keyed
/// `contact:salesforce:<id>`). `hubspot_id` is the HubSpot contact of the
/// email, when known.
pub(crate) fn duplicate_report(
    salesforce_id: &str,
    chosen: &SalesforceCandidate,
    hubspot_id: Option<String>,
) -> ErrorReport {
    ErrorReport {
        key: format!("{}:salesforce:{salesforce_id}", ObjectPair::Contact.as_str()),
        category: category_name(ErrorCategory::Duplicates),
        pair: ObjectPair::Contact,
        salesforce_id: Some(salesforce_id.to_owned()),
        hubspot_id,
        message: format!(
            "Salesforce {} {} shares this email and was chosen (unconverted over converted, Contact over Lead, \
             oldest, smallest id); this record is not synced",
            chosen.object, chosen.id
        ),
        retryable: false,
    }
}
