//! Webhook use case: HubSpot deliveries (signature, de-duplication, intents)
//! and Salesforce outbound messages (organisation, acknowledgement).

use super::{drain_sync_queue, queued_keys};
use crate::testing::{TEST_CLIENT_SECRET, TestApp, signed_hubspot_request};
use crate::usecases::webhook::{WebhookRequest, handle_hubspot_webhook, handle_salesforce_outbound};
use crate::webhook::outbound::ACK;
use crate::{Secret, WebhookSecrets};
use crm_sync_domain::intent::{SyncIntent, Trigger};
use std::time::Duration;

fn events(body: &str, t: &TestApp) -> WebhookRequest {
    signed_hubspot_request(TEST_CLIENT_SECRET, body, t.now())
}

const TWO_CONTACTS: &str = r#"[
  {"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": 501, "occurredAt": 1767605400000},
  {"eventId": 2, "subscriptionType": "contact.creation", "objectId": 502}
]"#;

#[tokio::test]
async fn a_correctly_signed_hubspot_delivery_is_accepted_and_queues_one_intent_per_record() {
    let t = TestApp::new();
    let response = handle_hubspot_webhook(&t.app, events(TWO_CONTACTS, &t)).await;
    assert_eq!(response.status, 200);
    assert_eq!(queued_keys(&t).await, vec!["hubspot:contact:501", "hubspot:contact:502"]);
}

#[tokio::test]
async fn a_hubspot_delivery_signed_with_another_secret_is_refused_with_401_and_queues_nothing() {
    let t = TestApp::new();
    let request = signed_hubspot_request("not-the-secret", TWO_CONTACTS, t.now());
    let response = handle_hubspot_webhook(&t.app, request).await;
    assert_eq!(response.status, 401);
    assert!(queued_keys(&t).await.is_empty());
}

#[tokio::test]
async fn a_hubspot_delivery_whose_body_was_altered_after_signing_is_refused() {
    let t = TestApp::new();
    let mut request = events(TWO_CONTACTS, &t);
    request.body = TWO_CONTACTS.replace("501", "999").into_bytes();
    assert_eq!(handle_hubspot_webhook(&t.app, request).await.status, 401);
}

#[tokio::test]
async fn a_hubspot_delivery_signed_more_than_five_minutes_ago_is_refused_as_stale() {
    let t = TestApp::new();
    let request = events(TWO_CONTACTS, &t);
    t.advance(Duration::from_secs(301));
    let response = handle_hubspot_webhook(&t.app, request).await;
    assert_eq!(response.status, 401);
    assert!(queued_keys(&t).await.is_empty());
}

#[tokio::test]
async fn a_hubspot_delivery_signed_four_minutes_ago_is_still_accepted() {
    let t = TestApp::new();
    let request = events(TWO_CONTACTS, &t);
    t.advance(Duration::from_secs(240));
    assert_eq!(handle_hubspot_webhook(&t.app, request).await.status, 200);
}

#[tokio::test]
async fn a_repeated_hubspot_event_id_is_queued_only_once() {
    let t = TestApp::new();
    assert_eq!(handle_hubspot_webhook(&t.app, events(TWO_CONTACTS, &t)).await.status, 200);
    assert_eq!(queued_keys(&t).await.len(), 2);
    let retry = handle_hubspot_webhook(&t.app, events(TWO_CONTACTS, &t)).await;
    assert_eq!(retry.status, 200, "a duplicate is acknowledged");
    assert!(queued_keys(&t).await.is_empty(), "and not queued again");
}

#[tokio::test]
async fn two_events_for_one_record_in_a_delivery_make_one_intent() {
    let t = TestApp::new();
    let body = r#"[{"eventId": 7, "subscriptionType": "deal.propertyChange", "objectId": 9},
                   {"eventId": 8, "subscriptionType": "deal.propertyChange", "objectId": 9}]"#;
    assert_eq!(handle_hubspot_webhook(&t.app, events(body, &t)).await.status, 200);
    assert_eq!(queued_keys(&t).await, vec!["hubspot:deal:9"]);
}

#[tokio::test]
async fn events_of_unknown_objects_or_ignored_kinds_are_acknowledged_without_intents() {
    let t = TestApp::new();
    let body = r#"[{"eventId": 1, "subscriptionType": "ticket.creation", "objectId": 4},
                   {"eventId": 2, "subscriptionType": "contact.privacyDeletionRequested", "objectId": 5}]"#;
    assert_eq!(handle_hubspot_webhook(&t.app, events(body, &t)).await.status, 200);
    assert!(queued_keys(&t).await.is_empty());
}

#[tokio::test]
async fn a_merge_event_queues_the_surviving_company_carrying_every_merged_one() {
    let t = TestApp::new();
    let body = r#"[{"eventId": 3, "subscriptionType": "company.merge", "objectId": 10,
                    "primaryObjectId": 10, "mergedObjectIds": [11, 12]},
                   {"eventId": 4, "subscriptionType": "company.propertyChange", "objectId": 10,
                    "propertyName": "name", "propertyValue": "Acme"}]"#;
    assert_eq!(handle_hubspot_webhook(&t.app, events(body, &t)).await.status, 200);
    let (intents, _) = drain_sync_queue(&t).await;
    let keys: Vec<String> = intents.iter().map(SyncIntent::dedup_key).collect();
    assert_eq!(keys, vec!["hubspot:company:10<11,12", "hubspot:company:10"], "the merge is not lost to the change");
}

#[tokio::test]
async fn a_hubspot_intent_carries_the_event_time_and_the_webhook_trigger() {
    let t = TestApp::new();
    assert_eq!(handle_hubspot_webhook(&t.app, events(TWO_CONTACTS, &t)).await.status, 200);
    let (intents, messages) = drain_sync_queue(&t).await;
    assert_eq!(messages, 1, "both intents travel in one message");
    let first = intents.iter().find(|i| i.record_key() == "hubspot:contact:501").unwrap();
    assert_eq!(first.at.timestamp_millis(), 1_767_605_400_000);
    assert_eq!(first.trigger, Trigger::Webhook);
    let second = intents.iter().find(|i| i.record_key() == "hubspot:contact:502").unwrap();
    assert_eq!(second.at, t.now(), "without occurredAt the receipt time is used");
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_event_array_is_refused_with_400() {
    let t = TestApp::new();
    let response = handle_hubspot_webhook(&t.app, events(r#"{"eventId": 1}"#, &t)).await;
    assert_eq!(response.status, 400);
}

#[tokio::test]
async fn the_hubspot_webhook_makes_no_crm_api_call() {
    let t = TestApp::new();
    handle_hubspot_webhook(&t.app, events(TWO_CONTACTS, &t)).await;
    use crate::ports::ApiCalls;
    assert_eq!(t.hubspot.calls_made() + t.salesforce.calls_made(), 0);
}

/// The 18-character form of a 15-character Salesforce id.
fn sf18(id: &str) -> String {
    crm_sync_domain::SalesforceId::parse(id).unwrap().as_str().to_owned()
}

const ORG: &str = "00DRO000000AbCdEAF";

fn outbound(org: &str, notifications: &[(&str, &str, &str)]) -> WebhookRequest {
    let mut body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId><ActionId>04kRO000000XyZaYAK</ActionId>"#
    );
    for (id, sobject, record) in notifications {
        body.push_str(&format!(
            r#"<Notification><Id>{id}</Id><sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{record}</sf:Id></sObject></Notification>"#
        ));
    }
    body.push_str("</notifications></soapenv:Body></soapenv:Envelope>");
    WebhookRequest {
        method: "POST".into(),
        uri: "/salesforce/outbound".into(),
        body: body.into_bytes(),
        ..Default::default()
    }
}

fn with_org(org: &str) -> TestApp {
    TestApp::builder()
        .secrets(WebhookSecrets {
            hubspot_client_secret: Secret::new(TEST_CLIENT_SECRET),
            public_base_url: None,
            salesforce_org: crate::SalesforceOrg::Only(org.to_owned()),
        })
        .build()
}

#[tokio::test]
async fn an_outbound_message_is_acknowledged_and_each_record_queued() {
    let t = with_org(ORG);
    let request = outbound(ORG, &[("04l1", "Contact", "003RO0000035WQg"), ("04l2", "Lead", "00QRO0000035WQg")]);
    let response = handle_salesforce_outbound(&t.app, request).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, ACK);
    assert_eq!(
        queued_keys(&t).await,
        vec![
            format!("salesforce:contact:{}", sf18("003RO0000035WQg")),
            format!("salesforce:contact:{}", sf18("00QRO0000035WQg"))
        ]
    );
}

#[tokio::test]
async fn an_outbound_message_from_another_org_is_refused_with_401() {
    let t = with_org(ORG);
    let request = outbound("00DXX000000ZzZzEAF", &[("04l1", "Contact", "003RO0000035WQg")]);
    let response = handle_salesforce_outbound(&t.app, request).await;
    assert_eq!(response.status, 401);
    assert!(response.body.contains("unknown organization"));
    assert!(queued_keys(&t).await.is_empty());
}

#[tokio::test]
async fn a_fifteen_character_org_id_accepts_its_eighteen_character_form() {
    let t = with_org(&ORG[..15]);
    let request = outbound(ORG, &[("04l1", "Account", "001RO0000035WQg")]);
    assert_eq!(handle_salesforce_outbound(&t.app, request).await.status, 200);
}

#[tokio::test]
async fn an_org_id_with_the_right_first_fifteen_characters_but_no_id_shape_is_refused() {
    let t = with_org(ORG);
    for forged in [format!("{}@AF", &ORG[..15]), format!("{}E", &ORG[..15]), format!("{}E-AF!", &ORG[..15])] {
        let request = outbound(&forged, &[("04l1", "Account", "001RO0000035WQg")]);
        assert_eq!(handle_salesforce_outbound(&t.app, request).await.status, 401, "{forged}");
    }
    assert!(queued_keys(&t).await.is_empty());
}

#[tokio::test]
async fn a_malformed_outbound_body_gets_a_400_soap_fault() {
    let t = TestApp::new();
    let request = WebhookRequest { body: b"<a><b>1</b></a>".to_vec(), ..Default::default() };
    let response = handle_salesforce_outbound(&t.app, request).await;
    assert_eq!(response.status, 400);
    assert!(response.body.contains("soapenv:Fault"));
}

#[tokio::test]
async fn an_outbound_body_that_is_not_utf8_gets_400() {
    let t = TestApp::new();
    let request = WebhookRequest { body: vec![0xff, 0xfe, 0x00], ..Default::default() };
    assert_eq!(handle_salesforce_outbound(&t.app, request).await.status, 400);
}

#[tokio::test]
async fn a_resent_outbound_notification_is_acknowledged_but_not_queued_again() {
    let t = TestApp::new();
    let request = outbound(ORG, &[("04l1", "Contact", "003RO0000035WQg")]);
    assert_eq!(handle_salesforce_outbound(&t.app, request.clone()).await.status, 200);
    assert_eq!(queued_keys(&t).await.len(), 1);
    assert_eq!(handle_salesforce_outbound(&t.app, request).await.status, 200);
    assert!(queued_keys(&t).await.is_empty());
}

#[tokio::test]
async fn a_notification_for_an_object_the_sync_does_not_handle_is_skipped() {
    let t = TestApp::new();
    let request = outbound(ORG, &[("04l1", "Case", "500RO0000035WQg"), ("04l2", "Contact", "003RO0000035WQg")]);
    assert_eq!(handle_salesforce_outbound(&t.app, request).await.status, 200);
    assert_eq!(queued_keys(&t).await, vec![format!("salesforce:contact:{}", sf18("003RO0000035WQg"))]);
}
