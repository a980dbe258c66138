//! What the checks share: the [`Harness`] an adapter's test provides, the
//! fixed start instant of manual clocks, and small builders and assertions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use crate::error::StoreError;
use crate::ports::*;

/// How often a queue promises to hand out one message while it is hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Possibly more than once (SQS standard queues): every message is
    /// received, and a second receiver may get one already handed out.
    AtLeastOnce,
    /// Once, until its visibility timeout ends (the embedded queue: a
    /// receive is one transaction on one file).
    ExactlyOnce,
}

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait Harness: Send + Sync {
    /// A store with no state in it, reading time from the harness's clock.
    async fn store(&self) -> Result<Arc<dyn StateStore>, StoreError>;
    /// A queue (and dead-letter queue) with no messages in it.
    async fn queue(&self, settings: QueueSettings) -> Result<Arc<dyn Queue>, StoreError>;
    /// Moves the store's clock forward (claims, TTLs, leases, usage windows).
    fn advance_clock(&self, by: Duration);
    /// Lets `by` pass for the queue's visibility timeouts (a manual clock, or
    /// real time for a remote queue service).
    async fn let_queue_time_pass(&self, by: Duration);
    /// What the adapter's queue promises; the checks assert that and no more.
    fn delivery(&self) -> Delivery {
        Delivery::AtLeastOnce
    }
}

/// A fixed instant the manual clocks of harnesses start from.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// What every check returns: a store error fails the test with its message.
pub(super) type R = Result<(), StoreError>;

/// A link of `pair` between `sf` and `hs`, with one fingerprint.
pub(super) fn link(pair: ObjectPair, sf: &str, hs: &str) -> Link {
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert("email".to_owned(), format!("fp-{sf}"));
    Link {
        pair,
        salesforce_object: "Contact".to_owned(),
        salesforce_id: sf.to_owned(),
        hubspot_id: hs.to_owned(),
        fingerprints,
        version: 0,
        updated_at: epoch(),
    }
}

/// Panics unless `r` is a lost condition.
pub(super) fn expect_condition_failed<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    match r {
        Err(StoreError::ConditionFailed { .. }) => {}
        other => panic!("{what}: expected ConditionFailed, got {other:?}"),
    }
}
