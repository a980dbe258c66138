//! API limits and storms, in simulated time: the Salesforce API cap holds
//! for live changes and the sweep, and a HubSpot 429 storm of two hours is
//! waited out with nothing lost and nothing dead-lettered.
//!
//! Time moves only through the harness's clock ([`Harness::later`]); the
//! runtime takes what is due with [`LocalRuntime::run_ready`], so a delayed
//! message is never waited for in wall time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::Fault;
use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::local::LocalOptions;
use crm_sync_app::{AppSettings, sweep_once};
use crm_sync_domain::SyncConfig;
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::ErrorFilter;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// Longer than the rolling day plus one five-minute usage bucket.
const PAST_THE_WINDOW: Duration = Duration::from_secs(24 * 3600 + 600);
/// How long the test waits for the sandbox's webhooks (wall time).
const DELIVERY_WAIT: Duration = Duration::from_secs(60);

async fn create_contacts(h: &Harness, prefix: &str, n: usize) -> BTreeSet<String> {
    let mut emails = BTreeSet::new();
    for i in 0..n {
        let email = format!("{prefix}{i}@example.com");
        let properties = json!({"email": email, "firstname": "Ada", "lastname": format!("Storm{i}")});
        let serde_json::Value::Object(properties) = properties else { unreachable!() };
        h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();
        emails.insert(email);
    }
    emails
}

/// Waits (wall time, bounded) until the sandbox delivered `events` webhook
/// events to the runtime, so that every change is on the queue.
async fn delivered(h: &Harness, events: usize) {
    let started = std::time::Instant::now();
    loop {
        let ok: usize = h.sandbox.hubspot().webhook_log().iter().filter(|d| d.status == 200).map(|d| d.events).sum();
        if ok >= events {
            return;
        }
        assert!(started.elapsed() < DELIVERY_WAIT, "only {ok} of {events} webhook events delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The emails of the Leads the integration created, one entry per create.
fn leads_created(h: &Harness) -> Vec<String> {
    let sf = h.sandbox.salesforce();
    sf.writes()
        .into_iter()
        .filter(|w| w.object == "Lead" && w.op == Op::Create && w.actor == Actor::Integration)
        .filter_map(|w| sf.record("Lead", &w.id).and_then(|l| l["Email"].as_str().map(str::to_owned)))
        .collect()
}

fn arrived(h: &Harness, emails: &BTreeSet<String>) -> usize {
    let created: BTreeSet<String> = leads_created(h).into_iter().collect();
    emails.intersection(&created).count()
}

/// Salesforce API calls the sandbox counted (token requests included, as
/// the sync counts them against its cap).
fn salesforce_calls(h: &Harness) -> u64 {
    h.sandbox.salesforce_control().counts().total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_edits_never_spend_more_than_the_salesforce_cap_and_all_arrive_once_the_window_moves() {
    const CAP: u64 = 200;
    const EDITS: usize = 300;
    let mut sandbox = HarnessOptions::default().sandbox;
    // HubSpot's own burst limit is not under test here.
    sandbox.hubspot.rate_limit_per_10s = 100_000;
    let h = Harness::start(HarnessOptions {
        sandbox,
        config: SyncConfig::from_yaml_str(&format!("salesforce_api_cap_per_24h: {CAP}\n")).unwrap(),
        // One change per message and per step: each edit pays its own calls,
        // as changes arriving one by one do.
        settings: AppSettings { intents_per_message: 1, ..AppSettings::default() },
        local: LocalOptions { batch_messages: 1, ..HarnessOptions::default().local },
        ..HarnessOptions::default()
    })
    .await
    .unwrap();
    let emails = create_contacts(&h, "capped", EDITS).await;
    delivered(&h, EDITS).await;

    let mut windows = Vec::new();
    let mut swept_at_the_cap = false;
    while arrived(&h, &emails) < EDITS && windows.len() < 20 {
        h.reset_counts();
        let report = h.runtime.run_ready().await.unwrap();
        assert_eq!(report.retried, 0, "nothing failed at the cap: {report:?}");
        if !swept_at_the_cap && report.waited > 0 {
            // The sweep at the cap: it waits too, and costs nothing.
            let before = salesforce_calls(&h);
            let sweep = sweep_once(&h.app).await.expect("a sweep at the cap waits, it does not fail");
            assert!(!sweep.complete, "the Salesforce listings wait for the window");
            assert_eq!(salesforce_calls(&h), before, "no Salesforce call past the cap");
            swept_at_the_cap = true;
        }
        windows.push(salesforce_calls(&h));
        h.later(PAST_THE_WINDOW);
    }
    assert!(windows.iter().all(|&calls| calls <= CAP), "calls per rolling day: {windows:?}");
    assert!(windows.len() >= 2, "the edits need more than one day's cap: {windows:?}");
    assert!(swept_at_the_cap, "the cap was reached");
    let created = leads_created(&h);
    assert_eq!(arrived(&h, &emails), EDITS, "every edit arrives once the window allows: {windows:?}");
    assert_eq!(created.len(), EDITS, "each edit arrives once");
    assert_eq!(h.app.sync_queue().depth().await.unwrap().dead, 0, "nothing dead-lettered");
    assert!(h.app.store().list_errors(&ErrorFilter::default()).await.unwrap().is_empty(), "nothing failed");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_hour_hubspot_429_storm_loses_nothing_and_dead_letters_nothing() {
    const CONTACTS: usize = 20;
    let h = Harness::start(HarnessOptions {
        // The storm is met by the queue's waits, not by the client's own
        // resends (which wait in wall time).
        hubspot_rate_limit_retries: Some(0),
        ..HarnessOptions::default()
    })
    .await
    .unwrap();
    h.sandbox.hubspot_control().add_fault(
        Fault::new(429, u32::MAX, "/crm/v3/objects/contacts").with_header("Retry-After", "10").with_body(
            serde_json::from_str(include_str!(
                "../../../shared/crm/tests/fixtures/hubspot/rate-limit-error.ten-secondly.json"
            ))
            .unwrap(),
        ),
    );
    let emails = create_contacts(&h, "storm", CONTACTS).await;
    delivered(&h, CONTACTS).await;
    let messages = h.app.sync_queue().depth().await.unwrap().visible;
    assert!(messages > 0);

    let step = Duration::from_secs(60);
    let mut storm = crm_sync_app::local::IdleReport::default();
    for _ in 0..120 {
        let report = h.runtime.run_ready().await.unwrap();
        storm.retried += report.retried;
        storm.waited += report.waited;
        storm.failed += report.failed;
        h.later(step);
    }
    let refused = h.sandbox.hubspot_control().counts().total;
    assert_eq!(arrived(&h, &emails), 0, "nothing gets through the storm");
    assert_eq!((storm.retried, storm.failed), (0, 0), "a rate limit is waited out, never a failed attempt");
    assert!(storm.waited > 0);
    assert_eq!(h.app.sync_queue().depth().await.unwrap().dead, 0, "nothing dead-lettered during the storm");
    // Retry-After asks for 10 s; the waits grow to minutes, so two hours
    // cost a few dozen tries per message, not one every 10 s (720).
    assert!(refused <= 30 * messages, "{refused} HubSpot calls for {messages} messages in two hours");

    h.sandbox.hubspot_control().clear_faults();
    for _ in 0..8 {
        if arrived(&h, &emails) == CONTACTS {
            break;
        }
        h.later(Duration::from_secs(15 * 60));
        h.runtime.run_ready().await.unwrap();
    }
    assert_eq!(arrived(&h, &emails), CONTACTS, "every contact arrives after the storm");
    assert_eq!(leads_created(&h).len(), CONTACTS, "each once");
    assert_eq!(h.app.sync_queue().depth().await.unwrap().dead, 0);
    assert!(h.app.store().list_errors(&ErrorFilter::default()).await.unwrap().is_empty());
    h.stop().await;
}
