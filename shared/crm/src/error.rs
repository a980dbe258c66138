//! One classified error type for both CRM clients.

use crm_sync_domain::error::{ErrorCategory, Verdict};
use std::time::Duration;

/// Which CRM answered: the domain's [`System`], re-exported here so that
/// `crm_sync_crm::error::System` keeps naming the same type.
pub use crm_sync_domain::model::System;

/// A failed CRM call, classified, with the CRM's own code and message.
#[derive(Debug, thiserror::Error)]
#[error("{system} {status}: {code}: {message}")]
pub struct CrmError {
    pub system: System,
    /// HTTP status, 0 when the request never got an answer.
    pub status: u16,
    /// The CRM's error code (`errorCode`/`statusCode` in Salesforce,
    /// `category` in HubSpot), or a transport label.
    pub code: String,
    /// The CRM's message, unchanged.
    pub message: String,
    pub category: ErrorCategory,
    pub verdict: Verdict,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CrmError {
    pub fn is_retryable(&self) -> bool {
        matches!(self.verdict, Verdict::Retryable { .. })
    }

    /// The delay to wait before a retry, if the error is retryable.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.verdict {
            Verdict::Retryable { after } => Some(after),
            Verdict::Permanent => None,
        }
    }
}
