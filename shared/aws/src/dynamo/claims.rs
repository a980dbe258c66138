//! Idempotency claims on DynamoDB: one item `CLAIM#<key>` (sort key
//! `CLAIM`) with `owner`, `expires_ms` and the TTL attribute.
//!
//! A claim is one `PutItem` conditional on
//! `attribute_not_exists(pk) OR expires_ms <= :now OR owner = :owner`, so of
//! racing claimants exactly one write succeeds; a loser reads the holder back
//! to report it. Release is a `DeleteItem` conditional on the owner and an
//! unexpired claim.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use crm_sync_store::clock;
use crm_sync_store::*;

use super::DynamoStore;
use super::item::*;

#[async_trait]
impl ClaimStore for DynamoStore {
    /// One conditional `PutItem`; on a lost condition, reads the holder back
    /// to report it. If the claim vanished in between (released), the caller
    /// gets `ConditionFailed` and may simply try again.
    async fn claim(&self, claim_key: &str, owner: &str, ttl: Duration) -> StoreResult<Claim> {
        let now = self.clock.now();
        let expires = clock::add(now, ttl);
        let pk = format!("CLAIM#{claim_key}");
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.state)
            .set_item(Some(HashMap::from([
                ("pk".to_owned(), s(&pk)),
                ("sk".to_owned(), s("CLAIM")),
                ("owner".to_owned(), s(owner)),
                ("expires_ms".to_owned(), n(millis(expires))),
                ("expires_at".to_owned(), n(expires.timestamp())),
            ])))
            .condition_expression("attribute_not_exists(pk) OR expires_ms <= :now OR #owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired),
            Err(e) if is_condition_failed(&e) => {
                let held = self.get_item("claim", key(&pk, "CLAIM")).await?;
                match held {
                    Some(item) => Ok(Claim::HeldBy {
                        owner: get_s(&item, "owner")?,
                        expires_at: from_millis(get_n(&item, "expires_ms")?),
                    }),
                    // Released between the two calls: the caller may try again.
                    None => Err(StoreError::condition(format!("claim {claim_key} changed hands"))),
                }
            }
            Err(e) => Err(StoreError::backend(BACKEND, "claim", e)),
        }
    }

    /// `DeleteItem` conditional on `owner` and an unexpired claim: an owner
    /// whose claim expired (and may have been taken) cannot delete it.
    async fn release_claim(&self, claim_key: &str, owner: &str) -> StoreResult<bool> {
        let now = self.clock.now();
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.state)
            .set_key(Some(key(format!("CLAIM#{claim_key}"), "CLAIM")))
            .condition_expression("#owner = :owner AND expires_ms > :now")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::backend(BACKEND, "release claim", e)),
        }
    }
}
