//! Echoes recognised at the door, before anything is queued.
//!
//! Every record the sync writes to HubSpot comes back as webhook events (a
//! creation and a property change per property set, or a property change
//! per property updated). A sync triggered by them would read both records
//! (API calls on both sides) only to find nothing to write. Instead, the
//! webhook handler reads the links of the delivery's records (one store
//! call per object pair) and drops a record whose every event reports what
//! its link already holds ([`crm_sync_domain::echo`]): the creation of a
//! linked record, the properties HubSpot reports with that creation that
//! cannot matter or whose value the link knows, and property changes whose
//! value the link knows for HubSpot. Anything else (a deletion, a merge, an
//! association change, a value the link does not hold, a record with no
//! link) is queued as before. The check comes before the events are marked
//! seen, so an echo costs no store write either (a redelivered echo is an
//! echo again). Dropped records are counted
//! ([`crate::App::echoes_recognised`], redeliveries included) and logged as
//! a number.
//!
//! The events of a write can come before its link is stored (the store busy
//! for a moment, the link write still in flight). Such a record is queued
//! with what its events reported ([`SyncIntent::reported`]); the worker
//! checks it again against the link before any API call
//! ([`late_echoes`]), and settles it as an echo when the link holds it all.
//!
//! A user's edit that lands right after a sync write carries a value the
//! link does not hold, so it is queued; one that sets the value the link
//! holds needs no sync for that property.

use crate::App;
use crate::codec::StoredPrints;
use crate::webhook::hubspot_events::{EventAction, HubspotEvent};
use crm_sync_domain::config::SyncConfig;
use crm_sync_domain::echo::{HubspotEchoes, Reported};
use crm_sync_domain::intent::SyncIntent;
use crm_sync_domain::model::{ObjectPair, SfObject, System};
use crm_sync_store::Link;
use std::collections::{BTreeMap, HashMap, HashSet};
use tracing::warn;

/// What one event reported, for echo recognition; `None` for an event of
/// another kind (a deletion, a merge, an association change), never an
/// echo.
fn reported(event: &HubspotEvent<'_>, created_at: &HashSet<i64>) -> Option<Reported> {
    if event.action() != EventAction::Changed {
        return None;
    }
    match event.subscription_type.split_once('.').map(|(_, k)| k) {
        Some("creation") => Some(Reported::Creation),
        Some("propertyChange") => Some(Reported::Property {
            name: event.property_name.as_deref()?.to_owned(),
            value: event.property_value.as_deref().filter(|v| !v.is_empty()).map(str::to_owned),
            with_creation: event.occurred_at.is_some_and(|at| created_at.contains(&at)),
        }),
        _ => None,
    }
}

/// Per record (pair, HubSpot id) of a delivery's events: what they
/// reported, or `None` when one of them was of another kind.
pub(crate) fn reports(
    events: &[HubspotEvent<'_>],
    pair_of: impl Fn(&str) -> Option<ObjectPair>,
) -> BTreeMap<(ObjectPair, u64), Option<Vec<Reported>>> {
    let mut created: HashMap<(ObjectPair, u64), HashSet<i64>> = HashMap::new();
    for event in events {
        let Some(pair) = pair_of(event.object()) else { continue };
        if event.subscription_type.ends_with(".creation")
            && let (Some(id), Some(at)) = (event.object_id, event.occurred_at)
        {
            created.entry((pair, id)).or_default().insert(at);
        }
    }
    let none = HashSet::new();
    let mut out: BTreeMap<(ObjectPair, u64), Option<Vec<Reported>>> = BTreeMap::new();
    for event in events {
        let Some(pair) = pair_of(event.object()) else { continue };
        if let Some(id) = event.record_id() {
            let report = reported(event, created.get(&(pair, id)).unwrap_or(&none));
            let entry = out.entry((pair, id)).or_insert_with(|| Some(Vec::new()));
            match (entry.as_mut(), report) {
                (Some(list), Some(report)) => list.push(report),
                _ => *entry = None,
            }
        }
    }
    out
}

/// Whether what was reported of a HubSpot record is all held by its link,
/// with the echo index of the link's pair and object (made once per
/// delivery and kept in `indexes`).
fn is_echo<'c>(
    config: &'c SyncConfig,
    indexes: &mut HashMap<(ObjectPair, SfObject), HubspotEchoes<'c>>,
    pair: ObjectPair,
    link: &Link,
    reported: &[Reported],
) -> bool {
    let Some(object) = SfObject::parse(&link.salesforce_object) else { return false };
    let echoes = indexes.entry((pair, object)).or_insert_with(|| HubspotEchoes::new(config, pair, object));
    echoes.is_echo(&StoredPrints(&link.fingerprints), reported)
}

/// The records of `reports` whose every event is an echo of what their
/// link holds (one store call per object pair). When the links cannot be
/// read, none is: everything is queued.
pub(crate) async fn known_records(
    app: &App,
    reports: &BTreeMap<(ObjectPair, u64), Option<Vec<Reported>>>,
) -> HashSet<(ObjectPair, u64)> {
    let mut by_pair: BTreeMap<ObjectPair, Vec<String>> = BTreeMap::new();
    for ((pair, id), reported) in reports {
        if reported.as_ref().is_some_and(|r| !r.is_empty()) {
            by_pair.entry(*pair).or_default().push(id.to_string());
        }
    }
    let mut known = HashSet::new();
    let mut indexes = HashMap::new();
    for (pair, ids) in by_pair {
        let links = match app.store().get_links_by_hubspot_ids(pair, &ids).await {
            Ok(links) => links,
            Err(error) => {
                warn!(%error, "EchoLinksUnreadable");
                continue;
            }
        };
        for link in links {
            let Ok(id) = link.hubspot_id.parse::<u64>() else { continue };
            let Some(Some(reported)) = reports.get(&(pair, id)) else { continue };
            if is_echo(app.config(), &mut indexes, pair, &link, reported) {
                known.insert((pair, id));
            }
        }
    }
    known
}

/// The worker's second look: of a batch's HubSpot intents that carry what
/// their events reported (the webhook found no link for them, typically a
/// write of the sync whose link was stored after its events came), those
/// whose link now holds all of it are echoes. Returns their record keys
/// (one store call per object pair, no API call); they need no sync. A
/// record named by any intent without reports, or by a merge, is not one.
pub(crate) async fn late_echoes(app: &App, intents: &[&SyncIntent]) -> HashSet<String> {
    let mut reports: BTreeMap<(ObjectPair, u64), Option<Vec<Reported>>> = BTreeMap::new();
    let mut keys: HashMap<(ObjectPair, u64), String> = HashMap::new();
    for intent in intents.iter().filter(|i| i.system() == System::HubSpot) {
        let Ok(id) = intent.record_id().as_str().parse::<u64>() else { continue };
        let entry = reports.entry((intent.pair(), id)).or_insert_with(|| Some(Vec::new()));
        match entry {
            Some(list) if !intent.reported().is_empty() && intent.merged().is_empty() => {
                list.extend(intent.reported().iter().cloned())
            }
            _ => *entry = None,
        }
        keys.insert((intent.pair(), id), intent.record_key());
    }
    let known = known_records(app, &reports).await;
    app.note_echoes(known.iter().copied());
    known.iter().filter_map(|record| keys.get(record).cloned()).collect()
}
