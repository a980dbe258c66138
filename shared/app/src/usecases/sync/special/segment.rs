//! The inclusion segment as a HubSpot list: its members, read once per
//! batch (and cached by the app) when a contact batch has HubSpot records.
//!
//! A record is never decided without its segment membership: when the list
//! cannot be read, its units are retried later.

use crate::usecases::sync::PairSync;
use crm_sync_domain::ObjectPair;
use crm_sync_domain::config::InclusionSegment;
use std::time::Duration;
use tracing::warn;

impl PairSync<'_> {
    /// Members of the HubSpot list given as the inclusion segment, when this
    /// is a contact batch with HubSpot records. When the list cannot be read,
    /// those records are retried later rather than decided without it.
    pub(in crate::usecases::sync) async fn segment_members(
        &mut self,
    ) -> Option<std::sync::Arc<std::collections::HashSet<String>>> {
        let Some(InclusionSegment::HubspotList(list)) = &self.app.config().inclusion_segment else { return None };
        let units: Vec<usize> =
            (0..self.units.len()).filter(|&u| self.units[u].result.is_none() && self.units[u].hs.is_some()).collect();
        if self.pair != ObjectPair::Contact || units.is_empty() {
            return None;
        }
        match self.app.segment_members(list).await {
            Ok(members) => Some(members),
            Err(error) => {
                warn!(%error, "SegmentMembersUnreadable");
                self.retry_units(&units, &error, Duration::from_secs(60));
                None
            }
        }
    }
}
