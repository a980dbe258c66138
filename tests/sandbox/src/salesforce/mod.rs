//! The fake Salesforce API (contract: `SalesforceOptions`, `SalesforceState::new`, `router`).

use std::sync::{Arc, RwLock};

/// Default OAuth client id of the fake connected app.
pub const DEFAULT_CLIENT_ID: &str = "crm-sync-sandbox";
/// Default client secret of the fake connected app.
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-secret";
/// Default integration user.
pub const DEFAULT_USERNAME: &str = "integration@crm-sync.sandbox";

#[derive(Debug, Clone, Default)]
pub struct SalesforceOptions {}

#[derive(Debug, Default)]
pub struct SalesforceState {
    base_url: RwLock<String>,
}

impl SalesforceState {
    pub fn new(_options: SalesforceOptions) -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set_base_url(&self, url: &str) {
        if let Ok(mut b) = self.base_url.write() {
            *b = url.to_owned();
        }
    }

    pub fn stop(&self) {}
}

pub fn router(_state: Arc<SalesforceState>) -> axum::Router {
    axum::Router::new().route(
        "/services/data",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!([{"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"}]))
        }),
    )
}
