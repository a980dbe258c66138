//! Usage accounting: calls flushed from the clients to the store, caps and
//! the live reserve.

use crate::ports::{HubspotRecords, SalesforceQueries};
use crate::testing::TestApp;
use crate::usage::{Priority, api_usage, ensure_budget, flush_usage};
use crate::{AppError, AppSettings};
use crm_sync_domain::System;
use std::time::Duration;

async fn spend(t: &TestApp, salesforce: usize, hubspot: usize) {
    for _ in 0..salesforce {
        t.salesforce.count("SELECT COUNT() FROM Lead").await.unwrap();
    }
    for _ in 0..hubspot {
        t.hubspot.batch_read("contacts", &["1".into()], None, &[]).await.unwrap();
    }
}

#[tokio::test]
async fn the_usage_report_counts_the_calls_both_clients_made() {
    let t = TestApp::new();
    spend(&t, 3, 2).await;
    let usage = api_usage(&t.app).await.unwrap();
    assert_eq!(usage.salesforce.used, 3);
    assert_eq!(usage.hubspot.used, 2);
}

#[tokio::test]
async fn flushing_twice_writes_only_the_growth_since_the_last_flush() {
    let t = TestApp::new();
    spend(&t, 2, 0).await;
    flush_usage(&t.app).await.unwrap();
    flush_usage(&t.app).await.unwrap();
    spend(&t, 1, 0).await;
    flush_usage(&t.app).await.unwrap();
    assert_eq!(t.app.store().api_calls_last_24h(System::Salesforce).await.unwrap(), 3);
}

#[tokio::test]
async fn calls_older_than_a_day_leave_the_usage_figure() {
    let t = TestApp::new();
    spend(&t, 4, 0).await;
    flush_usage(&t.app).await.unwrap();
    t.advance(Duration::from_secs(25 * 3600));
    assert_eq!(api_usage(&t.app).await.unwrap().salesforce.used, 0);
}

#[tokio::test]
async fn the_caps_come_from_the_config_and_the_settings_with_their_reserves() {
    let t = TestApp::builder()
        .config_yaml("version: 1\nsalesforce_api_cap_per_24h: 10000\n")
        .settings(AppSettings { live_reserve: 700, hubspot_cap_per_24h: 40_000, ..AppSettings::default() })
        .build();
    let usage = api_usage(&t.app).await.unwrap();
    assert_eq!((usage.salesforce.cap, usage.salesforce.reserve), (10_000, 700));
    assert_eq!((usage.hubspot.cap, usage.hubspot.reserve), (40_000, 2_000), "a twentieth of the HubSpot cap");
    assert_eq!(usage.salesforce.remaining(Priority::Live), 10_000);
    assert_eq!(usage.salesforce.remaining(Priority::Bulk), 9_300);
}

#[tokio::test]
async fn bulk_work_that_would_eat_into_the_live_reserve_is_refused_but_live_work_is_not() {
    let t = TestApp::builder()
        .config_yaml("version: 1\nsalesforce_api_cap_per_24h: 600\n")
        .settings(AppSettings { live_reserve: 500, ..AppSettings::default() })
        .build();
    spend(&t, 50, 0).await;
    let refused = ensure_budget(&t.app, Priority::Bulk, 51, 0).await.unwrap_err();
    match refused {
        AppError::BudgetSpent { system, used, cap, retry_after } => {
            assert_eq!((system, used, cap), ("salesforce", 50, 600));
            assert_eq!(retry_after, Duration::from_secs(300));
        }
        other => panic!("expected BudgetSpent, got {other:?}"),
    }
    assert!(ensure_budget(&t.app, Priority::Bulk, 50, 0).await.is_ok());
    assert!(ensure_budget(&t.app, Priority::Live, 500, 0).await.is_ok());
}

#[tokio::test]
async fn a_spent_hubspot_budget_is_reported_for_hubspot() {
    let t = TestApp::builder().settings(AppSettings { hubspot_cap_per_24h: 20, ..AppSettings::default() }).build();
    spend(&t, 0, 19).await;
    let error = ensure_budget(&t.app, Priority::Bulk, 0, 1).await.unwrap_err();
    assert!(matches!(error, AppError::BudgetSpent { system: "hubspot", used: 19, cap: 20, .. }), "{error:?}");
    assert!(error.retry_after().is_some());
}

#[tokio::test]
async fn the_usage_history_puts_each_call_in_its_hour_and_sums_to_the_rolling_day() {
    let t = TestApp::new();
    spend(&t, 2, 1).await;
    flush_usage(&t.app).await.unwrap();
    t.clock.advance(Duration::from_secs(5 * 3600));
    spend(&t, 3, 0).await;
    let history = crate::usage::api_usage_history(&t.app).await.unwrap();
    assert_eq!(history.salesforce.len(), crate::usage::HISTORY_HOURS);
    assert_eq!(history.salesforce[23], 3, "this hour's calls, flushed by the history itself");
    assert_eq!(history.salesforce[18], 2, "five hours ago");
    assert_eq!(history.hubspot[18], 1);
    let day: u64 = history.salesforce.iter().sum();
    assert_eq!(day, api_usage(&t.app).await.unwrap().salesforce.used);
    t.clock.advance(Duration::from_secs(20 * 3600));
    let history = crate::usage::api_usage_history(&t.app).await.unwrap();
    assert_eq!(history.salesforce.iter().sum::<u64>(), 3, "calls older than a day leave the chart");
    assert_eq!(history.salesforce[3], 3);
}
