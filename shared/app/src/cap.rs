//! The Salesforce API cap, held call by call (SPEC 2: it bounds every call
//! the sync makes; at the cap, work waits and resumes when the window
//! allows).
//!
//! [`SalesforceCap`] is the gate the Salesforce client asks before each
//! request. It admits a request only while the calls of the rolling day,
//! as the shared store counts them, plus those this process admitted and has
//! not written yet, stay under the cap. Admitted calls are counted at once
//! (written to the store at the next re-read or flush), so a refusal never
//! depends on a flush having run. Every worker of a process shares one gate
//! and admissions are serialised, so one process never exceeds the cap. The
//! figure is re-read from the store every [`REREAD_EVERY`] admissions, and
//! on every admission within [`REREAD_EVERY`] of the cap: other processes
//! (Lambdas) can push the total past the cap by at most the requests they
//! admitted between two looks, and near the cap they look every time.
//!
//! A refused request is an API-limit error ([`crm_sync_crm::gate::cap_reached`])
//! that asks to be tried after [`CAP_RETRY`]; the use cases treat it as a
//! wait, not as a failed attempt (see `crate::retry`).

use crate::error::AppError;
use crm_sync_crm::error::CrmError;
use crm_sync_crm::gate::{CallGate, cap_reached};
use crm_sync_domain::System;
use crm_sync_store::StateStore;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Admissions between two reads of the shared figure (and the distance
/// from the cap within which every admission reads it).
pub const REREAD_EVERY: u64 = 25;

/// When a refused request is tried again: the usage buckets are five
/// minutes wide, so the oldest one leaves the rolling day within that.
pub const CAP_RETRY: Duration = Duration::from_secs(300);

/// What the gate knows between two reads of the store.
#[derive(Debug, Default)]
struct Tally {
    /// The store's figure for the rolling day at the last read.
    known: u64,
    /// Admitted since then and not yet written to the store.
    pending: u64,
    /// Admitted since the last read.
    since_read: u64,
    /// Whether the store was ever read.
    read: bool,
}

/// The Salesforce client's gate: the cap of the sync settings against the
/// shared daily figure.
pub struct SalesforceCap {
    store: Arc<dyn StateStore>,
    cap: AtomicU64,
    tally: tokio::sync::Mutex<Tally>,
}

impl std::fmt::Debug for SalesforceCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceCap").field("cap", &self.cap.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl SalesforceCap {
    pub fn new(store: Arc<dyn StateStore>, cap: u64) -> Self {
        SalesforceCap { store, cap: AtomicU64::new(cap), tally: tokio::sync::Mutex::default() }
    }

    /// The cap from now on (settings changed).
    pub fn set_cap(&self, cap: u64) {
        self.cap.store(cap, Ordering::SeqCst);
    }

    /// Writes the admitted calls not yet in the store.
    pub async fn flush(&self) -> Result<(), AppError> {
        let mut tally = self.tally.lock().await;
        self.write_pending(&mut tally).await
    }

    async fn write_pending(&self, tally: &mut Tally) -> Result<(), AppError> {
        if tally.pending > 0 {
            self.store.add_api_calls(System::Salesforce, tally.pending).await?;
            tally.known += tally.pending;
            tally.pending = 0;
        }
        Ok(())
    }

    async fn reread(&self, tally: &mut Tally) -> Result<(), AppError> {
        self.write_pending(tally).await?;
        tally.known = self.store.api_calls_last_24h(System::Salesforce).await?;
        tally.since_read = 0;
        tally.read = true;
        Ok(())
    }

    async fn admit_one(&self) -> Result<(), CrmError> {
        let cap = self.cap.load(Ordering::SeqCst);
        let mut tally = self.tally.lock().await;
        let near = tally.known + tally.pending + REREAD_EVERY >= cap;
        if !tally.read || near || tally.since_read >= REREAD_EVERY {
            self.reread(&mut tally).await.map_err(|error| {
                tracing::warn!(%error, "ApiUsageUnreadable");
                store_unavailable()
            })?;
        }
        let used = tally.known + tally.pending;
        if used >= cap {
            tracing::info!(used, cap, "SalesforceCapReached");
            return Err(cap_reached(
                System::Salesforce,
                format!("the sync's Salesforce API cap is reached ({used} of {cap} calls in 24 hours); waiting"),
                CAP_RETRY,
            ));
        }
        tally.pending += 1;
        tally.since_read += 1;
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
