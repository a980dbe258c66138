//! Error categories shown in sync health, whether an error is worth retrying,
//! and the pure backoff maths.
//!
//! Owns the product's vocabulary only, which is vendor-neutral: no Salesforce
//! error code, HubSpot category or HTTP status appears here. The CRM clients
//! (`crm_sync_crm::salesforce::error`, `crm_sync_crm::hubspot::classify`)
//! decide which category and verdict an answer gets; the use cases decide what
//! to do with the verdict (retry later, or record a sync-health entry).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The sync-health categories of the product (SPEC section 9).
///
/// Stored with each sync-health entry under its `snake_case` name, so the
/// variants' names are part of the stored format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    /// The record clashes with an existing one (duplicate rules, unique keys).
    Duplicates,
    /// A related record is missing or refused (account, company, owner link).
    Associations,
    /// The credentials or the integration user may not do this.
    PermissionsOrAccess,
    /// A value was refused (required field, picklist value, length, format).
    PropertyValueOrValidation,
    /// A rate limit or the daily API allocation is spent.
    ApiLimit,
    /// Anything else (server errors, unexpected answers).
    Other,
}

/// Whether a failed call should be tried again.
///
/// Decided once, where the answer is read (the CRM clients), and carried with
/// the error, so the use cases never look at vendor codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Try again, no sooner than `after`.
    Retryable { after: Duration },
    /// Trying again will fail the same way; record it in sync health.
    Permanent,
}

/// An exponential backoff: `base * 2^(attempt-1)`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The delay before the first retry.
    pub base: Duration,
    /// The longest delay, whatever the attempt.
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
