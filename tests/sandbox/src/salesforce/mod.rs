//! The fake Salesforce API (contract: `SalesforceOptions`, `SalesforceState::new`, `router`).

use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct SalesforceOptions {}

#[derive(Debug, Default)]
pub struct SalesforceState {}

impl SalesforceState {
    pub fn new(_options: SalesforceOptions) -> Arc<Self> {
        Arc::new(Self {})
    }
}

pub fn router(_state: Arc<SalesforceState>) -> axum::Router {
    axum::Router::new()
}
