//! Contact list membership (Lists v3): the ids of a list's members, for an
//! inclusion segment given as a HubSpot list id.

use super::client::{HubSpotClient, segment};
use crate::error::CrmError;
use reqwest::Method;
use serde_json::Value;

/// Members per page (HubSpot's maximum for memberships).
const PAGE: u32 = 250;
/// Record ids per membership-add call. HubSpot's own per-request ceiling is
/// not in our reference; this stays well below any plausible one.
pub const LIST_ADD_BATCH: usize = 1_000;

impl HubSpotClient {
    /// Every record id in a list, following `after` (one call per 250).
    pub async fn list_members(&self, list_id: &str) -> Result<Vec<String>, CrmError> {
        let path = format!("/crm/v3/lists/{}/memberships", segment(list_id));
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("limit", PAGE.to_string())];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let answer = self.call(Method::GET, &path, &query, None).await?;
            for member in answer.body.get("results").and_then(Value::as_array).into_iter().flatten() {
                match member.get("recordId") {
                    Some(Value::String(s)) => out.push(s.clone()),
                    Some(Value::Number(n)) => out.push(n.to_string()),
                    _ => {}
                }
            }
            after = answer.body.pointer("/paging/next/after").and_then(Value::as_str).map(str::to_owned);
            if after.is_none() {
                return Ok(out);
            }
        }
    }

    /// Adds records to a (manual) list, [`LIST_ADD_BATCH`] per call, and
    /// returns the ids HubSpot reported missing.
    pub async fn add_list_members(&self, list_id: &str, ids: &[String]) -> Result<Vec<String>, CrmError> {
        let path = format!("/crm/v3/lists/{}/memberships/add", segment(list_id));
        let mut missing = Vec::new();
        for batch in ids.chunks(LIST_ADD_BATCH) {
            let body = Value::from(batch.to_vec());
            let answer = self.call(Method::PUT, &path, &[], Some(&body)).await?;
            missing.extend(
                answer
                    .body
                    .get("recordIdsMissing")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned).or_else(|| v.as_u64().map(|n| n.to_string()))),
            );
        }
        Ok(missing)
    }
}
