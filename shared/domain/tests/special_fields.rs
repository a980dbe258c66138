//! SPEC sections 1, 2 (behaviour), 4 and 5: matching, settings as they act on
//! a decision, the special fields and when a company creates an account.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{World, hs, sf, t};
use crm_sync_domain::SyncConfig;
use crm_sync_domain::decision::{Action, SkipReason};
use crm_sync_domain::matching::{
    CompanyMatch, SalesforceCandidate, match_company, match_contacts_by_email, pick_salesforce_match,
};
use crm_sync_domain::model::{Email, HubSpotId, ObjectPair, SalesforceId, SfObject};
use crm_sync_domain::rules::FieldReason;
use crm_sync_domain::special::{
    AccountCreation, AssociatedContact, CompanyAssociation, Person, account_creates_company, campaigns_property_value,
    company_association, company_created_from_contact, company_creates_account, is_read_only_hubspot_property,
    lifecycle_stage_for_company, match_owners, salesforce_change_triggers_sync,
};
use serde_json::{Value, json};

fn companies_on() -> SyncConfig {
    SyncConfig::from_yaml_str("objects: {companies: true}\n").unwrap()
}

fn reason(d: &crm_sync_domain::Decision, key: &str) -> FieldReason {
    d.fields.iter().find(|f| f.mapping == key).map(|f| f.reason).unwrap()
}

// --- SPEC 1: matching ----------------------------------------------------------

fn candidate(id: &str, object: SfObject, created: i64, converted: bool) -> SalesforceCandidate {
    SalesforceCandidate {
        id: SalesforceId::parse(id).unwrap(),
        object,
        email: Email::parse("Ada@Example.com ").unwrap(),
        created: t(created),
        converted,
    }
}

#[test]
fn contacts_match_by_email_case_insensitively_and_trimmed() {
    let a = Email::parse("  ADA@example.COM").unwrap();
    let b = Email::parse("ada@example.com").unwrap();
    assert_eq!(a, b);
    let matches = match_contacts_by_email(&[candidate("00Q000000000001", SfObject::Lead, 0, false)]);
    assert!(matches.contains_key(&b));
}

#[test]
fn several_salesforce_records_with_one_email_resolve_to_one_by_the_documented_rule() {
    let lead_old = candidate("00Q000000000001", SfObject::Lead, 0, false);
    let contact_new = candidate("003000000000009", SfObject::Contact, 50, false);
    let contact_old = candidate("003000000000005", SfObject::Contact, 10, false);
    let converted = candidate("003000000000001", SfObject::Contact, 1, true);
    let all = vec![lead_old.clone(), contact_new.clone(), converted.clone(), contact_old.clone()];
    let m = pick_salesforce_match(&all).unwrap();
    assert_eq!(m.chosen, contact_old, "unconverted Contact, oldest first");
    assert_eq!(m.others.len(), 3, "the others are reported");

    // The pick does not depend on the reading order.
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(pick_salesforce_match(&reversed).unwrap().chosen, contact_old);

    // Same object and creation time: the smallest id.
    let twin = candidate("003000000000004", SfObject::Contact, 10, false);
    assert_eq!(pick_salesforce_match(&[contact_old, twin.clone()]).unwrap().chosen, twin);
}

#[test]
fn companies_match_by_link_then_by_associated_contacts() {
    let a = SalesforceId::parse("001000000000001").unwrap();
    let b = SalesforceId::parse("001000000000002").unwrap();
    assert_eq!(match_company(Some(&b), &[Some(a.clone())]), CompanyMatch::Linked(b.clone()));
    assert_eq!(
        match_company(None, &[Some(b.clone()), Some(a.clone()), Some(b.clone()), None]),
        CompanyMatch::ByAssociatedContacts(b.clone())
    );
    assert_eq!(
        match_company(None, &[Some(b), Some(a.clone())]),
        CompanyMatch::ByAssociatedContacts(a),
        "ties go to the smallest id"
    );
    assert_eq!(match_company::<SalesforceId>(None, &[None]), CompanyMatch::None);

    // The same rule from an Account to HubSpot companies.
    let x = HubSpotId::parse("501").unwrap();
    let y = HubSpotId::parse("502").unwrap();
    assert_eq!(
        match_company(None, &[Some(y.clone()), Some(x.clone()), Some(y.clone())]),
        CompanyMatch::ByAssociatedContacts(y)
    );
}

// --- SPEC 2: settings acting on the decision -------------------------------------

#[test]
fn a_new_hubspot_contact_becomes_a_lead_by_default() {
    let w = World::new(
        SyncConfig::default(),
        ObjectPair::Contact,
        None,
        Some(hs(ObjectPair::Contact, &[("email", "ada@example.com"), ("lastname", "Lovelace")], t(0))),
    );
    let d = w.decide();
    assert_eq!(d.action, Action::CreateSalesforce { object: SfObject::Lead });
    assert_eq!(d.salesforce_writes.get("Email"), Some(&json!("ada@example.com")));
    assert_eq!(d.salesforce_writes.get("LastName"), Some(&json!("Lovelace")));
}

#[test]
fn a_new_hubspot_contact_becomes_a_contact_when_configured() {
    let config = SyncConfig::from_yaml_str("new_contact_object: contact\n").unwrap();
    let w = World::new(
        config,
        ObjectPair::Contact,
        None,
        Some(hs(ObjectPair::Contact, &[("email", "ada@example.com"), ("company", "Analytical Engines")], t(0))),
    );
    let d = w.decide();
    assert_eq!(d.action, Action::CreateSalesforce { object: SfObject::Contact });
    assert!(!d.salesforce_writes.contains_key("Company"), "Company text is for Leads only");
}

#[test]
fn a_new_salesforce_lead_creates_a_hubspot_contact_by_default_and_not_when_turned_off() {
    let lead = sf(SfObject::Lead, &[("Email", json!("ada@example.com")), ("FirstName", json!("Ada"))], t(0));
    let w = World::new(SyncConfig::default(), ObjectPair::Contact, Some(lead.clone()), None);
    let d = w.decide();
    assert_eq!(d.action, Action::CreateHubSpot { object: ObjectPair::Contact });
    assert_eq!(d.hubspot_writes.get("email"), Some(&json!("ada@example.com")));
    assert_eq!(d.hubspot_writes.get("firstname"), Some(&json!("Ada")));

    let off = SyncConfig::from_yaml_str("create_hubspot_contact_from_salesforce: false\n").unwrap();
    let w = World::new(off, ObjectPair::Contact, Some(lead), None);
    assert_eq!(w.decide().action, Action::Skip { reason: SkipReason::HubSpotCreateDisabled });
}

#[test]
fn with_an_inclusion_segment_only_members_sync_to_salesforce() {
    let config = SyncConfig::from_yaml_str("inclusion_segment:\n  hubspot_list: \"7\"\n").unwrap();
    let mut w = World::new(
        config,
        ObjectPair::Contact,
        None,
        Some(hs(ObjectPair::Contact, &[("email", "ada@example.com")], t(0))),
    );
    w.context.in_inclusion_segment = false;
    let d = w.decide();
    assert_eq!(d.action, Action::Skip { reason: SkipReason::NotInInclusionSegment });
    assert!(d.writes_nothing());
    w.context.in_inclusion_segment = true;
    assert!(matches!(w.decide().action, Action::CreateSalesforce { .. }));
}

#[test]
fn without_an_inclusion_segment_every_contact_syncs() {
    let mut w = World::new(
        SyncConfig::default(),
        ObjectPair::Contact,
        None,
        Some(hs(ObjectPair::Contact, &[("email", "ada@example.com")], t(0))),
    );
    w.context.in_inclusion_segment = false;
    assert!(matches!(w.decide().action, Action::CreateSalesforce { .. }));
}

#[test]
fn a_contact_created_from_salesforce_outside_the_segment_gets_no_further_updates() {
    let config = SyncConfig::from_yaml_str("inclusion_segment:\n  hubspot_list: \"7\"\n").unwrap();
    let lead = sf(SfObject::Lead, &[("Email", json!("ada@example.com")), ("FirstName", json!("Ada"))], t(0));
    let mut w = World::new(config, ObjectPair::Contact, Some(lead), None);
    w.context.in_inclusion_segment = false;
    let created = w.sync();
    assert_eq!(created.action, Action::CreateHubSpot { object: ObjectPair::Contact });
    w.edit_sf("FirstName", json!("Augusta"));
    w.edit_hs("lastname", "Byron");
    let d = w.decide();
    assert_eq!(d.action, Action::Skip { reason: SkipReason::NotInInclusionSegment });
    assert!(d.writes_nothing());
}

#[test]
fn contacts_always_sync_and_companies_and_deals_only_when_switched_on() {
    let account = sf(SfObject::Account, &[("Name", json!("Analytical Engines"))], t(0));
    let w = World::new(SyncConfig::default(), ObjectPair::Company, Some(account.clone()), None);
    assert_eq!(w.decide().action, Action::Skip { reason: SkipReason::ObjectSyncOff });
    let w = World::new(companies_on(), ObjectPair::Company, Some(account), None);
    assert_eq!(w.decide().action, Action::CreateHubSpot { object: ObjectPair::Company });

    let deal = sf(SfObject::Opportunity, &[], t(0));
    let w = World::new(SyncConfig::default(), ObjectPair::Deal, Some(deal), None);
    assert_eq!(w.decide().action, Action::Skip { reason: SkipReason::ObjectSyncOff });
    assert!(SyncConfig::default().objects.contacts());
}

#[test]
fn an_account_import_with_company_sync_off_creates_nothing_and_says_why() {
    let account = sf(SfObject::Account, &[("Name", json!("Analytical Engines"))], t(0));
    let mut w = World::new(SyncConfig::default(), ObjectPair::Company, Some(account), None);
    w.context.forced = true;
    let d = w.decide();
    assert_eq!(d.action, Action::Skip { reason: SkipReason::ObjectSyncOff });
    assert!(d.writes_nothing());
    assert!(!account_creates_company(&SyncConfig::default()));
}

fn owner_world(sf_owner: &str, hs_owner: &str) -> World {
    let mut w =
        World::contact(SyncConfig::default(), &[("OwnerId", json!(sf_owner))], &[("hubspot_owner_id", hs_owner)]);
    let person = |id: &str, name: &str, email: &str| Person {
        id: id.into(),
        name: name.into(),
        email: Email::parse(email).unwrap(),
    };
    w.owners = Some(match_owners(
        &[person("11", "Ada Lovelace", "ada@example.com"), person("12", "Charles Babbage", "cb@example.com")],
        &[
            person("005000000000001", "Ada Lovelace", "ADA@example.com"),
            person("005000000000002", "Charles  Babbage", "charles@example.com"),
        ],
    ));
    w
}

#[test]
fn the_owner_syncs_both_ways_through_an_exact_user_match() {
    let mut w = owner_world("005000000000001", "11");
    assert!(w.sync().writes_nothing(), "matched owners are in sync");
    w.edit_hs("hubspot_owner_id", "11");
    w.edit_sf("OwnerId", json!("005000000000001"));
    assert!(w.sync().writes_nothing());

    let mut w = owner_world("005000000000001", "");
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("hubspot_owner_id"), Some(&json!("11")));
}

#[test]
fn an_owner_without_an_exact_match_is_not_written_and_the_reason_is_reported() {
    // Charles has a different email in Salesforce: no match.
    let mut w = owner_world("005000000000002", "11");
    let d = w.sync();
    assert!(!d.hubspot_writes.contains_key("hubspot_owner_id") && !d.salesforce_writes.contains_key("OwnerId"));
    assert_eq!(reason(&d, "hubspot_owner_id<->OwnerId"), FieldReason::OwnerNotMatched);

    let mut w = owner_world("", "12");
    let d = w.sync();
    assert!(!d.salesforce_writes.contains_key("OwnerId"));
    assert_eq!(reason(&d, "hubspot_owner_id<->OwnerId"), FieldReason::OwnerNotMatched);
}

// --- SPEC 4: special fields ------------------------------------------------------

const OPT_OUT: &str = "hs_email_optout<->HasOptedOutOfEmail";

fn synced_opt_out(sf_value: bool, hs_value: &str) -> World {
    let mut w = World::contact(
        SyncConfig::default(),
        &[("HasOptedOutOfEmail", json!(sf_value))],
        &[("hs_email_optout", hs_value)],
    );
    w.sync();
    w
}

#[test]
fn opting_out_in_salesforce_opts_out_in_hubspot() {
    let mut w = synced_opt_out(false, "false");
    w.edit_sf("HasOptedOutOfEmail", json!(true));
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("hs_email_optout"), Some(&json!("true")));
    assert_eq!(reason(&d, OPT_OUT), FieldReason::OptOutTravels);
}

#[test]
fn opting_out_in_hubspot_opts_out_in_salesforce() {
    let mut w = synced_opt_out(false, "false");
    w.edit_hs("hs_email_optout", "true");
    let d = w.sync();
    assert_eq!(d.salesforce_writes.get("HasOptedOutOfEmail"), Some(&json!(true)));
}

#[test]
fn clearing_the_salesforce_opt_out_never_resubscribes_hubspot() {
    let mut w = synced_opt_out(true, "true");
    w.edit_sf("HasOptedOutOfEmail", json!(false));
    let d = w.sync();
    assert!(!d.hubspot_writes.contains_key("hs_email_optout"), "{d:?}");
    assert!(!d.salesforce_writes.contains_key("HasOptedOutOfEmail"), "{d:?}");
    assert_eq!(reason(&d, OPT_OUT), FieldReason::ClearingOptOutNeverResubscribes);
    // Nor on any later sync.
    w.edit_sf("FirstName", json!("Ada"));
    assert!(!w.sync().hubspot_writes.contains_key("hs_email_optout"));
    // Even a forced resync does not.
    w.context.forced = true;
    assert!(!w.sync().hubspot_writes.contains_key("hs_email_optout"));
}

#[test]
fn opt_out_does_not_travel_before_a_contacts_first_sync() {
    let w =
        World::contact(SyncConfig::default(), &[("HasOptedOutOfEmail", json!(true))], &[("hs_email_optout", "false")]);
    let d = w.decide();
    assert!(!d.hubspot_writes.contains_key("hs_email_optout"));
    assert_eq!(reason(&d, OPT_OUT), FieldReason::OptOutBeforeFirstSync);

    let new_lead =
        sf(SfObject::Lead, &[("Email", json!("ada@example.com")), ("HasOptedOutOfEmail", json!(true))], t(0));
    let w = World::new(SyncConfig::default(), ObjectPair::Contact, Some(new_lead), None);
    assert!(!w.decide().hubspot_writes.contains_key("hs_email_optout"));
}

#[test]
fn company_text_syncs_with_leads_only() {
    let mut lead = World::contact(SyncConfig::default(), &[("Company", json!("Analytical Engines"))], &[]);
    assert_eq!(lead.sync().hubspot_writes.get("company"), Some(&json!("Analytical Engines")));

    let mut contact = World::new(
        SyncConfig::default(),
        ObjectPair::Contact,
        Some(sf(SfObject::Contact, &[("Company", json!("Analytical Engines"))], t(0))),
        Some(hs(ObjectPair::Contact, &[("company", "Other")], t(0))),
    );
    let d = contact.sync();
    assert!(!d.hubspot_writes.contains_key("company") && !d.salesforce_writes.contains_key("Company"));
    assert!(d.fields.iter().all(|f| f.mapping != "company<->Company"));
}

#[test]
fn a_salesforce_contact_association_follows_its_account_when_company_sync_is_on() {
    let account = SalesforceId::parse("001000000000001").unwrap();
    assert_eq!(
        company_association(&companies_on(), SfObject::Contact, Some(&account)),
        CompanyAssociation::FollowAccount(account.clone())
    );
    assert_eq!(company_association(&companies_on(), SfObject::Contact, None), CompanyAssociation::NoAccount);
    assert_eq!(
        company_association(&SyncConfig::default(), SfObject::Contact, Some(&account)),
        CompanyAssociation::CompanySyncOff
    );
    assert_eq!(
        company_association(&companies_on(), SfObject::Lead, Some(&account)),
        CompanyAssociation::FromLeadCompanyText
    );
}

#[test]
fn a_contact_lifecycle_stage_change_is_carried_to_its_company_when_companies_sync() {
    assert_eq!(
        lifecycle_stage_for_company(&companies_on(), Some("lead"), Some("customer"), Some("lead")),
        Some(("lifecyclestage", "customer".to_owned()))
    );
    assert_eq!(
        lifecycle_stage_for_company(&companies_on(), Some("customer"), Some("customer"), Some("lead")),
        None,
        "no change"
    );
    assert_eq!(
        lifecycle_stage_for_company(&companies_on(), Some("lead"), Some("customer"), Some("customer")),
        None,
        "already there"
    );
    assert_eq!(
        lifecycle_stage_for_company(&SyncConfig::default(), Some("lead"), Some("customer"), None),
        None,
        "companies off"
    );
}

#[test]
fn salesforce_campaign_membership_is_a_read_only_hubspot_property() {
    assert_eq!(campaigns_property_value(["Spring Launch", "Webinar", "Spring Launch", " "]), "Spring Launch;Webinar");
    assert_eq!(campaigns_property_value(std::iter::empty()), "");
    assert!(is_read_only_hubspot_property("salesforce_campaigns"));
    assert!(!is_read_only_hubspot_property("firstname"));
}

const FORMULA: &str = "mappings:\n  contact:\n    - name: Lifetime Value\n      hubspot: lifetime_value\n      hubspot_type: number\n      salesforce: Lifetime_Value__c\n      salesforce_type: currency\n      rule: always_use_salesforce\n      formula: true\n";

#[test]
fn a_formula_field_change_alone_never_triggers_a_sync() {
    let config = SyncConfig::from_yaml_str(FORMULA).unwrap();
    let mut w = World::contact(config.clone(), &[("Lifetime_Value__c", json!(10))], &[("lifetime_value", "10")]);
    w.sync();
    // The formula recomputed; the record itself did not move.
    w.sf.as_mut().unwrap().fields.insert("Lifetime_Value__c".into(), json!(20));
    let d = w.sync();
    assert!(d.writes_nothing(), "{d:?}");
    assert_eq!(reason(&d, "lifetime_value<->Lifetime_Value__c"), FieldReason::FormulaDoesNotTrigger);
    assert!(!salesforce_change_triggers_sync(&config, SfObject::Lead, ["Lifetime_Value__c"]));
}

#[test]
fn a_change_to_a_field_feeding_a_formula_carries_the_formula_value() {
    let config = SyncConfig::from_yaml_str(FORMULA).unwrap();
    let mut w = World::contact(config.clone(), &[("Lifetime_Value__c", json!(10))], &[("lifetime_value", "10")]);
    w.sync();
    w.sf.as_mut().unwrap().fields.insert("Lifetime_Value__c".into(), json!(20));
    w.edit_sf("AnnualRevenue", json!(1000));
    let d = w.sync();
    assert_eq!(d.hubspot_writes.get("lifetime_value"), Some(&json!("20")));
    assert!(salesforce_change_triggers_sync(&config, SfObject::Lead, ["Lifetime_Value__c", "AnnualRevenue"]));
    assert!(salesforce_change_triggers_sync(&config, SfObject::Lead, ["Unmapped__c"]));
}

#[test]
fn a_formula_field_is_never_written_to_salesforce() {
    let config = SyncConfig::from_yaml_str(FORMULA).unwrap();
    let mut w = World::contact(config, &[], &[("lifetime_value", "10")]);
    let d = w.sync();
    assert!(!d.salesforce_writes.contains_key("Lifetime_Value__c"));
    w.edit_hs("lifetime_value", "99");
    assert!(!w.sync().salesforce_writes.contains_key("Lifetime_Value__c"));
    assert_eq!(w.sf_value("Lifetime_Value__c"), Value::Null);
}

// --- SPEC 5: when a company creates a Salesforce account --------------------------

fn contact(synced_with: Option<SfObject>, has_account: bool, in_segment: bool) -> AssociatedContact {
    AssociatedContact { synced_with, salesforce_contact_has_account: has_account, in_inclusion_segment: in_segment }
}

fn segment_config(extra: &str) -> SyncConfig {
    SyncConfig::from_yaml_str(&format!(
        "objects: {{companies: true}}\ninclusion_segment:\n  hubspot_list: \"7\"\n{extra}"
    ))
    .unwrap()
}

#[test]
fn a_company_created_from_a_contact_creates_an_account_when_new_records_are_contacts() {
    let config = segment_config("new_contact_object: contact\n");
    let c = [contact(None, false, false)];
    assert_eq!(
        company_creates_account(&config, true, &c, false),
        AccountCreation::CreatedFromContactAndNewRecordsAreContacts
    );
    assert_eq!(company_creates_account(&segment_config(""), true, &c, false), AccountCreation::NoContactQualifies);
}

#[test]
fn a_company_counts_as_created_from_a_contact_when_its_record_source_is_the_crm_setting() {
    assert!(company_created_from_contact(Some("CRM_SETTING")));
    assert!(!company_created_from_contact(Some("CRM_UI")));
    assert!(!company_created_from_contact(Some("INTEGRATION")));
    assert!(!company_created_from_contact(None));
}

#[test]
fn a_company_whose_contact_syncs_with_an_accountless_salesforce_contact_creates_an_account() {
    let c = [contact(Some(SfObject::Contact), false, false)];
    let r = company_creates_account(&segment_config(""), false, &c, false);
    assert_eq!(r, AccountCreation::ContactSyncsWithAccountlessSalesforceContact);
    assert!(r.creates());
}

#[test]
fn a_company_with_a_contact_in_the_inclusion_segment_creates_an_account() {
    let c = [contact(None, false, true), contact(Some(SfObject::Lead), false, false)];
    assert_eq!(
        company_creates_account(&segment_config(""), false, &c, false),
        AccountCreation::ContactInInclusionSegment
    );
}

#[test]
fn a_company_without_associated_contacts_creates_no_account() {
    let r = company_creates_account(&segment_config(""), false, &[], false);
    assert_eq!(r, AccountCreation::NoAssociatedContacts);
    assert!(!r.creates());
}

#[test]
fn a_company_whose_contacts_all_sync_with_leads_creates_no_account() {
    let c = [contact(Some(SfObject::Lead), false, true), contact(Some(SfObject::Lead), false, true)];
    assert_eq!(
        company_creates_account(&segment_config(""), false, &c, false),
        AccountCreation::AllContactsSyncWithLeads
    );
}

#[test]
fn a_company_none_of_whose_contacts_qualify_for_the_segment_creates_no_account() {
    let c = [contact(None, false, false), contact(Some(SfObject::Contact), true, false)];
    assert_eq!(company_creates_account(&segment_config(""), false, &c, false), AccountCreation::NoContactQualifies);
}

#[test]
fn a_manual_resync_of_a_company_forces_the_account_creation() {
    assert_eq!(company_creates_account(&segment_config(""), false, &[], true), AccountCreation::ForcedByResync);
    // And the decision then creates the account.
    let company = hs(ObjectPair::Company, &[("name", "Analytical Engines")], t(0));
    let mut w = World::new(companies_on(), ObjectPair::Company, None, Some(company));
    w.context.create_allowed = company_creates_account(&companies_on(), false, &[], true).creates();
    assert_eq!(w.decide().action, Action::CreateSalesforce { object: SfObject::Account });
    w.context.create_allowed = company_creates_account(&companies_on(), false, &[], false).creates();
    assert_eq!(w.decide().action, Action::Skip { reason: SkipReason::CreateNotAllowed });
}

#[test]
fn a_salesforce_account_needs_no_contacts_to_create_a_hubspot_company() {
    let account = sf(SfObject::Account, &[("Name", json!("Analytical Engines"))], t(0));
    let config = SyncConfig::from_yaml_str("objects: {companies: true}\nmappings:\n  company:\n    - hubspot: name\n      hubspot_type: single_line_text\n      salesforce: Name\n      salesforce_type: string\n").unwrap();
    let w = World::new(config.clone(), ObjectPair::Company, Some(account), None);
    let d = w.decide();
    assert_eq!(d.action, Action::CreateHubSpot { object: ObjectPair::Company });
    assert_eq!(d.hubspot_writes.get("name"), Some(&json!("Analytical Engines")));
    assert!(account_creates_company(&config));
}

#[test]
fn a_deal_syncs_with_its_opportunity_by_link_and_is_created_when_unlinked() {
    let config = SyncConfig::from_yaml_str(
        "objects: {deals: true}\nmappings:\n  deal:\n    - {hubspot: dealname, hubspot_type: single_line_text, salesforce: Name, salesforce_type: string, rule: two_way}\n",
    )
    .unwrap();
    let deal = hs(ObjectPair::Deal, &[("dealname", "Difference Engine")], t(0));
    let mut w = World::new(config, ObjectPair::Deal, None, Some(deal));
    let d = w.sync();
    assert_eq!(d.action, Action::CreateSalesforce { object: SfObject::Opportunity });
    assert_eq!(d.salesforce_writes.get("Name"), Some(&json!("Difference Engine")));
    // Linked from now on: a rename travels as an update.
    w.edit_hs("dealname", "Analytical Engine");
    let d = w.sync();
    assert_eq!(d.action, Action::Update);
    assert_eq!(d.salesforce_writes.get("Name"), Some(&json!("Analytical Engine")));
}
