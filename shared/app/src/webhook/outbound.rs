//! Salesforce outbound messages: the SOAP envelope Salesforce posts, parsed
//! into notifications, and the acknowledgement it expects back.
//!
//! Owns the wire format only (reference A15); turning notifications into sync
//! intents is the webhook use case's job.

use quick_xml::Reader;
use quick_xml::events::Event;
use std::collections::BTreeMap;

/// Most notifications one outbound message carries (the WSDL's
/// `maxOccurs="100"`); a longer list is not from Salesforce.
pub const MAX_NOTIFICATIONS: usize = 100;

/// One outbound message delivery: up to [`MAX_NOTIFICATIONS`] notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The sending org (18 characters); checked against the configured org.
    pub organization_id: String,
    /// The outbound message definition that fired (for logs).
    pub action_id: String,
    pub notifications: Vec<Notification>,
}

/// One notification: a record of one sObject type with the selected fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notification id, stable across Salesforce's retries (dedupe key).
    pub id: String,
    /// The sObject type from `xsi:type` (`Lead`, `Contact`, `Account`, ...).
    pub sobject: String,
    /// The record id (always sent).
    pub record_id: String,
    /// The other fields sent, by API name; `None` for `xsi:nil`. A field that
    /// is absent was not sent, which does not mean it was cleared.
    pub fields: BTreeMap<String, Option<String>>,
}

/// Why a body is not an outbound message. Each one is answered with a 400
/// SOAP fault and one warning line; nothing of the body is queued.
#[derive(Debug, thiserror::Error)]
pub enum OutboundParseError {
    #[error("the body is not well-formed XML")]
    Xml(#[source] quick_xml::Error),
    #[error("the body is not UTF-8 text")]
    Encoding(#[source] quick_xml::encoding::EncodingError),
    #[error("the body has no <notifications> element")]
    NoNotifications,
    #[error("a notification lacks its {0}")]
    Missing(&'static str),
    /// The body ends inside an element: a cut-off delivery, which must not
    /// be acknowledged, so that Salesforce sends it again whole.
    #[error("the body ends inside <{0}>: the message is truncated")]
    Truncated(String),
    /// More notifications than Salesforce ever sends in one message.
    #[error("the message has more than {MAX_NOTIFICATIONS} notifications")]
    TooManyNotifications,
}

/// The SOAP acknowledgement Salesforce needs to stop retrying. Sent only
/// after the notifications are queued: an Ack is a promise of delivery.
pub const ACK: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    r#"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
);

/// An element or attribute name without its namespace prefix (`sf:Id` ->
/// `Id`): Salesforce's prefixes vary between orgs and API versions.
fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|b| *b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// A notification being read; its parts are checked when it closes.
#[derive(Default)]
struct Partial {
    id: Option<String>,
    sobject: Option<String>,
    record_id: Option<String>,
    fields: BTreeMap<String, Option<String>>,
}

/// Parses a SOAP outbound message body.
///
/// A streaming read over the elements by local name, rather than a typed
/// deserialisation: the envelope's namespaces and the sObject's fields vary
/// by org and by the fields chosen in the outbound message setup. Unknown
/// elements are ignored; a notification missing its id, type or record id
/// is an error, as the sync could not act on it. So are a body that ends
/// before its elements close (a truncated delivery: acknowledging it would
/// lose the cut-off notifications for good) and a list longer than
/// [`MAX_NOTIFICATIONS`].
pub fn parse(body: &str) -> Result<OutboundMessage, OutboundParseError> {
    let mut reader = Reader::from_str(body);
    let config = reader.config_mut();
    config.trim_text(true);
    config.expand_empty_elements = true;
    let mut state = State::default();
    loop {
        match reader.read_event().map_err(OutboundParseError::Xml)? {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(local(start.name().as_ref())).into_owned();
                state.nil = false;
                let mut xsi_type = None;
                for attr in start.attributes().flatten() {
                    let key = local(attr.key.as_ref()).to_vec();
                    let value = attr.decode_and_unescape_value(reader.decoder()).map_err(OutboundParseError::Xml)?;
                    if key == b"nil" && value == "true" {
                        state.nil = true;
                    } else if key == b"type" {
                        xsi_type = Some(String::from_utf8_lossy(local(value.as_bytes())).into_owned());
                    }
                }
                state.open(name, xsi_type);
            }
            Event::Text(t) => state.text.push_str(&t.decode().map_err(OutboundParseError::Encoding)?),
            Event::CData(t) => state.text.push_str(&t.decode().map_err(OutboundParseError::Encoding)?),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(OutboundParseError::Xml)? {
                    state.text.push(c);
                } else {
                    let name = r.decode().map_err(OutboundParseError::Encoding)?;
                    let resolved = quick_xml::escape::resolve_xml_entity(&name)
                        .ok_or(OutboundParseError::Missing("known entity"))?;
                    state.text.push_str(resolved);
                }
            }
            Event::End(_) => state.close()?,
            Event::Eof => {
                if let Some(open) = state.path.last() {
                    return Err(OutboundParseError::Truncated(open.clone()));
                }
                break;
            }
            _ => {}
        }
    }
    if !state.seen_root {
        return Err(OutboundParseError::NoNotifications);
    }
    Ok(state.message)
}

/// The reader's position: the open elements, the text of the innermost
/// one, and what has been gathered so far.
#[derive(Default)]
struct State {
    /// Open elements by local name.
    path: Vec<String>,
    /// Text gathered for the innermost open element.
    text: String,
    /// The open element carries `xsi:nil="true"`: a cleared field.
    nil: bool,
    /// A `<notifications>` element was seen: without one the body is not
    /// an outbound message at all.
    seen_root: bool,
    /// The notification being read, between its start and end tags.
    current: Option<Partial>,
    message: OutboundMessage,
}

impl State {
    /// An element starts: remember it, and start a notification or take
    /// the sObject's type from its `xsi:type`.
    fn open(&mut self, name: String, xsi_type: Option<String>) {
        match name.as_str() {
            "notifications" => self.seen_root = true,
            "Notification" => self.current = Some(Partial::default()),
            "sObject" => {
                if let Some(partial) = self.current.as_mut() {
                    partial.sobject = xsi_type;
                }
            }
            _ => {}
        }
        self.text.clear();
        self.path.push(name);
    }

    /// An element ends: its text goes where its parent says (message
    /// header, notification id, or an sObject field).
    fn close(&mut self) -> Result<(), OutboundParseError> {
        let Some(name) = self.path.pop() else {
            return Ok(());
        };
        let text = std::mem::take(&mut self.text);
        let parent = self.path.last().map(String::as_str);
        match (parent, name.as_str()) {
            (Some("notifications"), "OrganizationId") => self.message.organization_id = text,
            (Some("notifications"), "ActionId") => self.message.action_id = text,
            (Some("Notification"), "Id") => {
                if let Some(partial) = self.current.as_mut() {
                    partial.id = Some(text);
                }
            }
            (Some("sObject"), field) => {
                if let Some(partial) = self.current.as_mut() {
                    if field == "Id" {
                        partial.record_id = Some(text);
                    } else {
                        let value = if self.nil { None } else { Some(text) };
                        partial.fields.insert(field.to_owned(), value);
                    }
                }
            }
            (_, "Notification") => {
                if let Some(partial) = self.current.take() {
                    if self.message.notifications.len() == MAX_NOTIFICATIONS {
                        return Err(OutboundParseError::TooManyNotifications);
                    }
                    self.message.notifications.push(Notification {
                        id: partial.id.ok_or(OutboundParseError::Missing("Id"))?,
                        sobject: partial.sobject.ok_or(OutboundParseError::Missing("sObject type"))?,
                        record_id: partial.record_id.ok_or(OutboundParseError::Missing("record Id"))?,
                        fields: partial.fields,
                    });
                }
            }
            _ => {}
        }
        self.nil = false;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soapenv:Body>
    <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
      <OrganizationId>00DRO000000AbCdEAF</OrganizationId>
      <ActionId>04kRO000000XyZaYAK</ActionId>
      <SessionId xsi:nil="true"/>
      <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/60.0/00DRO000000AbCd</EnterpriseUrl>
      <Notification>
        <Id>04lRO00000Gx7QzYAJ</Id>
        <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
          <sf:Id>003RO0000035WQgYAM</sf:Id>
          <sf:Email>ada&amp;co@example.com</sf:Email>
          <sf:Title xsi:nil="true"/>
          <sf:HasOptedOutOfEmail>false</sf:HasOptedOutOfEmail>
        </sObject>
      </Notification>
      <Notification>
        <Id>04lRO00000Gx7QzYAK</Id>
        <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
          <sf:Id>00QRO0000035WQgYAM</sf:Id>
        </sObject>
      </Notification>
    </notifications>
  </soapenv:Body>
</soapenv:Envelope>"#;

    #[test]
    fn a_message_with_two_notifications_parses_into_both_records() {
        let message = parse(SAMPLE).unwrap();
        assert_eq!(message.organization_id, "00DRO000000AbCdEAF");
        assert_eq!(message.notifications.len(), 2);
        let first = &message.notifications[0];
        assert_eq!(first.id, "04lRO00000Gx7QzYAJ");
        assert_eq!(first.sobject, "Contact");
        assert_eq!(first.record_id, "003RO0000035WQgYAM");
        assert_eq!(first.fields["Email"].as_deref(), Some("ada&co@example.com"));
        assert_eq!(first.fields["Title"], None);
        assert_eq!(message.notifications[1].sobject, "Lead");
    }

    #[test]
    fn a_body_that_is_not_an_outbound_message_is_rejected() {
        assert!(parse("<a><b>1</b></a>").is_err());
        assert!(parse("not xml <<").is_err());
    }

    #[test]
    fn a_truncated_message_is_rejected_wherever_it_is_cut() {
        let end = SAMPLE.find("</soapenv:Envelope>").unwrap();
        for cut in [SAMPLE.find("</Notification>").unwrap() + "</Notification>".len(), end - 1, end] {
            assert!(matches!(parse(&SAMPLE[..cut]), Err(OutboundParseError::Truncated(_))), "cut at {cut}");
        }
        assert!(parse(SAMPLE).is_ok());
    }

    #[test]
    fn a_hundred_notifications_parse_and_one_more_is_rejected() {
        let one =
            r#"<Notification><Id>04l</Id><sObject type="sf:Lead"><Id>00Q000000000001</Id></sObject></Notification>"#;
        let body = |n: usize| format!("<notifications>{}</notifications>", one.repeat(n));
        assert_eq!(parse(&body(MAX_NOTIFICATIONS)).unwrap().notifications.len(), MAX_NOTIFICATIONS);
        assert!(matches!(parse(&body(MAX_NOTIFICATIONS + 1)), Err(OutboundParseError::TooManyNotifications)));
    }

    #[test]
    fn a_notification_without_a_record_id_is_rejected() {
        let body = r#"<notifications><Notification><Id>1</Id><sObject type="sf:Lead"></sObject></Notification></notifications>"#;
        assert!(matches!(parse(body), Err(OutboundParseError::Missing(_))));
    }
}
