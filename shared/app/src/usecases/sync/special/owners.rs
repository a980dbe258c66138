//! The owner directory: exact matches between HubSpot owners and Salesforce
//! users (SPEC section 2), read once and cached by the app.
//!
//! Read only when the pair maps an owner field. When it cannot be read the
//! sync goes on without it: no owner is written and each owner field is
//! reported as not matched, never guessed.

use crate::usecases::sync::PairSync;
use crm_sync_domain::special::OwnerDirectory;

impl PairSync<'_> {
    /// The owner directory when this pair maps an owner field; `None` (no
    /// owner written, each reported as not matched) when it cannot be read.
    pub(in crate::usecases::sync) async fn owner_directory(&self) -> Option<std::sync::Arc<OwnerDirectory>> {
        self.app.owner_directory_for(self.pair).await
    }
}
