//! What `crm-sync setup` reads about the HubSpot account besides properties:
//! the private-app token's scopes (`POST
//! /oauth/v2/private-apps/get/access-token-info`) and one list's definition
//! (`GET /crm/v3/lists/{listId}`), in HubSpot's shapes.

use super::HubSpotState;
use super::model::{ApiError, iso};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use std::sync::Arc;

type S = State<Arc<HubSpotState>>;

/// The id of the user who made the private app.
pub const APP_USER_ID: u64 = 7_654_321;

pub fn routes() -> Router<Arc<HubSpotState>> {
    Router::new()
        .route("/oauth/v2/private-apps/get/access-token-info", post(token_info))
        .route("/crm/v3/lists/{list}", get(read_list))
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenKey {
    token_key: Option<String>,
}

async fn token_info(State(st): S, body: axum::body::Bytes) -> Response {
    let key: TokenKey = match serde_json::from_slice(&body) {
        Ok(key) => key,
        Err(e) => return ApiError::validation(format!("Invalid input JSON: {e}")).into_response(),
    };
    match key.token_key {
        Some(token) if token == st.options.token => Json(json!({
            "userId": APP_USER_ID,
            "hubId": st.options.portal_id,
            "appId": st.options.app_id,
            "scopes": st.options.scopes,
        }))
        .into_response(),
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_AUTHENTICATION", "The token key is not valid")
            .into_response(),
        None => ApiError::validation("tokenKey is required").into_response(),
    }
}

async fn read_list(State(st): S, Path(list): Path<String>) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found(format!("List {list} does not exist"));
    let id: u64 = list.parse().map_err(|_| missing())?;
    let db = st.db();
    let (name, members) = db.lists.get(&id).ok_or_else(missing)?;
    let created = members.values().min().copied().unwrap_or(0);
    let updated = members.values().max().copied().unwrap_or(0);
    let body: Value = json!({
        "list": {
            "listId": id.to_string(),
            "listVersion": 1,
            "name": name,
            "objectTypeId": "0-1",
            "processingType": "MANUAL",
            "processingStatus": "COMPLETE",
            "size": members.len(),
            "createdAt": iso(created),
            "updatedAt": iso(updated),
            "filtersUpdatedAt": iso(created),
        }
    });
    Ok(Json(body).into_response())
}
