//! The use cases' error type: what went wrong in a use case as a whole.
//!
//! Per-record failures are not errors here: they become sync-health entries
//! and show up in the reports. An [`AppError`] means the step did not run to
//! its end and should be retried (or fixed by the operator).

use crm_sync_crm::error::CrmError;
use crm_sync_store::StoreError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("state store or queue call failed")]
    Store(#[from] StoreError),
    #[error("CRM call failed")]
    Crm(#[from] CrmError),
    #[error("a queued message could not be encoded")]
    Encode(#[from] serde_json::Error),
    /// The request names something the sync cannot do, with the reason.
    #[error("{0}")]
    Invalid(String),
    /// The API budget is spent for now; try again after the delay.
    #[error("{system} API budget spent ({used} of {cap} calls in 24 hours); paused")]
    BudgetSpent { system: &'static str, used: u64, cap: u64, retry_after: Duration },
    #[error("not found: {0}")]
    NotFound(String),
    /// An import chunk is leased to another worker (alive, or stopped with
    /// its lease still running); try again once the lease ends.
    #[error("import chunk {index} of job {job_id} is held by another worker; retried in {}s", retry_after.as_secs())]
    ChunkHeld { job_id: String, index: u32, retry_after: Duration },
    /// A step failed on every attempt its queue allows; what it was doing is
    /// marked failed with this reason (never retried again by itself).
    #[error("{0}")]
    GaveUp(String),
}

impl AppError {
    /// Whether an API limit stopped the step (a CRM's rate limit or daily
    /// allocation, or the sync's own cap): the step waits, it did not fail.
    pub fn is_api_limit(&self) -> bool {
        match self {
            AppError::Crm(e) => e.is_retryable() && e.category == crm_sync_domain::error::ErrorCategory::ApiLimit,
            AppError::BudgetSpent { .. } => true,
            _ => false,
        }
    }

    /// Whether running the same step again later may succeed.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AppError::Store(e) if e.is_retryable() => Some(Duration::from_secs(1)),
            AppError::Crm(e) => e.retry_after(),
            AppError::BudgetSpent { retry_after, .. } | AppError::ChunkHeld { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
