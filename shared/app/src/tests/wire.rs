//! Webhook wire formats: HubSpot event arrays and Salesforce outbound
//! messages (parsing only; the use case is tested in `webhook.rs`).

use crate::webhook::hubspot_events::{self, EventAction};
use crate::webhook::outbound::{self, ACK, OutboundParseError};

fn event(json: &str) -> hubspot_events::HubspotEvent<'static> {
    // (The event borrows its body; a test's few bodies may live on.)
    let body: &'static str = Box::leak(format!("[{json}]").into_boxed_str());
    hubspot_events::parse(body.as_bytes()).unwrap().remove(0)
}

#[test]
fn an_association_change_concerns_the_record_it_starts_from() {
    let e = event(r#"{"eventId":1,"subscriptionType":"contact.associationChange","fromObjectId":5,"toObjectId":9}"#);
    assert_eq!(e.action(), EventAction::AssociationChanged);
    assert_eq!(e.record_ids(), vec![5]);
}

#[test]
fn deletions_and_privacy_deletions_are_both_deletions() {
    for kind in ["deletion", "privacyDeletion"] {
        let e = event(&format!(r#"{{"eventId":1,"subscriptionType":"company.{kind}","objectId":3}}"#));
        assert_eq!(e.action(), EventAction::Deleted);
        assert_eq!(e.record_ids(), vec![3]);
    }
}

#[test]
fn a_restore_is_a_change_of_the_restored_record() {
    let e = event(r#"{"eventId":1,"subscriptionType":"deal.restore","objectId":8}"#);
    assert_eq!(e.action(), EventAction::Changed);
    assert_eq!(e.object(), "deal");
}

#[test]
fn an_unknown_event_kind_is_ignored_and_concerns_no_record() {
    let e = event(r#"{"eventId":1,"subscriptionType":"contact.somethingNew","objectId":8}"#);
    assert_eq!(e.action(), EventAction::Ignored);
    assert!(e.record_ids().is_empty());
}

#[test]
fn a_subscription_type_without_a_dot_names_its_whole_object_and_no_action() {
    let e = event(r#"{"eventId":1,"subscriptionType":"contact","objectId":8}"#);
    assert_eq!(e.object(), "contact");
    assert_eq!(e.action(), EventAction::Ignored);
}

#[test]
fn a_merge_with_a_new_object_id_concerns_the_new_record_which_carries_the_merged_ones() {
    let e = event(
        r#"{"eventId":1,"subscriptionType":"contact.merge","objectId":5,"primaryObjectId":5,"newObjectId":20,"mergedObjectIds":[6,5]}"#,
    );
    assert_eq!(e.record_ids(), vec![20]);
    assert_eq!(e.merged_ids(), vec![5, 6], "the primary first");
}

#[test]
fn property_values_with_escapes_read_as_their_text_and_plain_ones_as_written() {
    let e = event(
        r#"{"eventId":1,"subscriptionType":"contact.propertyChange","objectId":8,"propertyName":"lastname","propertyValue":"Zo\u00eb \"Z\" \\ O'Neil"}"#,
    );
    assert_eq!(e.property_value.as_deref(), Some(r#"Zoë "Z" \ O'Neil"#));
    assert_eq!(e.property_name.as_deref(), Some("lastname"));
    assert!(matches!(e.property_name, Some(std::borrow::Cow::Borrowed(_))), "read in place: {:?}", e.property_name);
    assert_eq!(e.object(), "contact");
    assert!(
        hubspot_events::parse(br#"[{"eventId":1,"subscriptionType":"contact.creation","propertyValue":"\ud800"}]"#)
            .is_err()
    );
}

#[test]
fn an_empty_delivery_is_an_empty_list_of_events() {
    assert!(hubspot_events::parse(b"[]").unwrap().is_empty());
}

const ENVELOPE_START: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>00D000000000001</OrganizationId><ActionId>04k000000000001</ActionId>"#;
const ENVELOPE_END: &str = "</notifications></soapenv:Body></soapenv:Envelope>";

fn message(notifications: &str) -> Result<outbound::OutboundMessage, OutboundParseError> {
    outbound::parse(&format!("{ENVELOPE_START}{notifications}{ENVELOPE_END}"))
}

#[test]
fn an_outbound_message_without_notifications_parses_to_none() {
    let m = message("").unwrap();
    assert_eq!(m.organization_id, "00D000000000001");
    assert_eq!(m.action_id, "04k000000000001");
    assert!(m.notifications.is_empty());
}

#[test]
fn an_outbound_field_sent_as_nil_is_none_and_a_field_not_sent_is_absent() {
    let m = message(
        r#"<Notification><Id>n1</Id><sObject xsi:type="sf:Lead" xmlns:sf="urn:x"><sf:Id>00Q000000000001</sf:Id><sf:Title xsi:nil="true"/><sf:Company>Acme&lt;UK&gt;&#169;</sf:Company></sObject></Notification>"#,
    )
    .unwrap();
    let n = &m.notifications[0];
    assert_eq!(n.fields.get("Title"), Some(&None));
    assert_eq!(n.fields.get("Company"), Some(&Some("Acme<UK>\u{a9}".to_owned())));
    assert!(!n.fields.contains_key("Email"));
}

#[test]
fn an_outbound_notification_without_its_sobject_type_is_rejected() {
    let r = message(r#"<Notification><Id>n1</Id><sObject><Id>00Q000000000001</Id></sObject></Notification>"#);
    assert!(matches!(r, Err(OutboundParseError::Missing("sObject type"))), "{r:?}");
}

#[test]
fn the_acknowledgement_is_a_soap_envelope_saying_ack_true() {
    assert!(ACK.starts_with("<?xml"));
    assert!(ACK.contains("<Ack>true</Ack>"));
    assert!(ACK.contains("notificationsResponse"));
}
