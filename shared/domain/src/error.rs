//! Error categories shown in sync health, and whether an error is worth retrying.
//!
//! Owns the vocabulary only; the CRM clients decide which category a response
//! belongs to, the use cases decide what to do with the verdict.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The sync-health categories of the product (SPEC section 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    Duplicates,
    Associations,
    PermissionsOrAccess,
    PropertyValueOrValidation,
    ApiLimit,
    Other,
}

/// Whether a failed call should be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Try again, no sooner than `after`.
    Retryable { after: Duration },
    /// Trying again will fail the same way; record it in sync health.
    Permanent,
}
