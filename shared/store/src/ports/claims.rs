//! The claims capability: short, exclusive leases on a key.
//!
//! A claim guards a create that has no natural idempotency key on the other
//! CRM (e.g. "create the HubSpot contact for this email"): the worker that
//! acquires the claim does the create, the others see [`Claim::HeldBy`] and
//! back off. This is how a message delivered twice, or handled by two workers
//! at once, still writes once.
//!
//! - **Exclusive until expiry.** Of many concurrent claims of one key, exactly
//!   one is [`Claim::Acquired`]. A claim lasts until its TTL ends by the
//!   store's injected clock, whether or not the backend has removed the row
//!   yet (DynamoDB's TTL deletes lazily).
//! - **Renewable by its owner.** Claiming again as the same owner extends it.
//! - **Released only by its owner**, and only while it has not expired (an
//!   expired claim may already belong to someone else).

use std::time::Duration;

use async_trait::async_trait;

use super::types::{Claim, StoreResult};

/// Idempotency claims, keyed by the caller's own strings.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Claims `key` for `owner` until `ttl` from now, unless someone else holds
    /// an unexpired claim. Claiming again as the same owner renews it.
    async fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreResult<Claim>;

    /// Gives a claim back early; false if `owner` did not hold it.
    async fn release_claim(&self, key: &str, owner: &str) -> StoreResult<bool>;
}
