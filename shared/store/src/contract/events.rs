//! Checks of [`SeenEventStore`](crate::SeenEventStore): an event id is new once until its TTL ends.

use std::time::Duration;

use super::harness::{Harness, R};

pub async fn a_webhook_event_id_is_new_once_until_its_ttl_ends(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let ttl = Duration::from_secs(3600);
    let ids: Vec<String> = ["e1", "e2", "e1"].iter().map(|s| s.to_string()).collect();
    assert_eq!(store.mark_events_seen(&ids, ttl).await?, [true, true, false]);
    let again: Vec<String> = ["e2", "e3"].iter().map(|s| s.to_string()).collect();
    assert_eq!(store.mark_events_seen(&again, ttl).await?, [false, true]);
    h.advance_clock(Duration::from_secs(3601));
    assert_eq!(store.mark_events_seen(&ids[..1], ttl).await?, [true], "forgotten after the TTL");
    assert_eq!(store.mark_events_seen(&ids[..1], ttl).await?, [false]);
    assert!(store.mark_events_seen(&[], ttl).await?.is_empty());
    Ok(())
}
