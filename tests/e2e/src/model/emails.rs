//! Running and checking shared emails and HubSpot merges: which actions a
//! sequence leaves out, how the oracle learns the world's Salesforce ids
//! (and the world which record a person syncs with), the live syncs of a
//! step, and the invariants of the records that are not picked.

use super::actions::Action;
use super::oracle::{Field, Mode, Oracle, Sys};
use super::world::{EchoClaim, Named, World, norm};
use std::collections::BTreeSet;

/// Actions a sequence leaves out: anything touching a person frozen by an
/// inherited link of another email (the oracle keeps one group per email),
/// a duplicate of a person whose contact's merge is not decided yet, a
/// conversion and a Salesforce merge of the same records both undecided, a
/// HubSpot merge whose survivor would inherit a link while records of its
/// own email (or the loser's other records) would then compete for it, and
/// a conversion or Salesforce merge while a person's HubSpot merge is not
/// decided yet, and a HubSpot merge while a conversion's or a Salesforce
/// merge's link has not moved or gone.
pub fn skipped(oracle: &Oracle, action: &Action) -> bool {
    let frozen = |p: usize| oracle.groups[p].frozen;
    match action {
        Action::CreateDuplicate { person, .. } => frozen(*person) || oracle.groups[*person].hs_merge_pending,
        Action::EditDuplicate { person, .. } | Action::DeleteDuplicate { person, .. } => frozen(*person),
        Action::Delete { person, .. } => frozen(*person),
        // A conversion while the person's contact merge, or a Salesforce
        // merge into or of the Lead, is not decided yet is not modelled.
        Action::ConvertLead { person } => {
            frozen(*person)
                || oracle.groups[*person].hs_merge_pending
                || oracle.groups[*person].merged_into.is_some()
                || oracle.groups.iter().any(|g| g.merged_into == Some(*person))
        }
        Action::MergeSalesforce { survivor, loser } => {
            frozen(*survivor)
                || frozen(*loser)
                || oracle.groups[*survivor].converted
                || oracle.groups[*loser].converted
                || oracle.groups[*survivor].hs_merge_pending
                || oracle.groups[*loser].hs_merge_pending
        }
        Action::MergeHubSpot { survivor, loser } => {
            let (s, l) = (&oracle.groups[*survivor], &oracle.groups[*loser]);
            let inherits = s.link.is_none() && l.link.is_some();
            frozen(*survivor)
                || frozen(*loser)
                || s.hs_merge_pending
                // A HubSpot merge while a conversion's link, or the link of
                // a Salesforce record merged away, has not moved or gone
                // yet: two moves at once are not modelled.
                || s.converted
                || l.converted
                || s.merged_into.is_some()
                || l.merged_into.is_some()
                || (inherits && (s.salesforce.is_some() || !s.others.is_empty() || !l.others.is_empty()))
        }
        _ => false,
    }
}

/// Tells the oracle which Salesforce record each person's main one is now
/// (the world learns records the sync or a conversion made), and how the
/// pick rule ranks it.
pub fn refresh(oracle: &mut Oracle, world: &mut World) {
    for person in 0..oracle.groups.len() {
        let main = world.main_rank(person);
        let group = &mut oracle.groups[person];
        group.sf_id = main.as_ref().map(|(id, _)| id.clone());
        group.sf_rank = main.map(|(_, rank)| rank);
    }
}

/// The world follows the oracle's choice of each person's main record, and
/// forgets what the step named.
pub fn mirror(oracle: &Oracle, world: &mut World) {
    for (person, group) in oracle.groups.iter().enumerate() {
        if let Some(id) = &group.sf_id {
            world.set_main(person, id);
        }
    }
    world.named_salesforce.clear();
    world.merges.clear();
}

/// Tells the oracle what a shared-email or HubSpot-merge action did.
pub fn applied(oracle: &mut Oracle, world: &mut World, action: &Action) {
    let touched = world.touched.take();
    match action {
        Action::CreateDuplicate { person, values, .. } => {
            let Some(id) = touched else { return };
            let Some(rank) = world.rank_of(&id) else { return };
            oracle.created_duplicate(*person, id, rank, &values.iter().cloned().collect());
        }
        Action::EditDuplicate { person, field, value, .. } => {
            if let Some(id) = touched {
                oracle.edited_duplicate(*person, &id, *field, value.clone());
            }
        }
        Action::DeleteDuplicate { person, .. } => {
            if let Some(id) = touched {
                oracle.deleted_duplicate(*person, &id);
            }
        }
        Action::MergeHubSpot { survivor, loser } => oracle.merged_hubspot(*survivor, *loser),
        _ => {}
    }
}

/// Tells the oracle of the live syncs of one step: first the HubSpot merges
/// whose webhook came (the sync moves links before anything else), then
/// each person synced, with the Salesforce records named.
/// The deliveries the sync dropped as echoes that the oracle's link memory
/// does not bear out: each must be of a linked person and report, for every
/// modelled field, the value the link remembers for HubSpot (a delivery
/// reporting anything else was a change, and dropping it would lose it).
/// Checked against the memory before the step and, for what fails there,
/// after it (a drain sends the echoes of its own rounds).
pub fn unborne_echoes(oracle: &Oracle, claims: Vec<EchoClaim>) -> Vec<EchoClaim> {
    claims.into_iter().filter(|claim| !echo_borne_out(oracle, claim)).collect()
}

fn echo_borne_out(oracle: &Oracle, claim: &EchoClaim) -> bool {
    if !claim.current {
        return true;
    }
    let Some(link) = &oracle.groups[claim.person].link else { return false };
    claim.reported.iter().all(|(field, value)| {
        link.get(field).cloned().flatten().is_some_and(|(_, hubspot)| hubspot.as_ref() == value.as_ref())
    })
}

/// The claims still not borne out, as failure lines.
pub fn echo_problems(oracle: &Oracle, claims: Vec<EchoClaim>) -> Vec<String> {
    unborne_echoes(oracle, claims)
        .into_iter()
        .map(|claim| {
            let link = oracle.groups[claim.person].link.as_ref();
            format!(
                "person{}: a delivery reporting {:?} was dropped as an echo; the link remembers {:?}",
                claim.person,
                claim.reported,
                link.map(|l| claim.reported.iter().map(|(f, _)| (f, l.get(f).cloned().flatten())).collect::<Vec<_>>())
            )
        })
        .collect()
}

pub fn live(oracle: &mut Oracle, world: &mut World, mut synced: Named) {
    for (survivor, loser) in std::mem::take(&mut world.merges) {
        oracle.hubspot_merge_delivered(survivor, loser);
    }
    // A record named by its id belongs to the person holding it now.
    let ids: Vec<String> = world.named_salesforce.iter().cloned().collect();
    for id in ids {
        if let Some(person) = world.person_of_salesforce(&id) {
            synced.entry(person).or_default().insert(Sys::Salesforce);
        }
    }
    for (person, mut sides) in synced {
        let mut ids = world.named_ids_of(person);
        if std::mem::take(&mut oracle.groups[person].done_this_step) {
            // The records of the dropped link are done; another of the
            // person's records may still enter.
            sides.remove(&Sys::HubSpot);
            if let Some(id) = &oracle.groups[person].sf_id {
                ids.remove(id);
            }
            if ids.is_empty() {
                continue;
            }
        }
        oracle.enter(person, Mode::Live, &sides.into_iter().collect::<Vec<_>>(), &ids);
    }
    for group in &mut oracle.groups {
        group.done_this_step = false;
    }
}

/// The records the rule did not pick: never written (they hold what users
/// set), never linked (but a link left to a deleted HubSpot contact), and
/// reported under `duplicates` (but one whose left link was just dropped);
/// and the link a HubSpot merge dropped is reported.
pub async fn accounted(world: &World, oracle: &Oracle) -> Result<Vec<String>, String> {
    use crm_sync_store::ObjectPair;
    let store = world.h.app.store();
    let errors = store.list_errors(&crm_sync_store::ErrorFilter::default()).await.map_err(|e| e.to_string())?;
    let duplicate =
        |id: &str| errors.iter().any(|e| e.category == "duplicates" && e.salesforce_id.as_deref() == Some(id));
    let mut problems = Vec::new();
    for (person, group) in oracle.groups.iter().enumerate() {
        let objects = world.other_ids(person);
        let world_ids: BTreeSet<&String> = objects.iter().map(|(_, id)| id).collect();
        let oracle_ids: BTreeSet<&String> = group.others.iter().map(|o| &o.id).collect();
        if world_ids != oracle_ids {
            problems
                .push(format!("person{person}: the other records are {world_ids:?}, the oracle has {oracle_ids:?}"));
            continue;
        }
        for other in &group.others {
            let Some((object, _)) = objects.iter().find(|(_, id)| *id == other.id) else { continue };
            let id = &other.id;
            match world.read_salesforce(*object, id) {
                None => problems.push(format!("person{person}: other record {id} is missing")),
                Some(actual) => {
                    for field in Field::ALL {
                        let (got, want) = (actual.get(&field).cloned().flatten(), other.side.get(field));
                        if got != want {
                            problems.push(format!(
                                "person{person}: other record {id} {field:?} is {got:?}, users set {want:?}"
                            ));
                        }
                    }
                }
            }
            let link = store.get_link_by_salesforce(ObjectPair::Contact, id).await.map_err(|e| e.to_string())?;
            if link.is_some() && !other.stale_link {
                problems.push(format!("person{person}: other record {id} is linked"));
            }
            if !other.orphaned && !duplicate(id) {
                problems.push(format!("person{person}: other record {id} has no duplicates entry"));
            }
        }
        if group.hs_merge_dropped && group.orphaned {
            let reported = |id: &str| {
                errors.iter().any(|e| e.hubspot_id.as_deref() == Some(id) || e.salesforce_id.as_deref() == Some(id))
            };
            let hubspot: Vec<String> = world.gone_hubspot(person).iter().map(u64::to_string).collect();
            let salesforce = world.salesforce_id(person).map(|(_, id)| norm(id));
            if !hubspot.iter().map(String::as_str).chain(salesforce.as_deref()).any(reported) {
                problems.push(format!("person{person}: the link a HubSpot merge dropped is not in sync health"));
            }
        }
    }
    Ok(problems)
}
