//! What `crm-sync setup` reads and creates, over HTTP: a bare org and
//! account by default, the Tooling API (custom fields, field and entity
//! definitions, outbound messages), HubSpot token info and lists, and the
//! seeding option.

use crm_sandbox::hubspot::DEFAULT_TOKEN;
use crm_sandbox::salesforce::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};
use crm_sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

async fn token(http: &reqwest::Client, sandbox: &Sandbox) -> anyhow::Result<String> {
    let answer: Value = http
        .post(format!("{}/services/oauth2/token", sandbox.salesforce_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(answer["access_token"].as_str().unwrap_or_default().to_owned())
}

struct Sf {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Sf {
    async fn new(sandbox: &Sandbox) -> anyhow::Result<Sf> {
        let http = reqwest::Client::new();
        let token = token(&http, sandbox).await?;
        Ok(Sf { http, base: format!("{}/services/data/v66.0", sandbox.salesforce_url()), token })
    }

    async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let answer = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        let status = answer.status().as_u16();
        Ok((status, answer.json().await.unwrap_or(Value::Null)))
    }

    async fn tooling_query(&self, soql: &str) -> anyhow::Result<(u16, Value)> {
        let answer = self
            .http
            .get(format!("{}/tooling/query", self.base))
            .query(&[("q", soql)])
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = answer.status().as_u16();
        Ok((status, answer.json().await?))
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let answer = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await?;
        let status = answer.status().as_u16();
        Ok((status, answer.json().await?))
    }

    async fn describe_field(&self, object: &str, field: &str) -> anyhow::Result<Option<Value>> {
        let (_, describe) = self.get(&format!("/sobjects/{object}/describe")).await?;
        Ok(describe["fields"].as_array().and_then(|f| f.iter().find(|f| f["name"] == field).cloned()))
    }
}

fn hubspot_id_field(object: &str) -> Value {
    json!({
        "FullName": format!("{object}.HubSpot_Id__c"),
        "Metadata": {"type": "Text", "label": "HubSpot Id", "length": 100, "externalId": true, "unique": true},
    })
}

#[tokio::test]
async fn a_new_org_has_no_hubspot_id_field_until_the_tooling_api_creates_it() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let sf = Sf::new(&sandbox).await?;
    assert_eq!(sf.describe_field("Lead", "HubSpot_Id__c").await?, None);
    let (status, body) = sf
        .tooling_query("SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE DeveloperName = 'HubSpot_Id'")
        .await?;
    assert_eq!(status, 200);
    assert_eq!((body["size"].clone(), body["done"].clone()), (json!(0), json!(true)));
    assert_eq!(body["entityTypeName"], "CustomField");
    // Upserting by a field the org does not have is Salesforce's 404.
    let upsert = sf
        .http
        .patch(format!("{}/sobjects/Lead/HubSpot_Id__c/77", sf.base))
        .bearer_auth(&sf.token)
        .json(&json!({"LastName": "L", "Company": "C"}))
        .send()
        .await?;
    assert_eq!(upsert.status(), 404);

    let (status, created) = sf.post("/tooling/sobjects/CustomField", &hubspot_id_field("Lead")).await?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["success"], true);
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert!(id.starts_with("00N") && id.len() == 18, "{id}");

    let field = sf.describe_field("Lead", "HubSpot_Id__c").await?.unwrap_or_default();
    assert_eq!((field["externalId"].clone(), field["unique"].clone()), (json!(true), json!(true)));
    assert_eq!((field["length"].clone(), field["label"].clone()), (json!(100), json!("HubSpot Id")));
    assert_eq!((field["createable"].clone(), field["updateable"].clone()), (json!(true), json!(true)));
    assert_eq!(sf.describe_field("Contact", "HubSpot_Id__c").await?, None, "one object at a time");

    let (_, rows) = sf
        .tooling_query("SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE DeveloperName = 'HubSpot_Id' AND TableEnumOrId IN ('Lead', 'Contact')")
        .await?;
    assert_eq!(rows["size"], 1);
    assert_eq!(rows["records"][0]["TableEnumOrId"], "Lead");
    assert_eq!(rows["records"][0]["attributes"]["type"], "CustomField");
    let (status, one) = sf.get(&format!("/tooling/sobjects/CustomField/{id}")).await?;
    assert_eq!(status, 200);
    assert_eq!(one["Metadata"]["externalId"], true);
    assert_eq!(one["FullName"], "Lead.HubSpot_Id__c");

    // The new field takes values, upserts by them, and keeps them unique.
    let upsert = sf
        .http
        .patch(format!("{}/sobjects/Lead/HubSpot_Id__c/77", sf.base))
        .bearer_auth(&sf.token)
        .json(&json!({"LastName": "L", "Company": "C"}))
        .send()
        .await?;
    assert_eq!(upsert.status(), 201);
    let (status, twin) =
        sf.post("/sobjects/Lead", &json!({"LastName": "T", "Company": "C", "HubSpot_Id__c": "77"})).await?;
    assert_eq!(status, 400);
    assert_eq!(twin[0]["errorCode"], "DUPLICATE_VALUE");

    let (status, again) = sf.post("/tooling/sobjects/CustomField", &hubspot_id_field("Lead")).await?;
    assert_eq!(status, 400);
    assert_eq!(again[0]["errorCode"], "DUPLICATE_DEVELOPER_NAME");
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_custom_field_create_is_checked_as_salesforce_checks_it() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let sf = Sf::new(&sandbox).await?;
    let text = |full: &str, metadata: Value| json!({"FullName": full, "Metadata": metadata});
    for (body, code) in [
        (text("Lead.No_Suffix", json!({"type": "Text", "label": "x", "length": 10})), "FIELD_INTEGRITY_EXCEPTION"),
        (text("Lead.Bad__c", json!({"type": "Text", "length": 10})), "FIELD_INTEGRITY_EXCEPTION"),
        (text("Lead.Bad__c", json!({"type": "Text", "label": "x", "length": 256})), "FIELD_INTEGRITY_EXCEPTION"),
        (text("Nothing.Bad__c", json!({"type": "Text", "label": "x", "length": 10})), "FIELD_INTEGRITY_EXCEPTION"),
        (json!({"FullName": "Lead.Bad__c"}), "REQUIRED_FIELD_MISSING"),
    ] {
        let (status, answer) = sf.post("/tooling/sobjects/CustomField", &body).await?;
        assert_eq!((status, answer[0]["errorCode"].clone()), (400, json!(code)), "{body}");
    }
    let (status, bad) = sf.tooling_query("SELECT Id FROM Nothing").await?;
    assert_eq!((status, bad[0]["errorCode"].clone()), (400, json!("INVALID_TYPE")));
    let (status, bad) = sf.tooling_query("SELECT Nope FROM CustomField").await?;
    assert_eq!((status, bad[0]["errorCode"].clone()), (400, json!("INVALID_FIELD")));
    let (status, bad) = sf.tooling_query("SELECT QualifiedApiName FROM FieldDefinition").await?;
    assert_eq!((status, bad[0]["errorCode"].clone()), (400, json!("MALFORMED_QUERY")));
    Ok(())
}

#[tokio::test]
async fn seeded_fields_look_as_setup_makes_them_and_definitions_list_them() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default().with_crm_sync_fields()).await?;
    let sf = Sf::new(&sandbox).await?;
    for object in ["Lead", "Contact", "Account", "Opportunity"] {
        let field = sf.describe_field(object, "HubSpot_Id__c").await?.unwrap_or_default();
        assert_eq!((field["externalId"].clone(), field["unique"].clone()), (json!(true), json!(true)), "{object}");
    }
    let (_, fields) = sf
        .tooling_query("SELECT QualifiedApiName, DataType, EntityDefinition.QualifiedApiName FROM FieldDefinition WHERE EntityDefinition.QualifiedApiName = 'Account' AND QualifiedApiName = 'HubSpot_Id__c'")
        .await?;
    assert_eq!(fields["size"], 1);
    assert_eq!(fields["records"][0]["DataType"], "Text(255)");
    assert_eq!(fields["records"][0]["EntityDefinition"]["QualifiedApiName"], "Account");
    let (_, entities) = sf
        .tooling_query("SELECT QualifiedApiName, KeyPrefix FROM EntityDefinition WHERE QualifiedApiName = 'Contact'")
        .await?;
    assert_eq!(entities["records"][0]["KeyPrefix"], "003");
    let (status, many) = sf.tooling_query("SELECT Id, Metadata FROM CustomField").await?;
    assert_eq!((status, many[0]["errorCode"].clone()), (400, json!("MALFORMED_QUERY")), "Metadata one row at a time");
    Ok(())
}

#[tokio::test]
async fn outbound_messages_are_listed_with_their_endpoint_when_the_org_sends_them() -> anyhow::Result<()> {
    let bare = Sandbox::start(SandboxOptions::default()).await?;
    let sf = Sf::new(&bare).await?;
    let (_, none) = sf.tooling_query("SELECT Id, Name, EntityDefinitionId FROM WorkflowOutboundMessage").await?;
    assert_eq!(none["size"], 0);

    let mut options = SandboxOptions::default();
    options.salesforce.outbound_url = Some("https://sync.example/webhooks/salesforce".into());
    let sending = Sandbox::start(options).await?;
    let sf = Sf::new(&sending).await?;
    let (_, listed) = sf
        .tooling_query(
            "SELECT Id, Name, EntityDefinitionId FROM WorkflowOutboundMessage WHERE EntityDefinitionId = 'Lead'",
        )
        .await?;
    assert_eq!(listed["size"], 1);
    let id = listed["records"][0]["Id"].as_str().unwrap_or_default().to_owned();
    let (status, message) = sf.get(&format!("/tooling/sobjects/WorkflowOutboundMessage/{id}")).await?;
    assert_eq!(status, 200);
    assert_eq!(message["Metadata"]["endpointUrl"], "https://sync.example/webhooks/salesforce");
    assert_eq!(message["EntityDefinitionId"], "Lead");
    sending.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn hubspot_starts_without_crm_sync_properties_and_answers_token_info_and_lists() -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let bare = Sandbox::start(SandboxOptions::default()).await?;
    let property = |sandbox: &Sandbox, object: &str, name: &str| {
        http.get(format!("{}/crm/v3/properties/{object}/{name}", sandbox.hubspot_url()))
            .bearer_auth(DEFAULT_TOKEN)
            .send()
    };
    assert_eq!(property(&bare, "companies", "salesforce_id").await?.status(), 404);
    assert_eq!(property(&bare, "contacts", "salesforce_campaigns").await?.status(), 404);
    let seeded = Sandbox::start(SandboxOptions::default().with_crm_sync_fields()).await?;
    let unique: Value = property(&seeded, "deals", "salesforce_id").await?.json().await?;
    assert_eq!(unique["hasUniqueValue"], true);
    assert_eq!(property(&seeded, "contacts", "salesforce_campaigns").await?.status(), 200);

    let info = http
        .post(format!("{}/oauth/v2/private-apps/get/access-token-info", bare.hubspot_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .json(&json!({"tokenKey": DEFAULT_TOKEN}))
        .send()
        .await?;
    assert_eq!(info.status(), 200);
    let info: Value = info.json().await?;
    assert_eq!(info["hubId"], crm_sandbox::hubspot::DEFAULT_PORTAL_ID);
    assert!(info["scopes"].as_array().is_some_and(|s| s.contains(&json!("crm.objects.contacts.write"))));
    let wrong = http
        .post(format!("{}/oauth/v2/private-apps/get/access-token-info", bare.hubspot_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .json(&json!({"tokenKey": "pat-na1-other"}))
        .send()
        .await?;
    assert_eq!(wrong.status(), 401);

    let list: Value = http
        .post(format!("{}/__sandbox/hubspot/lists", bare.hubspot_url()))
        .json(&json!({"name": "Sync to Salesforce", "recordIds": []}))
        .send()
        .await?
        .json()
        .await?;
    let list_id = list["listId"].as_str().map(str::to_owned).unwrap_or_else(|| list["listId"].to_string());
    let read: Value = http
        .get(format!("{}/crm/v3/lists/{list_id}", bare.hubspot_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(read["list"]["name"], "Sync to Salesforce");
    assert_eq!(read["list"]["objectTypeId"], "0-1");
    let missing =
        http.get(format!("{}/crm/v3/lists/999999", bare.hubspot_url())).bearer_auth(DEFAULT_TOKEN).send().await?;
    assert_eq!(missing.status(), 404);
    Ok(())
}

#[tokio::test]
async fn field_level_security_hides_fields_or_makes_them_read_only_for_the_integration_user() -> anyhow::Result<()> {
    use crm_sandbox::salesforce::schema::Access;
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let sf = Sf::new(&sandbox).await?;
    sandbox.salesforce().set_field_access("Lead", "Title", Access::Read).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hidden = sf
        .http
        .put(format!("{}/__sandbox/salesforce/fields/Lead/Phone/access", sandbox.salesforce_url()))
        .json(&json!({"access": "none"}))
        .send()
        .await?;
    assert_eq!(hidden.status(), 204);

    let title = sf.describe_field("Lead", "Title").await?.unwrap_or_default();
    assert_eq!((title["createable"].clone(), title["updateable"].clone()), (json!(false), json!(false)));
    assert_eq!(sf.describe_field("Lead", "Phone").await?, None);

    let (status, refused) =
        sf.post("/sobjects/Lead", &json!({"LastName": "L", "Company": "C", "Title": "CEO"})).await?;
    assert_eq!((status, refused[0]["errorCode"].clone()), (400, json!("INVALID_FIELD_FOR_INSERT_UPDATE")));
    let (status, unknown) = sf.post("/sobjects/Lead", &json!({"LastName": "L", "Company": "C", "Phone": "1"})).await?;
    assert_eq!((status, unknown[0]["errorCode"].clone()), (400, json!("INVALID_FIELD")));
    let query = sf
        .http
        .get(format!("{}/query", sf.base))
        .query(&[("q", "SELECT Id, Phone FROM Lead")])
        .bearer_auth(&sf.token)
        .send()
        .await?;
    assert_eq!(query.status(), 400);
    let (status, _) = sf.get("/query?q=SELECT+Id,+Title+FROM+Lead").await?;
    assert_eq!(status, 200, "a read-only field is still read");

    // A person in the UI is not limited by the integration user's access.
    let id = sandbox
        .salesforce()
        .create_as_user("Lead", json!({"LastName": "L", "Company": "C", "Phone": "1", "Title": "CEO"}))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(sandbox.salesforce().record("Lead", &id).unwrap_or_default()["Title"], "CEO");
    Ok(())
}
