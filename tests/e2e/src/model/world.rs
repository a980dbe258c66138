//! The world the model runs in: the sandbox's two CRMs and the App over the
//! embedded store, with every webhook delivery and outbound message held by
//! the sandbox and delivered by the sequence itself.

use super::actions::Action;
use super::oracle::{Field, OWNER_DEFAULT, OWNER_MATCHED, Sys, Val};
use crate::{Harness, HarnessOptions};
use anyhow::{Context, bail};
use crm_sandbox::hubspot::{ObjectType, UserEdit};
use crm_sandbox::salesforce::data::{Actor, Op};
use crm_sync_app::local::LocalOptions;
use crm_sync_app::{
    AppSettings, ImportObjects, ImportRequest, RecordRef, Segment, WebhookRequest, handle_hubspot_webhook,
    handle_salesforce_outbound,
};
use crm_sync_domain::{ObjectPair, SfObject, SyncConfig};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod records;

pub use records::norm;

/// The segment list's id (the first list the sandbox makes).
pub const SEGMENT_LIST: u64 = 1;

/// The settings of every sequence: the example's inclusion segment as a
/// HubSpot list and Title two-way, plus one mapping per remaining rule.
pub const CONFIG: &str = "version: 1
inclusion_segment:
  hubspot_list: \"1\"
mappings:
  contact:
    - hubspot: jobtitle
      salesforce: Title
      rule: two_way
    - hubspot: phone
      salesforce: Phone
      rule: always_use_salesforce
    - hubspot: fax
      salesforce: Fax
      rule: dont_sync
";

pub fn email(person: usize) -> String {
    format!("person{person}@example.com")
}

fn person_of(email: &str) -> Option<usize> {
    email.strip_prefix("person")?.strip_suffix("@example.com")?.parse().ok()
}

/// A held delivery, and the people whose records it names.
#[derive(Debug, Clone)]
enum Delivery {
    HubSpot { body: String, people: BTreeSet<usize> },
    Salesforce { body: String, people: BTreeSet<usize> },
}

impl Delivery {
    fn people(&self) -> &BTreeSet<usize> {
        match self {
            Delivery::HubSpot { people, .. } | Delivery::Salesforce { people, .. } => people,
        }
    }

    /// The side whose records the delivery names.
    fn sys(&self) -> Sys {
        match self {
            Delivery::HubSpot { .. } => Sys::HubSpot,
            Delivery::Salesforce { .. } => Sys::Salesforce,
        }
    }

    /// Files the people this delivery names under its side.
    fn name_into(&self, named: &mut Named) {
        for &person in self.people() {
            named.entry(person).or_default().insert(self.sys());
        }
    }
}

/// The people a step synced, each with the sides whose records triggered it.
pub type Named = BTreeMap<usize, BTreeSet<Sys>>;

/// The owners of the world: a HubSpot owner and a Salesforce user who match
/// exactly (same name and email), and one on each side who matches nobody.
#[derive(Debug, Clone)]
struct Owners {
    hubspot_matched: u64,
    hubspot_other: u64,
    salesforce_matched: String,
    salesforce_default: String,
}

impl Owners {
    /// The owner value a user of `sys` writes for a modelled owner.
    fn write(&self, sys: Sys, value: &Val) -> Value {
        match (sys, value.as_deref()) {
            (Sys::HubSpot, None) => json!(""),
            (Sys::HubSpot, Some(OWNER_MATCHED)) => json!(self.hubspot_matched.to_string()),
            (Sys::HubSpot, Some(_)) => json!(self.hubspot_other.to_string()),
            (Sys::Salesforce, Some(OWNER_MATCHED)) => json!(self.salesforce_matched),
            (Sys::Salesforce, _) => json!(self.salesforce_default),
        }
    }

    /// The modelled owner of a stored value.
    fn read(&self, sys: Sys, stored: Option<&str>) -> Val {
        let stored = stored.filter(|s| !s.is_empty())?;
        let matched = match sys {
            Sys::HubSpot => stored == self.hubspot_matched.to_string(),
            Sys::Salesforce => {
                crm_sync_domain::SalesforceId::parse(stored).is_ok_and(|id| id.as_str() == self.salesforce_matched)
            }
        };
        Some(
            if matched {
                OWNER_MATCHED
            } else if sys == Sys::HubSpot {
                "other"
            } else {
                OWNER_DEFAULT
            }
            .to_owned(),
        )
    }
}

/// A record's modelled fields.
pub type Values = BTreeMap<Field, Val>;

/// A write the sync made to one modelled field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Written {
    pub sys: Sys,
    pub person: usize,
    pub field: Field,
    pub cleared: bool,
}

pub struct World {
    pub h: Harness,
    hubspot: BTreeMap<usize, u64>,
    salesforce: BTreeMap<usize, (SfObject, String)>,
    /// Records users deleted, by id: their deliveries still name the person.
    gone_hubspot: BTreeMap<u64, usize>,
    gone_salesforce: BTreeMap<String, usize>,
    owners: Owners,
    pending: Vec<Delivery>,
    /// Every write the integration made to a modelled field, in order.
    pub written: Vec<Written>,
    sf_writes_seen: usize,
    /// The people's other Salesforce records (sharing their email).
    others: BTreeMap<usize, Vec<(SfObject, String)>>,
    /// The order in which Salesforce records were made, by id.
    born: BTreeMap<String, u64>,
    /// The Salesforce records a step named: delivered, swept or resynced.
    pub named_salesforce: BTreeSet<String>,
    /// HubSpot merges whose webhook a step delivered: (survivor, loser).
    pub merges: Vec<(usize, usize)>,
    /// The other record a step's user created, edited or deleted.
    pub touched: Option<String>,
    /// Echoes the sync reported so far (see [`App::echoed_records_since`]).
    echoes_seen: u64,
    /// HubSpot deliveries the sync dropped as echoes since the oracle last
    /// looked, per person, for the oracle to check.
    pub echo_claims: Vec<EchoClaim>,
    /// Per HubSpot delivery sent, the people it was dropped for as an echo:
    /// a copy sent again is a duplicate the sync drops by its event ids, so
    /// it triggers what the first copy did.
    echoed_by_body: BTreeMap<String, BTreeSet<usize>>,
}

/// What one delivery's events of a person came to: whether the sync dropped
/// every one as an echo, whether one was of the person's contact of now, and
/// the modelled values they reported.
struct Dropped {
    every: bool,
    current: bool,
    reported: Vec<(Field, Val)>,
}

/// A HubSpot delivery the sync dropped as an echo of what a person's link
/// holds: the values its events reported of the modelled fields. Dropped,
/// it triggers no sync, which the oracle accepts only when its own link
/// memory holds every one of those values for HubSpot.
#[derive(Debug, Clone)]
pub struct EchoClaim {
    pub person: usize,
    /// Whether an event was of the person's HubSpot contact of now (not
    /// one deleted since).
    pub current: bool,
    pub reported: Vec<(Field, Val)>,
}

/// Milliseconds of wall time; the sandboxes stamp records with it.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Waits for the next millisecond, so that no two changes on different
/// sides share a modification time (a tie is decided for Salesforce).
async fn next_ms() {
    let start = now_ms();
    while now_ms() <= start {
        tokio::task::yield_now().await;
    }
}

fn props(pairs: impl IntoIterator<Item = (String, Value)>) -> Map<String, Value> {
    pairs.into_iter().collect()
}

/// The id of the Salesforce user with this email (18 characters).
async fn salesforce_user(h: &Harness, email: &str) -> anyhow::Result<String> {
    let users = h.app.salesforce().query(&format!("SELECT Id FROM User WHERE Email = '{email}'")).await?;
    let id = users.first().with_context(|| format!("no Salesforce user {email}"))?;
    Ok(crm_sync_domain::SalesforceId::parse(&id.id)?.as_str().to_owned())
}

impl World {
    pub async fn start() -> anyhow::Result<World> {
        let mut options = HarnessOptions {
            config: SyncConfig::from_yaml_str(CONFIG)?,
            webhooks: false,
            // The sweep's window reaches back over the whole sequence. One
            // intent per message: a record retried (a takeover retries the
            // record it beat) then replays no other record's sync, which
            // the oracle could not tell from a second change.
            settings: AppSettings {
                sweep_overlap: Duration::from_secs(4 * 3600),
                intents_per_message: 1,
                ..AppSettings::default()
            },
            local: LocalOptions {
                batch_messages: 50,
                idle_timeout: Duration::from_secs(20),
                ..LocalOptions::default()
            },
            ..HarnessOptions::default()
        };
        options.sandbox.hubspot.webhook_hold = true;
        options.sandbox.salesforce.outbound_hold = true;
        let h = Harness::start(options).await?;
        // Salesforce's replication API lists whole minutes up to the window's
        // end: with the app's clock two minutes ahead of the sandboxes' wall
        // time, a sweep lists every change made so far.
        h.later(Duration::from_secs(120));
        h.sandbox.hubspot().create_list("Synced with Salesforce", &[]).map_err(api)?;
        let owners = Owners {
            hubspot_matched: h.sandbox.hubspot().add_owner("Sam", "Seller", "sam.seller@crm-sync.sandbox"),
            hubspot_other: h.sandbox.hubspot().add_owner("Sam", "Other", "sam.other@crm-sync.sandbox"),
            salesforce_matched: salesforce_user(&h, "sam.seller@crm-sync.sandbox").await?,
            salesforce_default: salesforce_user(&h, crm_sandbox::salesforce::DEFAULT_USERNAME).await?,
        };
        Ok(World {
            h,
            hubspot: BTreeMap::new(),
            salesforce: BTreeMap::new(),
            gone_hubspot: BTreeMap::new(),
            gone_salesforce: BTreeMap::new(),
            owners,
            pending: Vec::new(),
            written: Vec::new(),
            sf_writes_seen: 0,
            others: BTreeMap::new(),
            born: BTreeMap::new(),
            named_salesforce: BTreeSet::new(),
            merges: Vec::new(),
            touched: None,
            echoes_seen: 0,
            echo_claims: Vec::new(),
            echoed_by_body: BTreeMap::new(),
        })
    }

    pub fn hubspot_id(&self, person: usize) -> Option<u64> {
        self.hubspot.get(&person).copied()
    }

    /// The ids of the person's Salesforce records that are gone.
    pub fn gone_salesforce(&self, person: usize) -> Vec<&str> {
        self.gone_salesforce.iter().filter(|(_, p)| **p == person).map(|(id, _)| id.as_str()).collect()
    }

    pub fn salesforce_id(&self, person: usize) -> Option<&(SfObject, String)> {
        self.salesforce.get(&person)
    }

    /// Applies one action. Returns the people it synced (for a delivery,
    /// sweep or resync), or `None` when the action does not apply to this
    /// world (a shrunk sequence may edit a record it no longer creates).
    pub async fn apply(&mut self, action: &Action) -> anyhow::Result<Option<Named>> {
        let synced = match action {
            Action::CreateHubSpot { person, values, in_segment } => {
                if self.hubspot.contains_key(person) {
                    return Ok(None);
                }
                next_ms().await;
                let mut p = props([
                    ("email".to_owned(), json!(email(*person))),
                    ("lastname".to_owned(), json!(format!("Person{person}"))),
                ]);
                for (f, v) in values {
                    let v = if *f == Field::Owner {
                        self.owners.write(Sys::HubSpot, v)
                    } else {
                        json!(v.clone().unwrap_or_default())
                    };
                    p.insert(f.hubspot().to_owned(), v);
                }
                let id = self
                    .h
                    .sandbox
                    .hubspot()
                    .user_edit(UserEdit::Create { object: ObjectType::Contacts, properties: p })
                    .map_err(|e| anyhow::anyhow!("create contact: {e:?}"))?;
                if *in_segment {
                    self.h.sandbox.hubspot().set_list_membership(SEGMENT_LIST, id, true).map_err(api)?;
                }
                self.hubspot.insert(*person, id);
                next_ms().await;
                Named::new()
            }
            Action::CreateSalesforce { person, contact, values } => {
                if self.salesforce.contains_key(person) {
                    return Ok(None);
                }
                next_ms().await;
                let object = if *contact { SfObject::Contact } else { SfObject::Lead };
                let mut fields = json!({"Email": email(*person), "LastName": format!("Person{person}")});
                if !*contact {
                    fields["Company"] = json!("Acme");
                }
                for (f, v) in values {
                    fields[f.salesforce()] = if *f == Field::Owner {
                        self.owners.write(Sys::Salesforce, v)
                    } else {
                        v.clone().map_or(Value::Null, Value::String)
                    };
                }
                let id = self.h.sandbox.salesforce().create_as_user(object.api_name(), fields).map_err(sf)?;
                self.note_born(&id);
                self.salesforce.insert(*person, (object, id));
                next_ms().await;
                Named::new()
            }
            Action::Edit { sys, person, field, value } => {
                next_ms().await;
                let applied = self.edit(*sys, *person, *field, value)?;
                next_ms().await;
                if !applied {
                    return Ok(None);
                }
                Named::new()
            }
            Action::Segment { person, member } => {
                let Some(id) = self.hubspot_id(*person) else { return Ok(None) };
                self.h.sandbox.hubspot().set_list_membership(SEGMENT_LIST, id, *member).map_err(api)?;
                // The App reads the segment's members at most once a minute.
                self.h.later(crm_sync_app::app::SEGMENT_MEMBERS_TTL + Duration::from_secs(1));
                Named::new()
            }
            Action::Deliver { seed } => self.deliver(*seed).await?,
            Action::Sweep => {
                self.collect()?;
                self.h.runtime.sweep().await.context("sweep")?;
                self.work().await?;
                // A sweep syncs every record changed within its window:
                // here, every record of the sequence (and Salesforce's
                // deleted ones).
                let mut named = Named::new();
                for &person in self.hubspot.keys() {
                    named.entry(person).or_default().insert(Sys::HubSpot);
                }
                for &person in self.salesforce.keys().chain(self.gone_salesforce.values()) {
                    named.entry(person).or_default().insert(Sys::Salesforce);
                }
                self.name_every_salesforce_record(&mut named);
                named
            }
            Action::Resync { sys, person } => {
                let record = match sys {
                    Sys::HubSpot => {
                        let Some(id) = self.hubspot_id(*person) else { return Ok(None) };
                        RecordRef::Hubspot { object: ObjectPair::Contact, id: id.to_string() }
                    }
                    Sys::Salesforce => {
                        let Some((object, id)) = self.salesforce_id(*person).cloned() else { return Ok(None) };
                        self.named_salesforce.insert(norm(&id));
                        RecordRef::Salesforce { object, id }
                    }
                };
                crm_sync_app::resync_record(&self.h.app, &record).await.context("resync")?;
                self.work().await?;
                Named::from([(*person, BTreeSet::from([*sys]))])
            }
            Action::Delete { sys, person } => {
                next_ms().await;
                match sys {
                    Sys::HubSpot => {
                        let Some(id) = self.hubspot.remove(person) else { return Ok(None) };
                        self.gone_hubspot.insert(id, *person);
                        let edit = UserEdit::Delete { object: ObjectType::Contacts, id };
                        self.h.sandbox.hubspot().user_edit(edit).map_err(api)?;
                    }
                    Sys::Salesforce => {
                        let Some((object, id)) = self.salesforce.remove(person) else { return Ok(None) };
                        self.h.sandbox.salesforce().delete_as_user(object.api_name(), &id).map_err(sf)?;
                        self.gone_salesforce.insert(id, *person);
                    }
                }
                next_ms().await;
                Named::new()
            }
            Action::Import { add_to_segment } => {
                let request = ImportRequest {
                    objects: ImportObjects::LeadsAndContacts,
                    filter: None,
                    chunk_size: None,
                    add_to_segment: *add_to_segment,
                };
                crm_sync_app::import_start(&self.h.app, &request).await.context("import")?;
                self.work().await?;
                // Contacts added to the list: past the App's cache of it.
                self.h.later(crm_sync_app::app::SEGMENT_MEMBERS_TTL + Duration::from_secs(1));
                Named::new()
            }
            Action::ConvertLead { person } => {
                let Some((SfObject::Lead, lead)) = self.salesforce.get(person).cloned() else { return Ok(None) };
                next_ms().await;
                let (contact, _) = self.h.sandbox.salesforce().convert_lead_as_user(&lead).map_err(sf)?;
                let contact = crm_sync_domain::SalesforceId::parse(&contact)?.as_str().to_owned();
                self.gone_salesforce.insert(lead, *person);
                self.salesforce.insert(*person, (SfObject::Contact, contact));
                next_ms().await;
                Named::new()
            }
            Action::MergeSalesforce { survivor, loser } => {
                let (Some((object, kept)), Some((lost_object, lost))) =
                    (self.salesforce.get(survivor).cloned(), self.salesforce.get(loser).cloned())
                else {
                    return Ok(None);
                };
                if survivor == loser
                    || object != lost_object
                    || !self.linked(&kept).await?
                    || !self.linked(&lost).await?
                {
                    return Ok(None);
                }
                next_ms().await;
                self.h.sandbox.salesforce().merge_as_user(object.api_name(), &kept, &lost).map_err(sf)?;
                self.salesforce.remove(loser);
                self.gone_salesforce.insert(lost, *loser);
                next_ms().await;
                Named::new()
            }
            Action::CreateDuplicate { .. }
            | Action::EditDuplicate { .. }
            | Action::DeleteDuplicate { .. }
            | Action::MergeHubSpot { .. } => return self.apply_shared(action).await,
            Action::ResyncSegment => {
                let segment = Segment::Linked { pair: ObjectPair::Contact };
                crm_sync_app::resync_segment(&self.h.app, &segment).await.context("segment resync")?;
                self.work().await?;
                Named::new()
            }
        };
        Ok(Some(synced))
    }

    /// Whether the store holds a link of this Salesforce record (a Lead
    /// converted since its last sync still holds its Contact's link).
    async fn linked(&self, salesforce_id: &str) -> anyhow::Result<bool> {
        let store = self.h.app.store();
        Ok(store.get_link_by_salesforce(ObjectPair::Contact, salesforce_id).await?.is_some())
    }

    /// A user's edit of one field; false when the record does not exist.
    fn edit(&self, sys: Sys, person: usize, field: Field, value: &Val) -> anyhow::Result<bool> {
        match sys {
            Sys::HubSpot => {
                let Some(id) = self.hubspot_id(person) else { return Ok(false) };
                let edit = if field == Field::OptOut {
                    UserEdit::OptOut { contact: id, opted_out: value.is_some() }
                } else if field == Field::Owner {
                    let p = props([(field.hubspot().to_owned(), self.owners.write(sys, value))]);
                    UserEdit::Update { object: ObjectType::Contacts, id, properties: p }
                } else {
                    let p = props([(field.hubspot().to_owned(), json!(value.clone().unwrap_or_default()))]);
                    UserEdit::Update { object: ObjectType::Contacts, id, properties: p }
                };
                self.h.sandbox.hubspot().user_edit(edit).map_err(api)?;
            }
            Sys::Salesforce => {
                let Some((object, id)) = self.salesforce_id(person) else { return Ok(false) };
                let v = if field == Field::OptOut {
                    json!(value.is_some())
                } else if field == Field::Owner {
                    self.owners.write(sys, value)
                } else {
                    value.clone().map_or(Value::Null, Value::String)
                };
                self.h
                    .sandbox
                    .salesforce()
                    .update_as_user(object.api_name(), id, json!({ field.salesforce(): v }))
                    .map_err(sf)?;
            }
        }
        Ok(true)
    }

    /// Takes what the sandbox held since the last call into the pending
    /// deliveries, learns the ids of records the sync created, and logs the
    /// integration's writes to modelled fields.
    fn collect(&mut self) -> anyhow::Result<()> {
        let hubspot = self.h.sandbox.hubspot().clone();
        for batch in hubspot.take_webhook_batches() {
            let mut people = BTreeSet::new();
            let created: BTreeSet<(u64, i64)> = batch
                .iter()
                .filter(|e| e["subscriptionType"] == "contact.creation")
                .filter_map(|e| Some((e["objectId"].as_u64()?, e["occurredAt"].as_i64()?)))
                .collect();
            for event in &batch {
                let Some(id) = event["objectId"].as_u64() else { continue };
                if !event["subscriptionType"].as_str().is_some_and(|s| s.starts_with("contact.")) {
                    continue;
                }
                let known = self.hubspot.iter().find(|(_, v)| **v == id).map(|(p, _)| *p);
                let person = match known.or_else(|| self.gone_hubspot.get(&id).copied()) {
                    Some(p) => p,
                    None => {
                        let email = hubspot.properties(ObjectType::Contacts, id).and_then(|p| p.get("email").cloned());
                        let Some(person) = email.as_deref().and_then(person_of) else { continue };
                        self.hubspot.entry(person).or_insert(id);
                        person
                    }
                };
                people.insert(person);
                if event["changeSource"] != "INTEGRATION" || event["subscriptionType"] != "contact.propertyChange" {
                    continue;
                }
                let name = event["propertyName"].as_str().unwrap_or_default();
                let Some(field) = Field::ALL.into_iter().find(|f| f.hubspot() == name) else { continue };
                let value = event["propertyValue"].as_str().unwrap_or_default();
                let blank = value.is_empty() || (field == Field::OptOut && value == "false");
                let at_creation = event["occurredAt"].as_i64().is_some_and(|at| created.contains(&(id, at)));
                if blank && at_creation {
                    continue;
                }
                self.written.push(Written { sys: Sys::HubSpot, person, field, cleared: blank });
            }
            let body = serde_json::to_string(&batch)?;
            self.pending.push(Delivery::HubSpot { body, people });
        }
        let salesforce = self.h.sandbox.salesforce().clone();
        let writes = salesforce.writes();
        for w in &writes[self.sf_writes_seen.min(writes.len())..] {
            let Some(object) = SfObject::parse(w.object).filter(|o| matches!(o, SfObject::Lead | SfObject::Contact))
            else {
                continue;
            };
            let known = self.salesforce.iter().find(|(_, (_, id))| *id == w.id).map(|(p, _)| *p);
            let known = known.or_else(|| self.owner_of_other(&w.id));
            let person = match known.or_else(|| self.gone_salesforce.get(&w.id).copied()) {
                Some(p) => p,
                None if w.op == Op::Create => {
                    let email = salesforce.record(w.object, &w.id).and_then(|r| r["Email"].as_str().map(str::to_owned));
                    let Some(person) = email.as_deref().and_then(person_of) else { continue };
                    self.salesforce.entry(person).or_insert((object, w.id.clone()));
                    self.note_born(&w.id);
                    person
                }
                None => continue,
            };
            if w.actor != Actor::Integration {
                continue;
            }
            for name in &w.changed {
                let Some(field) = Field::ALL.into_iter().find(|f| f.salesforce() == name) else { continue };
                let cleared = w.cleared.contains(name);
                self.written.push(Written { sys: Sys::Salesforce, person, field, cleared });
            }
        }
        self.sf_writes_seen = writes.len();
        for body in salesforce.take_outbound_messages() {
            let people = body
                .split("<sf:Email>")
                .skip(1)
                .filter_map(|rest| rest.split('<').next())
                .filter_map(person_of)
                .collect();
            self.pending.push(Delivery::Salesforce { body, people });
        }
        Ok(())
    }

    /// Delivers every pending delivery 0, 1 or 2 times in a shuffled order,
    /// then works until idle; returns the people whose records a delivered
    /// message named.
    async fn deliver(&mut self, seed: u64) -> anyhow::Result<Named> {
        self.collect()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut plan = Vec::new();
        for delivery in std::mem::take(&mut self.pending) {
            let times = match rng.random_range(0..10) {
                0 | 1 => 0,
                9 => 2,
                _ => 1,
            };
            plan.extend(std::iter::repeat_n(delivery, times));
        }
        plan.shuffle(&mut rng);
        let mut synced = Named::new();
        for delivery in &plan {
            self.send_and_name(delivery, &mut synced).await?;
        }
        self.work().await?;
        Ok(synced)
    }

    /// Delivers everything pending once, until nothing more comes, working
    /// until idle after each round; returns the people synced.
    pub async fn drain(&mut self) -> anyhow::Result<Named> {
        let mut synced = Named::new();
        for _ in 0..20 {
            self.collect()?;
            if self.pending.is_empty() {
                return Ok(synced);
            }
            for delivery in std::mem::take(&mut self.pending) {
                self.send_and_name(&delivery, &mut synced).await?;
            }
            self.work().await?;
        }
        bail!("deliveries kept coming after 20 rounds: the sync echoes its own writes")
    }

    /// Sends a delivery and names the people whose records it triggers a
    /// sync of: not those whose every HubSpot event the sync dropped as an
    /// echo (kept as [`EchoClaim`]s instead).
    async fn send_and_name(&mut self, delivery: &Delivery, named: &mut Named) -> anyhow::Result<()> {
        self.send(delivery).await?;
        let echoed: BTreeSet<u64> = self
            .h
            .app
            .echoed_records_since(self.echoes_seen)
            .into_iter()
            .filter(|(pair, _)| *pair == crm_sync_domain::ObjectPair::Contact)
            .map(|(_, id)| id)
            .collect();
        self.echoes_seen = self.h.app.echoes_recognised();
        let Delivery::HubSpot { body, people } = delivery else {
            delivery.name_into(named);
            return Ok(());
        };
        if let Some(echoed) = self.echoed_by_body.get(body) {
            for &person in people.iter().filter(|p| !echoed.contains(p)) {
                named.entry(person).or_default().insert(Sys::HubSpot);
            }
            return Ok(());
        }
        let events: Vec<Value> = serde_json::from_str(body)?;
        // Per person: whether every event naming them was dropped, and the
        // modelled values those events reported.
        let mut per_person: BTreeMap<usize, Dropped> = BTreeMap::new();
        for event in &events {
            let Some(id) = event["objectId"].as_u64() else { continue };
            let known = self.hubspot.iter().find(|(_, v)| **v == id).map(|(p, _)| *p);
            let Some(person) = known.or_else(|| self.gone_hubspot.get(&id).copied()) else { continue };
            let entry =
                per_person.entry(person).or_insert(Dropped { every: true, current: false, reported: Vec::new() });
            entry.every &=
                echoed.contains(&id) && event["subscriptionType"].as_str().is_some_and(|s| s.starts_with("contact."));
            entry.current |= self.hubspot.get(&person) == Some(&id);
            // Only the person's contact of now has values the oracle
            // remembers; the events of one deleted since name a link the
            // oracle does not keep, and dropping them loses no change.
            if event["subscriptionType"] != "contact.propertyChange" || self.hubspot.get(&person) != Some(&id) {
                continue;
            }
            let name = event["propertyName"].as_str().unwrap_or_default();
            let Some(field) = Field::ALL.into_iter().find(|f| f.hubspot() == name) else { continue };
            let value = event["propertyValue"].as_str().filter(|v| !v.is_empty());
            let value = match field {
                Field::Owner => self.owners.read(Sys::HubSpot, value),
                Field::OptOut => value.filter(|v| *v == "true").map(str::to_owned),
                _ => value.map(str::to_owned),
            };
            entry.reported.push((field, value));
        }
        let mut dropped = BTreeSet::new();
        for &person in people {
            match per_person.remove(&person) {
                Some(Dropped { every: true, current, reported }) => {
                    dropped.insert(person);
                    self.echo_claims.push(EchoClaim { person, current, reported });
                }
                _ => {
                    named.entry(person).or_default().insert(Sys::HubSpot);
                }
            }
        }
        self.echoed_by_body.insert(body.clone(), dropped);
        Ok(())
    }

    async fn send(&mut self, delivery: &Delivery) -> anyhow::Result<()> {
        self.note_sent(delivery);
        let app = &self.h.app;
        match delivery {
            Delivery::HubSpot { body, .. } => {
                let uri = format!("{}/webhooks/hubspot", self.h.server.base_url());
                let secret = &self.h.sandbox.hubspot().options().client_secret;
                let timestamp = app.clock().now().timestamp_millis().to_string();
                let signature = crm_sandbox::hubspot::sign_v3(secret, "POST", &uri, body.as_bytes(), &timestamp);
                let mut request = WebhookRequest {
                    method: "POST".into(),
                    uri,
                    body: body.as_bytes().to_vec(),
                    ..WebhookRequest::default()
                };
                request.headers.insert("x-hubspot-signature-v3".into(), signature);
                request.headers.insert("x-hubspot-request-timestamp".into(), timestamp);
                request.headers.insert("content-type".into(), "application/json".into());
                let response = handle_hubspot_webhook(app, request).await;
                if response.status != 200 {
                    bail!("a HubSpot delivery was answered {}: {}", response.status, response.body);
                }
            }
            Delivery::Salesforce { body, .. } => {
                let uri = format!("{}/webhooks/salesforce", self.h.server.base_url());
                let mut request = WebhookRequest {
                    method: "POST".into(),
                    uri,
                    body: body.as_bytes().to_vec(),
                    ..WebhookRequest::default()
                };
                request.headers.insert("content-type".into(), "text/xml; charset=utf-8".into());
                let response = handle_salesforce_outbound(app, request).await;
                if response.status != 200 {
                    bail!("an outbound message was answered {}: {}", response.status, response.body);
                }
            }
        }
        Ok(())
    }

    /// Works the queues until idle; fails when a message is still waiting
    /// (retrying) after the runtime's idle wait.
    async fn work(&mut self) -> anyhow::Result<()> {
        self.h.runtime.run_until_idle().await.context("run_until_idle")?;
        let depth = self.h.app.sync_queue().depth().await?;
        if depth.visible + depth.in_flight > 0 {
            bail!("messages still retrying after the idle wait: {depth:?}");
        }
        self.collect()
    }

    /// What a person's records hold now, per side (`None`: no record).
    pub fn read(&self, person: usize) -> (Option<Values>, Option<Values>) {
        let hubspot =
            self.hubspot_id(person).and_then(|id| self.h.sandbox.hubspot().properties(ObjectType::Contacts, id));
        let hubspot = hubspot.map(|p| {
            Field::ALL
                .into_iter()
                .map(|f| {
                    let v = p.get(f.hubspot()).filter(|v| !v.is_empty()).cloned();
                    let v = match f {
                        Field::OptOut => v.filter(|v| v == "true"),
                        Field::Owner => self.owners.read(Sys::HubSpot, v.as_deref()),
                        _ => v,
                    };
                    (f, v)
                })
                .collect()
        });
        let salesforce = self.salesforce_id(person).and_then(|(object, id)| self.read_salesforce(*object, id));
        (hubspot, salesforce)
    }

    /// What one Salesforce record holds now (`None`: no such record).
    pub fn read_salesforce(&self, object: SfObject, id: &str) -> Option<Values> {
        let r = self.h.sandbox.salesforce().record(object.api_name(), id)?;
        let values = Field::ALL
            .into_iter()
            .map(|f| {
                let v = match &r[f.salesforce()] {
                    Value::String(s) if f == Field::Owner => self.owners.read(Sys::Salesforce, Some(s)),
                    Value::String(s) if !s.is_empty() => Some(s.clone()),
                    Value::Bool(true) => Some("true".to_owned()),
                    _ => None,
                };
                (f, v)
            })
            .collect();
        Some(values)
    }

    pub async fn stop(self) {
        self.h.stop().await;
    }
}

fn api(e: crm_sandbox::hubspot::ApiError) -> anyhow::Error {
    anyhow::anyhow!("HubSpot sandbox: {e:?}")
}

fn sf(e: crm_sandbox::salesforce::data::SfError) -> anyhow::Error {
    anyhow::anyhow!("Salesforce sandbox: {e}")
}
