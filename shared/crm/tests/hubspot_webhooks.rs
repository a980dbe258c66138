//! Webhook deliveries from the fake HubSpot received by a test server, and
//! the client's v1/v2/v3 signature checks on them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hubspot_support;

use chrono::Utc;
use crm_sandbox::hubspot::{DEFAULT_APP_ID, DEFAULT_CLIENT_SECRET, HubSpotOptions, ObjectType, UserEdit, sign_v2};
use crm_sync_crm::hubspot::webhook::{
    SignatureError, SignatureVersion, verify_request, verify_v1, verify_v2, verify_v3,
};
use hubspot_support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn options(url: &str) -> HubSpotOptions {
    HubSpotOptions {
        webhook_url: Some(url.to_owned()),
        webhook_retry_base: Duration::from_millis(50),
        webhook_batch_window: Duration::from_millis(20),
        ..HubSpotOptions::default()
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["subscriptionType"] == kind).collect()
}

#[tokio::test]
async fn a_user_edit_is_delivered_signed_with_v1_and_v3() {
    let rx = Receiver::start(vec![]).await;
    let sb = sandbox(options(&rx.url)).await;
    let id = sb
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(&[("email", "ui@example.com"), ("firstname", "Ui")]),
        })
        .unwrap();
    let got = rx.wait_for(|r| !r.is_empty()).await;
    let delivery = &got[0];
    let events = delivery.events();
    let creation = of_type(&events, "contact.creation");
    assert_eq!(creation.len(), 1);
    assert_eq!(creation[0]["objectId"], json!(id));
    assert_eq!(creation[0]["changeSource"], "CRM_UI");
    assert_eq!(creation[0]["attemptNumber"], 0);
    assert_eq!(of_type(&events, "contact.propertyChange").len(), 2);

    let headers = delivery.header_map();
    let version = verify_request(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &headers, &delivery.body, Utc::now()).unwrap();
    assert_eq!(version, SignatureVersion::V3);
    assert_eq!(delivery.header("x-hubspot-signature-version"), Some("v1"));
    verify_v1(DEFAULT_CLIENT_SECRET, &delivery.body, delivery.header("x-hubspot-signature").unwrap()).unwrap();
    let hs = client(&sb);
    assert_eq!(hs.verify_webhook("POST", &rx.url, &headers, &delivery.body, Utc::now()), Ok(SignatureVersion::V3));
}

#[tokio::test]
async fn tampered_bodies_wrong_secrets_and_stale_timestamps_are_refused() {
    let rx = Receiver::start(vec![]).await;
    let sb = sandbox(options(&rx.url)).await;
    sb.hubspot()
        .user_edit(UserEdit::Create { object: ObjectType::Companies, properties: props(&[("name", "Acme")]) })
        .unwrap();
    let got = rx.wait_for(|r| !r.is_empty()).await;
    let d = &got[0];
    let (sig, ts) = (d.header("x-hubspot-signature-v3").unwrap(), d.header("x-hubspot-request-timestamp").unwrap());
    let now = Utc::now();
    assert_eq!(verify_v3(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &d.body, sig, ts, now), Ok(()));
    let mut tampered = d.body.clone();
    tampered.push(b' ');
    assert_eq!(
        verify_v3(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &tampered, sig, ts, now),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(verify_v3("another-secret", "POST", &rx.url, &d.body, sig, ts, now), Err(SignatureError::Mismatch));
    let later = now + chrono::Duration::minutes(6);
    assert!(matches!(
        verify_v3(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &d.body, sig, ts, later),
        Err(SignatureError::Stale { .. })
    ));
    assert_eq!(
        verify_v3(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &d.body, sig, "yesterday", now),
        Err(SignatureError::BadTimestamp)
    );
    assert_eq!(
        verify_v1(DEFAULT_CLIENT_SECRET, &tampered, d.header("x-hubspot-signature").unwrap()),
        Err(SignatureError::Mismatch)
    );

    let v2 = sign_v2(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &d.body);
    assert_eq!(verify_v2(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &d.body, &v2), Ok(()));
    assert_eq!(verify_v2(DEFAULT_CLIENT_SECRET, "GET", &rx.url, &d.body, &v2), Err(SignatureError::Mismatch));
    let mut v2_headers = reqwest::header::HeaderMap::new();
    v2_headers.insert("x-hubspot-signature", v2.parse().unwrap());
    v2_headers.insert("x-hubspot-signature-version", "v2".parse().unwrap());
    assert_eq!(
        verify_request(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &v2_headers, &d.body, now),
        Err(SignatureError::NoV3("v2".to_owned())),
        "a right v2 signature alone is refused: it signs no time"
    );
    assert_eq!(
        verify_request(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &reqwest::header::HeaderMap::new(), &d.body, now),
        Err(SignatureError::Missing)
    );
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_a_growing_attempt_number() {
    let rx = Receiver::start(vec![500, 503]).await;
    let sb = sandbox(options(&rx.url)).await;
    let id = sb
        .hubspot()
        .user_edit(UserEdit::Create { object: ObjectType::Deals, properties: props(&[("dealname", "Big")]) })
        .unwrap();
    let got = rx.wait_for(|r| r.len() >= 3).await;
    assert_eq!(got.len(), 3);
    let attempts: Vec<Value> = got.iter().map(|d| d.events()[0]["attemptNumber"].clone()).collect();
    assert_eq!(attempts, vec![json!(0), json!(1), json!(2)]);
    let event_ids: Vec<Value> = got.iter().map(|d| d.events()[0]["eventId"].clone()).collect();
    assert!(event_ids.windows(2).all(|w| w[0] == w[1]), "a retry carries the same events");
    assert_eq!(got[2].events()[0]["objectId"], json!(id));
    for d in &got {
        assert!(
            verify_request(DEFAULT_CLIENT_SECRET, "POST", &rx.url, &d.header_map(), &d.body, Utc::now()).is_ok(),
            "each attempt is signed afresh"
        );
    }
    let log = sb.hubspot().webhook_log();
    assert_eq!(log.iter().map(|l| l.status).collect::<Vec<_>>(), vec![500, 503, 200]);
}

#[tokio::test]
async fn api_writes_are_delivered_as_integration_changes_in_batches_of_at_most_100() {
    let rx = Receiver::start(vec![]).await;
    let sb = sandbox(options(&rx.url)).await;
    let hs = client(&sb);
    let inputs: Vec<_> = (0..150).map(|i| (format!("bulk{i}@example.com"), props(&[("firstname", "Bulk")]))).collect();
    hs.batch_upsert("contacts", "email", &inputs).await.unwrap();
    // 150 creations + 150 x 2 property changes (email, firstname).
    let got = rx.wait_for(|r| r.iter().map(|d| d.events().len()).sum::<usize>() >= 450).await;
    let all: Vec<Value> = got.iter().flat_map(|d| d.events()).collect();
    assert_eq!(all.len(), 450);
    assert!(got.iter().all(|d| d.events().len() <= 100));
    assert!(got.len() >= 5);
    assert!(
        all.iter().all(|e| e["changeSource"] == "INTEGRATION"
            && e["sourceId"].as_str() == Some(DEFAULT_APP_ID.to_string().as_str()))
    );
    assert_eq!(of_type(&all, "contact.creation").len(), 150);
}

#[tokio::test]
async fn deletions_merges_opt_outs_and_associations_are_delivered() {
    let rx = Receiver::start(vec![]).await;
    let sb = sandbox(options(&rx.url)).await;
    let st = sb.hubspot();
    let a = st
        .user_edit(UserEdit::Create { object: ObjectType::Contacts, properties: props(&[("email", "a@example.com")]) })
        .unwrap();
    let b = st
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(&[("email", "b@example.com"), ("phone", "1")]),
        })
        .unwrap();
    let co =
        st.user_edit(UserEdit::Create { object: ObjectType::Companies, properties: props(&[("name", "Co")]) }).unwrap();
    st.user_edit(UserEdit::Associate { from: ObjectType::Contacts, id: a, to: ObjectType::Companies, to_id: co })
        .unwrap();
    st.user_edit(UserEdit::Merge { object: ObjectType::Contacts, primary: a, merged: b }).unwrap();
    st.user_edit(UserEdit::OptOut { contact: a, opted_out: true }).unwrap();
    st.user_edit(UserEdit::Delete { object: ObjectType::Companies, id: co }).unwrap();
    let want = ["contact.merge", "company.deletion", "contact.associationChange"];
    let got = rx
        .wait_for(|r| {
            let all: Vec<Value> = r.iter().flat_map(|d| d.events()).collect();
            want.iter().all(|k| !of_type(&all, k).is_empty())
        })
        .await;
    let all: Vec<Value> = got.iter().flat_map(|d| d.events()).collect();
    let merge = of_type(&all, "contact.merge")[0];
    assert_eq!(merge["primaryObjectId"], json!(a));
    assert_eq!(merge["mergedObjectIds"], json!([b]));
    assert_eq!(of_type(&all, "company.deletion")[0]["objectId"], json!(co));
    let assoc = of_type(&all, "contact.associationChange")[0];
    assert_eq!((assoc["fromObjectId"].clone(), assoc["toObjectId"].clone()), (json!(a), json!(co)));
    let optout: Vec<_> = of_type(&all, "contact.propertyChange")
        .into_iter()
        .filter(|e| e["propertyName"] == "hs_email_optout")
        .collect();
    assert_eq!(optout.len(), 1);
    assert_eq!(optout[0]["propertyValue"], "true");
    assert_eq!(
        st.properties(ObjectType::Contacts, a).unwrap().get("phone").map(String::as_str),
        Some("1"),
        "the merge moved the phone"
    );
}

#[tokio::test]
async fn duplicate_and_reordered_deliveries_can_be_asked_for() {
    let rx = Receiver::start(vec![]).await;
    let sb = sandbox(HubSpotOptions { webhook_duplicates: true, webhook_reorder: true, ..options(&rx.url) });
    let sb = sb.await;
    sb.hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(&[("email", "twice@example.com")]),
        })
        .unwrap();
    let got = rx.wait_for(|r| r.len() >= 2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body, "the same events, byte for byte");
    let events = got[0].events();
    assert_eq!(events.last().unwrap()["subscriptionType"], "contact.creation", "creation comes last when reordered");
}
