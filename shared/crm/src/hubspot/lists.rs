//! Contact list membership (Lists v3): the ids of a list's members, for an
//! inclusion segment given as a HubSpot list id.

use super::{HubSpotClient, segment};
use crate::error::CrmError;
use reqwest::Method;
use serde_json::Value;

/// Members per page (HubSpot's maximum for memberships).
const PAGE: u32 = 250;

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
}
