//! Test doubles for the use cases: in-memory CRMs and an [`App`] built over
//! them, so that a use case runs in a unit test without HTTP, emulators or
//! sleeping.
//!
//! Compiled for this crate's tests and, behind the `test-util` feature, for
//! other crates' tests; never part of the shipped library. What it owns:
//! - [`FakeSalesforce`] and [`FakeHubspot`]: the two CRM ports over records
//!   in memory, with the semantics the real adapters promise (see each
//!   type), call counters per method, the API-call figure the usage
//!   accounting reads, and fault injection ([`CallLog::fail_next`]).
//! - [`TestApp`]: an [`App`] over those fakes, the SQLite store and queues in
//!   memory and one [`ManualClock`] shared by all of them.
//!
//! A test seeds records as a user of each CRM would, arms faults, runs a use
//! case and looks at both CRMs, the store and the queues:
//!
//! ```text
//! let t = TestApp::new();
//! let id = t.salesforce.insert("Contact", json!({"Email": "ada@example.com", "LastName": "L"}));
//! t.hubspot.calls().fail_next("batch_upsert", 1, &crm_error(System::HubSpot, 429, "RATE_LIMITS", true));
//! t.advance(Duration::from_secs(60));
//! let report = resync_record(&t.app, &RecordRef::Salesforce { object: SfObject::Contact, id }).await?;
//! assert_eq!(t.hubspot.calls().invocations("batch_upsert"), 1);
//! ```
//!
//! Fault names are the port methods' names (`retrieve`, `batch_read`, ...).
//!
//! What it must not do: decide anything about syncing. The fakes answer as a
//! CRM would; when a use case needs a CRM behaviour they do not model, add
//! it here with the real adapter as the reference rather than bending a
//! fake towards what a test expects.

mod calls;
mod hubspot;
mod salesforce;
mod soql;

pub use calls::{CallLog, crm_error};
pub use hubspot::{FakeHubspot, UNSUBSCRIBE_ALL, hubspot_time};
pub use salesforce::{FakeSalesforce, salesforce_time};

use crate::app::{App, AppParts, AppSettings, Secret, WebhookSecrets};
use crate::usecases::webhook::WebhookRequest;
use chrono::{DateTime, TimeZone, Utc};
use crm_sync_domain::{ObjectPair, SyncConfig};
use crm_sync_store::{Clock, Link, LinkCondition, ManualClock, SqliteQueue, SqliteStore, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The HubSpot app secret the fake signs and checks webhooks with.
pub const TEST_CLIENT_SECRET: &str = "test-client-secret";
/// The public URL HubSpot is taken to call in tests.
pub const TEST_BASE_URL: &str = "https://sync.example.test";

/// When every test clock starts: a Monday morning, on a whole minute.
pub fn test_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 30, 0).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// An [`App`] over the fakes, with handles on every part a test looks at.
#[derive(Debug, Clone)]
pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub salesforce: Arc<FakeSalesforce>,
    pub hubspot: Arc<FakeHubspot>,
    pub store: SqliteStore,
    pub sync_queue: Arc<SqliteQueue>,
    pub import_queue: Arc<SqliteQueue>,
}

/// What a [`TestApp`] is built from; every part has a test default.
#[derive(Debug, Clone)]
pub struct TestAppBuilder {
    config: SyncConfig,
    settings: AppSettings,
    secrets: WebhookSecrets,
    start: DateTime<Utc>,
}

impl Default for TestAppBuilder {
    fn default() -> Self {
        TestAppBuilder {
            config: SyncConfig::default(),
            settings: AppSettings::default(),
            secrets: WebhookSecrets {
                hubspot_client_secret: Secret::new(TEST_CLIENT_SECRET),
                public_base_url: Some(TEST_BASE_URL.to_owned()),
                salesforce_org: crate::SalesforceOrg::Any,
            },
            start: test_epoch(),
        }
    }
}

impl TestAppBuilder {
    pub fn config(mut self, config: SyncConfig) -> Self {
        self.config = config;
        self
    }

    /// The sync config from YAML; panics on a bad document (tests only).
    #[allow(clippy::expect_used)]
    pub fn config_yaml(self, yaml: &str) -> Self {
        let config = SyncConfig::from_yaml_str(yaml).expect("the test's sync config parses");
        self.config(config)
    }

    pub fn settings(mut self, settings: AppSettings) -> Self {
        self.settings = settings;
        self
    }

    pub fn secrets(mut self, secrets: WebhookSecrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// Where the manual clock starts.
    pub fn start(mut self, at: DateTime<Utc>) -> Self {
        self.start = at;
        self
    }

    /// Builds the app; only the in-memory store can fail to open.
    pub fn try_build(self) -> Result<TestApp, StoreError> {
        let clock = Arc::new(ManualClock::new(self.start));
        let as_clock: Arc<dyn Clock> = clock.clone();
        let store = SqliteStore::open_in_memory(as_clock.clone())?;
        // The runtime's own receive limits.
        let sync_queue = Arc::new(crate::build::local_sync_queue(&store));
        let import_queue = Arc::new(crate::build::local_import_queue(&store));
        let salesforce = Arc::new(FakeSalesforce::new(clock.clone()));
        let hubspot = Arc::new(FakeHubspot::new(clock.clone(), TEST_CLIENT_SECRET));
        let app = App::new(AppParts {
            config: self.config,
            store: Arc::new(store.clone()),
            sync_queue: sync_queue.clone(),
            import_queue: import_queue.clone(),
            salesforce: salesforce.clone(),
            hubspot: hubspot.clone(),
            clock: as_clock,
            secrets: self.secrets,
            settings: self.settings,
        });
        Ok(TestApp { app, clock, salesforce, hubspot, store, sync_queue, import_queue })
    }

    /// Builds the app; panics if the in-memory store cannot open (tests only).
    #[allow(clippy::expect_used)]
    pub fn build(self) -> TestApp {
        self.try_build().expect("the in-memory store opens")
    }
}

impl TestApp {
    /// A builder with the test defaults.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// An app with the default sync config and settings.
    pub fn new() -> TestApp {
        TestAppBuilder::default().build()
    }
}

impl Default for TestApp {
    fn default() -> Self {
        TestApp::new()
    }
}

impl TestApp {
    /// Moves the shared clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.clock.advance(by);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Links a Salesforce record to a HubSpot one with no fingerprints, as an
    /// earlier sync that wrote nothing would have; panics if the store
    /// refuses (tests only).
    #[allow(clippy::expect_used)]
    pub async fn put_link(&self, pair: ObjectPair, object: &str, salesforce_id: &str, hubspot_id: &str) {
        let link = Link {
            pair,
            salesforce_object: object.to_owned(),
            salesforce_id: salesforce_id.to_owned(),
            hubspot_id: hubspot_id.to_owned(),
            fingerprints: Default::default(),
            version: 0,
            updated_at: self.now(),
        };
        self.app.store().put_link(&link, LinkCondition::MustNotExist).await.expect("the test link is stored");
    }
}

/// A HubSpot delivery of `body` to `/hubspot/webhook`, signed (v3) at `at`
/// with `secret`, as HubSpot sends it.
pub fn signed_hubspot_request(secret: &str, body: &str, at: DateTime<Utc>) -> WebhookRequest {
    let path = "/hubspot/webhook";
    let timestamp = at.timestamp_millis().to_string();
    let uri = format!("{TEST_BASE_URL}{path}");
    let signature = crm_sync_crm::hubspot::webhook::sign_v3(secret, "POST", &uri, body.as_bytes(), &timestamp);
    let headers = BTreeMap::from([
        ("content-type".to_owned(), "application/json".to_owned()),
        ("x-hubspot-signature-v3".to_owned(), signature),
        ("x-hubspot-request-timestamp".to_owned(), timestamp),
    ]);
    WebhookRequest { method: "POST".into(), uri: path.into(), headers, body: body.as_bytes().to_vec() }
}
