//! One classified error type for both CRM clients.
//!
//! Owns the shape every failed CRM call takes: which system answered, the
//! HTTP status, the vendor's own code and message (kept unchanged for people
//! and logs), and the product's reading of it: an
//! [`ErrorCategory`] for sync health and a [`Verdict`] saying whether and
//! when to retry. The reading is done once, by the client that read the
//! answer (`salesforce::error`, `hubspot::classify`); nothing above this
//! crate looks at vendor codes to decide a retry.

use crm_sync_domain::error::{ErrorCategory, Verdict};
use std::time::Duration;

/// Which CRM answered: the domain's [`System`], re-exported here so that
/// `crm_sync_crm::error::System` keeps naming the same type.
pub use crm_sync_domain::model::System;

/// A failed CRM call, classified, with the CRM's own code and message.
#[derive(Debug, thiserror::Error)]
#[error("{system} {status}: {code}: {message}")]
pub struct CrmError {
    /// Which CRM answered (or was being called).
    pub system: System,
    /// HTTP status, 0 when the request never got an answer.
    pub status: u16,
    /// The CRM's error code (`errorCode`/`statusCode` in Salesforce,
    /// `category` in HubSpot), or a transport label.
    pub code: String,
    /// The CRM's message, unchanged.
    pub message: String,
    /// The sync-health category (SPEC section 9).
    pub category: ErrorCategory,
    /// Whether to retry, and after how long.
    pub verdict: Verdict,
    /// The transport or decoding error behind it, when there is one.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CrmError {
    /// Whether the verdict is [`Verdict::Retryable`].
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

/// The sync-health category of a vendor error code met without an HTTP
/// status of its own: a per-record result of a batch write. Each CRM's code
/// is read by that CRM's table (`salesforce::error::category`,
/// `hubspot::classify::category`), the same tables that classify whole-call
/// answers, so a code never lands in a category the other vendor's table
/// would give it.
pub fn category(system: System, code: &str, message: &str) -> ErrorCategory {
    match system {
        System::Salesforce => crate::salesforce::error::category(code),
        System::HubSpot => crate::hubspot::classify::category(code, message),
    }
}
