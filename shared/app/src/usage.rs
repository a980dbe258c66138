//! API usage accounting: calls per system per rolling day, against the cap.
//!
//! Each CRM port counts the calls it makes; after every use case step the
//! growth of that count is written to the state store, so the figure is shared
//! by every process (Lambdas included). Salesforce calls are admitted one by
//! one by the cap gate ([`crate::cap`]), which counts them itself and refuses
//! any call past the cap, whoever makes it. Imports and resyncs also stop
//! short of the cap by [`crate::AppSettings::live_reserve`] before they start;
//! live changes may use the rest.

use crate::{App, AppError};
use crm_sync_domain::System;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

/// The counts already written to the store, per client instance: the
/// baseline each flush subtracts, so that a count is written once however
/// often a process flushes.
#[derive(Debug, Default)]
pub(crate) struct Flushed {
    salesforce: Mutex<u64>,
    hubspot: Mutex<u64>,
}

/// Who is asking for budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Webhooks, the sweep and their sync: may use the reserve.
    Live,
    /// Imports and resyncs: pause before the reserve.
    Bulk,
}

/// API calls in the last 24 hours against the cap, per system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SystemUsage {
    pub used: u64,
    pub cap: u64,
    /// Calls kept for live changes.
    pub reserve: u64,
}

impl SystemUsage {
    /// Calls still allowed to `priority`: bulk work stops at the reserve.
    pub fn remaining(&self, priority: Priority) -> u64 {
        let limit = match priority {
            Priority::Live => self.cap,
            Priority::Bulk => self.cap.saturating_sub(self.reserve),
        };
        limit.saturating_sub(self.used)
    }
}

/// Both systems' figures, as `crm-sync usage` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    pub salesforce: SystemUsage,
    pub hubspot: SystemUsage,
}

/// The growth of a client's count since the last flush, moving the
/// baseline. Saturating: a count that went down (a new client) writes none.
fn take_delta(flushed: &Mutex<u64>, now: u64) -> u64 {
    let mut last = flushed.lock().unwrap_or_else(|p| p.into_inner());
    let delta = now.saturating_sub(*last);
    *last = now;
    delta
}

/// Writes the calls made since the last flush to the store. A gated
/// Salesforce client's calls are counted by its gate as they are admitted.
pub async fn flush_usage(app: &App) -> Result<(), AppError> {
    match app.salesforce_cap() {
        Some(cap) => cap.flush().await?,
        None => {
            let sf = take_delta(&app.inner_flushed().salesforce, app.salesforce().calls_made());
            if sf > 0 {
                app.store().add_api_calls(System::Salesforce, sf).await?;
            }
        }
    }
    let hs = take_delta(&app.inner_flushed().hubspot, app.hubspot().calls_made());
    if hs > 0 {
        app.store().add_api_calls(System::HubSpot, hs).await?;
    }
    Ok(())
}

/// API calls in the last 24 hours against the caps (`crm-sync usage`).
pub async fn api_usage(app: &App) -> Result<UsageReport, AppError> {
    flush_usage(app).await?;
    let settings = app.settings();
    let sf_cap = app.config().salesforce_api_cap_per_24h.get();
    Ok(UsageReport {
        salesforce: SystemUsage {
            used: app.store().api_calls_last_24h(System::Salesforce).await?,
            cap: sf_cap,
            reserve: settings.live_reserve.min(sf_cap),
        },
        hubspot: SystemUsage {
            used: app.store().api_calls_last_24h(System::HubSpot).await?,
            cap: settings.hubspot_cap_per_24h,
            reserve: (settings.hubspot_cap_per_24h / 20),
        },
    })
}

/// Hours in [`UsageHistory`]: the rolling day the cap is counted over.
pub const HISTORY_HOURS: usize = 24;

/// API calls per hour of the rolling day, per system: what the sync-health
/// page charts against the cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageHistory {
    /// The end of the last hour (now, store clock).
    pub ends: chrono::DateTime<chrono::Utc>,
    /// Calls per hour, oldest first; [`HISTORY_HOURS`] entries that sum to
    /// the rolling day's count (the oldest five-minute bucket, which counts
    /// whole, falls in the first hour).
    pub salesforce: Vec<u64>,
    pub hubspot: Vec<u64>,
}

/// The rolling day's calls hour by hour, after writing this process's
/// latest calls to the store.
pub async fn api_usage_history(app: &App) -> Result<UsageHistory, AppError> {
    flush_usage(app).await?;
    let ends = app.clock().now();
    let per_hour = |buckets: Vec<crm_sync_store::UsageBucket>| {
        let mut hours = vec![0u64; HISTORY_HOURS];
        for bucket in buckets {
            let age_hours = usize::try_from((ends - bucket.start).num_seconds().max(0) / 3600).unwrap_or(usize::MAX);
            let slot = HISTORY_HOURS - 1 - age_hours.min(HISTORY_HOURS - 1);
            hours[slot] += bucket.calls;
        }
        hours
    };
    Ok(UsageHistory {
        ends,
        salesforce: per_hour(app.store().api_usage_buckets_last_24h(System::Salesforce).await?),
        hubspot: per_hour(app.store().api_usage_buckets_last_24h(System::HubSpot).await?),
    })
}

/// Fails with [`AppError::BudgetSpent`] unless `salesforce` and `hubspot`
/// more calls fit in the budget of `priority`.
pub async fn ensure_budget(
    app: &App,
    priority: Priority,
    salesforce: u64,
    hubspot: u64,
) -> Result<UsageReport, AppError> {
    let usage = api_usage(app).await?;
    // The oldest five-minute bucket leaves the window next: retry then.
    let retry_after = Duration::from_secs(300);
    if salesforce > usage.salesforce.remaining(priority) {
        return Err(AppError::BudgetSpent {
            system: "salesforce",
            used: usage.salesforce.used,
            cap: usage.salesforce.cap,
            retry_after,
        });
    }
    if hubspot > usage.hubspot.remaining(priority) {
        return Err(AppError::BudgetSpent {
            system: "hubspot",
            used: usage.hubspot.used,
            cap: usage.hubspot.cap,
            retry_after,
        });
    }
    Ok(usage)
}
