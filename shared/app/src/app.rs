//! [`App`]: everything a use case needs, built once per process (or per
//! Lambda cold start) and shared by reference.
//!
//! The App is the use cases' whole world: the sync config, the state store,
//! the two queues, the two CRM ports, the clock, the webhook secrets and the
//! tunables. A use case reaches nothing else (no environment, no globals),
//! which is what lets the same use case run in the CLI, in a Lambda and in a
//! test over fakes. Assembling one is `crate::build`'s job; this module only
//! holds the parts.
//!
//! Besides the parts, the App keeps a few per-process caches (the owner
//! directory, a segment list's members, whether the HubSpot properties were
//! ensured). They are shared by every clone, bounded in age by the TTLs
//! below, and never persisted: a new process (a Lambda cold start) starts
//! empty and pays the few calls again.

use crate::ports::{HubspotApi, SalesforceApi};
use crm_sync_domain::ObjectPair;
use crm_sync_domain::config::{SpecialField, SyncConfig};
use crm_sync_domain::special::{OwnerDirectory, Person, SALESFORCE_CAMPAIGNS_PROPERTY, match_owners};
use crm_sync_store::{Clock, Queue, StateStore};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The workspace's one credential type, re-exported here because webhook
/// checks hold one ([`WebhookSecrets`]).
pub use crm_sync_domain::secret::Secret;

/// What webhook handling needs to check deliveries.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// The HubSpot app's client secret (signature v3 key).
    pub hubspot_client_secret: Secret,
    /// The public base URL HubSpot calls (`https://sync.example.com`): the
    /// signature covers the full URL, and behind a proxy or a Function URL the
    /// request's own `Host` is not what HubSpot signed. `None`: use the
    /// request's URI as received.
    pub public_base_url: Option<String>,
    /// Whose Salesforce outbound messages are accepted.
    pub salesforce_org: SalesforceOrg,
}

/// Whose Salesforce outbound messages the webhook endpoint accepts. An
/// outbound message carries no signature: its `OrganizationId` is the only
/// thing that ties it to the synced org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SalesforceOrg {
    /// This org's only (an `00D` id of 15 or 18 characters; the first 15
    /// are compared, as either form may be configured).
    Only(String),
    /// The org is not known, for the reason given: every message is refused
    /// (the local runtime when Salesforce could not be asked at start).
    Unknown(String),
    /// Any org: the deployed functions when no org id is configured (the
    /// template's documented default), and tests over fakes.
    Any,
}

impl Default for SalesforceOrg {
    fn default() -> Self {
        SalesforceOrg::Unknown("no Salesforce org id was given".to_owned())
    }
}

/// `00D` and 12 or 15 more letters and digits.
fn is_org_id(id: &str) -> bool {
    id.starts_with("00D") && matches!(id.len(), 15 | 18) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

impl SalesforceOrg {
    /// The configured org id, checked: `00D` and 15 or 18 letters and digits.
    pub fn configured(id: &str) -> Result<Self, String> {
        let id = id.trim();
        if is_org_id(id) {
            Ok(SalesforceOrg::Only(id.to_owned()))
        } else {
            Err(format!("`{id}` is not a Salesforce org id (00D followed by 12 or 15 letters and digits)"))
        }
    }

    /// Whether a message naming `organization_id` may be queued; `Err` says
    /// why not, for the log (never the sender's text).
    pub fn check(&self, organization_id: &str) -> Result<(), &str> {
        match self {
            SalesforceOrg::Any => Ok(()),
            // The same org in its 15- or 18-character form (the first 15
            // characters name it, case-sensitively), and nothing that is
            // not an org id at all.
            SalesforceOrg::Only(org) => match (organization_id.get(..15), org.get(..15)) {
                (Some(given), Some(ours)) if given == ours && is_org_id(organization_id) => Ok(()),
                _ => Err("unknown organization"),
            },
            SalesforceOrg::Unknown(reason) => Err(reason),
        }
    }
}

/// Tunables with defaults that suit both runtimes.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Salesforce calls kept back from imports and resyncs for live changes.
    pub live_reserve: u64,
    /// HubSpot calls per rolling day (private apps: 250,000 to 1,000,000).
    pub hubspot_cap_per_24h: u64,
    /// How far back each sweep window starts before the stored cursor.
    pub sweep_overlap: Duration,
    /// HubSpot records one sweep listing takes before it queues them and
    /// moves the cursor (search pages of 200: 250 calls).
    pub sweep_batch_records: usize,
    /// How long one sweep goes on listing a large window before it leaves
    /// the rest to the next sweep (under Lambda's 15-minute limit).
    pub sweep_time_budget: Duration,
    /// How long webhook event ids are remembered for de-duplication.
    pub seen_event_ttl: Duration,
    /// Records per import chunk (at most 200,000).
    pub import_chunk_size: u64,
    /// Intents per queue message.
    pub intents_per_message: usize,
    /// Imports below this size use SOQL query paging rather than Bulk API 2.0.
    pub bulk_threshold: u64,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            live_reserve: 500,
            hubspot_cap_per_24h: 500_000,
            sweep_overlap: Duration::from_secs(120),
            sweep_batch_records: 50_000,
            sweep_time_budget: Duration::from_secs(8 * 60),
            seen_event_ttl: Duration::from_secs(48 * 3600),
            import_chunk_size: 200_000,
            intents_per_message: 100,
            bulk_threshold: 2_000,
        }
    }
}

/// The parts [`App::new`] takes. Every part is a port or a plain value, so a
/// test can swap any of them (a manual clock, in-memory CRMs).
pub struct AppParts {
    /// The sync settings: objects, mappings, rules, the API cap.
    pub config: SyncConfig,
    /// Links, cursors, jobs, sync health, API usage, seen events.
    pub store: Arc<dyn StateStore>,
    /// Sync intents, read by the sync workers.
    pub sync_queue: Arc<dyn Queue>,
    /// Import chunks, read by the import workers.
    pub import_queue: Arc<dyn Queue>,
    /// The Salesforce port (the REST client, or a fake).
    pub salesforce: Arc<dyn SalesforceApi>,
    /// The HubSpot port (the REST client, or a fake).
    pub hubspot: Arc<dyn HubspotApi>,
    /// Every "now" of the use cases comes from here, never from the system.
    pub clock: Arc<dyn Clock>,
    /// What webhook deliveries are checked with.
    pub secrets: WebhookSecrets,
    /// Tunables.
    pub settings: AppSettings,
}

/// Everything a use case needs. Cheap to clone (all shared): clones see the
/// same parts and the same caches, so a runtime hands one clone to each
/// worker rather than building several.
#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<AppParts>,
    flushed: Arc<crate::usage::Flushed>,
    /// The gate holding the Salesforce client to the API cap; `None` when
    /// the client cannot be gated (the in-memory fakes).
    salesforce_cap: Option<Arc<crate::cap::SalesforceCap>>,
    schema_ready: Arc<tokio::sync::OnceCell<()>>,
    campaigns_ready: Arc<tokio::sync::OnceCell<()>>,
    owners: Arc<tokio::sync::Mutex<Option<CachedOwners>>>,
    segment: Arc<tokio::sync::Mutex<Option<CachedMembers>>>,
    /// Change notifications recognised as echoes of what the links hold,
    /// since this process started (see `usecases::echoes`).
    echoes: Arc<EchoLog>,
}

/// Echoes kept by [`App::echoed_records_since`].
pub const ECHOES_KEPT: usize = 10_000;

/// The echoes of a process: how many, and the latest records.
#[derive(Debug, Default)]
struct EchoLog(std::sync::Mutex<EchoCounts>);

#[derive(Debug, Default)]
struct EchoCounts {
    count: u64,
    recent: std::collections::VecDeque<(ObjectPair, u64)>,
}

impl EchoLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, EchoCounts> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A HubSpot list's members, its id and when they were read.
type CachedMembers = (chrono::DateTime<chrono::Utc>, String, Arc<HashSet<String>>);

/// How long a process reuses a HubSpot list's membership: long enough to
/// serve a burst of batches, short enough that a contact added to the list
/// syncs on its next change.
pub const SEGMENT_MEMBERS_TTL: Duration = Duration::from_secs(60);

/// The owner directory and when it was built.
type CachedOwners = (chrono::DateTime<chrono::Utc>, Arc<OwnerDirectory>);

/// How long a process keeps its owner directory before reading both
/// CRMs' users again.
pub const OWNER_DIRECTORY_TTL: Duration = Duration::from_secs(15 * 60);

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("sync_queue", &self.inner.sync_queue.name())
            .field("import_queue", &self.inner.import_queue.name())
            .finish_non_exhaustive()
    }
}

impl App {
    /// The App over `parts`; the Salesforce client is gated by the API cap
    /// of `parts.config` from here on.
    pub fn new(parts: AppParts) -> Self {
        let cap = Arc::new(crate::cap::SalesforceCap::new(
            parts.store.clone(),
            parts.clock.clone(),
            parts.config.salesforce_api_cap_per_24h.get(),
        ));
        let salesforce_cap = parts.salesforce.install_gate(cap.clone()).then_some(cap);
        Self::assemble(parts, salesforce_cap)
    }

    fn assemble(parts: AppParts, salesforce_cap: Option<Arc<crate::cap::SalesforceCap>>) -> Self {
        App {
            inner: Arc::new(parts),
            flushed: Arc::default(),
            salesforce_cap,
            schema_ready: Arc::default(),
            campaigns_ready: Arc::default(),
            owners: Arc::default(),
            segment: Arc::default(),
            echoes: Arc::default(),
        }
    }

    /// How many change notifications this process dropped as echoes (they
    /// reported what the links already hold), across clones of this App.
    pub fn echoes_recognised(&self) -> u64 {
        self.echoes.lock().count
    }

    /// The records whose notifications were dropped as echoes, after the
    /// first `seen` of this process (the latest [`ECHOES_KEPT`] are kept):
    /// what the sync decided not to do, for whoever checks its decisions.
    pub fn echoed_records_since(&self, seen: u64) -> Vec<(ObjectPair, u64)> {
        let log = self.echoes.lock();
        let kept_from = log.count - log.recent.len() as u64;
        log.recent.iter().skip(usize::try_from(seen.saturating_sub(kept_from)).unwrap_or(usize::MAX)).copied().collect()
    }

    pub(crate) fn note_echoes(&self, records: impl IntoIterator<Item = (ObjectPair, u64)>) {
        let mut log = self.echoes.lock();
        for record in records {
            log.count += 1;
            if log.recent.len() == ECHOES_KEPT {
                log.recent.pop_front();
            }
            log.recent.push_back(record);
        }
    }

    /// The same deployment (store, queues, CRM clients, clock, secrets)
    /// under changed sync settings, as after the settings file was edited:
    /// links and sync health carry over, and the caches that depend on the
    /// settings (segment members, owner directory) start empty. The API cap
    /// gate carries over with the new cap, its count kept.
    pub fn with_config(&self, config: SyncConfig) -> App {
        let parts = &self.inner;
        if let Some(cap) = &self.salesforce_cap {
            cap.set_cap(config.salesforce_api_cap_per_24h.get());
        }
        let parts = AppParts {
            config,
            store: parts.store.clone(),
            sync_queue: parts.sync_queue.clone(),
            import_queue: parts.import_queue.clone(),
            salesforce: parts.salesforce.clone(),
            hubspot: parts.hubspot.clone(),
            clock: parts.clock.clone(),
            secrets: parts.secrets.clone(),
            settings: parts.settings.clone(),
        };
        App { echoes: self.echoes.clone(), ..App::assemble(parts, self.salesforce_cap.clone()) }
    }

    /// The contact ids in the HubSpot list given as the inclusion segment
    /// (one call per 250 members), kept for [`SEGMENT_MEMBERS_TTL`].
    pub async fn segment_members(&self, list_id: &str) -> Result<Arc<HashSet<String>>, crate::AppError> {
        let now = self.clock().now();
        let mut cached = self.segment.lock().await;
        if let Some((at, id, members)) = cached.as_ref()
            && id == list_id
            && now.signed_duration_since(*at).to_std().is_ok_and(|age| age < SEGMENT_MEMBERS_TTL)
        {
            return Ok(members.clone());
        }
        let members: Arc<HashSet<String>> = Arc::new(self.hubspot().list_members(list_id).await?.into_iter().collect());
        tracing::debug!(members = members.len(), "SegmentMembersRead");
        *cached = Some((now, list_id.to_owned(), members.clone()));
        Ok(members)
    }

    /// Drops the cached segment members (after adding to the list).
    pub async fn forget_segment_members(&self) {
        *self.segment.lock().await = None;
    }

    /// HubSpot owners matched to Salesforce users (exact name and email),
    /// built from both CRMs' users (two calls) and kept for
    /// [`OWNER_DIRECTORY_TTL`]. A failed read is not kept: the next batch
    /// tries again.
    pub async fn owner_directory(&self) -> Result<Arc<OwnerDirectory>, crate::AppError> {
        let now = self.clock().now();
        let mut cached = self.owners.lock().await;
        if let Some((at, dir)) = cached.as_ref()
            && now.signed_duration_since(*at).to_std().is_ok_and(|age| age < OWNER_DIRECTORY_TTL)
        {
            return Ok(dir.clone());
        }
        let hubspot = self.hubspot().owners().await?;
        let rows =
            self.salesforce().query("SELECT Id, FirstName, LastName, Email FROM User WHERE IsActive = true").await?;
        let users: Vec<Person> = rows
            .into_iter()
            .filter_map(|r| {
                let text =
                    |k: &str| r.fields.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().trim().to_owned();
                let email = crm_sync_domain::Email::parse(&text("Email")).ok()?;
                let id = crm_sync_domain::SalesforceId::parse(&r.id).ok()?.as_str().to_owned();
                let name = format!("{} {}", text("FirstName"), text("LastName")).trim().to_owned();
                Some(Person { id, name, email })
            })
            .collect();
        let dir = Arc::new(match_owners(&hubspot, &users));
        tracing::info!(
            hubspot_owners = hubspot.len(),
            salesforce_users = users.len(),
            matched = dir.len(),
            "OwnerDirectoryBuilt"
        );
        *cached = Some((now, dir.clone()));
        Ok(dir)
    }

    /// Whether `pair` maps an owner field, and so needs the owner directory.
    pub fn maps_owner(&self, pair: ObjectPair) -> bool {
        self.config().mappings(pair).iter().any(|m| m.special == Some(SpecialField::Owner))
    }

    /// The owner directory when `pair` maps an owner field. `None` when it
    /// maps none, or when the directory cannot be read: then no owner is
    /// written and each owner field is reported as not matched, never
    /// guessed (the sync and imports alike).
    pub async fn owner_directory_for(&self, pair: ObjectPair) -> Option<Arc<OwnerDirectory>> {
        if !self.maps_owner(pair) {
            return None;
        }
        match self.owner_directory().await {
            Ok(dir) => Some(dir),
            Err(error) => {
                tracing::warn!(%error, "OwnerDirectoryUnavailable");
                None
            }
        }
    }

    /// Makes sure HubSpot has the `salesforce_id` unique property on
    /// companies and deals (when they sync); runs once per process.
    pub async fn ensure_hubspot_schema(&self) -> Result<(), crate::AppError> {
        self.schema_ready
            .get_or_try_init(|| async {
                for (on, object) in
                    [(self.config().objects.companies, "companies"), (self.config().objects.deals, "deals")]
                {
                    if on {
                        self.hubspot()
                            .ensure_unique_property(object, crate::usecases::sync::HUBSPOT_SALESFORCE_ID_PROPERTY)
                            .await?;
                    }
                }
                Ok::<(), crate::AppError>(())
            })
            .await
            .map(|_| ())
    }

    /// Makes sure HubSpot contacts have the "Salesforce Campaigns"
    /// property; runs once per process.
    pub async fn ensure_campaigns_property(&self) -> Result<(), crate::AppError> {
        self.campaigns_ready
            .get_or_try_init(|| async {
                self.hubspot()
                    .ensure_text_property("contacts", SALESFORCE_CAMPAIGNS_PROPERTY, "Salesforce Campaigns")
                    .await?;
                Ok::<(), crate::AppError>(())
            })
            .await
            .map(|_| ())
    }

    pub(crate) fn inner_flushed(&self) -> &crate::usage::Flushed {
        &self.flushed
    }

    /// The Salesforce client's cap gate, when the client is gated.
    pub(crate) fn salesforce_cap(&self) -> Option<&crate::cap::SalesforceCap> {
        self.salesforce_cap.as_deref()
    }

    pub fn config(&self) -> &SyncConfig {
        &self.inner.config
    }
    pub fn store(&self) -> &dyn StateStore {
        self.inner.store.as_ref()
    }
    pub fn sync_queue(&self) -> &dyn Queue {
        self.inner.sync_queue.as_ref()
    }
    pub fn import_queue(&self) -> &dyn Queue {
        self.inner.import_queue.as_ref()
    }
    pub fn salesforce(&self) -> &dyn SalesforceApi {
        self.inner.salesforce.as_ref()
    }
    pub fn hubspot(&self) -> &dyn HubspotApi {
        self.inner.hubspot.as_ref()
    }
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }
    pub fn secrets(&self) -> &WebhookSecrets {
        &self.inner.secrets
    }
    pub fn settings(&self) -> &AppSettings {
        &self.inner.settings
    }
}
