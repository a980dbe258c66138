//! Product behaviour around the plain field sync: owners matched between the
//! CRMs, deals and opportunities, webhook retries after a failed queue.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_e2e::{Harness, HarnessOptions, QUIET, WAIT, props};
use serde_json::json;
use std::time::Duration;

fn integration_creates(h: &Harness, object: &str) -> Vec<String> {
    h.sandbox
        .salesforce()
        .writes()
        .into_iter()
        .filter(|w| w.object == object && w.op == Op::Create && w.actor == Actor::Integration)
        .map(|w| w.id)
        .collect()
}

async fn salesforce_user(h: &Harness, email: &str) -> String {
    let users = h.app.salesforce().query("SELECT Id, Email FROM User").await.unwrap();
    users.into_iter().find(|u| u.fields["Email"] == email).expect("the sandbox has this user").id
}

async fn hubspot_contact_for(h: &Harness, salesforce_id: &str) -> std::collections::BTreeMap<String, String> {
    let link = h
        .app
        .store()
        .get_link_by_salesforce(crm_sync_store::ObjectPair::Contact, salesforce_id)
        .await
        .unwrap()
        .expect("the record is linked");
    h.sandbox.hubspot().properties(ObjectType::Contacts, link.hubspot_id.parse().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_travel_between_exactly_matched_users_and_unmatched_owners_are_not_written() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    // Sam exists in both CRMs with the same name and email; the integration
    // user has no HubSpot owner, and HubSpot's Sam Other matches nobody.
    let sam_owner = h.sandbox.hubspot().add_owner("Sam", "Seller", "sam.seller@crm-sync.sandbox");
    let other_owner = h.sandbox.hubspot().add_owner("Sam", "Other", "sam.other@crm-sync.sandbox");
    let sam_user = salesforce_user(&h, "sam.seller@crm-sync.sandbox").await;

    let owned = h
        .sandbox
        .salesforce()
        .create_as_user("Contact", json!({"LastName": "Owned", "Email": "owned@example.com", "OwnerId": sam_user}))
        .unwrap();
    let unowned = h
        .sandbox
        .salesforce()
        .create_as_user("Contact", json!({"LastName": "Unowned", "Email": "unowned@example.com"}))
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 2).await.unwrap();
    h.settle(QUIET).await.unwrap();

    let contact = hubspot_contact_for(&h, &owned).await;
    assert_eq!(contact.get("hubspot_owner_id").map(String::as_str), Some(sam_owner.to_string().as_str()));
    let contact = hubspot_contact_for(&h, &unowned).await;
    assert_eq!(contact.get("hubspot_owner_id"), None, "the integration user has no HubSpot owner");

    // HubSpot to Salesforce: a new contact owned by Sam becomes a Lead owned
    // by Sam; one owned by an unmatched owner keeps Salesforce's default.
    for (email, owner) in [("hs-owned@example.com", sam_owner), ("hs-other@example.com", other_owner)] {
        h.sandbox
            .hubspot()
            .user_edit(UserEdit::Create {
                object: ObjectType::Contacts,
                properties: props(
                    json!({"email": email, "lastname": "FromHubSpot", "hubspot_owner_id": owner.to_string()}),
                ),
            })
            .unwrap();
    }
    h.sync_until(WAIT, |h| integration_creates(h, "Lead").len() == 2).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let leads = h.app.salesforce().query("SELECT Id, Email, OwnerId FROM Lead").await.unwrap();
    let owner_of = |email: &str| {
        let lead = leads.iter().find(|l| l.fields["Email"] == email).expect("the lead exists");
        lead.fields["OwnerId"].as_str().unwrap().to_owned()
    };
    assert_eq!(crm_sync_domain::SalesforceId::parse(&owner_of("hs-owned@example.com")).unwrap().as_str(), sam_user);
    assert_ne!(owner_of("hs-other@example.com"), sam_user, "an unmatched owner is not guessed");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_owner_change_reaches_a_record_owned_by_an_unmatched_user() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let sam_owner = h.sandbox.hubspot().add_owner("Sam", "Seller", "sam.seller@crm-sync.sandbox");
    let sam_user = salesforce_user(&h, "sam.seller@crm-sync.sandbox").await;
    // Owned by the integration user, who has no HubSpot owner: nothing to
    // write to HubSpot.
    let id = h
        .sandbox
        .salesforce()
        .create_as_user("Contact", json!({"LastName": "Unowned", "Email": "reassigned@example.com"}))
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Contacts) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let link = h.app.store().get_link_by_salesforce(crm_sync_store::ObjectPair::Contact, &id).await.unwrap().unwrap();
    let contact: u64 = link.hubspot_id.parse().unwrap();
    assert_eq!(hubspot_contact_for(&h, &id).await.get("hubspot_owner_id"), None);

    // A HubSpot user assigns Sam, who matches a Salesforce user exactly:
    // two-way, the change travels.
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: contact,
            properties: props(json!({"hubspot_owner_id": sam_owner.to_string()})),
        })
        .unwrap();
    let short = |s: &str| crm_sync_domain::SalesforceId::parse(s).unwrap().as_str().to_owned();
    let owner =
        |h: &Harness| short(h.sandbox.salesforce().record("Contact", &id).unwrap()["OwnerId"].as_str().unwrap());
    h.sync_until(WAIT, |h| owner(h) == short(&sam_user)).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(owner(&h), short(&sam_user));
    assert_eq!(
        hubspot_contact_for(&h, &id).await.get("hubspot_owner_id").map(String::as_str),
        Some(sam_owner.to_string().as_str())
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatched_owner_stays_as_it_is_after_the_syncs_own_writes_move_the_other_record() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    h.sandbox.hubspot().add_owner("Sam", "Seller", "sam.seller@crm-sync.sandbox");
    let other_owner = h.sandbox.hubspot().add_owner("Sam", "Other", "sam.other@crm-sync.sandbox");
    let sam_user = salesforce_user(&h, "sam.seller@crm-sync.sandbox").await;
    let short = |s: &str| crm_sync_domain::SalesforceId::parse(s).unwrap().as_str().to_owned();
    // A Lead owned by Sam, then (more recently) the person's HubSpot contact
    // owned by an owner who matches nobody, with a phone the Lead lacks.
    let lead = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Lead",
            json!({"LastName": "Owned", "Company": "Acme", "Email": "owned@example.com", "OwnerId": sam_user}),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let contact = h
        .sandbox
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(json!({"email": "owned@example.com", "lastname": "Owned", "phone": "+1 555 0100",
                                     "company": "Acme", "hs_lead_status": "Open - Not Contacted",
                                     "hubspot_owner_id": other_owner.to_string()})),
        })
        .unwrap();
    // The first sync writes the phone to the Lead, which moves its
    // modification time past the contact's; the newer owner has no match
    // and is not written.
    h.sync_until(WAIT, |h| h.sandbox.salesforce().record("Lead", &lead).is_some_and(|l| l["Phone"] == "+1 555 0100"))
        .await
        .unwrap();
    h.settle(QUIET).await.unwrap();
    // Later syncs of the person (the sweep, here) change no owner: no user
    // changed one, and the sync's own write is not a change of the owner.
    h.later(Duration::from_secs(120));
    crm_sync_app::sweep_once(&h.app).await.unwrap();
    h.sync_until(WAIT, |_| true).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let owner = h.sandbox.hubspot().properties(ObjectType::Contacts, contact).unwrap().get("hubspot_owner_id").cloned();
    assert_eq!(owner, Some(other_owner.to_string()), "HubSpot keeps its newer owner");
    let lead_owner = h.sandbox.salesforce().record("Lead", &lead).unwrap()["OwnerId"].as_str().map(short);
    assert_eq!(lead_owner, Some(short(&sam_user)), "the unmatched owner is not written to Salesforce");
    h.stop().await;
}

fn deal_config() -> crm_sync_domain::SyncConfig {
    crm_sync_domain::SyncConfig::from_yaml_str(
        r#"
version: 1
objects:
  companies: true
  deals: true
mappings:
  company:
    - name: Company Name
      hubspot: name
      hubspot_type: single_line_text
      salesforce: Name
      salesforce_type: string
"#,
    )
    .unwrap()
}

async fn linked_hubspot_id(h: &Harness, pair: crm_sync_store::ObjectPair, salesforce_id: &str) -> Option<u64> {
    let link = h.app.store().get_link_by_salesforce(pair, salesforce_id).await.unwrap()?;
    link.hubspot_id.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opportunity_creates_a_deal_on_its_company_and_a_deal_creates_an_opportunity_on_its_account() {
    let h = Harness::start(HarnessOptions { config: deal_config(), ..HarnessOptions::default() }).await.unwrap();
    let account = h.sandbox.salesforce().create_as_user("Account", json!({"Name": "Acme Corp"})).unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Companies) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let company =
        linked_hubspot_id(&h, crm_sync_store::ObjectPair::Company, &account).await.expect("the account made a company");

    // Salesforce to HubSpot.
    let opportunity = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Opportunity",
            json!({"Name": "Acme renewal", "StageName": "Qualification", "CloseDate": "2026-12-31", "Amount": 5000, "AccountId": account}),
        )
        .unwrap();
    h.sync_until(WAIT, |h| h.sandbox.hubspot().live_count(ObjectType::Deals) == 1).await.unwrap();
    h.settle(QUIET).await.unwrap();
    let deal = linked_hubspot_id(&h, crm_sync_store::ObjectPair::Deal, &opportunity)
        .await
        .expect("the opportunity made a deal");
    let properties = h.sandbox.hubspot().properties(ObjectType::Deals, deal).unwrap();
    assert_eq!(properties["dealname"], "Acme renewal");
    assert_eq!(properties["dealstage"], "qualifiedtobuy", "the stage label becomes HubSpot's stage id");
    assert_eq!(properties["amount"], "5000");
    assert!(
        properties["closedate"].starts_with("2026-12-31") || properties["closedate"] == "1798675200000",
        "{properties:?}"
    );
    let associated = h.app.hubspot().associated_ids("deals", "companies", &[deal.to_string()]).await.unwrap();
    assert_eq!(
        associated.get(&deal.to_string()),
        Some(&vec![company.to_string()]),
        "the deal sits on the account's company"
    );

    // HubSpot to Salesforce: the deal is made and put on the company before
    // anything syncs it (deliveries held back), then synced by a resync.
    h.sandbox.hubspot().set_webhook_target(None);
    let new_deal = h
        .sandbox
        .hubspot()
        .user_edit(UserEdit::Create {
            object: ObjectType::Deals,
            properties: props(json!({"dealname": "Acme expansion", "dealstage": "closedwon", "closedate": "2026-06-30", "amount": "12000", "pipeline": "default"})),
        })
        .unwrap();
    h.sandbox
        .hubspot()
        .user_edit(UserEdit::Associate {
            from: ObjectType::Deals,
            id: new_deal,
            to: ObjectType::Companies,
            to_id: company,
        })
        .unwrap();
    let report = crm_sync_app::resync_record(
        &h.app,
        &crm_sync_app::RecordRef::Hubspot { object: crm_sync_domain::ObjectPair::Deal, id: new_deal.to_string() },
    )
    .await
    .unwrap();
    assert_eq!(report.error, None);
    let created = integration_creates(&h, "Opportunity");
    assert_eq!(created.len(), 1, "one opportunity from the deal");
    let record = h.sandbox.salesforce().record("Opportunity", &created[0]).unwrap();
    assert_eq!(record["Name"], "Acme expansion");
    assert_eq!(record["StageName"], "Closed Won");
    assert_eq!(record["CloseDate"], "2026-06-30");
    assert_eq!(record["Amount"].as_f64(), Some(12000.0));
    assert_eq!(record["AccountId"], account);
    assert_eq!(record["HubSpot_Id__c"], new_deal.to_string());
    h.stop().await;
}

/// A sync queue whose first send fails, as an SQS outage would.
struct FailsOnce {
    inner: crm_sync_store::SqliteQueue,
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl crm_sync_store::Queue for FailsOnce {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn send_batch(
        &self,
        messages: &[crm_sync_store::OutgoingMessage],
    ) -> crm_sync_store::StoreResult<Vec<String>> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(crm_sync_store::StoreError::backend("test", "send", "queue unavailable"));
        }
        self.inner.send_batch(messages).await
    }
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> crm_sync_store::StoreResult<Vec<crm_sync_store::ReceivedMessage>> {
        self.inner.receive(max, visibility).await
    }
    async fn delete(&self, receipt_handle: &str) -> crm_sync_store::StoreResult<()> {
        self.inner.delete(receipt_handle).await
    }
    async fn delete_batch(&self, receipt_handles: &[String]) -> crm_sync_store::StoreResult<()> {
        self.inner.delete_batch(receipt_handles).await
    }
    async fn change_visibility(&self, receipt_handle: &str, timeout: Duration) -> crm_sync_store::StoreResult<()> {
        self.inner.change_visibility(receipt_handle, timeout).await
    }
    async fn depth(&self) -> crm_sync_store::StoreResult<crm_sync_store::QueueDepth> {
        self.inner.depth().await
    }
    async fn list_dead_letters(&self, max: usize) -> crm_sync_store::StoreResult<Vec<crm_sync_store::ReceivedMessage>> {
        self.inner.list_dead_letters(max).await
    }
    async fn replay_dead_letters(&self, max: usize) -> crm_sync_store::StoreResult<usize> {
        self.inner.replay_dead_letters(max).await
    }
    async fn replay_dead_letters_by_id(&self, ids: &[String]) -> crm_sync_store::StoreResult<usize> {
        self.inner.replay_dead_letters_by_id(ids).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_retry_after_a_failed_queue_is_queued_once_and_later_duplicates_of_others_are_dropped() {
    use crm_sync_store::Queue;
    use crm_sync_store::{QueueName, QueueSettings, SqliteStore, SystemClock};
    use std::sync::Arc;
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let clock: Arc<dyn crm_sync_store::Clock> = Arc::new(SystemClock);
    let store = SqliteStore::open_in_memory(clock.clone()).unwrap();
    let settings = QueueSettings { max_receive_count: 10 };
    let queue = Arc::new(FailsOnce {
        inner: store.queue(QueueName::SyncIntents.as_str(), settings),
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let secret = h.sandbox.hubspot().options().client_secret.clone();
    let app = crm_sync_app::App::new(crm_sync_app::AppParts {
        config: crm_sync_domain::SyncConfig::default(),
        import_queue: Arc::new(store.queue(QueueName::ImportChunks.as_str(), settings)),
        store: Arc::new(store),
        sync_queue: queue.clone(),
        salesforce: crm_sync_e2e::salesforce_client(&h.sandbox).await.unwrap(),
        hubspot: Arc::new(
            crm_sync_crm::hubspot::HubSpotClient::new(crm_sync_crm::hubspot::HubSpotConfig::new(
                h.sandbox.hubspot_url(),
                crm_sync_crm::hubspot::Secret::new("unused"),
            ))
            .unwrap(),
        ),
        clock,
        secrets: crm_sync_app::WebhookSecrets {
            hubspot_client_secret: crm_sync_app::Secret::new(secret.clone()),
            public_base_url: Some("http://127.0.0.1:9".into()),
            salesforce_org: crm_sync_app::SalesforceOrg::Any,
        },
        settings: crm_sync_app::AppSettings::default(),
    });
    let delivery = |event: u64, attempt: u32| {
        let body = format!(
            r#"[{{"eventId":{event},"subscriptionType":"contact.propertyChange","objectId":{},"propertyName":"jobtitle","propertyValue":"CTO","occurredAt":{},"attemptNumber":{attempt}}}]"#,
            event + 100,
            chrono::Utc::now().timestamp_millis()
        );
        let uri = "http://127.0.0.1:9/webhooks/hubspot".to_owned();
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let signature = crm_sandbox::hubspot::sign_v3(&secret, "POST", &uri, body.as_bytes(), &timestamp);
        let mut request =
            crm_sync_app::WebhookRequest { method: "POST".into(), uri, body: body.into_bytes(), ..Default::default() };
        request.headers.insert("x-hubspot-signature-v3".into(), signature);
        request.headers.insert("x-hubspot-request-timestamp".into(), timestamp);
        request
    };

    let first = crm_sync_app::handle_hubspot_webhook(&app, delivery(9001, 0)).await;
    assert_eq!(first.status, 503, "no 2xx before the intents are queued");
    assert_eq!(queue.depth().await.unwrap().visible, 0);
    let retry = crm_sync_app::handle_hubspot_webhook(&app, delivery(9001, 1)).await;
    assert_eq!(retry.status, 200);
    assert_eq!(queue.depth().await.unwrap().visible, 1, "the retry is queued, not dropped as a duplicate");

    // An event queued the first time stays de-duplicated.
    let other = crm_sync_app::handle_hubspot_webhook(&app, delivery(9002, 0)).await;
    let duplicate = crm_sync_app::handle_hubspot_webhook(&app, delivery(9002, 0)).await;
    assert_eq!((other.status, duplicate.status), (200, 200));
    assert_eq!(queue.depth().await.unwrap().visible, 2, "the duplicate delivery queues nothing");
    h.stop().await;
}

fn signed_delivery(h: &Harness, body: &str) -> crm_sync_app::WebhookRequest {
    let secret = h.sandbox.hubspot().options().client_secret.clone();
    let uri = format!("{}/webhooks/hubspot", h.server.base_url());
    let timestamp = chrono::Utc::now().timestamp_millis().to_string();
    let signature = crm_sandbox::hubspot::sign_v3(&secret, "POST", &uri, body.as_bytes(), &timestamp);
    let mut request = crm_sync_app::WebhookRequest {
        method: "POST".into(),
        uri,
        body: body.as_bytes().to_vec(),
        ..Default::default()
    };
    request.headers.insert("x-hubspot-signature-v3".into(), signature);
    request.headers.insert("x-hubspot-request-timestamp".into(), timestamp);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_hubspot_list_as_segment_only_list_members_reach_salesforce() {
    // The sandbox numbers lists from 1.
    let config =
        crm_sync_domain::SyncConfig::from_yaml_str("version: 1\ninclusion_segment:\n  hubspot_list: \"1\"\n").unwrap();
    let h = Harness::start(HarnessOptions { config, webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let mut ids = Vec::new();
    for email in ["inside@example.com", "outside@example.com"] {
        let id = h
            .sandbox
            .hubspot()
            .user_edit(UserEdit::Create {
                object: ObjectType::Contacts,
                properties: props(json!({"email": email, "lastname": "Member", "jobtitle": "Analyst"})),
            })
            .unwrap();
        ids.push(id);
    }
    let list = h.sandbox.hubspot().create_list("Sync these", &ids[..1]).unwrap();
    assert_eq!(list, 1);
    let events: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            format!(
                r#"{{"eventId":{},"subscriptionType":"contact.creation","objectId":{id},"occurredAt":{},"attemptNumber":0}}"#,
                8100 + n,
                chrono::Utc::now().timestamp_millis()
            )
        })
        .collect();
    let response =
        crm_sync_app::handle_hubspot_webhook(&h.app, signed_delivery(&h, &format!("[{}]", events.join(",")))).await;
    assert_eq!(response.status, 200);
    h.runtime.run_until_idle().await.unwrap();

    let created = integration_creates(&h, "Lead");
    assert_eq!(created.len(), 1, "only the list member becomes a lead");
    let lead = h.sandbox.salesforce().record("Lead", &created[0]).unwrap();
    assert_eq!(lead["Email"], "inside@example.com");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_lifecycle_stage_change_is_carried_to_its_company_when_companies_sync() {
    let h = Harness::start(HarnessOptions { config: deal_config(), ..HarnessOptions::default() }).await.unwrap();
    let hubspot = h.sandbox.hubspot();
    let company = hubspot
        .user_edit(UserEdit::Create {
            object: ObjectType::Companies,
            properties: props(json!({"name": "Stage Co", "lifecyclestage": "lead"})),
        })
        .unwrap();
    let contact = hubspot
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(json!({"email": "stage@example.com", "lastname": "Stager", "lifecyclestage": "lead"})),
        })
        .unwrap();
    hubspot
        .user_edit(UserEdit::Associate {
            from: ObjectType::Contacts,
            id: contact,
            to: ObjectType::Companies,
            to_id: company,
        })
        .unwrap();
    h.sync_until(WAIT, |h| !integration_creates(h, "Lead").is_empty()).await.unwrap();
    h.settle(QUIET).await.unwrap();
    assert_eq!(hubspot.properties(ObjectType::Companies, company).unwrap()["lifecyclestage"], "lead");

    hubspot
        .user_edit(UserEdit::Update {
            object: ObjectType::Contacts,
            id: contact,
            properties: props(json!({"lifecyclestage": "opportunity"})),
        })
        .unwrap();
    let report = crm_sync_app::resync_record(
        &h.app,
        &crm_sync_app::RecordRef::Hubspot { object: crm_sync_domain::ObjectPair::Contact, id: contact.to_string() },
    )
    .await
    .unwrap();
    assert_eq!(report.error, None);
    h.settle(QUIET).await.unwrap();
    assert_eq!(hubspot.properties(ObjectType::Companies, company).unwrap()["lifecyclestage"], "opportunity");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_campaign_membership_fills_the_read_only_hubspot_campaigns_property() {
    let h = Harness::start(HarnessOptions { webhooks: false, ..HarnessOptions::default() }).await.unwrap();
    let salesforce = h.sandbox.salesforce();
    let lead = salesforce
        .create_as_user("Lead", json!({"LastName": "Member", "Company": "Acme", "Email": "member@example.com"}))
        .unwrap();
    for name in ["Spring Webinar", "Autumn Expo"] {
        let campaign = salesforce.create_as_user("Campaign", json!({"Name": name})).unwrap();
        salesforce.create_as_user("CampaignMember", json!({"CampaignId": campaign, "LeadId": lead})).unwrap();
    }
    let report = crm_sync_app::resync_record(
        &h.app,
        &crm_sync_app::RecordRef::Salesforce { object: crm_sync_domain::SfObject::Lead, id: lead.clone() },
    )
    .await
    .unwrap();
    assert_eq!(report.error, None);
    let contact = hubspot_contact_for(&h, &lead).await;
    assert_eq!(contact.get("salesforce_campaigns").map(String::as_str), Some("Autumn Expo;Spring Webinar"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_translates_owners_and_deal_stages_as_the_live_sync_does() {
    let h = Harness::start(HarnessOptions { config: deal_config(), webhooks: false, ..HarnessOptions::default() })
        .await
        .unwrap();
    let sam_owner = h.sandbox.hubspot().add_owner("Sam", "Seller", "sam.seller@crm-sync.sandbox");
    let sam_user = salesforce_user(&h, "sam.seller@crm-sync.sandbox").await;
    let owned = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Contact",
            json!({"LastName": "Owned", "Email": "imported-owned@example.com", "OwnerId": sam_user}),
        )
        .unwrap();
    let opportunity = h
        .sandbox
        .salesforce()
        .create_as_user(
            "Opportunity",
            json!({"Name": "Imported deal", "StageName": "Closed Won", "CloseDate": "2026-12-31"}),
        )
        .unwrap();
    for objects in [crm_sync_app::ImportObjects::Contacts, crm_sync_app::ImportObjects::Opportunities] {
        let request = crm_sync_app::ImportRequest { objects, filter: None, chunk_size: None, add_to_segment: false };
        crm_sync_app::import_start(&h.app, &request).await.unwrap();
        h.runtime.run_until_idle().await.unwrap();
    }
    let contact = hubspot_contact_for(&h, &owned).await;
    assert_eq!(
        contact.get("hubspot_owner_id").map(String::as_str),
        Some(sam_owner.to_string().as_str()),
        "{contact:?}"
    );
    let deal =
        linked_hubspot_id(&h, crm_sync_store::ObjectPair::Deal, &opportunity).await.expect("the import made a deal");
    let properties = h.sandbox.hubspot().properties(ObjectType::Deals, deal).unwrap();
    assert_eq!(properties["dealstage"], "closedwon", "the stage label becomes HubSpot's stage id");
    h.stop().await;
}
