//! The calls that check and prepare a pair of accounts, against the
//! sandbox: the Tooling API (custom fields, outbound messages), describe's
//! access flags, HubSpot token info and list definitions.

use crm_sandbox::hubspot::{DEFAULT_PORTAL_ID, DEFAULT_TOKEN};
use crm_sandbox::salesforce::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};
use crm_sandbox::{Sandbox, SandboxOptions};
use crm_sync_crm::hubspot::{HubSpotClient, HubSpotConfig};
use crm_sync_crm::salesforce::{CustomTextField, SalesforceAuth, SalesforceClient, SalesforceConfig, Secret, text_of};
use serde_json::json;

fn salesforce(sandbox: &Sandbox) -> anyhow::Result<SalesforceClient> {
    let auth = SalesforceAuth::ClientCredentials { client_secret: Secret::new(DEFAULT_CLIENT_SECRET) };
    Ok(SalesforceClient::new(SalesforceConfig::new(sandbox.salesforce_url(), DEFAULT_CLIENT_ID, auth))?)
}

fn hubspot(sandbox: &Sandbox, token: &str) -> anyhow::Result<HubSpotClient> {
    Ok(HubSpotClient::new(HubSpotConfig::new(sandbox.hubspot_url(), crm_sync_crm::hubspot::Secret::new(token)))?)
}

fn hubspot_id() -> CustomTextField {
    CustomTextField {
        label: "HubSpot Id".into(),
        length: 64,
        external_id: true,
        unique: true,
        description: Some("The HubSpot record this one syncs with".into()),
    }
}

#[tokio::test]
async fn a_custom_field_is_created_through_the_tooling_api_and_shows_in_describe() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let sf = salesforce(&sandbox)?;
    let soql = "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE DeveloperName = 'HubSpot_Id'";
    assert!(sf.tooling_query(soql).await?.is_empty());
    assert!(sf.describe("Account").await?.field("HubSpot_Id__c").is_none());

    let before = sf.calls_made();
    let id = sf.create_custom_text_field("Account", "HubSpot_Id__c", &hubspot_id()).await?;
    assert_eq!(sf.calls_made() - before, 1, "one call");
    assert!(id.starts_with("00N"));

    let describe = sf.describe("Account").await?;
    assert!(describe.createable && describe.updateable && describe.queryable);
    let field = describe.field("HubSpot_Id__c").cloned().ok_or_else(|| anyhow::anyhow!("no field"))?;
    assert!(field.external_id && field.unique && field.createable && field.updateable);
    assert_eq!(field.length, 64);
    let rows = sf.tooling_query(soql).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(text_of(&rows[0], "TableEnumOrId"), Some("Account"));
    let one = sf.tooling_get("CustomField", &id).await?;
    assert_eq!(one.get("Metadata").and_then(|m| m.get("unique")), Some(&json!(true)));

    let again = sf.create_custom_text_field("Account", "HubSpot_Id__c", &hubspot_id()).await.err();
    assert_eq!(again.map(|e| (e.status, e.code)), Some((400, "DUPLICATE_DEVELOPER_NAME".to_owned())));
    let bad = sf.tooling_query("SELECT Id FROM NoSuchThing").await.err();
    assert_eq!(bad.map(|e| e.code), Some("INVALID_TYPE".to_owned()));
    Ok(())
}

#[tokio::test]
async fn outbound_messages_are_read_with_their_endpoint() -> anyhow::Result<()> {
    let mut options = SandboxOptions::default();
    options.salesforce.outbound_url = Some("https://sync.example/webhooks/salesforce".into());
    let sandbox = Sandbox::start(options).await?;
    let sf = salesforce(&sandbox)?;
    let messages = sf.tooling_query("SELECT Id, Name, EntityDefinitionId FROM WorkflowOutboundMessage").await?;
    let objects: Vec<&str> = messages.iter().filter_map(|m| text_of(m, "EntityDefinitionId")).collect();
    assert_eq!(objects, ["Lead", "Contact", "Account", "Opportunity"]);
    let id = text_of(&messages[0], "Id").unwrap_or_default();
    let message = sf.tooling_get("WorkflowOutboundMessage", id).await?;
    assert_eq!(
        message.get("Metadata").and_then(|m| m.get("endpointUrl")),
        Some(&json!("https://sync.example/webhooks/salesforce"))
    );
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn hubspot_token_info_names_the_scopes_and_lists_are_read_by_id() -> anyhow::Result<()> {
    let mut options = SandboxOptions::default();
    options.hubspot.scopes = vec!["crm.objects.contacts.read".into()];
    let sandbox = Sandbox::start(options).await?;
    let hs = hubspot(&sandbox, DEFAULT_TOKEN)?;
    let info = hs.token_info().await?;
    assert_eq!(info.hub_id, DEFAULT_PORTAL_ID);
    assert_eq!(info.scopes, ["crm.objects.contacts.read"]);
    let stranger = hubspot(&sandbox, "pat-na1-someone-else")?;
    assert_eq!(stranger.token_info().await.err().map(|e| e.status), Some(401));

    assert_eq!(hs.list_info("424242").await?, None);
    let list_id = sandbox.hubspot().create_list("Sync to Salesforce", &[]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let list = hs.list_info(&list_id.to_string()).await?.ok_or_else(|| anyhow::anyhow!("no list"))?;
    assert_eq!((list.name.as_str(), list.object_type_id.as_str()), ("Sync to Salesforce", "0-1"));
    Ok(())
}
