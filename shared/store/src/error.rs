//! The error of every state-store and queue call, shared by all adapters so
//! the use cases can match on it without knowing the backend.

use std::error::Error as StdError;

/// Boxed cause of a backend failure.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item exists, or its version moved on.
    /// Expected under concurrency; re-read and decide again.
    #[error("conditional write failed: {what}")]
    ConditionFailed { what: String },

    /// The item the call needs does not exist.
    #[error("not found: {what}")]
    NotFound { what: String },

    /// The call was malformed (caller bug), e.g. changing the ids of a link in
    /// an update.
    #[error("invalid request: {0}")]
    Invalid(String),

    /// A stored item could not be decoded.
    #[error("corrupt stored item: {what}")]
    Corrupt {
        what: String,
        #[source]
        source: Option<BoxError>,
    },

    /// The state file was written by a newer version of the product: its
    /// schema is one this version does not know, and using it would fail
    /// (or damage it) call after call.
    #[error(
        "the state file {path} has schema version {found}, and this crm-sync reads versions up to {supported}: \
         a newer crm-sync wrote it. Run that version (or a newer one) with this file, or give another state \
         file (--state) to start with empty state"
    )]
    UnsupportedSchema { path: String, found: i64, supported: i64 },

    /// The backend failed (IO, network, throttling); usually worth retrying.
    #[error("{backend} call failed: {operation}")]
    Backend {
        backend: &'static str,
        operation: &'static str,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    pub fn condition(what: impl Into<String>) -> Self {
        StoreError::ConditionFailed { what: what.into() }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    pub fn corrupt(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Corrupt { what: what.into(), source: Some(source.into()) }
    }

    pub fn backend(backend: &'static str, operation: &'static str, source: impl Into<BoxError>) -> Self {
        StoreError::Backend { backend, operation, source: source.into() }
    }

    /// True for a lost conditional write.
    pub fn is_condition_failed(&self) -> bool {
        matches!(self, StoreError::ConditionFailed { .. })
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend { .. } | StoreError::ConditionFailed { .. })
    }
}
