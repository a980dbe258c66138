//! The functions' settings come from the state table once pushed there
//! (`crm-sync config push`): read at a cold start over the template's
//! `SyncConfig` parameter, and picked up by a running function at most a
//! minute after a push, as the App the handlers receive. Against DynamoDB
//! Local and the SQS emulator (`scripts/emulators.sh`), in simulated time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use crm_sync_aws::provision::{create_queue_pair, create_tables};
use crm_sync_aws::{DynamoStore, TableNames};
use crm_sync_lambda::settings as env;
use crm_sync_lambda::{BuildOptions, LambdaSettings, SETTINGS_CHECK_EVERY, StartupError, build_live_app};
use crm_sync_store::{ManualClock, SystemClock};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A deployment's tables and queues, and the environment the template gives
/// its functions: `first` as the `SyncConfig` parameter, a cap of 5000.
async fn deployment(aws: &aws_config::SdkConfig, first: &str) -> (LambdaSettings, DynamoStore) {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: run ./scripts/test.sh, or `source scripts/emulators.sh && emulators_start` first"
        );
    }
    let tables = TableNames { state: unique("state"), seen_events: unique("seen") };
    create_tables(&aws_sdk_dynamodb::Client::new(aws), &tables).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(aws);
    let sync = create_queue_pair(&sqs, &unique("sync"), 18, 30).await.unwrap();
    let chunks = create_queue_pair(&sqs, &unique("chunks"), 18, 60).await.unwrap();
    let credentials = serde_json::json!({
        "salesforce_client_id": "id", "salesforce_client_secret": "secret",
        "hubspot_access_token": "token", "hubspot_client_secret": "hs",
    });
    let vars: HashMap<&str, String> = HashMap::from([
        (env::STATE_TABLE, tables.state.clone()),
        (env::SEEN_EVENTS_TABLE, tables.seen_events.clone()),
        (env::SYNC_QUEUE_URL, sync.url),
        (env::SYNC_DLQ_URL, sync.dead_letter_url),
        (env::CHUNK_QUEUE_URL, chunks.url),
        (env::CHUNK_DLQ_URL, chunks.dead_letter_url),
        (env::CREDENTIALS_JSON, credentials.to_string()),
        (env::CONFIG, first.to_owned()),
        (env::SALESFORCE_API_CAP, "5000".to_owned()),
        // Known, so that no function asks Salesforce at its start.
        (env::SALESFORCE_ORG_ID, "00D000000000001AAA".to_owned()),
    ]);
    let settings = LambdaSettings::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), tables, Arc::new(SystemClock));
    (settings, store)
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(chrono::Utc::now()))
}

#[tokio::test]
async fn a_running_function_picks_up_pushed_settings_within_a_minute() {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let (settings, store) = deployment(&aws, "objects:\n  companies: false\n").await;
    let clock = clock();
    let options = BuildOptions { clock: Some(clock.clone()), ..BuildOptions::default() };
    let live = build_live_app(&settings, &aws, options).await.unwrap();
    assert!(!live.current().await.config().objects.companies, "the template's first value");
    assert_eq!(live.version().await, None);

    store.push_settings("objects:\n  companies: true\nsalesforce_api_cap_per_24h: 90000\n", None).await.unwrap();
    clock.advance(SETTINGS_CHECK_EVERY / 2);
    assert!(!live.current().await.config().objects.companies, "not checked again within the minute");

    clock.advance(SETTINGS_CHECK_EVERY / 2);
    let app = live.current().await;
    assert!(app.config().objects.companies, "the pushed settings");
    assert_eq!(app.config().salesforce_api_cap_per_24h.get(), 5000, "the stack's cap parameter still wins");
    assert_eq!(live.version().await, Some(1));

    // Settings that do not check (written around `config push`) leave the
    // function on the ones it has, until the next push.
    store.push_settings("objects: [not, a, map]\n", Some(1)).await.unwrap();
    clock.advance(SETTINGS_CHECK_EVERY);
    assert!(live.current().await.config().objects.companies);
    assert_eq!(live.version().await, Some(2), "the bad version is not read again");

    store.push_settings("objects:\n  companies: true\n  deals: true\n", Some(2)).await.unwrap();
    clock.advance(SETTINGS_CHECK_EVERY);
    assert!(live.current().await.config().objects.deals);
    assert_eq!(live.version().await, Some(3));
}

#[tokio::test]
async fn a_cold_start_takes_the_pushed_settings_over_the_template_parameter() {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let (settings, store) = deployment(&aws, "objects:\n  companies: false\n").await;
    store.push_settings("objects:\n  companies: true\n", None).await.unwrap();
    let live = build_live_app(&settings, &aws, BuildOptions::default()).await.unwrap();
    assert!(live.current().await.config().objects.companies);
    assert_eq!(live.version().await, Some(1));

    store.push_settings("objects: [not, a, map]\n", Some(1)).await.unwrap();
    let refused = build_live_app(&settings, &aws, BuildOptions::default()).await.unwrap_err();
    assert!(matches!(refused, StartupError::DeployedSettings(_)), "{refused:?}");
}

#[tokio::test]
async fn a_push_based_on_an_old_version_loses_to_the_one_that_came_first() {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let (_, store) = deployment(&aws, "").await;
    assert_eq!(store.push_settings("a: 1\n", None).await.unwrap(), 1);
    assert!(store.push_settings("b: 1\n", None).await.unwrap_err().is_condition_failed());
    assert_eq!(store.push_settings("c: 1\n", Some(1)).await.unwrap(), 2);
    assert!(store.push_settings("d: 1\n", Some(1)).await.unwrap_err().is_condition_failed());
    assert_eq!(store.current_settings().await.unwrap().unwrap().text, "c: 1\n");
    assert_eq!(store.settings_at(1).await.unwrap().unwrap().text, "a: 1\n");
    let history: Vec<u64> = store.settings_history().await.unwrap().into_iter().map(|(v, _)| v).collect();
    assert_eq!(history, [2, 1]);
    let too_big = "x".repeat(crm_sync_aws::dynamo::MAX_SETTINGS_BYTES + 1);
    assert!(store.push_settings(&too_big, Some(2)).await.is_err());
}
