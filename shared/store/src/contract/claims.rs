//! Checks of [`ClaimStore`]: exclusive until the TTL ends, renewal, release
//! by the owner only, and racing claims.

use std::sync::Arc;
use std::time::Duration;

use super::harness::{Harness, R};
use super::queue::LONG;
use crate::ports::*;

pub async fn a_claim_is_exclusive_until_its_ttl_ends(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let key = "create hubspot contact for a@example.com";
    assert_eq!(store.claim(key, "worker-1", Duration::from_secs(60)).await?, Claim::Acquired);
    match store.claim(key, "worker-2", Duration::from_secs(60)).await? {
        Claim::HeldBy { owner, .. } => assert_eq!(owner, "worker-1"),
        other => panic!("second owner got {other:?}"),
    }
    assert_eq!(store.claim(key, "worker-1", Duration::from_secs(60)).await?, Claim::Acquired, "renewal");
    h.advance_clock(Duration::from_secs(61));
    assert_eq!(store.claim(key, "worker-2", Duration::from_secs(60)).await?, Claim::Acquired, "expired claim");
    assert!(!store.release_claim(key, "worker-1").await?, "old owner cannot release");
    Ok(())
}

pub async fn a_released_claim_can_be_taken_by_another_owner(h: &dyn Harness) -> R {
    let store = h.store().await?;
    assert_eq!(store.claim("k", "a", Duration::from_secs(300)).await?, Claim::Acquired);
    assert!(!store.release_claim("k", "b").await?, "not b's claim");
    assert!(matches!(store.claim("k", "b", Duration::from_secs(300)).await?, Claim::HeldBy { .. }));
    assert!(store.release_claim("k", "a").await?);
    assert_eq!(store.claim("k", "b", Duration::from_secs(300)).await?, Claim::Acquired);
    Ok(())
}

pub async fn concurrent_claims_of_one_key_grant_it_once(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let attempts = (0..8).map(|i| {
        let store = Arc::clone(&store);
        async move { store.claim("create hubspot contact for race@example.com", &format!("w{i}"), LONG).await }
    });
    let results = futures::future::join_all(attempts).await;
    let acquired = results.iter().filter(|r| matches!(r, Ok(Claim::Acquired))).count();
    assert_eq!(acquired, 1, "exactly one owner: {results:?}");
    Ok(())
}
