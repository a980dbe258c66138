//! `crm-sync setup` against a fresh sandbox: the bare org is reported not
//! ready (no `HubSpot_Id__c`), `--apply` creates what the APIs can and the
//! pair is ready, and then a HubSpot contact creates a Salesforce lead
//! through the sync. Driven through the use case the command calls.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sandbox::salesforce::schema::Access;
use crm_sync_app::build::{Credentials, CrmEndpoints, SetupCrms, setup_clients};
use crm_sync_app::{Secret, SetupAction, SetupStatus, SetupSystem, setup_apply, setup_check};
use crm_sync_e2e::{Harness, HarnessOptions};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn clients(h: &Harness) -> SetupCrms {
    let credentials = Credentials {
        salesforce_client_id: crm_sandbox::salesforce::DEFAULT_CLIENT_ID.into(),
        salesforce_client_secret: Secret::new(crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET),
        hubspot_access_token: Secret::new(crm_sandbox::hubspot::DEFAULT_TOKEN),
        ..Credentials::default()
    };
    let endpoints = CrmEndpoints {
        salesforce_login_url: h.sandbox.salesforce_url().to_owned(),
        hubspot_base_url: h.sandbox.hubspot_url().to_owned(),
        extra_root_cert_pem: None,
    };
    setup_clients(&endpoints, &credentials).unwrap()
}

/// The harness over a sandbox as fresh as a real pair of accounts.
async fn bare() -> Harness {
    let mut options = HarnessOptions::default();
    options.sandbox.salesforce.crm_sync_fields = false;
    options.sandbox.hubspot.crm_sync_properties = false;
    Harness::start(options).await.unwrap()
}

fn public_url(h: &Harness) -> String {
    format!("http://{}", h.server.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_reports_a_fresh_org_not_ready_then_apply_makes_it_ready_and_a_contact_syncs() {
    let h = bare().await;
    let crms = clients(&h);
    let config = h.app.config().clone();
    let url = public_url(&h);

    let report = setup_check(crms.salesforce.as_ref(), crms.hubspot.as_ref(), &config, Some(&url)).await;
    assert!(!report.ready(), "{report:#?}");
    for object in ["Lead", "Contact"] {
        let item = report.item(SetupSystem::Salesforce, &format!("{object}: HubSpot_Id__c")).unwrap();
        assert_eq!(item.status, SetupStatus::Missing, "{item:?}");
        assert_eq!(item.action, Some(SetupAction::CreateExternalIdField { object: object.into() }));
    }
    let campaigns = report.item(SetupSystem::HubSpot, "contacts: salesforce_campaigns").unwrap();
    assert_eq!(campaigns.status, SetupStatus::Missing);
    for checked in
        ["API access", "Lead: object permissions", "Lead: field access", "Lead: outbound message", "token scopes"]
    {
        let item = report.items.iter().find(|i| i.item == checked).unwrap();
        assert_eq!(item.status, SetupStatus::Ok, "{item:?}");
    }
    assert_eq!(report.item(SetupSystem::HubSpot, "webhook subscriptions").unwrap().status, SetupStatus::Manual);
    assert!(report.item(SetupSystem::Salesforce, "Account: HubSpot_Id__c").is_none(), "companies do not sync");
    assert!(h.sandbox.salesforce().writes().is_empty(), "checking writes nothing");

    let applied = setup_apply(crms.salesforce.as_ref(), crms.hubspot.as_ref(), &report.actions()).await;
    assert_eq!(applied.len(), 3);
    assert!(applied.iter().all(|a| a.outcome.is_ok()), "{applied:?}");
    let again = setup_check(crms.salesforce.as_ref(), crms.hubspot.as_ref(), &config, Some(&url)).await;
    assert!(again.ready(), "{again:#?}");
    assert!(again.actions().is_empty());

    let hs_id = h
        .sandbox
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: match json!({"email": "grace@example.com", "firstname": "Grace", "lastname": "Hopper"}) {
                Value::Object(m) => m,
                _ => unreachable!(),
            },
        })
        .unwrap();
    let created = |h: &Harness| {
        h.sandbox
            .salesforce()
            .writes()
            .into_iter()
            .filter(|w| w.object == "Lead" && w.op == Op::Create && w.actor == Actor::Integration)
            .map(|w| w.id)
            .collect::<Vec<_>>()
    };
    h.sync_until(WAIT, |h| !created(h).is_empty()).await.unwrap();
    let lead = h.sandbox.salesforce().record("Lead", &created(&h)[0]).unwrap();
    assert_eq!(lead["Email"], "grace@example.com");
    assert_eq!(lead["HubSpot_Id__c"], hs_id.to_string());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_says_what_is_wrong_with_outbound_messages_field_access_scopes_and_the_inclusion_list() {
    let mut options = HarnessOptions::default();
    options.sandbox.hubspot.scopes = vec!["crm.objects.contacts.read".into()];
    options.config = crm_sync_app::domain::SyncConfig::from_yaml_str(
        "objects:\n  deals: true\ninclusion_segment:\n  hubspot_list: \"4242\"\n",
    )
    .unwrap();
    let h = Harness::start(options).await.unwrap();
    h.sandbox.salesforce().set_field_access("Lead", "Title", Access::Read).unwrap();
    h.sandbox.salesforce().set_field_access("Lead", "Phone", Access::Hidden).unwrap();
    let crms = clients(&h);
    let config = h.app.config().clone();

    let report =
        setup_check(crms.salesforce.as_ref(), crms.hubspot.as_ref(), &config, Some("https://elsewhere.example")).await;
    assert!(!report.ready());
    let outbound = report.item(SetupSystem::Salesforce, "Lead: outbound message").unwrap();
    assert_eq!(outbound.status, SetupStatus::Wrong, "{outbound:?}");
    assert!(outbound.detail.contains(&public_url(&h)), "{outbound:?}");
    assert!(outbound.fix.contains("https://elsewhere.example/webhooks/salesforce"), "{outbound:?}");
    // Seeded as setup leaves them: the fields are right.
    let field = report.item(SetupSystem::Salesforce, "Opportunity: HubSpot_Id__c").unwrap();
    assert_eq!(field.status, SetupStatus::Ok, "{field:?}");
    let scopes = report.item(SetupSystem::HubSpot, "token scopes").unwrap();
    assert_eq!(scopes.status, SetupStatus::Wrong);
    assert!(scopes.detail.contains("crm.objects.contacts.write"), "{scopes:?}");
    assert!(scopes.detail.contains("crm.objects.deals.write"), "{scopes:?}");
    assert!(scopes.detail.contains("crm.lists.read"), "{scopes:?}");
    let access = report.item(SetupSystem::Salesforce, "Lead: field access").unwrap();
    assert_eq!((access.status, access.detail.as_str()), (SetupStatus::Wrong, "not visible: Phone; read-only: Title"));
    assert_eq!(report.item(SetupSystem::Salesforce, "Contact: field access").unwrap().status, SetupStatus::Ok);
    let list = report.item(SetupSystem::HubSpot, "inclusion list 4242").unwrap();
    assert_eq!(list.status, SetupStatus::Missing, "{list:?}");
    assert!(report.actions().is_empty(), "nothing here is for --apply: {:?}", report.actions());

    // Without a public URL, where the messages point is for the user to check.
    let unsure = setup_check(crms.salesforce.as_ref(), crms.hubspot.as_ref(), &config, None).await;
    assert_eq!(unsure.item(SetupSystem::Salesforce, "Lead: outbound message").unwrap().status, SetupStatus::Manual);
    h.stop().await;
}
