//! End-to-end harness: the CRM sandbox and the local runtime wired together
//! on loopback, as `crm-sync serve` would run against real accounts.
//!
//! [`Harness::start`] binds the runtime's webhook listener first (port 0),
//! starts the sandbox with that URL as its webhook and outbound-message
//! target, builds the real CRM clients against the sandbox and the app over
//! an in-memory embedded store. Tests then act as users on the sandbox and
//! drive the runtime with [`Harness::sync_until`].

pub mod fuzz;
pub mod model;

use anyhow::{Context, bail};
use crm_sandbox::control::CallCounts;
use crm_sandbox::sandbox::{Sandbox, SandboxOptions};
use crm_sync_app::local::{EmbeddedParts, IdleReport, LocalOptions, LocalRuntime, WebhookServer, embedded_app};
use crm_sync_app::{App, AppSettings, SalesforceOrg, Secret, WebhookSecrets};
use crm_sync_crm::hubspot::{HubSpotClient, HubSpotConfig};
use crm_sync_domain::SyncConfig;
use crm_sync_store::Clock;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Settings with Title two-way (`jobtitle` <-> `Title`), and `segment`
/// (YAML of `inclusion_segment`, empty for none) as the inclusion segment.
pub fn title_two_way(segment: &str) -> Result<SyncConfig, crm_sync_domain::config::ConfigError> {
    let segment = if segment.is_empty() { String::new() } else { format!("inclusion_segment:\n{segment}") };
    let yaml = format!(
        "version: 1\n{segment}mappings:\n  contact:\n    - hubspot: jobtitle\n      salesforce: Title\n      rule: two_way\n"
    );
    SyncConfig::from_yaml_str(&yaml)
}

/// The inclusion segment as the HubSpot list `1`, for [`title_two_way`].
pub const SEGMENT_LIST_ONE: &str = "  hubspot_list: \"1\"\n";

/// How long a test waits for the sync to reach what it expects (wall time).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long the runtime must stay idle for a test to call it settled.
pub const QUIET: std::time::Duration = std::time::Duration::from_millis(1500);

/// The object of a JSON object literal (empty for anything else): the
/// properties of a user's edit.
pub fn props(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct HarnessOptions {
    pub config: SyncConfig,
    pub sandbox: SandboxOptions,
    /// Send HubSpot webhooks and Salesforce outbound messages to the runtime.
    pub webhooks: bool,
    pub settings: AppSettings,
    pub local: LocalOptions,
    /// How many times the HubSpot client resends a short-window 429 itself
    /// (it waits in wall time in between); `None`: the client's default.
    pub hubspot_rate_limit_retries: Option<u32>,
    /// The embedded state file; `None` keeps the state in memory.
    pub state_path: Option<std::path::PathBuf>,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        // The org and the account as setup leaves them.
        let mut sandbox = SandboxOptions::default().with_crm_sync_fields();
        sandbox.hubspot.webhook_batch_window = Duration::from_millis(50);
        sandbox.salesforce.outbound_retry = Duration::from_millis(100);
        HarnessOptions {
            config: SyncConfig::default(),
            sandbox,
            webhooks: true,
            settings: AppSettings::default(),
            local: LocalOptions {
                batch_messages: 50,
                idle_timeout: Duration::from_secs(60),
                ..LocalOptions::default()
            },
            hubspot_rate_limit_retries: None,
            state_path: None,
        }
    }
}

/// The sandbox and the runtime, running.
pub struct Harness {
    pub sandbox: Sandbox,
    pub app: App,
    pub runtime: LocalRuntime,
    pub server: WebhookServer,
    /// The app's clock: wall time, moved forward by [`Harness::later`].
    pub clock: Arc<ShiftedClock>,
}

/// Wall time plus an offset that tests move forward, so that timers and
/// leases keep running while a test stands in for "a while later".
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    pub fn shift(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").field("webhooks", &self.server.addr).finish_non_exhaustive()
    }
}

impl Harness {
    pub async fn start(options: HarnessOptions) -> anyhow::Result<Harness> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mut sandbox_options = options.sandbox;
        if options.webhooks {
            sandbox_options.hubspot.webhook_url = Some(format!("{base}/webhooks/hubspot"));
            sandbox_options.salesforce.outbound_url = Some(format!("{base}/webhooks/salesforce"));
        }
        let client_secret = sandbox_options.hubspot.client_secret.clone();
        let token = sandbox_options.hubspot.token.clone();
        let sandbox = Sandbox::start(sandbox_options).await?;
        let mut hs_config = HubSpotConfig::new(sandbox.hubspot_url(), crm_sync_crm::hubspot::Secret::new(token));
        hs_config.client_secret = Some(crm_sync_crm::hubspot::Secret::new(client_secret.clone()));
        if let Some(retries) = options.hubspot_rate_limit_retries {
            hs_config.max_rate_limit_retries = retries;
        }
        let hubspot = Arc::new(HubSpotClient::new(hs_config)?);
        let salesforce = salesforce_client(&sandbox).await?;
        let clock = Arc::new(ShiftedClock::default());
        let app = embedded_app(EmbeddedParts {
            config: options.config,
            state_path: options.state_path,
            salesforce,
            hubspot,
            clock: clock.clone(),
            secrets: WebhookSecrets {
                hubspot_client_secret: Secret::new(client_secret),
                public_base_url: Some(base),
                salesforce_org: SalesforceOrg::Only(crm_sandbox::salesforce::ORG_ID.to_owned()),
            },
            settings: options.settings,
        })?;
        let server = WebhookServer::start_on(app.clone(), listener)?;
        let runtime = LocalRuntime::new(app.clone(), options.local);
        Ok(Harness { sandbox, app, runtime, server, clock })
    }

    /// Moves the app's clock forward, as if `by` had passed.
    pub fn later(&self, by: Duration) {
        self.clock.shift(by);
    }

    /// API calls the sandbox has counted so far, per system.
    pub fn counts(&self) -> (CallCounts, CallCounts) {
        (self.sandbox.salesforce_control().counts(), self.sandbox.hubspot_control().counts())
    }

    /// Zeroes both sandboxes' call counters.
    pub fn reset_counts(&self) {
        self.sandbox.salesforce_control().reset_counts();
        self.sandbox.hubspot_control().reset_counts();
    }

    /// Works the queues until `done` holds (checked after each idle pass),
    /// webhooks arriving in between; fails after `timeout`.
    pub async fn sync_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&Harness) -> bool,
    ) -> anyhow::Result<IdleReport> {
        let started = tokio::time::Instant::now();
        let mut total = IdleReport::default();
        loop {
            let report = self.runtime.run_until_idle().await.context("run_until_idle failed")?;
            total.sync_steps += report.sync_steps;
            total.messages += report.messages;
            total.retried += report.retried;
            total.waited += report.waited;
            total.failed += report.failed;
            total.import_chunks += report.import_chunks;
            total.stats.add(&report.stats);
            if done(self) {
                return Ok(total);
            }
            if started.elapsed() > timeout {
                bail!("the condition did not hold within {timeout:?}; so far: {total:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Keeps working the queues for `quiet` with nothing left to do, so that
    /// echoes of our own writes (webhooks, outbound messages) arrive and are
    /// handled before a test counts writes.
    pub async fn settle(&self, quiet: Duration) -> anyhow::Result<IdleReport> {
        let mut total = IdleReport::default();
        let mut last_work = tokio::time::Instant::now();
        while last_work.elapsed() < quiet {
            let report = self.runtime.run_until_idle().await?;
            if report.messages > 0 || report.import_chunks > 0 {
                last_work = tokio::time::Instant::now();
            }
            total.sync_steps += report.sync_steps;
            total.messages += report.messages;
            total.retried += report.retried;
            total.waited += report.waited;
            total.failed += report.failed;
            total.import_chunks += report.import_chunks;
            total.stats.add(&report.stats);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(total)
    }

    /// Delivers the HubSpot webhook batches the sandbox held
    /// (`webhook_hold`) to the runtime's listener, signed as HubSpot signs
    /// them; how many. Fails on a delivery the listener refused.
    pub async fn release_held_webhooks(&self) -> anyhow::Result<usize> {
        let batches = self.sandbox.hubspot().take_webhook_batches();
        let client = reqwest::Client::new();
        let uri = format!("{}/webhooks/hubspot", self.server.base_url());
        let secret = self.sandbox.hubspot().options().client_secret.clone();
        for batch in &batches {
            let body = serde_json::to_vec(batch)?;
            let timestamp = chrono::Utc::now().timestamp_millis().to_string();
            let signature = crm_sandbox::hubspot::sign_v3(&secret, "POST", &uri, &body, &timestamp);
            let response = client
                .post(&uri)
                .header("content-type", "application/json")
                .header("x-hubspot-signature-v3", signature)
                .header("x-hubspot-request-timestamp", timestamp)
                .body(body)
                .send()
                .await?;
            if response.status() != 200 {
                bail!("a delivery was refused: {}", response.status());
            }
        }
        Ok(batches.len())
    }

    pub async fn stop(self) {
        let _ = self.server.shutdown().await;
        self.sandbox.shutdown().await;
    }
}

/// The Salesforce client against the sandbox, with the sandbox's default
/// connected app (client-credentials flow) and quick Bulk job polling.
pub async fn salesforce_client(sandbox: &Sandbox) -> anyhow::Result<Arc<dyn crm_sync_app::ports::SalesforceApi>> {
    use crm_sync_crm::salesforce::{SalesforceAuth, SalesforceClient, SalesforceConfig};
    let options = &sandbox.salesforce().options;
    let mut config = SalesforceConfig::new(
        sandbox.salesforce_url(),
        options.client_id.clone(),
        SalesforceAuth::ClientCredentials {
            client_secret: crm_sync_crm::salesforce::Secret::new(options.client_secret.clone()),
        },
    );
    config.bulk_poll_initial = Duration::from_millis(20);
    config.bulk_poll_max = Duration::from_millis(200);
    let client = SalesforceClient::new(config)?;
    Ok(Arc::new(client))
}
