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

/// A `POST` to the fake HubSpot: status and JSON body.
async fn post(sandbox: &Sandbox, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    let answer = reqwest::Client::new()
        .post(format!("{}{path}", sandbox.hubspot_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .json(&body)
        .send()
        .await?;
    Ok((answer.status().as_u16(), answer.json().await?))
}

#[tokio::test]
async fn batch_error_entries_carry_errors_with_the_details_of_each_refused_value() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let inputs = json!({"inputs": [
        {"properties": {"email": "ada@example.com"}, "objectWriteTraceId": "0"},
        {"properties": {"email": "not-an-email"}, "objectWriteTraceId": "1"},
    ]});
    let (status, answer) = post(&sandbox, "/crm/v3/objects/contacts/batch/create", inputs).await?;
    assert_eq!(status, 207, "{answer}");
    let entry = &answer["errors"][0];
    assert_eq!(entry["errors"][0]["code"], "INVALID_EMAIL", "{answer}");
    assert_eq!(entry["errors"][0]["in"], "email", "{answer}");
    assert_eq!((&entry["links"], &entry["context"]["objectWriteTraceId"]), (&json!({}), &json!(["1"])), "{answer}");
    // A failure without per-value details still carries `errors`, empty.
    let (status, answer) =
        post(&sandbox, "/crm/v3/objects/contacts/batch/read", json!({"properties": [], "inputs": [{"id": "424242"}]}))
            .await?;
    assert_eq!((status, &answer["errors"][0]["errors"]), (207, &json!([])), "{answer}");
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn default_associations_and_the_batch_unsubscribe_answer_200_with_the_refused_inputs_in_errors()
-> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let properties = [("email".to_owned(), json!("ada@example.com"))].into_iter().collect();
    let contact = sandbox
        .hubspot()
        .user_edit(UserEdit::Create { object: ObjectType::Contacts, properties })
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let pairs = json!({"inputs": [{"from": {"id": contact.to_string()}, "to": {"id": "424242"}}]});
    let (status, answer) =
        post(&sandbox, "/crm/v4/associations/contacts/companies/batch/associate/default", pairs).await?;
    assert_eq!((status, &answer["numErrors"], &answer["results"]), (200, &json!(1), &json!([])), "{answer}");
    let emails = json!({"inputs": ["ada@example.com", "ghost@example.com"]});
    let (status, answer) =
        post(&sandbox, "/communication-preferences/v4/statuses/batch/unsubscribe-all?channel=EMAIL", emails).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["subscriberIdString"], "ada@example.com", "{answer}");
    assert_eq!(answer["errors"][0]["context"]["ids"], json!(["ghost@example.com"]), "{answer}");
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_property_needs_its_label_and_answers_with_its_description() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let mut definition =
        json!({"name": "legacy_id", "type": "string", "fieldType": "text", "groupName": "contactinformation"});
    let (status, refused) = post(&sandbox, "/crm/v3/properties/contacts", definition.clone()).await?;
    assert_eq!((status, &refused["category"]), (400, &json!("VALIDATION_ERROR")), "{refused}");
    assert_eq!(refused["errors"][0]["in"], "label", "{refused}");
    definition["label"] = json!("Legacy id");
    let (status, made) = post(&sandbox, "/crm/v3/properties/contacts", definition).await?;
    assert_eq!((status, &made["label"], &made["description"]), (201, &json!("Legacy id"), &json!("")), "{made}");
    let described = json!({"name": "region", "label": "Region", "type": "string", "fieldType": "text",
                           "groupName": "contactinformation", "description": "Sales region"});
    let (_, made) = post(&sandbox, "/crm/v3/properties/contacts", described).await?;
    let read: Value = reqwest::Client::new()
        .get(format!("{}/crm/v3/properties/contacts/region", sandbox.hubspot_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!((&made["description"], &read["description"]), (&json!("Sales region"), &json!("Sales region")));
    sandbox.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn association_answers_give_record_ids_as_text_everywhere() -> anyhow::Result<()> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let hubspot = sandbox.hubspot();
    let create = |object: ObjectType, key: &str, value: &str| {
        let properties = [(key.to_owned(), json!(value))].into_iter().collect();
        hubspot.user_edit(UserEdit::Create { object, properties }).map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    let (contact, company) =
        (create(ObjectType::Contacts, "email", "ada@example.com")?, create(ObjectType::Companies, "name", "Acme")?);
    let (a, b) = (contact.to_string(), company.to_string());
    let typed = json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]);
    let http = reqwest::Client::new();
    let single: Value = http
        .put(format!("{}/crm/v4/objects/contacts/{a}/associations/companies/{b}", sandbox.hubspot_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .json(&typed)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!((&single["fromObjectId"], &single["toObjectId"]), (&json!(a), &json!(b)), "{single}");
    let input = json!({"inputs": [{"from": {"id": a}, "to": {"id": b}, "types": typed}]});
    let (_, created) = post(&sandbox, "/crm/v4/associations/contacts/companies/batch/create", input).await?;
    let result = &created["results"][0];
    assert_eq!((&result["fromObjectId"], &result["toObjectId"]), (&json!(a), &json!(b)), "{created}");
    let (_, read) =
        post(&sandbox, "/crm/v4/associations/contacts/companies/batch/read", json!({"inputs": [{"id": a}]})).await?;
    assert_eq!(read["results"][0]["to"][0]["toObjectId"], json!(b), "{read}");
    let listed: Value = http
        .get(format!("{}/crm/v4/objects/contacts/{a}/associations/companies", sandbox.hubspot_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed["results"][0]["toObjectId"], json!(b), "{listed}");
    sandbox.shutdown().await;
    Ok(())
}
