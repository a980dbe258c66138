//! The Salesforce API cap, held call by call (SPEC 2: it bounds every call
//! the sync makes; at the cap, work waits and resumes when the window
//! allows).
//!
//! [`SalesforceCap`] is the gate the Salesforce client asks before each
//! request. A request goes only on an allowance reserved in the shared
//! store beforehand ([`crm_sync_store::ApiUsageStore::reserve_api_calls`]):
//! the store grants calls only while the rolling day stays at or under the
//! cap, atomically against every other process (Lambdas included), so the
//! calls of all processes together never pass the cap. A reservation is
//! counted when granted, so a refusal never waits on a flush; what is left
//! of an allowance is given back at the next flush (after every use case
//! step), and a call reserved and never given back (a process that stops
//! in between) counts as made: the figure errs on the side of too many. Every worker of a process shares one
//! gate and its allowance, which is spent within the five-minute usage
//! bucket it was counted in (a call made later is reserved anew, so every
//! call counts at the time it is made). Allowances are [`BLOCK`] calls far from the cap,
//! fewer near it and one at a time at the end, so what a stopped process
//! leaves unspent is small where it matters.
//!
//! A refused request is an API-limit error ([`crm_sync_crm::gate::cap_reached`])
//! that asks to be tried after [`CAP_RETRY`]; the use cases treat it as a
//! wait, not as a failed attempt (see `crate::retry`).

use crate::error::AppError;
use crm_sync_crm::error::CrmError;
use crm_sync_crm::gate::{CallGate, cap_reached};
use crm_sync_domain::System;
use crm_sync_store::clock::usage_bucket;
use crm_sync_store::{Clock, StateStore};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The largest allowance one reservation asks for.
pub const BLOCK: u64 = 25;

/// When a refused request is tried again: the usage buckets are five
/// minutes wide, so the oldest one leaves the rolling day within that.
pub const CAP_RETRY: Duration = Duration::from_secs(300);

/// The next allowance to ask for when `left` calls remain under the cap:
/// a sixteenth of them, between one and [`BLOCK`], so that processes near
/// the cap share what is left in small pieces.
fn allowance_for(left: u64) -> u64 {
    (left / 16).clamp(1, BLOCK)
}

/// The Salesforce client's gate: the cap of the sync settings against the
/// shared daily figure.
pub struct SalesforceCap {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    cap: AtomicU64,
    /// Reserved calls not yet made, and the size of the next reservation.
    allowance: tokio::sync::Mutex<Allowance>,
}

#[derive(Debug)]
struct Allowance {
    left: u64,
    next: u64,
    /// The cap the allowance was reserved under.
    under: u64,
    /// The usage bucket it was counted in.
    bucket: chrono::DateTime<chrono::Utc>,
}

impl Allowance {
    fn none(cap: u64) -> Self {
        Allowance { left: 0, next: 1, under: cap, bucket: chrono::DateTime::UNIX_EPOCH }
    }
}

impl std::fmt::Debug for SalesforceCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceCap").field("cap", &self.cap.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl SalesforceCap {
    pub fn new(store: Arc<dyn StateStore>, clock: Arc<dyn Clock>, cap: u64) -> Self {
        SalesforceCap {
            store,
            clock,
            cap: AtomicU64::new(cap),
            allowance: tokio::sync::Mutex::new(Allowance::none(cap)),
        }
    }

    /// The cap from now on (settings changed). An allowance reserved under
    /// a higher cap is given up at the next request (it stays counted).
    pub fn set_cap(&self, cap: u64) {
        self.cap.store(cap, Ordering::SeqCst);
    }

    /// Gives back the allowance not spent, so that between two steps the
    /// shared figure is the calls made (every admitted call was counted when
    /// reserved).
    pub async fn flush(&self) -> Result<(), AppError> {
        let mut allowance = self.allowance.lock().await;
        // Emptied before the store is told: should this stop halfway, calls
        // stay counted that were not made, never the other way round.
        let left = std::mem::take(&mut allowance.left);
        if left > 0 {
            self.store.release_api_calls(System::Salesforce, allowance.bucket, left).await?;
        }
        Ok(())
    }

    async fn admit_one(&self) -> Result<(), CrmError> {
        let mut allowance = self.allowance.lock().await;
        let cap = self.cap.load(Ordering::SeqCst);
        if cap < allowance.under {
            *allowance = Allowance::none(cap);
        }
        // An allowance is spent within its five-minute bucket: a call made
        // later must be counted when it is made, or a rolling day that no
        // longer holds the bucket would miss it. What is left goes back.
        if allowance.left > 0 && allowance.bucket.timestamp() != usage_bucket(self.clock.now()) {
            let left = std::mem::take(&mut allowance.left);
            if let Err(error) = self.store.release_api_calls(System::Salesforce, allowance.bucket, left).await {
                tracing::warn!(%error, "ApiAllowanceNotReturned");
            }
        }
        if allowance.left == 0 {
            let reservation =
                self.store.reserve_api_calls(System::Salesforce, allowance.next, cap).await.map_err(|error| {
                    tracing::warn!(%error, "ApiUsageUnreadable");
                    store_unavailable()
                })?;
            if reservation.granted == 0 {
                tracing::info!(used = reservation.used, cap, "SalesforceCapReached");
                return Err(cap_reached(
                    System::Salesforce,
                    format!(
                        "the sync's Salesforce API cap is reached ({} of {cap} calls in 24 hours); waiting",
                        reservation.used
                    ),
                    CAP_RETRY,
                ));
            }
            allowance.left = reservation.granted;
            allowance.under = cap;
            allowance.bucket = reservation.bucket;
            allowance.next = allowance_for(cap.saturating_sub(reservation.used));
        }
        allowance.left -= 1;
        Ok(())
    }
}

/// The store could not say how many calls were made: no call is sent
/// unaccounted; the work is retried shortly.
fn store_unavailable() -> CrmError {
    CrmError {
        system: System::Salesforce,
        status: 0,
        code: "API_USAGE_UNREADABLE".to_owned(),
        message: "the API usage could not be read from the state store".to_owned(),
        category: crm_sync_domain::error::ErrorCategory::Other,
        verdict: crm_sync_domain::error::Verdict::Retryable { after: Duration::from_secs(5) },
        source: None,
    }
}

impl CallGate for SalesforceCap {
    fn admit(&self) -> Pin<Box<dyn Future<Output = Result<(), CrmError>> + Send + '_>> {
        Box::pin(self.admit_one())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crm_sync_store::{ApiUsageStore, ManualClock, SqliteStore};

    #[tokio::test]
    async fn a_call_made_after_its_allowance_s_bucket_is_counted_when_it_is_made() {
        let start = chrono::DateTime::from_timestamp(1_767_600_000, 0).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let store = Arc::new(SqliteStore::open_in_memory(clock.clone()).unwrap());
        let gate = SalesforceCap::new(store.clone(), clock.clone(), 1_000);
        gate.admit_one().await.unwrap();
        gate.admit_one().await.unwrap();
        let first = store.api_usage_buckets_last_24h(System::Salesforce).await.unwrap();
        assert!(first[0].calls > 2, "an allowance was reserved beyond the calls made: {first:?}");
        // An hour on, the allowance left is not spent: it goes back, and the
        // call counts in its own bucket.
        clock.advance(Duration::from_secs(3600));
        gate.admit_one().await.unwrap();
        let buckets = store.api_usage_buckets_last_24h(System::Salesforce).await.unwrap();
        assert_eq!(buckets[0].calls, 2, "the first bucket holds the calls made in it: {buckets:?}");
        assert_eq!(buckets.len(), 2);
        // A day after the first calls, the third still counts.
        clock.advance(Duration::from_secs(23 * 3600 + 600));
        gate.flush().await.unwrap();
        assert_eq!(store.api_calls_last_24h(System::Salesforce).await.unwrap(), 1);
    }
}
