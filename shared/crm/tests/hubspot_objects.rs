//! The HubSpot client's object, batch, association, property and
//! preference calls against the fake HubSpot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hubspot_support;

use crm_sandbox::hubspot::HubSpotOptions;
use crm_sync_crm::hubspot::{BatchItem, CONTACT_TO_COMPANY, PropertyDefinition, existing_id};
use crm_sync_domain::error::ErrorCategory;
use hubspot_support::*;

#[tokio::test]
async fn a_contact_can_be_created_read_updated_and_archived() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let created = hs.create("contacts", &props(&[("email", "ada@example.com"), ("firstname", "Ada")])).await.unwrap();
    assert_eq!(created.property("email"), Some("ada@example.com"));
    assert!(created.property("lastmodifieddate").is_some());

    let by_email = hs.get("contacts", "ada@example.com", Some("email"), &names(&["firstname"])).await.unwrap().unwrap();
    assert_eq!(by_email.id, created.id);
    assert_eq!(by_email.property("firstname"), Some("Ada"));

    let updated = hs.update("contacts", &created.id, None, &props(&[("lastname", "Lovelace")])).await.unwrap();
    assert_eq!(updated.property("lastname"), Some("Lovelace"));

    hs.archive("contacts", &created.id).await.unwrap();
    assert_eq!(hs.get("contacts", &created.id, None, &[]).await.unwrap(), None);
    assert!(hs.list_page("contacts", &[], None, 10, false).await.unwrap().results.is_empty());
    let archived = hs.list_page("contacts", &[], None, 10, true).await.unwrap();
    assert_eq!(archived.results.len(), 1);
    assert!(archived.results[0].archived);
    let window = hs
        .archived_between(
            "contacts",
            chrono::Utc::now() - chrono::Duration::minutes(1),
            chrono::Utc::now() + chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(window.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec![created.id.as_str()]);
    let earlier = hs
        .archived_between(
            "contacts",
            chrono::Utc::now() - chrono::Duration::days(2),
            chrono::Utc::now() - chrono::Duration::days(1),
        )
        .await
        .unwrap();
    assert!(earlier.is_empty());
    assert_eq!(hs.calls_made(), 9);
}

#[tokio::test]
async fn a_duplicate_email_is_a_permanent_duplicate_error_naming_the_existing_id() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let first = hs.create("contacts", &props(&[("email", "grace@example.com")])).await.unwrap();
    let err = hs.create("contacts", &props(&[("email", "GRACE@example.com")])).await.unwrap_err();
    assert_eq!(err.status, 409);
    assert_eq!(err.code, "CONFLICT");
    assert_eq!(err.category, ErrorCategory::Duplicates);
    assert!(!err.is_retryable());
    assert_eq!(err.message, format!("Contact already exists. Existing ID: {}", first.id));
    assert_eq!(existing_id(&err), Some(first.id));
}

#[tokio::test]
async fn read_only_and_unknown_properties_are_permanent_validation_errors() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let err = hs
        .create("contacts", &props(&[("email", "a@example.com"), ("lastmodifieddate", "2024-01-01")]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str(), err.category),
        (400, "VALIDATION_ERROR", ErrorCategory::PropertyValueOrValidation)
    );
    let err = hs.create("contacts", &props(&[("no_such_property", "x")])).await.unwrap_err();
    assert_eq!(err.status, 400);
    assert!(err.message.contains("no_such_property"), "{}", err.message);
    let err = hs.create("contacts", &props(&[("email", "not-an-email")])).await.unwrap_err();
    assert!(err.message.contains("invalid"), "{}", err.message);
}

#[tokio::test]
async fn a_wrong_token_is_a_permanent_access_error() {
    let sb = sandbox(HubSpotOptions { token: "pat-na1-other".into(), ..HubSpotOptions::default() }).await;
    let hs = client(&sb);
    let err = hs.list_page("contacts", &[], None, 10, false).await.unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (401, "INVALID_AUTHENTICATION"));
    assert_eq!(err.category, ErrorCategory::PermissionsOrAccess);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn listing_follows_after_past_the_first_page() {
    let sb = sandbox(HubSpotOptions { seed_contacts: 250, ..HubSpotOptions::default() }).await;
    let hs = client(&sb);
    let first = hs.list_page("contacts", &names(&["email"]), None, 100, false).await.unwrap();
    assert_eq!(first.results.len(), 100);
    assert!(first.after.is_some());
    let all = hs.list_all("contacts", &names(&["email"])).await.unwrap();
    assert_eq!(all.len(), 250);
    let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 250);
    assert_eq!(hs.calls_made(), 1 + 3);
}

#[tokio::test]
async fn batch_upsert_by_email_creates_then_updates_and_says_which() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let inputs: Vec<_> = (0..150).map(|i| (format!("p{i}@example.com"), props(&[("firstname", "New")]))).collect();
    let first = hs.batch_upsert("contacts", "email", &inputs).await.unwrap();
    assert_eq!(first.len(), 150);
    assert!(first.iter().all(|i| matches!(i, BatchItem::Ok { created: true, .. })));
    assert_eq!(hs.calls_made(), 2, "150 inputs take two calls of at most 100");

    let again: Vec<_> = (140..160).map(|i| (format!("p{i}@example.com"), props(&[("firstname", "Again")]))).collect();
    let second = hs.batch_upsert("contacts", "email", &again).await.unwrap();
    let created: Vec<bool> = second.iter().map(|i| matches!(i, BatchItem::Ok { created: true, .. })).collect();
    assert_eq!(created.iter().filter(|c| !**c).count(), 10);
    assert_eq!(created.iter().filter(|c| **c).count(), 10);
    assert!(!created[0] && created[19], "results line up with inputs");
    assert_eq!(sb.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts), 160);
}

#[tokio::test]
async fn batch_read_by_email_skips_unknown_addresses() {
    let sb = sandbox(HubSpotOptions { seed_contacts: 120, ..HubSpotOptions::default() }).await;
    let hs = client(&sb);
    let mut emails: Vec<String> = (1..=110).map(|n| format!("person{n}@example.com")).collect();
    emails.push("nobody@example.com".into());
    let found = hs.batch_read("contacts", &emails, Some("email"), &names(&["email", "firstname"])).await.unwrap();
    assert_eq!(found.len(), 110);
    assert!(found.iter().all(|r| r.property("firstname").is_some()));
    let ids: Vec<String> = found.iter().take(5).map(|r| r.id.clone()).collect();
    let by_id = hs.batch_read("contacts", &ids, None, &[]).await.unwrap();
    assert_eq!(by_id.len(), 5);
    assert_eq!(hs.calls_made(), 3);
}

#[tokio::test]
async fn an_upsert_read_for_ids_answers_what_the_full_answer_says_in_input_order() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let inputs: Vec<_> = (0..5).map(|i| (format!("q{i}@example.com"), props(&[("firstname", "Q")]))).collect();
    let full = hs.batch_upsert("contacts", "email", &inputs[..2]).await.unwrap();
    let mut mixed = inputs.clone();
    mixed[3].1 = props(&[("no_such_property", "x")]);
    let ids = hs.batch_upsert_ids("contacts", "email", &mixed).await.unwrap();
    assert_eq!(ids.len(), 5);
    for (i, item) in ids.iter().enumerate() {
        match (i, item) {
            (0 | 1, BatchItem::Ok { record, created: false }) => {
                let BatchItem::Ok { record: first, .. } = &full[i] else { panic!("{:?}", full[i]) };
                assert_eq!(record.id, first.id, "input {i} is the record the full upsert made");
            }
            (2 | 4, BatchItem::Ok { created: true, .. }) => {}
            (3, BatchItem::Err { category, .. }) => assert_eq!(category, "VALIDATION_ERROR"),
            other => panic!("unexpected {other:?}"),
        }
    }
    let BatchItem::Ok { record, .. } = &ids[4] else { unreachable!() };
    let read = hs.get("contacts", &record.id, None, &names(&["email"])).await.unwrap().unwrap();
    assert_eq!(read.property("email"), Some("q4@example.com"));
}

#[tokio::test]
async fn batch_create_reports_a_bad_input_alone_and_batch_update_and_archive_work() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    hs.create("contacts", &props(&[("email", "taken@example.com")])).await.unwrap();
    let inputs = vec![
        props(&[("email", "one@example.com")]),
        props(&[("email", "taken@example.com")]),
        props(&[("email", "two@example.com")]),
    ];
    let items = hs.batch_create("contacts", &inputs).await.unwrap();
    assert!(matches!(&items[0], BatchItem::Ok { created: true, .. }));
    assert!(
        matches!(&items[1], BatchItem::Err { category, message } if category == "CONFLICT" && message.starts_with("Contact already exists"))
    );
    assert!(matches!(&items[2], BatchItem::Ok { .. }));

    let BatchItem::Ok { record, .. } = &items[0] else { unreachable!() };
    let updates = vec![
        (record.id.clone(), props(&[("firstname", "Uno")])),
        ("999999999".to_owned(), props(&[("firstname", "X")])),
    ];
    let updated = hs.batch_update("contacts", &updates).await.unwrap();
    assert!(
        matches!(&updated[0], BatchItem::Ok { record, created: false } if record.property("firstname") == Some("Uno"))
    );
    assert!(matches!(&updated[1], BatchItem::Err { category, .. } if category == "OBJECT_NOT_FOUND"));

    hs.batch_archive("contacts", std::slice::from_ref(&record.id)).await.unwrap();
    assert_eq!(hs.get("contacts", &record.id, None, &[]).await.unwrap(), None);
}

#[tokio::test]
async fn companies_upsert_by_the_unique_salesforce_id_property() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let inputs = vec![("001000000000001AAA".to_owned(), props(&[("name", "Acme"), ("domain", "acme.example.com")]))];
    let first = hs.batch_upsert("companies", "salesforce_id", &inputs).await.unwrap();
    let second = hs.batch_upsert("companies", "salesforce_id", &inputs).await.unwrap();
    match (&first[0], &second[0]) {
        (BatchItem::Ok { record: a, created: true }, BatchItem::Ok { record: b, created: false }) => {
            assert_eq!(a.id, b.id)
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = hs.batch_upsert("companies", "domain", &inputs).await.unwrap_err();
    assert_eq!(err.status, 400, "domain is not a unique property");
}

#[tokio::test]
async fn associations_are_created_and_read_back_with_type_279() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let contact = hs.create("contacts", &props(&[("email", "alan@example.com")])).await.unwrap();
    let company = hs.create("companies", &props(&[("name", "Bletchley")])).await.unwrap();
    let deal = hs.create("deals", &props(&[("dealname", "Bombe")])).await.unwrap();
    hs.associate("contacts", "companies", &[(contact.id.clone(), company.id.clone())], CONTACT_TO_COMPANY)
        .await
        .unwrap();
    hs.associate_default("deals", "companies", &[(deal.id.clone(), company.id.clone())]).await.unwrap();

    let read = hs.associations_read("contacts", "companies", &[contact.id.clone(), "424242".into()]).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[&contact.id][0].to_id, company.id);
    assert_eq!(read[&contact.id][0].type_ids, vec![279]);
    let back = hs.associations_read("companies", "deals", std::slice::from_ref(&company.id)).await.unwrap();
    assert_eq!(back[&company.id][0].to_id, deal.id);

    let err = hs
        .associate("contacts", "companies", &[(contact.id.clone(), "777".into())], CONTACT_TO_COMPANY)
        .await
        .unwrap_err();
    assert_eq!(err.category, ErrorCategory::Associations);
    // Default associations answer 200 even when a pair is refused: the
    // refusal is read from the answer's errors all the same.
    let err = hs.associate_default("deals", "companies", &[(deal.id.clone(), "777".into())]).await.unwrap_err();
    assert_eq!((err.status, err.category), (200, ErrorCategory::Associations));

    hs.dissociate("contacts", "companies", &[(contact.id.clone(), company.id.clone())]).await.unwrap();
    assert!(hs.associations_read("contacts", "companies", std::slice::from_ref(&contact.id)).await.unwrap().is_empty());
}

#[tokio::test]
async fn unsubscribing_from_all_email_sets_the_opt_out_property() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let c = hs.create("contacts", &props(&[("email", "hedy@example.com")])).await.unwrap();
    assert!(!hs.is_unsubscribed_all("hedy@example.com").await.unwrap());
    hs.unsubscribe_all("hedy@example.com").await.unwrap();
    assert!(hs.is_unsubscribed_all("hedy@example.com").await.unwrap());
    let read = hs.get("contacts", &c.id, None, &names(&["hs_email_optout"])).await.unwrap().unwrap();
    assert_eq!(read.property("hs_email_optout"), Some("true"));
    let err = hs.update("contacts", &c.id, None, &props(&[("hs_email_optout", "false")])).await.unwrap_err();
    assert_eq!(err.status, 400, "opt-out changes only through communication preferences");
    let err = hs.unsubscribe_all("ghost@example.com").await.unwrap_err();
    assert_eq!(err.status, 404);
}

#[tokio::test]
async fn a_batch_unsubscribe_says_which_addresses_were_refused() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    hs.create("contacts", &props(&[("email", "hedy@example.com")])).await.unwrap();
    let emails = vec!["ghost@example.com".to_owned(), "hedy@example.com".to_owned()];
    let outcomes = hs.unsubscribe_all_batch(&emails).await.unwrap();
    assert!(matches!(&outcomes[0], Some((category, _)) if category == "OBJECT_NOT_FOUND"), "{outcomes:?}");
    assert_eq!(outcomes[1], None);
    assert!(hs.is_unsubscribed_all("hedy@example.com").await.unwrap());
}

#[tokio::test]
async fn a_unique_property_can_be_defined_and_read() {
    let sb = sandbox(HubSpotOptions::default()).await;
    let hs = client(&sb);
    let def = PropertyDefinition {
        name: "legacy_id".into(),
        label: "Legacy id".into(),
        kind: "string".into(),
        field_type: "text".into(),
        group_name: "contactinformation".into(),
        has_unique_value: true,
    };
    let made = hs.create_property("contacts", &def).await.unwrap();
    assert_eq!(made.name, "legacy_id");
    assert_eq!(hs.get_property("contacts", "legacy_id").await.unwrap().map(|d| d.has_unique_value), Some(true));
    assert_eq!(hs.get_property("contacts", "nope").await.unwrap(), None);
    let err = hs.create_property("contacts", &def).await.unwrap_err();
    assert_eq!(err.status, 409);
    let up = hs
        .batch_upsert("contacts", "legacy_id", &[("L-1".into(), props(&[("email", "l1@example.com")]))])
        .await
        .unwrap();
    assert!(matches!(&up[0], BatchItem::Ok { created: true, .. }));
}

#[tokio::test]
async fn the_sandbox_counts_exactly_the_calls_the_client_says_it_made() {
    let sb = sandbox(HubSpotOptions { seed_contacts: 30, ..fast_options() }).await;
    let hs = client(&sb);
    hs.list_all("contacts", &[]).await.unwrap();
    let emails: Vec<String> = (1..=30).map(|n| format!("person{n}@example.com")).collect();
    hs.batch_read("contacts", &emails, Some("email"), &[]).await.unwrap();
    let _ = hs.create("contacts", &props(&[("email", "person1@example.com")])).await;
    hs.batch_upsert("contacts", "email", &[("x@example.com".into(), props(&[]))]).await.unwrap();
    let _ = hs.get("contacts", "1", None, &[]).await;
    let counts = sb.hubspot_control().counts();
    assert_eq!(counts.total, hs.calls_made());
    assert_eq!(counts.count("POST", "/crm/v3/objects/{object}/batch/read"), 1);
    assert_eq!(counts.count("POST", "/crm/v3/objects/{object}/batch/upsert"), 1);
    assert_eq!(hs.calls_made(), 1 + 1 + 1 + 1 + 1);
}

#[tokio::test]
async fn list_members_are_read_across_pages_without_archived_contacts() {
    let sb = sandbox(HubSpotOptions { seed_contacts: 600, ..HubSpotOptions::default() }).await;
    let hs = client(&sb);
    let all = hs.list_all("contacts", &[]).await.unwrap();
    let members: Vec<u64> = all.iter().take(520).map(|r| r.id.parse().unwrap()).collect();
    let list = sb.hubspot().create_list("Sync these", &members).unwrap();
    hs.archive("contacts", &all[0].id).await.unwrap();
    let before = hs.calls_made();
    let read = hs.list_members(&list.to_string()).await.unwrap();
    assert_eq!(read.len(), 519);
    assert!(!read.contains(&all[0].id));
    assert_eq!(hs.calls_made() - before, 3, "250 members per call");
    let err = hs.list_members("999").await.unwrap_err();
    assert_eq!(err.status, 404);
}

#[tokio::test]
async fn the_client_trusts_an_extra_root_certificate_for_https() {
    let sb = crm_sandbox::Sandbox::start(crm_sandbox::SandboxOptions {
        tls: true,
        ..crm_sandbox::SandboxOptions::default()
    })
    .await
    .unwrap();
    assert!(sb.hubspot_url().starts_with("https://"));
    let token = crm_sync_crm::hubspot::Secret::new(crm_sandbox::hubspot::DEFAULT_TOKEN);
    let plain = crm_sync_crm::hubspot::HubSpotClient::new(crm_sync_crm::hubspot::HubSpotConfig::new(
        sb.hubspot_url(),
        token.clone(),
    ))
    .unwrap();
    let err = plain.list_page("contacts", &[], None, 10, false).await.unwrap_err();
    assert_eq!(err.status, 0, "an unknown certificate is refused");
    let mut config = crm_sync_crm::hubspot::HubSpotConfig::new(sb.hubspot_url(), token);
    config.extra_root_cert_pem = sb.cert_pem().map(str::to_owned);
    let trusting = crm_sync_crm::hubspot::HubSpotClient::new(config).unwrap();
    assert!(trusting.list_page("contacts", &[], None, 10, false).await.unwrap().results.is_empty());
}
