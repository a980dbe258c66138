//! Which imported contacts are already in the inclusion segment list.
//!
//! SPEC section 7: contacts in the inclusion segment get every mapped field,
//! the others the email only. With the segment as a HubSpot list, a contact
//! the import creates is outside it (unless the import adds it), but one that
//! already exists may be a member: its HubSpot id is found by email (one
//! batch read per 100 records) and looked up in the list's members (one
//! read, cached by the App).

use crate::ports::HUBSPOT_BATCH;
use crate::{App, AppError};
use crm_sync_domain::SfObject;
use crm_sync_domain::config::InclusionSegment;
use crm_sync_domain::decision::HUBSPOT_EMAIL_PROPERTY;
use serde_json::Value;
use std::collections::HashSet;

/// The list whose members an import of `object` looks up: the inclusion
/// segment's HubSpot list, for leads and contacts the import does not add
/// to it.
pub(super) fn list_to_check(app: &App, object: SfObject, add_to_list: Option<&str>) -> Option<String> {
    match &app.config().inclusion_segment {
        Some(InclusionSegment::HubspotList(list))
            if add_to_list.is_none() && matches!(object, SfObject::Lead | SfObject::Contact) =>
        {
            Some(list.clone())
        }
        _ => None,
    }
}

/// The emails (as given) of existing HubSpot contacts that are members of
/// `list`; empty when there are no emails.
pub(super) async fn members_by_email(app: &App, list: &str, emails: &[String]) -> Result<HashSet<String>, AppError> {
    if emails.is_empty() {
        return Ok(HashSet::new());
    }
    let members = app.segment_members(list).await?;
    let mut found = HashSet::new();
    let properties = [HUBSPOT_EMAIL_PROPERTY.to_owned()];
    for batch in emails.chunks(HUBSPOT_BATCH) {
        let records = app.hubspot().batch_read("contacts", batch, Some(HUBSPOT_EMAIL_PROPERTY), &properties).await?;
        for record in records.into_iter().filter(|r| members.contains(&r.id)) {
            let email = record.properties.get(HUBSPOT_EMAIL_PROPERTY).and_then(Value::as_str).unwrap_or_default();
            if let Some(given) = batch.iter().find(|e| e.trim().eq_ignore_ascii_case(email.trim())) {
                found.insert(given.clone());
            }
        }
    }
    Ok(found)
}

/// The HubSpot calls [`members_by_email`] makes for `records` records of
/// `object` (none when [`list_to_check`] has no list).
pub(super) fn calls(app: &App, object: SfObject, records: u64, add_to_list: Option<&str>) -> u64 {
    if records == 0 || list_to_check(app, object, add_to_list).is_none() {
        return 0;
    }
    1 + records.div_ceil(HUBSPOT_BATCH as u64)
}
