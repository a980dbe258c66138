//! The fake Salesforce over HTTP: auth, control API, outbound messages, seeding.

use axum::{Router, routing::post};
use crm_sandbox::salesforce::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SalesforceOptions};
use crm_sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

async fn start(options: SalesforceOptions) -> anyhow::Result<Sandbox> {
    Sandbox::start(SandboxOptions { salesforce: options, ..Default::default() }).await
}

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

#[tokio::test]
async fn data_paths_refuse_unknown_tokens_and_every_answer_carries_the_limit_header() -> anyhow::Result<()> {
    let sandbox = start(SalesforceOptions::default()).await?;
    let http = reqwest::Client::new();
    let url = format!("{}/services/data/v66.0/limits", sandbox.salesforce_url());
    let refused = http.get(&url).bearer_auth("nope").send().await?;
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await?;
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");

    let token = token(&http, &sandbox).await?;
    let ok = http.get(&url).bearer_auth(&token).send().await?;
    assert_eq!(ok.headers()["sforce-limit-info"], "api-usage=1/100000");
    let unknown = crm_sandbox::salesforce::ids::SfId::generate("003", 999_999);
    let missing = http
        .get(format!("{}/services/data/v66.0/sobjects/Contact/{unknown}", sandbox.salesforce_url()))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["sforce-limit-info"], "api-usage=2/100000");
    Ok(())
}

#[tokio::test]
async fn edits_as_a_user_through_the_control_api_are_not_counted_and_not_the_integrations() -> anyhow::Result<()> {
    let sandbox = start(SalesforceOptions::default()).await?;
    let http = reqwest::Client::new();
    let base = sandbox.salesforce_url();
    let created: Value = http
        .post(format!("{base}/__sandbox/salesforce/records/Lead"))
        .json(&json!({"LastName": "Person", "Company": "Co", "Email": "p@example.com"}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 18);
    let status = http
        .patch(format!("{base}/__sandbox/salesforce/records/Lead/{id}"))
        .json(&json!({"Title": "CEO"}))
        .send()
        .await?
        .status();
    assert_eq!(status, 204);
    let record = sandbox.salesforce().record("Lead", &id).ok_or_else(|| anyhow::anyhow!("no record"))?;
    assert_eq!(record["Title"], "CEO");
    assert_ne!(record["LastModifiedById"], json!(crm_sandbox::salesforce::ids::SfId::generate("005", 0).to_string()));
    assert_eq!(sandbox.salesforce_control().counts().total, 0);
    let writes = sandbox.salesforce().writes();
    assert!(writes.iter().all(|w| w.actor == crm_sandbox::salesforce::data::Actor::User));
    Ok(())
}

#[tokio::test]
async fn outbound_messages_are_resent_until_acknowledged_with_the_latest_values() -> anyhow::Result<()> {
    let bodies = Arc::new(Mutex::new(Vec::<String>::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let app = {
        let (bodies, calls) = (bodies.clone(), calls.clone());
        Router::new().route(
            "/outbound",
            post(move |body: String| {
                let (bodies, calls) = (bodies.clone(), calls.clone());
                async move {
                    bodies.lock().await.push(body);
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new())
                    } else {
                        (axum::http::StatusCode::OK, "<soapenv:Envelope><soapenv:Body><notificationsResponse><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>".to_owned())
                    }
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target = format!("http://{}/outbound", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let sandbox = start(SalesforceOptions {
        outbound_url: Some(target),
        outbound_retry: Duration::from_millis(10),
        ..Default::default()
    })
    .await?;
    let id = sandbox.salesforce().create_as_user("Contact", json!({"LastName": "Out", "Email": "out@example.com"}))?;
    let stats = &sandbox.salesforce().outbound_stats;
    for _ in 0..500 {
        if stats.delivered.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats.delivered.load(Ordering::SeqCst), 1);
    assert_eq!(stats.attempts.load(Ordering::SeqCst), 2);
    let bodies = bodies.lock().await;
    assert_eq!(bodies.len(), 2);
    let last = &bodies[1];
    assert!(last.contains(r#"<notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#));
    assert!(last.contains(&format!("<sf:Id>{id}</sf:Id>")));
    assert!(last.contains("<sf:Email>out@example.com</sf:Email>"));
    assert!(last.contains(r#"xsi:type="sf:Contact""#));
    server.abort();
    Ok(())
}

#[tokio::test]
async fn the_same_seed_gives_the_same_records_and_a_quarter_million_leads_stay_queryable() -> anyhow::Result<()> {
    let a = start(SalesforceOptions { contacts: 50, seed: 7, ..Default::default() }).await?;
    let b = start(SalesforceOptions { contacts: 50, seed: 7, ..Default::default() }).await?;
    let http = reqwest::Client::new();
    let mut emails = Vec::new();
    for sandbox in [&a, &b] {
        let token = token(&http, sandbox).await?;
        let page: Value = http
            .get(format!("{}/services/data/v66.0/query", sandbox.salesforce_url()))
            .query(&[("q", "SELECT Id, Email, CreatedDate FROM Contact ORDER BY Email")])
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        emails.push(
            page["records"]
                .as_array()
                .map(|r| r.iter().map(|x| x["Email"].clone()).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
    }
    assert_eq!(emails[0].len(), 50);
    assert_eq!(emails[0], emails[1]);

    assert_eq!(a.salesforce().seed("Lead", 250_001)?, 250_001);
    let token = token(&http, &a).await?;
    let count: Value = http
        .get(format!("{}/services/data/v66.0/query", a.salesforce_url()))
        .query(&[("q", "SELECT COUNT() FROM Lead WHERE Email LIKE '%@example.com' AND CreatedDate = LAST_N_DAYS:31")])
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(count["totalSize"], 250_001);
    Ok(())
}

#[tokio::test]
async fn a_query_by_email_finds_the_current_holders_of_each_email_whatever_their_case() -> anyhow::Result<()> {
    let sandbox = start(SalesforceOptions { contacts: 1_000, ..Default::default() }).await?;
    let sf = sandbox.salesforce();
    let kept = sf.create_as_user("Contact", json!({"LastName": "Kept", "Email": "Same@Example.com"}))?;
    let moved = sf.create_as_user("Contact", json!({"LastName": "Moved", "Email": "same@example.com"}))?;
    let gone = sf.create_as_user("Contact", json!({"LastName": "Gone", "Email": "SAME@example.com"}))?;
    let other = sf.create_as_user("Contact", json!({"LastName": "Other", "Email": "other@example.com"}))?;
    sf.update_as_user("Contact", &moved, json!({"Email": "moved@example.com"}))?;
    sf.delete_as_user("Contact", &gone)?;
    let http = reqwest::Client::new();
    let token = token(&http, &sandbox).await?;
    let ids = |path: &'static str| {
        let (http, token, base) = (http.clone(), token.clone(), sandbox.salesforce_url().to_owned());
        async move {
            let page: Value = http
                .get(format!("{base}/services/data/v66.0/{path}"))
                .query(&[(
                    "q",
                    "SELECT Id FROM Contact WHERE Email IN ('same@EXAMPLE.com', 'other@example.com', 'none@example.com')",
                )])
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            let mut ids: Vec<String> = page["records"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x["Id"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            ids.sort();
            anyhow::Ok(ids)
        }
    };
    let mut live = vec![kept.clone(), other.clone()];
    live.sort();
    assert_eq!(ids("query").await?, live, "the old email no longer finds a record that changed it");
    let mut all = vec![kept, other, gone];
    all.sort();
    assert_eq!(ids("queryAll").await?, all, "queryAll finds deleted holders too");
    Ok(())
}

#[tokio::test]
async fn a_composite_request_resolves_references_and_all_or_none_rolls_everything_back() -> anyhow::Result<()> {
    let sandbox = start(SalesforceOptions::default()).await?;
    let http = reqwest::Client::new();
    let token = token(&http, &sandbox).await?;
    let url = format!("{}/services/data/v66.0/composite", sandbox.salesforce_url());
    let request = |all_or_none: bool, contact_last_name: Value| {
        json!({"allOrNone": all_or_none, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v66.0/sobjects/Account", "referenceId": "acct", "body": {"Name": "Acme"}},
            {"method": "POST", "url": "/services/data/v66.0/sobjects/Contact", "referenceId": "person",
             "body": {"LastName": contact_last_name, "AccountId": "@{acct.id}"}},
            {"method": "GET", "url": "/services/data/v66.0/sobjects/Contact/@{person.id}?fields=Account_Name__c", "referenceId": "read"}
        ]})
    };
    let ok: Value =
        http.post(&url).bearer_auth(&token).json(&request(true, json!("Lovelace"))).send().await?.json().await?;
    let answers = ok["compositeResponse"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        answers.iter().map(|a| a["httpStatusCode"].clone()).collect::<Vec<_>>(),
        [json!(201), json!(201), json!(200)]
    );
    assert_eq!(answers[2]["body"]["Account_Name__c"], "Acme");
    assert!(answers[0]["httpHeaders"]["Location"].as_str().is_some_and(|l| l.contains("/sobjects/Account/")));

    let failed: Value =
        http.post(&url).bearer_auth(&token).json(&request(true, Value::Null)).send().await?.json().await?;
    let codes: Vec<Value> = failed["compositeResponse"]
        .as_array()
        .map(|a| a.iter().map(|x| x["httpStatusCode"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(codes, [json!(400), json!(400), json!(400)]);
    assert_eq!(sandbox.salesforce().live_count("Account"), 1);
    assert_eq!(sandbox.salesforce().api_usage().0, 2);
    Ok(())
}

#[tokio::test]
async fn a_merge_as_a_user_deletes_the_loser_pointing_at_the_winner_and_moves_the_winner() -> anyhow::Result<()> {
    let sandbox = start(SalesforceOptions::default()).await?;
    let sf = sandbox.salesforce();
    let winner = sf.create_as_user("Contact", json!({"LastName": "Keep", "Email": "same@example.com"}))?;
    let loser = sf.create_as_user("Contact", json!({"LastName": "Lose", "Email": "same@example.com"}))?;
    let before = sf.record("Contact", &winner).ok_or_else(|| anyhow::anyhow!("no winner"))?;
    let http = reqwest::Client::new();
    let status = http
        .post(format!("{}/__sandbox/salesforce/records/Contact/{winner}/merge", sandbox.salesforce_url()))
        .json(&json!({"loser": loser}))
        .send()
        .await?
        .status();
    assert_eq!(status, 204);
    let lost = sf.record("Contact", &loser).ok_or_else(|| anyhow::anyhow!("no loser"))?;
    assert_eq!((lost["IsDeleted"].clone(), lost["MasterRecordId"].clone()), (json!(true), json!(winner)));
    let after = sf.record("Contact", &winner).ok_or_else(|| anyhow::anyhow!("no winner"))?;
    assert!(after["SystemModstamp"].as_str() > before["SystemModstamp"].as_str());
    assert_eq!(sf.live_count("Contact"), 1);
    assert!(sf.merge_as_user("User", &winner, &loser).is_err());
    Ok(())
}

#[tokio::test]
async fn converting_a_lead_creates_the_contact_and_account_and_locks_the_lead() -> anyhow::Result<()> {
    let sandbox = start(SalesforceOptions::default()).await?;
    let sf = sandbox.salesforce();
    let lead = sf.create_as_user(
        "Lead",
        json!({"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines", "Email": "ada@example.com"}),
    )?;
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(format!("{}/__sandbox/salesforce/leads/{lead}/convert", sandbox.salesforce_url()))
        .send()
        .await?
        .json()
        .await?;
    let contact_id = answer["contactId"].as_str().unwrap_or_default();
    let contact = sf.record("Contact", contact_id).ok_or_else(|| anyhow::anyhow!("no contact"))?;
    assert_eq!(
        (contact["Email"].clone(), contact["Account_Name__c"].clone()),
        (json!("ada@example.com"), json!("Engines"))
    );
    let converted = sf.record("Lead", &lead).ok_or_else(|| anyhow::anyhow!("no lead"))?;
    assert_eq!(
        (converted["IsConverted"].clone(), converted["ConvertedContactId"].clone()),
        (json!(true), json!(contact_id))
    );
    let refused = sf.update_as_user("Lead", &lead, json!({"Title": "Countess"})).err().map(|e| e.code);
    assert_eq!(refused, Some("CANNOT_UPDATE_CONVERTED_LEAD"));
    Ok(())
}

#[tokio::test]
async fn held_outbound_messages_wait_for_the_test_and_writes_name_their_changed_fields() -> anyhow::Result<()> {
    let sandbox = start(SalesforceOptions { outbound_hold: true, ..Default::default() }).await?;
    let sf = sandbox.salesforce();
    let id = sf
        .create_as_user("Lead", json!({"LastName": "Held", "Company": "Acme", "Email": "held@example.com"}))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    sf.update_as_user("Lead", &id, json!({"Title": "CEO", "Company": "Acme"})).map_err(|e| anyhow::anyhow!("{e}"))?;
    sf.update_as_user("Lead", &id, json!({"Title": null})).map_err(|e| anyhow::anyhow!("{e}"))?;
    let writes = sf.writes();
    assert_eq!(writes[1].changed, vec!["Title".to_owned()], "an unchanged value is not a change");
    assert_eq!((writes[2].changed.clone(), writes[2].cleared.clone()), (vec!["Title".into()], vec!["Title".into()]));
    let messages = sf.take_outbound_messages();
    assert_eq!(messages.len(), 1, "one message for the object");
    assert_eq!(messages[0].matches("<Notification>").count(), 3, "one notification per save");
    assert!(messages[0].contains("held@example.com"));
    assert!(sf.take_outbound_messages().is_empty(), "taken once");
    assert_eq!(sf.outbound_stats.attempts.load(Ordering::SeqCst), 0, "nothing was sent");
    Ok(())
}

#[tokio::test]
async fn paths_with_a_trailing_slash_answer_as_without_and_every_listed_version_is_served() -> anyhow::Result<()> {
    let sandbox = start(SalesforceOptions::default()).await?;
    let http = reqwest::Client::new();
    let token = token(&http, &sandbox).await?;
    let base = sandbox.salesforce_url();
    let versions: Value = http.get(format!("{base}/services/data/")).send().await?.json().await?;
    let versions = versions.as_array().cloned().unwrap_or_default();
    assert_eq!(versions.first().map(|v| v["version"].clone()), Some(json!("31.0")));
    assert_eq!(versions.last().map(|v| v["label"].clone()), Some(json!("Spring '26")));
    for version in &versions {
        let url = format!("{base}{}/limits/", version["url"].as_str().unwrap_or_default());
        let answer = http.get(&url).bearer_auth(&token).send().await?;
        assert_eq!(answer.status(), 200, "{url}");
    }
    let unlisted = http.get(format!("{base}/services/data/v99.0/limits")).bearer_auth(&token).send().await?;
    assert_eq!(unlisted.status(), 404, "a version not listed is not served");
    let query = http
        .get(format!("{base}/services/data/v60.0/query/"))
        .query(&[("q", "SELECT Id FROM Contact")])
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(query.status(), 200, "the query string survives the trailing slash");
    sandbox.shutdown().await;
    Ok(())
}
