//! Outbound messages (crm-api.md A15): after a create or update, a SOAP
//! notification with the record's latest values is POSTed to the configured
//! URL and re-sent with growing delays until it answers `<Ack>true</Ack>`.

use super::SalesforceState;
use super::data::Org;
use super::ids::SfId;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// Notifications per message (WSDL `maxOccurs="100"`).
const MAX_PER_MESSAGE: usize = 100;

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// The SOAP envelope for records of one object.
pub fn envelope(org: &Org, object: usize, records: &[(String, SfId)], base_url: &str) -> String {
    let def = &org.objects[object];
    let mut out = String::new();
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str(r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#);
    out.push_str("<soapenv:Body><notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">");
    let _ = write!(out, "<OrganizationId>{}</OrganizationId>", super::ORG_ID);
    let _ = write!(out, "<ActionId>{}</ActionId>", SfId::generate("04k", object as u64));
    out.push_str(r#"<SessionId xsi:nil="true"/>"#);
    let _ = write!(
        out,
        "<EnterpriseUrl>{}/services/Soap/c/66.0/{}</EnterpriseUrl>",
        escape(base_url),
        &super::ORG_ID[..15]
    );
    let _ = write!(out, "<PartnerUrl>{}/services/Soap/u/66.0/{}</PartnerUrl>", escape(base_url), &super::ORG_ID[..15]);
    for (notification, id) in records {
        let Some(record) = org.get(object, id) else { continue };
        let _ = write!(out, "<Notification><Id>{notification}</Id>");
        let _ =
            write!(out, r#"<sObject xsi:type="sf:{}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">"#, def.name);
        for (ix, field) in def.fields.iter().enumerate() {
            let v = org.value(object, record, ix);
            if v.is_null() {
                continue;
            }
            let _ = write!(out, "<sf:{0}>{1}</sf:{0}>", field.name, escape(&v.to_text(field.ty)));
        }
        out.push_str("</sObject></Notification>");
    }
    out.push_str("</notifications></soapenv:Body></soapenv:Envelope>");
    out
}

/// Delivers queued notifications until the sender is dropped.
pub async fn run(state: Arc<SalesforceState>, mut rx: UnboundedReceiver<(usize, SfId)>) {
    let Some(url) = state.options.outbound_url.clone() else { return };
    let http = reqwest::Client::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_PER_MESSAGE * 4 {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        for (object, records) in messages(&state, &batch) {
            deliver(&state, &http, &url, object, &records).await;
        }
    }
}

/// Queued notifications as messages: one object per message, at most
/// [`MAX_PER_MESSAGE`] notifications each, every notification with its own id.
pub fn messages(state: &SalesforceState, batch: &[(usize, SfId)]) -> Vec<(usize, Vec<(String, SfId)>)> {
    let mut objects: Vec<usize> = batch.iter().map(|(o, _)| *o).collect();
    objects.sort_unstable();
    objects.dedup();
    let mut out = Vec::new();
    for object in objects {
        let ids: Vec<SfId> = batch.iter().filter(|(o, _)| *o == object).map(|(_, id)| *id).collect();
        for chunk in ids.chunks(MAX_PER_MESSAGE) {
            let records: Vec<(String, SfId)> =
                chunk.iter().map(|id| (SfId::generate("04l", state.next_number()).to_string(), *id)).collect();
            out.push((object, records));
        }
    }
    out
}

async fn deliver(
    state: &SalesforceState,
    http: &reqwest::Client,
    url: &str,
    object: usize,
    records: &[(String, SfId)],
) {
    let stats = &state.outbound_stats;
    let mut delay = state.options.outbound_retry;
    for attempt in 1..=state.options.outbound_max_attempts {
        // Latest values on every attempt: intermediate states are not replayed.
        let body = {
            let org = state.org_read();
            envelope(&org, object, records, &state.base_url())
        };
        stats.attempts.fetch_add(1, Ordering::SeqCst);
        let acked = match http
            .post(url)
            .header("content-type", "text/xml; charset=utf-8")
            .header("soapaction", "\"\"")
            .body(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|t| t.contains("<Ack>true</Ack>")),
            Ok(_) | Err(_) => false,
        };
        if acked {
            stats.delivered.fetch_add(1, Ordering::SeqCst);
            stats.notifications.fetch_add(records.len() as u64, Ordering::SeqCst);
            return;
        }
        if state.outbound_stopped() {
            return;
        }
        tracing::debug!(attempt, "outbound message not acknowledged; will retry");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
    stats.dropped.fetch_add(1, Ordering::SeqCst);
    tracing::warn!(notifications = records.len(), "outbound message dropped after the last attempt");
}
