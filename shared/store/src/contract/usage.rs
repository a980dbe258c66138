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
