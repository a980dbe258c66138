//! Checks of [`SyncHealthStore`]: one entry per record key with its history,
//! listing order and filters, resolution.

use std::time::Duration;

use super::harness::{Harness, R};
use crate::ports::*;

fn report(key: &str, category: &str, message: &str) -> ErrorReport {
    ErrorReport {
        key: key.to_owned(),
        category: category.to_owned(),
        pair: ObjectPair::Contact,
        salesforce_id: Some("00Q1".to_owned()),
        hubspot_id: None,
        message: message.to_owned(),
        retryable: true,
    }
}

pub async fn a_sync_error_counts_attempts_and_keeps_its_first_seen_time(h: &dyn Harness) -> R {
    let store = h.store().await?;
    let first = store.record_error(&report("contact:salesforce:00Q1", "api_limit", "REQUEST_LIMIT_EXCEEDED")).await?;
    assert_eq!(first.attempts, 1);
    assert_eq!(first.first_seen, first.last_seen);
    h.advance_clock(Duration::from_secs(90));
    let mut again = report("contact:salesforce:00Q1", "property_value_or_validation", "INVALID_EMAIL_ADDRESS");
    again.retryable = false;
    again.hubspot_id = Some("42".to_owned());
    let second = store.record_error(&again).await?;
    assert_eq!(second.attempts, 2);
    assert_eq!(second.first_seen, first.first_seen);
    assert_eq!(second.last_seen - first.last_seen, chrono::Duration::seconds(90));
    assert_eq!(
        (second.category.as_str(), second.message.as_str(), second.retryable),
        ("property_value_or_validation", "INVALID_EMAIL_ADDRESS", false)
    );
    assert_eq!((second.salesforce_id.as_deref(), second.hubspot_id.as_deref()), (Some("00Q1"), Some("42")));
    assert_eq!(store.get_error("contact:salesforce:00Q1").await?, Some(second));
    Ok(())
}

pub async fn sync_errors_are_filtered_by_category_and_resolved(h: &dyn Harness) -> R {
    let store = h.store().await?;
    store.record_error(&report("k1", "duplicates", "two contacts share a@x")).await?;
    h.advance_clock(Duration::from_secs(1));
    store.record_error(&report("k2", "associations", "no account")).await?;
    h.advance_clock(Duration::from_secs(1));
    store.record_error(&report("k3", "duplicates", "two contacts share b@x")).await?;
    let all = store.list_errors(&ErrorFilter::default()).await?;
    let keys: Vec<&str> = all.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["k3", "k2", "k1"], "most recently seen first");
    let dups = store.list_errors(&ErrorFilter { category: Some("duplicates".into()), limit: None }).await?;
    let keys: Vec<&str> = dups.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["k3", "k1"]);
    let one = store.list_errors(&ErrorFilter { category: Some("duplicates".into()), limit: Some(1) }).await?;
    assert_eq!(one.len(), 1);
    assert!(store.resolve_error("k3").await?);
    assert!(!store.resolve_error("k3").await?);
    let dups = store.list_errors(&ErrorFilter { category: Some("duplicates".into()), limit: None }).await?;
    assert_eq!(dups.len(), 1);
    assert!(store.get_error("k3").await?.is_none());
    Ok(())
}
