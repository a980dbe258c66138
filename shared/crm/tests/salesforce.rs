//! The Salesforce client against the sandbox's fake Salesforce.

use crm_sandbox::salesforce::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_JWT_PRIVATE_KEY_PEM, DEFAULT_USERNAME, SalesforceOptions,
};
use crm_sandbox::{Fault, Sandbox, SandboxOptions};
use crm_sync_crm::salesforce::{
    CollectionRecord, CustomTextField, SObject, SalesforceAuth, SalesforceClient, SalesforceConfig, Secret,
};
use crm_sync_domain::error::{ErrorCategory, Verdict};
use futures::TryStreamExt;
use serde_json::json;
use std::time::Duration;

async fn sandbox_with(options: SalesforceOptions) -> anyhow::Result<Sandbox> {
    Sandbox::start(SandboxOptions { salesforce: options, ..Default::default() }.with_crm_sync_fields()).await
}

async fn sandbox() -> anyhow::Result<Sandbox> {
    sandbox_with(SalesforceOptions::default()).await
}

fn config(sandbox: &Sandbox, auth: SalesforceAuth) -> SalesforceConfig {
    let mut config = SalesforceConfig::new(sandbox.salesforce_url(), DEFAULT_CLIENT_ID, auth);
    config.bulk_poll_initial = Duration::from_millis(5);
    config.bulk_poll_max = Duration::from_millis(20);
    config.extra_root_pem = sandbox.cert_pem().map(str::to_owned);
    config
}

fn client(sandbox: &Sandbox) -> anyhow::Result<SalesforceClient> {
    let auth = SalesforceAuth::ClientCredentials { client_secret: Secret::new(DEFAULT_CLIENT_SECRET) };
    Ok(SalesforceClient::new(config(sandbox, auth))?)
}

/// A recorded answer (`tests/fixtures`, checked against Salesforce's schema).
fn recorded(json: &str) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(json)?)
}

fn fields(value: serde_json::Value) -> SObject {
    match value {
        serde_json::Value::Object(m) => m,
        _ => SObject::new(),
    }
}

fn text<'a>(record: &'a SObject, field: &str) -> &'a str {
    record.get(field).and_then(|v| v.as_str()).unwrap_or("")
}

#[tokio::test]
async fn a_client_credentials_token_is_fetched_once_and_reused() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    sf.limits().await?;
    sf.limits().await?;
    let counts = sandbox.salesforce_control().counts();
    assert_eq!(counts.count("POST", "/services/oauth2/token"), 1);
    assert_eq!(sf.calls_made(), 3);
    assert_eq!(sf.instance_url().as_deref(), Some(sandbox.salesforce_url()));
    Ok(())
}

#[tokio::test]
async fn the_org_id_is_read_from_the_token_answers_identity_url() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    assert_eq!(sf.organization_id().await?, crm_sandbox::salesforce::ORG_ID);
    sf.limits().await?;
    assert_eq!(
        sandbox.salesforce_control().counts().count("POST", "/services/oauth2/token"),
        1,
        "one token serves both"
    );
    Ok(())
}

#[tokio::test]
async fn the_jwt_bearer_flow_signs_an_assertion_the_sandbox_accepts() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let auth = SalesforceAuth::JwtBearer {
        username: DEFAULT_USERNAME.into(),
        private_key_pem: Secret::new(DEFAULT_JWT_PRIVATE_KEY_PEM),
    };
    let sf = SalesforceClient::new(config(&sandbox, auth))?;
    let id = sf.create("Contact", &fields(json!({"LastName": "Lovelace"}))).await?;
    assert_eq!(id.len(), 18);

    let wrong_user = SalesforceAuth::JwtBearer {
        username: "someone@else".into(),
        private_key_pem: Secret::new(DEFAULT_JWT_PRIVATE_KEY_PEM),
    };
    let err = SalesforceClient::new(config(&sandbox, wrong_user))?
        .limits()
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!((err.status, err.code.as_str()), (400, "invalid_grant"));
    assert_eq!(err.message, "user hasn't approved this consumer");
    assert_eq!(err.category, ErrorCategory::PermissionsOrAccess);
    Ok(())
}

#[tokio::test]
async fn a_wrong_client_secret_is_a_permanent_access_error_with_the_oauth_message() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let auth = SalesforceAuth::ClientCredentials { client_secret: Secret::new("wrong") };
    let sf = SalesforceClient::new(config(&sandbox, auth))?;
    let err = sf.query("SELECT Id FROM Contact").await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(err.code, "invalid_client");
    assert_eq!(err.message, "invalid client credentials");
    assert_eq!(err.verdict, Verdict::Permanent);
    assert!(!format!("{:?}", sf.config()).contains("wrong"), "the secret must not print");
    Ok(())
}

#[tokio::test]
async fn create_get_update_delete_round_trip_and_every_write_moves_system_modstamp() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    let id = sf.create("Contact", &fields(json!({"LastName": "Lovelace", "Email": "ada@example.com"}))).await?;
    let before = sf.get("Contact", &id, &["Email", "SystemModstamp"]).await?;
    assert_eq!(text(&before, "Email"), "ada@example.com");
    sf.update("Contact", &id, &fields(json!({"Email": "ada.l@example.com"}))).await?;
    let after = sf.get("Contact", &id, &[]).await?;
    assert_eq!(text(&after, "Email"), "ada.l@example.com");
    assert_eq!(text(&after, "Full_Name__c"), "Lovelace");
    assert!(text(&after, "SystemModstamp") > text(&before, "SystemModstamp"));
    sf.delete("Contact", &id).await?;
    let gone = sf.get("Contact", &id, &[]).await.err().ok_or_else(|| anyhow::anyhow!("still there"))?;
    assert_eq!((gone.status, gone.code.as_str()), (404, "ENTITY_IS_DELETED"));
    assert_eq!(gone.verdict, Verdict::Permanent);
    Ok(())
}

#[tokio::test]
async fn every_write_carries_the_call_options_client_name_and_reads_do_not_count_as_writes() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    let id = sf.create("Lead", &fields(json!({"LastName": "Hopper", "Company": "Navy"}))).await?;
    sf.update("Lead", &id, &fields(json!({"Title": "Rear Admiral"}))).await?;
    sf.upsert("Lead", "HubSpot_Id__c", "501", &fields(json!({"LastName": "Liskov", "Company": "MIT"}))).await?;
    sandbox.salesforce().update_as_user("Lead", &id, json!({"Title": "Admiral"}))?;
    let writes = sandbox.salesforce().writes();
    let ours: Vec<_> = writes.iter().filter(|w| w.client.as_deref() == Some("crm-sync")).collect();
    assert_eq!(ours.len(), 3);
    assert_eq!(writes.iter().filter(|w| w.client.is_none()).count(), writes.len() - 3);
    Ok(())
}

#[tokio::test]
async fn upsert_by_external_id_creates_then_updates_and_two_matches_are_a_duplicate_error() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    let created = sf.upsert("Contact", "HubSpot_Id__c", "101", &fields(json!({"LastName": "Turing"}))).await?;
    assert_eq!(created.created, Some(true));
    let updated =
        sf.upsert("Contact", "HubSpot_Id__c", "101", &fields(json!({"LastName": "Turing", "Title": "Dr"}))).await?;
    assert_eq!((updated.id.as_str(), updated.created), (created.id.as_str(), Some(false)));
    let by_ext = sf.get_by_external_id("Contact", "HubSpot_Id__c", "101").await?;
    assert_eq!(text(&by_ext, "Title"), "Dr");

    // HubSpot_Id__c is unique; an External ID that is not lets two records share a value.
    let twin = sf.create("Contact", &fields(json!({"LastName": "Twin", "HubSpot_Id__c": "101"}))).await;
    assert_eq!(twin.err().map(|e| e.code), Some("DUPLICATE_VALUE".to_owned()));
    let legacy =
        CustomTextField { label: "Legacy Id".into(), length: 20, external_id: true, unique: false, description: None };
    sf.create_custom_text_field("Contact", "Legacy_Id__c", &legacy).await?;
    sf.create("Contact", &fields(json!({"LastName": "One", "Legacy_Id__c": "7"}))).await?;
    sf.create("Contact", &fields(json!({"LastName": "Two", "Legacy_Id__c": "7"}))).await?;
    let err = sf
        .upsert("Contact", "Legacy_Id__c", "7", &fields(json!({"Title": "x"})))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!((err.status, err.category), (300, ErrorCategory::Duplicates));
    let unknown = sf
        .upsert("Contact", "Nope__c", "1", &fields(json!({"LastName": "x"})))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!((unknown.status, unknown.code.as_str()), (404, "NOT_FOUND"));
    Ok(())
}

#[tokio::test]
async fn a_query_past_the_first_page_follows_next_records_url() -> anyhow::Result<()> {
    let sandbox = sandbox_with(SalesforceOptions { contacts: 2_500, ..Default::default() }).await?;
    let sf = client(&sandbox)?;
    let all = sf.query("SELECT Id, Email FROM Contact").await?;
    assert_eq!(all.len(), 2_500);
    let counts = sandbox.salesforce_control().counts();
    assert_eq!(counts.count("GET", "/services/data/{version}/query"), 1);
    assert_eq!(counts.count("GET", "/services/data/{version}/query/{locator}"), 1);

    let first = sf.query_page("SELECT Id FROM Contact WHERE Email LIKE 'person1%'", Some(200)).await?;
    assert!(!first.done);
    assert_eq!(first.records.len(), 200);
    let streamed: Vec<SObject> =
        sf.query_stream("SELECT Id FROM Contact ORDER BY Email DESC", Some(500)).try_collect().await?;
    assert_eq!(streamed.len(), 2_500);
    assert_eq!(sf.count("SELECT COUNT() FROM Contact WHERE Email != null").await?, 2_500);
    Ok(())
}

#[tokio::test]
async fn query_sees_parents_and_filters_and_query_all_also_sees_deleted_records() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    let account = sf.create("Account", &fields(json!({"Name": "Acme"}))).await?;
    let a =
        sf.create("Contact", &fields(json!({"LastName": "A", "AccountId": account, "Email": "a@acme.com"}))).await?;
    let b = sf.create("Contact", &fields(json!({"LastName": "B", "Email": "b@acme.com"}))).await?;
    let rows = sf.query("SELECT Id, Account.Name FROM Contact WHERE (Email LIKE '%@acme.com' AND NOT LastName = 'B') OR LastName IN ('Z')").await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Account"]["Name"], "Acme");
    sf.delete("Contact", &b).await?;
    assert_eq!(sf.query("SELECT Id FROM Contact").await?.len(), 1);
    let with_deleted = sf.query_all("SELECT Id, IsDeleted FROM Contact ORDER BY LastName").await?;
    assert_eq!(with_deleted.len(), 2);
    assert_eq!((text(&with_deleted[0], "Id"), &with_deleted[1]["IsDeleted"]), (a.as_str(), &json!(true)));
    let bad = sf.query("SELECT Nope FROM Contact").await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!((bad.code.as_str(), bad.category), ("INVALID_FIELD", ErrorCategory::PropertyValueOrValidation));
    let malformed = sf.query("SELECT Id FROM Contact WHERE").await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(malformed.code, "MALFORMED_QUERY");
    Ok(())
}

#[tokio::test]
async fn collections_write_in_calls_of_two_hundred_with_a_result_per_record() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    let mut records: Vec<CollectionRecord> = (0..450)
        .map(|i| CollectionRecord {
            object: "Contact".into(),
            id: None,
            fields: fields(json!({"LastName": format!("L{i}")})),
        })
        .collect();
    records[7].fields.remove("LastName");
    let created = sf.create_many(&records).await?;
    assert_eq!(created.len(), 450);
    let err = created[7].as_ref().err().ok_or_else(|| anyhow::anyhow!("record 7 should fail"))?;
    assert_eq!((err.code.as_str(), err.category), ("REQUIRED_FIELD_MISSING", ErrorCategory::PropertyValueOrValidation));
    let ids: Vec<String> = created.iter().filter_map(|r| r.as_ref().ok().map(|w| w.id.clone())).collect();
    assert_eq!(ids.len(), 449);

    let updates: Vec<CollectionRecord> = ids
        .iter()
        .take(250)
        .map(|id| CollectionRecord {
            object: "Contact".into(),
            id: Some(id.clone()),
            fields: fields(json!({"Title": "Updated"})),
        })
        .collect();
    assert!(sf.update_many(&updates).await?.iter().all(Result::is_ok));
    let upserts: Vec<SObject> =
        (0..201).map(|i| fields(json!({"HubSpot_Id__c": format!("hs-{i}"), "LastName": "U"}))).collect();
    let upserted = sf.upsert_many("Contact", "HubSpot_Id__c", &upserts).await?;
    assert!(upserted.iter().all(|r| r.as_ref().is_ok_and(|w| w.created == Some(true))));
    let read = sf.retrieve_many("Contact", &ids[..3], &["Id", "Title"]).await?;
    assert_eq!(read.iter().flatten().filter(|r| text(r, "Title") == "Updated").count(), 3);
    let deleted = sf.delete_many(&ids[..201]).await?;
    assert!(deleted.iter().all(Result::is_ok));

    let counts = sandbox.salesforce_control().counts();
    assert_eq!(counts.count("POST", "/services/data/{version}/composite/sobjects"), 3);
    assert_eq!(counts.count("PATCH", "/services/data/{version}/composite/sobjects"), 2);
    assert_eq!(counts.count("PATCH", "/services/data/{version}/composite/sobjects/{object}/{field}"), 2);
    assert_eq!(counts.count("DELETE", "/services/data/{version}/composite/sobjects"), 2);
    assert_eq!(sandbox.salesforce().live_count("Contact"), 449 - 201 + 201);
    Ok(())
}

#[tokio::test]
async fn a_bulk_query_reads_a_result_spread_over_several_locators() -> anyhow::Result<()> {
    let sandbox = sandbox_with(SalesforceOptions { leads: 2_500, ..Default::default() }).await?;
    let sf = client(&sandbox)?;
    let result = sf.bulk_query("SELECT Id, Email, Company FROM Lead", false, Some(1_000)).await?;
    assert_eq!(result.columns, ["Id", "Email", "Company"]);
    assert_eq!(result.rows.len(), 2_500);
    assert_eq!(result.pages, 3);
    assert!(result.rows.iter().all(|r| r[0].len() == 18 && r[1].contains('@')));
    let counts = sandbox.salesforce_control().counts();
    assert_eq!(counts.count("GET", "/services/data/{version}/jobs/query/{id}/results"), 3);
    assert_eq!(counts.count("POST", "/services/data/{version}/jobs/query"), 1);
    let count_job = sf
        .bulk_query_create("SELECT COUNT() FROM Lead", false)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(count_job.status, 400);
    Ok(())
}

#[tokio::test]
async fn get_updated_and_get_deleted_list_the_changes_inside_the_window() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    let start = chrono::Utc::now() - chrono::Duration::minutes(2);
    let a = sf.create("Account", &fields(json!({"Name": "A"}))).await?;
    let b = sf.create("Account", &fields(json!({"Name": "B"}))).await?;
    sf.delete("Account", &b).await?;
    let end = chrono::Utc::now() + chrono::Duration::minutes(2);
    let updated = sf.get_updated("Account", start, end).await?;
    assert_eq!(updated.ids, vec![a]);
    let deleted = sf.get_deleted("Account", start, end).await?;
    assert_eq!(deleted.deleted_records.len(), 1);
    assert_eq!(deleted.deleted_records[0].id, b);
    let err = sf.get_updated("Account", end, start).await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(err.code, "INVALID_REPLICATION_DATE");
    Ok(())
}

#[tokio::test]
async fn describe_reports_formula_fields_and_picklists_and_limits_report_the_allocation() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    let contact = sf.describe("Contact").await?;
    let formulas: Vec<&str> = contact.formula_fields().map(|f| f.name.as_str()).collect();
    assert_eq!(formulas, ["Full_Name__c", "Account_Name__c"]);
    assert!(contact.formula_fields().all(|f| !f.updateable && f.calculated_formula.is_some()));
    assert!(contact.field("HubSpot_Id__c").is_some_and(|f| f.external_id));
    let lead = sf.describe("Lead").await?;
    let status = lead.field("Status").ok_or_else(|| anyhow::anyhow!("no Status"))?;
    assert_eq!(status.picklist_values.len(), 4);
    assert!(status.picklist_values.iter().any(|p| p.default_value));

    let limits = sf.limits().await?;
    let daily = limits["DailyApiRequests"];
    assert_eq!(daily.max, 100_000);
    let usage = sf.api_usage().ok_or_else(|| anyhow::anyhow!("no usage header"))?;
    assert_eq!((usage.used, usage.max), (3, 100_000));
    assert_eq!(daily.remaining, 100_000 - 3);
    Ok(())
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_call_succeeds() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    sf.limits().await?;
    sandbox.salesforce().expire_sessions();
    sf.limits().await?;
    let counts = sandbox.salesforce_control().counts();
    assert_eq!(counts.count("POST", "/services/oauth2/token"), 2);
    assert_eq!(counts.count("GET", "/services/data/{version}/limits"), 3);
    assert_eq!(sf.calls_made(), 5);

    // A token that is refused even after renewal ends as an access error.
    let fault = Fault::new(401, 2, "/services/data")
        .with_body(recorded(include_str!("fixtures/salesforce/errors.session-expired.json"))?);
    sandbox.salesforce_control().add_fault(fault);
    let err = sf.limits().await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(
        (err.status, err.code.as_str(), err.category),
        (401, "INVALID_SESSION_ID", ErrorCategory::PermissionsOrAccess)
    );
    Ok(())
}

#[tokio::test]
async fn injected_server_errors_and_row_locks_are_retryable_after_a_delay() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    sf.authenticate().await?;
    sandbox.salesforce_control().add_fault(Fault::new(503, 1, "/services/data").with_header("Retry-After", "7"));
    let unavailable = sf.query("SELECT Id FROM Lead").await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(7)));

    let lock = recorded(include_str!("fixtures/salesforce/errors.row-lock.json"))?;
    sandbox.salesforce_control().add_fault(Fault::new(400, 1, "/services/data").with_method("PATCH").with_body(lock));
    let id = sf.create("Contact", &fields(json!({"LastName": "Locked"}))).await?;
    let locked = sf
        .update("Contact", &id, &fields(json!({"Title": "x"})))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(locked.code, "UNABLE_TO_LOCK_ROW");
    assert!(locked.is_retryable());
    assert!(locked.message.starts_with("unable to obtain exclusive access"));
    sf.update("Contact", &id, &fields(json!({"Title": "x"}))).await?;

    let transport = SalesforceClient::new(SalesforceConfig::new(
        "http://127.0.0.1:9",
        DEFAULT_CLIENT_ID,
        SalesforceAuth::ClientCredentials { client_secret: Secret::new(DEFAULT_CLIENT_SECRET) },
    ))?;
    let down = transport.limits().await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!((down.status, down.code.as_str()), (0, "TRANSPORT"));
    assert!(down.is_retryable());
    Ok(())
}

#[tokio::test]
async fn a_spent_daily_allocation_is_request_limit_exceeded_and_retryable() -> anyhow::Result<()> {
    let sandbox = sandbox_with(SalesforceOptions { daily_api_limit: 3, ..Default::default() }).await?;
    let sf = client(&sandbox)?;
    for _ in 0..3 {
        sf.limits().await?;
    }
    let err = sf.limits().await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!((err.status, err.code.as_str(), err.category), (403, "REQUEST_LIMIT_EXCEEDED", ErrorCategory::ApiLimit));
    assert!(err.is_retryable());
    assert_eq!(sf.api_usage().map(|u| (u.used, u.max)), Some((3, 3)));
    Ok(())
}

#[tokio::test]
async fn each_permanent_error_class_gets_its_sync_health_category() -> anyhow::Result<()> {
    let sandbox = sandbox().await?;
    let sf = client(&sandbox)?;
    let no_access =
        sf.create("User", &fields(json!({"LastName": "X"}))).await.err().ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(no_access.category, ErrorCategory::PermissionsOrAccess);
    let bad_link = sf
        .create("Contact", &fields(json!({"LastName": "X", "AccountId": "001RO0000000999AAA"})))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(
        (bad_link.code.as_str(), bad_link.category),
        ("INVALID_CROSS_REFERENCE_KEY", ErrorCategory::Associations)
    );
    let bad_email = sf
        .create("Contact", &fields(json!({"LastName": "X", "Email": "nope"})))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(
        (bad_email.code.as_str(), bad_email.category),
        ("INVALID_EMAIL_ADDRESS", ErrorCategory::PropertyValueOrValidation)
    );
    let formula = sf
        .create("Contact", &fields(json!({"LastName": "X", "Full_Name__c": "Y"})))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!(formula.code, "INVALID_FIELD_FOR_INSERT_UPDATE");
    let dup = sandbox.salesforce_control();
    dup.add_fault(
        Fault::new(400, 1, "/services/data")
            .with_body(recorded(include_str!("fixtures/salesforce/errors.duplicates-detected.json"))?),
    );
    let duplicate = sf
        .create("Contact", &fields(json!({"LastName": "X"})))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("no error"))?;
    assert_eq!((duplicate.category, duplicate.verdict), (ErrorCategory::Duplicates, Verdict::Permanent));
    assert_eq!(duplicate.message, "You're creating a duplicate record.");
    Ok(())
}

#[tokio::test]
async fn the_sandbox_counters_equal_the_calls_the_client_says_it_made() -> anyhow::Result<()> {
    let sandbox = sandbox_with(SalesforceOptions { contacts: 450, leads: 300, ..Default::default() }).await?;
    let sf = client(&sandbox)?;
    sf.query_page("SELECT Id FROM Contact", Some(200)).await?;
    sf.query("SELECT Id FROM Contact").await?;
    let _: Vec<SObject> = sf.query_stream("SELECT Id FROM Lead", Some(200)).try_collect().await?;
    sf.bulk_query("SELECT Id FROM Lead", false, Some(100)).await?;
    sf.describe("Lead").await?;
    let id = sf.create("Lead", &fields(json!({"LastName": "Count", "Company": "C"}))).await?;
    sandbox.salesforce().expire_sessions();
    sf.get("Lead", &id, &[]).await?;
    let _ = sf.create("Lead", &fields(json!({"LastName": "NoCompany"}))).await;
    assert_eq!(sandbox.salesforce_control().counts().total, sf.calls_made());
    Ok(())
}

#[tokio::test]
async fn the_client_trusts_the_sandbox_certificate_over_https() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions { tls: true, ..Default::default() }.with_crm_sync_fields()).await?;
    let sf = client(&sandbox)?;
    assert!(sandbox.salesforce_url().starts_with("https://"));
    assert_eq!(sf.count("SELECT COUNT() FROM User").await?, 2);
    Ok(())
}

#[tokio::test]
async fn query_all_pages_and_bulk_query_all_include_deleted_records() -> anyhow::Result<()> {
    let sandbox = sandbox_with(SalesforceOptions { accounts: 450, ..Default::default() }).await?;
    let sf = client(&sandbox)?;
    let first = sf.query_page("SELECT Id FROM Account", Some(200)).await?;
    let deleted: Vec<String> = first.records.iter().take(3).map(|r| text(r, "Id").to_owned()).collect();
    assert!(sf.delete_many(&deleted).await?.iter().all(Result::is_ok));
    let page = sf.query_all_page("SELECT Id, IsDeleted FROM Account", Some(200)).await?;
    assert_eq!((page.total_size, page.records.len()), (450, 200));
    let next = page.next_records_url.clone().unwrap_or_default();
    assert!(next.contains("/queryAll/"));
    let all = sf.query_all("SELECT Id FROM Account WHERE IsDeleted = true").await?;
    assert_eq!(all.len(), 3);
    assert_eq!(sf.query("SELECT Id FROM Account").await?.len(), 447);
    let bulk = sf.bulk_query("SELECT Id FROM Account", true, None).await?;
    assert_eq!((bulk.rows.len(), bulk.pages), (450, 1));
    Ok(())
}
