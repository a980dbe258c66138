//! The fake HubSpot API (contract: `HubSpotOptions`, `HubSpotState::new`, `router`).

use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct HubSpotOptions {}

#[derive(Debug, Default)]
pub struct HubSpotState {}

impl HubSpotState {
    pub fn new(_options: HubSpotOptions) -> Arc<Self> {
        Arc::new(Self {})
    }
}

pub fn router(_state: Arc<HubSpotState>) -> axum::Router {
    axum::Router::new()
}
