//! The stages one by one: units, read, matching, write (plan and settle),
//! store links.

use super::*;
use crate::codec::LIFECYCLE_KEY;
use crate::ports::WriteResult;
use crate::testing::crm_error;
use crate::usecases::sync::units::read_links;
use crm_sync_crm::error::System;

/// Builds a pair pipeline, runs `f` on it and returns what `f` returns.
macro_rules! with_pair {
    ($t:expr, $pair:expr, |$sync:ident| $body:block) => {{
        let mut stats = SyncStats::default();
        #[allow(unused_mut)]
        let mut $sync = PairSync::new(&$t.app, $pair, &mut stats);
        $body
    }};
}

// --- units -----------------------------------------------------------------

#[tokio::test]
async fn two_intents_for_one_record_make_one_unit_answering_both() {
    let t = TestApp::new();
    let id = "00Q000000000001";
    let intents = [sf_intent(&t, SfObject::Lead, id), sf_intent(&t, SfObject::Lead, id)];
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&intents).await.unwrap();
        assert_eq!(sync.units.len(), 1);
        assert_eq!(sync.units[0].intent_keys.len(), 2);
    });
}

#[tokio::test]
async fn intents_for_both_sides_of_a_link_join_one_unit_with_both_ids() {
    let t = TestApp::new();
    let lead = SalesforceId::parse("00Q000000000001").unwrap();
    t.put_link(ObjectPair::Contact, "Lead", lead.as_str(), "501").await;
    let intents = [hs_intent(&t, ObjectPair::Contact, "501"), sf_intent(&t, SfObject::Lead, lead.as_str())];
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&intents).await.unwrap();
        assert_eq!(sync.units.len(), 1);
        let unit = &sync.units[0];
        assert_eq!(unit.sf_id.as_deref(), Some(lead.as_str()));
        assert_eq!(unit.hs_id.as_deref(), Some("501"));
        assert_eq!(unit.sf_object, Some(SfObject::Lead));
        assert!(unit.link.is_some());
    });
}

#[tokio::test]
async fn an_unlinked_intent_is_a_unit_with_only_its_own_id_and_a_forced_one_forces_it() {
    let t = TestApp::new();
    let mut resync = hs_intent(&t, ObjectPair::Contact, "502");
    resync.trigger = Trigger::Resync;
    let intents = [hs_intent(&t, ObjectPair::Contact, "502"), resync];
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&intents).await.unwrap();
        assert_eq!(sync.units.len(), 1);
        assert_eq!(sync.units[0].sf_id, None);
        assert!(sync.units[0].link.is_none());
        assert!(sync.units[0].forced, "a resync joining the unit forces it");
    });
}

#[tokio::test]
async fn links_are_read_for_a_batch_by_either_id_and_unlinked_ids_are_absent() {
    let t = TestApp::new();
    let a = SalesforceId::parse("00Q000000000001").unwrap();
    let b = SalesforceId::parse("00Q000000000002").unwrap();
    t.put_link(ObjectPair::Contact, "Lead", a.as_str(), "601").await;
    t.put_link(ObjectPair::Contact, "Lead", b.as_str(), "602").await;
    let sf = vec![a.as_str().to_owned(), a.as_str().to_owned(), "00Q000000000009".to_owned()];
    let hs = vec!["602".to_owned(), "699".to_owned()];
    let links = read_links(&t.app, ObjectPair::Contact, &sf, &hs).await.unwrap();
    assert_eq!(links.by_salesforce(a.as_str()).map(|l| l.hubspot_id.as_str()), Some("601"));
    assert_eq!(links.by_hubspot("602").map(|l| l.salesforce_id.as_str()), Some(b.as_str()));
    assert!(links.by_hubspot("699").is_none());
    assert!(links.by_salesforce("00Q000000000009").is_none());
}

// --- read ------------------------------------------------------------------

#[tokio::test]
async fn both_sides_of_linked_units_are_read_with_one_call_per_side() {
    let t = TestApp::new();
    let (lead_a, _) = linked_contact(&t, "a@example.com").await;
    let (lead_b, _) = linked_contact(&t, "b@example.com").await;
    let intents = [sf_intent(&t, SfObject::Lead, &lead_a), sf_intent(&t, SfObject::Lead, &lead_b)];
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&intents).await.unwrap();
        sync.read().await;
        assert!(sync.units.iter().all(|u| u.sf.is_some() && u.hs.is_some() && !u.origin_missing));
    });
    assert_eq!(t.hubspot.calls().invocations("batch_read"), 1);
    assert_eq!(t.salesforce.calls().invocations("retrieve"), 1);
}

#[tokio::test]
async fn a_record_gone_from_its_own_side_marks_its_unit_origin_missing() {
    let t = TestApp::new();
    let (lead, _) = linked_contact(&t, "a@example.com").await;
    t.salesforce.delete("Lead", &lead);
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&[sf_intent(&t, SfObject::Lead, &lead)]).await.unwrap();
        sync.read().await;
        assert!(sync.units[0].origin_missing);
        assert!(sync.units[0].hs.is_some());
    });
}

#[tokio::test]
async fn a_failed_read_sets_its_units_to_retry_and_leaves_them_unread() {
    let t = TestApp::new();
    let (lead, _) = linked_contact(&t, "a@example.com").await;
    t.hubspot.calls().fail_next("batch_read", 1, &crm_error(System::HubSpot, 503, "UNAVAILABLE", true));
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&[sf_intent(&t, SfObject::Lead, &lead)]).await.unwrap();
        sync.read().await;
        assert!(matches!(sync.units[0].result, Some(RecordResult::Retry(_))), "{:?}", sync.units[0].result);
        assert!(!sync.units[0].origin_missing, "a failed read is not a deletion");
    });
}

// --- matching --------------------------------------------------------------

#[tokio::test]
async fn an_unlinked_hubspot_contact_finds_its_lead_by_email() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "ada@example.com", "LastName": "L"}));
    let contact = t.hubspot.insert("contacts", json!({"email": "ADA@example.com"}));
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&[hs_intent(&t, ObjectPair::Contact, &contact)]).await.unwrap();
        sync.read().await;
        sync.match_unlinked().await;
        assert_eq!(sync.units[0].sf_id.as_deref(), Some(lead.as_str()));
        assert_eq!(sync.units[0].sf_object, Some(SfObject::Lead));
    });
}

#[tokio::test]
async fn of_two_salesforce_records_with_one_email_one_is_matched_and_the_other_reported() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "ada@example.com", "LastName": "L"}));
    let person = t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "L"}));
    let contact = t.hubspot.insert("contacts", json!({"email": "ada@example.com"}));
    let mut stats = SyncStats::default();
    {
        let mut sync = PairSync::new(&t.app, ObjectPair::Contact, &mut stats);
        sync.collect(&[hs_intent(&t, ObjectPair::Contact, &contact)]).await.unwrap();
        sync.read().await;
        sync.match_unlinked().await;
        assert_eq!(sync.units[0].sf_id.as_deref(), Some(person.as_str()), "an unconverted Contact wins");
    }
    assert_eq!(stats.errors.get("duplicates"), Some(&1));
    assert!(t.app.store().get_error(&format!("contact:salesforce:{lead}")).await.unwrap().is_some());
}

#[tokio::test]
async fn a_salesforce_record_that_is_not_the_pick_of_its_email_is_quarantined_unmatched() {
    let t = TestApp::new();
    let older = t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "Older"}));
    t.advance(Duration::from_secs(60));
    let newer = t.salesforce.insert("Contact", json!({"Email": "Ada@Example.com", "LastName": "Newer"}));
    t.hubspot.insert("contacts", json!({"email": "ada@example.com"}));
    let mut stats = SyncStats::default();
    {
        let mut sync = PairSync::new(&t.app, ObjectPair::Contact, &mut stats);
        sync.collect(&[sf_intent(&t, SfObject::Contact, &newer)]).await.unwrap();
        sync.read().await;
        sync.match_unlinked().await;
        match &sync.units[0].result {
            Some(RecordResult::Failed(message)) => assert!(message.contains(&older), "{message}"),
            other => panic!("the record is quarantined, not {other:?}"),
        }
        assert_eq!(sync.units[0].hs_id, None, "it is not matched with the HubSpot contact");
    }
    assert_eq!(stats.errors.get("duplicates"), Some(&1));
    let entry = t.app.store().get_error(&format!("contact:salesforce:{newer}")).await.unwrap().unwrap();
    assert_eq!((entry.category.as_str(), entry.retryable), ("duplicates", false));
    assert_eq!(t.hubspot.calls().invocations("batch_read"), 0, "no HubSpot lookup for a quarantined record");
}

#[tokio::test]
async fn the_pick_of_an_email_whose_hubspot_contact_is_linked_to_the_record_it_beat_takes_the_link_over() {
    let t = TestApp::new();
    let (lead, contact) = linked_contact(&t, "ada@example.com").await;
    let person = t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "Byron"}));
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&[sf_intent(&t, SfObject::Contact, &person), sf_intent(&t, SfObject::Lead, &lead)]).await.unwrap();
        sync.read().await;
        sync.match_unlinked().await;
        assert_eq!(sync.units[0].hs_id.as_deref(), Some(contact.as_str()));
        let takeover = sync.units[0].takeover.as_ref().expect("the Contact takes the link over");
        assert_eq!(takeover.link.salesforce_id, lead);
        assert!(takeover.report.as_ref().is_some_and(|r| r.key == format!("contact:salesforce:{lead}")));
        assert!(
            matches!(sync.units[1].result, Some(RecordResult::Retry(_))),
            "the Lead is decided again after the move, not written now: {:?}",
            sync.units[1].result
        );
    });
}

#[tokio::test]
async fn an_unlinked_lead_finds_its_hubspot_contact_by_email() {
    let t = TestApp::new();
    let lead = t.salesforce.insert("Lead", json!({"Email": "Ada@Example.com", "LastName": "L"}));
    let contact = t.hubspot.insert("contacts", json!({"email": "ada@example.com"}));
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&[sf_intent(&t, SfObject::Lead, &lead)]).await.unwrap();
        sync.read().await;
        sync.match_unlinked().await;
        assert_eq!(sync.units[0].hs_id.as_deref(), Some(contact.as_str()));
    });
}

#[tokio::test]
async fn a_hubspot_company_finds_its_account_through_its_salesforce_id_property() {
    let t = with_companies();
    let account = t.salesforce.insert("Account", json!({"Name": "Acme"}));
    let company = t.hubspot.insert("companies", json!({"name": "Acme", "salesforce_id": account}));
    with_pair!(t, ObjectPair::Company, |sync| {
        sync.collect(&[hs_intent(&t, ObjectPair::Company, &company)]).await.unwrap();
        sync.read().await;
        sync.match_unlinked().await;
        assert_eq!(sync.units[0].sf_id.as_deref(), Some(account.as_str()));
        assert!(sync.units[0].sf.is_some());
    });
}

// --- write: plan and settle -------------------------------------------------

#[tokio::test]
async fn the_planner_is_given_only_units_without_a_result() {
    let t = TestApp::new();
    let (lead_a, _) = linked_contact(&t, "a@example.com").await;
    let (lead_b, _) = linked_contact(&t, "b@example.com").await;
    let intents = [sf_intent(&t, SfObject::Lead, &lead_a), sf_intent(&t, SfObject::Lead, &lead_b)];
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.collect(&intents).await.unwrap();
        sync.read().await;
        sync.units[0].result = Some(RecordResult::Retry(Duration::from_secs(1)));
        let plans = sync.plan(&write::PlanFacts::default());
        assert_eq!(plans.iter().map(|(u, _)| *u).collect::<Vec<_>>(), vec![1]);
    });
}

#[tokio::test]
async fn settling_counts_created_and_updated_and_records_per_record_errors() {
    let t = TestApp::new();
    let mut stats = SyncStats::default();
    {
        let mut sync = PairSync::new(&t.app, ObjectPair::Contact, &mut stats);
        sync.units = vec![Unit::default(), Unit::default(), Unit::default(), Unit::default()];
        sync.units[2].hs_id = Some("7".into());
        let results = vec![
            WriteResult::Ok { id: "1".into(), created: true },
            WriteResult::Ok { id: "2".into(), created: false },
            WriteResult::Err { code: "INVALID_EMAIL".into(), message: "bad".into() },
        ];
        sync.settle(vec![0, 1, 2, 3], Ok(results), System::HubSpot, "hubspot:contact").await;
        assert_eq!(sync.units[0].result, None);
        assert!(matches!(sync.units[2].result, Some(RecordResult::Failed(_))));
        assert!(matches!(sync.units[3].result, Some(RecordResult::Failed(_))), "a missing result fails");
    }
    assert_eq!(stats.created.get("hubspot:contact"), Some(&1));
    assert_eq!(stats.updated.get("hubspot:contact"), Some(&1));
    assert_eq!(stats.errors.get("property_value_or_validation"), Some(&1));
    assert!(t.app.store().get_error("contact:hubspot:7").await.unwrap().is_some());
}

#[tokio::test]
async fn a_retryable_failed_call_retries_its_units_and_a_permanent_one_fails_them() {
    let t = TestApp::new();
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.units = vec![Unit::default(), Unit::default()];
        sync.settle(
            vec![0],
            Err(crm_error(System::HubSpot, 500, "SERVER_ERROR", true)),
            System::HubSpot,
            "hubspot:contact",
        )
        .await;
        sync.settle(
            vec![1],
            Err(crm_error(System::HubSpot, 403, "FORBIDDEN", false)),
            System::HubSpot,
            "hubspot:contact",
        )
        .await;
        assert!(matches!(sync.units[0].result, Some(RecordResult::Retry(_))));
        assert!(matches!(sync.units[1].result, Some(RecordResult::Failed(_))));
    });
}

// --- store links -----------------------------------------------------------

#[tokio::test]
async fn a_stored_link_carries_the_planned_fingerprints_and_stage_and_resolves_the_error() {
    let t = TestApp::new();
    let report = crm_sync_store::ErrorReport {
        key: "contact:hubspot:801".into(),
        category: "other".into(),
        pair: ObjectPair::Contact,
        salesforce_id: None,
        hubspot_id: Some("801".into()),
        message: "failed".into(),
        retryable: false,
    };
    t.app.store().record_error(&report).await.unwrap();
    let lead = SalesforceId::parse("00Q000000000001").unwrap();
    with_pair!(t, ObjectPair::Contact, |sync| {
        sync.units = vec![Unit {
            sf_id: Some(lead.as_str().to_owned()),
            hs_id: Some("801".into()),
            sf_object: Some(SfObject::Lead),
            ..Unit::default()
        }];
        let mut pending = BTreeMap::new();
        let state = crm_sync_domain::LinkState { salesforce_last_modified: Some(t.now()), ..Default::default() };
        pending.insert(
            0,
            write::PendingWrite {
                unit: 0,
                decision_link: state,
                lifecycle_stage: Some("customer".into()),
                unlinked: false,
                writing: BTreeMap::new(),
                creates: None,
            },
        );
        sync.store_links(pending).await;
        assert_eq!(sync.units[0].result, Some(RecordResult::Done));
    });
    let link = link_of(&t, ObjectPair::Contact, lead.as_str()).await.unwrap();
    assert_eq!(link.hubspot_id, "801");
    assert_eq!(link.fingerprints.get(LIFECYCLE_KEY).map(String::as_str), Some("customer"));
    assert!(t.app.store().get_error("contact:hubspot:801").await.unwrap().is_none(), "the error is resolved");
}

#[tokio::test]
async fn a_link_stored_first_by_another_worker_retries_the_unit() {
    let t = TestApp::new();
    let lead = SalesforceId::parse("00Q000000000001").unwrap();
    t.put_link(ObjectPair::Contact, "Lead", lead.as_str(), "802").await;
    with_pair!(t, ObjectPair::Contact, |sync| {
        // This worker saw no link: it must not overwrite the one stored since.
        sync.units = vec![Unit {
            sf_id: Some(lead.as_str().to_owned()),
            hs_id: Some("803".into()),
            sf_object: Some(SfObject::Lead),
            ..Unit::default()
        }];
        let mut pending = BTreeMap::new();
        pending.insert(
            0,
            write::PendingWrite {
                unit: 0,
                decision_link: Default::default(),
                lifecycle_stage: None,
                unlinked: false,
                writing: BTreeMap::new(),
                creates: None,
            },
        );
        sync.store_links(pending).await;
        assert_eq!(sync.units[0].result, Some(RecordResult::Retry(RACE_RETRY)));
    });
    assert_eq!(link_of(&t, ObjectPair::Contact, lead.as_str()).await.unwrap().hubspot_id, "802");
}
