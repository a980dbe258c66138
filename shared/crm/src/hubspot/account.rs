//! What the account grants and holds around the records, for checking it
//! before the sync runs: the private-app token's scopes (`POST
//! /oauth/v2/private-apps/get/access-token-info`) and one list's definition
//! (`GET /crm/v3/lists/{listId}`).

use super::classify;
use super::client::{HubSpotClient, segment};
use crate::error::CrmError;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

/// What a private-app token is: its account, app and granted scopes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// The account (portal) id.
    pub hub_id: u64,
    /// The private app's id.
    #[serde(default)]
    pub app_id: Option<u64>,
    /// The scopes granted to the token.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A list's definition (Lists v3), without its members.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInfo {
    /// The list id, as text.
    pub list_id: String,
    /// The name shown in HubSpot.
    pub name: String,
    /// The object its members are (`0-1` for contacts).
    pub object_type_id: String,
    /// `MANUAL`, `DYNAMIC` (active) or `SNAPSHOT`.
    #[serde(default)]
    pub processing_type: String,
}

#[derive(Deserialize)]
struct ListAnswer {
    list: ListInfo,
}

impl HubSpotClient {
    /// The token's account, app and scopes (one call).
    pub async fn token_info(&self) -> Result<TokenInfo, CrmError> {
        let body = json!({ "tokenKey": self.config().token.expose() });
        let answer = self.call(Method::POST, "/oauth/v2/private-apps/get/access-token-info", &[], Some(&body)).await?;
        serde_json::from_value(answer.body).map_err(|e| classify::decode(answer.status, e))
    }

    /// A list's definition; `Ok(None)` when there is no such list (one call).
    pub async fn list_info(&self, list_id: &str) -> Result<Option<ListInfo>, CrmError> {
        match self.call(Method::GET, &format!("/crm/v3/lists/{}", segment(list_id)), &[], None).await {
            Ok(answer) => serde_json::from_value::<ListAnswer>(answer.body)
                .map(|a| Some(a.list))
                .map_err(|e| classify::decode(answer.status, e)),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }
}
