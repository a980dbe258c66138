//! Adapts a Lambda Function URL request to the webhook use cases and their
//! answer back to an HTTP response. Routes:
//! - `POST /webhooks/hubspot`: a HubSpot webhook delivery;
//! - `POST /webhooks/salesforce`: a Salesforce outbound message (SOAP Ack);
//! - `GET /healthz`: liveness.
//!
//! The same paths as the local runtime's webhook server. No logic here:
//! verification, de-duplication and queueing are the use cases' job.

use crm_sync_app::App;
use crm_sync_app::usecases::webhook::{
    WebhookRequest, WebhookResponse, handle_hubspot_webhook, handle_salesforce_outbound,
};
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use std::collections::BTreeMap;

/// Path of HubSpot webhook deliveries.
pub const HUBSPOT_PATH: &str = "/webhooks/hubspot";
/// Path of Salesforce outbound messages.
pub const SALESFORCE_PATH: &str = "/webhooks/salesforce";

/// Handles one Function URL request. Never fails: every outcome is an HTTP
/// answer (a failure to queue is a 5xx the sender retries).
pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let path = request.uri().path().to_owned();
    let is_post = request.method() == lambda_http::http::Method::POST;
    let answer = match (path.as_str(), is_post) {
        (HUBSPOT_PATH, true) => handle_hubspot_webhook(app, to_webhook_request(request)).await,
        (SALESFORCE_PATH, true) => handle_salesforce_outbound(app, to_webhook_request(request)).await,
        (HUBSPOT_PATH | SALESFORCE_PATH, false) => plain(405, "method not allowed"),
        ("/healthz", _) => plain(200, "ok"),
        _ => plain(404, "not found"),
    };
    Ok(to_response(answer))
}

fn plain(status: u16, body: &str) -> WebhookResponse {
    WebhookResponse { status, body: body.to_owned(), content_type: "text/plain; charset=utf-8" }
}

/// The request as the use cases take it: the full URL the sender addressed
/// (scheme, Function URL host, path and raw query, which is what HubSpot
/// signs), lower-case header names, and the body bytes exactly as received.
pub fn to_webhook_request(request: Request) -> WebhookRequest {
    let (parts, body) = request.into_parts();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_ascii_lowercase(), value.to_str().ok()?.to_owned())))
        .collect();
    let body = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
    };
    WebhookRequest { method: parts.method.to_string(), uri: parts.uri.to_string(), headers, body }
}

/// The use case's answer as an HTTP response.
pub fn to_response(answer: WebhookResponse) -> Response<Body> {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::Text(answer.body));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(answer.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
