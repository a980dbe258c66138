//! The fake HubSpot over HTTP: answers in HubSpot's documented shapes.

use crm_sandbox::hubspot::{DEFAULT_TOKEN, ObjectType, UserEdit};
use crm_sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

#[tokio::test]
async fn list_membership_changes_answer_with_every_list_as_hubspot_spells_them() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let hubspot = sandbox.hubspot();
    let list = hubspot.create_list("Synced", &[]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let properties = [("email".to_owned(), json!("ada@example.com"))].into_iter().collect();
    let contact = hubspot
        .user_edit(UserEdit::Create { object: ObjectType::Contacts, properties })
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let http = reqwest::Client::new();
    let base = format!("{}/crm/v3/lists/{list}/memberships", sandbox.hubspot_url());
    let put = |path: &'static str, ids: Value| {
        http.put(format!("{base}/{path}")).bearer_auth(DEFAULT_TOKEN).json(&ids).send()
    };
    let added: Value = put("add", json!([contact.to_string(), "999999"])).await?.json().await?;
    // HubSpot's MembershipsUpdateResponse: all three lists, ids as strings,
    // and "added" spelled `recordsIdsAdded`.
    assert_eq!(
        added,
        json!({"recordsIdsAdded": [contact.to_string()], "recordIdsRemoved": [], "recordIdsMissing": ["999999"]})
    );
    let removed: Value = put("remove", json!([contact.to_string()])).await?.json().await?;
    assert_eq!(
        removed,
        json!({"recordsIdsAdded": [], "recordIdsRemoved": [contact.to_string()], "recordIdsMissing": []})
    );
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_body_that_is_not_json_or_of_the_wrong_shape_gets_hubspots_json_validation_error() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let http = reqwest::Client::new();
    let url = format!("{}/crm/v3/objects/contacts", sandbox.hubspot_url());
    for body in ["{not json", r#"{"properties": 5}"#] {
        let answer = http
            .post(&url)
            .bearer_auth(DEFAULT_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        assert_eq!(answer.status(), 400, "{body}");
        let error: Value = answer.json().await?;
        assert_eq!(error["status"], "error", "{body}: {error}");
        assert_eq!(error["category"], "VALIDATION_ERROR", "{body}: {error}");
        assert!(error["correlationId"].is_string() && error["message"].is_string(), "{body}: {error}");
    }
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn default_associations_answer_as_hubspot_does_with_from_to_and_the_spec() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let hubspot = sandbox.hubspot();
    let create = |object: ObjectType, key: &str, value: &str| {
        let properties = [(key.to_owned(), json!(value))].into_iter().collect();
        hubspot.user_edit(UserEdit::Create { object, properties }).map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    let contact = create(ObjectType::Contacts, "email", "ada@example.com")?;
    let company = create(ObjectType::Companies, "name", "Initech")?;
    let http = reqwest::Client::new();
    let url =
        format!("{}/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}", sandbox.hubspot_url());
    let single: Value = http.put(url).bearer_auth(DEFAULT_TOKEN).send().await?.json().await?;
    let batch = http
        .post(format!("{}/crm/v4/associations/contacts/companies/batch/associate/default", sandbox.hubspot_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .json(&json!({"inputs": [{"from": {"id": contact.to_string()}, "to": {"id": company.to_string()}}]}))
        .send()
        .await?;
    assert_eq!(batch.status(), 200);
    let batch: Value = batch.json().await?;
    for answer in [single, batch] {
        let result = &answer["results"][0];
        assert_eq!(result["from"], json!({"id": contact.to_string()}), "{answer}");
        assert_eq!(result["to"], json!({"id": company.to_string()}), "{answer}");
        assert_eq!(result["associationSpec"]["associationCategory"], "HUBSPOT_DEFINED", "{answer}");
        assert!(result["associationSpec"]["associationTypeId"].is_u64(), "{answer}");
        assert_eq!(answer["status"], "COMPLETE");
    }
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn owners_answer_with_hubspots_required_fields() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    sandbox.hubspot().add_owner("Sam", "Seller", "sam@example.com");
    let answer = owners(&sandbox).await?;
    let owner = answer["results"].as_array().and_then(|r| r.iter().find(|o| o["email"] == "sam@example.com")).cloned();
    let owner = owner.unwrap_or_default();
    // HubSpot's PublicOwner: id, type, archived, createdAt and updatedAt.
    for field in ["id", "type", "createdAt", "updatedAt", "firstName", "lastName", "email"] {
        assert!(owner[field].is_string(), "{field} in {owner}");
    }
    assert!(chrono::DateTime::parse_from_rfc3339(owner["createdAt"].as_str().unwrap_or_default()).is_ok(), "{owner}");
    assert_eq!(owner["archived"], false);
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn owners_can_be_added_through_the_control_api_and_at_start() -> anyhow::Result<()> {
    let mut options = SandboxOptions::default();
    options.hubspot.owners = vec![("Ada".into(), "Admin".into(), "ada@example.com".into())];
    let sandbox = Sandbox::start(options).await?;
    let http = reqwest::Client::new();
    let added = http
        .post(format!("{}/__sandbox/hubspot/owners", sandbox.hubspot_url()))
        .json(&json!({"firstName": "Sam", "lastName": "Seller", "email": "sam@example.com"}))
        .send()
        .await?;
    assert_eq!(added.status(), 201);
    let answer = owners(&sandbox).await?;
    let emails: Vec<&str> =
        answer["results"].as_array().into_iter().flatten().filter_map(|o| o["email"].as_str()).collect();
    assert!(emails.contains(&"ada@example.com") && emails.contains(&"sam@example.com"), "{answer}");
    sandbox.shutdown().await;
    Ok(())
}

/// The first page of `GET /crm/v3/owners`.
async fn owners(sandbox: &Sandbox) -> anyhow::Result<Value> {
    let url = format!("{}/crm/v3/owners", sandbox.hubspot_url());
    Ok(reqwest::Client::new().get(url).bearer_auth(DEFAULT_TOKEN).send().await?.json().await?)
}
