//! Associations v4: batch read, batch create (with type ids), default
//! (unlabeled) batch associate, and batch archive; one call per 100 pairs.

use super::classify;
use super::client::{BATCH_LIMIT, HubSpotClient};
use super::types::Associated;
use crate::error::CrmError;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Contact to company, unlabeled.
pub const CONTACT_TO_COMPANY: u32 = 279;
/// Company to contact, unlabeled.
pub const COMPANY_TO_CONTACT: u32 = 280;
/// Deal to contact.
pub const DEAL_TO_CONTACT: u32 = 3;
/// Deal to company.
pub const DEAL_TO_COMPANY: u32 = 341;

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl HubSpotClient {
    /// Associated records of each `from` id; ids without associations are absent.
    pub async fn associations_read(
        &self,
        from: &str,
        to: &str,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<Associated>>, CrmError> {
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(BATCH_LIMIT) {
            let body = json!({ "inputs": chunk.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>() });
            let answer = self
                .call(Method::POST, &format!("/crm/v4/associations/{from}/{to}/batch/read"), &[], Some(&body))
                .await?;
            for result in answer.body.get("results").and_then(Value::as_array).into_iter().flatten() {
                let Some(from_id) = result.pointer("/from/id").and_then(id_text) else { continue };
                let targets = result
                    .get("to")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| {
                        let to_id = t.get("toObjectId").and_then(id_text)?;
                        let type_ids = t
                            .get("associationTypes")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|a| a.get("typeId").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()))
                            .collect();
                        Some(Associated { to_id, type_ids })
                    })
                    .collect();
                out.insert(from_id, targets);
            }
        }
        Ok(out)
    }

    /// Associates `(from id, to id)` pairs with a HubSpot-defined type
    /// (e.g. [`CONTACT_TO_COMPANY`]).
    pub async fn associate(
        &self,
        from: &str,
        to: &str,
        pairs: &[(String, String)],
        type_id: u32,
    ) -> Result<(), CrmError> {
        for chunk in pairs.chunks(BATCH_LIMIT) {
            let body = json!({ "inputs": chunk.iter().map(|(a, b)| json!({
                "from": { "id": a }, "to": { "id": b },
                "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }],
            })).collect::<Vec<_>>() });
            let answer = self
                .call(Method::POST, &format!("/crm/v4/associations/{from}/{to}/batch/create"), &[], Some(&body))
                .await?;
            fail_on_batch_errors(answer.status, &answer.body)?;
        }
        Ok(())
    }

    /// Associates pairs with the default (unlabeled) type.
    pub async fn associate_default(&self, from: &str, to: &str, pairs: &[(String, String)]) -> Result<(), CrmError> {
        for chunk in pairs.chunks(BATCH_LIMIT) {
            let body = json!({ "inputs": chunk.iter().map(|(a, b)| json!({ "from": { "id": a }, "to": { "id": b } })).collect::<Vec<_>>() });
            let answer = self
                .call(
                    Method::POST,
                    &format!("/crm/v4/associations/{from}/{to}/batch/associate/default"),
                    &[],
                    Some(&body),
                )
                .await?;
            fail_on_batch_errors(answer.status, &answer.body)?;
        }
        Ok(())
    }

    /// Removes every association between each pair.
    pub async fn dissociate(&self, from: &str, to: &str, pairs: &[(String, String)]) -> Result<(), CrmError> {
        for chunk in pairs.chunks(BATCH_LIMIT) {
            let body = json!({ "inputs": chunk.iter().map(|(a, b)| json!({ "from": { "id": a }, "to": [{ "id": b }] })).collect::<Vec<_>>() });
            self.call(Method::POST, &format!("/crm/v4/associations/{from}/{to}/batch/archive"), &[], Some(&body))
                .await?;
        }
        Ok(())
    }
}

/// Errors in a batch answer mean some pairs failed (e.g. a missing record):
/// surface the first, classified as an association error. HubSpot answers
/// 207 for them on `batch/create` but 200 on `batch/associate/default`, so
/// the body decides, not the status.
fn fail_on_batch_errors(status: u16, body: &Value) -> Result<(), CrmError> {
    let Some(first) = body.get("errors").and_then(Value::as_array).and_then(|e| e.first()) else { return Ok(()) };
    let mut error = classify::invalid(first.get("message").and_then(Value::as_str).unwrap_or("association failed"));
    error.status = status;
    error.code = first.get("category").and_then(Value::as_str).unwrap_or("ASSOCIATION_ERROR").to_owned();
    error.category = crm_sync_domain::error::ErrorCategory::Associations;
    Err(error)
}
