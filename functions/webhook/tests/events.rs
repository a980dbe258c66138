//! The sample events of the webhook function parse as the Function URL
//! requests Lambda delivers, and map to what the webhook use cases expect.

#![allow(clippy::unwrap_used)]

use crm_sync_webhook::{HUBSPOT_PATH, SALESFORCE_PATH, to_webhook_request};

fn request(file: &str) -> lambda_http::Request {
    let path = format!("{}/../../events/{file}", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap();
    lambda_http::request::from_str(&json).unwrap()
}

#[test]
fn the_hubspot_sample_is_a_signed_post_to_the_hubspot_path_with_its_body_intact() {
    let req = to_webhook_request(request("webhook-hubspot.json"));
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri, format!("https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws{HUBSPOT_PATH}"));
    assert!(req.headers.contains_key("x-hubspot-signature-v3"));
    assert_eq!(req.headers.get("x-hubspot-request-timestamp").map(String::as_str), Some("1714563605000"));
    let events: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(events.as_array().map(Vec::len), Some(2));
}

#[test]
fn the_salesforce_sample_is_a_soap_post_to_the_salesforce_path() {
    let req = to_webhook_request(request("webhook-salesforce-outbound.json"));
    assert_eq!(req.method, "POST");
    assert!(req.uri.ends_with(SALESFORCE_PATH), "{}", req.uri);
    assert!(req.headers["content-type"].starts_with("text/xml"));
    let body = String::from_utf8(req.body).unwrap();
    assert_eq!(body.matches("<Notification>").count(), 2);
}
