//! One classified error type for both CRM clients.

use crm_sync_domain::error::{ErrorCategory, Verdict};
use std::time::Duration;

/// Which CRM answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Salesforce,
    Hubspot,
}

impl std::fmt::Display for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            System::Salesforce => "salesforce",
            System::Hubspot => "hubspot",
        })
    }
}

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
