//! Checks of [`ApiUsageStore`]: per-system sums over the rolling day.

use std::time::Duration;

use super::harness::{Harness, R};
use crate::ports::*;

pub async fn api_usage_sums_only_the_last_24_hours_per_system(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.add_api_calls(System::Salesforce, 40).await?;
    h.advance_clock(Duration::from_secs(3 * 3600));
    store.add_api_calls(System::Salesforce, 2).await?;
    store.add_api_calls(System::Salesforce, 3).await?;
    store.add_api_calls(System::HubSpot, 7).await?;
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 45);
    assert_eq!(store.api_calls_last_24h(System::HubSpot).await?, 7);
    h.advance_clock(Duration::from_secs(22 * 3600));
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 5, "calls 25 hours old no longer count");
    h.advance_clock(Duration::from_secs(3 * 3600));
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 0);
    assert_eq!(store.api_calls_last_24h(System::HubSpot).await?, 0);
    Ok(())
}

pub async fn api_usage_buckets_are_the_calls_of_the_rolling_day_in_time_order(h: &dyn Harness) -> R {
    let store = h.store().await?;
    assert!(store.api_usage_buckets_last_24h(System::Salesforce).await?.is_empty());
    store.add_api_calls(System::Salesforce, 4).await?;
    store.add_api_calls(System::Salesforce, 1).await?;
    h.advance_clock(Duration::from_secs(2 * 3600));
    store.add_api_calls(System::Salesforce, 6).await?;
    store.add_api_calls(System::HubSpot, 9).await?;
    let buckets = store.api_usage_buckets_last_24h(System::Salesforce).await?;
    let calls: Vec<u64> = buckets.iter().map(|b| b.calls).collect();
    assert_eq!(calls, [5, 6], "one bucket per five minutes with calls, oldest first");
    assert_eq!(buckets[1].start - buckets[0].start, chrono::Duration::hours(2));
    assert_eq!(buckets[0].start.timestamp() % 300, 0, "buckets start on five-minute bounds");
    let sum: u64 = calls.iter().sum();
    assert_eq!(sum, store.api_calls_last_24h(System::Salesforce).await?);
    h.advance_clock(Duration::from_secs(23 * 3600));
    let calls: Vec<u64> = store.api_usage_buckets_last_24h(System::Salesforce).await?.iter().map(|b| b.calls).collect();
    assert_eq!(calls, [6], "a bucket older than the rolling day is left out");
    Ok(())
}

pub async fn a_reservation_grants_only_what_the_cap_leaves(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let figures = |r: Reservation| (r.granted, r.used);
    store.add_api_calls(System::Salesforce, 90).await?;
    let first = store.reserve_api_calls(System::Salesforce, 6, 100).await?;
    assert_eq!(figures(first), (6, 96));
    assert_eq!(first.bucket.timestamp() % 300, 0, "counted in a five-minute bucket");
    let second = store.reserve_api_calls(System::Salesforce, 25, 100).await?;
    assert_eq!(figures(second), (4, 100), "only the 4 calls left under the cap");
    let refused = store.reserve_api_calls(System::Salesforce, 1, 100).await?;
    assert_eq!(figures(refused), (0, 100), "nothing at the cap");
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 100, "granted calls are counted");
    assert_eq!(store.reserve_api_calls(System::HubSpot, 3, 100).await?.granted, 3, "each system has its own count");
    h.advance_clock(Duration::from_secs(25 * 3600));
    let later = store.reserve_api_calls(System::Salesforce, 25, 100).await?;
    assert_eq!(figures(later), (25, 25), "calls leave the rolling day");
    Ok(())
}

pub async fn calls_given_back_leave_the_count_and_free_the_cap(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let taken = store.reserve_api_calls(System::Salesforce, 10, 10).await?;
    assert_eq!(taken.granted, 10);
    h.advance_clock(Duration::from_secs(600));
    store.add_api_calls(System::Salesforce, 2).await?;
    store.release_api_calls(System::Salesforce, taken.bucket, 7).await?;
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 5, "3 kept of the reservation, 2 added since");
    let calls: Vec<u64> = store.api_usage_buckets_last_24h(System::Salesforce).await?.iter().map(|b| b.calls).collect();
    assert_eq!(calls, [3, 2], "taken back from the reservation's own bucket");
    store.release_api_calls(System::Salesforce, taken.bucket, 50).await?;
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 5, "a bucket holding less is left alone");
    assert_eq!(store.reserve_api_calls(System::Salesforce, 9, 10).await?.granted, 5);
    Ok(())
}

pub async fn concurrent_reservations_never_pass_the_cap(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.add_api_calls(System::Salesforce, 10).await?;
    // Eight contenders, each taking one or three calls at a time until refused.
    let contenders = (0..8u64).map(|i| {
        let store = store.clone();
        async move {
            let mut taken = 0;
            loop {
                let r = store.reserve_api_calls(System::Salesforce, 1 + 2 * (i % 2), 70).await?;
                assert!(r.used <= 70, "a reservation saw {} calls, over the cap of 70", r.used);
                if r.granted == 0 {
                    return Ok::<u64, crate::StoreError>(taken);
                }
                taken += r.granted;
            }
        }
    });
    let mut total = 0;
    for taken in futures::future::join_all(contenders).await {
        total += taken?;
    }
    assert_eq!(total, 60, "together the contenders took exactly what the cap left");
    assert_eq!(store.api_calls_last_24h(System::Salesforce).await?, 70);
    Ok(())
}
