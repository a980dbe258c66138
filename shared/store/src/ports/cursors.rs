//! The cursors capability: how far each sweep has read each CRM object.
//!
//! A cursor says "everything changed before `position` has been queued". It
//! moves only forward and only from the position the sweep read: a
//! compare-and-set, so two overlapping sweeps cannot both advance it and
//! neither can move it back. The loser gets `ConditionFailed` and its
//! listing is simply redone by the next sweep (queueing is idempotent).
//!
//! Positions are stored exactly (RFC 3339 text), because the next listing
//! starts from them and a rounded position would skip or repeat records.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::types::{StoreResult, SweepCursor, System};

/// Sweep cursors, one per system and CRM object name.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// The cursor of `object` on `system`, if a sweep ever stored one.
    async fn get_cursor(&self, system: System, object: &str) -> StoreResult<Option<SweepCursor>>;

    /// Moves the cursor to `to` (marked `partial` or not) if it is still at
    /// `expected` (`None`: no cursor yet). A lost race is
    /// [`crate::StoreError::ConditionFailed`].
    async fn advance_cursor(
        &self,
        system: System,
        object: &str,
        expected: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        partial: bool,
    ) -> StoreResult<()>;
}
