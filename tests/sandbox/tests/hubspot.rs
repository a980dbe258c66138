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
