//! Unit tests of the use cases over the in-memory fakes
//! ([`crate::testing`]): no HTTP, no emulators, time moved by hand.
//!
//! One file per use case or module; test names are sentences saying the
//! behaviour they hold the code to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
mod fakes;
mod imports;
mod messages;
mod resync;
mod sweep;
mod ui;
mod usage;
mod webhook;
mod wire;

use crate::messages::parse_intents;
use crate::testing::TestApp;
use crm_sync_domain::intent::SyncIntent;
use crm_sync_store::Queue;
use std::time::Duration;

/// Every intent waiting on the sync queue, in queue order, and the number
/// of messages they came in; the messages are deleted.
async fn drain_sync_queue(t: &TestApp) -> (Vec<SyncIntent>, usize) {
    let mut intents = Vec::new();
    let mut messages = 0;
    loop {
        let batch = t.sync_queue.receive(10, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            return (intents, messages);
        }
        for message in batch {
            messages += 1;
            intents.extend(parse_intents(&message.body).unwrap());
            t.sync_queue.delete(&message.receipt_handle).await.unwrap();
        }
    }
}

/// The record keys (`system:pair:id`) of the queued intents, sorted.
async fn queued_keys(t: &TestApp) -> Vec<String> {
    let mut keys: Vec<String> = drain_sync_queue(t).await.0.iter().map(SyncIntent::record_key).collect();
    keys.sort();
    keys
}

/// The HubSpot id linked to a Salesforce contact or lead, if any.
async fn contact_link(t: &TestApp, salesforce_id: &str) -> Option<String> {
    let link = t.app.store().get_link_by_salesforce(crm_sync_domain::ObjectPair::Contact, salesforce_id).await.unwrap();
    link.map(|l| l.hubspot_id)
}

/// Records a sync-health error for a contact, as a failed sync would.
async fn contact_error(t: &TestApp, salesforce_id: Option<&str>, hubspot_id: Option<&str>, category: &str) {
    let report = crm_sync_store::ErrorReport {
        key: format!("contact:{}", salesforce_id.or(hubspot_id).unwrap_or_default()),
        category: category.to_owned(),
        pair: crm_sync_domain::ObjectPair::Contact,
        salesforce_id: salesforce_id.map(str::to_owned),
        hubspot_id: hubspot_id.map(str::to_owned),
        message: "failed".into(),
        retryable: false,
    };
    t.app.store().record_error(&report).await.unwrap();
}
