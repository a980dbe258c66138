//! The account's owners (`/crm/v3/owners`): who may own records, for the
//! owner mapping between HubSpot owners and Salesforce users.

use super::client::HubSpotClient;
use crate::error::CrmError;
use reqwest::Method;
use serde_json::Value;

/// Owners per page (HubSpot's maximum).
const PAGE: u32 = 500;

/// A HubSpot owner as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpotOwner {
    /// The owner id, the value of `hubspot_owner_id`.
    pub id: String,
    /// First name, empty when unset.
    pub first_name: String,
    /// Last name, empty when unset.
    pub last_name: String,
    /// The owner's email, matched with Salesforce users' emails.
    pub email: String,
}

impl HubSpotClient {
    /// Every active owner, following `after` (one call per 500).
    pub async fn owners(&self) -> Result<Vec<HubSpotOwner>, CrmError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("limit", PAGE.to_string()), ("archived", "false".to_owned())];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let answer = self.call(Method::GET, "/crm/v3/owners", &query, None).await?;
            for owner in answer.body.get("results").and_then(Value::as_array).into_iter().flatten() {
                let text = |key: &str| owner.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
                let id = match owner.get("id") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => continue,
                };
                out.push(HubSpotOwner {
                    id,
                    first_name: text("firstName"),
                    last_name: text("lastName"),
                    email: text("email"),
                });
            }
            after = answer.body.pointer("/paging/next/after").and_then(Value::as_str).map(str::to_owned);
            if after.is_none() {
                return Ok(out);
            }
        }
    }
}
