//! The sandbox answers as the vendors document: every operation crm-sync
//! calls (and the control API's user edits that mirror them) is driven over
//! HTTP, on its success and error paths, and every answer is validated
//! against its JSON Schema in `tests/sandbox/schemas/`. The same schemas
//! validate the recorded answers the client's tests use
//! (`shared/crm/tests/fixtures/`), and a mutated answer is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::{Context, anyhow};
use crm_sandbox::Fault;
use crm_sandbox::hubspot::{DEFAULT_TOKEN, HubSpotOptions};
use crm_sandbox::salesforce::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_JWT_PRIVATE_KEY_PEM, DEFAULT_USERNAME, SalesforceOptions,
};
use crm_sandbox::{Sandbox, SandboxOptions};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Schema files that only hold parts other schemas refer to.
const PARTS: [&str; 4] = ["hubspot/common", "hubspot/preferences-common", "hubspot/associated", "salesforce/common"];

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/crm/tests/fixtures")
}

/// Every schema file, compiled; answers checked against them by name
/// (`hubspot/object`), with the failures and the names used kept.
struct Schemas {
    schemas: boon::Schemas,
    index: BTreeMap<String, boon::SchemaIndex>,
    used: Mutex<BTreeSet<String>>,
    failures: Mutex<Vec<String>>,
    checked: Mutex<usize>,
}

impl Schemas {
    fn load() -> anyhow::Result<Schemas> {
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        let mut urls = BTreeMap::new();
        for api in ["hubspot", "salesforce"] {
            let dir = schema_dir().join(api);
            for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
                let path = entry?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let stem = path.file_stem().and_then(|s| s.to_str()).context("a file name")?.to_owned();
                let url = url::Url::from_file_path(&path).map_err(|()| anyhow!("{}", path.display()))?.to_string();
                let value: Value = serde_json::from_slice(&std::fs::read(&path)?)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                compiler.add_resource(&url, value).map_err(|e| anyhow!("{}: {e}", path.display()))?;
                urls.insert(format!("{api}/{stem}"), url);
            }
        }
        let mut schemas = boon::Schemas::new();
        let mut index = BTreeMap::new();
        for (name, url) in urls {
            let compiled = compiler.compile(&url, &mut schemas).map_err(|e| anyhow!("{name}: {e:#}"))?;
            index.insert(name, compiled);
        }
        Ok(Schemas {
            schemas,
            index,
            used: Mutex::new(BTreeSet::new()),
            failures: Mutex::new(Vec::new()),
            checked: Mutex::new(0),
        })
    }

    /// Whether `value` is valid against the schema `name`; why not, if not.
    fn validate(&self, name: &str, value: &Value) -> Result<(), String> {
        let index = *self.index.get(name).ok_or_else(|| format!("no schema {name}"))?;
        self.used.lock().unwrap().insert(name.to_owned());
        self.schemas.validate(value, index).map_err(|e| format!("{e:#}"))
    }

    fn fail(&self, message: String) {
        self.failures.lock().unwrap().push(message);
    }

    /// Checks an answer: the status expected, and the body valid against `schema`.
    fn expect(&self, what: &str, schema: &str, expected: u16, (status, body): (u16, Value)) -> Value {
        *self.checked.lock().unwrap() += 1;
        if status != expected {
            self.fail(format!("{what}: status {status}, expected {expected}: {body}"));
        }
        if let Err(why) = self.validate(schema, &body) {
            self.fail(format!("{what}: the answer is not a valid {schema}: {why}\n  answer: {body}"));
        }
        body
    }

    /// Checks an answer that has no body (204).
    fn expect_empty(&self, what: &str, (status, body): (u16, Value)) {
        *self.checked.lock().unwrap() += 1;
        if status != 204 || !body.is_null() {
            self.fail(format!("{what}: expected 204 without a body, got {status}: {body}"));
        }
    }

    fn finish(&self) {
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "{} of {} answers failed:\n{}",
            failures.len(),
            self.checked.lock().unwrap(),
            failures.join("\n")
        );
    }
}

/// Sends a request; the status and the JSON body (`Null` when empty).
async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes)))?
    };
    Ok((status, body))
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn request(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        send(self.request(method, path, body)).await
    }
}

fn id_of(body: &Value) -> String {
    match &body["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn every_hubspot_answer_the_client_reads_is_valid_against_its_schema() -> anyhow::Result<()> {
    let schemas = Schemas::load()?;
    let options = HubSpotOptions {
        owners: vec![("Ada".into(), "Lovelace".into(), "ada.owner@example.com".into())],
        search_per_second: 1_000,
        webhook_hold: true,
        ..HubSpotOptions::default()
    };
    let sandbox = Sandbox::start(SandboxOptions { hubspot: options, ..SandboxOptions::default() }).await?;
    let hs = Api { http: reqwest::Client::new(), base: sandbox.hubspot_url().to_owned(), token: DEFAULT_TOKEN.into() };
    let s = &schemas;
    use Method as M;

    // Properties.
    let color = json!({"name": "favorite_color", "label": "Favorite color", "type": "string", "fieldType": "text",
                       "groupName": "contactinformation", "description": "What they like"});
    s.expect(
        "create a property",
        "hubspot/property",
        201,
        hs.call(M::POST, "/crm/v3/properties/contacts", Some(color.clone())).await?,
    );
    s.expect(
        "read a property",
        "hubspot/property",
        200,
        hs.call(M::GET, "/crm/v3/properties/contacts/favorite_color", None).await?,
    );
    s.expect(
        "read an unknown property",
        "hubspot/error",
        404,
        hs.call(M::GET, "/crm/v3/properties/contacts/nope", None).await?,
    );
    s.expect(
        "define a property twice",
        "hubspot/error",
        409,
        hs.call(M::POST, "/crm/v3/properties/contacts", Some(color)).await?,
    );
    let unlabeled =
        json!({"name": "no_label", "type": "string", "fieldType": "text", "groupName": "contactinformation"});
    s.expect(
        "a property without a label",
        "hubspot/error",
        400,
        hs.call(M::POST, "/crm/v3/properties/contacts", Some(unlabeled)).await?,
    );

    // Single records.
    let ada = s.expect(
        "create a contact",
        "hubspot/object",
        201,
        hs.call(
            M::POST,
            "/crm/v3/objects/contacts",
            Some(json!({"properties": {"email": "ada@example.com", "firstname": "Ada"}})),
        )
        .await?,
    );
    let ada_id = id_of(&ada);
    let bob = s.expect(
        "create another contact",
        "hubspot/object",
        201,
        hs.call(M::POST, "/crm/v3/objects/contacts", Some(json!({"properties": {"email": "bob@example.com"}}))).await?,
    );
    let bob_id = id_of(&bob);
    s.expect(
        "create a contact whose email exists",
        "hubspot/error",
        409,
        hs.call(M::POST, "/crm/v3/objects/contacts", Some(json!({"properties": {"email": "ada@example.com"}}))).await?,
    );
    s.expect(
        "create a contact with an unknown property",
        "hubspot/error",
        400,
        hs.call(M::POST, "/crm/v3/objects/contacts", Some(json!({"properties": {"shoe_size": "9"}}))).await?,
    );
    let acme = s.expect(
        "create a company",
        "hubspot/object",
        201,
        hs.call(
            M::POST,
            "/crm/v3/objects/companies",
            Some(json!({"properties": {"name": "Acme", "domain": "acme.example.com"}})),
        )
        .await?,
    );
    let acme_id = id_of(&acme);
    s.expect(
        "read a contact",
        "hubspot/object",
        200,
        hs.call(M::GET, &format!("/crm/v3/objects/contacts/{ada_id}?properties=email,firstname"), None).await?,
    );
    s.expect(
        "read a contact by email",
        "hubspot/object",
        200,
        hs.call(M::GET, "/crm/v3/objects/contacts/ada@example.com?idProperty=email", None).await?,
    );
    s.expect(
        "read an unknown contact",
        "hubspot/error",
        404,
        hs.call(M::GET, "/crm/v3/objects/contacts/999999999", None).await?,
    );
    s.expect(
        "update a contact",
        "hubspot/object",
        200,
        hs.call(
            M::PATCH,
            &format!("/crm/v3/objects/contacts/{ada_id}"),
            Some(json!({"properties": {"lastname": "Lovelace"}})),
        )
        .await?,
    );
    s.expect(
        "update a contact with a bad email",
        "hubspot/error",
        400,
        hs.call(
            M::PATCH,
            &format!("/crm/v3/objects/contacts/{ada_id}"),
            Some(json!({"properties": {"email": "not-an-email"}})),
        )
        .await?,
    );
    s.expect(
        "list contacts",
        "hubspot/object-page",
        200,
        hs.call(M::GET, "/crm/v3/objects/contacts?limit=1&properties=email", None).await?,
    );
    s.expect(
        "list archived contacts",
        "hubspot/object-page",
        200,
        hs.call(M::GET, "/crm/v3/objects/contacts?archived=true", None).await?,
    );
    s.expect(
        "a list page too large",
        "hubspot/error",
        400,
        hs.call(M::GET, "/crm/v3/objects/contacts?limit=101", None).await?,
    );
    let search = json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}],
                        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                        "properties": ["email", "lastmodifieddate"], "limit": 1});
    s.expect("search", "hubspot/search", 200, hs.call(M::POST, "/crm/v3/objects/contacts/search", Some(search)).await?);
    let bad_search = json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "NOT_AN_OPERATOR"}]}]});
    s.expect(
        "search with a bad operator",
        "hubspot/error",
        400,
        hs.call(M::POST, "/crm/v3/objects/contacts/search", Some(bad_search)).await?,
    );

    // Batches of records.
    let read = |ids: Vec<&str>| json!({"properties": ["email"], "propertiesWithHistory": [], "inputs": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()});
    s.expect(
        "batch read",
        "hubspot/batch-records",
        200,
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/read", Some(read(vec![&ada_id]))).await?,
    );
    let partial = s.expect(
        "batch read with an unknown id",
        "hubspot/batch-records",
        207,
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/read", Some(read(vec![&ada_id, "999999999"]))).await?,
    );
    if partial["errors"][0]["errors"].as_array().is_none() {
        s.fail(format!("a batch error entry carries errors: {partial}"));
    }
    s.expect(
        "batch read archived",
        "hubspot/batch-records",
        207,
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/read?archived=true", Some(read(vec![&ada_id]))).await?,
    );
    let create = |emails: &[&str]| json!({"inputs": emails.iter().enumerate().map(|(i, e)| json!({"properties": {"email": e}, "associations": [], "objectWriteTraceId": i.to_string()})).collect::<Vec<_>>()});
    s.expect(
        "batch create",
        "hubspot/batch-records",
        201,
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/create", Some(create(&["cy@example.com"]))).await?,
    );
    s.expect(
        "batch create with a bad email",
        "hubspot/batch-records",
        207,
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/create", Some(create(&["di@example.com", "not-an-email"])))
            .await?,
    );
    let update = |pairs: &[(&str, &str)]| json!({"inputs": pairs.iter().enumerate().map(|(i, (id, v))| json!({"id": id, "properties": {"jobtitle": v}, "objectWriteTraceId": i.to_string()})).collect::<Vec<_>>()});
    s.expect(
        "batch update",
        "hubspot/batch-records",
        200,
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/update", Some(update(&[(&ada_id, "Countess")]))).await?,
    );
    s.expect(
        "batch update with an unknown id",
        "hubspot/batch-records",
        207,
        hs.call(
            M::POST,
            "/crm/v3/objects/contacts/batch/update",
            Some(update(&[(&ada_id, "Countess"), ("999999999", "x")])),
        )
        .await?,
    );
    s.expect(
        "batch update with a repeated id",
        "hubspot/error",
        400,
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/update", Some(update(&[(&ada_id, "a"), (&ada_id, "b")])))
            .await?,
    );
    let upsert = |rows: &[(&str, Value)]| json!({"inputs": rows.iter().enumerate().map(|(i, (email, p))| json!({"id": email, "idProperty": "email", "properties": p, "objectWriteTraceId": i.to_string()})).collect::<Vec<_>>()});
    s.expect(
        "batch upsert",
        "hubspot/batch-upsert",
        200,
        hs.call(
            M::POST,
            "/crm/v3/objects/contacts/batch/upsert",
            Some(upsert(&[
                ("ada@example.com", json!({"firstname": "A"})),
                ("eve@example.com", json!({"firstname": "E"})),
            ])),
        )
        .await?,
    );
    s.expect(
        "batch upsert with a bad value",
        "hubspot/batch-upsert",
        207,
        hs.call(
            M::POST,
            "/crm/v3/objects/contacts/batch/upsert",
            Some(upsert(&[
                ("fay@example.com", json!({"firstname": "F"})),
                ("gus@example.com", json!({"shoe_size": "9"})),
            ])),
        )
        .await?,
    );
    s.expect(
        "batch upsert by a property that is not unique",
        "hubspot/error",
        400,
        hs.call(
            M::POST,
            "/crm/v3/objects/contacts/batch/upsert",
            Some(json!({"inputs": [{"id": "x", "idProperty": "firstname", "properties": {}}]})),
        )
        .await?,
    );
    let too_many: Vec<Value> = (0..101).map(|i| json!({"id": i.to_string()})).collect();
    s.expect(
        "a batch over 100 inputs",
        "hubspot/error",
        400,
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/read", Some(json!({"properties": [], "inputs": too_many})))
            .await?,
    );
    let cy = s.expect(
        "read the batch-created contact",
        "hubspot/object",
        200,
        hs.call(M::GET, "/crm/v3/objects/contacts/cy@example.com?idProperty=email", None).await?,
    );
    s.expect_empty(
        "batch archive",
        hs.call(M::POST, "/crm/v3/objects/contacts/batch/archive", Some(json!({"inputs": [{"id": id_of(&cy)}]})))
            .await?,
    );

    // Associations v4.
    let pair = |from: &str, to: &str| json!({"from": {"id": from}, "to": {"id": to}});
    let labeled = |from: &str, to: &str| json!({"from": {"id": from}, "to": {"id": to}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]});
    s.expect(
        "associate in a batch",
        "hubspot/associations-batch-create",
        201,
        hs.call(
            M::POST,
            "/crm/v4/associations/contacts/companies/batch/create",
            Some(json!({"inputs": [labeled(&ada_id, &acme_id)]})),
        )
        .await?,
    );
    s.expect(
        "associate in a batch with an unknown company",
        "hubspot/associations-batch-create",
        207,
        hs.call(
            M::POST,
            "/crm/v4/associations/contacts/companies/batch/create",
            Some(json!({"inputs": [labeled(&ada_id, &acme_id), labeled(&ada_id, "999999999")]})),
        )
        .await?,
    );
    s.expect(
        "associate by default in a batch",
        "hubspot/associations-default",
        200,
        hs.call(
            M::POST,
            "/crm/v4/associations/contacts/companies/batch/associate/default",
            Some(json!({"inputs": [pair(&bob_id, &acme_id)]})),
        )
        .await?,
    );
    let refused = s.expect(
        "associate by default with an unknown company (200, the pair in errors)",
        "hubspot/associations-default",
        200,
        hs.call(
            M::POST,
            "/crm/v4/associations/contacts/companies/batch/associate/default",
            Some(json!({"inputs": [pair(&bob_id, "999999999")]})),
        )
        .await?,
    );
    if refused["numErrors"] != json!(1) {
        s.fail(format!("a refused default association is in errors: {refused}"));
    }
    s.expect(
        "associate one pair by default",
        "hubspot/associations-default",
        200,
        hs.call(M::PUT, &format!("/crm/v4/objects/contacts/{ada_id}/associations/default/companies/{acme_id}"), None)
            .await?,
    );
    s.expect(
        "associate one pair with a type",
        "hubspot/association-labels",
        201,
        hs.call(
            M::PUT,
            &format!("/crm/v4/objects/contacts/{bob_id}/associations/companies/{acme_id}"),
            Some(json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}])),
        )
        .await?,
    );
    s.expect(
        "a record's associations",
        "hubspot/associations-page",
        200,
        hs.call(M::GET, &format!("/crm/v4/objects/contacts/{ada_id}/associations/companies"), None).await?,
    );
    s.expect(
        "read a contact with its associations",
        "hubspot/object",
        200,
        hs.call(M::GET, &format!("/crm/v3/objects/contacts/{ada_id}?associations=companies"), None).await?,
    );
    let assoc_read = |ids: Vec<&str>| json!({"inputs": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()});
    s.expect(
        "read associations in a batch",
        "hubspot/associations-batch-read",
        200,
        hs.call(M::POST, "/crm/v4/associations/contacts/companies/batch/read", Some(assoc_read(vec![&ada_id]))).await?,
    );
    s.expect(
        "read associations in a batch with an unknown contact",
        "hubspot/associations-batch-read",
        207,
        hs.call(
            M::POST,
            "/crm/v4/associations/contacts/companies/batch/read",
            Some(assoc_read(vec![&ada_id, "999999999"])),
        )
        .await?,
    );
    s.expect_empty(
        "dissociate in a batch",
        hs.call(
            M::POST,
            "/crm/v4/associations/contacts/companies/batch/archive",
            Some(json!({"inputs": [{"from": {"id": bob_id}, "to": [{"id": acme_id}]}]})),
        )
        .await?,
    );
    s.expect(
        "associations of an unknown object type",
        "hubspot/error",
        400,
        hs.call(M::POST, "/crm/v4/associations/contacts/widgets/batch/read", Some(assoc_read(vec![&ada_id]))).await?,
    );

    // Owners, lists.
    s.expect("owners", "hubspot/owners", 200, hs.call(M::GET, "/crm/v3/owners?limit=500&archived=false", None).await?);
    s.expect("too many owners a page", "hubspot/error", 400, hs.call(M::GET, "/crm/v3/owners?limit=501", None).await?);
    let list = hs
        .call(
            M::POST,
            "/__sandbox/hubspot/lists",
            Some(json!({"name": "Synced", "recordIds": [ada_id.parse::<u64>()?]})),
        )
        .await?
        .1;
    let list_id = list["listId"].as_str().context("a list id")?.to_owned();
    s.expect(
        "a list's members",
        "hubspot/list-memberships",
        200,
        hs.call(M::GET, &format!("/crm/v3/lists/{list_id}/memberships?limit=250"), None).await?,
    );
    s.expect(
        "add list members",
        "hubspot/list-membership-update",
        200,
        hs.call(M::PUT, &format!("/crm/v3/lists/{list_id}/memberships/add"), Some(json!([bob_id, "999999999"])))
            .await?,
    );
    s.expect(
        "remove list members",
        "hubspot/list-membership-update",
        200,
        hs.call(M::PUT, &format!("/crm/v3/lists/{list_id}/memberships/remove"), Some(json!([bob_id]))).await?,
    );
    s.expect("an unknown list", "hubspot/error", 404, hs.call(M::GET, "/crm/v3/lists/424242/memberships", None).await?);

    // Communication preferences v4.
    let v4 = "/communication-preferences/v4/statuses";
    s.expect(
        "not unsubscribed",
        "hubspot/unsubscribe-all-read",
        200,
        hs.call(M::GET, &format!("{v4}/bob@example.com/unsubscribe-all?channel=EMAIL"), None).await?,
    );
    s.expect(
        "unsubscribe from all",
        "hubspot/unsubscribe-all",
        200,
        hs.call(M::POST, &format!("{v4}/bob@example.com/unsubscribe-all?channel=EMAIL"), None).await?,
    );
    let read = s.expect(
        "unsubscribed",
        "hubspot/unsubscribe-all-read",
        200,
        hs.call(M::GET, &format!("{v4}/bob@example.com/unsubscribe-all?channel=EMAIL"), None).await?,
    );
    if read["results"][0]["status"] != "UNSUBSCRIBED" {
        s.fail(format!("the wide status is read from status: {read}"));
    }
    s.expect(
        "unsubscribe many, one unknown (200, the address in errors)",
        "hubspot/unsubscribe-all-batch",
        200,
        hs.call(
            M::POST,
            &format!("{v4}/batch/unsubscribe-all?channel=EMAIL"),
            Some(json!({"inputs": ["ada@example.com", "ghost@example.com"]})),
        )
        .await?,
    );
    s.expect(
        "a status without a channel",
        "hubspot/error",
        400,
        hs.call(M::GET, &format!("{v4}/bob@example.com/unsubscribe-all"), None).await?,
    );
    s.expect(
        "the status of an unknown address",
        "hubspot/error",
        404,
        hs.call(M::GET, &format!("{v4}/ghost@example.com/unsubscribe-all?channel=EMAIL"), None).await?,
    );

    // Archive, then the whole-call errors: bad JSON, bad token, injected faults.
    s.expect_empty("archive a contact", hs.call(M::DELETE, &format!("/crm/v3/objects/contacts/{bob_id}"), None).await?);
    let malformed = hs
        .http
        .post(format!("{}/crm/v3/objects/contacts", hs.base))
        .bearer_auth(DEFAULT_TOKEN)
        .header("content-type", "application/json")
        .body("{not json");
    s.expect("a body that is not JSON", "hubspot/error", 400, send(malformed).await?);
    let wrong_type = hs.request(M::POST, "/crm/v3/objects/contacts/batch/read", Some(json!({"inputs": "ada"})));
    s.expect("a body of the wrong shape", "hubspot/error", 400, send(wrong_type).await?);
    let stranger = Api { http: hs.http.clone(), base: hs.base.clone(), token: "pat-na1-wrong".into() };
    s.expect("a wrong token", "hubspot/error", 401, stranger.call(M::GET, "/crm/v3/objects/contacts", None).await?);
    sandbox.hubspot_control().add_fault(Fault::new(429, 1, "/crm/v3/objects/deals"));
    s.expect("an injected 429", "hubspot/rate-limit-error", 429, hs.call(M::GET, "/crm/v3/objects/deals", None).await?);
    sandbox.hubspot_control().add_fault(Fault::new(503, 1, "/crm/v3/objects/deals"));
    s.expect("an injected 503", "hubspot/error", 503, hs.call(M::GET, "/crm/v3/objects/deals", None).await?);

    // The control API's user edits answer as the API calls they mirror.
    let users = "/__sandbox/hubspot/users";
    let zed = s.expect(
        "a user creates a contact",
        "hubspot/object",
        201,
        hs.call(M::POST, &format!("{users}/contacts"), Some(json!({"properties": {"email": "zed@example.com"}})))
            .await?,
    );
    let zed_id = id_of(&zed);
    let yan = s.expect(
        "a user creates another contact",
        "hubspot/object",
        201,
        hs.call(M::POST, &format!("{users}/contacts"), Some(json!({"properties": {"email": "yan@example.com"}})))
            .await?,
    );
    s.expect(
        "a user creates a contact whose email exists",
        "hubspot/error",
        409,
        hs.call(M::POST, &format!("{users}/contacts"), Some(json!({"properties": {"email": "zed@example.com"}})))
            .await?,
    );
    s.expect(
        "a user updates a contact",
        "hubspot/object",
        200,
        hs.call(M::PATCH, &format!("{users}/contacts/{zed_id}"), Some(json!({"properties": {"firstname": "Zed"}})))
            .await?,
    );
    s.expect(
        "a user updates an unknown contact",
        "hubspot/error",
        404,
        hs.call(M::PATCH, &format!("{users}/contacts/999999999"), Some(json!({"properties": {"firstname": "Zed"}})))
            .await?,
    );
    s.expect(
        "a user opts a contact out",
        "hubspot/object",
        200,
        hs.call(M::POST, &format!("{users}/contacts/{zed_id}/opt-out"), Some(json!({"optedOut": true}))).await?,
    );
    s.expect_empty(
        "a user associates",
        hs.call(M::PUT, &format!("{users}/associations/contacts/{zed_id}/companies/{acme_id}"), None).await?,
    );
    s.expect(
        "a user merges two contacts",
        "hubspot/object",
        200,
        hs.call(
            M::POST,
            &format!("{users}/contacts/merge"),
            Some(json!({"primaryObjectId": zed_id, "objectIdToMerge": id_of(&yan)})),
        )
        .await?,
    );
    s.expect_empty("a user deletes a contact", hs.call(M::DELETE, &format!("{users}/contacts/{zed_id}"), None).await?);
    s.expect(
        "a user deletes it again",
        "hubspot/error",
        404,
        hs.call(M::DELETE, &format!("{users}/contacts/{zed_id}"), None).await?,
    );

    // Every webhook request the sandbox would have sent.
    let batches = sandbox.hubspot().take_webhook_batches();
    if batches.is_empty() {
        s.fail("no webhook requests were made".into());
    }
    for (i, batch) in batches.into_iter().enumerate() {
        s.expect(&format!("webhook request {i}"), "hubspot/webhook-events", 200, (200, Value::Array(batch)));
    }
    sandbox.shutdown().await;

    // The daily limit, deterministic: one call allowed, the next refused.
    let spent = HubSpotOptions { daily_limit: 1, ..HubSpotOptions::default() };
    let sandbox = Sandbox::start(SandboxOptions { hubspot: spent, ..SandboxOptions::default() }).await?;
    let hs = Api { http: reqwest::Client::new(), base: sandbox.hubspot_url().to_owned(), token: DEFAULT_TOKEN.into() };
    s.expect(
        "the day's one call",
        "hubspot/object-page",
        200,
        hs.call(M::GET, "/crm/v3/objects/contacts", None).await?,
    );
    s.expect(
        "past the daily limit",
        "hubspot/rate-limit-error",
        429,
        hs.call(M::GET, "/crm/v3/objects/contacts", None).await?,
    );
    sandbox.shutdown().await;

    for name in schemas.index.keys().filter(|n| n.starts_with("hubspot/") && !PARTS.contains(&n.as_str())) {
        if !schemas.used.lock().unwrap().contains(name) {
            schemas.fail(format!("no answer was checked against {name}"));
        }
    }
    schemas.finish();
    Ok(())
}

/// A signed JWT bearer assertion for the sandbox's integration user.
fn jwt_assertion(audience: &str) -> anyhow::Result<String> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(DEFAULT_JWT_PRIVATE_KEY_PEM.as_bytes())?;
    let claims = json!({"iss": DEFAULT_CLIENT_ID, "sub": DEFAULT_USERNAME, "aud": audience, "exp": chrono::Utc::now().timestamp() + 120});
    Ok(jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &key)?)
}

#[tokio::test]
async fn every_salesforce_answer_the_client_reads_is_valid_against_its_schema() -> anyhow::Result<()> {
    let schemas = Schemas::load()?;
    let options = SalesforceOptions { contacts: 250, bulk_polls_to_complete: 2, ..SalesforceOptions::default() };
    // The org as `crm-sync setup --apply` leaves it: with `HubSpot_Id__c`.
    let sandbox =
        Sandbox::start(SandboxOptions { salesforce: options, ..SandboxOptions::default() }.with_crm_sync_fields())
            .await?;
    let http = reqwest::Client::new();
    let base = sandbox.salesforce_url().to_owned();
    let s = &schemas;
    use Method as M;

    // OAuth.
    let token_url = format!("{base}/services/oauth2/token");
    s.expect("the API versions", "salesforce/versions", 200, send(http.get(format!("{base}/services/data/"))).await?);
    let jwt = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()),
        ("assertion", jwt_assertion(&base)?),
    ];
    s.expect("a JWT bearer token", "salesforce/token", 200, send(http.post(&token_url).form(&jwt)).await?);
    let credentials = [
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ];
    let token = s.expect(
        "a client credentials token",
        "salesforce/token",
        200,
        send(http.post(&token_url).form(&credentials)).await?,
    );
    let wrong = [("grant_type", "client_credentials"), ("client_id", DEFAULT_CLIENT_ID), ("client_secret", "wrong")];
    s.expect("a wrong client secret", "salesforce/oauth-error", 400, send(http.post(&token_url).form(&wrong)).await?);
    let bad_jwt = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()),
        ("assertion", "not.a.jwt".to_owned()),
    ];
    s.expect("a bad assertion", "salesforce/oauth-error", 400, send(http.post(&token_url).form(&bad_jwt)).await?);

    let access = token["access_token"].as_str().context("an access token")?.to_owned();
    let sf = Api { http: http.clone(), base: format!("{base}/services/data/v66.0"), token: access };
    let stranger = Api { http: http.clone(), base: sf.base.clone(), token: "00DRO0000000001AAA!expired".into() };
    s.expect("an invalid session", "salesforce/errors", 401, stranger.call(M::GET, "/limits", None).await?);

    // Metadata and limits.
    s.expect("limits", "salesforce/limits", 200, sf.call(M::GET, "/limits", None).await?);
    s.expect("describe", "salesforce/describe", 200, sf.call(M::GET, "/sobjects/Contact/describe", None).await?);
    s.expect(
        "describe an unknown object",
        "salesforce/errors",
        404,
        sf.call(M::GET, "/sobjects/Widget__c/describe", None).await?,
    );
    s.expect(
        "an unknown API version",
        "salesforce/errors",
        404,
        send(http.get(format!("{base}/services/data/v20.0/limits")).bearer_auth(&sf.token)).await?,
    );

    // Rows. An id well formed but of no record.
    let unknown = crm_sandbox::salesforce::ids::SfId::generate("003", 999_999).to_string();
    let ada = s.expect(
        "create a record",
        "salesforce/save-result",
        201,
        sf.call(M::POST, "/sobjects/Contact", Some(json!({"LastName": "Lovelace", "Email": "ada@example.com"})))
            .await?,
    );
    let ada_id = id_of(&ada);
    s.expect(
        "create with an unknown field",
        "salesforce/errors",
        400,
        sf.call(M::POST, "/sobjects/Contact", Some(json!({"LastName": "X", "Shoe__c": "9"}))).await?,
    );
    s.expect(
        "create without a required field",
        "salesforce/errors",
        400,
        sf.call(M::POST, "/sobjects/Contact", Some(json!({"FirstName": "X"}))).await?,
    );
    s.expect(
        "read a record",
        "salesforce/record",
        200,
        sf.call(M::GET, &format!("/sobjects/Contact/{ada_id}"), None).await?,
    );
    s.expect(
        "read chosen fields",
        "salesforce/record",
        200,
        sf.call(M::GET, &format!("/sobjects/Contact/{ada_id}?fields=Id,LastName,Email"), None).await?,
    );
    s.expect(
        "read an unknown record",
        "salesforce/errors",
        404,
        sf.call(M::GET, &format!("/sobjects/Contact/{unknown}"), None).await?,
    );
    s.expect_empty(
        "update a record",
        sf.call(M::PATCH, &format!("/sobjects/Contact/{ada_id}"), Some(json!({"Title": "Countess"}))).await?,
    );
    s.expect(
        "update with a bad email",
        "salesforce/errors",
        400,
        sf.call(M::PATCH, &format!("/sobjects/Contact/{ada_id}"), Some(json!({"Email": "nope"}))).await?,
    );
    s.expect(
        "upsert a new record",
        "salesforce/upsert-result",
        201,
        sf.call(M::PATCH, "/sobjects/Contact/HubSpot_Id__c/101", Some(json!({"LastName": "Turing"}))).await?,
    );
    s.expect(
        "upsert it again",
        "salesforce/upsert-result",
        200,
        sf.call(M::PATCH, "/sobjects/Contact/HubSpot_Id__c/101", Some(json!({"LastName": "Turing", "Title": "Dr"})))
            .await?,
    );
    s.expect(
        "read by External ID",
        "salesforce/record",
        200,
        sf.call(M::GET, "/sobjects/Contact/HubSpot_Id__c/101", None).await?,
    );
    s.expect(
        "read by an unknown External ID",
        "salesforce/errors",
        404,
        sf.call(M::GET, "/sobjects/Contact/HubSpot_Id__c/999", None).await?,
    );
    // `HubSpot_Id__c` is unique; an External ID that is not can be shared.
    let legacy = json!({
        "FullName": "Contact.Legacy_Id__c",
        "Metadata": {"type": "Text", "label": "Legacy Id", "length": 20, "externalId": true, "unique": false},
    });
    let (status, created) = sf.call(M::POST, "/tooling/sobjects/CustomField", Some(legacy)).await?;
    anyhow::ensure!(status == 201, "creating a shared External ID field: {status} {created}");
    for name in ["Twin", "Twain"] {
        sf.call(M::POST, "/sobjects/Contact", Some(json!({"LastName": name, "Legacy_Id__c": "L1"}))).await?;
    }
    s.expect(
        "read a shared External ID",
        "salesforce/multiple-choices",
        300,
        sf.call(M::GET, "/sobjects/Contact/Legacy_Id__c/L1", None).await?,
    );
    s.expect(
        "upsert a shared External ID",
        "salesforce/multiple-choices",
        300,
        sf.call(M::PATCH, "/sobjects/Contact/Legacy_Id__c/L1", Some(json!({"Title": "x"}))).await?,
    );

    // Queries.
    let soql = |q: &str| format!("/query?q={}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>());
    let paged = sf
        .request(M::GET, &soql("SELECT Id, LastName, Account.Name FROM Contact"), None)
        .header("Sforce-Query-Options", "batchSize=200");
    let first = s.expect("a query's first page", "salesforce/query", 200, send(paged).await?);
    let next =
        first["nextRecordsUrl"].as_str().context("a next page")?.trim_start_matches("/services/data/v66.0").to_owned();
    s.expect("a query's next page", "salesforce/query", 200, sf.call(M::GET, &next, None).await?);
    s.expect("a count", "salesforce/query", 200, sf.call(M::GET, &soql("SELECT COUNT() FROM Contact"), None).await?);
    s.expect(
        "queryAll",
        "salesforce/query",
        200,
        sf.call(
            M::GET,
            &soql("SELECT Id, IsDeleted FROM Contact WHERE LastName = 'Lovelace'").replace("/query?", "/queryAll?"),
            None,
        )
        .await?,
    );
    s.expect(
        "a malformed query",
        "salesforce/errors",
        400,
        sf.call(M::GET, &soql("SELEKT Id FROM Contact"), None).await?,
    );
    s.expect(
        "an unknown field in a query",
        "salesforce/errors",
        400,
        sf.call(M::GET, &soql("SELECT Shoe__c FROM Contact"), None).await?,
    );
    s.expect(
        "a stale query locator",
        "salesforce/errors",
        400,
        sf.call(M::GET, "/query/01gRO0000000999-200", None).await?,
    );

    // sObject Collections.
    let created = s.expect(
        "create records",
        "salesforce/collection-results",
        200,
        sf.call(
            M::POST,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Contact"}, "LastName": "Hopper"},
                {"attributes": {"type": "Contact"}, "LastName": "Bad", "Email": "nope"}
            ]})),
        )
        .await?,
    );
    let hopper = created[0]["id"].as_str().context("a created id")?.to_owned();
    s.expect(
        "update records",
        "salesforce/collection-results",
        200,
        sf.call(
            M::PATCH,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Contact"}, "id": hopper, "Title": "Rear Admiral"},
                {"attributes": {"type": "Contact"}, "id": unknown, "Title": "x"}
            ]})),
        )
        .await?,
    );
    s.expect(
        "upsert records",
        "salesforce/collection-results",
        200,
        sf.call(
            M::PATCH,
            "/composite/sobjects/Contact/HubSpot_Id__c",
            Some(json!({"allOrNone": false, "records": [
                {"attributes": {"type": "Contact"}, "HubSpot_Id__c": "202", "LastName": "Liskov"},
                {"attributes": {"type": "Contact"}, "HubSpot_Id__c": "101", "LastName": "Shared"}
            ]})),
        )
        .await?,
    );
    s.expect(
        "retrieve records",
        "salesforce/collection-retrieve",
        200,
        sf.call(
            M::POST,
            "/composite/sobjects/Contact",
            Some(json!({"ids": [ada_id, unknown], "fields": ["Id", "LastName"]})),
        )
        .await?,
    );
    s.expect(
        "retrieve with an unknown field",
        "salesforce/errors",
        400,
        sf.call(M::POST, "/composite/sobjects/Contact", Some(json!({"ids": [ada_id], "fields": ["Shoe__c"]}))).await?,
    );
    s.expect(
        "delete records",
        "salesforce/collection-results",
        200,
        sf.call(M::DELETE, &format!("/composite/sobjects?ids={hopper},{unknown}&allOrNone=false"), None).await?,
    );
    let too_many: Vec<Value> =
        (0..201).map(|i| json!({"attributes": {"type": "Contact"}, "LastName": format!("L{i}")})).collect();
    s.expect(
        "a collection over 200 records",
        "salesforce/errors",
        400,
        sf.call(M::POST, "/composite/sobjects", Some(json!({"records": too_many}))).await?,
    );
    s.expect_empty("delete a record", sf.call(M::DELETE, &format!("/sobjects/Contact/{ada_id}"), None).await?);
    s.expect(
        "delete it again",
        "salesforce/errors",
        404,
        sf.call(M::DELETE, &format!("/sobjects/Contact/{ada_id}"), None).await?,
    );

    // Replication.
    let now = chrono::Utc::now();
    let window = |start: chrono::DateTime<chrono::Utc>, end: chrono::DateTime<chrono::Utc>| {
        format!("start={}&end={}", start.format("%Y-%m-%dT%H:%M:%SZ"), end.format("%Y-%m-%dT%H:%M:%SZ"))
    };
    let span = window(now - chrono::Duration::days(1), now + chrono::Duration::minutes(5));
    s.expect(
        "getUpdated",
        "salesforce/updated",
        200,
        sf.call(M::GET, &format!("/sobjects/Contact/updated/?{span}"), None).await?,
    );
    s.expect(
        "getDeleted",
        "salesforce/deleted",
        200,
        sf.call(M::GET, &format!("/sobjects/Contact/deleted/?{span}"), None).await?,
    );
    let backwards = window(now, now - chrono::Duration::days(1));
    s.expect(
        "a window that ends before it starts",
        "salesforce/errors",
        400,
        sf.call(M::GET, &format!("/sobjects/Contact/updated/?{backwards}"), None).await?,
    );

    // Bulk API 2.0.
    let job_body = json!({"operation": "query", "query": "SELECT Id, LastName FROM Contact", "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"});
    let job = s.expect(
        "create a Bulk query job",
        "salesforce/bulk-job",
        200,
        sf.call(M::POST, "/jobs/query", Some(job_body.clone())).await?,
    );
    let job_id = id_of(&job);
    s.expect(
        "the results of a job not complete",
        "salesforce/errors",
        412,
        sf.call(M::GET, &format!("/jobs/query/{job_id}/results"), None).await?,
    );
    let mut state = String::new();
    for _ in 0..10 {
        let polled = s.expect(
            "poll a Bulk job",
            "salesforce/bulk-job",
            200,
            sf.call(M::GET, &format!("/jobs/query/{job_id}"), None).await?,
        );
        state = polled["state"].as_str().unwrap_or_default().to_owned();
        if state == "JobComplete" {
            break;
        }
    }
    if state != "JobComplete" {
        s.fail(format!("the Bulk job never completed: {state}"));
    }
    let results = sf
        .request(M::GET, &format!("/jobs/query/{job_id}/results?maxRecords=100"), None)
        .header("Accept", "text/csv")
        .send()
        .await?;
    let csv_ok = results.status() == 200
        && results.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/csv"))
        && results.headers().get("sforce-locator").is_some();
    if !csv_ok {
        s.fail(format!("Bulk results are CSV with a locator: {} {:?}", results.status(), results.headers()));
    }
    let other_version =
        Api { http: http.clone(), base: format!("{base}/services/data/v65.0"), token: sf.token.clone() };
    s.expect(
        "results read with another API version",
        "salesforce/errors",
        409,
        other_version.call(M::GET, &format!("/jobs/query/{job_id}/results"), None).await?,
    );
    s.expect(
        "abort a complete job",
        "salesforce/errors",
        400,
        sf.call(M::PATCH, &format!("/jobs/query/{job_id}"), Some(json!({"state": "Aborted"}))).await?,
    );
    s.expect_empty("delete a Bulk job", sf.call(M::DELETE, &format!("/jobs/query/{job_id}"), None).await?);
    s.expect(
        "a deleted Bulk job",
        "salesforce/errors",
        404,
        sf.call(M::GET, &format!("/jobs/query/{job_id}"), None).await?,
    );
    let second = s.expect(
        "create another Bulk job",
        "salesforce/bulk-job",
        200,
        sf.call(M::POST, "/jobs/query", Some(job_body)).await?,
    );
    s.expect(
        "abort a Bulk job",
        "salesforce/bulk-job",
        200,
        sf.call(M::PATCH, &format!("/jobs/query/{}", id_of(&second)), Some(json!({"state": "Aborted"}))).await?,
    );
    s.expect(
        "a Bulk job of a bad query",
        "salesforce/errors",
        400,
        sf.call(M::POST, "/jobs/query", Some(json!({"operation": "query", "query": "SELEKT Id FROM Contact"}))).await?,
    );

    // The control API's user edits answer as the API calls they mirror.
    let control = Api { http: http.clone(), base: format!("{base}/__sandbox/salesforce"), token: String::new() };
    let user_made = s.expect(
        "a user creates a record",
        "salesforce/save-result",
        201,
        control.call(M::POST, "/records/Lead", Some(json!({"LastName": "Curie", "Company": "Sorbonne"}))).await?,
    );
    let lead = id_of(&user_made);
    s.expect(
        "the control API reads a record",
        "salesforce/record",
        200,
        control.call(M::GET, &format!("/records/Lead/{lead}"), None).await?,
    );
    s.expect_empty(
        "a user updates a record",
        control.call(M::PATCH, &format!("/records/Lead/{lead}"), Some(json!({"Title": "Dr"}))).await?,
    );
    s.expect(
        "a user writes a bad value",
        "salesforce/errors",
        400,
        control.call(M::PATCH, &format!("/records/Lead/{lead}"), Some(json!({"Email": "nope"}))).await?,
    );
    s.expect_empty("a user deletes a record", control.call(M::DELETE, &format!("/records/Lead/{lead}"), None).await?);
    s.expect(
        "a user edits an unknown object",
        "salesforce/errors",
        404,
        control.call(M::POST, "/records/Widget__c", Some(json!({"Name": "x"}))).await?,
    );

    // The org's allocation spent: 403 REQUEST_LIMIT_EXCEEDED; injected faults.
    control.call(M::PUT, "/limits", Some(json!({"used": 100_000, "max": 100_000}))).await?;
    s.expect("the daily allocation spent", "salesforce/errors", 403, sf.call(M::GET, "/limits", None).await?);
    control.call(M::PUT, "/limits", Some(json!({"used": 0}))).await?;
    sandbox.salesforce_control().add_fault(Fault::new(503, 1, "/services/data"));
    s.expect("an injected 503", "salesforce/errors", 503, sf.call(M::GET, "/limits", None).await?);
    sandbox.shutdown().await;

    for name in schemas.index.keys().filter(|n| n.starts_with("salesforce/") && !PARTS.contains(&n.as_str())) {
        if !schemas.used.lock().unwrap().contains(name) {
            schemas.fail(format!("no answer was checked against {name}"));
        }
    }
    schemas.finish();
    Ok(())
}

#[test]
fn the_recorded_answers_of_the_client_tests_are_valid_against_the_same_schemas() -> anyhow::Result<()> {
    let schemas = Schemas::load()?;
    let mut checked = 0;
    for api in ["hubspot", "salesforce"] {
        let dir = fixture_dir().join(api);
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let path = entry?.path();
            let file = path.file_name().and_then(|f| f.to_str()).context("a file name")?.to_owned();
            let Some(schema) = file.strip_suffix(".json").and_then(|f| f.split('.').next()) else { continue };
            let value: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
            if let Err(why) = schemas.validate(&format!("{api}/{schema}"), &value) {
                schemas.fail(format!("{api}/{file}: {why}"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "the recorded answers were found ({checked})");
    schemas.finish();
    Ok(())
}

/// Reads a recorded answer of the client's tests.
fn recorded(api: &str, file: &str) -> Value {
    let path = fixture_dir().join(api).join(file);
    serde_json::from_slice(&std::fs::read(&path).expect("the recorded answer exists")).expect("JSON")
}

#[tokio::test]
async fn an_answer_that_drifts_from_its_schema_is_refused() -> anyhow::Result<()> {
    let schemas = Schemas::load()?;
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let hs = Api { http: reqwest::Client::new(), base: sandbox.hubspot_url().to_owned(), token: DEFAULT_TOKEN.into() };
    let (_, record) = hs
        .call(Method::POST, "/crm/v3/objects/contacts", Some(json!({"properties": {"email": "ada@example.com"}})))
        .await?;
    let (_, batch) = hs
        .call(
            Method::POST,
            "/crm/v3/objects/contacts/batch/read",
            Some(json!({"properties": [], "inputs": [{"id": "999999999"}]})),
        )
        .await?;
    sandbox.shutdown().await;
    assert_eq!(schemas.validate("hubspot/object", &record), Ok(()));
    assert_eq!(schemas.validate("hubspot/batch-records", &batch), Ok(()));

    let wide = recorded("hubspot", "unsubscribe-all-read.unsubscribed.json");
    let membership = json!({"recordsIdsAdded": ["1"], "recordIdsRemoved": [], "recordIdsMissing": []});
    let association = json!({"status": "COMPLETE", "startedAt": "2026-12-01T10:00:00Z", "completedAt": "2026-12-01T10:00:00Z",
        "results": [{"from": {"id": "1"}, "to": [{"toObjectId": "2", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": null}]}]}]});
    let owners = json!({"results": [{"id": "1", "type": "PERSON", "archived": false, "email": "sam@example.com",
        "createdAt": "2026-12-01T10:00:00.000Z", "updatedAt": "2026-12-01T10:00:00.000Z"}]});
    let property = json!({"name": "region", "label": "Region", "type": "string", "fieldType": "text",
        "groupName": "contactinformation", "description": "", "options": []});
    let lead = json!({"attributes": {"type": "Lead", "url": "/services/data/v66.0/sobjects/Lead/00QRO0000000001AAA"},
        "Id": "00QRO0000000001AAA", "Owner": {"attributes": {"type": "User"}, "Email": "sam@example.com"},
        "Address": {"city": "Lyon"}});
    assert_eq!(schemas.validate("hubspot/owners", &owners), Ok(()));
    assert_eq!(schemas.validate("hubspot/property", &property), Ok(()));
    assert_eq!(schemas.validate("salesforce/record", &lead), Ok(()));
    assert_eq!(schemas.validate("hubspot/list-membership-update", &membership), Ok(()));
    assert_eq!(schemas.validate("hubspot/associations-batch-read", &association), Ok(()));

    let drifts: Vec<(&str, &str, Value)> = vec![
        ("a record without createdAt", "hubspot/object", without(&record, "/createdAt")),
        ("a record id as a number", "hubspot/object", with(&record, "/id", json!(42))),
        ("a property value as a number", "hubspot/object", with(&record, "/properties/email", json!(5))),
        ("a batch error entry without errors", "hubspot/batch-records", without(&batch, "/errors/0/errors")),
        ("a batch answer with an unknown status", "hubspot/batch-records", with(&batch, "/status", json!("DONE"))),
        (
            "a wide status as statusState",
            "hubspot/unsubscribe-all-read",
            renamed(&wide, "/results/0", "status", "statusState"),
        ),
        (
            "members added as recordIdsAdded",
            "hubspot/list-membership-update",
            renamed(&membership, "", "recordsIdsAdded", "recordIdsAdded"),
        ),
        (
            "an associated id as a number",
            "hubspot/associations-batch-read",
            with(&association, "/results/0/to/0/toObjectId", json!(2)),
        ),
        (
            "a 429 without its policy",
            "hubspot/rate-limit-error",
            without(&recorded("hubspot", "rate-limit-error.daily.json"), "/policyName"),
        ),
        (
            "an error without a correlation id",
            "hubspot/error",
            without(&recorded("hubspot", "error.conflict.json"), "/correlationId"),
        ),
        ("an owner without createdAt", "hubspot/owners", without(&owners, "/results/0/createdAt")),
        ("a property without its description", "hubspot/property", without(&property, "/description")),
        ("a Salesforce record without attributes", "salesforce/record", without(&lead, "/attributes")),
        ("a parent lookup without its type", "salesforce/record", without(&lead, "/Owner/attributes/type")),
        (
            "a Salesforce error as an object",
            "salesforce/errors",
            recorded("salesforce", "errors.row-lock.json")[0].clone(),
        ),
        (
            "a Salesforce error without its code",
            "salesforce/errors",
            without(&recorded("salesforce", "errors.row-lock.json"), "/0/errorCode"),
        ),
    ];
    for (what, schema, value) in drifts {
        assert!(schemas.validate(schema, &value).is_err(), "{what} passed as a valid {schema}: {value}");
    }
    Ok(())
}

fn with(value: &Value, pointer: &str, replacement: Value) -> Value {
    let mut out = value.clone();
    *out.pointer_mut(pointer).expect("the pointer names a value") = replacement;
    out
}

fn without(value: &Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let mut out = value.clone();
    match out.pointer_mut(parent).expect("the parent exists") {
        Value::Object(map) => {
            map.remove(key).expect("the key exists");
        }
        Value::Array(items) => {
            items.remove(key.parse::<usize>().expect("an index"));
        }
        _ => panic!("{pointer} is not in an object or array"),
    }
    out
}

fn renamed(value: &Value, parent: &str, from: &str, to: &str) -> Value {
    let mut out = value.clone();
    let map = out.pointer_mut(parent).and_then(Value::as_object_mut).expect("an object");
    let moved = map.remove(from).expect("the key exists");
    map.insert(to.to_owned(), moved);
    out
}
