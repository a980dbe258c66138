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
