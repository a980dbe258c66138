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

impl ErrorCategory {
    /// The category of a Salesforce `errorCode` (REST data errors, collection
    /// `statusCode`s, Bulk `sf__Error` prefixes).
    pub fn from_salesforce_code(code: &str) -> Self {
        match code {
            "DUPLICATE_VALUE" | "DUPLICATES_DETECTED" | "DUPLICATE_EXTERNAL_ID" => Self::Duplicates,
            "INVALID_CROSS_REFERENCE_KEY" | "ENTITY_IS_DELETED" | "FIELD_INTEGRITY_EXCEPTION" => Self::Associations,
            "INSUFFICIENT_ACCESS"
            | "INSUFFICIENT_ACCESS_OR_READONLY"
            | "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
            | "INVALID_SESSION_ID"
            | "API_DISABLED_FOR_ORG"
            | "CANNOT_UPDATE_CONVERTED_LEAD" => Self::PermissionsOrAccess,
            "INVALID_FIELD"
            | "INVALID_FIELD_FOR_INSERT_UPDATE"
            | "REQUIRED_FIELD_MISSING"
            | "FIELD_CUSTOM_VALIDATION_EXCEPTION"
            | "STRING_TOO_LONG"
            | "INVALID_EMAIL_ADDRESS"
            | "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
            | "INVALID_TYPE_ON_FIELD_IN_RECORD"
            | "NUMBER_OUTSIDE_VALID_RANGE"
            | "MALFORMED_ID" => Self::PropertyValueOrValidation,
            "REQUEST_LIMIT_EXCEEDED" => Self::ApiLimit,
            _ => Self::Other,
        }
    }

    /// The category of a HubSpot error (`category` of the body, or
    /// `errorType` of older 429 bodies), with the HTTP status as a fallback.
    pub fn from_hubspot(category: &str, status: u16) -> Self {
        match category {
            "CONFLICT" => Self::Duplicates,
            "VALIDATION_ERROR" => Self::PropertyValueOrValidation,
            "RATE_LIMITS" | "RATE_LIMIT" => Self::ApiLimit,
            "INVALID_AUTHENTICATION" | "EXPIRED_AUTHENTICATION" | "MISSING_SCOPES" => Self::PermissionsOrAccess,
            c if c.contains("ASSOCIATION") => Self::Associations,
            _ => match status {
                409 => Self::Duplicates,
                400 => Self::PropertyValueOrValidation,
                401 | 403 => Self::PermissionsOrAccess,
                429 => Self::ApiLimit,
                _ => Self::Other,
            },
        }
    }
}

impl Verdict {
    /// Whether a Salesforce failure is worth retrying, and after how long.
    /// `attempt` counts from 1; `retry_after` is an advertised delay, if any.
    pub fn for_salesforce(code: &str, status: u16, attempt: u32, retry_after: Option<Duration>) -> Self {
        match code {
            // The rolling 24h allocation: usage drops slowly, wait long.
            "REQUEST_LIMIT_EXCEEDED" => Self::Retryable { after: retry_after.unwrap_or(Duration::from_secs(15 * 60)) },
            "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE" => {
                Self::Retryable { after: retry_after.unwrap_or_else(|| backoff(attempt, DEFAULT_BACKOFF)) }
            }
            // Re-authenticate, then retry at once.
            "INVALID_SESSION_ID" => Self::Retryable { after: Duration::ZERO },
            _ => Self::for_status(status, attempt, retry_after),
        }
    }

    /// Whether a HubSpot failure is worth retrying, and after how long.
    pub fn for_hubspot(category: &str, status: u16, attempt: u32, retry_after: Option<Duration>) -> Self {
        match category {
            "RATE_LIMITS" | "RATE_LIMIT" => Self::Retryable {
                // HubSpot's burst window is ten seconds.
                after: retry_after.unwrap_or_else(|| Duration::from_secs(10).saturating_mul(attempt.max(1))),
            },
            "EXPIRED_AUTHENTICATION" => Self::Retryable { after: Duration::ZERO },
            _ => Self::for_status(status, attempt, retry_after),
        }
    }

    /// By HTTP status alone: 429, 5xx, HubSpot's 477 and edge errors, and
    /// no answer at all (status 0) are retryable; the rest is permanent.
    pub fn for_status(status: u16, attempt: u32, retry_after: Option<Duration>) -> Self {
        let retryable = matches!(status, 0 | 429 | 477 | 500..=599);
        if retryable {
            Self::Retryable { after: retry_after.unwrap_or_else(|| backoff(attempt, DEFAULT_BACKOFF)) }
        } else {
            Self::Permanent
        }
    }
}

/// An exponential backoff: `base * 2^(attempt-1)`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub base: Duration,
    pub cap: Duration,
}

/// One second doubling up to five minutes.
pub const DEFAULT_BACKOFF: BackoffPolicy =
    BackoffPolicy { base: Duration::from_secs(1), cap: Duration::from_secs(300) };

/// The delay before retry number `attempt` (1 = the first retry). Pure and
/// deterministic; never above the cap, never decreasing with `attempt`.
pub fn backoff(attempt: u32, policy: BackoffPolicy) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    policy.base.saturating_mul(1u32.checked_shl(exponent).unwrap_or(u32::MAX)).min(policy.cap)
}

/// [`backoff`] with "equal jitter": a delay in `[d/2, d]` chosen from `seed`
/// (e.g. a hash of the message id), so that retries of many records spread
/// out while each one stays reproducible in tests.
pub fn backoff_with_jitter(attempt: u32, policy: BackoffPolicy, seed: u64) -> Duration {
    let full = backoff(attempt, policy);
    let half = full / 2;
    // splitmix64: a well-mixed fraction of the seed.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
    half + (full - half).mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_error_codes_fall_into_the_sync_health_categories() {
        use ErrorCategory as C;
        assert_eq!(C::from_salesforce_code("DUPLICATE_VALUE"), C::Duplicates);
        assert_eq!(C::from_salesforce_code("DUPLICATES_DETECTED"), C::Duplicates);
        assert_eq!(C::from_salesforce_code("INVALID_CROSS_REFERENCE_KEY"), C::Associations);
        assert_eq!(C::from_salesforce_code("INSUFFICIENT_ACCESS_OR_READONLY"), C::PermissionsOrAccess);
        assert_eq!(C::from_salesforce_code("REQUIRED_FIELD_MISSING"), C::PropertyValueOrValidation);
        assert_eq!(C::from_salesforce_code("REQUEST_LIMIT_EXCEEDED"), C::ApiLimit);
        assert_eq!(C::from_salesforce_code("UNABLE_TO_LOCK_ROW"), C::Other);
    }

    #[test]
    fn hubspot_errors_fall_into_the_sync_health_categories() {
        use ErrorCategory as C;
        assert_eq!(C::from_hubspot("CONFLICT", 409), C::Duplicates);
        assert_eq!(C::from_hubspot("VALIDATION_ERROR", 400), C::PropertyValueOrValidation);
        assert_eq!(C::from_hubspot("RATE_LIMITS", 429), C::ApiLimit);
        assert_eq!(C::from_hubspot("", 429), C::ApiLimit);
        assert_eq!(C::from_hubspot("MISSING_SCOPES", 403), C::PermissionsOrAccess);
        assert_eq!(C::from_hubspot("OBJECT_NOT_FOUND", 404), C::Other);
    }

    #[test]
    fn lock_contention_and_limits_are_retried_and_validation_is_not() {
        assert!(matches!(Verdict::for_salesforce("UNABLE_TO_LOCK_ROW", 400, 1, None), Verdict::Retryable { .. }));
        assert_eq!(
            Verdict::for_salesforce("REQUEST_LIMIT_EXCEEDED", 403, 1, Some(Duration::from_secs(60))),
            Verdict::Retryable { after: Duration::from_secs(60) }
        );
        assert_eq!(Verdict::for_salesforce("FIELD_CUSTOM_VALIDATION_EXCEPTION", 400, 1, None), Verdict::Permanent);
        assert_eq!(
            Verdict::for_hubspot("RATE_LIMITS", 429, 2, None),
            Verdict::Retryable { after: Duration::from_secs(20) }
        );
        assert_eq!(Verdict::for_hubspot("VALIDATION_ERROR", 400, 1, None), Verdict::Permanent);
        assert!(matches!(Verdict::for_status(503, 1, None), Verdict::Retryable { .. }));
    }

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let p = DEFAULT_BACKOFF;
        assert_eq!(backoff(1, p), Duration::from_secs(1));
        assert_eq!(backoff(2, p), Duration::from_secs(2));
        assert_eq!(backoff(5, p), Duration::from_secs(16));
        assert_eq!(backoff(20, p), Duration::from_secs(300));
        assert_eq!(backoff(u32::MAX, p), Duration::from_secs(300));
        assert_eq!(backoff(0, p), Duration::from_secs(1));
    }

    #[test]
    fn jittered_backoff_stays_between_half_and_full_and_is_reproducible() {
        for seed in 0..200u64 {
            let d = backoff_with_jitter(4, DEFAULT_BACKOFF, seed);
            assert!(d >= Duration::from_secs(4) && d <= Duration::from_secs(8), "{d:?}");
            assert_eq!(d, backoff_with_jitter(4, DEFAULT_BACKOFF, seed));
        }
    }
}
