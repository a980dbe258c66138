//! The scenarios and what must hold after each, once everything settled.
//!
//! Live changes: two to four people, each starting as a Salesforce Contact,
//! a HubSpot contact, or both (matched by email). Users then change Title
//! in HubSpot (two-way) and Phone in Salesforce (prefer Salesforce), in up
//! to three rounds; each field has one writing side, so that what both
//! sides must end with is the last value its user set, whatever order the
//! deliveries and retries came in.
//!
//! Import: 5 to 25 Salesforce Contacts with no HubSpot contact, imported in
//! chunks of 4 records.
//!
//! After the faults stop: outages end, every held delivery and its echoes
//! are delivered, a sweep runs, and the queues are worked until idle. Then:
//! - each person has exactly one record on each side, linked together,
//!   holding the expected values (every change arrived, once in effect);
//! - no field was changed by the sync more often than the users' changes
//!   needed (a repeated write after a crash leaves the value as it was);
//! - an import completed with every record linked once;
//! - every dead-lettered message's record is in sync health;
//! - the Salesforce calls within any 24 hours of simulated time stayed
//!   within the configured cap.

use crate::world::{FaultWorld, next_ms};
use anyhow::{Context, bail, ensure};
use crm_sync_app::{AppSettings, ImportObjects, ImportRequest};
use crm_sync_domain::SyncConfig;
use crm_sync_store::{ErrorFilter, ObjectPair};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::BTreeMap;

/// The Salesforce API calls the sync may make per 24 hours in every
/// scenario: low enough that a scenario with long outages reaches it.
pub const CAP: u64 = 150;

fn config() -> anyhow::Result<SyncConfig> {
    Ok(SyncConfig::from_yaml_str(&format!(
        "version: 1
salesforce_api_cap_per_24h: {CAP}
mappings:
  contact:
    - hubspot: jobtitle
      salesforce: Title
      rule: two_way
"
    ))?)
}

/// Imports and resyncs keep back a share of the cap for live changes. The
/// sandboxes stamp records with wall time while the scenario's clock runs
/// hours ahead: the sweep's window reaches back over all of it.
fn settings() -> AppSettings {
    AppSettings {
        live_reserve: 30,
        sweep_overlap: std::time::Duration::from_secs(7 * 24 * 3600),
        ..AppSettings::default()
    }
}

fn email(person: usize) -> String {
    format!("fault{person}@example.com")
}

/// Where a person starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Salesforce,
    HubSpot,
    Both,
}

#[derive(Debug, Default)]
struct Person {
    salesforce: Option<String>,
    hubspot: Option<u64>,
    title: String,
    phone: Option<String>,
    title_edits: usize,
    phone_edits: usize,
}

/// What one scenario did, for the suite's summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    pub kills: usize,
    /// Of the kills, those at a store write (the others at a CRM call).
    pub store_kills: u64,
    /// Of the kills, those at a queue operation.
    pub queue_kills: u64,
    pub outages: usize,
    pub store_failures: u64,
    pub busiest_day: u64,
    /// The most worker steps one phase of work took.
    pub longest_work: usize,
}

fn report(w: &FaultWorld) -> Report {
    Report {
        kills: w.log.iter().filter(|l| l.contains("the worker died")).count(),
        outages: w.log.iter().filter(|l| l.starts_with("outage of") && l.contains("answered")).count(),
        store_kills: w.store.deaths(),
        queue_kills: *w.queue_deaths.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        store_failures: w.store.failures(),
        busiest_day: w.busiest_day(),
        longest_work: w.longest_work,
    }
}

/// Runs the live-changes scenario of `seed`; on failure the error carries
/// what happened.
pub async fn live_changes(seed: u64) -> anyhow::Result<Report> {
    scenario(seed, run_live).await
}

/// Runs one scenario in a new world; the error carries what happened.
async fn scenario<F>(seed: u64, run: F) -> anyhow::Result<Report>
where
    F: for<'w> AsyncFnOnce(&'w mut FaultWorld, u64) -> anyhow::Result<()>,
{
    // Message ids seed their retries' jitter: named after the seed, a seed
    // replays the same delays; FAULT_IDS=S names them after S instead, for
    // another interleaving of the same faults.
    let ids = std::env::var("FAULT_IDS").unwrap_or_else(|_| format!("s{seed}"));
    let mut w = FaultWorld::start(config()?, settings(), &ids).await?;
    let outcome = match run(&mut w, seed).await {
        Ok(()) => Ok(report(&w)),
        Err(e) => Err(e.context(format!("what happened:\n  {}", w.log.join("\n  ")))),
    };
    w.stop().await;
    outcome
}

async fn run_live(w: &mut FaultWorld, seed: u64) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(2..=4);
    let mut people: BTreeMap<usize, Person> = BTreeMap::new();
    for p in 0..n {
        let start = match rng.random_range(0..3) {
            0 => Start::Salesforce,
            1 => Start::HubSpot,
            _ => Start::Both,
        };
        let mut person = Person { title: format!("T{p}-0"), ..Person::default() };
        next_ms().await;
        if start != Start::HubSpot {
            let phone = format!("+1 555 01{p}0");
            let fields = json!({"Email": email(p), "LastName": format!("Fault{p}"), "FirstName": format!("First{p}"),
                "Title": person.title, "Phone": phone});
            let id = w.sandbox.salesforce().create_as_user("Contact", fields).map_err(|e| anyhow::anyhow!("{e}"))?;
            person.salesforce = Some(id);
            person.phone = Some(phone);
        }
        if start != Start::Salesforce {
            let mut properties = serde_json::Map::new();
            properties.insert("email".into(), json!(email(p)));
            properties.insert("lastname".into(), json!(format!("Fault{p}")));
            if start == Start::HubSpot {
                properties.insert("firstname".into(), json!(format!("First{p}")));
                properties.insert("jobtitle".into(), json!(person.title));
            }
            let edit = crm_sandbox::hubspot::UserEdit::Create {
                object: crm_sandbox::hubspot::ObjectType::Contacts,
                properties,
            };
            person.hubspot = Some(w.sandbox.hubspot().user_edit(edit).map_err(|e| anyhow::anyhow!("{e:?}"))?);
        }
        w.log.push(format!("person {p} starts in {start:?}"));
        people.insert(p, person);
    }
    w.deliver(&mut rng).await?;
    w.settle(&mut rng, true).await?;
    let rounds = rng.random_range(1..=3);
    for round in 1..=rounds {
        learn_ids(w, &mut people).await?;
        for (p, person) in people.iter_mut() {
            next_ms().await;
            if let Some(id) = person.hubspot.filter(|_| rng.random_bool(0.6)) {
                person.title = format!("T{p}-{round}");
                person.title_edits += 1;
                w.hubspot_edit(id, "jobtitle", &person.title)?;
                w.log.push(format!("round {round}: a HubSpot user sets person {p}'s title to {}", person.title));
            }
            next_ms().await;
            if let Some(id) = person.salesforce.clone().filter(|_| rng.random_bool(0.6)) {
                let phone = format!("+1 555 0{p}{round}9");
                let object = salesforce_object(w, &id).await?;
                w.sandbox
                    .salesforce()
                    .update_as_user(&object, &id, json!({"Phone": phone}))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                person.phone = Some(phone);
                person.phone_edits += 1;
                w.log.push(format!("round {round}: a Salesforce user sets person {p}'s phone"));
            }
        }
        w.deliver(&mut rng).await?;
        w.settle(&mut rng, true).await?;
    }
    // The faults stop: outages run out, then everything settles.
    w.later(std::time::Duration::from_secs(3 * 3600));
    w.settle(&mut rng, false).await?;
    w.sweep().await?;
    w.settle(&mut rng, false).await?;
    learn_ids(w, &mut people).await?;
    check_people(w, &people).await?;
    check_dead_letters(w).await?;
    check_cap(w)
}

/// The object of a Salesforce record by its id's prefix.
async fn salesforce_object(w: &FaultWorld, id: &str) -> anyhow::Result<String> {
    let id = crm_sync_domain::SalesforceId::parse(id)?;
    let object = id.object().with_context(|| format!("{} is not a Lead or Contact", id.as_str()))?;
    let _ = w;
    Ok(object.api_name().to_owned())
}

/// Fills in the ids of records the sync created, from the links.
async fn learn_ids(w: &FaultWorld, people: &mut BTreeMap<usize, Person>) -> anyhow::Result<()> {
    let store = w.app.store();
    for person in people.values_mut() {
        match (&person.salesforce, person.hubspot) {
            (Some(sf), None) => {
                if let Some(link) = store.get_link_by_salesforce(ObjectPair::Contact, sf).await? {
                    person.hubspot = Some(link.hubspot_id.parse()?);
                }
            }
            (None, Some(hs)) => {
                if let Some(link) = store.get_link_by_hubspot(ObjectPair::Contact, &hs.to_string()).await? {
                    person.salesforce = Some(link.salesforce_id);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn text(value: &serde_json::Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

async fn check_people(w: &FaultWorld, people: &BTreeMap<usize, Person>) -> anyhow::Result<()> {
    let hs_contacts = w.sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts);
    let sf_records = w.sandbox.salesforce().live_count("Contact") + w.sandbox.salesforce().live_count("Lead");
    ensure!(hs_contacts == people.len(), "{hs_contacts} HubSpot contacts for {} people", people.len());
    ensure!(sf_records == people.len(), "{sf_records} Salesforce leads and contacts for {} people", people.len());
    for (p, person) in people {
        let (Some(sf), Some(hs)) = (&person.salesforce, person.hubspot) else {
            bail!("person {p} is not linked: {person:?}");
        };
        let link = w.app.store().get_link_by_salesforce(ObjectPair::Contact, sf).await?;
        let linked_to = link.map(|l| l.hubspot_id);
        ensure!(linked_to == Some(hs.to_string()), "person {p}: {sf} is linked to {linked_to:?}, not {hs}");
        let object = salesforce_object(w, sf).await?;
        let record = w.sandbox.salesforce().record(&object, sf).with_context(|| format!("person {p}: no {sf}"))?;
        let props = w
            .sandbox
            .hubspot()
            .properties(crm_sandbox::hubspot::ObjectType::Contacts, hs)
            .with_context(|| format!("person {p}: no contact {hs}"))?;
        let hs_value = |name: &str| props.get(name).filter(|v| !v.is_empty()).cloned();
        let expected_first = Some(format!("First{p}"));
        for (what, salesforce, hubspot, expected) in [
            ("title", text(&record["Title"]), hs_value("jobtitle"), Some(person.title.clone())),
            ("phone", text(&record["Phone"]), hs_value("phone"), person.phone.clone()),
            ("first name", text(&record["FirstName"]), hs_value("firstname"), expected_first.clone()),
        ] {
            ensure!(
                salesforce == expected && hubspot == expected,
                "person {p}'s {what}: Salesforce {salesforce:?}, HubSpot {hubspot:?}, expected {expected:?}"
            );
        }
        // Once in effect: each field changed by the sync at most as often as
        // the users' changes needed (plus the first fill or a record the
        // sync created); Phone is never written to Salesforce.
        for (what, changes, needed) in [
            ("Salesforce's Title", w.salesforce_changes(sf, "Title"), person.title_edits + 1),
            ("Salesforce's Phone", w.salesforce_changes(sf, "Phone"), 0),
            ("HubSpot's phone", w.hubspot_changes(hs, "phone"), person.phone_edits + 1),
            ("HubSpot's title", w.hubspot_changes(hs, "jobtitle"), 1),
        ] {
            ensure!(
                changes <= needed,
                "person {p}: the sync changed {what} {changes} times; at most {needed} were needed"
            );
        }
    }
    Ok(())
}

/// Every dead-lettered message's record has a sync-health entry.
async fn check_dead_letters(w: &FaultWorld) -> anyhow::Result<()> {
    let dead = w.app.sync_queue().list_dead_letters(1000).await?;
    if dead.is_empty() {
        return Ok(());
    }
    let errors = w.app.store().list_errors(&ErrorFilter::default()).await?;
    for message in dead {
        for intent in crm_sync_app::messages::parse_intents(&message.body)? {
            let id = intent.record_id().as_str().to_owned();
            // The message's own entry (it names its records), or one of
            // the record's.
            let key = crm_sync_app::retry::dead_letter_key(&message.id);
            let reported = errors.iter().any(|e| {
                e.key == key || e.salesforce_id.as_deref() == Some(&id) || e.hubspot_id.as_deref() == Some(&id)
            });
            ensure!(
                reported,
                "the message for {} was dead-lettered after {} receives with no sync-health entry (entries: {:?})",
                intent.record_key(),
                message.receive_count,
                errors.iter().map(|e| (&e.key, &e.message)).collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

fn check_cap(w: &FaultWorld) -> anyhow::Result<()> {
    let busiest = w.busiest_day();
    ensure!(busiest <= CAP, "{busiest} Salesforce calls within 24 hours, over the cap of {CAP}");
    Ok(())
}

/// Runs the import scenario of `seed`.
pub async fn import(seed: u64) -> anyhow::Result<Report> {
    scenario(seed, run_import).await
}

async fn run_import(w: &mut FaultWorld, seed: u64) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(5..=25);
    let mut ids = Vec::new();
    for p in 0..n {
        let fields = json!({"Email": email(p), "LastName": format!("Fault{p}"), "Title": format!("T{p}-0")});
        ids.push(
            w.sandbox
                .salesforce()
                .create_as_user("Contact", fields)
                .map_err(|e| anyhow::anyhow!("create contact: {e:?}"))?,
        );
    }
    // The creations' outbound messages are not delivered: the import brings
    // the records.
    w.sandbox.salesforce().take_outbound_messages();
    let request = ImportRequest {
        objects: ImportObjects::LeadsAndContacts,
        filter: None,
        chunk_size: Some(4),
        add_to_segment: false,
    };
    let job = crm_sync_app::import_start(&w.app, &request).await.context("import start")?;
    w.log.push(format!("import of {n} contacts, {} chunks", job.chunks_total));
    w.work(&mut rng, true).await?;
    w.later(std::time::Duration::from_secs(3 * 3600));
    w.settle(&mut rng, false).await?;
    // Outages longer than a chunk's retries fail the job with the reason;
    // the operator resumes it.
    let (failed, _) = crm_sync_app::import_status(&w.app, &job.id).await?;
    if failed.status == crm_sync_store::JobStatus::Failed {
        ensure!(failed.error.is_some(), "the import failed with no reason");
        w.log.push(format!("the import failed ({:?}); import resume", failed.error));
        crm_sync_app::import_resume(&w.app, &job.id).await.context("import resume")?;
        w.settle(&mut rng, false).await?;
    }
    let (job, chunks) = crm_sync_app::import_status(&w.app, &job.id).await?;
    let chunk_states: Vec<String> =
        chunks.iter().map(|c| format!("#{} {:?} x{} {:?}", c.index, c.status, c.attempts, c.error)).collect();
    ensure!(
        job.status == crm_sync_store::JobStatus::Completed,
        "the import ended {:?} ({} of {} chunks done; {}; job error {:?})",
        job.status,
        job.chunks_done,
        job.chunks_total,
        chunk_states.join(", "),
        job.error
    );
    ensure!(job.counts.read == n as u64, "the job says it read {} of {n} records", job.counts.read);
    let contacts = w.sandbox.hubspot().live_count(crm_sandbox::hubspot::ObjectType::Contacts);
    ensure!(contacts == n, "{contacts} HubSpot contacts for {n} imported records");
    for id in &ids {
        let link = w.app.store().get_link_by_salesforce(ObjectPair::Contact, id).await?;
        ensure!(link.is_some(), "{id} was imported but is not linked");
    }
    // The 15-minute sweep runs, as it would once things settled: it reports
    // a dead letter whose worker stopped on its last attempt.
    w.sweep().await?;
    w.settle(&mut rng, false).await?;
    check_dead_letters(w).await?;
    let dead_chunks = w.app.import_queue().list_dead_letters(1000).await?;
    ensure!(
        dead_chunks.is_empty(),
        "{} chunk messages went to the dead letters: {:?}",
        dead_chunks.len(),
        dead_chunks.iter().map(|m| (&m.body, m.receive_count)).collect::<Vec<_>>()
    );
    check_cap(w)
}
