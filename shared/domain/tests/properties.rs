//! Property tests: (a) idempotence, (b) convergence of Two-way fields,
//! (c) no echo, (d) chunk plans cover every record exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::World;
use crm_sync_domain::SyncConfig;
use crm_sync_domain::chunks::{ChunkSize, MAX_CHUNK_SIZE, plan_chunks, plan_key_chunks};
use crm_sync_domain::config::SyncRule;
use crm_sync_domain::model::{ObjectPair, SfObject};
use crm_sync_domain::rules::normalise;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Custom contact mappings with every rule, on text and number fields.
const CONFIG: &str = "mappings:
  contact:
    - {hubspot: two_a, hubspot_type: single_line_text, salesforce: TwoA__c, salesforce_type: string, rule: two_way}
    - {hubspot: two_b, hubspot_type: number, salesforce: TwoB__c, salesforce_type: double, rule: two_way}
    - {hubspot: pref, hubspot_type: single_line_text, salesforce: Pref__c, salesforce_type: string}
    - {hubspot: always, hubspot_type: single_line_text, salesforce: Always__c, salesforce_type: string, rule: always_use_salesforce}
    - {hubspot: never, hubspot_type: single_line_text, salesforce: Never__c, salesforce_type: string, rule: dont_sync}
    - {hubspot: jobtitle, salesforce: Title, rule: two_way}
";

/// (HubSpot property, Salesforce field, is a number)
const FIELDS: [(&str, &str, bool); 8] = [
    ("two_a", "TwoA__c", false),
    ("two_b", "TwoB__c", true),
    ("pref", "Pref__c", false),
    ("always", "Always__c", false),
    ("never", "Never__c", false),
    ("jobtitle", "Title", false),
    ("firstname", "FirstName", false),
    ("hs_email_optout", "HasOptedOutOfEmail", false),
];

fn config() -> SyncConfig {
    SyncConfig::from_yaml_str(CONFIG).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    EditSf(usize, Option<u8>),
    EditHs(usize, Option<u8>),
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    let field = 0..FIELDS.len();
    let value = proptest::option::of(0u8..3);
    prop_oneof![
        (field.clone(), value.clone()).prop_map(|(f, v)| Op::EditSf(f, v)),
        (field, value).prop_map(|(f, v)| Op::EditHs(f, v)),
        Just(Op::Sync),
    ]
}

fn sf_value(field: usize, v: Option<u8>) -> Value {
    let (_, sf, number) = FIELDS[field];
    match v {
        None if sf == "HasOptedOutOfEmail" => json!(false),
        None => Value::Null,
        Some(n) if sf == "HasOptedOutOfEmail" => json!(n % 2 == 1),
        Some(n) if number => json!(f64::from(n) + 0.5),
        Some(n) => json!(format!("v{n}")),
    }
}

fn hs_value(field: usize, v: Option<u8>) -> String {
    let (_, sf, number) = FIELDS[field];
    match v {
        None => String::new(),
        Some(n) if sf == "HasOptedOutOfEmail" => (n % 2 == 1).to_string(),
        Some(n) if number => format!("{}", f64::from(n) + 0.5),
        Some(n) => format!("v{n}"),
    }
}

fn initial() -> impl Strategy<Value = (Vec<Option<u8>>, Vec<Option<u8>>, bool)> {
    (
        proptest::collection::vec(proptest::option::of(0u8..3), FIELDS.len()),
        proptest::collection::vec(proptest::option::of(0u8..3), FIELDS.len()),
        any::<bool>(),
    )
}

fn world(sf_vals: &[Option<u8>], hs_vals: &[Option<u8>], as_contact: bool) -> World {
    let mut w = World::contact(config(), &[], &[]);
    if as_contact {
        let sf = w.sf.as_mut().unwrap();
        sf.object = crm_sync_domain::model::RecordObject::Salesforce(SfObject::Contact);
    }
    for (i, v) in sf_vals.iter().enumerate() {
        w.sf.as_mut().unwrap().fields.insert(FIELDS[i].1.into(), sf_value(i, *v));
    }
    for (i, v) in hs_vals.iter().enumerate() {
        w.hs.as_mut().unwrap().fields.insert(FIELDS[i].0.into(), json!(hs_value(i, *v)));
    }
    w
}

fn run(w: &mut World, op: &Op) {
    match op {
        Op::EditSf(f, v) => w.edit_sf(FIELDS[*f].1, sf_value(*f, *v)),
        Op::EditHs(f, v) => w.edit_hs(FIELDS[*f].0, &hs_value(*f, *v)),
        Op::Sync => {
            w.sync();
        }
    }
}

/// Normalised values of one field on both sides.
fn both(w: &World, hubspot: &str) -> (Option<String>, Option<String>) {
    let m = w.config.mappings(ObjectPair::Contact).iter().find(|m| m.hubspot_property == hubspot).unwrap();
    (
        normalise(Some(&w.sf_value(&m.salesforce_field)), m.hubspot_type, m.salesforce_type),
        normalise(Some(&w.hs_value(hubspot)), m.hubspot_type, m.salesforce_type),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// (a) Applying a decision's writes and deciding again yields no writes.
    #[test]
    fn applying_a_decisions_writes_then_deciding_again_writes_nothing(
        (sf_vals, hs_vals, as_contact) in initial(),
        ops in proptest::collection::vec(op(), 0..12),
        forced in any::<bool>(),
    ) {
        let mut w = world(&sf_vals, &hs_vals, as_contact);
        for op in &ops {
            run(&mut w, op);
        }
        w.context.forced = forced;
        w.sync();
        let again = w.decide();
        prop_assert!(again.writes_nothing(), "second decision wrote: {:?}", again);
    }

    /// (b) For any interleaving of edits and syncs on both sides, once edits
    /// stop, repeated decisions converge to equal Two-way values.
    #[test]
    fn any_interleaving_of_edits_converges_to_equal_two_way_values(
        (sf_vals, hs_vals, as_contact) in initial(),
        ops in proptest::collection::vec(op(), 0..24),
    ) {
        let mut w = world(&sf_vals, &hs_vals, as_contact);
        for op in &ops {
            run(&mut w, op);
        }
        let mut rounds = 0;
        loop {
            let d = w.sync();
            rounds += 1;
            if d.writes_nothing() { break; }
            prop_assert!(rounds < 3, "no convergence after {} rounds: {:?}", rounds, d);
        }
        for m in w.config.mappings(ObjectPair::Contact).iter().filter(|m| m.rule == SyncRule::TwoWay && m.serves(w.sf_object)) {
            if m.special.is_some() { continue; }
            let (sf, hs) = both(&w, &m.hubspot_property);
            prop_assert_eq!(sf, hs, "{} differs", m.key());
        }
    }

    /// (c) No decision writes a value back to the side it came from: a field
    /// is written to one side at most, never with the value that side already
    /// holds, and the echo of our own write (deciding again before anyone
    /// edits) writes nothing back.
    #[test]
    fn no_decision_writes_a_value_back_to_the_side_it_came_from(
        (sf_vals, hs_vals, as_contact) in initial(),
        ops in proptest::collection::vec(op(), 1..24),
    ) {
        let mut w = world(&sf_vals, &hs_vals, as_contact);
        for op in &ops {
            if !matches!(op, Op::Sync) {
                run(&mut w, op);
                continue;
            }
            let d = w.decide();
            for m in w.config.mappings(ObjectPair::Contact) {
                let to_sf = d.salesforce_writes.get(&m.salesforce_field);
                let to_hs = d.hubspot_writes.get(&m.hubspot_property);
                prop_assert!(to_sf.is_none() || to_hs.is_none(), "{} written both ways", m.key());
                let (sf_now, hs_now) = both(&w, &m.hubspot_property);
                if let Some(v) = to_sf {
                    prop_assert_ne!(normalise(Some(v), m.hubspot_type, m.salesforce_type), sf_now, "{} rewrote Salesforce with its own value", m.key());
                }
                if let Some(v) = to_hs {
                    prop_assert_ne!(normalise(Some(v), m.hubspot_type, m.salesforce_type), hs_now, "{} rewrote HubSpot with its own value", m.key());
                }
            }
            w.apply(&d);
            let echo = w.decide();
            prop_assert!(echo.writes_nothing(), "echo wrote back: {:?}", echo);
        }
    }

    /// (d) Chunk plans cover every record exactly once, in order, with no
    /// empty chunk and none above the limit.
    #[test]
    fn chunk_plans_cover_every_record_exactly_once(
        total in prop_oneof![0u64..2_000, 0u64..1_500_000],
        size in prop_oneof![1u64..50, 1u64..=MAX_CHUNK_SIZE],
    ) {
        let size = ChunkSize::new(size).unwrap();
        let plan = plan_chunks(total, size);
        let mut next = 0;
        for chunk in &plan {
            prop_assert_eq!(chunk.start(), next);
            prop_assert!((1..=size.get()).contains(&chunk.len()));
            next = chunk.end();
        }
        prop_assert_eq!(next, total);
        prop_assert_eq!(plan.len() as u64, total.div_ceil(size.get()));
    }

    #[test]
    fn key_chunk_plans_cover_every_key_exactly_once(
        keys in proptest::collection::btree_set(any::<u32>(), 0..400),
        size in 1u64..60,
    ) {
        let keys: Vec<u32> = keys.into_iter().collect();
        let size = ChunkSize::new(size).unwrap();
        let plan = plan_key_chunks(&keys, size).unwrap();
        let mut seen = Vec::new();
        for chunk in &plan {
            let inside: Vec<u32> = keys.iter().copied().filter(|k| *k >= chunk.first && *k <= chunk.last).collect();
            prop_assert!(!inside.is_empty() && inside.len() as u64 <= size.get());
            prop_assert_eq!(inside.len() as u64, chunk.offsets.len());
            seen.extend(inside);
        }
        prop_assert_eq!(seen, keys);
    }
}
