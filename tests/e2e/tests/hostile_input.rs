//! The webhook endpoints against what an attacker or a broken sender posts,
//! over HTTP to the local runtime as `crm-sync serve` builds it: outbound
//! messages from another org, too many notifications, truncated envelopes,
//! replays, HubSpot deliveries signed without a time; and a queue message
//! delivered twice, as SQS may.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sandbox::{Sandbox, SandboxOptions};
use crm_sync_app::build::{Credentials, CrmEndpoints, LocalApp, serving_app};
use crm_sync_app::local::{LocalOptions, LocalRuntime, WebhookServer};
use crm_sync_app::{App, SalesforceOrg, Secret};
use crm_sync_domain::SyncConfig;
use crm_sync_e2e::{Harness, HarnessOptions};
use crm_sync_store::OutgoingMessage;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// Another org's id, of the right shape.
const FORGED_ORG: &str = "00D5e000000FoRgEAA";

/// The sandbox and the runtime `crm-sync serve` builds: the org is not
/// configured, so it is learned from the sandbox's token answer.
struct Served {
    sandbox: Sandbox,
    app: App,
    runtime: LocalRuntime,
    server: WebhookServer,
}

impl Served {
    async fn start(salesforce_client_secret: &str) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut options = SandboxOptions::default().with_crm_sync_fields();
        options.salesforce.outbound_url = Some(format!("{base}/webhooks/salesforce"));
        options.salesforce.outbound_retry = Duration::from_millis(100);
        let sandbox = Sandbox::start(options).await.unwrap();
        let credentials = Credentials {
            salesforce_client_id: crm_sandbox::salesforce::DEFAULT_CLIENT_ID.into(),
            salesforce_client_secret: Secret::new(salesforce_client_secret),
            hubspot_access_token: Secret::new(crm_sandbox::hubspot::DEFAULT_TOKEN),
            hubspot_client_secret: Secret::new(crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET),
            ..Credentials::default()
        };
        let target = LocalApp {
            config: SyncConfig::default(),
            state_path: None,
            endpoints: CrmEndpoints {
                salesforce_login_url: sandbox.salesforce_url().to_owned(),
                hubspot_base_url: sandbox.hubspot_url().to_owned(),
                extra_root_cert_pem: None,
            },
            public_base_url: Some(base),
            salesforce_org_id: None,
        };
        let app = serving_app(target, &credentials).await.unwrap();
        let server = WebhookServer::start_on(app.clone(), listener).unwrap();
        let runtime = LocalRuntime::new(app.clone(), LocalOptions { idle_timeout: WAIT, ..LocalOptions::default() });
        sandbox.salesforce_control().reset_counts();
        sandbox.hubspot_control().reset_counts();
        Served { sandbox, app, runtime, server }
    }

    async fn post(&self, body: String) -> (u16, String) {
        post(&format!("{}/webhooks/salesforce", self.server.base_url()), body).await
    }

    /// The sync intents on the queue (a message carries up to 100); the
    /// messages are put back as they were.
    async fn queued(&self) -> usize {
        let queue = self.app.sync_queue();
        let mut intents = 0;
        let mut receipts = Vec::new();
        loop {
            let messages = queue.receive(10, WAIT).await.unwrap();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                intents += crm_sync_app::messages::parse_intents(&message.body).unwrap().len();
                receipts.push(message.receipt_handle);
            }
        }
        for receipt in receipts {
            queue.change_visibility(&receipt, Duration::ZERO).await.unwrap();
        }
        intents
    }

    /// API calls either CRM has answered since the start.
    fn crm_calls(&self) -> u64 {
        self.sandbox.salesforce_control().counts().total + self.sandbox.hubspot_control().counts().total
    }
}

async fn post(url: &str, body: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "text/xml; charset=utf-8")
        .body(body)
        .timeout(WAIT)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// An outbound message of `org` with one Contact notification per entry
/// (notification id, record id).
fn soap(org: &str, notifications: &[(String, String)]) -> String {
    let mut body = String::from(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" "#,
        r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>"#,
        r#"<notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#
    ));
    body.push_str(&format!("<OrganizationId>{org}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"));
    for (id, record) in notifications {
        body.push_str(&format!(
            r#"<Notification><Id>{id}</Id><sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{record}</sf:Id></sObject></Notification>"#
        ));
    }
    body.push_str("</notifications></soapenv:Body></soapenv:Envelope>");
    body
}

/// `n` notifications of distinct records.
fn notifications(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("04l00000000{i:04}AAA"), format!("003000000000{i:03}AAA"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_message_from_another_org_is_refused_and_costs_nothing() {
    let s = Served::start(crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET).await;
    let forged = notifications(3);
    let (status, body) = s.post(soap(FORGED_ORG, &forged)).await;
    assert_eq!(status, 401, "{body}");
    let learned = SalesforceOrg::Only(crm_sandbox::salesforce::ORG_ID.to_owned());
    assert_eq!(s.app.secrets().salesforce_org, learned, "learned from the token answer");
    assert!(body.contains("<soapenv:Fault>") && !body.contains("<Ack>true</Ack>"), "{body}");
    assert_eq!(s.queued().await, 0, "nothing queued");
    s.runtime.run_until_idle().await.unwrap();
    assert_eq!(s.crm_calls(), 0, "no CRM call");

    // Nothing was stored either: the same notification ids from the synced
    // org are new to the endpoint.
    let (status, body) = s.post(soap(crm_sandbox::salesforce::ORG_ID, &forged)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.queued().await, 3);
    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_message_of_more_than_100_notifications_is_refused() {
    let s = Served::start(crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET).await;
    let (status, body) = s.post(soap(crm_sandbox::salesforce::ORG_ID, &notifications(101))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<soapenv:Fault>"), "{body}");
    assert_eq!(s.queued().await, 0);
    let (status, _) = s.post(soap(crm_sandbox::salesforce::ORG_ID, &notifications(100))).await;
    assert_eq!(status, 200, "Salesforce's own maximum is accepted");
    assert_eq!(s.queued().await, 100);
    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_outbound_message_gets_a_fault_so_that_salesforce_resends_it() {
    let s = Served::start(crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET).await;
    let whole = soap(crm_sandbox::salesforce::ORG_ID, &notifications(2));
    let cut = whole.find("</Notification>").unwrap() + "</Notification>".len();
    let (status, body) = s.post(whole[..cut].to_owned()).await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.contains("<Ack>true</Ack>"), "no acknowledgement: {body}");
    assert_eq!(s.queued().await, 0, "not even the notification before the cut");
    let (status, _) = s.post(whole).await;
    assert_eq!(status, 200, "the resent whole message is taken");
    assert_eq!(s.queued().await, 2);
    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_outbound_message_delivered_twice_is_queued_once() {
    let s = Served::start(crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET).await;
    let message = soap(crm_sandbox::salesforce::ORG_ID, &notifications(2));
    assert_eq!(s.post(message.clone()).await.0, 200);
    assert_eq!(s.post(message).await.0, 200, "a replay is acknowledged, so Salesforce stops");
    assert_eq!(s.queued().await, 2, "each notification queued once");
    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_genuine_orgs_outbound_message_is_accepted_and_synced() {
    let s = Served::start(crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET).await;
    s.sandbox
        .salesforce()
        .create_as_user("Contact", json!({"FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com"}))
        .unwrap();
    let stats = &s.sandbox.salesforce().outbound_stats;
    let started = tokio::time::Instant::now();
    while stats.delivered.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < WAIT, "the outbound message was never acknowledged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.runtime.run_until_idle().await.unwrap();
    assert_eq!(s.sandbox.hubspot().live_count(ObjectType::Contacts), 1, "the contact reached HubSpot");
    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_messages_are_all_refused_when_the_org_cannot_be_learned() {
    // Salesforce refuses the token request: the org stays unknown.
    let s = Served::start("not-the-secret").await;
    let reason = match &s.app.secrets().salesforce_org {
        SalesforceOrg::Unknown(reason) => reason.clone(),
        other => panic!("expected an unknown org, got {other:?}"),
    };
    assert!(reason.contains("CRM_SYNC_SALESFORCE_ORG_ID"), "the reason says how to fix it: {reason}");
    let (status, body) = s.post(soap(crm_sandbox::salesforce::ORG_ID, &notifications(1))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(s.queued().await, 0);
    s.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_delivery_signed_only_with_v1_or_v2_is_refused() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let secret = crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET;
    let url = format!("{}/webhooks/hubspot", h.server.base_url());
    // A delivery as HubSpot sent it long ago, its v3 headers removed.
    let body = r#"[{"eventId":77,"subscriptionType":"contact.creation","objectId":1001,"occurredAt":1564113600000,"attemptNumber":0}]"#;
    let signatures = [
        ("v1", crm_sandbox::hubspot::sign_v1(secret, body.as_bytes())),
        ("v2", crm_sandbox::hubspot::sign_v2(secret, "POST", &url, body.as_bytes())),
    ];
    for (version, signature) in signatures {
        let response = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hubspot-signature", signature)
            .header("x-hubspot-signature-version", version)
            .body(body)
            .timeout(WAIT)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "a {version} signature alone is refused");
    }
    let depth = h.app.sync_queue().depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 0, "nothing queued");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_message_delivered_twice_writes_once() {
    let mut options = HarnessOptions::default();
    options.local.batch_messages = 1;
    let h = Harness::start(options).await.unwrap();
    let mut properties = serde_json::Map::new();
    properties.insert("email".into(), json!("twice@example.com"));
    properties.insert("lastname".into(), json!("Twice"));
    h.sandbox.hubspot().user_edit(UserEdit::Create { object: ObjectType::Contacts, properties }).unwrap();

    // The webhook's message, handed out a second time as SQS may do.
    let queue = h.app.sync_queue();
    let started = tokio::time::Instant::now();
    let message = loop {
        if let Some(message) = queue.receive(1, Duration::from_secs(60)).await.unwrap().pop() {
            break message;
        }
        assert!(started.elapsed() < WAIT, "the webhook never queued the change");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    queue.send_batch(&[OutgoingMessage::new(message.body.clone())]).await.unwrap();
    queue.change_visibility(&message.receipt_handle, Duration::ZERO).await.unwrap();

    let report = h.runtime.run_until_idle().await.unwrap();
    assert!(report.messages >= 2, "both copies were worked: {report:?}");
    h.settle(Duration::from_millis(1500)).await.unwrap();
    let lead_writes: Vec<Op> = h
        .sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == "Lead" && w.actor == Actor::Integration)
        .map(|w| w.op)
        .collect();
    assert_eq!(lead_writes, vec![Op::Create], "one lead, written once");
    h.stop().await;
}

/// Posts `body` to the HubSpot endpoint signed (v3) as of `signed_at`.
async fn post_hubspot(h: &Harness, body: &str, signed_at: chrono::DateTime<chrono::Utc>) -> u16 {
    let url = format!("{}/webhooks/hubspot", h.server.base_url());
    let timestamp = signed_at.timestamp_millis().to_string();
    let secret = crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET;
    let signature = crm_sandbox::hubspot::sign_v3(secret, "POST", &url, body.as_bytes(), &timestamp);
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-hubspot-signature-v3", signature)
        .header("x-hubspot-request-timestamp", timestamp)
        .body(body.to_owned())
        .timeout(WAIT)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_hubspot_delivery_replayed_is_queued_once_and_refused_once_stale() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let body = r#"[{"eventId":9001,"subscriptionType":"contact.propertyChange","objectId":1001,"propertyName":"jobtitle","propertyValue":"CTO","occurredAt":1764672000000,"attemptNumber":0}]"#;
    let now = chrono::Utc::now();
    // The genuine delivery, then the same bytes and headers replayed at once.
    assert_eq!(post_hubspot(&h, body, now).await, 200);
    assert_eq!(post_hubspot(&h, body, now).await, 200, "a replay inside the window is acknowledged");
    let depth = h.app.sync_queue().depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 1, "but queued once");
    // Captured and replayed later: the signed timestamp is too old.
    let stale = now - chrono::Duration::minutes(6);
    let other = body.replace("9001", "9002");
    assert_eq!(post_hubspot(&h, &other, stale).await, 401);
    let depth = h.app.sync_queue().depth().await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 1, "nothing more queued");
    h.stop().await;
}
