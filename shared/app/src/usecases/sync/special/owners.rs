//! The owner directory: exact matches between HubSpot owners and Salesforce
//! users (SPEC section 2), read once and cached by the app.
//!
//! Read only when the pair maps an owner field. When it cannot be read the
//! sync goes on without it: no owner is written and each owner field is
//! reported as not matched, never guessed.

use crate::App;
use crate::usecases::sync::PairSync;
use crm_sync_domain::ObjectPair;
use crm_sync_domain::config::SpecialField;
use crm_sync_domain::special::OwnerDirectory;
use tracing::warn;

/// Whether `pair` maps an owner field (and so reads the owner directory).
pub(crate) fn maps_owner(app: &App, pair: ObjectPair) -> bool {
    app.config().mappings(pair).iter().any(|m| m.special == Some(SpecialField::Owner))
}

/// The owner directory when `pair` maps an owner field; `None` (no owner
/// written, each reported as not matched) when it cannot be read.
pub(crate) async fn owner_directory_for(app: &App, pair: ObjectPair) -> Option<std::sync::Arc<OwnerDirectory>> {
    if !maps_owner(app, pair) {
        return None;
    }
    match app.owner_directory().await {
        Ok(dir) => Some(dir),
        Err(error) => {
            warn!(%error, "OwnerDirectoryUnavailable");
            None
        }
    }
}

impl PairSync<'_> {
    /// The owner directory when this pair maps an owner field; `None` (no
    /// owner written, each reported as not matched) when it cannot be read.
    pub(in crate::usecases::sync) async fn owner_directory(&self) -> Option<std::sync::Arc<OwnerDirectory>> {
        owner_directory_for(self.app, self.pair).await
    }
}
