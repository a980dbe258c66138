//! The four Lambda handlers invoked in-process, as the Lambda service would,
//! against DynamoDB Local and the SQS emulator (started by
//! `scripts/emulators.sh`, which exports `AWS_ENDPOINT_URL_DYNAMODB` and
//! `AWS_ENDPOINT_URL_SQS`) and the CRM sandbox on loopback.
//!
//! - HubSpot and Salesforce deliveries reach the webhook handler through a
//!   small relay that turns each HTTP request into the Function URL event
//!   Lambda would pass (same JSON, same host and path, so signatures hold).
//! - SQS-triggered handlers get the `SqsEvent` built from messages received
//!   from the real queues; as Lambda's event source does, messages the
//!   handler does not report as failed are then deleted.
//! - Every file in `events/` runs through its handler.
//!
//! Each test provisions its own uniquely named tables and queues.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use crm_sandbox::hubspot::ObjectType;
use crm_sandbox::hubspot::UserEdit;
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sandbox::sandbox::{Sandbox, SandboxOptions};
use crm_sync_app::{App, SalesforceOrg};
use crm_sync_aws::TableNames;
use crm_sync_aws::provision::{create_queue_pair, create_tables};
use crm_sync_lambda::sqs::event_from_messages;
use crm_sync_lambda::{BuildOptions, LambdaSettings, build_app};
use crm_sync_store::{Clock, ErrorFilter, ManualClock, Queue, ReceivedMessage};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

/// Wall-clock bound of each wait loop (the assertions are about outcomes and
/// API calls, never about time).
const WAIT: Duration = Duration::from_secs(60);

fn require_emulators() {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: these tests need DynamoDB Local and the SQS emulator. Run \
             ./scripts/test.sh, or `source scripts/emulators.sh && emulators_start` first"
        );
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn event_file(name: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn invocation<T>(payload: T) -> LambdaEvent<T> {
    LambdaEvent::new(payload, Context::default())
}

/// What the deployed stack would create, made on the emulators: both tables
/// and both queue pairs, named in the environment the template sets.
async fn stack_environment(
    aws: &aws_config::SdkConfig,
    credentials: Value,
    extra: &[(&str, String)],
) -> LambdaSettings {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);
    let tables = TableNames { state: unique("state"), seen_events: unique("seen") };
    create_tables(&dynamodb, &tables).await.unwrap();
    let sync = create_queue_pair(&sqs, &unique("sync"), 8, 30).await.unwrap();
    let chunks = create_queue_pair(&sqs, &unique("chunks"), 5, 60).await.unwrap();
    let mut env: HashMap<String, String> = [
        (crm_sync_lambda::settings::STATE_TABLE, tables.state),
        (crm_sync_lambda::settings::SEEN_EVENTS_TABLE, tables.seen_events),
        (crm_sync_lambda::settings::SYNC_QUEUE_URL, sync.url),
        (crm_sync_lambda::settings::SYNC_DLQ_URL, sync.dead_letter_url),
        (crm_sync_lambda::settings::CHUNK_QUEUE_URL, chunks.url),
        (crm_sync_lambda::settings::CHUNK_DLQ_URL, chunks.dead_letter_url),
        (crm_sync_lambda::settings::CREDENTIALS_JSON, credentials.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), v.clone());
    }
    LambdaSettings::from_lookup(|k| env.get(k).cloned()).unwrap()
}

fn sandbox_credentials() -> Value {
    json!({
        "salesforce_client_id": crm_sandbox::salesforce::DEFAULT_CLIENT_ID,
        "salesforce_client_secret": crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET,
        "hubspot_access_token": crm_sandbox::hubspot::DEFAULT_TOKEN,
        "hubspot_client_secret": crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET,
    })
}

/// The sandbox, the App the functions build at cold start, and the relay
/// standing in for the Function URL.
struct Stack {
    sandbox: Sandbox,
    app: App,
    relay: tokio::task::JoinHandle<()>,
    settings: LambdaSettings,
    aws: aws_config::SdkConfig,
}

impl Stack {
    async fn start(sandbox_options: SandboxOptions, webhooks: bool, clock: Option<Arc<dyn Clock>>) -> Stack {
        Stack::start_with(sandbox_options, webhooks, clock, Vec::new()).await
    }

    /// As [`Stack::start`], with more of the functions' environment.
    async fn start_with(
        mut sandbox_options: SandboxOptions,
        webhooks: bool,
        clock: Option<Arc<dyn Clock>>,
        mut environment: Vec<(&str, String)>,
    ) -> Stack {
        require_emulators();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        if webhooks {
            sandbox_options.hubspot.webhook_url = Some(format!("{base}/webhooks/hubspot"));
            sandbox_options.hubspot.webhook_batch_window = Duration::from_millis(50);
            sandbox_options.salesforce.outbound_url = Some(format!("{base}/webhooks/salesforce"));
            sandbox_options.salesforce.outbound_retry = Duration::from_millis(200);
        }
        let sandbox = Sandbox::start(sandbox_options).await.unwrap();
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        environment.extend([
            (crm_sync_lambda::settings::SALESFORCE_LOGIN_URL, sandbox.salesforce_url().to_owned()),
            (crm_sync_lambda::settings::HUBSPOT_BASE_URL, sandbox.hubspot_url().to_owned()),
            (crm_sync_lambda::settings::SALESFORCE_ORG_ID, crm_sandbox::salesforce::ORG_ID.to_owned()),
        ]);
        let settings = stack_environment(&aws, sandbox_credentials(), &environment).await;
        let app = build_app(&settings, &aws, BuildOptions { clock, ..BuildOptions::default() }).await.unwrap();
        let relay = tokio::spawn(serve_function_url(listener, app.clone()));
        Stack { sandbox, app, relay, settings, aws }
    }

    /// The App another instance of a function builds at its cold start: same
    /// tables, queues and CRMs, its own clients and cap gate.
    async fn another_instance(&self) -> App {
        build_app(&self.settings, &self.aws, BuildOptions::default()).await.unwrap()
    }

    async fn stop(self) {
        self.relay.abort();
        self.sandbox.shutdown().await;
    }
}

/// Serves HTTP on `listener` as a Lambda Function URL would: each request
/// becomes the Function URL event JSON and goes to the webhook handler.
async fn serve_function_url(listener: tokio::net::TcpListener, app: App) {
    let router = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let app = app.clone();
        async move { invoke_webhook(&app, method, uri, headers, body).await }
    });
    let _ = axum::serve(listener, router).await;
}

async fn invoke_webhook(
    app: &App,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut header_map: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    header_map.insert("x-forwarded-proto".into(), "http".into());
    let host = header_map.get("host").cloned().unwrap_or_default();
    let (text, is_base64) = match std::str::from_utf8(&body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(&body), true)
        }
    };
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or(""),
        "headers": header_map,
        "requestContext": {
            "accountId": "anonymous", "apiId": "local", "domainName": host,
            "http": {"method": method.as_str(), "path": uri.path(), "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": ""},
            "requestId": uuid::Uuid::new_v4().to_string(), "routeKey": "$default",
            "stage": "$default", "time": "", "timeEpoch": 0
        },
        "body": text,
        "isBase64Encoded": is_base64,
    });
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    match crm_sync_webhook::handle(app, request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = match body {
                lambda_http::Body::Empty => Vec::new(),
                lambda_http::Body::Text(t) => t.into_bytes(),
                lambda_http::Body::Binary(b) => b,
            };
            (parts.status, parts.headers, body).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Lambda's SQS event source, once: receives up to `max` messages, invokes
/// the handler with them, deletes what it did not report as failed.
async fn deliver<F, Fut>(queue: &dyn Queue, max: usize, handler: F) -> Option<(Vec<ReceivedMessage>, SqsBatchResponse)>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = SqsBatchResponse>,
{
    let messages = queue.receive(max, Duration::from_secs(30)).await.unwrap();
    if messages.is_empty() {
        return None;
    }
    let event = event_from_messages(&messages, "arn:aws:sqs:us-east-1:000000000000:queue");
    let response = handler(event).await;
    let failed: HashSet<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    let done: Vec<String> =
        messages.iter().filter(|m| !failed.contains(m.id.as_str())).map(|m| m.receipt_handle.clone()).collect();
    queue.delete_batch(&done).await.unwrap();
    Some((messages, response))
}

async fn sync_worker(app: &App, event: SqsEvent) -> SqsBatchResponse {
    crm_sync_sync_worker::handle(app, invocation(event)).await.unwrap()
}

async fn import_function(app: &App, payload: Value) -> Value {
    crm_sync_import::handle(app, invocation(payload)).await.unwrap()
}

/// Delivers sync-queue batches to the sync-worker until `done` holds.
/// Returns every batch response.
async fn work_sync_queue(app: &App, mut done: impl FnMut() -> bool) -> Vec<SqsBatchResponse> {
    let started = tokio::time::Instant::now();
    let mut responses = Vec::new();
    while !done() {
        if started.elapsed() > WAIT {
            let errors = app.store().list_errors(&ErrorFilter::default()).await;
            panic!("the condition did not hold; responses so far: {responses:?}; sync health: {errors:?}");
        }
        match deliver(app.sync_queue(), 10, |e| sync_worker(app, e)).await {
            Some((_, response)) => responses.push(response),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    responses
}

fn integration_creates(sandbox: &Sandbox, object: &str) -> Vec<String> {
    sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == object && w.op == Op::Create && w.actor == Actor::Integration)
        .map(|w| w.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_hubspot_webhook_becomes_a_salesforce_lead_through_the_queue_and_the_sync_worker() {
    let stack = Stack::start(SandboxOptions::default().with_crm_sync_fields(), true, None).await;
    let properties = json!({"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"});
    let Value::Object(properties) = properties else { unreachable!() };
    stack.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();

    let sandbox = &stack.sandbox;
    let responses = work_sync_queue(&stack.app, || !integration_creates(sandbox, "Lead").is_empty()).await;

    let deliveries = sandbox.hubspot().webhook_log();
    assert!(deliveries.iter().any(|d| d.status == 204 || d.status == 200), "accepted: {deliveries:?}");
    assert!(deliveries.iter().all(|d| d.status != 401), "every signature verified: {deliveries:?}");
    let leads = integration_creates(sandbox, "Lead");
    assert_eq!(leads.len(), 1, "one lead");
    let lead = sandbox.salesforce().record("Lead", &leads[0]).unwrap();
    assert_eq!(lead["Email"], "ada@example.com");
    assert_eq!(lead["LastName"], "Lovelace");
    assert!(responses.iter().all(|r| r.batch_item_failures.is_empty()), "{responses:?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_sweep_queues_what_changed_and_the_sync_worker_creates_it_in_hubspot() {
    // Salesforce's replication API covers whole minutes only: the sweep runs
    // two minutes after the change, as the next scheduled one would.
    let later = chrono::Utc::now() + chrono::Duration::minutes(2);
    let stack =
        Stack::start(SandboxOptions::default().with_crm_sync_fields(), false, Some(Arc::new(ManualClock::new(later))))
            .await;
    let before = stack.sandbox.hubspot().live_count(ObjectType::Contacts);
    stack
        .sandbox
        .salesforce()
        .create_as_user("Contact", json!({"FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com"}))
        .unwrap();

    let schedule: EventBridgeEvent = serde_json::from_str(&event_file("sweep-schedule.json")).unwrap();
    let report = crm_sync_sweep::handle(&stack.app, invocation(schedule)).await.unwrap();
    assert!(report.intents_queued >= 1, "{report:?}");

    let hubspot = stack.sandbox.hubspot().clone();
    work_sync_queue(&stack.app, || hubspot.live_count(ObjectType::Contacts) > before).await;
    assert_eq!(stack.sandbox.hubspot().live_count(ObjectType::Contacts), before + 1);

    // A second sweep finds nothing new to create.
    let schedule: EventBridgeEvent = serde_json::from_str(&event_file("sweep-schedule.json")).unwrap();
    crm_sync_sweep::handle(&stack.app, invocation(schedule)).await.unwrap();
    while deliver(stack.app.sync_queue(), 10, |e| sync_worker(&stack.app, e)).await.is_some() {}
    assert_eq!(stack.sandbox.hubspot().live_count(ObjectType::Contacts), before + 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_of_three_chunks_runs_from_the_chunk_queue_and_every_contact_arrives_once() {
    let mut options = SandboxOptions::default().with_crm_sync_fields();
    options.salesforce.contacts = 7;
    options.salesforce.leads = 0;
    options.salesforce.accounts = 0;
    options.salesforce.opportunities = 0;
    let stack = Stack::start(options, false, None).await;
    let app = &stack.app;
    let before = stack.sandbox.hubspot().live_count(ObjectType::Contacts);

    let review = import_function(app, json!({"action": "review", "objects": "contacts", "chunk_size": 3})).await;
    assert_eq!(review["records"], 7, "{review}");
    let job = import_function(app, json!({"action": "start", "objects": "contacts", "chunk_size": 3})).await;
    assert_eq!(job["chunks_total"], 3, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();

    let started = tokio::time::Instant::now();
    let mut chunk_runs = 0;
    let mut status = Value::Null;
    loop {
        assert!(
            started.elapsed() < WAIT,
            "the import did not finish; {chunk_runs} chunk runs; {} HubSpot contacts; status {status}",
            stack.sandbox.hubspot().live_count(ObjectType::Contacts)
        );
        let chunk = deliver(app.import_queue(), 1, |event| async move {
            serde_json::from_value(import_function(app, serde_json::to_value(event).unwrap()).await).unwrap()
        })
        .await;
        if let Some((_, response)) = &chunk {
            chunk_runs += 1;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
        }
        let synced = deliver(app.sync_queue(), 10, |e| sync_worker(app, e)).await;
        status = import_function(app, json!({"action": "status", "job_id": job_id})).await;
        if chunk.is_none() && synced.is_none() && status["job"]["status"] == "completed" {
            break;
        }
    }
    assert_eq!(chunk_runs, 3, "one run per chunk");
    assert_eq!(stack.sandbox.hubspot().live_count(ObjectType::Contacts), before + 7, "each contact once");
    stack.stop().await;
}

/// The chunk queue as Lambda's event source would hand it to the import
/// function, once.
async fn deliver_chunk(app: &App) -> Option<(Vec<ReceivedMessage>, SqsBatchResponse)> {
    deliver(app.import_queue(), 1, |event| async move {
        serde_json::from_value(import_function(app, serde_json::to_value(event).unwrap()).await).unwrap()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_held_by_a_dead_import_function_stays_on_the_queue_and_is_taken_over_when_its_lease_ends() {
    let mut options = SandboxOptions::default().with_crm_sync_fields();
    options.salesforce.contacts = 5;
    options.salesforce.leads = 0;
    options.salesforce.accounts = 0;
    options.salesforce.opportunities = 0;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let stack = Stack::start(options, false, Some(clock.clone())).await;
    let app = &stack.app;
    let before = stack.sandbox.hubspot().live_count(ObjectType::Contacts);
    let job = import_function(app, json!({"action": "start", "objects": "contacts"})).await;
    let job_id = job["id"].as_str().unwrap().to_owned();

    // An invocation takes the chunk and dies (a timeout, a crash): its lease
    // runs on, and SQS hands the message to the next invocation.
    let lease = Duration::from_secs(15 * 60);
    app.store().claim_chunk(&job_id, 0, "invocation-that-died", lease).await.unwrap().expect("the chunk is free");
    let (messages, response) = deliver_chunk(app).await.expect("the chunk message");
    let ids: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(ids, vec![messages[0].id.as_str()], "reported failed, so Lambda keeps the message");
    assert!(deliver_chunk(app).await.is_none(), "hidden until the lease ends");
    assert_eq!(stack.sandbox.hubspot().live_count(ObjectType::Contacts), before);

    // The lease ends; the message's delay (real time for the queue) is cut
    // short, as time passing would.
    clock.advance(lease);
    app.import_queue().change_visibility(&messages[0].receipt_handle, Duration::ZERO).await.unwrap();
    let (again, response) = deliver_chunk(app).await.expect("the chunk message came back");
    assert_eq!(again[0].id, messages[0].id, "the same message");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let status = import_function(app, json!({"action": "status", "job_id": job_id})).await;
    assert_eq!(status["job"]["status"], "completed", "{status}");
    assert_eq!(status["chunks"][0]["attempts"], 2, "taken over once: {status}");
    assert_eq!(stack.sandbox.hubspot().live_count(ObjectType::Contacts), before + 5);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_refused_for_good_fails_its_job_with_the_reason_and_the_resume_action_finishes_it() {
    let mut options = SandboxOptions::default().with_crm_sync_fields();
    options.salesforce.contacts = 5;
    options.salesforce.leads = 0;
    options.salesforce.accounts = 0;
    options.salesforce.opportunities = 0;
    let stack = Stack::start(options, false, None).await;
    let app = &stack.app;
    let before = stack.sandbox.hubspot().live_count(ObjectType::Contacts);
    stack.sandbox.hubspot_control().add_fault(crm_sandbox::Fault::new(401, 1, "/crm/v3/objects/contacts/batch/upsert"));
    let job = import_function(app, json!({"action": "start", "objects": "contacts"})).await;
    let job_id = job["id"].as_str().unwrap().to_owned();

    let (_, response) = deliver_chunk(app).await.expect("the chunk message");
    assert!(response.batch_item_failures.is_empty(), "a chunk failed for good is acknowledged: {response:?}");
    let status = import_function(app, json!({"action": "status", "job_id": job_id})).await;
    assert_eq!(status["job"]["status"], "failed", "{status}");
    let reason = status["job"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("401") && reason.contains("INVALID_AUTHENTICATION"), "{status}");

    stack.sandbox.hubspot_control().clear_faults();
    let resumed = import_function(app, json!({"action": "resume", "job_id": job_id})).await;
    assert_eq!(resumed["queued_chunks"], json!([0]), "{resumed}");
    let (_, response) = deliver_chunk(app).await.expect("the chunk message again");
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let status = import_function(app, json!({"action": "status", "job_id": job_id})).await;
    assert_eq!(
        (status["job"]["status"].clone(), status["job"]["counts"]["read"].clone()),
        (json!("completed"), json!(5))
    );
    assert_eq!(stack.sandbox.hubspot().live_count(ObjectType::Contacts), before + 5);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_workers_in_three_instances_together_stop_at_the_salesforce_cap() {
    // Each instance spends a few calls before its first write (its token,
    // the owner directory, the email lookups): the cap leaves room for some
    // creations and not for all.
    const CAP: u64 = 40;
    const CONTACTS: usize = 30;
    let cap = vec![(crm_sync_lambda::settings::SALESFORCE_API_CAP, CAP.to_string())];
    let stack = Stack::start_with(SandboxOptions::default().with_crm_sync_fields(), true, None, cap).await;
    for i in 0..CONTACTS {
        let properties = json!({"email": format!("capped{i}@example.com"), "firstname": "Ada", "lastname": "Cap"});
        let Value::Object(properties) = properties else { unreachable!() };
        stack.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();
        // Past the sandbox's webhook batch window: mostly a delivery (and
        // a message) per contact, so each one pays its own calls.
        tokio::time::sleep(Duration::from_millis(70)).await;
    }
    // Every event delivered and acknowledged, so queued (on a slow machine
    // one delivery may carry two contacts, and one message both).
    let made = stack.sandbox.hubspot().webhook_events_made();
    let started = tokio::time::Instant::now();
    while stack.sandbox.hubspot().webhook_events_acknowledged() < made {
        assert!(started.elapsed() < WAIT, "the webhooks did not queue every contact");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = stack.sandbox.salesforce_control().counts().total;

    // Three sync-worker instances (three processes, three gates) drain the
    // queue at once, one message per invocation, until nothing is visible.
    let mut instances = vec![stack.app.clone()];
    for _ in 1..3 {
        instances.push(stack.another_instance().await);
    }
    let workers: Vec<_> = instances
        .into_iter()
        .map(|app| {
            tokio::spawn(async move {
                let mut idle = 0;
                while idle < 3 {
                    match deliver(app.sync_queue(), 1, |e| sync_worker(&app, e)).await {
                        Some(_) => idle = 0,
                        None => {
                            idle += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }

    let made = stack.sandbox.salesforce_control().counts().total - before;
    let counted = stack.app.store().api_calls_last_24h(crm_sync_store::System::Salesforce).await.unwrap();
    assert!(made <= CAP, "{made} Salesforce calls made by three instances, over the cap of {CAP}");
    assert!(counted <= CAP && counted >= made, "counted {counted}, made {made}, cap {CAP}");
    let created = integration_creates(&stack.sandbox, "Lead").len();
    assert!(created < CONTACTS, "the cap stopped the work part way: {created} of {CONTACTS} leads");
    assert!(made + 3 >= CAP, "the instances stopped at the cap, not before: {made} calls made of {CAP}");
    let depth = stack.app.sync_queue().depth().await.unwrap();
    assert_eq!(depth.dead, 0, "nothing dead-lettered");
    assert!(depth.in_flight > 0, "the rest waits on the queue: {depth:?}");
    assert!(stack.app.store().list_errors(&ErrorFilter::default()).await.unwrap().is_empty(), "nothing failed");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_runs_through_its_handler() {
    require_emulators();
    let sandbox = Sandbox::start(SandboxOptions::default().with_crm_sync_fields()).await.unwrap();
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    // The samples are signed with this secret at this time.
    let mut credentials = sandbox_credentials();
    credentials["hubspot_client_secret"] = json!("example-hubspot-client-secret");
    // The sample outbound message comes from this org.
    let sample_org = "00DRO000000AbCd2AK";
    let settings = stack_environment(
        &aws,
        credentials.clone(),
        &[
            (crm_sync_lambda::settings::SALESFORCE_LOGIN_URL, sandbox.salesforce_url().to_owned()),
            (crm_sync_lambda::settings::HUBSPOT_BASE_URL, sandbox.hubspot_url().to_owned()),
            (crm_sync_lambda::settings::SALESFORCE_ORG_ID, sample_org.to_owned()),
        ],
    )
    .await;
    // Deployed with no org set, the function takes the integration user's
    // org (the sandbox's) and refuses the sample's.
    let unset = stack_environment(
        &aws,
        credentials,
        &[
            (crm_sync_lambda::settings::SALESFORCE_LOGIN_URL, sandbox.salesforce_url().to_owned()),
            (crm_sync_lambda::settings::HUBSPOT_BASE_URL, sandbox.hubspot_url().to_owned()),
        ],
    )
    .await;
    let learned = build_app(&unset, &aws, BuildOptions::default()).await.unwrap();
    assert_eq!(learned.secrets().salesforce_org, SalesforceOrg::Only(crm_sandbox::salesforce::ORG_ID.to_owned()));
    let request = lambda_http::request::from_str(&event_file("webhook-salesforce-outbound.json")).unwrap();
    assert_eq!(crm_sync_webhook::handle(&learned, request).await.unwrap().status(), 401);
    let depth = learned.sync_queue().depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 0, "nothing queued from another org");
    let signed_at = chrono::DateTime::from_timestamp_millis(1_714_563_606_000).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(signed_at));
    let app = build_app(&settings, &aws, BuildOptions { clock: Some(clock), ..BuildOptions::default() }).await.unwrap();

    // Function URL: the HubSpot delivery is accepted and queued.
    let request = lambda_http::request::from_str(&event_file("webhook-hubspot.json")).unwrap();
    let response = crm_sync_webhook::handle(&app, request).await.unwrap();
    assert!(response.status().is_success(), "{:?}", response.body());
    // Function URL: other paths and methods are refused before any use case.
    let mut stray: Value = serde_json::from_str(&event_file("webhook-hubspot.json")).unwrap();
    stray["rawPath"] = json!("/webhooks/zendesk");
    let response =
        crm_sync_webhook::handle(&app, lambda_http::request::from_str(&stray.to_string()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 404);
    // The sync-health page is never on the public Function URL.
    stray["rawPath"] = json!("/ui");
    stray["requestContext"]["http"]["method"] = json!("GET");
    let response =
        crm_sync_webhook::handle(&app, lambda_http::request::from_str(&stray.to_string()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 404);
    stray["rawPath"] = json!("/webhooks/hubspot");
    let response =
        crm_sync_webhook::handle(&app, lambda_http::request::from_str(&stray.to_string()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 405);
    // Function URL: the outbound message is acknowledged.
    let request = lambda_http::request::from_str(&event_file("webhook-salesforce-outbound.json")).unwrap();
    let response = crm_sync_webhook::handle(&app, request).await.unwrap();
    assert_eq!(response.status(), 200);
    let lambda_http::Body::Text(ack) = response.body() else { panic!("no SOAP body") };
    assert!(ack.contains("<Ack>true</Ack>"), "{ack}");
    let queued = app.sync_queue().receive(10, Duration::from_secs(30)).await.unwrap();
    let intents: usize = queued.iter().map(|m| crm_sync_app::messages::parse_intents(&m.body).unwrap().len()).sum();
    assert_eq!(intents, 4, "two HubSpot events and two outbound notifications");

    // SQS -> sync-worker: failures, if any, name messages of the event.
    let event: SqsEvent = serde_json::from_str(&event_file("sync-worker-sqs.json")).unwrap();
    let ids: HashSet<String> = event.records.iter().filter_map(|r| r.message_id.clone()).collect();
    let response = sync_worker(&app, event).await;
    assert!(response.batch_item_failures.iter().all(|f| ids.contains(&f.item_identifier)), "{response:?}");

    // SQS -> import: a chunk of an unknown job is acknowledged, not retried.
    let event: Value = serde_json::from_str(&event_file("import-chunks-sqs.json")).unwrap();
    let response = import_function(&app, event).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");

    // On-demand import review, straight from the sample payload.
    let review = import_function(&app, serde_json::from_str(&event_file("import-review.json")).unwrap()).await;
    assert!(review["records"].is_u64() && review["salesforce_calls"].as_u64() > Some(0), "{review}");

    // EventBridge -> sweep.
    let schedule: EventBridgeEvent = serde_json::from_str(&event_file("sweep-schedule.json")).unwrap();
    crm_sync_sweep::handle(&app, invocation(schedule)).await.unwrap();
    sandbox.shutdown().await;
}
