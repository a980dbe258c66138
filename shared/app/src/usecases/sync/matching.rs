//! Stage 3: match unlinked records.
//!
//! Owns finding the other side of records that have no link yet: contacts
//! by email (Salesforce Leads and Contacts by SOQL, HubSpot contacts by the
//! email property), companies and deals by HubSpot's `salesforce_id`
//! property.
//!
//! Contacts keep one Salesforce record per email, whichever side they come
//! from ([`super::pick`]): a HubSpot contact is matched with the record the
//! rule picks; a Salesforce record that is not the pick is quarantined (a
//! `duplicates` entry, no write, no retry); a pick whose HubSpot contact is
//! linked to another Salesforce record takes the link over once its writes
//! succeed (stage 6). It stores no link itself: a match only becomes a link
//! once its writes succeed.
//!
//! Only units with no link, no result and a record on their own side are
//! matched; a match found here is read in the same pass (the records come
//! back with the match), so no further read is needed before planning.

use super::pick::{EmailPicks, duplicate_report, resolve_emails};
use super::units::{LinkIndex, read_links};
use super::{HsRecord, PairSync, RACE_RETRY, RecordResult, Takeover, Unit};
use crate::codec::{HUBSPOT_SALESFORCE_ID_PROPERTY, category_name, email_in};
use crate::ports::HUBSPOT_BATCH;
use crm_sync_domain::decision::{HUBSPOT_EMAIL_PROPERTY, SALESFORCE_EMAIL_FIELD};
use crm_sync_domain::error::ErrorCategory;
use crm_sync_domain::{Email, ObjectPair, SalesforceId};
use crm_sync_store::ErrorReport;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tracing::{debug, warn};

impl PairSync<'_> {
    /// Finds the other side of records with no link: contacts by email,
    /// companies and deals by the `salesforce_id` HubSpot property.
    pub(super) async fn match_unlinked(&mut self) {
        let pending = |u: &Unit| u.result.is_none() && u.link.is_none() && !u.origin_missing;
        // HubSpot records without a Salesforce side, and the other way round.
        let hs_only: Vec<usize> = (0..self.units.len())
            .filter(|&u| pending(&self.units[u]) && self.units[u].hs.is_some() && self.units[u].sf.is_none())
            .collect();
        let sf_only: Vec<usize> = (0..self.units.len())
            .filter(|&u| pending(&self.units[u]) && self.units[u].sf.is_some() && self.units[u].hs.is_none())
            .collect();
        let picks = if self.pair == ObjectPair::Contact {
            self.match_contacts(&hs_only, &sf_only).await
        } else {
            self.match_by_salesforce_id(&hs_only).await;
            EmailPicks::default()
        };
        // Salesforce records still to match: quarantined ones are done.
        let sf_only: Vec<usize> = sf_only.into_iter().filter(|&u| self.units[u].result.is_none()).collect();
        if sf_only.is_empty() {
            return;
        }
        self.find_in_hubspot(&sf_only).await;
        if self.pair == ObjectPair::Contact {
            self.find_takeovers(&sf_only, &picks).await;
        }
    }

    /// HubSpot companies and deals with no link: a record created from
    /// Salesforce carries the id in its `salesforce_id` property.
    async fn match_by_salesforce_id(&mut self, hs_only: &[usize]) {
        if hs_only.is_empty() {
            return;
        }
        for &u in hs_only {
            let sf_id = self.units[u]
                .hs
                .as_ref()
                .and_then(|r| r.properties.get(HUBSPOT_SALESFORCE_ID_PROPERTY))
                .and_then(Value::as_str)
                .and_then(|s| SalesforceId::parse(s).ok());
            if let Some(id) = sf_id {
                self.units[u].sf_id = Some(id.as_str().to_owned());
                self.units[u].sf_object = self.pair.salesforce_objects().first().copied();
            }
        }
        let object = self.pair.salesforce_objects().first().copied();
        let ids: Vec<usize> = hs_only.iter().copied().filter(|&u| self.units[u].sf_id.is_some()).collect();
        if let Some(object) = object {
            self.read_salesforce(object, &ids).await;
            // A carried id whose record is gone links nothing; the
            // record is then matched or created as if it had no id.
            for &u in &ids {
                if self.units[u].result.is_none() && self.units[u].sf.is_none() {
                    self.units[u].sf_id = None;
                }
            }
        }
    }

    /// Salesforce records with no link: their HubSpot record by email
    /// (contacts) or by the `salesforce_id` property (companies, deals),
    /// 100 per call.
    async fn find_in_hubspot(&mut self, sf_only: &[usize]) {
        let hs_object = self.pair.hubspot_object_type();
        let props = self.hubspot_properties();
        let (id_property, keys): (&str, Vec<(usize, String)>) = if self.pair == ObjectPair::Contact {
            (
                HUBSPOT_EMAIL_PROPERTY,
                sf_only
                    .iter()
                    .filter_map(|&u| {
                        let email = email_in(&self.units[u].sf.as_ref()?.fields, SALESFORCE_EMAIL_FIELD)?;
                        Some((u, email.as_str().to_owned()))
                    })
                    .collect(),
            )
        } else {
            (
                HUBSPOT_SALESFORCE_ID_PROPERTY,
                sf_only.iter().filter_map(|&u| Some((u, self.units[u].sf_id.clone()?))).collect(),
            )
        };
        for chunk in keys.chunks(HUBSPOT_BATCH) {
            let ids: Vec<String> = chunk.iter().map(|(_, k)| k.clone()).collect();
            match self.app.hubspot().batch_read(hs_object, &ids, Some(id_property), &props).await {
                Ok(records) => {
                    let mut by_key: HashMap<String, HsRecord> = HashMap::new();
                    for r in records {
                        let key = r.properties.get(id_property).and_then(Value::as_str).map(|s| {
                            if id_property == HUBSPOT_EMAIL_PROPERTY { s.trim().to_lowercase() } else { s.to_owned() }
                        });
                        if let Some(key) = key {
                            by_key.insert(key, r);
                        }
                    }
                    for (u, key) in chunk {
                        if let Some(r) = by_key.get(key) {
                            self.units[*u].hs_id = Some(r.id.clone());
                            self.units[*u].hs = Some(r.clone());
                        }
                    }
                }
                Err(error) => {
                    let units: Vec<usize> = chunk.iter().map(|(u, _)| *u).collect();
                    self.fail_units(&units, &error);
                }
            }
        }
    }

    /// Contacts with no link, from either side: one Salesforce record per
    /// email by the rule ([`resolve_emails`], one pass for the whole batch).
    /// A HubSpot contact is matched with the pick; a Salesforce record that
    /// is not the pick is quarantined. Returns the picks, which the takeover
    /// check reads after the HubSpot lookup.
    async fn match_contacts(&mut self, hs_only: &[usize], sf_only: &[usize]) -> EmailPicks {
        let mut wanted: Vec<(usize, Email)> = Vec::new();
        for &u in hs_only {
            if let Some(email) = self.units[u].hs.as_ref().and_then(|r| email_in(&r.properties, HUBSPOT_EMAIL_PROPERTY))
            {
                wanted.push((u, email));
            }
        }
        for &u in sf_only {
            if let Some(email) = self.units[u].sf.as_ref().and_then(|r| email_in(&r.fields, SALESFORCE_EMAIL_FIELD)) {
                wanted.push((u, email));
            }
        }
        if wanted.is_empty() {
            return EmailPicks::default();
        }
        let emails: Vec<Email> = wanted.iter().map(|(_, e)| e.clone()).collect();
        let picks = resolve_emails(self.app, &emails, |object| self.salesforce_fields(object)).await;
        let links = self.candidate_links(&wanted, &picks).await;
        let mut reports: BTreeMap<String, ErrorReport> = BTreeMap::new();
        let mut quarantined: Vec<(usize, String)> = Vec::new();
        for (u, email) in wanted {
            if self.units[u].result.is_some() {
                continue;
            }
            if let Some(error) = picks.error(&email) {
                self.fail_units(&[u], error);
                continue;
            }
            let Some(choice) = picks.of(&email) else { continue };
            let chosen = &choice.chosen;
            if self.units[u].sf.is_some() {
                // A Salesforce record entering: only the pick goes on.
                let own = self.units[u].sf_id.clone().unwrap_or_default();
                if own != chosen.id.as_str() {
                    debug!(object = %chosen.object, "RecordNotPicked");
                    let report = duplicate_report(&own, chosen, None);
                    quarantined.push((u, report.key.clone()));
                    reports.insert(report.key.clone(), report);
                }
                continue;
            }
            // A HubSpot contact entering: it syncs with the pick, unless the
            // pick already syncs with another HubSpot contact. A converted
            // Lead is read-only, its person lives on in its Contact: when
            // nothing else carries the email (the Contact was deleted), the
            // contact has no record to sync with and gets a new one.
            if chosen.converted {
                continue;
            }
            let hs_id = self.units[u].hs_id.clone();
            if let Some(link) = links.by_salesforce(chosen.id.as_str()) {
                let report = ErrorReport {
                    key: format!("{}:hubspot:{}", self.pair.as_str(), hs_id.as_deref().unwrap_or_default()),
                    category: category_name(ErrorCategory::Duplicates),
                    pair: self.pair,
                    salesforce_id: Some(chosen.id.as_str().to_owned()),
                    hubspot_id: hs_id.clone(),
                    message: format!(
                        "Salesforce {} {}, chosen for this email, already syncs with HubSpot contact {}; \
                         this contact is not synced",
                        chosen.object, chosen.id, link.hubspot_id
                    ),
                    retryable: false,
                };
                quarantined.push((u, report.key.clone()));
                reports.insert(report.key.clone(), report);
                continue;
            }
            if let Some(record) = picks.record(&chosen.id) {
                self.units[u].sf_id = Some(chosen.id.as_str().to_owned());
                self.units[u].sf_object = Some(chosen.object);
                self.units[u].sf = Some(record.clone());
            }
            // The others are never written; a linked one syncs with its own
            // HubSpot contact and is left alone.
            for other in &choice.others {
                if links.by_salesforce(other.id.as_str()).is_none() {
                    let report = duplicate_report(other.id.as_str(), chosen, hs_id.clone());
                    reports.insert(report.key.clone(), report);
                }
            }
        }
        self.quarantine(reports, quarantined).await;
        picks
    }

    /// The links of the Salesforce candidates of the HubSpot contacts
    /// entering (one store read). A store failure retries those contacts.
    async fn candidate_links(&mut self, wanted: &[(usize, Email)], picks: &EmailPicks) -> LinkIndex {
        let hubspot_side: Vec<(usize, &Email)> =
            wanted.iter().filter(|(u, _)| self.units[*u].sf.is_none()).map(|(u, e)| (*u, e)).collect();
        let ids: Vec<String> = hubspot_side
            .iter()
            .filter_map(|(_, e)| picks.of(e))
            .flat_map(|m| std::iter::once(&m.chosen).chain(&m.others))
            .map(|c| c.id.as_str().to_owned())
            .collect();
        if ids.is_empty() {
            return LinkIndex::default();
        }
        match read_links(self.app, self.pair, &ids, &[]).await {
            Ok(links) => links,
            Err(error) => {
                warn!(%error, "LinksUnreadable");
                for (u, _) in hubspot_side {
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
                LinkIndex::default()
            }
        }
    }

    /// Records the `duplicates` entries and finishes the quarantined units
    /// (unit, entry key): failed with the entry's message and never retried,
    /// since a retry cannot change the pick; retried only when the store
    /// could not record the entry.
    async fn quarantine(&mut self, reports: BTreeMap<String, ErrorReport>, units: Vec<(usize, String)>) {
        let mut unrecorded = BTreeSet::new();
        for report in reports.values() {
            *self.stats.errors.entry(report.category.clone()).or_default() += 1;
            if let Err(error) = self.app.store().record_error(report).await {
                warn!(%error, "ErrorNotRecorded");
                unrecorded.insert(report.key.clone());
            }
        }
        for (u, key) in units {
            self.units[u].result = Some(match reports.get(&key) {
                Some(report) if !unrecorded.contains(&key) => RecordResult::Failed(report.message.clone()),
                _ => RecordResult::Retry(RACE_RETRY),
            });
        }
    }

    /// Salesforce picks whose HubSpot contact (found by email) is linked to
    /// another Salesforce record: the link passes to the pick (stage 6 moves
    /// it once the pick's first-sync writes succeed). The record losing it
    /// gets a `duplicates` entry when it shares the email (it lost by the
    /// rule); one whose email changed, that is gone, or a converted Lead
    /// (whose person lives on in the pick) just loses the link.
    /// A unit of that record in this batch is retried, so that it is
    /// decided again once the link has moved rather than written now.
    async fn find_takeovers(&mut self, sf_only: &[usize], picks: &EmailPicks) {
        let matched: Vec<usize> = sf_only
            .iter()
            .copied()
            .filter(|&u| self.units[u].result.is_none() && self.units[u].hs_id.is_some())
            .collect();
        if matched.is_empty() {
            return;
        }
        let hs_ids: Vec<String> = matched.iter().filter_map(|&u| self.units[u].hs_id.clone()).collect();
        let links = match read_links(self.app, self.pair, &[], &hs_ids).await {
            Ok(links) => links,
            Err(error) => {
                warn!(%error, "LinksUnreadable");
                for u in matched {
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
                return;
            }
        };
        for u in matched {
            let unit = &self.units[u];
            let Some(link) = unit.hs_id.as_deref().and_then(|h| links.by_hubspot(h)) else { continue };
            if unit.sf_id.as_deref() == Some(link.salesforce_id.as_str()) {
                continue;
            }
            let report = picks
                .winner_over(&link.salesforce_id)
                .map(|chosen| duplicate_report(&link.salesforce_id, chosen, Some(link.hubspot_id.clone())));
            let link = link.clone();
            for other in &mut self.units {
                if other.result.is_none() && other.sf_id.as_deref() == Some(link.salesforce_id.as_str()) {
                    other.result = Some(RecordResult::Retry(RACE_RETRY));
                }
            }
            debug!("LinkTakenOver");
            self.units[u].takeover = Some(Takeover { link, report });
        }
    }
}
