//! The world a fault scenario runs in: the sandbox's two CRMs (holding
//! their webhooks and outbound messages for the scenario to deliver), the
//! App over the embedded store behind [`FlakyStore`], the local runtime's
//! worker steps, and a clock the scenario moves (simulated time).
//!
//! Faults, one per worker step, chosen by the scenario's seed:
//! - the worker dies at its `n`-th CRM call, store write or queue operation
//!   (receive, delete, visibility change, send), before it takes effect or
//!   after (the sandbox's [`Tripwire`], which the store's writes
//!   pass too): the step's future is dropped, its messages stay in flight
//!   and its import lease held, as after `kill -9`;
//! - either CRM answers every call with 429, 503, 504 (or Salesforce's
//!   `REQUEST_LIMIT_EXCEEDED`) for 10 seconds to 2 hours of simulated time;
//! - the store fails a write.
//!
//! Between steps the world records the Salesforce API calls so far against
//! simulated time, so that the cap can be checked over every 24 hours.

use crate::queue::FlakyQueue;
use crate::store::FlakyStore;
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::Actor;
use crm_sandbox::{Cut, Fault, Sandbox, SandboxOptions, Tripwire};
use crm_sync_app::local::{LocalOptions, LocalRuntime};
use crm_sync_app::{
    App, AppParts, AppSettings, SalesforceOrg, Secret, WebhookRequest, WebhookSecrets, handle_hubspot_webhook,
    handle_salesforce_outbound,
};
use crm_sync_crm::hubspot::{HubSpotClient, HubSpotConfig};
use crm_sync_domain::SyncConfig;
use crm_sync_e2e::ShiftedClock;
use crm_sync_store::{Clock, Queue, SqliteStore};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Duration;

/// The longest the world waits, in simulated time, for work to come back.
const LONGEST_JUMP: Duration = Duration::from_secs(3600);
/// How often production's sweep runs.
const SWEEP_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Worker steps one phase may take before the world calls it stuck. A
/// message waits at most 15 minutes at a time (SQS's longest delay), so an
/// import waiting out a spent API budget (a rolling day) wakes each of its
/// chunk messages about a hundred times a day: a busy seed takes a few
/// thousand steps (2,060 seen), a stuck one never ends.
pub const MAX_STEPS: usize = 10_000;

/// One fault for one worker step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepFault {
    None,
    /// The worker dies at its `calls`-th CRM call or store write from now.
    Kill {
        calls: u64,
        cut: Cut,
    },
    /// Every call to one CRM is answered with `status` until `until`.
    Outage {
        salesforce: bool,
        status: u16,
        lasts: Duration,
    },
    /// The `writes`-th store write from now fails.
    StoreWrite {
        writes: u64,
    },
}

impl StepFault {
    /// A fault drawn from `rng`: most steps run clean.
    pub fn draw(rng: &mut ChaCha8Rng) -> StepFault {
        match rng.random_range(0..20) {
            0..=3 => StepFault::Kill {
                calls: rng.random_range(0..16),
                cut: if rng.random_bool(0.5) { Cut::BeforeEffect } else { Cut::AfterEffect },
            },
            4 => {
                let salesforce = rng.random_bool(0.5);
                let status = *[429u16, 503, 504].choose(rng).unwrap_or(&503);
                let status = if salesforce && status == 429 { 403 } else { status };
                let seconds = match rng.random_range(0..4) {
                    0 => rng.random_range(10..60),
                    1 => rng.random_range(60..900),
                    2 => rng.random_range(900..3600),
                    _ => rng.random_range(3600..=7200),
                };
                StepFault::Outage { salesforce, status, lasts: Duration::from_secs(seconds) }
            }
            5 | 6 => StepFault::StoreWrite { writes: rng.random_range(0..6) },
            _ => StepFault::None,
        }
    }
}

/// A held delivery: a HubSpot webhook request body or an outbound message.
#[derive(Debug, Clone)]
enum Delivery {
    HubSpot(String),
    Salesforce(String),
}

/// An outage in progress.
#[derive(Debug, Clone)]
struct Outage {
    salesforce: bool,
    until: DateTime<Utc>,
}

pub struct FaultWorld {
    pub sandbox: Sandbox,
    pub app: App,
    pub runtime: LocalRuntime,
    pub clock: Arc<ShiftedClock>,
    pub store: Arc<FlakyStore>,
    pub tripwire: Arc<Tripwire>,
    /// Workers that died at a queue operation.
    pub queue_deaths: Arc<std::sync::Mutex<u64>>,
    pending: Vec<Delivery>,
    outage: Option<Outage>,
    /// Salesforce API calls counted by the sandbox so far, after each step,
    /// at the simulated time of that step.
    pub salesforce_calls: Vec<(DateTime<Utc>, u64)>,
    /// Changes the integration made to HubSpot contacts, per (contact,
    /// property), from the change events HubSpot sent.
    hubspot_changes: std::collections::BTreeMap<(u64, String), usize>,
    /// What happened, for a failure's report.
    pub log: Vec<String>,
    /// The most worker steps one `work` call took.
    pub longest_work: usize,
    /// Dead letters of both queues when `work` last ran the sweep for them.
    swept_dead_letters: usize,
}

impl std::fmt::Debug for FaultWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultWorld").field("log", &self.log.len()).finish_non_exhaustive()
    }
}

impl FaultWorld {
    /// A world whose queues name their messages after `ids` (see
    /// [`FlakyQueue`]).
    pub async fn start(config: SyncConfig, settings: AppSettings, ids: &str) -> anyhow::Result<FaultWorld> {
        let mut options = SandboxOptions::default().with_crm_sync_fields();
        options.hubspot.webhook_hold = true;
        options.salesforce.outbound_hold = true;
        let client_secret = options.hubspot.client_secret.clone();
        let token = options.hubspot.token.clone();
        let sandbox = Sandbox::start(options).await?;
        let tripwire = Arc::new(Tripwire::default());
        sandbox.salesforce_control().set_tripwire(Some(tripwire.clone()));
        sandbox.hubspot_control().set_tripwire(Some(tripwire.clone()));
        let mut hs_config = HubSpotConfig::new(sandbox.hubspot_url(), crm_sync_crm::hubspot::Secret::new(token));
        hs_config.client_secret = Some(crm_sync_crm::hubspot::Secret::new(client_secret.clone()));
        // A storm is ridden out by the queue, in simulated time, not by
        // the client waiting in wall time.
        hs_config.max_rate_limit_retries = 0;
        let hubspot = Arc::new(HubSpotClient::new(hs_config)?);
        let salesforce = crm_sync_e2e::salesforce_client(&sandbox).await?;
        let clock = Arc::new(ShiftedClock::default());
        // Salesforce's replication API lists whole minutes: keep the app
        // two minutes ahead of the sandboxes' wall time.
        clock.shift(Duration::from_secs(120));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let sqlite = SqliteStore::open_in_memory(dyn_clock.clone())?;
        let queue_deaths = Arc::new(std::sync::Mutex::new(0));
        let flaky = |queue: crm_sync_store::SqliteQueue| -> Arc<dyn Queue> {
            Arc::new(FlakyQueue::new(Arc::new(queue), tripwire.clone(), queue_deaths.clone(), ids))
        };
        let sync_queue = flaky(crm_sync_app::build::local_sync_queue(&sqlite));
        let import_queue = flaky(crm_sync_app::build::local_import_queue(&sqlite));
        let store = Arc::new(FlakyStore::new(sqlite).with_tripwire(tripwire.clone()));
        let app = App::new(AppParts {
            config,
            store: store.clone(),
            sync_queue,
            import_queue,
            salesforce,
            hubspot,
            clock: dyn_clock,
            secrets: WebhookSecrets {
                hubspot_client_secret: Secret::new(client_secret),
                public_base_url: Some("http://faults.invalid".into()),
                salesforce_org: SalesforceOrg::Only(crm_sandbox::salesforce::ORG_ID.to_owned()),
            },
            settings,
        });
        let runtime = LocalRuntime::new(
            app.clone(),
            LocalOptions { batch_messages: 10, idle_timeout: Duration::ZERO, ..LocalOptions::default() },
        );
        Ok(FaultWorld {
            sandbox,
            app,
            runtime,
            clock,
            store,
            tripwire,
            queue_deaths,
            pending: Vec::new(),
            outage: None,
            salesforce_calls: Vec::new(),
            hubspot_changes: Default::default(),
            log: Vec::new(),
            longest_work: 0,
            swept_dead_letters: 0,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Moves simulated time on; an outage that has run its course ends.
    pub fn later(&mut self, by: Duration) {
        self.clock.shift(by);
        if self.outage.as_ref().is_some_and(|o| self.clock.now() >= o.until) {
            self.end_outage();
        }
    }

    fn end_outage(&mut self) {
        if let Some(outage) = self.outage.take() {
            let control =
                if outage.salesforce { self.sandbox.salesforce_control() } else { self.sandbox.hubspot_control() };
            control.clear_faults();
            self.log.push(format!("outage of {} ends", if outage.salesforce { "Salesforce" } else { "HubSpot" }));
        }
    }

    fn start_outage(&mut self, salesforce: bool, status: u16, lasts: Duration) {
        if self.outage.is_some() {
            return;
        }
        let control = if salesforce { self.sandbox.salesforce_control() } else { self.sandbox.hubspot_control() };
        let mut fault = Fault::new(status, u32::MAX, "/");
        if status == 429 {
            fault = fault.with_header("Retry-After", "10");
        }
        control.add_fault(fault);
        let until = self.now() + chrono::Duration::from_std(lasts).unwrap_or_default();
        self.outage = Some(Outage { salesforce, until });
        self.log.push(format!(
            "outage of {}: every call answered {status} for {}s",
            if salesforce { "Salesforce" } else { "HubSpot" },
            lasts.as_secs()
        ));
    }

    /// Salesforce API calls so far (the token endpoint is not an API call).
    fn salesforce_api_calls(&self) -> u64 {
        let counts = self.sandbox.salesforce_control().counts();
        counts.total - counts.count("POST", "/services/oauth2/token")
    }

    /// Takes what the sandbox held into the pending deliveries.
    pub fn collect(&mut self) -> anyhow::Result<()> {
        for batch in self.sandbox.hubspot().take_webhook_batches() {
            for event in &batch {
                let by_us = event["changeSource"] == "INTEGRATION";
                if by_us && event["subscriptionType"] == "contact.propertyChange" {
                    let (Some(id), Some(name)) = (event["objectId"].as_u64(), event["propertyName"].as_str()) else {
                        continue;
                    };
                    *self.hubspot_changes.entry((id, name.to_owned())).or_default() += 1;
                }
            }
            self.pending.push(Delivery::HubSpot(serde_json::to_string(&batch)?));
        }
        for body in self.sandbox.salesforce().take_outbound_messages() {
            self.pending.push(Delivery::Salesforce(body));
        }
        Ok(())
    }

    /// Delivers every pending delivery 1 to 3 times, shuffled. A delivery
    /// answered with an error is sent again, as both CRMs resend.
    pub async fn deliver(&mut self, rng: &mut ChaCha8Rng) -> anyhow::Result<usize> {
        self.collect()?;
        let mut plan = Vec::new();
        for delivery in std::mem::take(&mut self.pending) {
            let times = rng.random_range(1..=3);
            plan.extend(std::iter::repeat_n(delivery, times));
        }
        plan.shuffle(rng);
        for delivery in &plan {
            let mut attempts = 0;
            while !self.send(delivery).await? {
                attempts += 1;
                if attempts > 20 {
                    bail!("a delivery was refused 20 times");
                }
            }
        }
        Ok(plan.len())
    }

    /// Sends one delivery; `false` when it was answered with an error the
    /// sender retries.
    async fn send(&mut self, delivery: &Delivery) -> anyhow::Result<bool> {
        let app = &self.app;
        let (status, body) = match delivery {
            Delivery::HubSpot(body) => {
                let uri = "http://faults.invalid/webhooks/hubspot".to_owned();
                let secret = &self.sandbox.hubspot().options().client_secret;
                let timestamp = app.clock().now().timestamp_millis().to_string();
                let signature = crm_sandbox::hubspot::sign_v3(secret, "POST", &uri, body.as_bytes(), &timestamp);
                let mut request =
                    WebhookRequest { method: "POST".into(), uri, body: body.as_bytes().to_vec(), ..Default::default() };
                request.headers.insert("x-hubspot-signature-v3".into(), signature);
                request.headers.insert("x-hubspot-request-timestamp".into(), timestamp);
                request.headers.insert("content-type".into(), "application/json".into());
                let response = handle_hubspot_webhook(app, request).await;
                (response.status, response.body)
            }
            Delivery::Salesforce(body) => {
                let request = WebhookRequest {
                    method: "POST".into(),
                    uri: "http://faults.invalid/webhooks/salesforce".into(),
                    body: body.as_bytes().to_vec(),
                    ..Default::default()
                };
                let response = handle_salesforce_outbound(app, request).await;
                (response.status, response.body)
            }
        };
        match status {
            200 => Ok(true),
            500..=599 => {
                self.log.push(format!("a delivery was answered {status}; sent again"));
                Ok(false)
            }
            _ => bail!("a delivery was answered {status}: {body}"),
        }
    }

    /// One worker step (an import chunk if one is visible, else a sync
    /// batch) under `fault`. `Ok(false)` when there was nothing to do.
    async fn step(&mut self, fault: &StepFault) -> anyhow::Result<bool> {
        match fault {
            StepFault::None => {}
            StepFault::Kill { calls, cut } => self.tripwire.arm(*calls, *cut),
            StepFault::Outage { salesforce, status, lasts } => self.start_outage(*salesforce, *status, *lasts),
            StepFault::StoreWrite { writes } => self.store.fail_after(*writes),
        }
        let runtime = self.runtime.clone();
        let work = async move {
            if runtime.import_step().await? {
                return Ok::<bool, crm_sync_app::AppError>(true);
            }
            Ok(runtime.sync_step().await?.is_some())
        };
        let tripwire = self.tripwire.clone();
        let outcome = tokio::select! {
            result = work => Some(result),
            () = tripwire.tripped() => None,
        };
        self.tripwire.disarm();
        let worked = match outcome {
            None => {
                self.log.push(format!("{fault:?}: the worker died"));
                true
            }
            Some(Err(error)) => {
                // The local runtime logs a failed step and goes on; what the
                // step held comes back when its visibility or lease ends.
                self.log.push(format!("{fault:?}: the step failed: {error}"));
                true
            }
            Some(Ok(worked)) => worked,
        };
        if let StepFault::StoreWrite { .. } = fault {
            self.store.fail_after(u64::MAX);
        }
        let calls = self.salesforce_api_calls();
        let now = self.now();
        self.salesforce_calls.push((now, calls));
        Ok(worked)
    }

    /// Works both queues, one fault per step drawn from `rng` (`faults`
    /// off: clean steps), moving simulated time on whenever nothing is
    /// visible, until nothing is left: no message visible, in flight or
    /// delayed, and no outage.
    pub async fn work(&mut self, rng: &mut ChaCha8Rng, faults: bool) -> anyhow::Result<()> {
        let mut jump = Duration::from_secs(30);
        // Faults come for six hours of simulated time per phase, then stop:
        // outage after outage without end is not a world the sync can settle in.
        let faults_until = self.now() + chrono::Duration::hours(6);
        for step in 0..MAX_STEPS {
            self.longest_work = self.longest_work.max(step + 1);
            let fault = if faults && self.now() < faults_until { StepFault::draw(rng) } else { StepFault::None };
            if self.step(&fault).await? {
                jump = Duration::from_secs(30);
                continue;
            }
            let sync = self.app.sync_queue().depth().await?;
            let import = self.app.import_queue().depth().await?;
            if sync.visible + sync.in_flight + import.visible + import.in_flight == 0 && self.outage.is_none() {
                // Messages that gave up during this phase are the next
                // 15-minute sweep's to pick up again, before users act.
                let dead = dead_letters(self.app.sync_queue()).await? + dead_letters(self.app.import_queue()).await?;
                if dead > self.swept_dead_letters {
                    self.swept_dead_letters = dead;
                    self.later(SWEEP_INTERVAL);
                    self.log.push(format!("{dead} dead letters: the 15-minute sweep runs"));
                    if let Err(error) = self.runtime.sweep().await {
                        self.log.push(format!("the sweep failed: {error:#}"));
                    }
                    continue;
                }
                return Ok(());
            }
            self.later(jump);
            jump = (jump * 2).min(LONGEST_JUMP);
        }
        let sync = self.app.sync_queue().depth().await?;
        let import = self.app.import_queue().depth().await?;
        let mut chunks = Vec::new();
        for job in self.app.store().list_import_jobs().await? {
            for chunk in self.app.store().list_chunks(&job.id).await? {
                chunks.push(format!("{}#{} {:?} attempts {}", job.id, chunk.index, chunk.status, chunk.attempts));
            }
        }
        bail!(
            "work did not end within {MAX_STEPS} steps: sync queue {sync:?}, import queue {import:?}, chunks: {}",
            chunks.join(", ")
        )
    }

    /// Delivers until no delivery comes back (echoes of the sync's own
    /// writes), working after each round.
    pub async fn settle(&mut self, rng: &mut ChaCha8Rng, faults: bool) -> anyhow::Result<()> {
        for _ in 0..10 {
            self.work(rng, faults).await?;
            self.collect()?;
            if self.pending.is_empty() {
                return Ok(());
            }
            self.deliver(rng).await?;
        }
        bail!("deliveries kept coming after 10 rounds")
    }

    /// A sweep, as the 15-minute timer runs it.
    pub async fn sweep(&mut self) -> anyhow::Result<()> {
        self.runtime.sweep().await.context("sweep")?;
        Ok(())
    }

    /// The most Salesforce API calls made within any 24 hours of simulated
    /// time.
    pub fn busiest_day(&self) -> u64 {
        let day = chrono::Duration::hours(24);
        let mut most = 0;
        for (i, (at, calls)) in self.salesforce_calls.iter().enumerate() {
            let before =
                self.salesforce_calls[..i].iter().rev().find(|(t, _)| *t <= *at - day).map(|(_, c)| *c).unwrap_or(0);
            most = most.max(calls - before);
        }
        most
    }

    /// A HubSpot user sets a contact's property.
    pub fn hubspot_edit(&self, id: u64, property: &str, value: &str) -> anyhow::Result<()> {
        let properties = [(property.to_owned(), serde_json::json!(value))].into_iter().collect();
        self.sandbox
            .hubspot()
            .user_edit(UserEdit::Update { object: ObjectType::Contacts, id, properties })
            .map_err(|e| anyhow::anyhow!("HubSpot edit: {e:?}"))?;
        Ok(())
    }

    /// How many times the integration changed `field` of the Salesforce
    /// record `id` (writes that left it as it was are not counted).
    pub fn salesforce_changes(&self, id: &str, field: &str) -> usize {
        let writes = self.sandbox.salesforce().writes();
        writes
            .iter()
            .filter(|w| w.actor == Actor::Integration && w.id == id && w.changed.iter().any(|c| c == field))
            .count()
    }

    /// How many times the integration changed `property` of contact `id`.
    pub fn hubspot_changes(&self, id: u64, property: &str) -> usize {
        self.hubspot_changes.get(&(id, property.to_owned())).copied().unwrap_or(0)
    }

    pub async fn stop(self) {
        self.sandbox.shutdown().await;
    }
}

/// Sleeps until the next millisecond of wall time, so that two changes on
/// different sides never share a modification time.
pub async fn next_ms() {
    let start = Utc::now().timestamp_millis();
    while Utc::now().timestamp_millis() <= start {
        tokio::task::yield_now().await;
    }
}

/// The queue's dead letters (messages received too often).
pub async fn dead_letters(queue: &dyn Queue) -> anyhow::Result<usize> {
    Ok(queue.list_dead_letters(1000).await?.len())
}
