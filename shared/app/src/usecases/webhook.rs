//! Webhook deliveries: HubSpot event arrays and Salesforce outbound messages.
//!
//! Each handler verifies, drops (HubSpot) events that only echo what the
//! links hold ([`super::echoes`]) and events already seen, turns the rest
//! into sync intents and queues them, and only then answers 2xx (or the SOAP Ack): a
//! 2xx means durably queued. Event ids are marked seen before queueing; when
//! the queueing fails, the ids also get a requeue mark, so that the sender's
//! retry of the same event is queued rather than dropped as a duplicate
//! (see [`claim_events`]). Bad
//! input gets 401/400 and one warning log line, and nothing is queued. It does
//! no CRM calls: the answer must come back within HubSpot's 5 seconds.

use crate::App;
use crate::messages::queue_intents;
use crate::usecases::echoes;
use crate::webhook::hubspot_events::{self, EventAction};
use crate::webhook::outbound::{self, OutboundParseError};
use chrono::{DateTime, TimeZone, Utc};
use crm_sync_domain::intent::{SyncIntent, Trigger};
use crm_sync_domain::model::{HubSpotId, ObjectPair, SalesforceId, SfObject};
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{info, instrument, warn};

/// An HTTP request as the runtime received it.
#[derive(Debug, Clone, Default)]
pub struct WebhookRequest {
    /// The HTTP method as received (`POST`); part of the signed text.
    pub method: String,
    /// The request URI: a full URL, or path and query (then
    /// [`crate::WebhookSecrets::public_base_url`] supplies the rest).
    pub uri: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The raw body: signatures cover these exact bytes, so it is never
    /// re-encoded before verification.
    pub body: Vec<u8>,
}

impl WebhookRequest {
    /// A header value by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The answer to send back. A 2xx (or the SOAP Ack) promises the sender
/// that the events are durably queued; anything else asks it to retry
/// (5xx) or tells it the delivery will never be accepted (4xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    /// Plain text for HubSpot, a SOAP envelope for Salesforce.
    pub body: String,
    pub content_type: &'static str,
}

impl WebhookResponse {
    fn text(status: u16, body: impl Into<String>) -> Self {
        WebhookResponse { status, body: body.into(), content_type: "text/plain; charset=utf-8" }
    }
}

/// The URL the sender signed: the request's own when it is absolute, else
/// the configured public base URL in front of the path.
fn full_uri(app: &App, uri: &str) -> String {
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return uri.to_owned();
    }
    match &app.secrets().public_base_url {
        Some(base) => format!("{}{}", base.trim_end_matches('/'), uri),
        None => uri.to_owned(),
    }
}

/// Suffix of the mark left on an event id whose intents could not be queued.
const REQUEUE_MARK: &str = ":requeue";

/// Which events of a delivery to queue, in order: those never seen, and
/// those seen before whose queueing failed (they carry a requeue mark).
/// The requeue marks are only probed here (a zero lifetime, so probing an
/// absent mark leaves nothing behind). After a requeue, later duplicates of
/// that one event are let through too: the sync is idempotent, so they cost
/// a read and write nothing.
async fn claim_events(app: &App, keys: &[String]) -> Result<Vec<bool>, crm_sync_store::StoreError> {
    let mut claimed = app.store().mark_events_seen(keys, app.settings().seen_event_ttl).await?;
    let seen: Vec<usize> = (0..keys.len()).filter(|&i| !claimed[i]).collect();
    if seen.is_empty() {
        return Ok(claimed);
    }
    let probes: Vec<String> = seen.iter().map(|&i| format!("{}{REQUEUE_MARK}", keys[i])).collect();
    let absent = app.store().mark_events_seen(&probes, Duration::ZERO).await?;
    for (&i, absent) in seen.iter().zip(absent) {
        claimed[i] = !absent;
    }
    Ok(claimed)
}

/// Leaves a requeue mark on the claimed events after their queueing failed.
async fn mark_for_requeue(app: &App, keys: &[String], claimed: &[bool]) {
    let marks: Vec<String> =
        keys.iter().zip(claimed).filter(|(_, claimed)| **claimed).map(|(k, _)| format!("{k}{REQUEUE_MARK}")).collect();
    if marks.is_empty() {
        return;
    }
    if let Err(error) = app.store().mark_events_seen(&marks, app.settings().seen_event_ttl).await {
        // The sweep still picks these records up within its window.
        warn!(%error, "RequeueMarkNotStored");
    }
}

/// The pair a HubSpot event's object belongs to; other objects (tickets,
/// products...) are not synced and their events are dropped.
fn hubspot_pair(object: &str) -> Option<ObjectPair> {
    match object {
        "contact" => Some(ObjectPair::Contact),
        "company" => Some(ObjectPair::Company),
        "deal" => Some(ObjectPair::Deal),
        _ => None,
    }
}

/// Handles one HubSpot webhook delivery: 401 for a bad or stale signature,
/// 400 for a body that is not an event array, 503 when the store or the
/// queue is down (HubSpot retries), else 200 with every new event's records
/// queued as intents (one per record, timed at the event).
#[instrument(skip_all, fields(events = tracing::field::Empty, queued = tracing::field::Empty))]
pub async fn handle_hubspot_webhook(app: &App, request: WebhookRequest) -> WebhookResponse {
    let now = app.clock().now();
    let uri = full_uri(app, &request.uri);
    if let Err(reason) = app.hubspot().verify_webhook(
        app.secrets().hubspot_client_secret.expose(),
        &request.method,
        &uri,
        &request.headers,
        &request.body,
        now,
    ) {
        warn!(%reason, "WebhookRejected");
        return WebhookResponse::text(401, "invalid signature");
    }
    let events = match hubspot_events::parse(&request.body) {
        Ok(events) => events,
        Err(error) => {
            warn!(reason = "malformed body", %error, "WebhookRejected");
            return WebhookResponse::text(400, "the body is not a JSON array of HubSpot events");
        }
    };
    tracing::Span::current().record("events", events.len());
    // Echoes first: a record whose every event reports what its link holds
    // is dropped without a store write (a redelivered echo is an echo
    // again), so only the events that can queue something are claimed.
    let reports = echoes::reports(&events, hubspot_pair);
    let known = echoes::known_records(app, &reports).await;
    let wanted: Vec<(usize, ObjectPair)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, event)| Some((i, hubspot_pair(event.object())?)))
        .filter(|(i, pair)| {
            let event = &events[*i];
            event.action() != EventAction::Ignored && event.record_id().is_some_and(|id| !known.contains(&(*pair, id)))
        })
        .collect();
    let keys: Vec<String> = wanted.iter().map(|(i, _)| format!("hubspot:{}", events[*i].event_id)).collect();
    let fresh = if keys.is_empty() {
        Vec::new()
    } else {
        match claim_events(app, &keys).await {
            Ok(fresh) => fresh,
            Err(error) => {
                warn!(%error, "WebhookDeferred");
                return WebhookResponse::text(503, "state store unavailable; retry later");
            }
        }
    };
    let mut intents = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (&(i, pair), &fresh) in wanted.iter().zip(&fresh) {
        if !fresh {
            continue;
        }
        let event = &events[i];
        let at = event.occurred_at.and_then(|ms| Utc.timestamp_millis_opt(ms).single()).unwrap_or(now);
        // A merge's records merged away ride on the survivor's intent.
        let merged: Vec<HubSpotId> =
            event.merged_ids().iter().filter_map(|id| HubSpotId::parse(&id.to_string()).ok()).collect();
        for raw in event.record_ids() {
            let Ok(id) = HubSpotId::parse(&raw.to_string()) else { continue };
            // Not told from an echo here (its link may not be stored yet):
            // the worker checks again before any API call.
            let reported = reports.get(&(pair, raw)).cloned().flatten().unwrap_or_default();
            let intent =
                SyncIntent::hubspot_merge(pair, id, merged.clone(), Trigger::Webhook, at).with_reported(reported);
            if seen.insert(intent.dedup_key()) {
                intents.push(intent);
            }
        }
    }
    let queued = intents.len();
    if let Err(error) = queue_intents(app, intents).await {
        // HubSpot retries a non-2xx delivery: let that retry through.
        mark_for_requeue(app, &keys, &fresh).await;
        warn!(%error, "WebhookDeferred");
        return WebhookResponse::text(503, "queue unavailable; retry later");
    }
    tracing::Span::current().record("queued", queued);
    app.note_echoes(known.iter().copied());
    info!(queued, echoes = known.len(), "WebhookAccepted");
    WebhookResponse::text(200, "")
}

/// A SOAP fault: what Salesforce understands as "not delivered". The
/// message is one of ours, never the sender's text (no escaping needed).
fn soap_fault(status: u16, message: &str) -> WebhookResponse {
    let body = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>"#,
            r#"<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>{}</faultstring></soapenv:Fault>"#,
            r#"</soapenv:Body></soapenv:Envelope>"#
        ),
        message
    );
    WebhookResponse { status, body, content_type: "text/xml; charset=utf-8" }
}

/// Handles one Salesforce outbound message and answers the SOAP Ack. A
/// message from an org other than the synced one (or any message while that
/// org is not known, see [`crate::SalesforceOrg`]) gets 401, a malformed,
/// truncated or over-long one 400, both as SOAP faults, with nothing stored
/// or queued; Salesforce keeps resending an unacknowledged message for 24
/// hours, so the Ack is sent only once the intents are queued.
#[instrument(skip_all, fields(notifications = tracing::field::Empty, queued = tracing::field::Empty))]
pub async fn handle_salesforce_outbound(app: &App, request: WebhookRequest) -> WebhookResponse {
    let now: DateTime<Utc> = app.clock().now();
    let Ok(text) = std::str::from_utf8(&request.body) else {
        warn!(reason = "body is not UTF-8", "WebhookRejected");
        return soap_fault(400, "the body is not UTF-8");
    };
    let message = match outbound::parse(text) {
        Ok(message) => message,
        Err(error) => {
            warn!(reason = "malformed body", %error, "WebhookRejected");
            let fault = match error {
                OutboundParseError::Truncated(_) => "the message is truncated",
                OutboundParseError::TooManyNotifications => "more than 100 notifications",
                _ => "the body is not a Salesforce outbound message",
            };
            return soap_fault(400, fault);
        }
    };
    if let Err(reason) = app.secrets().salesforce_org.check(&message.organization_id) {
        warn!(%reason, "WebhookRejected");
        return soap_fault(401, "unknown organization");
    }
    tracing::Span::current().record("notifications", message.notifications.len());
    let keys: Vec<String> = message.notifications.iter().map(|n| format!("salesforce:{}", n.id)).collect();
    let fresh = match claim_events(app, &keys).await {
        Ok(fresh) => fresh,
        Err(error) => {
            warn!(%error, "WebhookDeferred");
            return soap_fault(503, "state store unavailable");
        }
    };
    let mut intents = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (notification, &fresh) in message.notifications.iter().zip(&fresh) {
        if !fresh {
            continue;
        }
        let (Some(object), Ok(id)) =
            (SfObject::parse(&notification.sobject), SalesforceId::parse(&notification.record_id))
        else {
            warn!(sobject = %notification.sobject, "NotificationSkipped");
            continue;
        };
        let intent = SyncIntent::salesforce(object, id, Trigger::Webhook, now);
        if seen.insert(intent.record_key()) {
            intents.push(intent);
        }
    }
    let queued = intents.len();
    if let Err(error) = queue_intents(app, intents).await {
        // Salesforce resends an un-acknowledged message: let it through.
        mark_for_requeue(app, &keys, &fresh).await;
        warn!(%error, "WebhookDeferred");
        return soap_fault(503, "queue unavailable");
    }
    tracing::Span::current().record("queued", queued);
    info!(queued, "OutboundMessageAccepted");
    WebhookResponse { status: 200, body: outbound::ACK.to_owned(), content_type: "text/xml; charset=utf-8" }
}
