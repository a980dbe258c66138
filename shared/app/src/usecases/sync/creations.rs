//! Creation notes: the link of a record about to be created, stored before
//! the create, so that a worker stopping between the create and the link
//! leaves no gap.
//!
//! Without a note, the next sync meets the source record and the record it
//! created unlinked, and applies the first-sync rules to them: for a two-way
//! field the newer record wins, so a user's edit of the new record could
//! lose to a later edit of another field of the source. With the note, the
//! pair is synced from the link the interrupted sync was storing (what both
//! records held right after the create), and each side's changes since are
//! told apart as for any linked pair.
//!
//! - Written by the write-ahead (stage 5), one store call for the batch's
//!   creates, keyed by the record created from; a unit syncing a pair from
//!   its note writes it again with what it is about to write, as a linked
//!   unit stores its link ahead.
//! - Adopted here, after matching: a unit holding both records and no link,
//!   with a note of either record whose create key is the other record's
//!   (its email, or the id it carries).
//! - Deleted once the link is stored or the create failed for good; one
//!   left by a stopped worker is found by the next sync of the pair.

use super::{PairSync, RACE_RETRY, RecordResult};
use crate::codec::{Fields, SALESFORCE_HUBSPOT_ID_FIELD, email_in};
use crm_sync_domain::decision::{HUBSPOT_EMAIL_PROPERTY, SALESFORCE_EMAIL_FIELD};
use crm_sync_domain::plan::HUBSPOT_SALESFORCE_ID_PROPERTY;
use crm_sync_domain::{ObjectPair, SfObject, System};
use crm_sync_store::{CreationNote, Link};
use serde_json::{Map, Value};
use std::collections::HashMap;
use tracing::{debug, warn};

/// The record a note was written from and the key its create used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NoteKey {
    /// The side of the record the new one was created from.
    pub(super) source: System,
    pub(super) source_id: String,
    /// The key the create was made by ([`create_key`]).
    pub(super) target_key: String,
}

/// The key a create is made by, as the note keeps it: a contact's email
/// (normalised), else the id of the source record the new record carries
/// (`salesforce_id` in HubSpot). A company's or deal's Salesforce record
/// is not noted: its create is repeated by its `HubSpot_Id__c` key.
pub(super) fn create_key(pair: ObjectPair, source_id: &str, fields: &Map<String, Value>, email_field: &str) -> String {
    if pair == ObjectPair::Contact
        && let Some(email) = email_in(fields, email_field)
    {
        return email.as_str().to_owned();
    }
    source_id.to_owned()
}

/// Whether `fields` (of the other side's record) are those of the record a
/// create keyed by `key` made.
fn made_by(pair: ObjectPair, key: &str, fields: &impl Fields, email_field: &str, id_field: &str) -> bool {
    if pair == ObjectPair::Contact {
        return email_in(fields, email_field).is_some_and(|e| e.as_str() == key);
    }
    fields.field(id_field).and_then(Value::as_str) == Some(key)
}

impl PairSync<'_> {
    /// Gives a unit meeting both records with no link the link of its
    /// creation note, if either record has one naming the other.
    pub(super) async fn adopt_creation_notes(&mut self) {
        let candidates: Vec<usize> = (0..self.units.len())
            .filter(|&u| {
                let unit = &self.units[u];
                unit.result.is_none()
                    && unit.link.is_none()
                    && unit.takeover.is_none()
                    && unit.sf.is_some()
                    && unit.hs.is_some()
                    && unit.sf_id.is_some()
                    && unit.hs_id.is_some()
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let sources: Vec<(System, String)> = candidates
            .iter()
            .flat_map(|&u| {
                let unit = &self.units[u];
                [
                    (System::Salesforce, unit.sf_id.clone().unwrap_or_default()),
                    (System::HubSpot, unit.hs_id.clone().unwrap_or_default()),
                ]
            })
            .collect();
        let notes = match self.app.store().get_creation_notes(self.pair, &sources).await {
            Ok(notes) => notes,
            Err(error) => {
                warn!(%error, "CreationNotesUnreadable");
                for u in candidates {
                    self.units[u].result = Some(RecordResult::Retry(RACE_RETRY));
                }
                return;
            }
        };
        if notes.is_empty() {
            return;
        }
        let by_source: HashMap<(System, &str), &CreationNote> =
            notes.iter().map(|n| ((n.source, n.source_id.as_str()), n)).collect();
        let hs_id_field = HUBSPOT_SALESFORCE_ID_PROPERTY;
        for u in candidates {
            let unit = &self.units[u];
            let (Some(sf_id), Some(hs_id), Some(sf), Some(hs)) = (&unit.sf_id, &unit.hs_id, &unit.sf, &unit.hs) else {
                continue;
            };
            let from_salesforce = by_source
                .get(&(System::Salesforce, sf_id.as_str()))
                .filter(|n| made_by(self.pair, &n.target_key, &hs.properties, HUBSPOT_EMAIL_PROPERTY, hs_id_field));
            let from_hubspot = by_source.get(&(System::HubSpot, hs_id.as_str())).filter(|n| {
                made_by(self.pair, &n.target_key, &sf.fields, SALESFORCE_EMAIL_FIELD, SALESFORCE_HUBSPOT_ID_FIELD)
            });
            let Some(note) = from_salesforce.or(from_hubspot) else { continue };
            debug!(source = note.source.as_str(), "CreationNoteAdopted");
            let link = Link {
                pair: self.pair,
                salesforce_object: unit.sf_object.unwrap_or(SfObject::Lead).api_name().to_owned(),
                salesforce_id: sf_id.clone(),
                hubspot_id: hs_id.clone(),
                fingerprints: note.fingerprints.clone(),
                version: 0,
                updated_at: note.written_at,
            };
            let key =
                NoteKey { source: note.source, source_id: note.source_id.clone(), target_key: note.target_key.clone() };
            self.units[u].link = Some(link);
            self.units[u].noted = Some(key);
        }
    }

    /// Deletes the notes of these units (unit, note) once settled: their
    /// link stored, or their create failed for good. A unit to be retried
    /// keeps its note for the retry.
    pub(super) async fn forget_creation_notes(&mut self, noted: Vec<(usize, NoteKey)>) {
        let settled: Vec<(System, String)> = noted
            .into_iter()
            .filter(|(u, _)| matches!(self.units[*u].result, Some(RecordResult::Done | RecordResult::Failed(_))))
            .map(|(_, key)| (key.source, key.source_id))
            .collect();
        if settled.is_empty() {
            return;
        }
        if let Err(error) = self.app.store().delete_creation_notes(self.pair, &settled).await {
            // A note left behind is only read for records with no link.
            warn!(%error, "CreationNotesNotDeleted");
        }
    }
}
