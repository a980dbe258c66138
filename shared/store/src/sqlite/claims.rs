//! Idempotency claims on SQLite: table `claims` (`key`, `owner`,
//! `expires_at`).
//!
//! A claim is one upsert whose `ON CONFLICT ... WHERE` only lets the write
//! through if the stored claim has expired or already belongs to the caller;
//! one row changed means acquired. Expired rows are pruned after a successful
//! claim or release, never relied upon being gone.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, db_err, from_millis, millis};
use crate::clock;
use crate::ports::{Claim, ClaimStore, StoreResult};

#[async_trait]
impl ClaimStore for SqliteStore {
    async fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreResult<Claim> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.run("claim", move |c, now| {
            let expires = millis(clock::add(now, ttl));
            let n = c
                .execute(
                    "INSERT INTO claims (key, owner, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                     WHERE claims.expires_at <= ?4 OR claims.owner = excluded.owner",
                    params![key, owner, expires, millis(now)],
                )
                .map_err(db_err("claim"))?;
            if n == 1 {
                c.prepare_cached("DELETE FROM claims WHERE expires_at <= ?1")
                    .and_then(|mut s| s.execute([millis(now)]))
                    .map_err(db_err("prune claims"))?;
                return Ok(Claim::Acquired);
            }
            let (owner, expires_at): (String, i64) = c
                .query_row("SELECT owner, expires_at FROM claims WHERE key = ?1", [&key], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db_err("claim"))?;
            Ok(Claim::HeldBy { owner, expires_at: from_millis(expires_at) })
        })
        .await
    }

    async fn release_claim(&self, key: &str, owner: &str) -> StoreResult<bool> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.run("release claim", move |c, now| {
            let n = c
                .execute(
                    "DELETE FROM claims WHERE key = ?1 AND owner = ?2 AND expires_at > ?3",
                    params![key, owner, millis(now)],
                )
                .map_err(db_err("release claim"))?;
            c.execute("DELETE FROM claims WHERE expires_at <= ?1", [millis(now)]).map_err(db_err("prune claims"))?;
            Ok(n == 1)
        })
        .await
    }
}
