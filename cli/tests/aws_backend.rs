//! The operator commands with `--backend aws --stack NAME`, run as
//! processes against a stack on the emulators: DynamoDB Local for the
//! tables, moto for the queues, the CloudFormation stack (its outputs name
//! the tables, queues and credentials secret; its parameters are the
//! template's) and the Secrets Manager secret. Each test provisions its own
//! uniquely named tables, queues and stack, seeds them through the same
//! adapters the functions use, and checks what the commands print and what
//! they queue.
//!
//! Needs `source scripts/emulators.sh && emulators_start` (or
//! `./scripts/test.sh`), which exports the endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use crm_sync_app::messages::parse_intents;
use crm_sync_app::retry::dead_letter_key;
use crm_sync_app::store::prelude::*;
use crm_sync_app::store::{ErrorReport, ObjectPair, OutgoingMessage, Queue, System, SystemClock};
use crm_sync_aws::provision::{create_queue_pair, create_tables};
use crm_sync_aws::{DynamoStore, QueueUrls, SqsQueue, TableNames};
use serde_json::json;

fn require_emulators() -> String {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: these tests need DynamoDB Local and the SQS emulator (moto). Run \
             ./scripts/test.sh, or `source scripts/emulators.sh && emulators_start` first"
        );
    }
    // moto serves every AWS service on its one port.
    std::env::var("AWS_ENDPOINT_URL_SQS").unwrap()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A deployed stack on the emulators: its tables, queues, secret and the
/// CloudFormation stack whose outputs name them.
struct Deployed {
    stack: String,
    moto: String,
    store: DynamoStore,
    sync: SqsQueue,
    chunks: SqsQueue,
    dir: tempfile::TempDir,
}

/// What the stack is created with besides its tables and queues.
#[derive(Default)]
struct StackOptions {
    /// Stack parameters (name, value).
    parameters: Vec<(&'static str, String)>,
    /// The CRM credentials secret's JSON, when the stack has one.
    secret: Option<String>,
    /// Receives before a sync message is a dead letter.
    max_receives: Option<u32>,
}

impl Deployed {
    async fn new(options: StackOptions) -> Deployed {
        let moto = require_emulators();
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        let tables = TableNames { state: unique("state"), seen_events: unique("seen") };
        create_tables(&aws_sdk_dynamodb::Client::new(&aws), &tables).await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let sync = create_queue_pair(&sqs, &unique("sync"), options.max_receives.unwrap_or(18), 30).await.unwrap();
        let chunks = create_queue_pair(&sqs, &unique("chunks"), 18, 60).await.unwrap();

        let mut outputs = json!({
            "StateTableName": {"Value": tables.state},
            "SeenEventsTableName": {"Value": tables.seen_events},
            "SyncQueueUrl": {"Value": sync.url},
            "SyncDeadLetterQueueUrl": {"Value": sync.dead_letter_url},
            "ChunkQueueUrl": {"Value": chunks.url},
            "ChunkDeadLetterQueueUrl": {"Value": chunks.dead_letter_url},
        });
        if let Some(secret) = &options.secret {
            let secrets = aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&aws).endpoint_url(&moto).build(),
            );
            let created =
                secrets.create_secret().name(unique("crm-credentials")).secret_string(secret).send().await.unwrap();
            outputs["CrmCredentialsSecretArn"] = json!({"Value": created.arn().unwrap()});
        }
        let mut parameters = json!({
            "SyncConfig": {"Type": "String", "Default": ""},
            "SalesforceApiCap": {"Type": "Number", "Default": 10000},
            "SalesforceLoginUrl": {"Type": "String", "Default": "https://login.salesforce.com"},
            "HubSpotApiBaseUrl": {"Type": "String", "Default": "https://api.hubapi.com"},
        });
        for (name, _) in &options.parameters {
            assert!(parameters.get(name).is_some(), "a template parameter: {name}");
        }
        let template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": parameters.take(),
            "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": outputs,
        });
        let cloudformation = aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&aws).endpoint_url(&moto).build(),
        );
        let stack = unique("crm-sync");
        let mut create = cloudformation.create_stack().stack_name(&stack).template_body(template.to_string());
        for (name, value) in options.parameters {
            create = create.parameters(
                aws_sdk_cloudformation::types::Parameter::builder().parameter_key(name).parameter_value(value).build(),
            );
        }
        create.send().await.unwrap();

        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), tables, Arc::new(SystemClock));
        let queue = |name: &str, urls: &QueueUrls| SqsQueue::new(sqs.clone(), name, &urls.url, &urls.dead_letter_url);
        Deployed {
            stack,
            moto,
            store,
            sync: queue("sync-intents", &sync),
            chunks: queue("import-chunks", &chunks),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `crm-sync ARGS --backend aws --stack NAME`, with no local state or
    /// credentials: everything comes from the stack.
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-sync"));
        cmd.args(args)
            .args(["--backend", "aws", "--stack", &self.stack])
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL_CLOUDFORMATION", &self.moto)
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.moto)
            .env_remove("CRM_SYNC_CREDENTIALS")
            .env("RUST_LOG", "warn");
        tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        ok(&self.run(args).await)
    }

    /// Every message on a queue now (received once, then left to expire).
    async fn bodies(queue: &SqsQueue) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let got = queue.receive(10, Duration::from_secs(30)).await.unwrap();
            if got.is_empty() {
                return out;
            }
            out.extend(got.into_iter().map(|m| m.body));
        }
    }
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn report(key: &str, category: &str, hubspot_id: &str, message: &str) -> ErrorReport {
    ErrorReport {
        key: key.into(),
        category: category.into(),
        pair: ObjectPair::Contact,
        salesforce_id: None,
        hubspot_id: Some(hubspot_id.into()),
        message: message.into(),
        retryable: false,
    }
}

async fn seed_health(store: &DynamoStore) {
    store
        .record_error(&report("contact:hubspot:501", "duplicates", "501", "two leads share this email"))
        .await
        .unwrap();
    let validation = report("contact:hubspot:502", "property_value_or_validation", "502", "bad picklist value, Rating");
    store.record_error(&validation).await.unwrap();
    store.record_error(&validation).await.unwrap();
}

#[tokio::test]
async fn health_lists_exports_and_resolves_the_stacks_sync_health_errors() {
    let stack = Deployed::new(StackOptions::default()).await;
    seed_health(&stack.store).await;

    let table = stack.ok(&["health"]).await;
    assert!(table.contains("two leads share this email") && table.contains("bad picklist value"), "{table}");
    assert!(table.contains("2 error(s)"), "{table}");

    let json = stack.ok(&["health", "--category", "validation", "--format", "json"]).await;
    let entries: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(entries[0]["attempts"], 2);

    let csv_text = stack.ok(&["health", "--format", "csv"]).await;
    let rows = csv::Reader::from_reader(csv_text.as_bytes()).records().count();
    assert_eq!(rows, 2, "{csv_text}");
    assert!(csv_text.contains("\"bad picklist value, Rating\""), "{csv_text}");

    let resolved = stack.ok(&["health", "--resolve", "contact:hubspot:501"]).await;
    assert!(resolved.contains("resolved contact:hubspot:501"), "{resolved}");
    assert!(stack.store.get_error("contact:hubspot:501").await.unwrap().is_none());
    let unknown = stack.run(&["health", "--resolve", "contact:hubspot:501"]).await;
    assert_eq!(unknown.status.code(), Some(1), "resolving an entry that is not there fails");
    let left = stack.ok(&["health"]).await;
    assert!(left.contains("1 error(s)") && !left.contains("two leads"), "{left}");
}

#[tokio::test]
async fn usage_counts_the_stacks_calls_against_its_api_cap_parameter() {
    let stack =
        Deployed::new(StackOptions { parameters: vec![("SalesforceApiCap", "800".into())], ..Default::default() })
            .await;
    stack.store.add_api_calls(System::Salesforce, 200).await.unwrap();
    stack.store.add_api_calls(System::HubSpot, 31).await.unwrap();
    let out = stack.ok(&["usage"]).await;
    assert!(out.contains("200") && out.contains("800") && out.contains("25.0%"), "{out}");
    assert!(out.contains("31"), "{out}");
}

#[tokio::test]
async fn resync_queues_intents_for_the_sync_worker_and_syncs_nothing_here() {
    let stack = Deployed::new(StackOptions::default()).await;
    seed_health(&stack.store).await;

    let out = stack.ok(&["resync", "record", "--system", "hubspot", "--object", "contact", "777"]).await;
    assert!(out.contains("1 record(s) queued on the sync queue"), "{out}");
    let bodies = Deployed::bodies(&stack.sync).await;
    let keys: Vec<String> =
        bodies.iter().flat_map(|b| parse_intents(b).unwrap()).map(|intent| intent.record_key()).collect();
    assert_eq!(keys, ["hubspot:contact:777"]);

    let out = stack.ok(&["resync", "segment", "--errors", "--category", "validation", "--yes"]).await;
    assert!(out.contains("1 record(s);") && out.contains("1 record(s) queued on the sync queue"), "{out}");
    let out = stack.ok(&["resync", "segment", "--errors", "--yes"]).await;
    assert!(out.contains("2 record(s) queued"), "{out}");
    let bodies = Deployed::bodies(&stack.sync).await;
    let mut keys: Vec<String> =
        bodies.iter().flat_map(|b| parse_intents(b).unwrap()).map(|intent| intent.record_key()).collect();
    keys.sort();
    assert_eq!(keys, ["hubspot:contact:501", "hubspot:contact:502", "hubspot:contact:502"]);
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_cause_and_replayed_onto_the_sync_queue() {
    let stack = Deployed::new(StackOptions { max_receives: Some(1), ..Default::default() }).await;
    let body = r#"{"intents":[]}"#;
    stack.sync.send_batch(&[OutgoingMessage::new(body)]).await.unwrap();
    // One receive is all a message gets: the next receive moves it to the
    // dead-letter queue (SQS's redrive).
    let mut dead = Vec::new();
    for _ in 0..20 {
        let _ = stack.sync.receive(10, Duration::ZERO).await.unwrap();
        dead = stack.sync.list_dead_letters(10).await.unwrap();
        if !dead.is_empty() {
            break;
        }
    }
    assert_eq!(dead.len(), 1, "the message is a dead letter");
    let id = dead[0].id.clone();
    let cause = report(&dead_letter_key(&id), "property_value_or_validation", "503", "bad picklist value, Rating");
    stack.store.record_error(&cause).await.unwrap();

    let listed = stack.ok(&["dead-letters", "list"]).await;
    assert!(listed.contains(&id) && listed.contains("bad picklist value"), "{listed}");
    let other = stack.ok(&["dead-letters", "list", "--category", "duplicates"]).await;
    assert!(other.contains("no dead letters"), "{other}");
    let none = stack.ok(&["dead-letters", "replay", "--category", "duplicates"]).await;
    assert!(none.contains("no dead letters to replay"), "{none}");

    let replayed = stack.ok(&["dead-letters", "replay", "--category", "validation"]).await;
    assert!(replayed.contains("1 put back on the sync queue; the sync-worker function syncs them"), "{replayed}");
    assert!(stack.sync.list_dead_letters(10).await.unwrap().is_empty());
    assert_eq!(Deployed::bodies(&stack.sync).await, [body]);
    assert!(stack.store.get_error(&dead_letter_key(&id)).await.unwrap().is_none(), "its cause is resolved");
    let empty = stack.ok(&["dead-letters", "list"]).await;
    assert!(empty.contains("no dead letters"), "{empty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_are_reviewed_with_the_stacks_secret_and_started_as_chunks_for_the_import_function() {
    let mut options = crm_sandbox::SandboxOptions::default();
    options.salesforce.leads = 120;
    let sandbox = crm_sandbox::Sandbox::start(options).await.unwrap();
    let credentials = json!({
        "salesforce_client_id": crm_sandbox::salesforce::DEFAULT_CLIENT_ID,
        "salesforce_client_secret": crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET,
        "hubspot_access_token": crm_sandbox::hubspot::DEFAULT_TOKEN,
        "hubspot_client_secret": crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET,
    });
    let stack = Deployed::new(StackOptions {
        parameters: vec![
            ("SalesforceLoginUrl", sandbox.salesforce_url().to_owned()),
            ("HubSpotApiBaseUrl", sandbox.hubspot_url().to_owned()),
        ],
        secret: Some(credentials.to_string()),
        ..Default::default()
    })
    .await;

    let review = stack.ok(&["import", "review", "--object", "leads"]).await;
    assert!(review.contains("120 records"), "{review}");

    let started = stack.ok(&["import", "start", "--object", "leads", "--chunk-size", "50"]).await;
    assert!(started.contains("3 chunk(s) queued for the import function"), "{started}");
    let job = stack.store.list_import_jobs().await.unwrap().pop().expect("a job");
    assert!(started.contains(&format!("crm-sync import status {} --backend aws --stack {}", job.id, stack.stack)));
    let queued = Deployed::bodies(&stack.chunks).await;
    assert_eq!(queued.len(), 3, "one message per chunk: {queued:?}");
    assert!(queued.iter().all(|body| body.contains(&job.id)), "{queued:?}");

    let status = stack.ok(&["import", "status"]).await;
    assert!(status.contains(&job.id) && status.contains("0/3"), "nothing ran here: {status}");
    let one = stack.ok(&["import", "status", &job.id]).await;
    assert_eq!(one.matches("pending").count(), 3, "{one}");

    let resumed = stack.ok(&["import", "resume", &job.id]).await;
    assert!(resumed.contains("3 chunk(s) queued again for the import function"), "{resumed}");

    let missing = stack.run(&["import", "status", "no-such-job"]).await;
    assert_eq!(missing.status.code(), Some(1));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn settings_are_pushed_checked_versioned_and_pulled_back() {
    let first = "salesforce_api_cap_per_24h: 4000\n";
    let stack =
        Deployed::new(StackOptions { parameters: vec![("SyncConfig", first.into())], ..Default::default() }).await;
    let dir = stack.dir.path();

    let pulled = stack.run(&["config", "pull"]).await;
    assert_eq!(ok(&pulled), first, "before a push: the template's first value");
    assert!(String::from_utf8_lossy(&pulled.stderr).contains("nothing pushed yet"));

    std::fs::write(dir.join("bad.yaml"), "objects:\n  companies: true\nsalesforce_api_cap_per_24h: 0\n").unwrap();
    let refused = stack.run(&["config", "push", "bad.yaml"]).await;
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("bad.yaml:3"), "the line is named: {message}");
    assert!(message.contains("nothing was pushed"), "{message}");
    assert_eq!(stack.store.settings_version().await.unwrap(), None);

    let one = "objects:\n  companies: true\n";
    std::fs::write(dir.join("one.yaml"), one).unwrap();
    let pushed = stack.ok(&["config", "push", "one.yaml"]).await;
    assert!(pushed.contains("pushed as version 1 (was the template's SyncConfig parameter)"), "{pushed}");
    assert_eq!(stack.ok(&["config", "pull"]).await, one);

    let two = "objects:\n  companies: true\n  deals: true\n";
    std::fs::write(dir.join("two.yaml"), two).unwrap();
    assert!(stack.ok(&["config", "push", "two.yaml"]).await.contains("pushed as version 2 (was version 1)"));
    assert!(stack.ok(&["config", "push", "two.yaml"]).await.contains("unchanged"));
    assert_eq!(stack.store.settings_version().await.unwrap(), Some(2));

    assert_eq!(stack.ok(&["config", "pull", "--at", "1"]).await, one);
    stack.ok(&["config", "pull", "--output", "pulled.yaml"]).await;
    assert_eq!(std::fs::read_to_string(dir.join("pulled.yaml")).unwrap(), two);
    let history = stack.ok(&["config", "pull", "--history"]).await;
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines.len() == 2 && lines[0].starts_with("version 2") && lines[0].ends_with("(current)"), "{history}");
    assert!(lines[1].starts_with("version 1"), "{history}");

    // Settings written around `config push` that do not load: reading the
    // state still works, with a warning; running use cases does not.
    stack.store.push_settings("objects: [not, a, map]\n", Some(2)).await.unwrap();
    let health = stack.run(&["health"]).await;
    assert!(ok(&health).contains("no sync-health errors"));
    let warning = String::from_utf8_lossy(&health.stderr);
    assert!(warning.contains("settings version 3") && warning.contains("invalid"), "{warning}");
    let refused = stack.run(&["resync", "record", "--system", "hubspot", "--object", "contact", "9"]).await;
    assert_eq!(refused.status.code(), Some(1));
}

#[tokio::test]
async fn an_aws_backend_without_a_stack_or_names_says_what_to_give() {
    let output = Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(["health", "--backend", "aws"])
        .env_remove("CRM_SYNC_STACK")
        .env_remove("CRM_SYNC_STATE_TABLE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("--stack NAME") && message.contains("--state-table"), "{message}");
}

#[tokio::test]
async fn names_given_by_flag_need_no_stack() {
    let stack = Deployed::new(StackOptions::default()).await;
    seed_health(&stack.store).await;
    let tables = stack.store.tables().clone();
    let output = Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(["health", "--backend", "aws", "--state-table", &tables.state])
        .args(["--seen-events-table", &tables.seen_events])
        .args(["--sync-queue-url", stack.sync.url(), "--sync-dlq-url", stack.sync.dead_letter_url()])
        .args(["--chunk-queue-url", stack.chunks.url(), "--chunk-dlq-url", stack.chunks.dead_letter_url()])
        .current_dir(stack.dir.path())
        .output()
        .unwrap();
    assert!(ok(&output).contains("2 error(s)"));
}

#[tokio::test]
async fn a_stack_without_a_credentials_secret_says_where_crm_credentials_come_from() {
    let stack = Deployed::new(StackOptions::default()).await;
    let output = stack.run(&["import", "review", "--object", "leads"]).await;
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("no CRM credentials") && message.contains("CRM_SYNC_CREDENTIALS"), "{message}");
}

#[tokio::test]
async fn the_sync_health_page_serves_the_stacks_errors_behind_its_login() {
    use std::io::{BufRead, BufReader};
    let stack = Deployed::new(StackOptions::default()).await;
    seed_health(&stack.store).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crm-sync"))
        .args(["ui", "--listen", "127.0.0.1:0", "--backend", "aws", "--stack", &stack.stack])
        .current_dir(stack.dir.path())
        .env("AWS_ENDPOINT_URL_CLOUDFORMATION", &stack.moto)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &stack.moto)
        .env_remove("CRM_SYNC_CREDENTIALS")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let login = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{line}"));
    let base = login.split("/ui?").next().unwrap().to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let refused = http.get(format!("{base}/ui")).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the page needs its login");
    let session = http.get(login).send().await.unwrap();
    let cookie = session
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", session.headers()))
        .to_owned();
    let page = http.get(format!("{base}/ui")).header(reqwest::header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(html.contains("two leads share this email") && html.contains("bad picklist value"), "{html}");
}
