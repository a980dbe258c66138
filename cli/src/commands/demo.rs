//! `crm-sync demo`: the whole product on this machine. Starts the CRM sandbox
//! in-process with seeded Salesforce data and, as real accounts are, without
//! crm-sync's own fields and properties; runs `setup` (the report, then
//! `--apply`) to create them; runs the local runtime on it over
//! an embedded store in a temporary folder, imports accounts, leads and
//! contacts (progress bar), makes scripted edits on both sides the way a
//! person would, waits for each to arrive through webhooks and outbound
//! messages, and prints a summary. Success only when every scripted change
//! arrived on the other side.
//!
//! Nothing here decides how records sync: the edits go through the sandbox's
//! user-edit API and the sync through the same use cases `serve` runs.

use crate::args::{CrmArgs, DemoArgs};
use crate::commands::sandbox_process::SandboxProcess;
use crate::commands::{import, setup};
use crate::connect;
use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::{Sandbox, SandboxOptions};
use crm_sync_app::build::Credentials;
use crm_sync_app::domain::SyncConfig;
use crm_sync_app::local::{LocalOptions, LocalRuntime, Progress, WebhookServer};
use crm_sync_app::store::{ErrorFilter, ObjectPair, StateStore};
use crm_sync_app::usecases::sync::SyncStats;
use crm_sync_app::{App, ImportObjects, ImportRequest, Secret};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The demo's settings: company sync on so that accounts import, the default
/// contact mappings, job title two-way.
pub const DEMO_CONFIG: &str = "\
objects:
  companies: true
new_contact_object: lead
create_hubspot_contact_from_salesforce: true
salesforce_api_cap_per_24h: 100000
mappings:
  contact:
    - hubspot: jobtitle
      salesforce: Title
      rule: two_way
";

/// One scripted change and how to see that it arrived.
struct Scripted {
    what: String,
    check: Check,
}

enum Check {
    /// A HubSpot property of a linked Salesforce record must equal a value.
    HubspotProperty { salesforce_id: String, property: &'static str, expected: String },
    /// A Salesforce field of a linked HubSpot contact must equal a value.
    SalesforceField { hubspot_id: String, field: &'static str, expected: Value },
    /// A Salesforce record must have a linked HubSpot contact with this email.
    HubspotContactFor { salesforce_id: String, email: String },
    /// A HubSpot contact must have a linked Salesforce record with this email.
    SalesforceRecordFor { hubspot_id: String, email: String },
}

/// Where the sandbox runs: in this process (the demo, the bench by
/// default), or in a child process reached over HTTP only.
pub enum SandboxAt {
    InProcess(Sandbox),
    Process(SandboxProcess),
}

impl SandboxAt {
    pub fn salesforce_url(&self) -> &str {
        match self {
            SandboxAt::InProcess(sandbox) => sandbox.salesforce_url(),
            SandboxAt::Process(process) => process.get("SALESFORCE_URL").unwrap_or_default(),
        }
    }

    pub fn hubspot_url(&self) -> &str {
        match self {
            SandboxAt::InProcess(sandbox) => sandbox.hubspot_url(),
            SandboxAt::Process(process) => process.get("HUBSPOT_URL").unwrap_or_default(),
        }
    }

    /// The certificate to trust; the child process serves plain HTTP.
    fn cert_pem(&self) -> Option<&str> {
        match self {
            SandboxAt::InProcess(sandbox) => sandbox.cert_pem(),
            SandboxAt::Process(_) => None,
        }
    }

    /// The sandbox itself, when it runs in this process.
    pub fn in_process(&self) -> anyhow::Result<&Sandbox> {
        match self {
            SandboxAt::InProcess(sandbox) => Ok(sandbox),
            SandboxAt::Process(_) => anyhow::bail!("the sandbox runs in another process"),
        }
    }

    /// The child's process id, when it runs in one.
    pub fn pid(&self) -> Option<u32> {
        match self {
            SandboxAt::InProcess(_) => None,
            SandboxAt::Process(process) => Some(process.pid()),
        }
    }

    /// The credentials the sandbox accepts: its well-known test values, or
    /// those the child process printed.
    fn credentials(&self) -> Credentials {
        match self {
            SandboxAt::InProcess(_) => sandbox_credentials(),
            SandboxAt::Process(process) => credentials_from(&process.env),
        }
    }

    pub async fn shutdown(self) {
        match self {
            SandboxAt::InProcess(sandbox) => sandbox.shutdown().await,
            SandboxAt::Process(process) => {
                let _ = tokio::task::spawn_blocking(move || process.kill()).await;
            }
        }
    }
}

/// Credentials from the `KEY=VALUE` lines the sandbox server prints; the
/// well-known values for any it did not print.
fn credentials_from(env: &BTreeMap<String, String>) -> Credentials {
    let defaults = sandbox_credentials();
    let get = |key: &str| env.get(key).cloned();
    Credentials {
        salesforce_client_id: get("SALESFORCE_CLIENT_ID").unwrap_or(defaults.salesforce_client_id),
        salesforce_client_secret: get("SALESFORCE_CLIENT_SECRET")
            .map(Secret::new)
            .unwrap_or(defaults.salesforce_client_secret),
        salesforce_username: get("SALESFORCE_USERNAME").unwrap_or(defaults.salesforce_username),
        hubspot_access_token: get("HUBSPOT_TOKEN").map(Secret::new).unwrap_or(defaults.hubspot_access_token),
        hubspot_client_secret: get("HUBSPOT_CLIENT_SECRET").map(Secret::new).unwrap_or(defaults.hubspot_client_secret),
        ..Credentials::default()
    }
}

/// Everything the demo (and the benchmark) runs on.
pub struct Stage {
    pub sandbox: SandboxAt,
    pub app: App,
    pub runtime: LocalRuntime,
    listener: Mutex<Option<std::net::TcpListener>>,
    http: reqwest::Client,
    pub stats: Arc<Mutex<SyncStats>>,
    /// Where the webhook listener is reached (`http://127.0.0.1:port`).
    pub public_url: String,
    _dir: tempfile::TempDir,
}

/// Runs the demo; `Ok(false)` when a scripted change did not arrive.
pub async fn run(args: &DemoArgs) -> anyhow::Result<bool> {
    let started = Instant::now();
    let stage = stage(&StageOptions::demo(args)).await?;
    let server =
        WebhookServer::start_on(stage.app.clone(), stage_listener(&stage)?).context("starting the webhook server")?;

    println!("0/4 setting up the accounts: `crm-sync setup`, then `crm-sync setup --apply`");
    if !set_up(&stage).await? {
        eprintln!("the sandbox accounts are not ready after `setup --apply`");
        server.shutdown().await.context("stopping the webhook server")?;
        stage.sandbox.shutdown().await;
        return Ok(false);
    }

    println!("1/4 importing Salesforce accounts, leads and contacts into HubSpot");
    for objects in [ImportObjects::Accounts, ImportObjects::LeadsAndContacts] {
        let request = ImportRequest { objects, filter: None, chunk_size: None, add_to_segment: false };
        let review = crm_sync_app::import_review(&stage.app, &request).await.context("reviewing the import")?;
        println!("{}", import::review_text(&review));
        let job = crm_sync_app::import_start(&stage.app, &request).await.context("starting the import")?;
        import::follow(&stage.runtime, &job).await?;
    }
    let imported_calls = calls(&stage).await?;

    println!("2/4 editing records on both sides, as a user would");
    let scripted = edit(&stage, args.seed).await?;
    for s in &scripted {
        println!("  - {}", s.what);
    }

    println!("3/4 waiting for the changes to sync through webhooks and outbound messages");
    let (stop, stopped) = watch::channel(false);
    let runtime = stage.runtime.clone();
    let worker = tokio::spawn(async move { runtime.run(stopped).await });
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut missing: Vec<&Scripted> = scripted.iter().collect();
    while !missing.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for s in missing {
            if !arrived(&stage, &s.check).await? {
                still.push(s);
            }
        }
        missing = still;
        if !missing.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let _ = stop.send(true);
    worker.await.context("the runtime task panicked")?.context("the local runtime failed")?;
    server.shutdown().await.context("stopping the webhook server")?;

    println!("4/4 summary");
    println!("{}", summary(&stage, imported_calls).await?);
    println!("finished in {:.1} s", started.elapsed().as_secs_f64());
    stage.sandbox.shutdown().await;
    if missing.is_empty() {
        println!("every scripted change arrived ({} of {})", scripted.len(), scripted.len());
        Ok(true)
    } else {
        for s in &missing {
            eprintln!("did not arrive within {} s: {}", args.timeout, s.what);
        }
        Ok(false)
    }
}

/// Runs setup against the sandbox as a user would against real accounts:
/// the report, then `--apply`; true when the pair is ready.
async fn set_up(stage: &Stage) -> anyhow::Result<bool> {
    let crm = CrmArgs {
        salesforce_url: Some(stage.sandbox.salesforce_url().to_owned()),
        hubspot_url: Some(stage.sandbox.hubspot_url().to_owned()),
    };
    let endpoints = connect::endpoints(&crm, stage.sandbox.cert_pem());
    let crms = crm_sync_app::build::setup_clients(&endpoints, &stage.sandbox.credentials())?;
    let config = stage.app.config().clone();
    let mut stdout = std::io::stdout().lock();
    let public_url = Some(stage.public_url.as_str());
    let report = setup::report(&crms, &config, public_url, true, &mut stdout).await?;
    writeln!(stdout, "`crm-sync setup --apply`:")?;
    setup::apply_and_check(&crms, &config, public_url, &report, &mut stdout).await
}

pub fn stage_listener(stage: &Stage) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = stage
        .listener
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .context("the webhook listener was already used")?;
    listener.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(listener)?)
}

/// What to seed and how to tune the sandbox for a run.
pub struct StageOptions {
    pub seed: u64,
    pub leads: u64,
    pub contacts: u64,
    pub accounts: u64,
    /// HubSpot requests allowed per 10 s (the real limit is per app tier).
    pub hubspot_rate_per_10s: Option<u32>,
    /// How long `run_until_idle` waits for delayed retries.
    pub idle_timeout: Duration,
    /// Whether the runtime's loop sweeps as soon as it starts.
    pub sweep_at_start: bool,
    /// Start the sandbox with crm-sync's own fields and properties, as
    /// `setup --apply` leaves them; off, both CRMs start bare.
    pub crm_sync_fields: bool,
    /// Run the sandbox in a child process ([`SandboxProcess`]) rather than
    /// in this one.
    pub sandbox_process: bool,
}

impl StageOptions {
    fn demo(args: &DemoArgs) -> Self {
        StageOptions {
            seed: args.seed,
            leads: args.records,
            contacts: args.records,
            accounts: (args.records / 4).max(1),
            hubspot_rate_per_10s: None,
            idle_timeout: Duration::from_secs(args.timeout),
            sweep_at_start: true,
            crm_sync_fields: false,
            sandbox_process: false,
        }
    }
}

/// Starts the sandbox (seeded; in this process, or in a child process with
/// `sandbox_process`), the app over an embedded store in a temporary folder,
/// and the local runtime. The app reaches the sandbox by its URLs either way.
pub async fn stage(args: &StageOptions) -> anyhow::Result<Stage> {
    let dir = tempfile::tempdir().context("creating the demo's state folder")?;
    // Bound before the sandbox starts, because the sandbox is told where to
    // deliver webhooks and outbound messages.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding the webhook listener")?;
    let webhook = listener.local_addr()?;
    let options = sandbox_options(args, webhook);
    let sandbox = if args.sandbox_process {
        let process = tokio::task::spawn_blocking(move || SandboxProcess::start(&options))
            .await
            .context("the sandbox process's starter panicked")??;
        SandboxAt::Process(process)
    } else {
        SandboxAt::InProcess(Sandbox::start(options).await.context("starting the CRM sandbox")?)
    };

    let config = SyncConfig::from_yaml_str(DEMO_CONFIG).context("the demo settings")?;
    let credentials = sandbox.credentials();
    let crm = CrmArgs {
        salesforce_url: Some(sandbox.salesforce_url().to_owned()),
        hubspot_url: Some(sandbox.hubspot_url().to_owned()),
    };
    let endpoints = connect::endpoints(&crm, sandbox.cert_pem());
    let app = connect::app(config, Some(dir.path().join("state.sqlite")), endpoints, &credentials).await?;
    let runtime = LocalRuntime::new(
        app.clone(),
        LocalOptions {
            idle_timeout: args.idle_timeout,
            sweep_at_start: args.sweep_at_start,
            ..LocalOptions::default()
        },
    );
    let stats = Arc::new(Mutex::new(SyncStats::default()));
    {
        let stats = stats.clone();
        let mut events = runtime.subscribe();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Progress::BatchSynced { stats: batch, .. }) => {
                        stats.lock().unwrap_or_else(|p| p.into_inner()).add(&batch);
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
    Ok(Stage {
        sandbox,
        app,
        runtime,
        listener: Mutex::new(Some(listener)),
        http: reqwest::Client::new(),
        stats,
        public_url: format!("http://{webhook}"),
        _dir: dir,
    })
}

/// The sandbox a stage runs on: seeded, tuned, delivering to `webhook`.
fn sandbox_options(args: &StageOptions, webhook: std::net::SocketAddr) -> SandboxOptions {
    let mut options = SandboxOptions::default();
    if args.crm_sync_fields {
        options = options.with_crm_sync_fields();
    }
    options.salesforce.seed = args.seed;
    options.salesforce.leads = args.leads;
    options.salesforce.contacts = args.contacts;
    options.salesforce.accounts = args.accounts;
    options.salesforce.daily_api_limit = options.salesforce.daily_api_limit.max(1_000_000);
    if let Some(rate) = args.hubspot_rate_per_10s {
        options.hubspot.rate_limit_per_10s = rate;
        options.hubspot.daily_limit = options.hubspot.daily_limit.max(10_000_000);
    }
    options.salesforce.outbound_url = Some(format!("http://{webhook}/webhooks/salesforce"));
    options.hubspot.seed = args.seed;
    options.hubspot.webhook_url = Some(format!("http://{webhook}/webhooks/hubspot"));
    options
}

/// The sandbox's well-known test credentials.
fn sandbox_credentials() -> Credentials {
    Credentials {
        salesforce_client_id: crm_sandbox::salesforce::DEFAULT_CLIENT_ID.into(),
        salesforce_client_secret: Secret::new(crm_sandbox::salesforce::DEFAULT_CLIENT_SECRET),
        salesforce_username: crm_sandbox::salesforce::DEFAULT_USERNAME.into(),
        hubspot_access_token: Secret::new(crm_sandbox::hubspot::DEFAULT_TOKEN),
        hubspot_client_secret: Secret::new(crm_sandbox::hubspot::DEFAULT_CLIENT_SECRET),
        ..Credentials::default()
    }
}

/// The first `n` links of contacts of one Salesforce object (none for 0).
pub async fn linked_contacts(store: &dyn StateStore, object: &str, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    while out.len() < n {
        let page = store.list_links(ObjectPair::Contact, after.as_deref(), 500).await?;
        out.extend(
            page.links
                .into_iter()
                .filter(|link| link.salesforce_object == object)
                .map(|link| (link.salesforce_id, link.hubspot_id))
                .take(n - out.len()),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(out)
}

fn props(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The scripted edits, made through the sandbox's user-edit API.
async fn edit(stage: &Stage, seed: u64) -> anyhow::Result<Vec<Scripted>> {
    let sandbox = stage.sandbox.in_process()?;
    let sf = sandbox.salesforce();
    let hs = sandbox.hubspot();
    let leads = linked_contacts(stage.app.store(), "Lead", 2).await?;
    let contacts = linked_contacts(stage.app.store(), "Contact", 1).await?;
    let (Some(lead), Some(contact)) = (leads.first(), contacts.first()) else {
        let errors = stage.app.store().list_errors(&ErrorFilter { category: None, limit: Some(3) }).await?;
        let first: Vec<String> = errors.into_iter().map(|e| format!("{}: {}", e.category, e.message)).collect();
        anyhow::bail!(
            "the import linked {} lead(s) and {} contact(s), so there is nothing to edit; first sync-health errors: {}",
            leads.len(),
            contacts.len(),
            first.join("; ")
        );
    };
    let mut scripted = Vec::new();

    let title = format!("VP Operations {seed}");
    sf.update_as_user("Lead", &lead.0, json!({ "Title": title }))
        .map_err(|e| anyhow::anyhow!("editing a lead in Salesforce: {e:?}"))?;
    scripted.push(Scripted {
        what: "Salesforce: a lead's Title changed -> the HubSpot contact's job title".into(),
        check: Check::HubspotProperty { salesforce_id: lead.0.clone(), property: "jobtitle", expected: title },
    });

    let phone = format!("+1 555 01{:02}", seed % 100);
    sf.update_as_user("Contact", &contact.0, json!({ "Phone": phone }))
        .map_err(|e| anyhow::anyhow!("editing a contact in Salesforce: {e:?}"))?;
    scripted.push(Scripted {
        what: "Salesforce: a contact's Phone changed -> the HubSpot contact's phone".into(),
        check: Check::HubspotProperty { salesforce_id: contact.0.clone(), property: "phone", expected: phone },
    });

    let new_lead_email = format!("new.lead.{seed}@demo.example.com");
    let new_lead = sf
        .create_as_user(
            "Lead",
            json!({ "LastName": "Lovelace", "FirstName": "Ada", "Company": "Analytical Engines", "Email": new_lead_email }),
        )
        .map_err(|e| anyhow::anyhow!("creating a lead in Salesforce: {e:?}"))?;
    scripted.push(Scripted {
        what: "Salesforce: a new lead -> a new HubSpot contact".into(),
        check: Check::HubspotContactFor { salesforce_id: new_lead, email: new_lead_email },
    });

    let new_contact_email = format!("new.contact.{seed}@demo.example.com");
    let new_contact = hs
        .user_edit(UserEdit::Create {
            object: ObjectType::Contacts,
            properties: props(json!({
                "email": new_contact_email, "firstname": "Grace", "lastname": "Hopper", "company": "Navy Labs",
                "lifecyclestage": "lead"
            })),
        })
        .map_err(|e| anyhow::anyhow!("creating a contact in HubSpot: {e:?}"))?;
    scripted.push(Scripted {
        what: "HubSpot: a new contact -> a new Salesforce lead".into(),
        check: Check::SalesforceRecordFor { hubspot_id: new_contact.to_string(), email: new_contact_email },
    });

    if let Some(other) = leads.get(1) {
        let id: u64 = other.1.parse().context("a HubSpot id")?;
        hs.user_edit(UserEdit::OptOut { contact: id, opted_out: true })
            .map_err(|e| anyhow::anyhow!("opting a contact out in HubSpot: {e:?}"))?;
        scripted.push(Scripted {
            what: "HubSpot: a contact opted out of all email -> Salesforce HasOptedOutOfEmail".into(),
            check: Check::SalesforceField {
                hubspot_id: other.1.clone(),
                field: "HasOptedOutOfEmail",
                expected: Value::Bool(true),
            },
        });
    }
    Ok(scripted)
}

pub async fn hubspot_record(stage: &Stage, id: &str) -> anyhow::Result<Option<Map<String, Value>>> {
    let url = format!("{}/__sandbox/hubspot/records/contacts/{id}", stage.sandbox.hubspot_url());
    let response = stage.http.get(&url).send().await.context("reading a HubSpot record from the sandbox")?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body: Value = response.error_for_status()?.json().await?;
    Ok(body.get("properties").cloned().map(props))
}

/// A Salesforce record as the control API reads it (deleted ones too).
async fn salesforce_record(stage: &Stage, object: &str, id: &str) -> anyhow::Result<Option<Map<String, Value>>> {
    let url = format!("{}/__sandbox/salesforce/records/{object}/{id}", stage.sandbox.salesforce_url());
    let response = stage.http.get(&url).send().await.context("reading a Salesforce record from the sandbox")?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    Ok(Some(props(response.error_for_status()?.json().await?)))
}

/// Edits a Salesforce record as a user would (an outbound message follows),
/// through the control API.
pub async fn edit_salesforce_as_user(stage: &Stage, object: &str, id: &str, fields: &Value) -> anyhow::Result<()> {
    let url = format!("{}/__sandbox/salesforce/records/{object}/{id}", stage.sandbox.salesforce_url());
    let response = stage.http.patch(&url).json(fields).send().await.context("editing a Salesforce record")?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("editing {object} {id} in Salesforce as a user: {status} {body}");
    }
    Ok(())
}

/// One property of many HubSpot contacts in one uncounted control call:
/// id -> value (ids the sandbox does not know are left out).
pub async fn hubspot_property(
    stage: &Stage,
    ids: &[&str],
    property: &str,
) -> anyhow::Result<std::collections::HashMap<String, Option<String>>> {
    let url = format!("{}/__sandbox/hubspot/batch-read/contacts", stage.sandbox.hubspot_url());
    let body = json!({ "ids": ids, "properties": [property] });
    let response = stage.http.post(&url).json(&body).send().await.context("reading HubSpot records in a batch")?;
    let body: Value = response.error_for_status()?.json().await?;
    let records = body.get("records").and_then(Value::as_object).cloned().unwrap_or_default();
    Ok(records.into_iter().map(|(id, p)| (id, p.get(property).and_then(Value::as_str).map(str::to_owned))).collect())
}

/// Live HubSpot contacts.
pub async fn hubspot_live_contacts(stage: &Stage) -> anyhow::Result<u64> {
    let url = format!("{}/__sandbox/hubspot/live-count/contacts", stage.sandbox.hubspot_url());
    let body: Value = stage.http.get(&url).send().await?.error_for_status()?.json().await?;
    body.get("live").and_then(Value::as_u64).context("the sandbox's live count has no number")
}

fn same_email(a: Option<&Value>, b: &str) -> bool {
    a.and_then(Value::as_str).is_some_and(|a| a.trim().eq_ignore_ascii_case(b))
}

async fn arrived(stage: &Stage, check: &Check) -> anyhow::Result<bool> {
    let store = stage.app.store();
    Ok(match check {
        Check::HubspotProperty { salesforce_id, property, expected } => {
            let Some(link) = store.get_link_by_salesforce(ObjectPair::Contact, salesforce_id).await? else {
                return Ok(false);
            };
            hubspot_record(stage, &link.hubspot_id)
                .await?
                .and_then(|p| p.get(*property).and_then(Value::as_str).map(|v| v == expected))
                .unwrap_or(false)
        }
        Check::SalesforceField { hubspot_id, field, expected } => {
            let Some(link) = store.get_link_by_hubspot(ObjectPair::Contact, hubspot_id).await? else {
                return Ok(false);
            };
            salesforce_record(stage, &link.salesforce_object, &link.salesforce_id)
                .await?
                .is_some_and(|r| r.get(*field) == Some(expected))
        }
        Check::HubspotContactFor { salesforce_id, email } => {
            let Some(link) = store.get_link_by_salesforce(ObjectPair::Contact, salesforce_id).await? else {
                return Ok(false);
            };
            hubspot_record(stage, &link.hubspot_id).await?.is_some_and(|p| same_email(p.get("email"), email))
        }
        Check::SalesforceRecordFor { hubspot_id, email } => {
            let Some(link) = store.get_link_by_hubspot(ObjectPair::Contact, hubspot_id).await? else {
                return Ok(false);
            };
            salesforce_record(stage, &link.salesforce_object, &link.salesforce_id)
                .await?
                .is_some_and(|r| same_email(r.get("Email"), email))
        }
    })
}

/// API calls so far: (Salesforce, HubSpot), from the sandbox's counters
/// (`GET /__sandbox/counts` on each listener).
pub async fn calls(stage: &Stage) -> anyhow::Result<(u64, u64)> {
    let total = |base: String| async move {
        let counts: crm_sandbox::CallCounts = stage
            .http
            .get(format!("{base}/__sandbox/counts"))
            .send()
            .await
            .context("reading the sandbox's call counts")?
            .error_for_status()?
            .json()
            .await?;
        anyhow::Ok(counts.total)
    };
    let (sf, hs) = tokio::try_join!(
        total(stage.sandbox.salesforce_url().to_owned()),
        total(stage.sandbox.hubspot_url().to_owned())
    )?;
    Ok((sf, hs))
}

async fn summary(stage: &Stage, imported_calls: (u64, u64)) -> anyhow::Result<String> {
    let stats = stage.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut rows: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (key, n) in &stats.created {
        rows.entry(key.clone()).or_default().0 += n;
    }
    for (key, n) in &stats.updated {
        rows.entry(key.clone()).or_default().1 += n;
    }
    let mut records = Table::new();
    records.load_preset(UTF8_FULL_CONDENSED).set_header(["written in", "object", "created", "updated"]);
    for (key, (created, updated)) in &rows {
        let (side, object) = key.split_once(':').unwrap_or((key.as_str(), ""));
        records.add_row([side.to_owned(), object.to_owned(), created.to_string(), updated.to_string()]);
    }
    let written: u64 = rows.values().map(|(c, u)| c + u).sum::<u64>() + stats.unchanged;

    let mut imports = Table::new();
    imports.load_preset(UTF8_FULL_CONDENSED).set_header([
        "import (into hubspot)",
        "read",
        "written or queued",
        "failed",
    ]);
    let mut imported = 0;
    for job in stage.app.store().list_import_jobs().await?.iter().rev() {
        let objects = job.spec.pointer("/request/objects").and_then(Value::as_str).unwrap_or("-");
        imports.add_row([
            objects.to_owned(),
            job.counts.read.to_string(),
            job.counts.queued.to_string(),
            job.counts.failed.to_string(),
        ]);
        imported += job.counts.read;
    }

    let (sf, hs) = calls(stage).await?;
    let handled = written + imported;
    let per = |n: u64| if handled == 0 { 0.0 } else { n as f64 / handled as f64 };
    let mut api = Table::new();
    api.load_preset(UTF8_FULL_CONDENSED).set_header(["system", "API calls", "of which import", "per record handled"]);
    api.add_row(["salesforce".to_owned(), sf.to_string(), imported_calls.0.to_string(), format!("{:.4}", per(sf))]);
    api.add_row(["hubspot".to_owned(), hs.to_string(), imported_calls.1.to_string(), format!("{:.4}", per(hs))]);

    let mut errors = Table::new();
    errors.load_preset(UTF8_FULL_CONDENSED).set_header(["error category", "records"]);
    let mut by_category: BTreeMap<String, u64> = BTreeMap::new();
    for e in stage.app.store().list_errors(&ErrorFilter::default()).await? {
        *by_category.entry(e.category).or_default() += 1;
    }
    if by_category.is_empty() {
        errors.add_row(["(none)".to_owned(), "0".to_owned()]);
    }
    for (category, n) in by_category {
        errors.add_row([category, n.to_string()]);
    }
    Ok(format!(
        "{imports}\n{records}\n{} records checked by sync workers, {} unchanged, {} skipped\n{api}\n{errors}",
        written,
        stats.unchanged,
        stats.skipped.values().sum::<u64>()
    ))
}
