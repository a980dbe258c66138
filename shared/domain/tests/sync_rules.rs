//! SPEC section 3: the four sync rules per mapped field, blanking, newly
//! added mappings, conflicts and echoes, through the public decision.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{World, config_with_rule, t};
use crm_sync_domain::SyncConfig;
use crm_sync_domain::decision::Action;
use crm_sync_domain::model::System;
use crm_sync_domain::rules::FieldReason;
use serde_json::{Value, json};

const FIRST: &str = "firstname<->FirstName";

/// A Lead and a HubSpot contact, synced once, both holding "Ada".
fn synced(config: SyncConfig) -> World {
    let mut w = World::contact(config, &[("FirstName", json!("Ada"))], &[("firstname", "Ada")]);
    let first = w.sync();
    assert!(first.writes_nothing(), "{first:?}");
    w
}

fn reason(d: &crm_sync_domain::Decision, key: &str) -> FieldReason {
    d.fields.iter().find(|f| f.mapping == key).map(|f| f.reason).unwrap()
}

// --- Prefer Salesforce unless blank (the default) --------------------------

#[test]
fn prefer_salesforce_writes_hubspot_to_salesforce_only_when_the_salesforce_field_is_blank() {
    let mut w = World::contact(SyncConfig::default(), &[], &[("firstname", "Ada")]);
    let d = w.sync();
    assert_eq!(d.salesforce_writes.get("FirstName"), Some(&json!("Ada")));
    assert_eq!(reason(&d, FIRST), FieldReason::SalesforceBlankFilled);

    let mut w = synced(SyncConfig::default());
    w.edit_hs("firstname", "Augusta");
    let d = w.sync();
    assert!(d.salesforce_writes.is_empty(), "{d:?}");
    assert_eq!(w.sf_value("FirstName"), json!("Ada"));
}

#[test]
fn prefer_salesforce_always_writes_a_salesforce_value_to_hubspot() {
    let mut w = synced(SyncConfig::default());
    w.edit_sf("FirstName", json!("Augusta"));
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Augusta")));
    assert_eq!(reason(&d, FIRST), FieldReason::SalesforceValueWins);
    assert!(d.salesforce_writes.is_empty());
}

#[test]
fn prefer_salesforce_overrides_a_hubspot_edit_while_salesforce_has_a_value() {
    let mut w = synced(SyncConfig::default());
    w.edit_hs("firstname", "Augusta");
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Ada")));
    assert_eq!(w.hs_value("firstname"), json!("Ada"));
}

#[test]
fn prefer_salesforce_clears_hubspot_when_the_value_is_cleared_in_salesforce() {
    let mut w = synced(SyncConfig::default());
    w.edit_sf("FirstName", Value::Null);
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("")));
    assert_eq!(reason(&d, FIRST), FieldReason::ClearedInSalesforce);
    assert!(d.salesforce_writes.is_empty());
}

#[test]
fn prefer_salesforce_does_not_clear_salesforce_when_hubspot_is_cleared() {
    let mut w = synced(SyncConfig::default());
    w.edit_hs("firstname", "");
    let d = w.sync();
    assert!(d.salesforce_writes.is_empty(), "{d:?}");
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Ada")));
}

// --- Always use Salesforce -------------------------------------------------

#[test]
fn always_use_salesforce_never_writes_salesforce() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "always_use_salesforce"));
    w.edit_hs("firstname", "Augusta");
    let d = w.sync();
    assert!(d.salesforce_writes.is_empty(), "{d:?}");
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Ada")));

    // Not even into a blank Salesforce field.
    let mut w = World::contact(
        config_with_rule("firstname", "FirstName", "always_use_salesforce"),
        &[],
        &[("firstname", "Ada")],
    );
    assert!(w.sync().salesforce_writes.is_empty());
}

#[test]
fn always_use_salesforce_writes_every_salesforce_change_to_hubspot() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "always_use_salesforce"));
    w.edit_sf("FirstName", json!("Augusta"));
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Augusta")));
}

#[test]
fn always_use_salesforce_clears_hubspot_when_cleared_in_salesforce() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "always_use_salesforce"));
    w.edit_sf("FirstName", Value::Null);
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("")));
    assert_eq!(reason(&d, FIRST), FieldReason::ClearedInSalesforce);
}

// --- Two-way -----------------------------------------------------------------

#[test]
fn two_way_writes_a_hubspot_change_to_salesforce() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_hs("firstname", "Augusta");
    let d = w.sync();
    assert_eq!(d.salesforce_writes.get("FirstName"), Some(&json!("Augusta")));
    assert!(d.hubspot_writes.is_empty());
    assert_eq!(reason(&d, FIRST), FieldReason::HubSpotChangedLast);
}

#[test]
fn two_way_writes_a_salesforce_change_to_hubspot() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_sf("FirstName", json!("Augusta"));
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Augusta")));
    assert!(d.salesforce_writes.is_empty());
}

#[test]
fn two_way_conflicts_go_to_the_most_recent_change() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_sf("FirstName", json!("Salesforce"));
    w.edit_hs("firstname", "HubSpot");
    let d = w.sync();
    assert_eq!(d.salesforce_writes.get("FirstName"), Some(&json!("HubSpot")));

    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_hs("firstname", "HubSpot");
    w.edit_sf("FirstName", json!("Salesforce"));
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Salesforce")));
    assert_eq!(reason(&d, FIRST), FieldReason::SalesforceChangedLast);
}

#[test]
fn two_way_conflicts_at_the_same_instant_go_to_salesforce() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_sf("FirstName", json!("Salesforce"));
    w.edit_hs("firstname", "HubSpot");
    let same = t(500);
    w.sf.as_mut().unwrap().last_modified = same;
    w.hs.as_mut().unwrap().last_modified = same;
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Salesforce")));
    assert_eq!(reason(&d, FIRST), FieldReason::TieGoesToSalesforce);
}

#[test]
fn two_way_clears_the_other_side_when_cleared_on_either_side() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_hs("firstname", "");
    let d = w.sync();
    assert_eq!(d.salesforce_writes.get("FirstName"), Some(&Value::Null));

    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_sf("FirstName", Value::Null);
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("")));
}

// --- Don't sync ----------------------------------------------------------------

#[test]
fn dont_sync_never_writes_either_way_nor_blanks() {
    let mut w = World::contact(
        config_with_rule("firstname", "FirstName", "dont_sync"),
        &[("FirstName", json!("Ada"))],
        &[("firstname", "Augusta")],
    );
    let d = w.sync();
    assert!(!d.salesforce_writes.contains_key("FirstName") && !d.hubspot_writes.contains_key("firstname"));
    w.edit_sf("FirstName", Value::Null);
    w.edit_hs("firstname", "");
    let d = w.sync();
    assert!(d.writes_nothing(), "{d:?}");
    assert_eq!(reason(&d, FIRST), FieldReason::DontSync);
}

// --- Newly added mappings, resync and import --------------------------------------

const CUSTOM: &str = "mappings:\n  contact:\n    - name: Nickname\n      hubspot: nickname\n      hubspot_type: single_line_text\n      salesforce: Nickname__c\n      salesforce_type: string\n      rule: RULE\n";

fn with_new_mapping(rule: &str) -> World {
    // Synced without the mapping, then the mapping is added.
    let mut w = World::contact(
        SyncConfig::default(),
        &[("FirstName", json!("Ada")), ("Nickname__c", json!("Countess"))],
        &[("firstname", "Ada"), ("nickname", "Ada L.")],
    );
    assert!(w.sync().writes_nothing());
    w.config = SyncConfig::from_yaml_str(&CUSTOM.replace("RULE", rule)).unwrap();
    w
}

#[test]
fn a_newly_added_mapping_does_not_rewrite_existing_values_by_itself() {
    for rule in ["prefer_salesforce_unless_blank", "always_use_salesforce", "two_way"] {
        let mut w = with_new_mapping(rule);
        w.edit_sf("FirstName", json!("Augusta"));
        let d = w.sync();
        assert!(!d.hubspot_writes.contains_key("nickname"), "{rule}: {d:?}");
        assert!(!d.salesforce_writes.contains_key("Nickname__c"), "{rule}: {d:?}");
        assert_eq!(reason(&d, "nickname<->Nickname__c"), FieldReason::NewMappingKeepsExisting);
        // And it stays put on later syncs.
        assert!(w.sync().writes_nothing());
    }
}

#[test]
fn a_resync_or_import_applies_a_newly_added_mapping() {
    let mut w = with_new_mapping("prefer_salesforce_unless_blank");
    w.context.forced = true;
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("nickname"), Some(&json!("Countess")));
}

#[test]
fn after_a_new_mapping_was_recorded_later_changes_travel_by_its_rule() {
    let mut w = with_new_mapping("two_way");
    w.sync();
    w.edit_hs("nickname", "Lady Ada");
    let d = w.sync();
    assert_eq!(d.salesforce_writes.get("Nickname__c"), Some(&json!("Lady Ada")));
}

// --- Echo -------------------------------------------------------------------

#[test]
fn a_value_we_wrote_coming_back_causes_no_write() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_hs("firstname", "Augusta");
    let d = w.sync();
    assert_eq!(d.salesforce_writes.len(), 1);
    // The Salesforce webhook for our own write arrives: nothing to do.
    let echo = w.decide();
    assert!(echo.writes_nothing(), "{echo:?}");
    assert_eq!(reason(&echo, FIRST), FieldReason::InSync);
    assert_eq!(w.writes, (1, 0));
}

#[test]
fn values_that_differ_only_in_form_are_in_sync() {
    let yaml = "mappings:\n  contact:\n    - name: Score\n      hubspot: score\n      hubspot_type: number\n      salesforce: Score__c\n      salesforce_type: double\n    - name: Tags\n      hubspot: tags\n      hubspot_type: multiple_checkboxes\n      salesforce: Tags__c\n      salesforce_type: multipicklist\n    - name: Born\n      hubspot: born\n      hubspot_type: date_picker\n      salesforce: Born__c\n      salesforce_type: date\n";
    let mut w = World::contact(
        SyncConfig::from_yaml_str(yaml).unwrap(),
        &[("Score__c", json!(17.0)), ("Tags__c", json!("b;a")), ("Born__c", json!("1815-12-10"))],
        &[("score", "17"), ("tags", "a;b"), ("born", "1815-12-10")],
    );
    let d = w.sync();
    assert!(d.writes_nothing(), "{d:?}");
}

#[test]
fn salesforce_writes_are_typed_and_hubspot_writes_are_strings() {
    let yaml = "mappings:\n  contact:\n    - name: Score\n      hubspot: score\n      hubspot_type: number\n      salesforce: Score__c\n      salesforce_type: double\n      rule: two_way\n";
    let mut w = World::contact(SyncConfig::from_yaml_str(yaml).unwrap(), &[("Score__c", json!(1))], &[("score", "1")]);
    w.sync();
    w.edit_hs("score", "2.5");
    let d = w.sync();
    assert_eq!(d.salesforce_writes.get("Score__c"), Some(&json!(2.5)));
    w.edit_sf("Score__c", json!(3));
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("score"), Some(&json!("3")));
}

#[test]
fn every_written_field_reports_the_side_it_wrote() {
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_hs("firstname", "Augusta");
    let d = w.sync();
    let f = d.fields.iter().find(|f| f.mapping == FIRST).unwrap();
    assert_eq!(f.wrote, Some(System::Salesforce));
    assert_eq!(d.action, Action::Update);
}

// --- A sync stopped between its writes and its link ------------------------

/// A two-way field: a HubSpot edit is written to Salesforce, and the worker
/// stops before the link after the write is stored (its link was stored
/// ahead with what it writes, or not). A HubSpot user then changes the field
/// again, and a Salesforce user edits another field, so Salesforce is the
/// newer record.
fn stopped_after_its_write(ahead: bool) -> crm_sync_domain::Decision {
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_hs("firstname", "Augusta");
    let interrupted = w.decide();
    let mut left = w.link.clone().unwrap();
    if ahead {
        left.writing = interrupted.writing();
    }
    w.apply(&interrupted);
    assert_eq!(w.sf_value("FirstName"), json!("Augusta"), "the write landed");
    w.link = Some(left);
    w.edit_hs("firstname", "Grace");
    w.edit_sf("LastName", json!("Hopper"));
    w.sync()
}

#[test]
fn a_user_change_after_an_interrupted_write_is_not_beaten_by_the_syncs_own_value() {
    let d = stopped_after_its_write(true);
    assert_eq!(d.salesforce_writes.get("FirstName"), Some(&json!("Grace")), "{d:?}");
    assert!(!d.hubspot_writes.contains_key("firstname"), "{d:?}");
    // Without the link stored ahead, the sync's own Augusta reads as a
    // Salesforce change on the newer record and overwrites the user's edit.
    let lost = stopped_after_its_write(false);
    assert_eq!(lost.hubspot_writes.get("firstname"), Some(&json!("Augusta")), "{lost:?}");
}

#[test]
fn a_value_the_interrupted_sync_was_writing_is_not_a_change_of_its_source_side() {
    // Salesforce changed and the sync was writing it to HubSpot: Salesforce
    // holding that value is still the change that must reach HubSpot.
    let mut w = synced(config_with_rule("firstname", "FirstName", "two_way"));
    w.edit_sf("FirstName", json!("Augusta"));
    let interrupted = w.decide();
    let mut left = w.link.clone().unwrap();
    left.writing = interrupted.writing();
    w.link = Some(left);
    // The HubSpot write never landed.
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Augusta")), "{d:?}");
}
