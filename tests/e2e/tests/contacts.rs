//! Contacts both ways through the local runtime and the sandbox: creation,
//! edits per sync rule, no echo, no duplicates, 429 storms and permanent
//! errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::Fault;
use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::{WebhookRequest, handle_hubspot_webhook, sweep_once};
use crm_sync_e2e::{Harness, HarnessOptions, QUIET, WAIT, props};
use crm_sync_store::ErrorFilter;
use serde_json::json;

fn integration_writes(h: &Harness, object: &str, op: Op) -> Vec<String> {
    h.sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == object && w.op == op && w.actor == Actor::Integration)
        .map(|w| w.id)
        .collect()
}

async fn create_hubspot_contact(h: &Harness, email: &str) -> u64 {
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(
                json!({"email": email, "firstname": "Ada", "lastname": "Lovelace", "jobtitle": "Analyst"}),
            ),
        })
        .expect("the sandbox creates the contact")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_created_in_hubspot_becomes_a_salesforce_lead_once() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let hs_id = create_hubspot_contact(&h, "ada@example.com").await;

    h.sync_until(WAIT, |h| !integration_writes(h, "Lead", Op::Create).is_empty()).await.unwrap();
    h.settle(QUIET).await.unwrap();

    let created = integration_writes(&h, "Lead", Op::Create);
    assert_eq!(created.len(), 1, "exactly one lead is created");
    let lead = h.sandbox.salesforce().record("Lead", &created[0]).unwrap();
    assert_eq!(lead["Email"], "ada@example.com");
    assert_eq!(lead["LastName"], "Lovelace");
    assert_eq!(lead["Title"], "Analyst");
    assert_eq!(lead["HubSpot_Id__c"], hs_id.to_string());
    // Salesforce's own default (Lead Status) is a new value and travels once;
    // after that, echoes of both writes come back and write nothing.
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, hs_id).unwrap();
    assert_eq!(contact.get("hs_lead_status").map(String::as_str), Some("Open - Not Contacted"));
    let (_, hs) = h.counts();
    let hubspot_writes = hs.matching("batch/update") + hs.matching("batch/upsert");
    assert!(hubspot_writes <= 1, "{:?}", hs.endpoints);
    h.settle(QUIET).await.unwrap();
    let (_, hs) = h.counts();
    assert_eq!(hs.matching("batch/update") + hs.matching("batch/upsert"), hubspot_writes, "no echo write to HubSpot");
    assert!(integration_writes(&h, "Lead", Op::Update).is_empty(), "no echo write to Salesforce");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_edited_in_salesforce_updates_the_hubspot_contact_per_its_rules() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let hs_id = create_hubspot_contact(&h, "grace@example.com").await;
    h.sync_until(WAIT, |h| !integration_writes(h, "Lead", Op::Create).is_empty()).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let lead_id = integration_writes(&h, "Lead", Op::Create)[0].clone();

    // Prefer Salesforce unless blank: a Salesforce value always travels.
    h.sandbox.salesforce().update_as_user("Lead", &lead_id, json!({"Title": "CTO", "FirstName": "Grace"})).unwrap();
    h.sync_until(WAIT, |h| {
        h.sandbox
            .hubspot()
            .properties(ObjectType::Contacts, hs_id)
            .is_some_and(|p| p.get("jobtitle").map(String::as_str) == Some("CTO"))
    })
    .await
    .unwrap();
    let contact = h.sandbox.hubspot().properties(ObjectType::Contacts, hs_id).unwrap();
    assert_eq!(contact["firstname"], "Grace");

    // ... and a HubSpot edit does not overwrite a Salesforce value.
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: hs_id,
            properties: props(json!({"jobtitle": "Intern"})),
        })
        .unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(h.sandbox.salesforce().record("Lead", &lead_id).unwrap()["Title"], "CTO");

    // A field blank in Salesforce takes the HubSpot value.
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: hs_id,
            properties: props(json!({"phone": "+1 555 0100"})),
        })
        .unwrap();
    h.sync_until(WAIT, |h| {
        h.sandbox.salesforce().record("Lead", &lead_id).is_some_and(|l| l["Phone"] == "+1 555 0100")
    })
    .await
    .unwrap();
    h.stop().await;
}

fn signed_delivery(h: &Harness, body: &str) -> WebhookRequest {
    let secret = h.sandbox.hubspot().options().client_secret.clone();
    let uri = format!("{}/webhooks/hubspot", h.server.base_url());
    let timestamp = chrono::Utc::now().timestamp_millis().to_string();
    let signature = crm_sandbox::hubspot::sign_v3(&secret, "POST", &uri, body.as_bytes(), &timestamp);
    let mut request =
        WebhookRequest { method: "POST".into(), uri, body: body.as_bytes().to_vec(), ..WebhookRequest::default() };
    request.headers.insert("x-hubspot-signature-v3".into(), signature);
    request.headers.insert("x-hubspot-request-timestamp".into(), timestamp);
    request.headers.insert("content-type".into(), "application/json".into());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivered_twice_and_a_sweep_at_the_same_time_write_once() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let hs_id = create_hubspot_contact(&h, "twice@example.com").await;
    let body = format!(
        r#"[{{"eventId":7001,"subscriptionType":"contact.creation","objectId":{hs_id},"occurredAt":{},"attemptNumber":0}}]"#,
        chrono::Utc::now().timestamp_millis()
    );
    let first = handle_hubspot_webhook(&h.app, signed_delivery(&h, &body)).await;
    let second = handle_hubspot_webhook(&h.app, signed_delivery(&h, &body)).await;
    assert_eq!((first.status, second.status), (200, 200));
    let depth = h.app.sync_queue().depth().await.unwrap();
    assert_eq!(depth.visible, 1, "the repeated event id is not queued again");
    // The sweep sees the same record.
    let swept = sweep_once(&h.app).await.unwrap();
    assert!(swept.intents_queued >= 1);

    h.settle(QUIET).await.unwrap();
    assert_eq!(integration_writes(&h, "Lead", Op::Create).len(), 1);
    assert!(integration_writes(&h, "Lead", Op::Update).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_a_bad_signature_is_refused_and_queues_nothing() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let mut request = signed_delivery(&h, r#"[{"eventId":1,"subscriptionType":"contact.creation","objectId":5}]"#);
    request.body = br#"[{"eventId":1,"subscriptionType":"contact.creation","objectId":6}]"#.to_vec();
    assert_eq!(handle_hubspot_webhook(&h.app, request).await.status, 401);
    let malformed = signed_delivery(&h, r#"{"not":"an array"}"#);
    assert_eq!(handle_hubspot_webhook(&h.app, malformed).await.status, 400);
    assert_eq!(h.app.sync_queue().depth().await.unwrap().visible, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_delays_the_sync_but_loses_nothing() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    // More 429s than the client retries by itself: the message comes back
    // after the advertised delay.
    h.sandbox.hubspot_control().add_fault(
        Fault::new(429, 8, "/crm/v3/objects/contacts/batch/read").with_header("retry-after", "1").with_body(
            serde_json::from_str(include_str!(
                "../../../shared/crm/tests/fixtures/hubspot/rate-limit-error.secondly.json"
            ))
            .unwrap(),
        ),
    );
    for n in 0..5 {
        create_hubspot_contact(&h, &format!("storm{n}@example.com")).await;
    }
    let report = h.sync_until(WAIT, |h| integration_writes(h, "Lead", Op::Create).len() >= 5).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(integration_writes(&h, "Lead", Op::Create).len(), 5, "every contact arrives once");
    assert!(report.waited > 0, "the storm outlasted the client's own retries and the message waited it out");
    assert_eq!(report.retried, 0, "a rate limit is not a failed attempt");
    assert!(h.sandbox.hubspot_control().faults().iter().all(|f| f.count == 0), "every injected 429 was served");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_lands_in_sync_health_with_the_crm_message() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    h.sandbox.salesforce_control().add_fault(
        Fault::new(400, 1, "/services/data/v66.0/composite/sobjects")
            .with_body(json!([{"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Leads need a region"}])),
    );
    let hs_id = create_hubspot_contact(&h, "invalid@example.com").await;
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let errors = h.app.store().list_errors(&ErrorFilter::default()).await.unwrap();
    let entry = errors.iter().find(|e| e.hubspot_id.as_deref() == Some(&hs_id.to_string())).expect("an error entry");
    assert!(entry.message.contains("Leads need a region"), "{}", entry.message);
    assert_eq!(entry.category, "property_value_or_validation");
    assert!(integration_writes(&h, "Lead", Op::Create).is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_travels_both_ways_and_clearing_it_never_resubscribes() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let from_sf = create_hubspot_contact(&h, "optout.sf@example.com").await;
    let from_hs = create_hubspot_contact(&h, "optout.hs@example.com").await;
    h.sync_until(WAIT, |h| integration_writes(h, "Lead", Op::Create).len() >= 2).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let lead_of = |h: &Harness, email: &str| {
        integration_writes(h, "Lead", Op::Create)
            .into_iter()
            .find(|id| h.sandbox.salesforce().record("Lead", id).is_some_and(|l| l["Email"] == email))
            .unwrap()
    };
    let sf_lead = lead_of(&h, "optout.sf@example.com");
    let hs_lead = lead_of(&h, "optout.hs@example.com");
    let opted_out = |h: &Harness, id: u64| {
        h.sandbox.hubspot().properties(ObjectType::Contacts, id).and_then(|p| p.get("hs_email_optout").cloned())
            == Some("true".into())
    };

    // Salesforce -> HubSpot.
    h.sandbox.salesforce().update_as_user("Lead", &sf_lead, json!({"HasOptedOutOfEmail": true})).unwrap();
    h.sync_until(WAIT, |h| opted_out(h, from_sf)).await.unwrap();
    // Clearing the Salesforce checkbox does not re-subscribe.
    h.sandbox.salesforce().update_as_user("Lead", &sf_lead, json!({"HasOptedOutOfEmail": false})).unwrap();
    h.settle(QUIET).await.unwrap();
    assert!(opted_out(&h, from_sf), "the HubSpot contact stays opted out");

    // HubSpot -> Salesforce.
    h.sandbox.hubspot().user_edit(UserEdit::OptOut { contact: from_hs, opted_out: true }).unwrap();
    h.sync_until(WAIT, |h| {
        h.sandbox.salesforce().record("Lead", &hs_lead).is_some_and(|l| l["HasOptedOutOfEmail"] == true)
    })
    .await
    .unwrap();
    h.stop().await;
}
